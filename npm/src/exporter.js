// The gateway exporter: `@sourcegraph/telemetry`'s exporter contract
// (`exportEvents(events: TelemetryEventInput[]): Promise<void>`) over the gateway's
// `RecordEvents` RPC. Every telemetry rule comes from the WASM core, one boundary crossing per
// batch: recording (id, timestamp), validation, redaction by the policy and the protobuf
// encoding (`recordBatch`); the chunk plan and request framing (`eventsRequests`); which ids an
// answer acknowledges and the jittered back-off. This file only does IO and bookkeeping: the
// queue and its store, timers, page-lifecycle sends.
//
// Delivery is at least once: an event leaves the queue only when the gateway acknowledged it in
// `succeeded_events` (or by the overflow policy / an exhausted `maxAttempts`, both reported).
// With a store (IndexedDB in browsers by default, a file in Node on request), `exportEvents`
// resolves once the events are persisted, and a later page load / process resumes them.
import { GrpcStatusError, TelemetryExportError } from "./errors.js";
import { GrpcWebTransport, KEEPALIVE_BODY_LIMIT, RECORD_EVENTS_PATH, grpcWebBodyLength } from "./grpc-web.js";
import { IndexedDbQueueStore, indexedDbAvailable } from "./store-indexeddb.js";

export { RECORD_EVENTS_PATH };

const OVERFLOW_POLICIES = ["reject-new", "drop-oldest"];

const isNode =
  typeof process !== "undefined" &&
  process !== null &&
  typeof process.versions === "object" &&
  typeof process.versions.node === "string" &&
  typeof process.on === "function";

const hasPageLifecycle =
  typeof window !== "undefined" &&
  typeof document !== "undefined" &&
  typeof window.addEventListener === "function" &&
  typeof document.addEventListener === "function";

/** A timer that does not keep a Node process alive by itself. */
function unref(timer) {
  if (timer && typeof timer.unref === "function") timer.unref();
  return timer;
}

/** A wait of `ms` milliseconds whose `wake()` ends it early (never keeps Node alive). */
function sleep(ms) {
  let done;
  let timer;
  const promise = new Promise((resolve) => {
    done = resolve;
    timer = unref(setTimeout(resolve, ms));
  });
  return {
    promise,
    wake() {
      clearTimeout(timer);
      done();
    },
  };
}

/**
 * An AbortSignal that aborts after `ms`, or when the exporter aborts the calls in `calls` (a Set
 * the call's controller belongs to until `dispose()`). Cheaper than linking each call's signal to
 * a parent signal: no event listeners are added or removed per call.
 */
function deadlineSignal(calls, ms) {
  const controller = new AbortController();
  const timer = unref(setTimeout(() => controller.abort(new Error(`deadline of ${ms} ms exceeded`)), ms));
  if (calls) calls.add(controller);
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      if (calls) calls.delete(controller);
    },
  };
}

function varintLength(n) {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

/** Exporters with events in memory when a Node process exits (one `exit` listener for all). */
const liveExporters = new Set();
let exitHookInstalled = false;
function watchExit(exporter) {
  if (!isNode) return;
  liveExporters.add(exporter);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const e of liveExporters) e._reportUnsentAtExit();
  });
}

/**
 * A queued event: its id, wire bytes (a view of the buffer its batch was recorded in, made when
 * first asked for: most events are sent with the requests framed when they were recorded and
 * never need their own view), delivery attempts, whether a regular / keepalive call carries it,
 * and `framed`: the requests framed with its batch (`{ entries, requests, ids }`, shared
 * by that batch's entries) or null.
 */
class QueueEntry {
  constructor(id, bytes, buffer = null, at = 0, len = 0) {
    this.id = id;
    this._bytes = bytes;
    this._buffer = buffer;
    this._at = at;
    this._len = len;
    this.attempts = 0;
    this.regular = false;
    this.keepalive = false;
    this.framed = null;
    /** Whether it is not (yet) in the store: its write failed (store_failed) or has not ended. */
    this.unstored = false;
  }

