// Unit tests of the JS layer: answers as values, thrown Errors, int64 handling, the protobuf
// codecs, the SDK processors, the redaction helper and trap recovery.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import * as api from "@telemetry-gateway/core";

const require = createRequire(import.meta.url);

const event = {
  id: "evt-1",
  timestamp: "2024-07-01T12:34:56.789Z",
  feature: "cody.completion",
  action: "accepted",
  source: { server: { version: "5.5.0" }, client: { name: "VSCode.Cody", version: "1.24.0" } },
  parameters: { version: 1, metadata: { count: 3 }, privateMetadata: { secret: "s" } },
  marketingTracking: { url: "https://example.com" },
};
const metadata = { requestId: "req-1", identifier: { unlicensedInstance: { instanceId: "inst-1" } } };
const sdkEvent = () => ({
  feature: "cody.chat",
  action: "submitted",
  source: { client: "VSCode.Cody", clientVersion: "1.2.3" },
  parameters: {
    version: 0,
    metadata: [{ key: "count", value: 2 }],
    privateMetadata: { prompt: "hello" },
  },
  marketingTracking: { url: "https://example.com/x" },
});

test("require and import share one instance and one API", () => {
  const cjs = require("@telemetry-gateway/core");
  assert.equal(cjs.validate, api.validate);
  assert.equal(typeof api.init, "function");
  assert.equal(typeof api.initSync, "function");
});

test("operations answer values; malformed requests throw Errors with the core's message", async () => {
  await api.init(); // a no-op in Node
  assert.deepEqual(api.validate(event), { ok: true });
  assert.deepEqual(api.validate({ ...event, id: "" }), { error: "event ID is required" });
  assert.match(api.validate({ ...event, feature: "Bad" }).error, /^invalid event 'feature' or 'action': /);
  assert.match(api.redact(event, { additionalAllowedEventTypes: "nope" }).error, /^cannot parse/);
  assert.throws(() => api.runOp("frobnicate", {}), { name: "Error", message: 'unknown op "frobnicate"' });
  assert.throws(() => api.validate("{not json"), /^Error: malformed input: event: not valid JSON/);
  assert.throws(() => api.runOp("validate", {}), { message: 'malformed input: input has no "event"' });
  assert.throws(() => api.ingest(metadata, [], { rpc: "Other" }), /rpc must be/);
});

test("redact, translate and ingest", () => {
  const other = { ...event, feature: "other.thing" };
  const redacted = api.redact(other, {});
  assert.equal(redacted.event.marketingTracking, undefined);
  assert.equal(redacted.event.parameters.privateMetadata, undefined);
  assert.deepEqual(api.redact(event, { dotcom: true }).event.marketingTracking, event.marketingTracking);
  const allow = api.redact(other, { additionalAllowedEventTypes: "other.thing::accepted::secret" });
  assert.deepEqual(allow.event.parameters.privateMetadata, { secret: "s" });

  const t = api.translate(metadata, event);
  assert.ok(t.payload.startsWith('{"event":{"id":"evt-1"'));
  assert.deepEqual(t.data, new TextEncoder().encode(t.payload));
  assert.equal(t.attributes["publisher.source"], "unlicensed_instance");
  assert.deepEqual(api.translate(metadata, event, { maxMessageBytes: 10 }), { dropped: "oversized" });
  // Objects take the path that keeps the body apart; JSON text the fields path: same answers.
  const viaText = api.translate(JSON.stringify(metadata), JSON.stringify(event));
  assert.deepEqual(Object.keys(t), ["payload", "attributes", "data"]);
  assert.deepEqual({ ...t, data: [...t.data] }, { ...viaText, data: [...viaText.data] });
  assert.equal(t.data.byteLength, t.data.buffer.byteLength);
  const badTime = { ...event, timestamp: "bad" };
  assert.match(api.translate(metadata, badTime).error, /timestamp: "bad" is not an RFC 3339 timestamp/);
  assert.deepEqual(api.translate(metadata, badTime), api.translate(JSON.stringify(metadata), JSON.stringify(badTime)));
  assert.throws(() => api.translate(undefined, event), /input has no "metadata"/);
  assert.throws(() => api.translate(metadata, undefined), /input has no "event"/);

  const i = api.ingest(metadata, [event, { ...event, id: "evt-2", feature: "" }]);
  assert.deepEqual(i.results.map((r) => r.outcome), ["publish", "reject"]);
  assert.deepEqual(i.succeededEvents, ["evt-1", "evt-2"]);
});

