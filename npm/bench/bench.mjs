#!/usr/bin/env node
// npm run bench: events per second through the WASM boundary for validate, redact, translate and
// record, beside a same-run pure-JS baseline doing the equivalent work the JS SDK does (its
// feature/action regex check + JSON.stringify), and comparing the boundary encodings considered:
//
//   api       the shipped API: objects -> JSON.stringify -> JSON text into WASM -> JSON text ->
//             JSON.parse (int64 exact as strings; every double exact)
//   text      JSON text in and out, no JS (de)serialisation (what a caller holding JSON text pays)
//   objects   JS objects in and out through serde-wasm-bindgen (a build with the crate's
//             `objects` feature, made here into bench/build-objects/; not shipped)
//   js        the pure-JS baseline (not the same rules: only what the SDK checks itself)
//
// Options: --seconds N (per measurement, default 1), --skip-objects.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf("--seconds") + 1]) || 1;

const api = require("../dist/node.cjs");
const glue = require("../dist/core_node.cjs");

let objects = null;
if (!args.includes("--skip-objects")) {
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

function measure(fn) {
  for (let i = 0; i < 2000; i++) fn(); // warm up
  let n = 0;
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let now = start;
  while (now < end) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

const fmt = (x) => (x === null ? "-" : Math.round(x).toLocaleString("en-US"));
const rows = [];
for (const op of Object.keys(inputs)) {
  const text = JSON.stringify(inputs[op]);
  // Sanity: every encoding gives the same answer.
  const viaApi = calls[op]();
  delete viaApi.data;
  const viaText = JSON.parse(glue.runOp(op, text));
  if (!api.conformance.answerMatches(viaApi, viaText)) throw new Error(`${op}: api and text answers differ`);
  if ("error" in viaApi) throw new Error(`${op}: ${viaApi.error}`);
  const opRun = (t) => glue.runOp(op, t);
  const row = {
    op,
    api: measure(calls[op]),
    text: measure(() => opRun(text)),
    objects: null,
    js: measure(() => jsBaseline(op === "record" ? input : event)),
  };
  if (objects) {
    const viaObjects = objects.runOpObject(op, inputs[op]);
    if (!api.conformance.answerMatches(viaApi, viaObjects)) throw new Error(`${op}: objects answer differs`);
    row.objects = measure(() => objects.runOpObject(op, inputs[op]));
  }
  rows.push(row);
}

console.log(`node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}), ${seconds}s per measurement`);
console.log("events per second (higher is better)");
console.log(["op", "api (JSON text, shipped)", "text (no JS serde)", "objects (serde-wasm-bindgen)", "pure-JS baseline"].join(" | "));
for (const r of rows) console.log([r.op, fmt(r.api), fmt(r.text), fmt(r.objects), fmt(r.js)].join(" | "));
