// The gateway exporter against fake transports (and an in-test @grpc/grpc-js server): recording
// and redaction by the core, the core's chunk plan, retry of every unacknowledged id with the
// core's back-off, the overflow policies, flush/close, errors through onError, the gRPC-Web
// framing, and the JS SDK's TelemetryRecorderProvider driving the exporter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import * as core from "../../dist/node.mjs";
import { GrpcTransport } from "../../dist/exporter-node.mjs";

const require = createRequire(import.meta.url);
const grpc = require("@grpc/grpc-js");
const { TelemetryRecorderProvider } = require("@sourcegraph/telemetry");

const { GatewayExporter, GrpcWebTransport, TelemetryExportError, GrpcStatusError } = core;
const METADATA = { identifier: { unlicensedInstance: { instanceId: "unit-test" } } };
const CONTEXT = { serverVersion: "5.5.0" };
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function recording(i, extra = {}) {
  return {
    feature: "cody.chat",
    action: "submitted",
    source: { client: "VSCode.Cody", clientVersion: "1.2.3" },
    parameters: { version: 1, metadata: [{ key: "n", value: i }], privateMetadata: { prompt: `secret ${i}` } },
    marketingTracking: { url: "https://example.com/?q=1" },
    ...extra,
  };
}

/**
 * A fake gateway transport: decodes every call with the core, answers each payload with the ids
 * `ack(events, call)` returns, and records the calls.
 */
function fakeGateway({ ack = (events) => events.map((e) => e.id), fail, delayMs = 0 } = {}) {
  const calls = [];
  return {
    calls,
    closed: false,
    close() {
      this.closed = true;
    },
    async recordEvents(requests, { onResponse, signal }) {
      const decoded = requests.map((r) => core.decodeRecordEventsRequest(r));
      const call = { at: Date.now(), requests, metadata: decoded[0].metadata, payloads: decoded.slice(1).map((d) => d.events.events) };
      calls.push(call);
      assert.ok(call.metadata, "the first message is the metadata");
      if (delayMs) {
        await new Promise((ok, no) => {
          const t = setTimeout(ok, delayMs);
          signal.addEventListener("abort", () => (clearTimeout(t), no(signal.reason)), { once: true });
        });
      }
      for (const events of call.payloads) {
        if (fail && fail(call, events)) throw new Error("connection reset (fake)");
        onResponse(core.encodeRecordEventsResponse({ succeededEvents: ack(events, call) }));
      }
    },
  };
}

function collect() {
  const errors = [];
  return { errors, onError: (e) => errors.push(e) };
}

test("exportEvents records with the core, redacts by the policy, and sends metadata then payloads", async () => {
  const gw = fakeGateway();
  const { errors, onError } = collect();
  let n = 0;
  const context = () => ({ serverVersion: "5.5.0", id: `0190f6b4-8c2e-7000-8000-00000000000${n++}`, now: "2024-07-01T12:00:00Z", user: { userId: 42 } });
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context, onError });
  await ex.exportEvents([recording(1), recording(2)]);
  await ex.flush({ timeoutMs: 2000 });
  assert.deepEqual(errors, []);
  assert.equal(gw.calls.length, 1);
  const [call] = gw.calls;
  assert.deepEqual(call.metadata.identifier, METADATA.identifier);
  assert.match(call.metadata.requestId, UUID_V7);
  const sent = call.payloads.flat();
  // Exactly what the core makes of the recording: record, then redact (default policy).
  const expected = [recording(1), recording(2)].map((r, i) => {
    const rec = core.record(r, { serverVersion: "5.5.0", id: `0190f6b4-8c2e-7000-8000-00000000000${i}`, now: "2024-07-01T12:00:00Z", user: { userId: 42 } });
    return core.redact(rec.event, {}).event;
  });
  assert.deepEqual(sent, expected);
  assert.equal(sent[0].parameters.privateMetadata, undefined, "privateMetadata redacted");
  assert.equal(sent[0].marketingTracking, undefined, "marketingTracking redacted");
  assert.equal(sent[0].user.userId, "42");
  assert.equal(ex.pending, 0);
  assert.equal(ex.stats.acknowledged, 2);
});

test("fresh UUID v7 ids and timestamps by default; the dotcom policy keeps everything", async () => {
  const gw = fakeGateway();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, policy: { dotcom: true }, context: { serverVersion: "1" } });
  await ex.exportEvents([recording(1), recording(2)]);
  await ex.flush({ timeoutMs: 2000 });
  const sent = gw.calls[0].payloads.flat();
  assert.match(sent[0].id, UUID_V7);
  assert.notEqual(sent[0].id, sent[1].id);
  assert.ok(Math.abs(Date.parse(sent[0].timestamp) - Date.now()) < 60_000);
  assert.deepEqual(sent[0].parameters.privateMetadata, { prompt: "secret 1" });
  assert.equal(sent[0].marketingTracking.url, "https://example.com/?q=1");
});

test("invalid recordings go to onError with the core's message; the rest of the batch is exported", async () => {
  const gw = fakeGateway();
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, onError });
  const bad = recording(0, { feature: "Bad Feature" });
  await ex.exportEvents([recording(1), bad, recording(2)]);
  await ex.flush({ timeoutMs: 2000 });
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof TelemetryExportError);
  assert.equal(errors[0].code, "invalid_event");
  assert.equal(errors[0].message, core.checkEventInput(bad).error);
  assert.equal(errors[0].event, bad);
  assert.equal(gw.calls[0].payloads.flat().length, 2);
});

test("payloads follow the core's chunk plan and stay under 1 MiB", async () => {
  const gw = fakeGateway();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, policy: { dotcom: true } });
  const big = (i) => recording(i, { parameters: { version: 1, privateMetadata: { blob: "x".repeat(200_000 + i * 1000) } } });
  const recs = Array.from({ length: 12 }, (_, i) => big(i));
  await ex.exportEvents(recs);
  await ex.flush({ timeoutMs: 5000 });
  const [call] = gw.calls;
  const queued = call.payloads.flat();
  assert.equal(queued.length, 12);
  // The core's plan over each event's own encoded length (it adds the framing itself).
  const sizes = queued.map((e) => core.encodeEvent(e).length);
  const plan = core.planChunks(sizes);
  assert.deepEqual(call.payloads.map((p) => p.length), plan.map(([s, e]) => e - s));
  assert.ok(call.payloads.length > 1);
  // RecordEventsRequest = tag + length + EventsPayload, and each EventsPayload under 1 MiB.
  for (const r of call.requests.slice(1)) assert.ok(r.length < 1024 * 1024 + 5, `payload of ${r.length} bytes`);

  // A smaller limit: the same rule, more chunks.
  const gw2 = fakeGateway();
  const ex2 = new GatewayExporter({ transport: gw2, metadata: METADATA, context: CONTEXT, maxChunkBytes: 1000 });
  await ex2.exportEvents(Array.from({ length: 20 }, (_, i) => recording(i)));
  await ex2.flush({ timeoutMs: 2000 });
  const q2 = gw2.calls[0].payloads.flat();
  assert.equal(q2.length, 20);
  const sizes2 = q2.map((e) => core.encodeEvent(e).length);
  assert.deepEqual(gw2.calls[0].payloads.map((p) => p.length), core.planChunks(sizes2, 1000).map(([s, e]) => e - s));
});

test("every id not in succeeded_events is retried, and only those", async () => {
  let round = 0;
  const gw = fakeGateway({
    // First call: acknowledge every other event (and an id never sent); later calls: all.
    ack: (events, call) => (gw.calls.indexOf(call) === 0 ? [...events.filter((_, i) => i % 2 === 0).map((e) => e.id), "not-sent"] : events.map((e) => e.id)),
  });
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, retry: { baseMs: 10, maxMs: 20 }, onError });
  await ex.exportEvents(Array.from({ length: 10 }, (_, i) => recording(i)));
  await ex.flush({ timeoutMs: 3000 });
  round = gw.calls.length;
  assert.equal(round, 2);
  const first = gw.calls[0].payloads.flat().map((e) => e.id);
  const second = gw.calls[1].payloads.flat().map((e) => e.id);
  assert.deepEqual(second, first.filter((_, i) => i % 2 === 1));
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "export_failed");
  assert.equal(errors[0].unacknowledged, 5);
  assert.equal(errors[0].acknowledged, 5);
  assert.equal(ex.stats.acknowledged, 10);
});

