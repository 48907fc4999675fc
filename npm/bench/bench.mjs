#!/usr/bin/env node
// npm run bench: events per second through the WASM boundary, each beside a pure-JS baseline
// measured in the same run (ratios; the machine is noisy). Two tables:
//
// 1. Single-event API calls (validate, redact, translate, record) and their boundary encodings:
//      api       the shipped API: objects -> JSON.stringify -> JSON text into WASM -> JSON text ->
//                JSON.parse (int64 exact as strings; every double exact)
//      text      JSON text (as UTF-8 bytes) in and out, no JS (de)serialisation: the module's own
//                cost plus the boundary
//      serde     JSON.stringify of the input and JSON.parse of the answer alone, no module: the
//                JSON boundary's floor; api / js can never pass serde / js (the last column)
//      objects   JS objects in and out through serde-wasm-bindgen (a build with the crate's
//                `objects` feature, made here into bench/build-objects/; not shipped)
//      js        the pure-JS baseline: the JS SDK's own per-event work (its feature/action
//                regex/length check + JSON.stringify) — far less than the core does
//    Target: api / js >= 0.25 for each call.
//
// 2. The exporter path: `exportEvents` of a batch of 100 TelemetryEventInputs -> the
//    RecordEventsRequest bytes ready to send (record, validate, redact, protobuf encoding, chunk
//    plan: one call into the core per batch, `recordRequests`, which frames the requests too),
//    against the SDK's usual network path: the GraphQL `recordEvents` mutation body for the same
//    100 recordings, built with JSON.stringify. Also end to end through a GatewayExporter (queue bookkeeping, and a fake
//    in-process gateway acknowledging every event), for the full and the slim client build.
//    Target: >= 0.33x the baseline's events/s (stretch 0.5x).
//
// Rates are per second of the process's CPU time (see measure()), so a busy machine slows the
// run down but does not skew the figures much. Each ratio a target is judged by (api / js, and
// each exporter path's) comes from slices of the path alternating with slices of its baseline
// (see versusBaseline()): the median of 5 rounds' ratios.
//
// Options: --seconds N (CPU seconds per measurement, default 1), --skip-objects, --exporter-only
// (table 2 alone).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf("--seconds") + 1]) || 1;

const api = require("../dist/node.cjs");
const client = require("../dist/client.cjs");
const glue = require("../dist/core_node.cjs");

let objects = null;
const exporterOnly = args.includes("--exporter-only");
if (!args.includes("--skip-objects") && !exporterOnly) {
  const build = join(here, "build-objects");
  if (!existsSync(join(build, "core_node.cjs"))) {
    console.error("[bench] building the objects-boundary variant (cargo feature `objects`)...");
    execFileSync(process.execPath, [join(here, "..", "scripts", "build.mjs"), "--features", "objects"], { stdio: "inherit" });
  }
  objects = require(join(build, "core_node.cjs"));
}

const metadata = { requestId: "req-1", identifier: { licensedInstance: { licenseKey: "k", instanceId: "i", externalUrl: "https://sg.example.com" } } };
const event = {
  id: "0190f6b4-8c2e-7a3b-9d1e-2f4a5b6c7d8e",
  timestamp: "2024-07-01T12:34:56.789Z",
  feature: "cody.completion",
  action: "accepted",
  source: { server: { version: "5.5.0" }, client: { name: "VSCode.Cody", version: "1.24.0" } },
  parameters: {
    version: 2,
    metadata: { count: 3, latencyMs: 412.5, accepted: 1 },
    privateMetadata: { languageId: "typescript", model: "claude" },
    billingMetadata: { product: "cody", category: "core" },
  },
  user: { userId: "1234", anonymousUserId: "anon-1" },
  marketingTracking: { url: "https://sourcegraph.com/search", cohortId: "2024-07" },
};
const input = {
  feature: "cody.completion",
  action: "accepted",
  source: { client: "VSCode.Cody", clientVersion: "1.24.0" },
  parameters: { version: 2, metadata: [{ key: "count", value: 3 }, { key: "latencyMs", value: 412.5 }], privateMetadata: { languageId: "typescript" } },
};
const context = { id: "0190f6b4-8c2e-7a3b-9d1e-2f4a5b6c7d8e", now: "2024-07-01T12:34:56.789Z", serverVersion: "5.5.0" };
const policy = { dotcom: false, additionalAllowedEventTypes: "" };

const inputs = {
  validate: { event },
  redact: { event, policy },
  translate: { metadata, event },
  record: { event: input, context },
};
const calls = {
  validate: () => api.validate(event),
  redact: () => api.redact(event, policy),
  translate: () => api.translate(metadata, event),
  record: () => api.record(input, context),
};

