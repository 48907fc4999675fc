// End to end with real parts: `@sourcegraph/telemetry`'s TelemetryRecorderProvider with an
// exporter that posts the GraphQL `recordEvents` mutation (as Sourcegraph's clients do) -> the
// relay (`telemetry-gateway relay`, SQLite queue) -> the real gateway -> its NDJSON sink. Every
// sink line must be byte-identical to the core's translation of the hydrated, redacted event.
// Once from Node (through an authenticating proxy that sets the user and feature-flag headers)
// and once from headless Chromium (posting cross-origin to the relay: CORS).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import { readSink, scratchDir, startGateway, waitFor } from "../export/gateway.mjs";
import { GRAPHQL_EXPORTER_SOURCE, GraphQLTelemetryExporter, SERVER_VERSION, checkRelaySink, startRelay } from "./relay.mjs";

const require = createRequire(import.meta.url);
const { TelemetryRecorderProvider, CallbackTelemetryProcessor } = require("@sourcegraph/telemetry");
const { TimestampTelemetryProcessor } = require("@sourcegraph/telemetry/dist/processors/timestamp");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const NPM_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/** A trusted authenticating proxy: sets the user and flags headers (overriding the client's). */
function authenticatingProxy(relayAddress) {
  const [host, port] = [relayAddress.slice(0, relayAddress.lastIndexOf(":")), Number(relayAddress.split(":").pop())];
  return createServer((req, res) => {
    const headers = { ...req.headers, "x-forwarded-user-id": "42", "x-feature-flags": "new-ui=true,legacy=false" };
    const upstream = httpRequest({ host, port, path: req.url, method: req.method, headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    upstream.on("error", (e) => res.writeHead(502).end(String(e)));
    req.pipe(upstream);
  });
}

function recordAll(recorder, n, tag) {
  for (let i = 0; i < n; i++) {
    const cody = i % 3 === 0;
    recorder.recordEvent(cody ? "cody.chat-question" : `${tag}.relay`, cody ? "submitted" : "tested", {
      version: 2,
      metadata: { seq: i, ratio: i / 4 },
      privateMetadata: { chatModel: `model-${i}`, prompt: `PRIVATE-${i}` },
      ...(i % 4 === 0 ? { interactionID: `param-${i}` } : {}),
      ...(i % 5 === 0 ? { billingMetadata: { product: "cody", category: "core" } } : {}),
    });
  }
}

function checkRedaction(lines) {
  for (const line of lines) {
    const { event } = JSON.parse(line.data);
    const pm = event.parameters.privateMetadata;
    if (event.feature === "cody.chat-question") assert.deepEqual(Object.keys(pm), ["chatModel"]);
    else assert.equal(pm, undefined);
    assert.ok(!line.data.includes("PRIVATE-"));
  }
}

test("Node: TelemetryRecorderProvider -> GraphQL mutation -> relay -> gateway -> sink, byte-identical", { timeout: 90_000 }, async (t) => {
  const dir = scratchDir();
  const sinkPath = join(dir, "events.ndjson");
  const gw = await startGateway({ sink: `file:${sinkPath}` });
  t.after(() => gw.stop());
  const relay = await startRelay({ dir, gateway: gw.address, args: ["--user-id-header", "X-Forwarded-User-Id", "--feature-flags-header", "X-Feature-Flags"] });
  t.after(() => relay.stop());
  const proxy = authenticatingProxy(relay.address);
  await new Promise((ok) => proxy.listen(0, "127.0.0.1", ok));
  t.after(() => proxy.close());

  const exporter = new GraphQLTelemetryExporter(`http://127.0.0.1:${proxy.address().port}`, {
    "X-Sourcegraph-Interaction-ID": "node-interaction",
    "X-Sourcegraph-Actor-Anonymous-UID": "anon-node",
    traceparent: TRACEPARENT,
    "X-Forwarded-User-Id": "666", // a client's claim: the proxy replaces it
  });
  const errors = [];
  const inputs = new Map();
  const capture = new CallbackTelemetryProcessor((e) => inputs.set(e.parameters.metadata.find((m) => m.key === "seq").value, structuredClone(e)));
  const provider = new TelemetryRecorderProvider({ client: "node.e2e", clientVersion: "1.0.0" }, exporter, [], {
    bufferTimeMs: 20,
    bufferMaxSize: 10,
    errorHandler: (e) => errors.push(String(e)),
  });
  const startedMs = Date.now();
  const N = 60;
  // half the events carry the client's time (TimestampTelemetryProcessor), half get the server's
  recordAll(provider.getRecorder([new TimestampTelemetryProcessor(), capture]), N / 2, "node");
  const plain = provider.getRecorder([capture]);
  for (let i = N / 2; i < N; i++) plain.recordEvent("node.relay", "tested", { version: 1, metadata: { seq: i } });
  await waitFor(() => exporter.calls >= N / 10 && inputs.size === N, { timeoutMs: 20_000, what: "the SDK's exports" });
  provider.unsubscribe();
  assert.deepEqual(errors.filter((e) => !e.includes("submitted event after complete")), []);

  await waitFor(() => readSink(sinkPath).lines.length >= N, { timeoutMs: 30_000, what: `${N} events on the sink` });
  const { lines } = readSink(sinkPath);
  const report = checkRelaySink(lines, inputs, () => ({
    serverVersion: SERVER_VERSION,
    user: { userId: 42, anonymousUserId: "anon-node" },
    featureFlags: { "new-ui": "true", legacy: "false" },
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    interactionId: "node-interaction",
  }), { startedMs });
  console.log(`[relay e2e node] ${N} recorded, ${report.lines} sink lines, ${report.missing.length} missing, ${report.duplicates} duplicates`);
  assert.deepEqual(report.missing, []);
  assert.equal(report.duplicates, 0);
  checkRedaction(lines);
  const withClientTime = lines.filter((l) => JSON.parse(l.data).event.parameters.metadata.seq < N / 2);
  assert.equal(withClientTime.length, N / 2);
});

const PAGE_ENTRY = `
import { TelemetryRecorderProvider, CallbackTelemetryProcessor } from "@sourcegraph/telemetry";
${GRAPHQL_EXPORTER_SOURCE}
window.recordThroughRelay = async (relayUrl, n) => {
  const inputs = [];
  const errors = [];
  const exporter = new GraphQLTelemetryExporter(relayUrl, {
    "X-Sourcegraph-Interaction-ID": "browser-interaction",
    "X-Sourcegraph-Actor-Anonymous-UID": "anon-browser",
  });
  const provider = new TelemetryRecorderProvider({ client: "web.e2e", clientVersion: "2.0.0" }, exporter,
    [new CallbackTelemetryProcessor((e) => inputs.push(JSON.parse(JSON.stringify(e))))],
    { bufferTimeMs: 20, bufferMaxSize: 10, errorHandler: (e) => errors.push(String(e)) });
  const recorder = provider.getRecorder();
  for (let i = 0; i < n; i++) {
    const cody = i % 3 === 0;
    recorder.recordEvent(cody ? "cody.chat-question" : "web.relay", cody ? "submitted" : "viewed", {
      version: 3, metadata: { seq: i }, privateMetadata: { chatModel: "m-" + i, prompt: "PRIVATE-" + i },
      ...(i % 4 === 0 ? { interactionID: "param-" + i } : {}),
    });
  }
  const deadline = Date.now() + 20000;
  while (exporter.calls < Math.ceil(n / 10) && errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  provider.unsubscribe();
  return { inputs, errors, calls: exporter.calls };
};
window.__ready = true;
`;

test("Chromium: TelemetryRecorderProvider posts the mutation cross-origin (CORS) to the relay; sink byte-identical", { timeout: 120_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/setup installs Debian's chromium)`);
  const bundle = await build({ stdin: { contents: PAGE_ENTRY, resolveDir: NPM_DIR, loader: "js" }, bundle: true, write: false, format: "iife", platform: "browser" });
  const script = bundle.outputFiles[0].text;
  const server = createServer((req, res) => {
    if (req.url === "/") return res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><meta charset="utf-8"><script src="/page.js"></script>`);
    if (req.url === "/page.js") return res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    res.writeHead(404).end();
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(() => server.close());
  const origin = `http://127.0.0.1:${server.address().port}`;

  const dir = scratchDir();
  const sinkPath = join(dir, "events.ndjson");
  const gw = await startGateway({ sink: `file:${sinkPath}` });
  t.after(() => gw.stop());
  const relay = await startRelay({ dir, gateway: gw.address, args: ["--cors-allowed-origins", origin, "--user-id-header", "X-Forwarded-User-Id"] });
  t.after(() => relay.stop());

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  t.after(() => browser.close());
  const tab = await browser.newPage();
  const pageErrors = [];
  tab.on("pageerror", (e) => pageErrors.push(String(e)));
  await tab.goto(origin + "/", { timeout: 30_000 });
  await tab.waitForFunction(() => window.__ready === true, null, { timeout: 30_000 });
  const startedMs = Date.now();
  const N = 40;
  const r = await tab.evaluate(([url, n]) => window.recordThroughRelay(url, n), [`http://${relay.address}`, N]);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(r.errors.filter((e) => !e.includes("submitted event after complete")), []);
  assert.equal(r.inputs.length, N);

  await waitFor(() => readSink(sinkPath).lines.length >= N, { timeoutMs: 30_000, what: `${N} events on the sink` });
  const { lines } = readSink(sinkPath);
  const inputs = new Map(r.inputs.map((e) => [e.parameters.metadata.find((m) => m.key === "seq").value, e]));
  // no proxy here: no user id (the header is unset), the anonymous id and interaction the client sent
  const report = checkRelaySink(lines, inputs, () => ({
    serverVersion: SERVER_VERSION,
    user: { anonymousUserId: "anon-browser" },
    interactionId: "browser-interaction",
  }), { startedMs });
  console.log(`[relay e2e chromium] ${N} recorded, ${report.lines} sink lines, ${report.missing.length} missing, ${report.duplicates} duplicates`);
  assert.deepEqual(report.missing, []);
  assert.equal(report.duplicates, 0);
  checkRedaction(lines);
});