test("acknowledgements received before a broken stream count; the rest is retried", async () => {
  const gw = fakeGateway({ fail: (call, events) => gw.calls.length === 1 && call.payloads.indexOf(events) === 1 });
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, maxChunkBytes: 600, retry: { baseMs: 5, maxMs: 10 }, onError });
  await ex.exportEvents(Array.from({ length: 9 }, (_, i) => recording(i)));
  await ex.flush({ timeoutMs: 3000 });
  const firstChunk = gw.calls[0].payloads[0].map((e) => e.id);
  const retried = gw.calls[1].payloads.flat().map((e) => e.id);
  assert.ok(firstChunk.length > 0 && firstChunk.length < 9);
  assert.deepEqual(retried, gw.calls[0].payloads.flat().map((e) => e.id).filter((id) => !firstChunk.includes(id)));
  assert.match(errors[0].message, /connection reset \(fake\)/);
  assert.equal(errors[0].cause.message, "connection reset (fake)");
});

test("the back-off between failed calls is the core's (exponential, full jitter from Math.random)", async (t) => {
  t.mock.method(Math, "random", () => 0.5);
  let calls = 0;
  const gw = fakeGateway({ ack: (events) => (++calls < 5 ? [] : events.map((e) => e.id)) });
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, retry: { baseMs: 40, maxMs: 100 }, onError: () => {} });
  await ex.exportEvents([recording(1)]);
  // flush() would cut the first wait short; wait for the queue by polling instead.
  for (let i = 0; i < 300 && ex.pending > 0; i++) await new Promise((ok) => setTimeout(ok, 10));
  assert.equal(ex.pending, 0);
  const gaps = gw.calls.slice(1).map((c, i) => c.at - gw.calls[i].at);
  const expected = [0, 1, 2, 3].map((a) => core.backoffDelayMs(a, 40, 100, 0.5));
  assert.deepEqual(expected, [20, 40, 50, 50]);
  gaps.forEach((g, i) => assert.ok(g >= expected[i] - 2 && g < expected[i] + 200, `gap ${i}: ${g} ms, expected ${expected[i]}`));
});

test("overflow 'reject-new' (the default) refuses new events and reports them", async () => {
  const gw = fakeGateway({ delayMs: 200 });
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, maxQueueEvents: 5, onError });
  await ex.exportEvents(Array.from({ length: 8 }, (_, i) => recording(i)));
  assert.equal(ex.pending, 5);
  assert.deepEqual(ex.pendingEvents().map((e) => e.parameters.metadata.n), [0, 1, 2, 3, 4]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "queue_overflow");
  assert.equal(errors[0].dropped, 3);
  assert.equal(errors[0].policy, "reject-new");
  await ex.flush({ timeoutMs: 3000 });
  assert.equal(ex.stats.droppedOverflow, 3);
});

test("overflow 'drop-oldest' keeps the newest events and reports the dropped ones", async () => {
  const gw = fakeGateway({ ack: () => [] });
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, maxQueueEvents: 5, overflow: "drop-oldest", retry: { baseMs: 10_000, maxMs: 10_000 }, onError });
  await ex.exportEvents(Array.from({ length: 8 }, (_, i) => recording(i)));
  assert.deepEqual(ex.pendingEvents().map((e) => e.parameters.metadata.n), [3, 4, 5, 6, 7]);
  assert.equal(errors[0].code, "queue_overflow");
  assert.equal(errors[0].dropped, 3);
  await assert.rejects(ex.close({ timeoutMs: 50 }), (e) => e.code === "flush_timeout" && e.pending === 5);
});

test("flush() rejects after its bound with the pending count; the events stay queued", async () => {
  const gw = fakeGateway({ ack: () => [] });
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, retry: { baseMs: 5, maxMs: 20 }, onError: () => {} });
  await ex.exportEvents([recording(1), recording(2)]);
  await assert.rejects(ex.flush({ timeoutMs: 100 }), (e) => e instanceof TelemetryExportError && e.code === "flush_timeout" && e.pending === 2);
  assert.equal(ex.pending, 2);
  assert.ok(gw.calls.length >= 2);
  await ex.close({ timeoutMs: 10 }).catch(() => {});
});

test("flush() cuts a back-off wait short", async () => {
  let ok = false;
  const gw = fakeGateway({ ack: (events) => (ok ? events.map((e) => e.id) : []) });
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, retry: { baseMs: 60_000, maxMs: 60_000 }, onError: () => {} });
  t0: {
    await ex.exportEvents([recording(1)]);
    for (let i = 0; i < 100 && gw.calls.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
  }
  ok = true;
  const start = Date.now();
  await ex.flush({ timeoutMs: 2000 });
  assert.ok(Date.now() - start < 1000);
  assert.equal(gw.calls.length, 2);
  await ex.close();
  assert.equal(gw.closed, true);
});

test("close() flushes, stops and closes the transport; events exported after it are still sent", async () => {
  const gw = fakeGateway({ delayMs: 20 });
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, onError });
  await ex.exportEvents([recording(1)]);
  await ex.close({ timeoutMs: 2000 });
  assert.equal(gw.calls.length, 1);
  assert.equal(ex.pending, 0);
  assert.equal(gw.closed, true);
  // The wrong shutdown order (exporter.close() before provider.unsubscribe()): the SDK's last
  // flush arrives after close. It is exported anyway, reported once, and the exporter closes again.
  gw.closed = false;
  await ex.exportEvents([recording(2)]);
  await ex.exportEvents([recording(3)]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "exported_after_close");
  assert.match(errors[0].message, /provider\.unsubscribe\(\) before exporter\.close\(\)/);
  for (let i = 0; i < 200 && !gw.closed; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(ex.pending, 0);
  assert.equal(gw.closed, true, "closed again once the late events were sent");
  assert.deepEqual(gw.calls.slice(1).flatMap((c) => c.payloads.flat()).map((e) => e.parameters.metadata.n).sort(), [2, 3]);
});

test("events exported after close() that the late close cannot deliver: its flush_timeout is reported, not swallowed", async (t) => {
  // An unreachable gateway: every call hangs until the exporter aborts it.
  const hanging = {
    recordEvents: (requests, { signal }) => new Promise((_, fail) => signal.addEventListener("abort", () => fail(signal.reason), { once: true })),
  };
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: hanging, metadata: METADATA, context: CONTEXT, requestTimeoutMs: 600_000, onError });
  await ex.close();
  // The late close flushes for its default 30 s: the clock is the test's.
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const turns = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  await ex.exportEvents([recording(1)]);
  await turns();
  t.mock.timers.tick(0);
  await turns();
  t.mock.timers.tick(30_000);
  await turns();
  t.mock.timers.reset();
  assert.equal(ex.pending, 1, "the event was not delivered");
  const timeout = errors.find((e) => e.code === "flush_timeout");
  assert.ok(timeout, `the late close's failure reaches onError (got ${errors.map((e) => e.code).join(", ")})`);
  assert.equal(timeout.pending, 1);
});

test("close() with an unreachable gateway: bounded, aborts the call in flight, no timers left", async () => {
  const gw = fakeGateway({ delayMs: 60_000 });
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, onError: () => {} });
  await ex.exportEvents([recording(1)]);
  const start = Date.now();
  await assert.rejects(ex.close({ timeoutMs: 100 }), (e) => e.code === "flush_timeout");
  assert.ok(Date.now() - start < 2000);
  assert.equal(ex.pendingEvents().length, 1);
  // The test runner would hang here on a leftover timer.
});

test("retry.maxAttempts drops an event after that many unacknowledged sends, reported", async () => {
  const gw = fakeGateway({ ack: () => [] });
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, retry: { baseMs: 1, maxMs: 2, maxAttempts: 3 }, onError });
  await ex.exportEvents([recording(1)]);
  await ex.flush({ timeoutMs: 2000 });
  assert.equal(gw.calls.length, 3);
  const exhausted = errors.filter((e) => e.code === "retries_exhausted");
  assert.equal(exhausted.length, 1);
  assert.equal(exhausted[0].dropped, 1);
  assert.equal(ex.stats.droppedRetries, 1);
});