// The JS SDK's own work per event: ValidateEventFeatureAction's regex + length checks, then
// JSON.stringify for the GraphQL request body.
const featureAction = /^[a-z][a-zA-Z-.]+$/;
function jsBaseline(e) {
  if (!e.feature || !e.action) throw new Error("feature and action are required");
  if (e.feature.length > 64 || e.action.length > 64) throw new Error("too long");
  if (!featureAction.test(e.feature) || !featureAction.test(e.action)) throw new Error("bad feature/action");
  return JSON.stringify(e);
}

// Time is the process's CPU time (user + system), not wall time: on a shared machine the
// process may get a fraction of a core, and CPU time counts only the work done. Each loop runs
// for `seconds` of CPU time.
function cpuNs() {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
}

/** Calls per CPU second of `fn` (after a warm-up), over `seconds` of CPU time. */
function measure(fn, { warmup = 2000, chunk = 200, duration = seconds } = {}) {
  for (let i = 0; i < warmup; i++) fn();
  let n = 0;
  const start = cpuNs();
  const end = start + duration * 1e9;
  let now = start;
  while (now < end) {
    for (let i = 0; i < chunk; i++) fn();
    n += chunk;
    now = cpuNs();
  }
  return n / ((now - start) / 1e9);
}

/** Calls per CPU second of an async `fn`, awaited one after another. */
async function measureAsync(fn, { warmup = 50, duration = seconds } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  let n = 0;
  const start = cpuNs();
  const end = start + duration * 1e9;
  let now = start;
  while (now < end) {
    await fn();
    n++;
    now = cpuNs();
  }
  return n / ((now - start) / 1e9);
}

/**
 * A path's rate beside its baseline's, measured in alternating slices (baseline, path, baseline,
 * path, …: ROUNDS of each, `seconds` in all for each): a machine whose speed drifts during the
 * run (other jobs, CPU frequency) slows both sides of a round alike, where one measurement of the
 * baseline at the start of the run and one of the path later do not. Answers the medians of the
 * two rates and of the rounds' ratios (`ratio`, the figure the targets are judged by).
 * `path.async` marks an async path; `opts` are measure()'s warm-up and chunk for each side.
 */
