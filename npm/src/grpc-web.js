// gRPC-Web over `fetch` (browsers, and any runtime with fetch). `fetch` cannot stream a request
// body, so one call carries the metadata and every payload in one body (gRPC-Web framing); the
// gateway reads them as the client stream and answers one RecordEventsResponse per payload.
import { GrpcStatusError } from "./errors.js";

export const RECORD_EVENTS_PATH = "/telemetrygateway.v1.TelemeteryGatewayService/RecordEvents";

/** The largest body a `keepalive` fetch may carry (the Fetch standard's in-flight quota). */
export const KEEPALIVE_BODY_LIMIT = 64 * 1024;

/** The bytes a gRPC-Web body of these messages takes (5 bytes of framing each). */
export function grpcWebBodyLength(requests) {
  let length = 0;
  for (const r of requests) length += 5 + r.length;
  return length;
}

/**
 * The largest response message read (a RecordEventsResponse names at most the ids of one
 * request, itself at most `maxChunkBytes`, 1 MiB by default): a longer length prefix is an error.
 */
export const MAX_RESPONSE_FRAME_BYTES = 4 * 1024 * 1024;

/**
 * Refuses an answer that is not gRPC-Web: an HTTP error, or a 200 that is not gRPC-Web (a proxy's
 * or a CDN's page). Its body is not read (cancelled); the error says the HTTP status and
 * content type, and the gRPC status if the headers carry one.
 */
function checkResponse(res) {
  const type = res.headers.get("content-type");
  // No content type: a gRPC-Web answer that says nothing (read as gRPC-Web, as before).
  const grpcWeb = type === null || /^application\/grpc-web(\+proto)?\s*(;|$)/i.test(type);
  if (res.ok && grpcWeb) return;
  if (res.body && typeof res.body.cancel === "function") res.body.cancel().catch(() => {});
  const status = res.headers.get("grpc-status");
  const grpc = status === null ? "" : `, grpc-status ${status}${res.headers.get("grpc-message") ? ` (${safeDecode(res.headers.get("grpc-message"))})` : ""}`;
  const what = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}, content-type ${type === null ? "none" : JSON.stringify(type)}${grpc}`;
  if (!res.ok) throw new Error(`gRPC-Web: ${what}`);
  throw new Error(
    `gRPC-Web: the answer is not gRPC-Web (${what}; expected application/grpc-web+proto): ` +
      `is the URL the gateway's, or did a proxy answer instead?`,
  );
}

export class GrpcWebTransport {
  /**
   * @param {{ url: string, headers?: Record<string, string>, fetch?: typeof fetch }} options
   *   `url`: the gateway's base URL (e.g. `https://telemetry-gateway.example.com`).
   */
  constructor({ url, headers = {}, fetch: fetchImpl } = {}) {
    if (typeof url !== "string" || url === "") throw new TypeError("GrpcWebTransport: `url` is required");
    if (!/^https?:\/\//i.test(url)) {
      throw new TypeError(`GrpcWebTransport: \`url\` must start with http:// or https:// (got ${JSON.stringify(url)})`);
    }
    this.url = url.replace(/\/+$/, "") + RECORD_EVENTS_PATH;
    this.headers = headers;
    /** Calls may be sent with `keepalive` (they outlive the page; body at most 64 KiB). */
    this.keepalive = true;
    this._fetch = fetchImpl || ((...args) => globalThis.fetch(...args));
  }

