// The errors the exporter and its transports report.

/** Errors the exporter reports through `onError` (and `flush()`/`close()` reject with). */
export class TelemetryExportError extends Error {
  constructor(code, message, details = {}) {
    const { cause, ...rest } = details;
    super(message, cause === undefined ? undefined : { cause });
    this.name = "TelemetryExportError";
    this.code = code;
    Object.assign(this, rest);
  }
}

/** A non-OK gRPC status from a transport. */
export class GrpcStatusError extends Error {
  constructor(code, details) {
    super(`gRPC status ${code}${details ? `: ${details}` : ""}`);
    this.name = "GrpcStatusError";
    this.code = code;
    this.details = details || "";
  }
}