const ROUNDS = 5;
async function versusBaseline(path, base, { pathOpts = {}, baseOpts = {}, perCall = 1 } = {}) {
  const duration = seconds / ROUNDS;
  const rates = [];
  const baseRates = [];
  const ratios = [];
  for (let round = 0; round < ROUNDS; round++) {
    const warm = round === 0 ? {} : { warmup: 0 };
    const b = measure(base.fn, { ...baseOpts, ...warm, duration }) * perCall;
    const r = path.async
      ? (await measureAsync(path.fn, { ...pathOpts, ...warm, duration })) * perCall
      : measure(path.fn, { ...pathOpts, ...warm, duration }) * perCall;
    baseRates.push(b);
    rates.push(r);
    ratios.push(r / b);
  }
  return { rate: median(rates), base: median(baseRates), ratio: median(ratios) };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

const fmt = (x) => (x === null ? "-" : Math.round(x).toLocaleString("en-US"));
const ratio = (x) => x.toFixed(3);

console.log(
  `node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}), ${seconds} s of CPU time per measurement, ${new Date().toISOString().slice(0, 10)}`,
);

// ---------------------------------------------------------------------------------------------
// 1. Single-event API calls.

const rows = [];
for (const op of exporterOnly ? [] : Object.keys(inputs)) {
  const text = JSON.stringify(inputs[op]);
  // Sanity: every encoding gives the same answer.
  const viaApi = calls[op]();
  delete viaApi.data;
  const bytes = new TextEncoder().encode(text);
  const viaText = JSON.parse(glue.runOp(op, bytes));
  if (!api.conformance.answerMatches(viaApi, viaText)) throw new Error(`${op}: api and text answers differ`);
  if ("error" in viaApi) throw new Error(`${op}: ${viaApi.error}`);
  // The JSON boundary's own floor: the input's JSON.stringify and the answer's JSON.parse that
  // every API call does, with no module work at all. api / baseline can never pass
  // serde / baseline, whatever the module's speed.
  const answerText = JSON.stringify(viaApi);
  const baseline = { fn: () => jsBaseline(op === "record" ? input : event) };
  const shipped = await versusBaseline({ fn: calls[op] }, baseline);
  const row = {
    op,
    api: shipped.rate,
    text: measure(() => glue.runOp(op, bytes)),
    serde: measure(() => JSON.parse(answerText) && JSON.stringify(inputs[op])),
    objects: null,
    js: shipped.base,
    ratio: shipped.ratio,
  };
  if (objects) {
    const viaObjects = objects.runOpObject(op, inputs[op]);
    if (!api.conformance.answerMatches(viaApi, viaObjects)) throw new Error(`${op}: objects answer differs`);
    row.objects = measure(() => objects.runOpObject(op, inputs[op]));
  }
  rows.push(row);
}

if (!exporterOnly) {
  console.log("\n1. single-event API calls: events per second (higher is better); target api/js >= 0.25");
  console.log(
    ["op", "api (JSON text, shipped)", "text (no JS serde)", "JS serde alone (no module)", "objects (serde-wasm-bindgen)", "pure-JS baseline", "api / baseline", "serde alone / baseline (the ceiling of api / baseline)"].join(" | "),
  );
}
for (const r of rows) {
  console.log([r.op, fmt(r.api), fmt(r.text), fmt(r.serde), fmt(r.objects), fmt(r.js), ratio(r.ratio), ratio(r.serde / r.js)].join(" | "));
}

// ---------------------------------------------------------------------------------------------
// 2. The exporter path, batches of 100.

const BATCH = 100;
/** What `TelemetryRecorderProvider.recordEvent` hands the exporter (the SDK's shape). */
function recording(i) {
  return {
    feature: i % 4 === 0 ? "cody.chat" : "cody.completion",
    action: i % 4 === 0 ? "submitted" : "accepted",
    source: { client: "VSCode.Cody", clientVersion: "1.24.0" },
    parameters: {
      version: 2,
      interactionID: `interaction-${i}`,
      metadata: [
        { key: "count", value: i },
        { key: "latencyMs", value: 412.5 + i },
      ],
      privateMetadata: { languageId: "typescript", prompt: `text ${i}` },
      billingMetadata: { product: "cody", category: "core" },
    },
  };
}
const batch = Array.from({ length: BATCH }, (_, i) => recording(i));
const exportContext = { serverVersion: "5.5.0", user: { userId: "1234", anonymousUserId: "anon-1" } };
const exportMetadata = { identifier: { licensedInstance: { licenseKey: "k", instanceId: "i", externalUrl: "https://sg.example.com" } } };
const policyText = JSON.stringify(policy);

// The SDK's usual network path: the GraphQL recordEvents mutation body (Cody's
// GraphQLTelemetryExporter posts this to /.api/graphql).
const MUTATION =
  "mutation RecordTelemetryEvents($events: [TelemetryEventInput!]!) {\n  telemetry {\n    recordEvents(events: $events) {\n      alwaysNil\n    }\n  }\n}";
const graphqlBody = () => JSON.stringify({ query: MUTATION, variables: { events: batch } });

/**
 * What the exporter computes for a batch: the events recorded + encoded (each one's bytes kept,
 * for its queue), and the call's requests: the metadata request, and the events' requests framed
 * in the same call into the core (recordRequests).
 */
function requestBytes(core) {
  return () => {
    const { results, requests } = core.recordRequests(batch, { context: exportContext, policy: policyText });
    for (const r of results) if (!r.bytes) throw new Error(r.error);
    const metadataRequest = core.encodeRecordEventsRequest({ metadata: { ...exportMetadata, requestId: core.uuidV7() } });
    return [metadataRequest, ...requests];
  };
}

/** The same through the two calls the exporter made before (recordBatch, then eventsRequests). */
function requestBytesTwoCalls(core) {
  return () => {
    const recorded = core.recordBatch(batch, { context: exportContext, policy: policyText });
    const bytes = [];
    for (const r of recorded) if (r.bytes) bytes.push(r.bytes);
    const metadataRequest = core.encodeRecordEventsRequest({ metadata: { ...exportMetadata, requestId: core.uuidV7() } });
    return [metadataRequest, ...core.eventsRequests(bytes)];
  };
}

/**
 * The same work one call per event, as the exporter did before the batch path: record, redact
 * and encode each recording (three calls, JSON in and out), then encode the request from the
 * events' JSON.
 */
function perEventCalls(core) {
  return () => {
    const events = [];
    for (const input of batch) {
      const recorded = core.record(input, exportContext);
      const redacted = core.redact(recorded.event, policy).event;
      core.encodeEvent(redacted); // its size, for the chunk plan
      events.push(redacted);
    }
    const metadataRequest = core.encodeRecordEventsRequest({ metadata: { ...exportMetadata, requestId: core.uuidV7() } });
    return [metadataRequest, core.encodeRecordEventsRequest({ events: { events } })];
  };
}

/**
 * The fake gateway's answer: the encoded `RecordEventsResponse` acknowledging `ids` (its one
 * field, `repeated string succeeded_events = 1`, for ids under 128 bytes). Written here rather
 * than with the module's `encodeRecordEventsResponse`: answering is the gateway's work, and
 * through the module under test (JSON text in, the slim module's size-optimised code for the
 * client build) it was charged to the exporter, about 0.15 µs per event on the full build and
 * 0.27 µs on the client one. Checked once below against the core's encoding.
 */
const answerEncoder = new TextEncoder();
function responseBytes(ids) {
  let length = 0;
  for (const id of ids) length += 2 + id.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const id of ids) {
    const { written } = answerEncoder.encodeInto(id, out.subarray(at + 2));
    if (written > 127 || written !== id.length) throw new Error(`fake gateway: id ${JSON.stringify(id)} is not short ASCII`);
    out[at] = 0x0a;
    out[at + 1] = written;
    at += 2 + written;
  }
  return out;
}