test("an onError that throws does not break the exporter", async () => {
  const gw = fakeGateway();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, onError: () => { throw new Error("boom"); } });
  await ex.exportEvents([recording(0, { action: "" }), recording(1)]);
  await ex.flush({ timeoutMs: 2000 });
  assert.equal(gw.calls[0].payloads.flat().length, 1);
});

test("constructor checks: transport, metadata, overflow policy, redaction policy, context, limits, store", () => {
  const transport = fakeGateway();
  assert.throws(() => new GatewayExporter({ metadata: METADATA, context: CONTEXT }), /transport/);
  assert.throws(() => new GatewayExporter({ transport, context: CONTEXT }), /metadata/);
  assert.throws(() => new GatewayExporter({ transport, metadata: METADATA, context: CONTEXT, overflow: "drop-all" }), /overflow/);
  assert.throws(() => new GatewayExporter({ transport, metadata: METADATA, context: CONTEXT, policy: { additionalAllowedEventTypes: "a::b" } }));
  assert.throws(() => new GatewayExporter({ transport, metadata: METADATA, context: CONTEXT, maxChunkBytes: 0 }), /maxChunkBytes/);
  assert.throws(() => new GatewayExporter({ transport, metadata: METADATA, context: CONTEXT, maxKeepaliveBytes: 70_000 }), /keepalive quota/);
  // No silent "server":{}: a context object must name the server version.
  assert.throws(() => new GatewayExporter({ transport, metadata: METADATA }), /context\.serverVersion` is required/);
  assert.throws(() => new GatewayExporter({ transport, metadata: METADATA, context: { user: { userId: 1 } } }), /serverVersion/);
  assert.throws(() => new GatewayExporter({ transport, metadata: METADATA, context: { serverVersion: "1", nope: 1 } }), /context: invalid record context: unknown field "nope"/);
  assert.throws(() => new GatewayExporter({ transport, metadata: METADATA, context: CONTEXT, persist: true }), /needs IndexedDB/);
  assert.throws(() => new GatewayExporter({ transport, metadata: METADATA, context: CONTEXT, persist: { open() {} } }), /add\(\)/);
  assert.equal(new GatewayExporter({ transport, metadata: METADATA, context: CONTEXT }).persistence, "memory");
});

test("constructor checks: the call deadline and the retry back-off are positive integers", () => {
  // A deadline that is not one would abort every call at once (setTimeout reads "30000" or
  // Infinity as 0 or 1 ms), and a back-off of 0 or less retries a gateway that is down without
  // pause: refused here, as the other limits are.
  const transport = fakeGateway();
  const make = (options) => new GatewayExporter({ transport, metadata: METADATA, context: CONTEXT, ...options });
  for (const requestTimeoutMs of [0, -5, 1.5, "30000", Infinity, NaN]) {
    assert.throws(() => make({ requestTimeoutMs }), /`requestTimeoutMs` must be a positive integer/, String(requestTimeoutMs));
  }
  for (const [name, value] of [["baseMs", 0], ["baseMs", -1], ["baseMs", "500"], ["maxMs", 0], ["maxMs", Infinity], ["maxAttempts", 0], ["maxAttempts", 2.5], ["maxAttempts", "3"]]) {
    assert.throws(() => make({ retry: { [name]: value } }), new RegExp("`retry\\." + name + "` must be a positive integer"), `${name}: ${value}`);
  }
  assert.throws(() => make({ retry: null }), /`retry` must be an object/);
  // Accepted: the defaults, and unlimited attempts spelled out.
  make({ requestTimeoutMs: 1, retry: { baseMs: 1, maxMs: 1, maxAttempts: Infinity } });
  make({ retry: {} });
});

test("a context function without serverVersion is reported once; events still go out", async () => {
  const gw = fakeGateway();
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: () => ({ user: { anonymousUserId: "a" } }), onError });
  await ex.exportEvents([recording(1), recording(2)]);
  await ex.exportEvents([recording(3)]);
  await ex.flush({ timeoutMs: 2000 });
  assert.deepEqual(errors.map((e) => e.code), ["missing_server_version"]);
  assert.equal(gw.calls.flatMap((c) => c.payloads.flat()).length, 3);
});

test("an event whose id (context.id) is already queued is not queued again: counted in stats.duplicateIds, reported once", async () => {
  const gw = fakeGateway({ delayMs: 20 });
  const { errors, onError } = collect();
  // The id is the recording's n: exporting the same recording again repeats its id.
  const id = (n) => `0190f6b4-8c2e-7000-8000-${String(n).padStart(12, "0")}`;
  const context = (input) => ({ serverVersion: "5.5.0", id: id(input.parameters.metadata[0].value) });
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context, onError });
  await ex.exportEvents([recording(1), recording(2)]);
  // Repeated across batches (1) and within one batch (3, 3), before either was acknowledged.
  await ex.exportEvents([recording(1), recording(3), recording(3)]);
  assert.deepEqual(ex.pendingIds(), [id(1), id(2), id(3)]);
  assert.equal(ex.stats.duplicateIds, 2);
  assert.equal(ex.stats.queued, 3);
  assert.deepEqual(errors.map((e) => e.code), ["duplicate_id"]);
  assert.ok(errors[0] instanceof TelemetryExportError);
  assert.equal(errors[0].id, id(1));
  assert.match(errors[0].message, new RegExp(`event id ${id(1)} is already queued`));
  await ex.flush({ timeoutMs: 2000 });
  assert.deepEqual(gw.calls.flatMap((c) => c.payloads.flat()).map((e) => e.id).sort(), [id(1), id(2), id(3)]);
  // Once acknowledged, the id is no longer queued: exporting it again queues it (at least once).
  await ex.exportEvents([recording(2)]);
  await ex.flush({ timeoutMs: 2000 });
  assert.equal(ex.stats.duplicateIds, 2);
  assert.equal(errors.length, 1);
});

test("the batch path: one core call records, validates, redacts and encodes what the single calls would", () => {
  const ctx = { serverVersion: "5.5.0", now: "2024-07-01T12:00:00Z", user: { userId: 9007199254740993n } };
  const inputs = [recording(1), recording(2, { feature: "Bad" }), recording(3)];
  const policy = { additionalAllowedEventTypes: "cody.chat::submitted::prompt" };
  const results = core.recordBatch(inputs, { context: ctx, policy });
  assert.equal(results.length, 3);
  assert.equal(results[1].error, core.checkEventInput(inputs[1]).error);
  for (const i of [0, 2]) {
    const r = results[i];
    assert.match(r.id, UUID_V7);
    const single = core.record(inputs[i], { ...ctx, id: r.id });
    const redacted = core.redact(single.event, policy).event;
    assert.deepEqual(core.decodeEvent(r.bytes), redacted);
    assert.deepEqual(r.bytes, core.encodeEvent(redacted));
  }
  // Per-recording contexts, and requests framed from the bytes by the core's chunk plan.
  const per = core.recordBatch([recording(4), recording(5)], { context: [{ ...ctx, id: "a" }, { ...ctx, id: "b" }], policy: {} });
  assert.deepEqual(per.map((r) => r.id), ["a", "b"]);
  const requests = core.eventsRequests(per.map((r) => r.bytes));
  assert.equal(requests.length, 1);
  assert.deepEqual(core.decodeRecordEventsRequest(requests[0]).events.events.map((e) => e.id), ["a", "b"]);
  assert.deepEqual(core.checkEvents([per[0].bytes, new Uint8Array([0x0a, 0x09, 0x01])]).map((x) => x === null), [true, false]);
  const answer = core.encodeRecordEventsResponse({ succeededEvents: ["b", "a", "zzz"] });
  assert.deepEqual([...core.acknowledgedIn(["a", "b", "c", "a"], answer)], [0, 1]);
  assert.deepEqual(core.acknowledged(["a", "b", "c", "a"], ["b", "a", "zzz"]), ["a", "b"]);
  assert.throws(() => core.acknowledgedIn(["a"], new Uint8Array([0xff, 0xff])), /protobuf decode error/);
  // Everything sent, in order (the core's fast path), and ids that are not ASCII (the JS side's
  // per-id encoding rather than one for all).
  const all = ["a", "b", "c", "a"];
  assert.deepEqual([...core.acknowledgedIn(all, core.encodeRecordEventsResponse({ succeededEvents: all }))], [0, 1, 2]);
  const wide = ["é", "x", "b\u{1F600}", "c"];
  const wideAnswer = core.encodeRecordEventsResponse({ succeededEvents: ["c", "b\u{1F600}", "é"] });
  assert.deepEqual([...core.acknowledgedIn(wide, wideAnswer)], [0, 2, 3]);
  assert.throws(() => core.recordBatch({}, {}), /expected an array/);
  assert.throws(() => core.recordBatch([recording(1)], { context: [] }), /0 contexts for 1 recordings/);
});

test("recordRequests: recordBatch and eventsRequests in one call, each event's bytes a view of its request", () => {
  const ctx = { serverVersion: "5.5.0", now: "2024-07-01T12:00:00Z" };
  const inputs = [];
  for (let i = 0; i < 30; i++) inputs.push(i === 7 ? recording(i, { feature: "Bad" }) : i === 9 ? recording(i, { parameters: { version: 0, metadata: [{ key: "k", value: NaN }] } }) : recording(i));
  const contexts = inputs.map((_, i) => ({ ...ctx, id: `id-${i}` }));
  const limit = 600;
  const { results, requests } = core.recordRequests(inputs, { context: contexts, policy: {}, limit });
  const batch = core.recordBatch(inputs, { context: contexts, policy: {} });
  // The same results as recordBatch: errors (the core's, and the JS value one) in their places.
  assert.deepEqual(results, batch);
  assert.match(results[7].error, /feature/);
  assert.match(results[9].error, /NaN/);
  // The same requests as eventsRequests frames from those bytes, under the limit.
  const recorded = results.filter((r) => r.bytes);
  assert.equal(recorded.length, 28);
  const expected = core.eventsRequests(recorded.map((r) => r.bytes), limit);
  assert.ok(expected.length > 3);
  assert.deepEqual(requests, expected);
  // Each event's bytes lie inside one of the requests (views, no copies).
  for (const r of recorded) assert.ok(requests.some((q) => q.buffer === r.bytes.buffer && r.bytes.byteOffset >= q.byteOffset && r.bytes.byteOffset + r.bytes.length <= q.byteOffset + q.length));
  assert.deepEqual(
    requests.flatMap((q) => core.decodeRecordEventsRequest(q).events.events.map((e) => e.id)),
    recorded.map((r) => r.id),
  );
  // Fresh ids increase through a batch (so the acknowledgement rule need not sort them).
  const fresh = core.recordBatch(Array.from({ length: 300 }, (_, i) => recording(i)), { context: ctx }).map((r) => r.id);
  for (const id of fresh) assert.match(id, UUID_V7);
  for (let i = 1; i < fresh.length; i++) assert.ok(fresh[i - 1] < fresh[i], `${fresh[i - 1]} < ${fresh[i]}`);
  // Nothing recorded: no requests.
  const none = core.recordRequests([recording(1, { feature: "Bad" })], { context: ctx });
  assert.deepEqual(none.requests, []);
  assert.throws(() => core.recordRequests([recording(1)], { context: ctx, limit: 0 }), /limit must be a positive integer/);
  assert.throws(() => core.recordRequests({}, {}), /recordRequests: expected an array/);
});

test("a send carrying exactly an exported batch sends the requests framed when it was recorded; any other send frames its own", async () => {
  // The CommonJS entry's API object, which its exporter calls (the ESM namespace is read-only).
  const api = require("../../dist/node.cjs");
  const framedBy = [];
  const original = api.eventsRequests;
  api.eventsRequests = (events, limit) => {
    framedBy.push(events.length);
    return original(events, limit);
  };
  try {
    const gw = fakeGateway({ fail: (call) => call === gw.calls[0] });
    const ex = new api.GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, retry: { baseMs: 1, maxMs: 2 }, maxChunkBytes: 500, onError: () => {} });
    await ex.exportEvents([recording(1), recording(2), recording(3), recording(4)]);
    await ex.flush({ timeoutMs: 2000 });
    // The first call failed, its retry carried the same events: both sent the recorded requests.
    assert.deepEqual(framedBy, []);
    assert.equal(gw.calls.length, 2);
    assert.deepEqual(gw.calls[1].payloads, gw.calls[0].payloads);
    assert.ok(gw.calls[0].payloads.length > 1);
    // Two batches queued before the loop runs: one call frames them together.
    ex.exportEvents([recording(5), recording(6)]);
    await ex.exportEvents([recording(7)]);
    await ex.flush({ timeoutMs: 2000 });
    assert.deepEqual(framedBy, [3]);
    assert.deepEqual(gw.calls.at(-1).payloads.flat().map((e) => e.parameters.metadata.n), [5, 6, 7]);
    await ex.close();
  } finally {
    api.eventsRequests = original;
  }
});

test("acknowledgements of a batch's own call (the ids' UTF-8 from the record call): ids not ASCII, answers partial, invalid recordings", async () => {
  // The CommonJS entry's API object, which its exporter calls (the ESM namespace is read-only):
  // its public acknowledgedIn is what a call not sending its batch's own requests uses.
  const api = require("../../dist/node.cjs");
  const original = api.acknowledgedIn;
  let publicCalls = 0;
  api.acknowledgedIn = (sent, response) => {
    publicCalls++;
    return original(sent, response);
  };
  try {
    for (const id of [(n) => `ïd-${n}-ü-🙂`, (n) => `plain-${n}`, null]) {
      for (const invalid of [false, true]) {
        publicCalls = 0;
        // The first call's answer acknowledges every other event; its retry acknowledges the rest.
        let round = 0;
        const gw = fakeGateway({ ack: (events) => (round++ === 0 ? events.filter((_, i) => i % 2 === 0) : events).map((e) => e.id) });
        const { errors, onError } = collect();
        const context = id ? (input) => ({ ...CONTEXT, id: id(input.parameters.metadata[0].value) }) : CONTEXT;
        const ex = new api.GatewayExporter({ transport: gw, metadata: METADATA, context, retry: { baseMs: 1, maxMs: 2 }, onError });
        const batch = [recording(1), recording(2), recording(3), recording(4), recording(5)];
        if (invalid) batch[3] = { ...recording(4), feature: "Bad" };
        await ex.exportEvents(batch);
        await ex.flush({ timeoutMs: 2000 });
        const sent = invalid ? [1, 2, 3, 5] : [1, 2, 3, 4, 5];
        assert.equal(gw.calls.length, 2);
        assert.deepEqual(gw.calls[0].payloads.flat().map((e) => e.parameters.metadata.n), sent);
        assert.deepEqual(gw.calls[1].payloads.flat().map((e) => e.parameters.metadata.n), invalid ? [2, 5] : [2, 4]);
        if (id) assert.deepEqual(gw.calls[0].payloads.flat().map((e) => e.id), sent.map(id));
        // The first call of a batch without refused recordings, its ids all ASCII, acknowledges
        // through the ids' UTF-8 the record call answered; the others through acknowledgedIn.
        const ascii = !id || /^[\x00-\x7f]*$/.test(id(1));
        assert.equal(publicCalls, invalid || !ascii ? 2 : 1);
        assert.equal(ex.stats.acknowledged, sent.length);
        assert.equal(ex.pending, 0);
        assert.deepEqual(
          errors.map((e) => e.code),
          invalid ? ["invalid_event", "export_failed"] : ["export_failed"],
        );
        await ex.close();
      }
    }
  } finally {
    api.acknowledgedIn = original;
  }
});

test("metadata values JSON cannot carry are refused with the JS value named", async () => {
  const withValue = (value) => recording(0, { parameters: { version: 0, metadata: [{ key: "latency", value }] } });
  assert.equal(
    core.record(withValue(Infinity), CONTEXT).error,
    'metadata "latency" has invalid value Infinity (a JavaScript number that JSON cannot carry; metadata values must be finite numbers)',
  );
  assert.match(core.record(withValue(-Infinity), CONTEXT).error, /invalid value -Infinity \(a JavaScript number/);
  assert.match(core.record(withValue(NaN), CONTEXT).error, /invalid value NaN/);
  assert.match(core.record(withValue(undefined), CONTEXT).error, /invalid value undefined/);
  assert.match(core.record(withValue(5n), CONTEXT).error, /invalid value 5n \(a BigInt/);
  // JSON.stringify leaves out a Symbol or a function as it does undefined: named, not `type <nil>`.
  assert.equal(
    core.record(withValue(Symbol("ms")), CONTEXT).error,
    'metadata "latency" has invalid value Symbol(ms) (a symbol; metadata values must be finite numbers)',
  );
  assert.equal(
    core.record(withValue(function latency() {}), CONTEXT).error,
    'metadata "latency" has invalid value a function (metadata values must be finite numbers)',
  );
  assert.match(core.recordBatch([withValue(Symbol.iterator)], { context: CONTEXT })[0].error, /invalid value Symbol\(Symbol\.iterator\) \(a symbol/);
  assert.equal(core.record(withValue(null), CONTEXT).error, 'metadata "latency" has invalid value type <nil>');
  const results = core.recordBatch([recording(1), withValue(Infinity), recording(2)], { context: CONTEXT });
  assert.deepEqual(results.map((r) => ("error" in r ? r.error.slice(0, 40) : "ok")), ["ok", 'metadata "latency" has invalid value Inf', "ok"]);
  // Through the exporter: reported as invalid_event, the others exported.
  const gw = fakeGateway();
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, onError });
  await ex.exportEvents([recording(1), withValue(Infinity)]);
  await ex.flush({ timeoutMs: 2000 });
  assert.deepEqual(errors.map((e) => e.code), ["invalid_event"]);
  assert.match(errors[0].message, /Infinity/);
  assert.equal(gw.calls[0].payloads.flat().length, 1);
});

test("a recording that cannot be written as JSON, or that the core cannot read, is refused alone: the rest of the batch is recorded and exported", async () => {
  const cyclic = recording(0);
  cyclic.parameters.privateMetadata.self = cyclic.parameters.privateMetadata;
  const getter = recording(0);
  Object.defineProperty(getter.parameters.privateMetadata, "g", { enumerable: true, get: () => { throw new Error("getter failed"); } });
  let deep = {};
  for (let i = 0; i < 200; i++) deep = { a: deep };
  // A string cut in the middle of an emoji: JSON.stringify writes the half as \ud83d.
  const cut = recording(0, { parameters: { version: 0, privateMetadata: { prompt: "hi 😀".slice(0, 4) } } });
  const badKey = recording(0, { parameters: { version: 0, metadata: [{ key: "k\udc00", value: 1 }] } });
  const badFeature = recording(0, { feature: "cody.\ud800" });
  const proxy = new Proxy(recording(0), { get: () => { throw new Error("proxy failed"); } });
  const hostile = [
    [proxy, /^recording cannot be written as JSON: proxy failed$/],
    [cyclic, /^recording cannot be written as JSON: Converting circular structure to JSON/],
    [getter, /^recording cannot be written as JSON: getter failed$/],
    [recording(0, { parameters: { version: 0, privateMetadata: deep } }), /recursion limit exceeded/],
    [cut, /^parameters\.privateMetadata\.prompt: "hi \\ud83d" holds a lone UTF-16 surrogate \(\\ud83d\), which UTF-8 text cannot carry$/],
    [badKey, /^parameters\.metadata\.0\.key: "k\\udc00" holds a lone UTF-16 surrogate \(\\udc00\)/],
    [badFeature, /^feature: "cody\.\\ud800" holds a lone UTF-16 surrogate/],
  ];
  const inputs = [recording(1), ...hostile.map(([input]) => input), recording(2)];
  const results = core.recordBatch(inputs, { context: CONTEXT });
  assert.equal(results.length, inputs.length);
  assert.ok("id" in results[0] && "id" in results[inputs.length - 1]);
  hostile.forEach(([, message], i) => assert.match(results[i + 1].error, message));
  // Per-recording contexts stay paired with their recordings.
  const contexts = inputs.map((_, i) => ({ ...CONTEXT, id: `id-${i}`, now: "2024-07-01T12:00:00Z" }));
  const perEvent = core.recordRequests(inputs, { context: contexts });
  assert.deepEqual(perEvent.results.map((r) => r.id), ["id-0", ...hostile.map(() => undefined), `id-${inputs.length - 1}`]);
  // A lone surrogate is refused by record() too, as a value naming it.
  assert.match(core.record(cut, CONTEXT).error, /^parameters\.privateMetadata\.prompt: "hi \\ud83d" holds a lone UTF-16 surrogate/);
  // Not a recording's problem: still thrown.
  assert.throws(() => core.recordBatch([cyclic], { context: { id: "\ud800" } }), /^Error: malformed input: context: /);
  assert.throws(() => core.recordBatch([recording(1)], { context: { id: "\ud800" } }), /^Error: malformed input: context: /);
  // Through the exporter: each reported as invalid_event, the two others exported.
  const gw = fakeGateway();
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, onError });
  await ex.exportEvents(inputs);
  await ex.flush({ timeoutMs: 2000 });
  assert.deepEqual(errors.map((e) => e.code), hostile.map(() => "invalid_event"));
  hostile.forEach(([input, message], i) => {
    assert.match(errors[i].message, message);
    assert.equal(errors[i].event, input);
  });
  assert.deepEqual(gw.calls[0].payloads.flat().map((e) => e.parameters.metadata), [{ n: 1 }, { n: 2 }]);
});

/** A store in memory, with a log of its operations; `failAdd` makes add() reject. */
function memoryStore({ left = [], failAdd = false } = {}) {
  const store = {
    kind: "test",
    log: [],
    events: new Map(left.map((e) => [e.id, e.bytes])),
    async open(adopt) {
      store.log.push("open");
      adopt([...store.events].map(([id, bytes]) => ({ id, bytes })));
    },
    async add(entries) {
      store.log.push(`add ${entries.length}`);
      if (failAdd) throw new Error("quota exceeded (fake)");
      for (const e of entries) store.events.set(e.id, e.bytes);
    },
    async remove(ids) {
      store.log.push(`remove ${ids.length}`);
      for (const id of ids) store.events.delete(id);
    },
    async close() {
      store.log.push("close");
    },
  };
  return store;
}

test("a store: events are persisted before exportEvents resolves, removed once acknowledged, resumed first", async () => {
  const earlier = core.recordBatch([recording(100), recording(101)], { context: CONTEXT });
  const corrupt = { id: "corrupt", bytes: new Uint8Array([0x0a, 0x09, 0x01]) };
  const store = memoryStore({ left: [...earlier.map(({ id, bytes }) => ({ id, bytes })), corrupt] });
  const gw = fakeGateway({ delayMs: 30 });
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, persist: store, onError });
  assert.equal(ex.persistence, "test");
  await ex.exportEvents([recording(1), recording(2)]);
  assert.ok(store.log.includes("add 2"), "persisted before exportEvents resolved");
  await ex.flush({ timeoutMs: 3000 });
  await ex.close();
  const sent = gw.calls.flatMap((c) => c.payloads.flat());
  // Resumed events go first, in their order; the corrupt one is dropped and reported.
  assert.deepEqual(sent.map((e) => e.parameters.metadata.n), [100, 101, 1, 2]);
  assert.equal(ex.stats.resumed, 2);
  assert.deepEqual(errors.map((e) => e.code), ["store_failed"]);
  assert.match(errors[0].message, /1 stored events do not decode/);
  assert.equal(store.events.size, 0, "everything acknowledged was removed");
  assert.equal(store.log.at(-1), "close");

  // A store that cannot open: reported once, and the queue lives in memory.
  const closed = memoryStore();
  closed.open = async () => {
    throw new Error("database is locked (fake)");
  };
  const gw3 = fakeGateway();
  const seen3 = collect();
  const ex3 = new GatewayExporter({ transport: gw3, metadata: METADATA, context: CONTEXT, persist: closed, onError: seen3.onError });
  await ex3.ready;
  assert.equal(ex3.persistence, "memory");
  await ex3.exportEvents([recording(1)]);
  await ex3.exportEvents([recording(2)]);
  await ex3.flush({ timeoutMs: 2000 });
  assert.deepEqual(seen3.errors.map((e) => e.code), ["store_failed"]);
  assert.match(seen3.errors[0].message, /open failed: database is locked \(fake\)/);
  assert.deepEqual(closed.log, []);
  assert.equal(gw3.calls.flatMap((c) => c.payloads.flat()).length, 2);

  // A failing store: reported, events still exported from memory.
  const broken = memoryStore({ failAdd: true });
  const gw2 = fakeGateway();
  const seen = collect();
  const ex2 = new GatewayExporter({ transport: gw2, metadata: METADATA, context: CONTEXT, persist: broken, onError: seen.onError });
  await ex2.exportEvents([recording(1)]);
  await ex2.flush({ timeoutMs: 2000 });
  assert.equal(seen.errors[0].code, "store_failed");
  assert.match(seen.errors[0].message, /quota exceeded \(fake\)/);
  assert.equal(gw2.calls[0].payloads.flat().length, 1);
});


test("a store that does not open (IndexedDB blocked or hung): after storeOpenTimeoutMs the queue lives in memory, reported; nothing waits for it forever", async () => {
  const late = memoryStore({ left: core.recordBatch([recording(100)], { context: CONTEXT }).map(({ id, bytes }) => ({ id, bytes })) });
  let opened;
  const open = late.open;
  late.open = (adopt) => new Promise((resolve) => (opened = () => resolve(open(adopt))));
  const gw = fakeGateway();
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, persist: late, storeOpenTimeoutMs: 200, onError });
  const bounded = (promise, what) => {
    let timer;
    const timeout = new Promise((_, no) => (timer = setTimeout(() => no(new Error(`${what} did not end within 3 s`)), 3000)));
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  };
  const start = Date.now();
  await bounded(ex.exportEvents([recording(1)]), "exportEvents");
  assert.ok(Date.now() - start >= 190);
  assert.equal(ex.persistence, "memory");
  assert.deepEqual(errors.map((e) => e.code), ["store_failed"]);
  assert.match(errors[0].message, /queue store \(test\): open failed: not open after 200 ms; events stay in memory/);
  await bounded(ex.flush({ timeoutMs: 2000 }), "flush");
  await bounded(ex.close({ timeoutMs: 1000 }), "close");
  assert.equal(gw.calls.flatMap((c) => c.payloads.flat()).length, 1);
  // A store that opens after all is closed again; what it resumed stays in it (for the next run).
  opened();
  for (let i = 0; i < 100 && !late.log.includes("close"); i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(late.log, ["open", "close"]);
  assert.equal(ex.stats.resumed, 0);
  assert.equal(late.events.size, 1);
});

test("plugs into @sourcegraph/telemetry's TelemetryRecorderProvider", async () => {
  const gw = fakeGateway();
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: { serverVersion: "5.5.0" }, onError });
  const provider = new TelemetryRecorderProvider({ client: "VSCode.Cody", clientVersion: "1.0.0" }, ex, [], { bufferTimeMs: 0, bufferMaxSize: 0 });
  const recorder = provider.getRecorder();
  recorder.recordEvent("cody.chat", "submitted", { version: 2, metadata: { tokens: 12 }, privateMetadata: { prompt: "p" } });
  recorder.recordEvent("cody.chat", "copied");
  await new Promise((r) => setTimeout(r, 10));
  await ex.flush({ timeoutMs: 2000 });
  provider.unsubscribe();
  assert.deepEqual(errors, []);
  const sent = gw.calls.flatMap((c) => c.payloads.flat());
  assert.deepEqual(sent.map((e) => e.action).sort(), ["copied", "submitted"]);
  const submitted = sent.find((e) => e.action === "submitted");
  assert.deepEqual(submitted.source, { server: { version: "5.5.0" }, client: { name: "VSCode.Cody", version: "1.0.0" } });
  assert.deepEqual(submitted.parameters.metadata, { tokens: 12 });
  assert.equal(submitted.parameters.privateMetadata, undefined);
});

test("ValidationProcessor must come after the processors that set fields (README), with @sourcegraph/telemetry", async () => {
  const { TimestampTelemetryProcessor } = require("@sourcegraph/telemetry/dist/processors/timestamp");
  // A field-setting processor gone wrong: a timestamp the core refuses (year 10000).
  const badClock = new TimestampTelemetryProcessor({ now: () => new Date("+010000-01-01T00:00:00Z") });
  const run = (processors) => {
    const gw = fakeGateway();
    const { errors, onError } = collect();
    const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, onError });
    const provider = new TelemetryRecorderProvider({ client: "web" }, ex, processors, { bufferTimeMs: 0, bufferMaxSize: 0 });
    let thrown = null;
    try {
      provider.getRecorder().recordEvent("cody.chat", "submitted");
    } catch (e) {
      thrown = e;
    }
    return { ex, errors, thrown };
  };
  // Last: it sees the event as it will be sent, and refuses it at recordEvent.
  const last = run([badClock, new core.ValidationProcessor()]);
  assert.ok(last.thrown instanceof core.TelemetryEventValidationError);
  assert.match(last.thrown.message, /^invalid timestamp: /);
  // First: the bad field is set after the check; only the exporter notices (reported, not sent).
  const first = run([new core.ValidationProcessor(), badClock]);
  assert.equal(first.thrown, null);
  await new Promise((r) => setTimeout(r, 10));
  await first.ex.flush({ timeoutMs: 2000 });
  assert.deepEqual(first.errors.map((e) => e.code), ["invalid_event"]);
  assert.match(first.errors[0].message, /^invalid timestamp: /);
});

// ---------------------------------------------------------------------------------------------
// Transports.

function grpcWebBody(frames) {
  const parts = frames.map(([flag, bytes]) => {
    const out = new Uint8Array(5 + bytes.length);
    out[0] = flag;
    new DataView(out.buffer).setUint32(1, bytes.length);
    out.set(bytes, 5);
    return out;
  });
  return Buffer.concat(parts);
}

test("GrpcWebTransport: request framing, responses split across reads, trailers status", async () => {
  const seen = {};
  const r1 = core.encodeRecordEventsResponse({ succeededEvents: ["a", "b"] });
  const r2 = core.encodeRecordEventsResponse({ succeededEvents: ["c"] });
  const trailer = new TextEncoder().encode("grpc-status:0\r\ngrpc-message:\r\n");
  const body = grpcWebBody([[0, r1], [0, r2], [0x80, trailer]]);
  const fetch = async (url, init) => {
    seen.url = url;
    seen.init = init;
    // deliver in 3-byte pieces
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < body.length; i += 3) c.enqueue(new Uint8Array(body.subarray(i, i + 3)));
        c.close();
      },
    });
    return new Response(stream, { status: 200, headers: { "content-type": "application/grpc-web+proto" } });
  };
  const t = new GrpcWebTransport({ url: "http://gw.example/", headers: { authorization: "Bearer t" }, fetch });
  const reqs = [core.encodeRecordEventsRequest({ metadata: METADATA }), core.encodeRecordEventsRequest({ events: { events: [] } })];
  const got = [];
  await t.recordEvents(reqs, { onResponse: (b) => got.push(core.decodeRecordEventsResponse(b).succeededEvents), signal: new AbortController().signal });
  assert.deepEqual(got, [["a", "b"], ["c"]]);
  assert.equal(seen.url, "http://gw.example/telemetrygateway.v1.TelemeteryGatewayService/RecordEvents");
  assert.equal(seen.init.headers["content-type"], "application/grpc-web+proto");
  assert.equal(seen.init.headers.authorization, "Bearer t");
  assert.deepEqual(Buffer.from(seen.init.body), grpcWebBody(reqs.map((r) => [0, r])));

  // A non-OK status in the trailers, and a trailers-only answer in the headers.
  const bad = grpcWebBody([[0x80, new TextEncoder().encode("grpc-status: 3\r\ngrpc-message: instance_id%20is%20required\r\n")]]);
  const t2 = new GrpcWebTransport({ url: "http://gw.example", fetch: async () => new Response(bad, { status: 200 }) });
  await assert.rejects(t2.recordEvents(reqs, {}), (e) => e instanceof GrpcStatusError && e.code === 3 && e.details === "instance_id is required");
  const t3 = new GrpcWebTransport({ url: "http://gw.example", fetch: async () => new Response(null, { status: 200, headers: { "grpc-status": "16", "grpc-message": "no" } }) });
  await assert.rejects(t3.recordEvents(reqs, {}), (e) => e.code === 16);
  const t4 = new GrpcWebTransport({ url: "http://gw.example", fetch: async () => new Response("nope", { status: 503 }) });
  await assert.rejects(t4.recordEvents(reqs, {}), /HTTP 503/);
});

/** The gateway's RecordEvents method for an in-test grpc-js server (raw bytes unless told). */
function recordEventsService({ requestDeserialize = (b) => b, responseSerialize = (x) => x } = {}) {
  return {
    RecordEvents: {
      path: "/telemetrygateway.v1.TelemeteryGatewayService/RecordEvents",
      requestStream: true,
      responseStream: true,
      requestSerialize: (x) => x,
      requestDeserialize,
      responseSerialize,
      responseDeserialize: (b) => b,
    },
  };
}

test("GrpcTransport against an in-test @grpc/grpc-js server (messages coded by the core)", async (t) => {
  const server = new grpc.Server();
  const received = [];
  server.addService(
    recordEventsService({
      requestDeserialize: (b) => core.decodeRecordEventsRequest(new Uint8Array(b)),
      responseSerialize: (x) => Buffer.from(core.encodeRecordEventsResponse(x)),
    }),
    {
      RecordEvents(call) {
        let first = true;
        call.on("data", (req) => {
          received.push(req);
          if (first) {
            first = false;
            if (!req.metadata) return call.destroy(Object.assign(new Error("metadata first"), { code: grpc.status.INVALID_ARGUMENT }));
            return;
          }
          // acknowledge every other event
          call.write({ succeededEvents: req.events.events.filter((_, i) => i % 2 === 0).map((e) => e.id) });
        });
        call.on("end", () => call.end());
      },
    },
  );
  const port = await new Promise((ok, no) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? no(e) : ok(p))));
  t.after(() => server.forceShutdown());
  const transport = new GrpcTransport({ address: `127.0.0.1:${port}`, credentials: grpc.credentials.createInsecure(), headers: { "x-test": "1" } });
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport, metadata: METADATA, context: CONTEXT, retry: { baseMs: 5, maxMs: 10 }, onError });
  await ex.exportEvents(Array.from({ length: 6 }, (_, i) => recording(i)));
  await ex.flush({ timeoutMs: 5000 });
  await ex.close();
  assert.ok(received[0].metadata);
  assert.ok(errors.length >= 1 && errors.every((e) => e.code === "export_failed"));
  assert.equal(ex.stats.acknowledged, 6);
});

// ---- The transports facing a misbehaving server or proxy (a 127.0.0.1 server per test) ----

/** A 127.0.0.1 HTTP server answering each gRPC-Web call with `answer(res, ids)` (ids: the events sent). */
async function grpcWebServer(t, answer) {
  const http = await import("node:http");
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const ids = [];
      for (let at = 0; at < body.length; ) {
        const size = body.readUInt32BE(at + 1);
        const request = core.decodeRecordEventsRequest(new Uint8Array(body.subarray(at + 5, at + 5 + size)));
        if (request.events) ids.push(...request.events.events.map((e) => e.id));
        at += 5 + size;
      }
      answer(res, ids);
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${server.address().port}`;
}

const GRPC_WEB = { "content-type": "application/grpc-web+proto" };
const ackFrame = (ids) => grpcWebBody([[0, core.encodeRecordEventsResponse({ succeededEvents: ids })]]);
const okTrailers = grpcWebBody([[0x80, new TextEncoder().encode("grpc-status:0\r\n")]]);

/** Exports two events through `transport`; answers its first report and the exporter's state then (bounded). */
async function firstExportFailure(transport, { requestTimeoutMs = 10_000 } = {}) {
  const { errors, onError } = collect();
  const exporter = new GatewayExporter({ transport, metadata: METADATA, context: CONTEXT, requestTimeoutMs, retry: { baseMs: 60_000, maxMs: 60_000 }, onError });
  const start = Date.now();
  await exporter.exportEvents([recording(1), recording(2)]);
  for (let i = 0; i < 1000 && errors.length === 0; i++) await new Promise((ok) => setTimeout(ok, 5));
  const elapsedMs = Date.now() - start;
  // Taken before close(), whose flush sends the rest again.
  const ex = { pending: exporter.pending, stats: { ...exporter.stats } };
  await exporter.close({ timeoutMs: 10 }).catch(() => {});
  assert.equal(errors[0] && errors[0].code, "export_failed", "the failure is reported as export_failed");
  return { error: errors[0], ex, elapsedMs };
}

test("GrpcWebTransport: a proxy's page (HTTP 200 text/html) or an HTTP error is refused saying the HTTP status and content type", async (t) => {
  const page = await grpcWebServer(t, (res) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end("<!DOCTYPE html><html><body>Sign in</body></html>"));
  const { error, ex } = await firstExportFailure(new GrpcWebTransport({ url: page }));
  assert.match(error.message, /gRPC-Web: the answer is not gRPC-Web \(HTTP 200 OK, content-type "text\/html; charset=utf-8"; expected application\/grpc-web\+proto\)/);
  assert.equal(ex.pending, 2);
  const bad = await grpcWebServer(t, (res) => res.writeHead(502, { "content-type": "text/html", "grpc-status": "14" }).end("<html>502</html>"));
  const second = await firstExportFailure(new GrpcWebTransport({ url: bad }));
  assert.match(second.error.message, /gRPC-Web: HTTP 502 Bad Gateway, content-type "text\/html", grpc-status 14\)/);
});

test("GrpcWebTransport: a response frame whose length prefix says 4 GiB is refused at its header, not buffered", async (t) => {
  let sent = 0;
  const url = await grpcWebServer(t, (res) => {
    res.writeHead(200, GRPC_WEB);
    const header = Buffer.from([0, 0xff, 0xff, 0xff, 0xff]);
    res.write(header);
    // Megabytes follow until the client goes away (at most 64 MiB).
    const timer = setInterval(() => {
      if (res.destroyed || sent >= 64) return clearInterval(timer), res.destroy();
      sent++;
      res.write(Buffer.alloc(1 << 20));
    }, 1);
  });
  const { error, ex, elapsedMs } = await firstExportFailure(new GrpcWebTransport({ url }));
  assert.match(error.message, /gRPC-Web: a response frame of 4294967295 bytes is over the 4194304-byte limit/);
  assert.ok(elapsedMs < 3000, `refused at once (${elapsedMs} ms), not at the deadline`);
  assert.ok(sent < 64, `the body was not read to its end (${sent} MiB sent)`);
  assert.equal(ex.pending, 2);
});

test("GrpcWebTransport: a compressed frame, a frame after the trailers, a grpc-status that is not a number: each refused, saying which", async (t) => {
  const cases = [
    [(ids) => grpcWebBody([[1, core.encodeRecordEventsResponse({ succeededEvents: ids })]]), /a compressed response frame \(flag 0x01, grpc-encoding none\); the request asked for none/],
    [(ids) => Buffer.concat([okTrailers, ackFrame(ids)]), /a response frame \(flag 0x00\) after the trailers/],
    [(ids) => grpcWebBody([[0x40, new Uint8Array(0)]]), /a response frame with an unknown flag 0x40/],
    [() => grpcWebBody([[0x80, new TextEncoder().encode("grpc-status: abc\r\n")]]), /the response's grpc-status is not a status code: "abc"/],
  ];
  for (const [body, expected] of cases) {
    const url = await grpcWebServer(t, (res, ids) => res.writeHead(200, GRPC_WEB).end(body(ids)));
    const { error, ex } = await firstExportFailure(new GrpcWebTransport({ url }));
    assert.match(error.message, expected);
    assert.equal(ex.stats.acknowledged, 0, "nothing counted acknowledged from a refused frame");
    assert.equal(ex.pending, 2);
  }
});

test("GrpcWebTransport: a connection reset mid-body says so; acknowledgements before it count", async (t) => {
  const reset = await grpcWebServer(t, (res, ids) => {
    res.writeHead(200, GRPC_WEB);
    res.write(ackFrame(ids.slice(0, 1)));
    res.write(Buffer.from([0, 0, 0]));
    setTimeout(() => res.socket.destroy(), 20);
  });
  const { error, ex } = await firstExportFailure(new GrpcWebTransport({ url: reset }));
  assert.match(error.message, /gRPC-Web: the response broke off after \d+ bytes: terminated/);
  assert.equal(ex.stats.acknowledged, 1, "the acknowledgement before the reset counts");
  assert.equal(ex.pending, 1);
});

test("GrpcWebTransport: a response refused midway (here: not a RecordEventsResponse, then a body that never ends) is not read further", async (t) => {
  let closed = false;
  const stall = await grpcWebServer(t, (res) => {
    res.writeHead(200, GRPC_WEB);
    res.write(grpcWebBody([[0, new Uint8Array([0xff, 0xff, 0xff])]]));
    res.on("close", () => (closed = true));
  });
  const second = await firstExportFailure(new GrpcWebTransport({ url: stall }), { requestTimeoutMs: 60_000 });
  assert.match(second.error.message, /protobuf decode error/);
  for (let i = 0; i < 200 && !closed; i++) await new Promise((ok) => setTimeout(ok, 5));
  assert.ok(closed, "the response was cancelled, not left open");
});

test("GrpcTransport: a gateway that accepts the stream and never answers: the deadline is what is reported", async (t) => {
  const server = new grpc.Server();
  server.addService(recordEventsService(), { RecordEvents: (call) => call.on("data", () => {}) });
  const port = await new Promise((ok, no) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? no(e) : ok(p))));
  t.after(() => server.forceShutdown());
  const { error, ex, elapsedMs } = await firstExportFailure(new GrpcTransport({ url: `http://127.0.0.1:${port}` }), { requestTimeoutMs: 300 });
  // Whichever fires first, the exporter's timer or grpc-js's deadline (both at 300 ms), the
  // report says a deadline passed — never grpc-js's "1 CANCELLED: Cancelled on client".
  assert.match(error.message, /\(deadline of 300 ms exceeded\)|\(4 DEADLINE_EXCEEDED: Deadline exceeded/);
  assert.doesNotMatch(error.message, /CANCELLED/);
  assert.ok(elapsedMs < 3000, `${elapsedMs} ms`);
  assert.equal(ex.pending, 2);
});

test("overflow 'drop-oldest' evicting events of the batch being exported: they are not written to the store after their removal", async () => {
  const gw = fakeGateway({ ack: () => [] });
  const { errors, onError } = collect();
  const store = memoryStore();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, persist: store, maxQueueEvents: 2, overflow: "drop-oldest", retry: { baseMs: 10_000, maxMs: 10_000 }, onError });
  await ex.ready;
  await ex.exportEvents([recording(0), recording(1), recording(2)]);
  assert.equal(errors.filter((e) => e.code === "queue_overflow").length, 1);
  assert.equal(ex.stats.droppedOverflow, 1);
  // What the store holds is what a later load resumes: exactly the queued events, not the dropped one.
  assert.deepEqual([...store.events.keys()].sort(), ex.pendingIds().sort());
  await assert.rejects(ex.close({ timeoutMs: 50 }), (e) => e.code === "flush_timeout" && e.pending === 2);
});