test("JSON text arguments are parsed exactly", () => {
  const text = JSON.stringify(event);
  assert.deepEqual(api.validate(text), { ok: true });
  // A double JS cannot hold survives as text.
  const withBig = text.replace('"count":3', '"count":12345678901234567890123');
  const t = api.translate(JSON.stringify(metadata), withBig);
  assert.match(t.payload, /"count":1\.2345678901234568e\+22/);
  assert.deepEqual(api.runOp("validate", `{"event":${text}}`), { ok: true });
});

test("int64 values never lose precision: answers hold decimal strings", () => {
  const context = { id: "e", now: "2024-07-01T12:00:00Z", serverVersion: "5.5.0" };
  const beyond = "9007199254740993"; // 2^53 + 1
  for (const userId of [beyond, 9007199254740993n]) {
    const r = api.record(sdkEvent(), { ...context, user: { userId } });
    assert.equal(r.event.user.userId, beyond);
  }
  assert.equal(api.record(sdkEvent(), { ...context, user: { userId: 42 } }).event.user.userId, "42");
  // legacyMetadata (int64 map) in ingest input and output.
  const legacy = { ...event, parameters: { legacyMetadata: { big: "9223372036854775807" } } };
  const out = api.ingest(metadata, [legacy], { rpc: "RecordEvent" });
  assert.match(out.results[0].payload, /"legacyMetadata":\{"big":"9223372036854775807"\}/);
  const decoded = api.decodeEvent(api.encodeEvent(legacy));
  assert.deepEqual(decoded.parameters.legacyMetadata, { big: "9223372036854775807" });
});

