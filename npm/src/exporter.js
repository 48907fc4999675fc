// The gateway exporter: `@sourcegraph/telemetry`'s exporter contract
// (`exportEvents(events: TelemetryEventInput[]): Promise<void>`) over the gateway's
// `RecordEvents` RPC. Every telemetry rule comes from the WASM core: recording (id, timestamp,
// validation), redaction by the policy, the protobuf encoding, the chunk plan (payloads under
// 1 MiB), which ids an answer acknowledges and the jittered back-off. This file only does IO and
// bookkeeping: the queue, timers, the transports' framing.
//
// Delivery is at least once: an event leaves the queue only when the gateway acknowledged it in
// `succeeded_events` (or by the overflow policy / an exhausted `maxAttempts`, both reported).

const PATH = "/telemetrygateway.v1.TelemeteryGatewayService/RecordEvents";

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

const OVERFLOW_POLICIES = ["reject-new", "drop-oldest"];

/** A wait of `ms` milliseconds whose `wake()` ends it early. */
function sleep(ms) {
  let done;
  let timer;
  const promise = new Promise((resolve) => {
    done = resolve;
    timer = setTimeout(resolve, ms);
  });
  return {
    promise,
    wake() {
      clearTimeout(timer);
      done();
    },
  };
}

/** An AbortSignal that aborts with `parent` or after `ms` (AbortSignal.any is not everywhere). */
function deadlineSignal(parent, ms) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`deadline of ${ms} ms exceeded`)), ms);
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) onAbort();
  else parent.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener("abort", onAbort);
    },
  };
}

/**
 * Builds the exporter classes over the core API (`createApi`'s answer).
 * @param {any} core
 */
