"use strict";
// Node only: the gateway exporter over gRPC (HTTP/2) with @grpc/grpc-js, and the file-backed
// queue store. Messages are encoded and decoded by the WASM core (no protobufjs): grpc-js only
// frames and transports the bytes. The browser entries never load this file (browsers use
// GrpcWebTransport from the main entry).
//
// @grpc/grpc-js is a peer dependency: the application's own copy is used, so credentials or
// channel options it builds are the ones this transport understands. Most callers need none:
// `url: "http://host:port"` is plaintext and `url: "https://host[:port]"` is TLS.
let grpc;
try {
  grpc = require("@grpc/grpc-js");
} catch (e) {
  throw new Error(
    "@telemetry-gateway/core/exporter-node needs @grpc/grpc-js (a peer dependency): npm install @grpc/grpc-js",
    { cause: e },
  );
}
const core = require("./node.cjs");
const { FileQueueStore } = require("./store-file.cjs");
const net = require("node:net");
const tls = require("node:tls");

const PATH = "/telemetrygateway.v1.TelemeteryGatewayService/RecordEvents";
const toBuffer = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const fromBuffer = (buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);

/** `http://host:port` → plaintext, `https://host[:port]` → TLS; answers the grpc-js target. */
function parseUrl(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`GrpcTransport: \`url\` is not a URL: ${JSON.stringify(url)} (expected http://host:port or https://host[:port])`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(
      `GrpcTransport: \`url\` must be http:// (plaintext) or https:// (TLS), got ${JSON.stringify(parsed.protocol)}`,
    );
  }
  if (parsed.pathname !== "/" && parsed.pathname !== "") {
    throw new TypeError(`GrpcTransport: \`url\` must not have a path (got ${JSON.stringify(parsed.pathname)})`);
  }
  const tls = parsed.protocol === "https:";
  const port = parsed.port || (tls ? "443" : "80");
  return { tls, target: `${parsed.hostname.includes(":") ? `[${parsed.hostname.replace(/^\[|\]$/g, "")}]` : parsed.hostname}:${port}` };
}

/** Explains the error of talking TLS to a plaintext gateway (OpenSSL's "wrong version number"). */
function explainTls(error, target) {
  const text = `${error && error.details ? error.details : ""} ${error && error.message ? error.message : ""}`;
  if (!/wrong version number|WRONG_VERSION_NUMBER|packet length too long|unknown protocol|http request/i.test(text)) return error;
  return new Error(
    `TLS handshake with ${target} failed (${firstLine(error)}): the gateway there speaks plaintext. ` +
      `Use url "http://${target}" (or insecure: true) for a plaintext gateway, or serve the gateway with TLS (--tls-cert/--tls-key)`,
    { cause: error },
  );
}

/**
 * Whether something at `target` completes a TLS handshake (bounded: 2 s). grpc-js reports a
 * plaintext connection to a TLS server only as "Failed to connect", so a failed plaintext
 * channel is probed once to tell that apart from a gateway that is down.
 */
function speaksTls(target) {
  const at = target.lastIndexOf(":");
  const host = target.slice(0, at).replace(/^\[|\]$/g, "");
  const port = Number(target.slice(at + 1));
  return new Promise((resolve) => {
    let socket;
    const done = (answer) => {
      clearTimeout(timer);
      if (socket) socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), 2_000);
    try {
      socket = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ["h2"], servername: net.isIP(host) ? undefined : host });
      socket.once("secureConnect", () => done(true));
      socket.once("error", () => done(false));
    } catch {
      done(false);
    }
  });
}

function firstLine(error) {
  return String((error && (error.details || error.message)) || error).split("\n")[0];
}

/**
 * `RecordEvents` as a bidirectional gRPC stream: the metadata, then every payload, then
 * half-close; each RecordEventsResponse is handed to `onResponse` as it arrives.
 */