/**
 * A transport whose calls the test settles: each `recordEvents` call is kept in `calls` with its
 * event ids, `answer(ids)` (an acknowledgement naming `ids`), `ok()` and `fail()`.
 */
function heldGateway() {
  const calls = [];
  return {
    calls,
    recordEvents(requests, { onResponse, keepalive }) {
      const ids = requests.slice(1).flatMap((r) => core.decodeRecordEventsRequest(r).events.events.map((e) => e.id));
      return new Promise((resolve, reject) => {
        calls.push({
          ids,
          keepalive: keepalive === true,
          answer: (acked = ids) => onResponse(core.encodeRecordEventsResponse({ succeededEvents: acked })),
          ok: resolve,
          fail: () => reject(new Error("connection reset (fake)")),
        });
      });
    },
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test("retry.maxAttempts reached by a failed call while a keepalive call (pagehide) still carries the event: its end decides, nothing is reported dropped and then delivered", async () => {
  const gw = heldGateway();
  const { errors, onError } = collect();
  const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, retry: { maxAttempts: 1, baseMs: 10, maxMs: 10 }, onError });
  await ex.exportEvents([recording(0)]);
  await turn();
  assert.equal(gw.calls.length, 1);
  // What the pagehide listener does (it includes the events of a regular call in flight).
  ex._sendOnHide(true);
  await turn();
  assert.equal(gw.calls.length, 2);
  assert.ok(gw.calls[1].keepalive);
  gw.calls[0].fail();
  await turn();
  gw.calls[1].answer();
  gw.calls[1].ok();
  await ex.flush({ timeoutMs: 1000 });
  assert.deepEqual(errors.filter((e) => e.code === "retries_exhausted"), []);
  assert.equal(ex.stats.acknowledged, 1);
  assert.equal(ex.stats.droppedRetries, 0);
  await ex.close();
});