export function createExporter(core) {
  class GatewayExporter {
    constructor(options = {}) {
      const {
        transport,
        metadata,
        policy = {},
        context = {},
        maxQueueEvents = 10_000,
        overflow = "reject-new",
        maxBatchEvents = 10_000,
        maxChunkBytes,
        requestTimeoutMs = 30_000,
        retry = {},
        onError,
      } = options;
      if (!transport || typeof transport.recordEvents !== "function") {
        throw new TypeError("GatewayExporter: `transport` must have a recordEvents(requests, options) method");
      }
      if (!metadata || typeof metadata !== "object" || !metadata.identifier) {
        throw new TypeError("GatewayExporter: `metadata` must be a RecordEventsRequestMetadata with an `identifier`");
      }
      if (!OVERFLOW_POLICIES.includes(overflow)) {
        throw new TypeError(`GatewayExporter: \`overflow\` must be one of ${OVERFLOW_POLICIES.join(", ")}`);
      }
      for (const [name, value] of [["maxQueueEvents", maxQueueEvents], ["maxBatchEvents", maxBatchEvents]]) {
        if (!Number.isInteger(value) || value < 1) throw new TypeError(`GatewayExporter: \`${name}\` must be a positive integer`);
      }
      // A policy that cannot be parsed fails here, not on the first event.
      const probe = core.redact({ id: "x", feature: "x.x", action: "xx" }, policy);
      if ("error" in probe) throw new TypeError(`GatewayExporter: ${probe.error}`);
      // Checks the chunk limit with the core's own rule.
      if (maxChunkBytes !== undefined) core.planChunks([1], maxChunkBytes);

      this._transport = transport;
      this._metadata = metadata;
      this._policy = policy;
      this._context = context;
      this._maxQueue = maxQueueEvents;
      this._overflow = overflow;
      this._maxBatch = maxBatchEvents;
      this._maxChunkBytes = maxChunkBytes;
      this._timeoutMs = requestTimeoutMs;
      this._retry = {
        baseMs: retry.baseMs ?? 500,
        maxMs: retry.maxMs ?? 60_000,
        maxAttempts: retry.maxAttempts ?? Infinity,
      };
      this._onError =
        onError ||
        ((error) => {
          // The SDK's own default error handler does the same.
          console.error("@telemetry-gateway/core exporter:", error);
        });
      /** @type {Map<string, {id: string, event: object, size: number, attempts: number}>} oldest first */
      this._queue = new Map();
      this._loop = null;
      this._sleep = null;
      this._failures = 0;
      this._closed = false;
      this._stopped = false;
      this._abort = new AbortController();
      this._waiters = new Set();
      this.stats = {
        queued: 0,
        acknowledged: 0,
        invalid: 0,
        droppedOverflow: 0,
        droppedRetries: 0,
        requests: 0,
        failedRequests: 0,
        sentEvents: 0,
      };
    }

    /** Events waiting for the gateway's acknowledgement. */
    get pending() {
      return this._queue.size;
    }

    /** A copy of the queued events (oldest first), as they will be sent. */
    pendingEvents() {
      return Array.from(this._queue.values(), (entry) => entry.event);
    }

    _report(error) {
      try {
        this._onError(error);
      } catch {
        // an error handler that throws must not break the exporter
      }
    }

    /**
     * The JS SDK's exporter contract. Records every `TelemetryEventInput` with the core (id,
     * timestamp, validation), redacts it by the policy and queues it; resolves once queued (call
     * `flush()` to wait for the gateway). Recordings the core refuses, and events the overflow
     * policy drops, are reported through `onError`, never thrown: the other events of the batch
     * are still exported.
     */
    async exportEvents(events) {
      if (!Array.isArray(events)) throw new TypeError("exportEvents: expected an array of TelemetryEventInput");
      if (this._closed) {
        if (events.length > 0) {
          this._report(
            new TelemetryExportError("closed", `exporter is closed: ${events.length} events not exported`, {
              dropped: events.length,
            }),
          );
        }
        return;
      }
      let overflowed = 0;
      for (const input of events) {
        const context = typeof this._context === "function" ? this._context(input) : this._context;
        const recorded = core.record(input, context);
        if ("error" in recorded) {
          this.stats.invalid++;
          this._report(new TelemetryExportError("invalid_event", recorded.error, { event: input }));
          continue;
        }
        const redacted = core.redact(recorded.event, this._policy);
        if ("error" in redacted) {
          this.stats.invalid++;
          this._report(new TelemetryExportError("invalid_event", redacted.error, { event: input }));
          continue;
        }
        const event = redacted.event;
        if (this._queue.size >= this._maxQueue) {
          overflowed++;
          if (this._overflow === "reject-new") continue;
          const oldest = this._queue.keys().next().value;
          this._queue.delete(oldest);
        }
        const size = core.encodeEvent(event).length;
        // A repeated id (a caller-supplied context.id) replaces nothing: the first one stays queued.
        if (this._queue.has(event.id)) continue;
        this._queue.set(event.id, { id: event.id, event, size, attempts: 0 });
        this.stats.queued++;
      }
      if (overflowed > 0) {
        this.stats.droppedOverflow += overflowed;
        const what = this._overflow === "reject-new" ? "new events refused" : "oldest queued events dropped";
        this._report(
          new TelemetryExportError(
            "queue_overflow",
            `export queue full (${this._maxQueue} events): ${overflowed} ${what} (overflow policy ${this._overflow})`,
            { dropped: overflowed, policy: this._overflow },
          ),
        );
      }
      this._kick();
    }

    /** Starts the export loop unless it runs already. */
    _kick() {
      if (this._loop || this._stopped || this._queue.size === 0) return;
      this._loop = this._run().finally(() => {
        this._loop = null;
        this._settleWaiters();
        // Events queued while the loop was finishing.
        if (this._queue.size > 0 && !this._stopped) this._kick();
      });
    }

    async _run() {
      // Let the caller finish queueing its batch first.
      await Promise.resolve();
      while (this._queue.size > 0 && !this._stopped) {
        const ok = await this._exportOnce();
        this._settleWaiters();
        if (ok) {
          this._failures = 0;
          continue;
        }
        if (this._stopped || this._queue.size === 0) break;
        const delay = core.backoffDelayMs(Math.min(this._failures, 64), this._retry.baseMs, this._retry.maxMs, Math.random());
        this._failures++;
        this._sleep = sleep(delay);
        await this._sleep.promise;
        this._sleep = null;
      }
    }

    /** One RecordEvents call over the oldest queued events; true if all were acknowledged. */
    async _exportOnce() {
      const batch = [];
      for (const entry of this._queue.values()) {
        batch.push(entry);
        if (batch.length >= this._maxBatch) break;
      }
      const chunks = core.planChunks(
        batch.map((e) => e.size),
        this._maxChunkBytes,
      );
      const metadata = { ...this._metadata };
      if (!metadata.requestId) metadata.requestId = core.uuidV7();
      const requests = [core.encodeRecordEventsRequest({ metadata })];
      for (const [start, end] of chunks) {
        requests.push(
          core.encodeRecordEventsRequest({ events: { events: batch.slice(start, end).map((e) => e.event) } }),
        );
      }
      const sent = batch.map((e) => e.id);
      let acked = 0;
      let failure;
      const onResponse = (bytes) => {
        const { succeededEvents } = core.decodeRecordEventsResponse(bytes);
        for (const id of core.acknowledged(sent, succeededEvents)) {
          if (this._queue.delete(id)) {
            acked++;
            this.stats.acknowledged++;
          }
        }
        this._settleWaiters();
      };
      const deadline = deadlineSignal(this._abort.signal, this._timeoutMs);
      this.stats.requests++;
      this.stats.sentEvents += batch.length;
      try {
        await this._transport.recordEvents(requests, {
          onResponse,
          signal: deadline.signal,
          timeoutMs: this._timeoutMs,
        });
      } catch (e) {
        failure = e;
      } finally {
        deadline.dispose();
      }
      const unacked = batch.filter((e) => this._queue.has(e.id));
      // Everything sent was acknowledged: a stream error after the last answer loses nothing.
      if (unacked.length === 0) return true;

      this.stats.failedRequests++;
      const exhausted = [];
      for (const entry of unacked) {
        entry.attempts++;
        if (entry.attempts >= this._retry.maxAttempts) {
          this._queue.delete(entry.id);
          exhausted.push(entry.event);
        }
      }
      const reason = failure ? failure.message || String(failure) : "the gateway did not acknowledge them";
      this._report(
        new TelemetryExportError(
          "export_failed",
          `RecordEvents: ${unacked.length} of ${batch.length} events not acknowledged (${reason}); ${unacked.length - exhausted.length} will be retried`,
          { cause: failure, sent: batch.length, acknowledged: acked, unacknowledged: unacked.length, attempt: this._failures },
        ),
      );
      if (exhausted.length > 0) {
        this.stats.droppedRetries += exhausted.length;
        this._report(
          new TelemetryExportError(
            "retries_exhausted",
            `${exhausted.length} events dropped after ${this._retry.maxAttempts} attempts`,
            { dropped: exhausted.length, events: exhausted },
          ),
        );
      }
      return false;
    }

    _settleWaiters() {
      if (this._queue.size > 0) return;
      for (const waiter of this._waiters) waiter.resolve();
    }

    /**
     * Resolves once every queued event was acknowledged. A back-off wait in progress is cut
     * short. Rejects with a `flush_timeout` TelemetryExportError after `timeoutMs` (default 30 s);
     * the events stay queued.
     */
    flush({ timeoutMs = 30_000 } = {}) {
      if (this._queue.size === 0) return Promise.resolve();
      if (this._stopped) {
        return Promise.reject(
          new TelemetryExportError("closed", `exporter is closed with ${this._queue.size} events pending`, {
            pending: this._queue.size,
          }),
        );
      }
      return new Promise((resolve, reject) => {
        const waiter = {
          resolve: () => {
            clearTimeout(timer);
            this._waiters.delete(waiter);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          this._waiters.delete(waiter);
          reject(
            new TelemetryExportError(
              "flush_timeout",
              `flush: ${this._queue.size} events still not acknowledged after ${timeoutMs} ms`,
              { pending: this._queue.size },
            ),
          );
        }, timeoutMs);
        this._waiters.add(waiter);
        if (this._sleep) this._sleep.wake();
        this._kick();
      });
    }

    /**
     * Refuses new events, flushes (bounded by `timeoutMs`), then stops: timers cleared, a call in
     * flight aborted, the transport closed. Rejects with the flush error if events were left
     * (they stay readable through `pendingEvents()`).
     */
    async close({ timeoutMs = 30_000 } = {}) {
      this._closed = true;
      let error;
      try {
        await this.flush({ timeoutMs });
      } catch (e) {
        error = e;
      }
      this._stopped = true;
      // After a successful flush the last call only has its status left to read; otherwise the
      // call in flight is abandoned.
      if (error) this._abort.abort(new Error("exporter closed"));
      if (this._sleep) this._sleep.wake();
      if (this._loop) await this._loop;
      if (typeof this._transport.close === "function") this._transport.close();
      if (error) throw error;
    }
  }

  /**
   * gRPC-Web over `fetch` (browsers, and any runtime with fetch). `fetch` cannot stream a request
   * body, so one call carries the metadata and every payload in one body (gRPC-Web framing); the
   * gateway reads them as the client stream and answers one RecordEventsResponse per payload.
   */
  class GrpcWebTransport {
    /**
     * @param {{ url: string, headers?: Record<string, string>, fetch?: typeof fetch }} options
     *   `url`: the gateway's base URL (e.g. `https://telemetry-gateway.example.com`).
     */
    constructor({ url, headers = {}, fetch: fetchImpl } = {}) {
      if (typeof url !== "string" || url === "") throw new TypeError("GrpcWebTransport: `url` is required");
      this.url = url.replace(/\/+$/, "") + PATH;
      this.headers = headers;
      this._fetch = fetchImpl || ((...args) => globalThis.fetch(...args));
    }

    async recordEvents(requests, { onResponse, signal } = {}) {
      let length = 0;
      for (const r of requests) length += 5 + r.length;
      const body = new Uint8Array(length);
      let at = 0;
      for (const r of requests) {
        body[at] = 0;
        new DataView(body.buffer).setUint32(at + 1, r.length);
        body.set(r, at + 5);
        at += 5 + r.length;
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
      });
      if (!res.ok) throw new Error(`gRPC-Web: HTTP ${res.status} ${res.statusText}`);
      let trailers = null;
      // Responses are read frame by frame as they arrive, so acknowledgements received before a
      // broken connection still count.
      let buffer = new Uint8Array(0);
      const onFrame = (flag, message) => {
        if (flag & 0x80) trailers = parseTrailers(new TextDecoder().decode(message));
        else if (onResponse) onResponse(message);
      };
      const drain = () => {
        while (buffer.length >= 5) {
          const size = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength).getUint32(1);
          if (buffer.length < 5 + size) break;
          onFrame(buffer[0], buffer.slice(5, 5 + size));
          buffer = buffer.subarray(5 + size);
        }
      };
      if (res.body && typeof res.body.getReader === "function") {
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const next = new Uint8Array(buffer.length + value.length);
          next.set(buffer);
          next.set(value, buffer.length);
          buffer = next;
          drain();
        }
      } else {
        buffer = new Uint8Array(await res.arrayBuffer());
        drain();
      }
      if (buffer.length > 0) throw new Error("gRPC-Web: truncated response frame");
      const status = trailers?.["grpc-status"] ?? res.headers.get("grpc-status");
      const message = trailers?.["grpc-message"] ?? res.headers.get("grpc-message") ?? "";
      if (status == null) throw new Error("gRPC-Web: response without grpc-status");
      if (status !== "0") throw new GrpcStatusError(Number(status), safeDecode(message));
    }

    /** Nothing to release (fetch keeps no connection of ours). */
    close() {}
  }

  return { GatewayExporter, GrpcWebTransport, TelemetryExportError, GrpcStatusError };
}

function parseTrailers(text) {
  const out = {};
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export const RECORD_EVENTS_PATH = PATH;
