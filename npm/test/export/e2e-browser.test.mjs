// End to end in headless Chromium (Debian `chromium`, driven by playwright-core): a page served
// from 127.0.0.1 loads the browser entry, records events with the GatewayExporter and sends them
// over gRPC-Web (fetch, CORS) to the real gateway; the events arrive on the sink redacted and
// byte-identical to the core's translation (recomputed in Node).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";
import { pkgDir } from "../package/pack.mjs";
import { readSink, scratchDir, startGateway } from "./gateway.mjs";
import { checkSink, recordingFor } from "./events.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm" };

const PAGE = (gatewayUrl, recordings) => `<!doctype html><meta charset="utf-8"><title>exporter</title>
<script type="module">
const result = {};
try {
  const core = await import("/dist/web.js");
  await core.init();
  const tracked = [];
  const errors = [];
  const exporter = new core.GatewayExporter({
    transport: new core.GrpcWebTransport({ url: ${JSON.stringify(gatewayUrl)} }),
    metadata: { requestId: "browser-e2e", identifier: { unlicensedInstance: { instanceId: "browser-instance" } } },
    context: (input) => {
      const ctx = { serverVersion: "5.5.0", user: { anonymousUserId: "anon-1" }, id: core.uuidV7(), now: new Date().toISOString() };
      tracked.push({ id: ctx.id, input: structuredClone(input), ctx });
      return ctx;
    },
    onError: (e) => errors.push(e.code + ": " + e.message),
  });
  const recordings = ${JSON.stringify(recordings)};
  for (let i = 0; i < recordings.length; i += 25) await exporter.exportEvents(recordings.slice(i, i + 25));
  await exporter.close({ timeoutMs: 20000 });
  result.tracked = tracked;
  result.errors = errors;
  result.stats = exporter.stats;
} catch (e) {
  result.error = String(e && e.stack || e);
}
window.__result = result;
</script>`;

test("headless Chromium exports over gRPC-Web to the real gateway", { timeout: 120_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/setup installs Debian's chromium)`);
  const root = pkgDir;
  let page = "";
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    if (url.pathname === "/") return res.writeHead(200, { "content-type": "text/html" }).end(page);
    const path = normalize(join(root, url.pathname));
    if (!url.pathname.startsWith("/dist/") || !path.startsWith(join(root, "dist")) || !existsSync(path)) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": TYPES[extname(path)] || "application/octet-stream" }).end(readFileSync(path));
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(() => server.close());
  const origin = `http://127.0.0.1:${server.address().port}`;

  const dir = scratchDir();
  const sinkPath = join(dir, "events.ndjson");
  const gw = await startGateway({ sink: `file:${sinkPath}`, args: ["--cors-allowed-origins", origin] });
  t.after(() => gw.stop());

  const recordings = Array.from({ length: 100 }, (_, i) => recordingFor(i, "browser"));
  page = PAGE(`http://${gw.address}`, recordings);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  t.after(() => browser.close());
  const tab = await browser.newPage();
  const pageErrors = [];
  tab.on("pageerror", (e) => pageErrors.push(String(e)));
  await tab.goto(origin + "/", { timeout: 30_000 });
  await tab.waitForFunction(() => window.__result !== undefined, null, { timeout: 60_000 });
  const r = await tab.evaluate(() => window.__result);
  assert.deepEqual(pageErrors, []);
  assert.equal(r.error, undefined, r.error);
  assert.deepEqual(r.errors, []);
  assert.equal(r.tracked.length, 100);

  const byId = new Map(r.tracked.map((x) => [x.id, { input: x.input, ctx: x.ctx }]));
  const metadata = { requestId: "browser-e2e", identifier: { unlicensedInstance: { instanceId: "browser-instance" } } };
  const { lines } = readSink(sinkPath);
  const report = checkSink(lines, byId, metadata);
  console.log(`[e2e chromium grpc-web] ${report.events} events recorded, ${report.lines} sink lines, ${report.missing.length} missing, ${report.duplicates} duplicates`);
  assert.deepEqual(report.missing, []);
  assert.equal(report.duplicates, 0);
  for (const line of lines) {
    const { event } = JSON.parse(line.data);
    assert.equal(event.parameters.privateMetadata, undefined);
    assert.equal(event.marketingTracking, undefined);
  }
});