test("record fills id (UUID v7) and now when the context leaves them out", () => {
  const before = Date.now();
  const r = api.record(sdkEvent(), { serverVersion: "5.5.0" });
  assert.match(r.event.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const ms = parseInt(r.event.id.replaceAll("-", "").slice(0, 12), 16);
  assert.ok(ms >= before && ms <= Date.now());
  const t = Date.parse(r.event.timestamp);
  assert.ok(t >= before - 1 && t <= Date.now());
  assert.notEqual(api.uuidV7(), api.uuidV7());
  const pinned = api.record(sdkEvent(), { id: "x", now: "2024-01-01T00:00:00Z" });
  assert.equal(pinned.event.id, "x");
  assert.equal(pinned.event.timestamp, "2024-01-01T00:00:00Z");
  assert.match(api.record({ ...sdkEvent(), feature: "Bad" }).error, /^'feature' must start/);
});

test("protobuf encode/decode round trips", () => {
  const req = { metadata };
  assert.deepEqual(api.decodeRecordEventsRequest(api.encodeRecordEventsRequest(req)), req);
  const events = { events: { events: [event] } };
  const back = api.decodeRecordEventsRequest(api.encodeRecordEventsRequest(events));
  assert.equal(back.events.events[0].id, "evt-1");
  assert.deepEqual(back.events.events[0].parameters.metadata, { count: 3 });
  const resp = { succeededEvents: ["a", "b"] };
  const bytes = api.encodeRecordEventsResponse(resp);
  assert.ok(bytes instanceof Uint8Array);
  assert.deepEqual(api.decodeRecordEventsResponse(bytes), resp);
  const one = api.decodeRecordEventRequest(api.encodeRecordEventRequest({ metadata, event }));
  assert.deepEqual(one.metadata, metadata);
  assert.equal(one.event.feature, "cody.completion");
  assert.deepEqual(api.decodeEvent(api.encodeEvent(event)).marketingTracking, event.marketingTracking);
  assert.throws(() => api.decodeRecordEventsResponse(new Uint8Array([0xff, 0xff])), /^Error: protobuf decode error/);
  assert.throws(() => api.encodeRecordEventsRequest({}), /exactly one of/);
});

test("ValidationProcessor rejects invalid events before they are sent (JS SDK contract)", () => {
  const p = new api.ValidationProcessor();
  const good = sdkEvent();
  p.processEvent(good); // no throw, no change
  assert.deepEqual(good, sdkEvent());
  assert.throws(() => p.processEvent({ ...sdkEvent(), feature: "Nope" }), (e) => {
    assert.ok(e instanceof api.TelemetryEventValidationError);
    assert.match(e.message, /^'feature' must start with a lowercase letter/);
    return true;
  });
  const badMeta = sdkEvent();
  badMeta.parameters.metadata = [{ key: "k", value: "str" }];
  assert.throws(() => p.processEvent(badMeta), /metadata "k" has invalid value type string/);
  assert.throws(() => p.processEvent({ ...sdkEvent(), timestamp: "yesterday" }), /^TelemetryEventValidationError: invalid timestamp/);
  assert.deepEqual(api.checkEventInput(good), { ok: true });
});

test("RedactionProcessor and redactEventInput strip what the policy would redact", () => {
  const e = sdkEvent();
  new api.RedactionProcessor({}).processEvent(e);
  assert.equal("marketingTracking" in e, false);
  assert.equal("privateMetadata" in e.parameters, false);
  assert.deepEqual(e.parameters.metadata, [{ key: "count", value: 2 }]);

  const allowed = sdkEvent();
  new api.RedactionProcessor({ additionalAllowedEventTypes: "cody.chat::submitted::prompt" }).processEvent(allowed);
  assert.deepEqual(allowed.parameters.privateMetadata, { prompt: "hello" });
  assert.equal("marketingTracking" in allowed, false);

  const dotcom = sdkEvent();
  new api.RedactionProcessor({ dotcom: true }).processEvent(dotcom);
  assert.deepEqual(dotcom, sdkEvent());

  const original = sdkEvent();
  const copy = api.redactEventInput(original, {});
  assert.deepEqual(original, sdkEvent()); // the helper does not mutate
  assert.equal(copy.event.parameters.privateMetadata, undefined);
  assert.throws(() => new api.RedactionProcessor({ additionalAllowedEventTypes: "bad" }), /^Error: cannot parse/);
  assert.match(api.redactEventInput({ ...sdkEvent(), action: "" }, {}).error, /action/);
});

test("the processors refuse an unwritable or too deep recording as the exporter path does (same error, same message)", () => {
  const cyclic = {};
  cyclic.self = cyclic;
  const unwritable = { ...sdkEvent(), parameters: { version: 0, privateMetadata: cyclic } };
  const deep = { ...sdkEvent(), parameters: { version: 0, privateMetadata: JSON.parse("[".repeat(200) + "]".repeat(200)) } };
  for (const event of [unwritable, deep]) {
    const [exported] = api.recordBatch([event], { context: { id: "x", now: "2026-01-01T00:00:00Z", serverVersion: "1" } });
    assert.match(exported.error, /^(recording cannot be written as JSON|malformed input: recordings: )/);
    assert.deepEqual(api.checkEventInput(event), { error: exported.error });
    assert.deepEqual(api.redactEventInput(event, {}), { error: exported.error });
    for (const p of [new api.ValidationProcessor(), new api.RedactionProcessor({})]) {
      assert.throws(() => p.processEvent(event), (e) => {
        assert.ok(e instanceof api.TelemetryEventValidationError, String(e));
        assert.equal(e.message, exported.error);
        return true;
      });
    }
  }
});

test("ValidationProcessor refuses a record context it cannot use at construction, not every event", () => {
  // The exporter refuses such a context when constructed; a processor holding one would refuse
  // every event the exporter accepts.
  for (const context of [{ user: 5 }, { now: "x" }, { featureFlags: { a: 1 } }]) {
    assert.throws(() => new api.ValidationProcessor({ context }), /^TypeError: ValidationProcessor: context: invalid record context: /);
  }
  const p = new api.ValidationProcessor({ context: { featureFlags: { a: true }, countryCode: "DE" } });
  p.processEvent(sdkEvent());
});

test("a trap re-instantiates the module, which stays usable", () => {
  const before = api.uuidV7();
  assert.throws(() => api.__trapForTests(), (e) => {
    assert.ok(e instanceof api.TelemetryCoreTrap);
    assert.ok(e.cause instanceof WebAssembly.RuntimeError);
    return true;
  });
  assert.deepEqual(api.validate(event), { ok: true });
  for (let i = 0; i < 3; i++) assert.throws(() => api.__trapForTests(), api.TelemetryCoreTrap);
  assert.equal(api.translate(metadata, event).attributes["publisher.source"], "unlicensed_instance");
  assert.notEqual(api.uuidV7(), before);
});

test("a JS error while serializing an argument is thrown as it is: not a trap, no re-instantiation", () => {
  // 10,000 levels: JSON.stringify overflows the JS stack (a RangeError) before the module is called.
  let deep = {};
  for (let i = 0; i < 10_000; i++) deep = { a: deep };
  const deepEvent = { ...event, parameters: { version: 1, privateMetadata: deep } };
  const cyclic = { ...event, parameters: { version: 1, privateMetadata: {} } };
  cyclic.parameters.privateMetadata.self = cyclic.parameters.privateMetadata;
  const client = require("@telemetry-gateway/core/client");
  for (const m of [api, client]) {
    for (const call of [
      () => m.encodeEvent(deepEvent),
      () => m.runOp("validate", { event: deepEvent }),
      () => m.encodeEvent(cyclic),
      () => m.encodeRecordEventsRequest({ events: { events: [cyclic] } }),
      () => m.validate(deepEvent),
    ]) {
      assert.throws(call, (e) => {
        assert.ok(!(e instanceof m.TelemetryCoreTrap), `${e.name}: ${e.message}`);
        assert.ok(e instanceof RangeError || e instanceof TypeError, `${e.name}: ${e.message}`);
        return true;
      });
      assert.deepEqual(m.validate(event), { ok: true });
    }
  }
});

test("a lone UTF-16 surrogate is named: validate, redact and translate answer it as an error, the encoders throw it", () => {
  // JSON.stringify writes a lone surrogate as an escape ("\ud83d") that the core's JSON reader
  // refuses; the message names the field and the string, not a column of the module's input.
  const cut = { ...event, parameters: { version: 1, privateMetadata: { prompt: "hi 😀".slice(0, 4) } } };
  const named = 'parameters.privateMetadata.prompt: "hi \\ud83d" holds a lone UTF-16 surrogate (\\ud83d), which UTF-8 text cannot carry';
  const client = require("@telemetry-gateway/core/client");
  for (const m of [api, client]) {
    assert.deepEqual(m.validate(cut), { error: named });
    assert.deepEqual(m.validate({ ...event, feature: "cody.\udc00" }).error, 'feature: "cody.\\udc00" holds a lone UTF-16 surrogate (\\udc00), which UTF-8 text cannot carry');
    assert.deepEqual(m.redact(cut, {}), { error: named });
    assert.throws(() => m.encodeEvent(cut), { message: `malformed input: ${named}` });
    assert.throws(() => m.encodeRecordEventsRequest({ events: { events: [cut] } }), { message: `malformed input: events.events.0.${named}` });
    // A JSON text argument is the caller's own text: the core's message about it, as before.
    assert.throws(() => m.validate(JSON.stringify(cut)), /^Error: malformed input: event: not valid JSON: /);
    assert.deepEqual(m.validate(event), { ok: true });
  }
  assert.deepEqual(api.translate(metadata, cut), { error: named });
  assert.deepEqual(api.translate({ ...metadata, requestId: "r\ud800" }, event), {
    error: 'metadata.requestId: "r\\ud800" holds a lone UTF-16 surrogate (\\ud800), which UTF-8 text cannot carry',
  });
});

test("numbers JSON cannot carry in an Event's metadata map or version are refused naming them, not dropped", () => {
  // JSON.stringify writes NaN and ±Infinity as null, which the core reads as no value: the
  // metadata key, or the version, would be dropped without a word.
  const withMetadata = (value) => ({ ...event, parameters: { version: 1, metadata: { latency: value, count: 3 } } });
  const client = require("@telemetry-gateway/core/client");
  for (const m of [api, client]) {
    assert.deepEqual(m.validate(withMetadata(NaN)), {
      error: 'metadata "latency" has invalid value NaN (a JavaScript number that JSON cannot carry; metadata values must be finite numbers)',
    });
    assert.match(m.redact(withMetadata(-Infinity), {}).error, /^metadata "latency" has invalid value -Infinity \(a JavaScript number/);
    assert.match(m.validate(withMetadata(Symbol("s"))).error, /^metadata "latency" has invalid value Symbol\(s\) \(a symbol/);
    assert.throws(() => m.encodeEvent(withMetadata(Infinity)), { message: /^malformed input: metadata "latency" has invalid value Infinity/ });
    assert.throws(() => m.encodeRecordEventsRequest({ events: { events: [event, withMetadata(NaN)] } }), /invalid value NaN/);
    const version = { ...event, parameters: { version: NaN } };
    assert.deepEqual(m.validate(version), { error: "parameters.version has invalid value NaN (a JavaScript number that JSON cannot carry)" });
    assert.deepEqual(m.record({ ...sdkEvent(), parameters: { version: Infinity } }, { serverVersion: "5.5.0" }), {
      error: "parameters.version has invalid value Infinity (a JavaScript number that JSON cannot carry)",
    });
    // undefined is left out as JSON leaves it out (no key), a BigInt is its decimal string: both as before.
    assert.deepEqual(m.validate(withMetadata(undefined)), { ok: true });
    assert.deepEqual(m.redact(withMetadata(7n), { dotcom: true }).event.parameters.metadata, { latency: 7, count: 3 });
  }
  assert.match(api.translate(metadata, withMetadata(NaN)).error, /^metadata "latency" has invalid value NaN/);
});

test("decoders take protobuf bytes (a Uint8Array, an ArrayBuffer or a view of one) and refuse anything else naming it", () => {
  const client = require("@telemetry-gateway/core/client");
  for (const m of [api, client]) {
    const bytes = m.encodeEvent(event);
    // Before: an ArrayBuffer decoded as no bytes at all ({}), a string as zeros.
    assert.deepEqual(m.decodeEvent(bytes.slice().buffer), m.decodeEvent(bytes));
    assert.deepEqual(m.decodeEvent(new DataView(bytes.slice().buffer)), m.decodeEvent(bytes));
    assert.deepEqual(m.decodeEvent(Buffer.from(bytes)), m.decodeEvent(bytes));
    for (const [value, what] of [["abc", "a string"], [null, "null"], [undefined, "undefined"], [[1, 2], "an array"], [{}, "an object"]]) {
      assert.throws(() => m.decodeEvent(value), { name: "TypeError", message: `decodeEvent: expected protobuf bytes (a Uint8Array or an ArrayBuffer), got ${what}` });
    }
    assert.throws(() => m.decodeRecordEventsResponse("x"), /^TypeError: decodeRecordEventsResponse: expected protobuf bytes/);
    assert.deepEqual(m.validate(event), { ok: true });
  }
});

test("the client module traps on a panic too (its own no_std panic handler) and stays usable", () => {
  const client = require("@telemetry-gateway/core/client");
  assert.throws(() => client.__trapForTests(), (e) => {
    assert.ok(e instanceof client.TelemetryCoreTrap);
    assert.ok(e.cause instanceof WebAssembly.RuntimeError);
    return true;
  });
  assert.deepEqual(client.validate(event), { ok: true });
  assert.deepEqual(client.record(sdkEvent(), { serverVersion: "5.5.0" }).event.feature, sdkEvent().feature);
});

test("every entry point exposes the same names (Node ESM, Node CJS, browser)", async () => {
  const esm = Object.keys(api).filter((k) => k !== "default").sort();
  const cjs = Object.keys(require("@telemetry-gateway/core")).sort();
  // The browser entry's names, without instantiating it (it needs init() first).
  const web = Object.keys(await import("../dist/web.js")).sort();
  assert.deepEqual(cjs, esm);
  assert.deepEqual(web, esm);
  for (const name of ["init", "initSync", "validate", "redact", "translate", "ingest", "record", "recordBatch", "GatewayExporter"]) {
    assert.ok(esm.includes(name), `missing export ${name}`);
  }
});

test("the slim client entry: the same names in Node ESM, Node CJS and the browser; the full set without translate, ingest, conformance and the request decoders", async () => {
  const full = Object.keys(api).filter((k) => k !== "default").sort();
  const esm = Object.keys(await import("@telemetry-gateway/core/client")).sort();
  const cjs = Object.keys(require("@telemetry-gateway/core/client")).sort();
  const web = Object.keys(await import("../dist/client.js")).sort();
  assert.deepEqual(cjs, esm);
  assert.deepEqual(web, esm);
  const fullOnly = ["translate", "ingest", "conformance", "decodeRecordEventsRequest", "decodeRecordEventRequest"];
  assert.deepEqual(esm, full.filter((k) => !fullOnly.includes(k)));
  // Its own, smaller module, working the same as the full one for what it has.
  const client = require("@telemetry-gateway/core/client");
  assert.notEqual(client.validate, api.validate);
  const input = sdkEvent();
  const context = { serverVersion: "5.5.0", id: "0190f6b4-8c2e-7000-8000-000000000001", now: "2024-07-01T12:00:00Z" };
  assert.deepEqual(client.record(input, context), api.record(input, context));
  assert.deepEqual(client.validate(event), api.validate(event));
  assert.deepEqual(client.redact(event, {}), api.redact(event, {}));
  assert.deepEqual(client.recordBatch([input], { context }), api.recordBatch([input], { context }));
  assert.throws(() => client.runOp("translate", { metadata, event }), /op "translate" is not in this build/);
  assert.ok(statSync(new URL("../dist/client_bg.wasm", import.meta.url)).size < statSync(new URL("../dist/core_bg.wasm", import.meta.url)).size);
});

test("record() without serverVersion warns once (no silent \"server\":{})", () => {
  // In a fresh process: the warning is given once per process.
  const script = `
    const client = require("@telemetry-gateway/core/client");
    const input = { feature: "a.b", action: "cd", source: { client: "c" }, parameters: { version: 0 } };
    const a = client.record(input, { user: { userId: 1 } });
    client.record(input, {});
    const b = client.record(input, { serverVersion: "5.5.0" });
    console.log(JSON.stringify([a.event.source.server, b.event.source.server]));`;
  const out = spawnSync(process.execPath, ["-e", script], { cwd: new URL("..", import.meta.url), encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), [{}, { version: "5.5.0" }]);
  const warnings = out.stderr.split("\n").filter((l) => l.includes("serverVersion"));
  assert.equal(warnings.length, 1, out.stderr);
  assert.match(warnings[0], /the context has no serverVersion, so events carry an empty source\.server/);
});

test("recordBatch and recordRequests keep each id in place when the first text starts with U+FEFF", () => {
  // The ids and messages come back as one UTF-8 text sliced by UTF-16 lengths: a decoder that
  // drops a leading byte order mark would shift every later id by one unit.
  const client = require("@telemetry-gateway/core/client");
  const input = { feature: "a.b", action: "cd", source: { client: "c" }, parameters: { version: 0 } };
  const ids = ["\uFEFFa", "é", "b"];
  const context = ids.map((id) => ({ serverVersion: "5.5.0", id, now: "2024-07-01T12:00:00Z" }));
  for (const m of [api, client]) {
    assert.deepEqual(m.recordBatch([input, input, input], { context }).map((r) => r.id), ids);
    assert.deepEqual(m.recordRequests([input, input, input], { context }).results.map((r) => r.id), ids);
  }
});