class GrpcTransport {
  /**
   * @param {{ url?: string, address?: string, insecure?: boolean, credentials?: grpc.ChannelCredentials,
   *           headers?: Record<string, string>, channelOptions?: grpc.ChannelOptions }} options
   *   `url`: `http://host:port` (plaintext) or `https://host[:port]` (TLS, default port 443).
   *   Or `address`: a grpc-js target (`host:port`), TLS unless `insecure: true`.
   *   `credentials`: channel credentials of the application's @grpc/grpc-js (e.g. TLS with a
   *   private CA); `headers`: request metadata, e.g. `{ authorization: "Bearer …" }`.
   */
  constructor({ url, address, insecure, credentials, headers = {}, channelOptions = {} } = {}) {
    if ((url === undefined) === (address === undefined)) {
      throw new TypeError("GrpcTransport: pass `url` (http://host:port or https://host[:port]) or `address` (host:port), not both");
    }
    let tls;
    let target;
    if (url !== undefined) {
      ({ tls, target } = parseUrl(url));
      if (insecure !== undefined) throw new TypeError("GrpcTransport: `insecure` goes with `address`; with `url` the scheme decides (http:// or https://)");
    } else {
      if (typeof address !== "string" || address === "") throw new TypeError("GrpcTransport: `address` must be a non-empty host:port");
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) {
        throw new TypeError(`GrpcTransport: \`address\` is a host:port; for ${JSON.stringify(address)} pass it as \`url\``);
      }
      tls = insecure !== true;
      target = address;
    }
    if (credentials !== undefined) {
      if (!(credentials instanceof grpc.ChannelCredentials)) {
        throw new TypeError(
          "GrpcTransport: `credentials` is not a ChannelCredentials of the @grpc/grpc-js this package loads " +
            "(two copies of @grpc/grpc-js are installed?). Pass `url: \"http://host:port\"` or `\"https://host\"` instead, " +
            "or build the credentials with the same @grpc/grpc-js (it is a peer dependency: dedupe it)",
        );
      }
      if (insecure !== undefined) throw new TypeError("GrpcTransport: pass `credentials` or `insecure`, not both");
      tls = credentials._isSecure();
    }
    this.headers = headers;
    this.target = target;
    this.tls = tls;
    this._credentials = credentials || (tls ? grpc.credentials.createSsl() : grpc.credentials.createInsecure());
    this._channelOptions = {
      // As upstream's exporter: answers may be large.
      "grpc.max_receive_message_length": 90 * 1024 * 1024,
      // Reconnect promptly after a gateway restart (the exporter's own back-off paces retries).
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 5_000,
      ...channelOptions,
    };
    this._client = null;
  }

  /** The grpc-js client, made on first use (and again after close(), for late events). */
  _channel() {
    if (!this._client) this._client = new grpc.Client(this.target, this._credentials, this._channelOptions);
    return this._client;
  }

  recordEvents(requests, { onResponse, signal, timeoutMs = 30_000 } = {}) {
    return new Promise((resolve, reject) => {
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries(this.headers)) metadata.set(k, v);
      const call = this._channel().makeBidiStreamRequest(PATH, toBuffer, fromBuffer, metadata, {
        deadline: Date.now() + timeoutMs,
      });
      let failure = null;
      // The exporter's deadline or close(): its reason is the error (grpc-js alone would say
      // "1 CANCELLED: Cancelled on client").
      const onAbort = () => {
        if (!failure) failure = signal.reason instanceof Error ? signal.reason : new Error("RecordEvents call aborted");
        call.cancel();
      };
      if (signal) {
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }
      const finish = (error) => {
        if (signal) signal.removeEventListener("abort", onAbort);
        if (!error) resolve();
        else if (error === failure) reject(error);
        else this._explain(error).then(reject);
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
        if (status.code === grpc.status.OK) {
          this._probe = undefined;
          finish(failure);
        }
      });
      for (const r of requests) call.write(r);
      call.end();
    });
  }

  /** The error, with what to do when TLS and plaintext are mixed up. */
  async _explain(error) {
    if (this.tls) return explainTls(error, this.target);
    if (!error || error.code !== grpc.status.UNAVAILABLE) return error;
    // Probed once until a call succeeds again (a gateway down is not probed on every retry).
    if (this._probe === undefined) this._probe = speaksTls(this.target);
    if (!(await this._probe)) return error;
    return new Error(
      `plaintext connection to ${this.target} failed (${firstLine(error)}): the gateway there serves TLS; use url "https://${this.target}"`,
      { cause: error },
    );
  }

  /** Closes the channel; a later call opens a new one. */
  close() {
    if (this._client) this._client.close();
    this._client = null;
  }
}

module.exports = {
  GrpcTransport,
  FileQueueStore,
  GatewayExporter: core.GatewayExporter,
  GrpcWebTransport: core.GrpcWebTransport,
  TelemetryExportError: core.TelemetryExportError,
  GrpcStatusError: core.GrpcStatusError,
};