test("interleaved calls lose nothing and count each event once: a keepalive and a regular call carrying the same events (either failing, both answering), an answer naming another call's events, an answer after the call failed", async () => {
  const settle = async (gw, ex) => {
    for (let i = 0; i < 50 && ex.pending > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      for (const c of gw.calls) if (!c.done) ((c.done = true), c.answer(), c.ok());
    }
    await ex.flush({ timeoutMs: 1000 });
  };
  const balanced = (ex) => {
    const s = ex.stats;
    assert.equal(s.queued, s.acknowledged + s.droppedRetries + ex.pending, JSON.stringify(s));
  };
  // Both calls answer every event: each counted acknowledged once.
  // One of the two fails: the other's answer acknowledges, nothing is left or retried.
  for (const failing of [null, 0, 1]) {
    const gw = heldGateway();
    const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, retry: { baseMs: 1, maxMs: 1 }, onError() {} });
    await ex.exportEvents([recording(0), recording(1)]);
    await turn();
    ex._sendOnHide(true);
    await turn();
    assert.deepEqual(gw.calls[1].ids, gw.calls[0].ids);
    for (const k of [0, 1]) {
      gw.calls[k].done = true;
      if (k === failing) gw.calls[k].fail();
      else (gw.calls[k].answer(), gw.calls[k].ok());
      await turn();
    }
    await settle(gw, ex);
    assert.equal(gw.calls.length, 2, `failing ${failing}: nothing sent a third time`);
    assert.equal(ex.stats.acknowledged, 2);
    balanced(ex);
  }
  // A call answered with the ids of another call in flight acknowledges none of them.
  {
    const gw = heldGateway();
    const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, retry: { baseMs: 1, maxMs: 1 }, onError() {} });
    await ex.exportEvents([recording(0)]);
    await turn();
    await ex.exportEvents([recording(1)]);
    ex._sendOnHide(false);
    await turn();
    const [regular, keepalive] = gw.calls;
    regular.done = true;
    regular.answer(keepalive.ids);
    regular.ok();
    await turn();
    assert.deepEqual(ex.pendingIds().sort(), [...regular.ids, ...keepalive.ids].sort());
    assert.equal(ex.stats.acknowledged, 0);
    await settle(gw, ex);
    assert.equal(ex.stats.acknowledged, 2);
    balanced(ex);
  }
  // An answer after the call failed still acknowledges (once); with maxAttempts 1 the event
  // was already dropped and reported: it is not counted twice.
  for (const maxAttempts of [Infinity, 1]) {
    const gw = heldGateway();
    const { errors, onError } = collect();
    const ex = new GatewayExporter({ transport: gw, metadata: METADATA, context: CONTEXT, retry: { baseMs: 50, maxMs: 50, maxAttempts }, onError });
    await ex.exportEvents([recording(0)]);
    await turn();
    gw.calls[0].done = true;
    gw.calls[0].fail();
    await turn();
    gw.calls[0].answer();
    await ex.flush({ timeoutMs: 1000 });
    assert.equal(gw.calls.length, 1);
    assert.equal(ex.stats.acknowledged + ex.stats.droppedRetries, 1);
    assert.equal(errors.filter((e) => e.code === "retries_exhausted").length, ex.stats.droppedRetries);
    balanced(ex);
  }
});