  /**
   * One RecordEvents call. With `keepalive`, the fetch may outlive the page (pagehide): its body
   * must stay within {@link KEEPALIVE_BODY_LIMIT}.
   */
  async recordEvents(requests, { onResponse, signal, keepalive = false } = {}) {
    const body = new Uint8Array(grpcWebBodyLength(requests));
    const view = new DataView(body.buffer);
    let at = 0;
    for (const r of requests) {
      body[at] = 0;
      view.setUint32(at + 1, r.length);
      body.set(r, at + 5);
      at += 5 + r.length;
    }
    if (keepalive && body.length > KEEPALIVE_BODY_LIMIT) {
      throw new RangeError(`gRPC-Web: a keepalive body of ${body.length} bytes is over the ${KEEPALIVE_BODY_LIMIT}-byte limit`);
    }
    const res = await this._fetch(this.url, {
      method: "POST",
      headers: {
        "content-type": "application/grpc-web+proto",
        accept: "application/grpc-web+proto",
        "x-grpc-web": "1",
        ...this.headers,
      },
      body,
      signal,
      ...(keepalive ? { keepalive: true } : {}),
    });
    checkResponse(res);
    let trailers = null;
    // Responses are read frame by frame as they arrive, so acknowledgements received before a
    // broken connection still count.
    let buffer = new Uint8Array(0);
    let received = 0;
    const onFrame = (flag, message) => {
      if (trailers !== null) throw new Error(`gRPC-Web: a response frame (flag ${hex(flag)}) after the trailers`);
      if (flag === 0x80) trailers = parseTrailers(new TextDecoder().decode(message));
      else if (flag === 0) {
        if (onResponse) onResponse(message);
      } else if (flag & 0x01) {
        // No grpc-accept-encoding is sent: a compressed frame cannot be read (nor trusted).
        const encoding = res.headers.get("grpc-encoding");
        throw new Error(
          `gRPC-Web: a compressed response frame (flag ${hex(flag)}, grpc-encoding ${encoding === null ? "none" : JSON.stringify(encoding)}); ` +
            `the request asked for none`,
        );
      } else throw new Error(`gRPC-Web: a response frame with an unknown flag ${hex(flag)}`);
    };
    const drain = () => {
      while (buffer.length >= 5) {
        const size = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength).getUint32(1);
        // Checked on the frame's 5-byte header: a length prefix of gigabytes is refused before
        // any of it is buffered.
        if (size > MAX_RESPONSE_FRAME_BYTES) {
          throw new Error(`gRPC-Web: a response frame of ${size} bytes is over the ${MAX_RESPONSE_FRAME_BYTES}-byte limit`);
        }
        if (buffer.length < 5 + size) break;
        onFrame(buffer[0], buffer.slice(5, 5 + size));
        buffer = buffer.subarray(5 + size);
      }
    };
    if (res.body && typeof res.body.getReader === "function") {
      const reader = res.body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read().catch((e) => {
            // The deadline or close() (the signal's reason, as fetch rejects with it) is said
            // as is; anything else broke the connection.
            if (signal && signal.aborted) throw e;
            const cause = e && e.cause && e.cause.message ? ` (${e.cause.message})` : "";
            throw new Error(`gRPC-Web: the response broke off after ${received} bytes: ${(e && e.message) || e}${cause}`, { cause: e });
          });
          if (done) break;
          received += value.length;
          const next = new Uint8Array(buffer.length + value.length);
          next.set(buffer);
          next.set(value, buffer.length);
          buffer = next;
          drain();
        }
      } catch (e) {
        // A response refused midway is not read further (the connection is released).
        reader.cancel().catch(() => {});
        throw e;
      }
    } else {
      buffer = new Uint8Array(await res.arrayBuffer());
      drain();
    }
    if (buffer.length > 0) throw new Error("gRPC-Web: truncated response frame");
    const status = trailers?.["grpc-status"] ?? res.headers.get("grpc-status");
    const message = trailers?.["grpc-message"] ?? res.headers.get("grpc-message") ?? "";
    if (status == null) throw new Error("gRPC-Web: response without grpc-status");
    if (!/^\d+$/.test(status)) throw new Error(`gRPC-Web: the response's grpc-status is not a status code: ${JSON.stringify(status)}`);
    if (status !== "0") throw new GrpcStatusError(Number(status), safeDecode(message));
  }

  /** Nothing to release (fetch keeps no connection of ours). */
  close() {}
}

function parseTrailers(text) {
  const out = {};
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

function hex(byte) {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