  /** @returns {Uint8Array} */
  get bytes() {
    if (this._bytes === null) this._bytes = this._buffer.subarray(this._at, this._at + this._len);
    return this._bytes;
  }
}

function newEntry(id, buffer, at, len) {
  return new QueueEntry(id, null, buffer, at, len);
}

/**
 * Builds the exporter classes over the core API (`createApi`'s answer); `internal` its
 * exporter-only calls (`recordQueued`, `acknowledgedInUtf8`).
 * @param {any} core
 * @param {any} internal
 */
export function createExporter(core, internal) {
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
        maxChunkBytes = 1024 * 1024,
        requestTimeoutMs = 30_000,
        retry = {},
        onError,
        persist,
        queueName = "default",
        storeOpenTimeoutMs = 10_000,
        flushOnHide = true,
        maxKeepaliveBytes = KEEPALIVE_BODY_LIMIT,
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
      for (const [name, value] of [
        ["maxQueueEvents", maxQueueEvents],
        ["maxBatchEvents", maxBatchEvents],
        ["maxChunkBytes", maxChunkBytes],
        ["maxKeepaliveBytes", maxKeepaliveBytes],
        ["storeOpenTimeoutMs", storeOpenTimeoutMs],
        // A deadline that is not one aborts every call at once (setTimeout reads it as ~0 ms).
        ["requestTimeoutMs", requestTimeoutMs],
      ]) {
        if (!Number.isInteger(value) || value < 1) throw new TypeError(`GatewayExporter: \`${name}\` must be a positive integer`);
      }
      // A back-off of 0 or less would retry a gateway that is down without pause.
      if (typeof retry !== "object" || retry === null) {
        throw new TypeError("GatewayExporter: `retry` must be an object { baseMs?, maxMs?, maxAttempts? }");
      }
      for (const [name, value] of [
        ["baseMs", retry.baseMs ?? 500],
        ["maxMs", retry.maxMs ?? 60_000],
        ["maxAttempts", retry.maxAttempts ?? 1],
      ]) {
        if ((!Number.isInteger(value) || value < 1) && !(name === "maxAttempts" && value === Infinity)) {
          throw new TypeError(`GatewayExporter: \`retry.${name}\` must be a positive integer${name === "maxAttempts" ? " (or Infinity, the default)" : ""}`);
        }
      }
      if (maxKeepaliveBytes > KEEPALIVE_BODY_LIMIT) {
        throw new TypeError(`GatewayExporter: \`maxKeepaliveBytes\` must be at most ${KEEPALIVE_BODY_LIMIT} (fetch's keepalive quota)`);
      }
      if (typeof context === "object" && context !== null) {
        if (typeof context.serverVersion !== "string" || context.serverVersion === "") {
          throw new TypeError(
            "GatewayExporter: `context.serverVersion` is required: the version of the instance or service recording the events " +
              "(it becomes the event's source.server.version; without it events would carry an empty \"server\":{})",
          );
        }
      } else if (typeof context !== "function") {
        throw new TypeError("GatewayExporter: `context` must be a RecordContext object or a function (input) => RecordContext");
      }
      this._policyText = typeof policy === "string" ? policy : JSON.stringify(policy);
      // A policy or context that cannot be used fails here, not on the first event.
      const policyProblem = internal.policyProblem(policy);
      if (policyProblem !== undefined) throw new TypeError(`GatewayExporter: ${policyProblem}`);
      if (typeof context === "object") {
        const problem = internal.contextProblem(context, this._policyText);
        if (problem !== undefined) throw new TypeError(`GatewayExporter: context: ${problem}`);
      }

      this._transport = transport;
      this._metadata = metadata;
      this._context = context;
      this._maxQueue = maxQueueEvents;
      this._overflow = overflow;
      this._maxBatch = maxBatchEvents;
      this._maxChunkBytes = maxChunkBytes;
      this._maxKeepaliveBytes = maxKeepaliveBytes;
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
      /**
       * The queued events by id, oldest first.
       * @type {Map<string, QueueEntry>}
       */
      this._queue = new Map();
      this._loop = null;
      this._sleep = null;
      this._failures = 0;
      this._stopped = false;
      /** The AbortControllers of the regular calls in flight (`close()` aborts them). */
      this._calls = new Set();
      this._waiters = new Set();
      this._keepaliveCall = null;
      /** Body bytes of keepalive calls in flight (the quota is shared). */
      this._keepaliveBytes = 0;
      this._warned = new Set();
      this.stats = {
        queued: 0,
        acknowledged: 0,
        invalid: 0,
        droppedOverflow: 0,
        droppedRetries: 0,
        requests: 0,
        failedRequests: 0,
        sentEvents: 0,
        resumed: 0,
        keepaliveRequests: 0,
        keepaliveEvents: 0,
        storeFailures: 0,
        duplicateIds: 0,
      };

      this._store = resolveStore(persist, queueName);
      this._storeOpenTimeoutMs = storeOpenTimeoutMs;
      /** Store operations started and not settled; those waiting for the store to open. */
      this._storeOps = new Set();
      this._storeWaiting = [];
      this._openStore();
      this._storeOpen = Boolean(this._store);

      this._flushOnHide = flushOnHide && hasPageLifecycle && transport.keepalive === true;
      this._startLifecycle();
    }

    /** Where queued events are kept: `"memory"`, `"indexeddb"`, `"file"` or a custom store's `kind`. */
    get persistence() {
      return this._store ? this._store.kind || "custom" : "memory";
    }

    /** Events waiting for the gateway's acknowledgement. */
    get pending() {
      return this._queue.size;
    }

    /** The ids of the queued events, oldest first. */
    pendingIds() {
      return Array.from(this._queue.keys());
    }

    /** A copy of the queued events (oldest first), as they will be sent (proto3 JSON). */
    pendingEvents() {
      return Array.from(this._queue.values(), (entry) => core.decodeEvent(entry.bytes));
    }

    _report(error) {
      try {
        this._onError(error);
      } catch {
        // an error handler that throws must not break the exporter
      }
    }

    _warnOnce(code, message, details) {
      if (this._warned.has(code)) return;
      this._warned.add(code);
      this._report(new TelemetryExportError(code, message, details));
    }

    /**
     * Resolves once the queue store is open and the events it resumed are queued (at once
     * without a store). Operations before that wait; after it they start immediately.
     */
    get ready() {
      return this._storeReady;
    }

    _openStore() {
      this._storeIsReady = false;
      if (!this._store) {
        this._storeReady = Promise.resolve();
        return;
      }
      const store = this._store;
      const opened = Promise.resolve().then(() =>
        store.open(
          (entries) => this._store === store && this._adopt(entries),
          // A failure in the background, after the store opened (claiming a closed tab's events).
          (e) => this._store === store && this._storeFailed("claim", e, "they stay in the store for a later load"),
        ),
      );
      // A store that does not open in time (IndexedDB blocked, or never answering) is not
      // waited for: exportEvents, flush and close would wait for it forever.
      let timer;
      const timeout = new Promise((_, fail) => {
        timer = unref(setTimeout(() => fail(new Error(`not open after ${this._storeOpenTimeoutMs} ms`)), this._storeOpenTimeoutMs));
      });
      this._storeReady = Promise.race([opened, timeout])
        .catch((e) => {
          // A store that cannot open is left out: the queue lives in memory from here on.
          this._storeFailed("open", e);
          this._store = null;
          // If it opens after all, it is closed again (what it holds stays for the next run).
          opened.then(() => store.close()).catch(() => {});
        })
        .then(() => {
          clearTimeout(timer);
          this._storeIsReady = true;
          const waiting = this._storeWaiting;
          this._storeWaiting = [];
          for (const start of waiting) start();
        });
    }

    _storeFailed(what, e, fate = "events stay in memory") {
      this.stats.storeFailures++;
      this._report(
        new TelemetryExportError("store_failed", `queue store (${this.persistence}): ${what} failed: ${(e && e.message) || e}; ${fate}`, {
          cause: e,
        }),
      );
    }

    /**
     * Starts a store operation at once (synchronously: an IndexedDB transaction is created in
     * this task, which matters when the page is about to go away), or once the store is open.
     * Operations start in call order; stores keep that order (an add before its remove).
     */
    _storeOp(what, fn) {
      if (!this._store) return Promise.resolve();
      return new Promise((resolve) => {
        const start = () => {
          const store = this._store;
          if (!store) return resolve();
          let op;
          try {
            op = Promise.resolve(fn(store));
          } catch (e) {
            op = Promise.reject(e);
          }
          const settled = op.catch((e) => this._storeFailed(what, e)).then(() => this._storeOps.delete(settled));
          this._storeOps.add(settled);
          settled.then(resolve);
        };
        if (this._storeIsReady) start();
        else this._storeWaiting.push(start);
      });
    }

    _startLifecycle() {
      watchExit(this);
      if (this._flushOnHide && !this._onPageHide) {
        this._onPageHide = () => this._sendOnHide(true);
        this._onVisibility = () => {
          if (document.visibilityState === "hidden") this._sendOnHide(false);
        };
        window.addEventListener("pagehide", this._onPageHide);
        document.addEventListener("visibilitychange", this._onVisibility);
      }
    }

    _stopLifecycle() {
      liveExporters.delete(this);
      if (this._onPageHide) {
        window.removeEventListener("pagehide", this._onPageHide);
        document.removeEventListener("visibilitychange", this._onVisibility);
        this._onPageHide = null;
        this._onVisibility = null;
      }
    }

    _reportUnsentAtExit() {
      if (this._queue.size === 0) return;
      const n = this._queue.size;
      let unpersisted = n;
      if (this._store) {
        unpersisted = 0;
        for (const entry of this._queue.values()) if (entry.unstored) unpersisted++;
      }
      this._report(
        new TelemetryExportError(
          "unsent_at_exit",
          !this._store
            ? `${n} events not exported when the process exited (the gateway did not acknowledge them in time); pass a persistent store (FileQueueStore) to keep them for the next run`
            : unpersisted === 0
              ? `${n} events not yet acknowledged when the process exited; they stay in the queue store and the next run sends them`
              : `${n} events not yet acknowledged when the process exited; ${unpersisted} of them were not written to the queue store (the write failed, reported as store_failed, or had not ended) and may be lost; the rest stay in it and the next run sends them`,
          { pending: n, persisted: unpersisted === 0, unpersisted },
        ),
      );
    }

    /**
     * The JS SDK's exporter contract. Records, validates, redacts and encodes every
     * `TelemetryEventInput` with the core (one call for the batch) and queues the events;
     * resolves once they are queued — and persisted, with a store (call `flush()` to wait for
     * the gateway). Recordings the core refuses, and events the overflow policy drops, are
     * reported through `onError`, never thrown: the other events of the batch are still exported.
     */
    async exportEvents(events) {
      if (!Array.isArray(events)) throw new TypeError("exportEvents: expected an array of TelemetryEventInput");
      if (events.length === 0) return;
      if (this._stopped) this._reopenForLateEvents(events.length);
      const added = this._record(events);
      this._kick();
      if (this._store && added.length > 0) {
        for (const entry of added) entry.unstored = true;
        await this._storeOp("add", async (store) => {
          await store.add(added.map(({ id, bytes }) => ({ id, bytes })));
          for (const entry of added) entry.unstored = false;
        });
      }
    }

    /** Records a batch with the core and queues what it accepted; answers the new entries. */
    _record(events) {
      let context = this._context;
      if (typeof context === "function") {
        context = events.map((input) => {
          const ctx = this._context(input);
          if (ctx && typeof ctx === "object" && (typeof ctx.serverVersion !== "string" || ctx.serverVersion === "")) {
            this._warnOnce(
              "missing_server_version",
              "the context function returned a context without serverVersion: events carry an empty source.server (\"server\":{}); return the version of the instance or service recording them",
            );
          }
          return ctx;
        });
      }
      let results;
      let requests = null;
      let ids = null;
      try {
        // Recorded and framed as the requests of one export call in the same crossing: when
        // that call sends exactly these events (the usual case), it sends these requests, and
        // the ids' UTF-8 answered with them serves the call's acknowledgement.
        ({ results, requests, ids } = internal.recordQueued(events, context, this._policyText, this._maxChunkBytes, newEntry));
      } catch (e) {
        // A request the core cannot run at all (e.g. a context function returning a non-object).
        results = events.map(() => ({ error: (e && e.message) || String(e) }));
      }
      const added = [];
      const evicted = [];
      const queue = this._queue;
      let overflowed = 0;
      let recorded = 0;
      for (let i = 0; i < results.length; i++) {
        const r = results[i];
        if (!(r instanceof QueueEntry)) {
          this.stats.invalid++;
          this._report(new TelemetryExportError("invalid_event", r.error, { event: events[i] }));
          continue;
        }
        recorded++;
        // A repeated id (a caller-supplied context.id) replaces nothing: the first one stays queued
        // (the same event exported again). Counted, and reported once.
        if (queue.has(r.id)) {
          this._duplicateId(r.id);
          continue;
        }
        if (queue.size >= this._maxQueue) {
          overflowed++;
          if (this._overflow === "reject-new") continue;
          const oldest = queue.keys().next().value;
          queue.delete(oldest);
          evicted.push(oldest);
        }
        queue.set(r.id, r);
        added.push(r);
      }
      this.stats.queued += added.length;
      if (requests !== null && added.length > 0) {
        // Its requests carry every recorded event: they stand for exactly the events queued.
        if (added.length === recorded) {
          const framed = { entries: added, requests, ids: added.length === results.length ? ids : null };
          for (const entry of added) entry.framed = framed;
        }
      }
      if (evicted.length > 0) this._storeOp("remove", (store) => store.remove(evicted));
      if (overflowed > 0) this._reportOverflow(overflowed);
      // "drop-oldest" may have evicted events of this very batch: they are not stored (their
      // removal is already ordered before this batch's add, which would bring them back).
      if (evicted.length > 0) return added.filter((entry) => queue.get(entry.id) === entry);
      return added;
    }

    _duplicateId(id) {
      this.stats.duplicateIds++;
      this._warnOnce(
        "duplicate_id",
        `event id ${id} is already queued: the event exported again with it was not queued (the one queued first is sent); give every event its own context.id. Later repeats are counted in stats.duplicateIds, not reported`,
        { id },
      );
    }

    _reportOverflow(count) {
      this.stats.droppedOverflow += count;
      const what = this._overflow === "reject-new" ? "new events refused" : "oldest queued events dropped";
      this._report(
        new TelemetryExportError(
          "queue_overflow",
          `export queue full (${this._maxQueue} events): ${count} ${what} (overflow policy ${this._overflow})`,
          { dropped: count, policy: this._overflow },
        ),
      );
    }

    /** Events a store resumed (left by an earlier page load or process): queued before the rest. */
    _adopt(entries) {
      if (entries.length === 0) return;
      const corrupt = [];
      const checks = core.checkEvents(entries.map((e) => e.bytes));
      const fresh = [];
      for (let i = 0; i < entries.length; i++) {
        const { id, bytes } = entries[i];
        if (checks[i] !== null) corrupt.push(id);
        else if (!this._queue.has(id)) fresh.push([id, new QueueEntry(id, bytes)]);
      }
      const room = Math.max(0, this._maxQueue - this._queue.size);
      const dropped = fresh.splice(room).map(([id]) => id);
      this._queue = new Map([...fresh, ...this._queue]);
      this.stats.resumed += fresh.length;
      if (corrupt.length > 0) {
        this._storeFailed("resume", new Error(`${corrupt.length} stored events do not decode and were dropped`));
      }
      if (dropped.length > 0) this._reportOverflow(dropped.length);
      if (corrupt.length + dropped.length > 0) {
        this._storeOp("remove", (store) => store.remove([...corrupt, ...dropped]));
      }
      this._kick();
    }

    /** `exportEvents` after `close()` (e.g. the SDK's last flush): exported anyway, then closed again. */
    _reopenForLateEvents(count) {
      this._warnOnce(
        "exported_after_close",
        `${count} events exported after close(); they are exported anyway. Call provider.unsubscribe() before exporter.close(), so the SDK's buffered events arrive while the exporter is open`,
        { count },
      );
      this._stopped = false;
      this._startLifecycle();
      if (this._store && !this._storeOpen) {
        this._openStore();
        this._storeOpen = true;
      }
      if (!this._lateClose) {
        this._lateClose = new Promise((resolve) => setTimeout(resolve, 0))
          .then(() => this.close())
          // Nobody awaits this close: its error (flush_timeout: the late events were not
          // delivered, and the closed exporter no longer retries them) goes to onError.
          .catch((e) => this._report(e))
          .finally(() => {
            this._lateClose = null;
          });
      }
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
        const outcome = await this._exportOnce();
        this._settleWaiters();
        if (outcome === "ok") {
          this._failures = 0;
          continue;
        }
        if (outcome === "idle") {
          // Everything left is in a keepalive call: its end decides.
          if (this._keepaliveCall) await this._keepaliveCall;
          else break;
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

    _metadataRequest() {
      const metadata = { ...this._metadata };
      if (!metadata.requestId) metadata.requestId = core.uuidV7();
      return core.encodeRecordEventsRequest({ metadata });
    }

    /**
     * Applies a RecordEventsResponse to the events `sent` (queue entries) in a call; `ids` their
     * ids as UTF-8 (see `recordQueued`) or null.
     */
    _onResponse(sent, bytes, ids = null) {
      const positions =
        ids === null ? core.acknowledgedIn(sent.map((e) => e.id), bytes) : internal.acknowledgedInUtf8(ids.bytes, ids.lens, bytes);
      const queue = this._queue;
      let count = 0;
      if (this._store) {
        const acked = [];
        for (let k = 0; k < positions.length; k++) {
          const id = sent[positions[k]].id;
          if (queue.delete(id)) acked.push(id);
        }
        count = acked.length;
        if (count > 0) this._storeOp("remove", (store) => store.remove(acked));
      } else {
        // Without a store the ids need not be collected.
        for (let k = 0; k < positions.length; k++) if (queue.delete(sent[positions[k]].id)) count++;
      }
      this.stats.acknowledged += count;
      this._settleWaiters();
      return count;
    }

    /**
     * The requests framed when `batch` (queue entries) was recorded (`{ requests, ids, ... }`) if
     * it is exactly the events recorded together (the usual case: a batch exported, then sent),
     * else null: the call's requests are then framed from the queued bytes (`_eventsRequests`).
     */
    _framedFor(batch) {
      const framed = batch[0].framed;
      if (framed !== null && framed.entries.length === batch.length) {
        for (let i = 0; i < batch.length; i++) if (framed.entries[i] !== batch[i]) return null;
        return framed;
      }
      return null;
    }

    /** The RecordEventsRequests carrying `batch` (queue entries), framed now from their bytes. */
    _eventsRequests(batch) {
      return core.eventsRequests(batch.map((e) => e.bytes), this._maxChunkBytes);
    }

    /** One RecordEvents call over the oldest queued events: "ok" if all were acknowledged. */
    async _exportOnce() {
      // The oldest events not in a keepalive call.
      const batch = [];
      const maxBatch = this._maxBatch;
      for (const entry of this._queue.values()) {
        if (entry.keepalive) continue;
        batch.push(entry);
        if (batch.length >= maxBatch) break;
      }
      if (batch.length === 0) return "idle";
      const framed = this._framedFor(batch);
      // The ids' UTF-8 for the acknowledgement: the one answered with the framed requests.
      const ids = framed === null ? null : framed.ids;
      const requests = [this._metadataRequest(), ...(framed === null ? this._eventsRequests(batch) : framed.requests)];
      // In a page, a call that fits what is left of the keepalive quota is sent with keepalive:
      // leaving the page does not cancel it, so pagehide need not send its events again.
      const bodyBytes = grpcWebBodyLength(requests);
      const keepalive = this._flushOnHide && bodyBytes <= this._maxKeepaliveBytes - this._keepaliveBytes;
      if (keepalive) this._keepaliveBytes += bodyBytes;
      for (const e of batch) {
        e.regular = true;
        if (keepalive) e.keepalive = true;
      }
      let acked = 0;
      let failure;
      const deadline = deadlineSignal(this._calls, this._timeoutMs);
      this.stats.requests++;
      this.stats.sentEvents += batch.length;
      try {
        await this._transport.recordEvents(requests, {
          onResponse: (bytes) => {
            acked += this._onResponse(batch, bytes, ids);
          },
          signal: deadline.signal,
          timeoutMs: this._timeoutMs,
          ...(keepalive ? { keepalive: true } : {}),
        });
      } catch (e) {
        failure = e;
      } finally {
        deadline.dispose();
        if (keepalive) this._keepaliveBytes -= bodyBytes;
        for (const e of batch) {
          e.regular = false;
          if (keepalive) e.keepalive = false;
        }
      }
      // Everything sent was acknowledged (each acknowledgement removed a distinct event of this
      // call): a stream error after the last answer loses nothing.
      if (acked === batch.length) return "ok";
      const unacked = batch.filter((e) => this._queue.has(e.id));
      if (unacked.length === 0) return "ok";

      this.stats.failedRequests++;
      const exhausted = [];
      for (const entry of unacked) {
        entry.attempts++;
        // An event a keepalive call (pagehide) also carries is not dropped yet: that call's
        // answer may still acknowledge it; if not, the next failed attempt drops it.
        if (entry.attempts >= this._retry.maxAttempts && !entry.keepalive) {
          this._queue.delete(entry.id);
          exhausted.push(entry);
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
        this._storeOp("remove", (store) => store.remove(exhausted.map((e) => e.id)));
        this._report(
          new TelemetryExportError(
            "retries_exhausted",
            `${exhausted.length} events dropped after ${this._retry.maxAttempts} attempts`,
            { dropped: exhausted.length, events: exhausted.map((e) => core.decodeEvent(e.bytes)) },
          ),
        );
      }
      return "failed";
    }

    /**
     * The page is being hidden (`visibilitychange`) or left (`pagehide`): send what fits in one
     * `keepalive` fetch (it may outlive the page), oldest first. On `pagehide` this includes the
     * events of a regular call in flight (leaving the page cancels it). Whatever the gateway
     * acknowledges leaves the queue as usual; the rest stays queued (and stored, for the next
     * page load): at least once, duplicates possible.
     */
    _sendOnHide(includeRegular) {
      if (this._stopped || this._keepaliveCall || this._queue.size === 0) return;
      const metadataRequest = this._metadataRequest();
      // gRPC-Web frames (5 bytes each) for the metadata and one events request, whose own
      // header is a tag byte and a length varint (at most 5 bytes).
      let budget = this._maxKeepaliveBytes - this._keepaliveBytes - (5 + metadataRequest.length) - (5 + 1 + 5);
      const picked = [];
      for (const entry of this._queue.values()) {
        if (entry.keepalive || (entry.regular && !includeRegular)) continue;
        const framed = 1 + varintLength(entry.bytes.length) + entry.bytes.length;
        if (framed > budget) continue;
        budget -= framed;
        picked.push(entry);
      }
      if (picked.length === 0) return;
      let requests;
      try {
        requests = [metadataRequest, ...core.eventsRequests(picked.map((e) => e.bytes), this._maxKeepaliveBytes)];
      } catch (e) {
        this._report(new TelemetryExportError("export_failed", `keepalive send: ${(e && e.message) || e}`, { cause: e }));
        return;
      }
      for (const e of picked) e.keepalive = true;
      const bodyBytes = grpcWebBodyLength(requests);
      this._keepaliveBytes += bodyBytes;
      this.stats.keepaliveRequests++;
      this.stats.keepaliveEvents += picked.length;
      const deadline = deadlineSignal(null, this._timeoutMs);
      this._keepaliveCall = Promise.resolve()
        .then(() =>
          this._transport.recordEvents(requests, {
            onResponse: (bytes) => this._onResponse(picked, bytes),
            signal: deadline.signal,
            timeoutMs: this._timeoutMs,
            keepalive: true,
          }),
        )
        .catch((e) => {
          const left = picked.filter((p) => this._queue.has(p.id)).length;
          if (left > 0) {
            this._report(
              new TelemetryExportError("export_failed", `keepalive RecordEvents: ${left} of ${picked.length} events not acknowledged (${(e && e.message) || e}); they stay queued`, {
                cause: e,
                sent: picked.length,
                unacknowledged: left,
              }),
            );
          }
        })
        .finally(() => {
          deadline.dispose();
          this._keepaliveBytes -= bodyBytes;
          for (const e of picked) e.keepalive = false;
          this._keepaliveCall = null;
          this._settleWaiters();
          this._kick();
        });
    }

    _settleWaiters() {
      if (this._queue.size > 0) return;
      for (const waiter of this._waiters) waiter.resolve();
    }

    /**
     * Resolves once every queued event (including events a store resumed) was acknowledged. A
     * back-off wait in progress is cut short. Rejects with a `flush_timeout`
     * TelemetryExportError after `timeoutMs` (default 30 s); the events stay queued.
     */
    flush({ timeoutMs = 30_000 } = {}) {
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
        this._storeReady.then(() => {
          if (this._queue.size === 0) return waiter.resolve();
          if (this._stopped) {
            clearTimeout(timer);
            return reject(
              new TelemetryExportError("closed", `exporter is closed with ${this._queue.size} events pending`, {
                pending: this._queue.size,
              }),
            );
          }
          this._waiters.add(waiter);
          if (this._sleep) this._sleep.wake();
          this._kick();
        });
      });
    }

    /**
     * Flushes (bounded by `timeoutMs`), then stops: timers cleared, a call still in flight
     * aborted, the transport and the store closed. Events recorded while it flushes are
     * included; events recorded after it resolved are still exported (and reported once as
     * `exported_after_close`). Rejects with the flush error if events were left: they are still
     * readable through `pendingEvents()`, and with a store the next run sends them.
     */
    async close({ timeoutMs = 30_000 } = {}) {
      let error;
      try {
        await this.flush({ timeoutMs });
      } catch (e) {
        error = e;
      }
      this._stopped = true;
      // After a successful flush the last call only has its status left to read; otherwise the
      // call in flight is abandoned.
      if (error) {
        const reason = new Error("exporter closed");
        for (const call of [...this._calls]) call.abort(reason);
      }
      if (this._sleep) this._sleep.wake();
      if (this._loop) await this._loop;
      this._stopLifecycle();
      if (typeof this._transport.close === "function") this._transport.close();
      if (this._store) {
        await this._storeReady;
        while (this._storeOps.size > 0) await Promise.all([...this._storeOps]);
        try {
          await this._store.close();
        } catch (e) {
          this._storeFailed("close", e);
        }
        this._storeOpen = false;
      }
      if (error) throw error;
    }
  }

  /** The queue store for the `persist` option. */
  function resolveStore(persist, queueName) {
    if (persist === false) return null;
    if (persist && typeof persist === "object") {
      for (const method of ["open", "add", "remove", "close"]) {
        if (typeof persist[method] !== "function") {
          throw new TypeError(`GatewayExporter: \`persist\` store must have an ${method}() method`);
        }
      }
      return persist;
    }
    if (persist !== undefined && persist !== true) {
      throw new TypeError("GatewayExporter: `persist` must be true, false or a queue store");
    }
    if (!indexedDbAvailable()) {
      if (persist === true) {
        throw new TypeError("GatewayExporter: `persist: true` needs IndexedDB (in Node, pass a FileQueueStore from @telemetry-gateway/core/exporter-node)");
      }
      return null;
    }
    return new IndexedDbQueueStore({ name: queueName, newId: () => core.uuidV7() });
  }

  return { GatewayExporter, GrpcWebTransport, TelemetryExportError, GrpcStatusError, IndexedDbQueueStore };
}
