"use strict";
// Node only: the gateway exporter over gRPC (HTTP/2) with @grpc/grpc-js. Messages are encoded
// and decoded by the WASM core (no protobufjs): grpc-js only frames and transports the bytes.
// The browser entry never loads this file (browsers use GrpcWebTransport from the main entry).
const grpc = require("@grpc/grpc-js");
const core = require("./node.cjs");

const PATH = "/telemetrygateway.v1.TelemeteryGatewayService/RecordEvents";
const toBuffer = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const fromBuffer = (buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);

/**
 * `RecordEvents` as a bidirectional gRPC stream: the metadata, then every payload, then
 * half-close; each RecordEventsResponse is handed to `onResponse` as it arrives.
 */
class GrpcTransport {
  /**
   * @param {{ address: string, credentials?: grpc.ChannelCredentials, headers?: Record<string, string>,
   *           channelOptions?: grpc.ChannelOptions }} options
   *   `address`: `host:port` (or any grpc-js target); `credentials`: default TLS
   *   (`grpc.credentials.createSsl()`); pass `grpc.credentials.createInsecure()` for plaintext;
   *   `headers`: request metadata, e.g. `{ authorization: "Bearer …" }` for managed services.
   */
  constructor({ address, credentials, headers = {}, channelOptions = {} } = {}) {
    if (typeof address !== "string" || address === "") throw new TypeError("GrpcTransport: `address` is required");
    this.headers = headers;
    this._client = new grpc.Client(address, credentials || grpc.credentials.createSsl(), {
      // As upstream's exporter: answers may be large.
      "grpc.max_receive_message_length": 90 * 1024 * 1024,
      // Reconnect promptly after a gateway restart (the exporter's own back-off paces retries).
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 5_000,
      ...channelOptions,
    });
  }

  recordEvents(requests, { onResponse, signal, timeoutMs = 30_000 } = {}) {
    return new Promise((resolve, reject) => {
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries(this.headers)) metadata.set(k, v);
      const call = this._client.makeBidiStreamRequest(PATH, toBuffer, fromBuffer, metadata, {
        deadline: Date.now() + timeoutMs,
      });
      let failure = null;
      const onAbort = () => call.cancel();
      if (signal) {
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }
      const finish = (error) => {
        if (signal) signal.removeEventListener("abort", onAbort);
        if (error) reject(error);
        else resolve();
      };
      call.on("data", (bytes) => {
        if (failure) return;
        try {
          if (onResponse) onResponse(bytes);
        } catch (e) {
          failure = e;
          call.cancel();
        }
      });
      call.on("error", (e) => finish(failure || e));
      call.on("status", (status) => {
        if (status.code === grpc.status.OK) finish(failure);
      });
      for (const r of requests) call.write(r);
      call.end();
    });
  }

  close() {
    this._client.close();
  }
}

module.exports = {
  GrpcTransport,
  GatewayExporter: core.GatewayExporter,
  GrpcWebTransport: core.GrpcWebTransport,
  TelemetryExportError: core.TelemetryExportError,
  GrpcStatusError: core.GrpcStatusError,
};