/** A GatewayExporter over an in-process fake gateway that acknowledges every event it is sent. */
function exporterRun(core) {
  const exporter = new core.GatewayExporter({
    transport: {
      async recordEvents(requests, { onResponse }) {
        sent += requests.length;
        onResponse(responseBytes(exporter.pendingIds()));
      },
    },
    metadata: exportMetadata,
    context: exportContext,
    policy,
    persist: false,
    onError: (e) => {
      throw e;
    },
  });
  let sent = 0;
  return async () => {
    await exporter.exportEvents(batch);
    await exporter.flush();
  };
}

// Sanity: the exporter path's events are what record + redact make of the recordings, and
// both ways of framing them give the same requests (up to the fresh ids and time).
{
  const [, request] = requestBytes(api)();
  const [, twoCalls] = requestBytesTwoCalls(api)();
  const strip = (events) => events.map(({ id, timestamp, ...rest }) => rest);
  if (!isDeepStrictEqual(strip(api.decodeRecordEventsRequest(twoCalls).events.events), strip(api.decodeRecordEventsRequest(request).events.events))) {
    throw new Error("recordRequests and recordBatch + eventsRequests frame different events");
  }
  const decoded = api.decodeRecordEventsRequest(request).events.events;
  if (decoded.length !== BATCH) throw new Error(`the exporter path encoded ${decoded.length} events`);
  const single = api.redact(api.record(batch[1], { ...exportContext, id: decoded[1].id, now: decoded[1].timestamp }).event, policy).event;
  if (!isDeepStrictEqual(single, decoded[1])) throw new Error(`the exporter path's event differs from record + redact:\n${JSON.stringify(single)}\n${JSON.stringify(decoded[1])}`);
}

// Sanity: the fake gateway answers what the core would encode.
{
  const ids = [api.uuidV7(), api.uuidV7(), "b"];
  if (!isDeepStrictEqual(responseBytes(ids), api.encodeRecordEventsResponse({ succeededEvents: ids }))) {
    throw new Error("the fake gateway's RecordEventsResponse differs from the core's encoding");
  }
}

const graphqlBaseline = { fn: graphqlBody };
const batchOpts = { baseOpts: { warmup: 200, chunk: 10 }, perCall: BATCH };
const paths = [
  {
    what: "reference: the same work one call per event (before the batch path), full build",
    ...(await versusBaseline({ fn: perEventCalls(api) }, graphqlBaseline, { ...batchOpts, pathOpts: { warmup: 20, chunk: 2 } })),
  },
];
for (const [name, core] of [["full build", api], ["client build", client]]) {
  paths.push({
    what: `request bytes (recordRequests), ${name}`,
    ...(await versusBaseline({ fn: requestBytes(core) }, graphqlBaseline, { ...batchOpts, pathOpts: { warmup: 200, chunk: 10 } })),
  });
  paths.push({
    what: `GatewayExporter exportEvents + flush (fake gateway), ${name}`,
    ...(await versusBaseline({ fn: exporterRun(core), async: true }, graphqlBaseline, batchOpts)),
  });
}

console.log(`\n2. the exporter path: batches of ${BATCH} TelemetryEventInputs, events per second; target >= 0.33x the baseline (stretch 0.5x)`);
console.log(`baseline: the GraphQL recordEvents mutation body (JSON.stringify), measured in ${ROUNDS} slices alternating with each path's`);
console.log(["path", "events/s", "baseline events/s (same rounds)", "vs baseline (median of the rounds' ratios)"].join(" | "));
for (const p of paths) console.log([p.what, fmt(p.rate), fmt(p.base), ratio(p.ratio)].join(" | "));
