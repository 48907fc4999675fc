// Nothing lost in the browser: headless Chromium (a real page from 127.0.0.1, the slim client
// entry, the default IndexedDB queue) exporting over gRPC-Web to the real gateway binary.
//
//   navigate away  events recorded, then the page leaves before any regular export call could
//                  run: `pagehide` sends what fits in one keepalive fetch (64 KiB), and the next
//                  page load of the origin sends the rest from IndexedDB;
//   crash          events recorded (accepted = in IndexedDB), then the renderer process is
//                  killed (no handler runs): the next page load sends all of them;
//   close          the same with the page closed by the test;
//   reload         events recorded and the page reloaded at once.
//
// In each, every recorded event arrives on the sink (byte-identical to the core's translation),
// none is missing; duplicates are counted and printed. To stop regular export calls from running
// first ("before the export"), the first page's fetch holds every non-keepalive call back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";
import { pkgDir } from "../package/pack.mjs";
import { readSink, scratchDir, startGateway, waitFor } from "./gateway.mjs";
import { checkSink, recordingFor } from "./events.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm" };
const METADATA = { requestId: "browser-durability", identifier: { unlicensedInstance: { instanceId: "browser-durability" } } };

const APP = `<!doctype html><meta charset="utf-8"><title>app</title>
<script type="module">
const params = new URLSearchParams(location.search);
const stallRegular = params.get("stall") === "1" && sessionStorage.getItem("phase") !== "resume";
// Calls made once the page is being left or hidden (registered before the exporter's handlers,
// so this runs first) are let through: with stall=1 only those can reach the gateway.
let leaving = false;
addEventListener("pagehide", () => (leaving = true));
document.addEventListener("visibilitychange", () => (leaving ||= document.visibilityState === "hidden"));
const core = await import("/dist/client.js");
await core.init();
const errors = [];
const realFetch = globalThis.fetch.bind(globalThis);
const exporter = new core.GatewayExporter({
  transport: new core.GrpcWebTransport({
    url: params.get("gateway"),
    // The first page's export calls never start while it is shown (as if it left before them).
    fetch: (url, init) => (stallRegular && !leaving ? new Promise(() => {}) : realFetch(url, init)),
  }),
  metadata: ${JSON.stringify(METADATA)},
  context: (input) => {
    const ctx = { serverVersion: "5.5.0", user: { anonymousUserId: "anon-1" }, id: core.uuidV7(), now: new Date().toISOString() };
    localStorage.setItem("tracked:" + ctx.id, JSON.stringify({ input, ctx }));
    return ctx;
  },
  onError: (e) => errors.push(e.code + ": " + e.message),
  flushOnHide: params.get("hide") !== "0",
});
window.__exporter = exporter;
window.__errors = errors;
/** Records like the SDK's batch submitter: exportEvents per batch, not awaited. */
window.__record = (recordings, batch = 25) => {
  const accepted = [];
  for (let i = 0; i < recordings.length; i += batch) accepted.push(exporter.exportEvents(recordings.slice(i, i + batch)));
  return Promise.all(accepted);
};
window.__resume = async () => {
  const result = { persistence: exporter.persistence };
  try {
    await exporter.flush({ timeoutMs: 30000 });
    await exporter.close({ timeoutMs: 5000 });
    const db = await new Promise((ok, no) => {
      const r = indexedDB.open("telemetry-gateway-exporter:default");
      r.onsuccess = () => ok(r.result);
      r.onerror = () => no(r.error);
    });
    result.leftInIndexedDb = await new Promise((ok) => {
      const r = db.transaction("events").objectStore("events").count();
      r.onsuccess = () => ok(r.result);
    });
    db.close();
  } catch (e) {
    result.error = String(e && e.stack || e);
  }
  result.stats = exporter.stats;
  result.errors = errors;
  result.tracked = Object.keys(localStorage).filter((k) => k.startsWith("tracked:")).map((k) => JSON.parse(localStorage.getItem(k)));
  return result;
};
// Ready once the queue store is open (and what it resumed is queued).
exporter.ready.then(() => (window.__ready = true));
</script>`;

async function serve() {
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    if (url.pathname === "/app") return res.writeHead(200, { "content-type": "text/html" }).end(APP);
    if (url.pathname === "/next") return res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>next</title><p>another page");
    const path = normalize(join(pkgDir, url.pathname));
    if (!url.pathname.startsWith("/dist/") || !path.startsWith(join(pkgDir, "dist")) || !existsSync(path)) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": TYPES[extname(path)] || "application/octet-stream" }).end(readFileSync(path));
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return server;
}

async function setup(t) {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/setup installs Debian's chromium)`);
  const server = await serve();
  t.after(() => server.close());
  const origin = `http://127.0.0.1:${server.address().port}`;
  const dir = scratchDir();
  const sinkPath = join(dir, "events.ndjson");
  const gw = await startGateway({ sink: `file:${sinkPath}`, args: ["--cors-allowed-origins", origin] });
  t.after(() => gw.stop());
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  t.after(() => browser.close());
  const app = (query = "") => `${origin}/app?gateway=${encodeURIComponent(`http://${gw.address}`)}${query}`;
  return { browser, app, origin, sinkPath };
}

async function openApp(context, url) {
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.goto(url, { timeout: 30_000 });
  await page.waitForFunction(() => window.__ready === true, null, { timeout: 30_000 });
  return { page, pageErrors };
}

/** A fresh page of the origin: resumes the IndexedDB queue, flushes, reports. */
async function resume(context, app) {
  const { page, pageErrors } = await openApp(context, app());
  const r = await page.evaluate(() => window.__resume());
  await page.close();
  assert.deepEqual(pageErrors, []);
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.persistence, "indexeddb");
  assert.equal(r.leftInIndexedDb, 0, "IndexedDB is empty once everything was acknowledged");
  return r;
}

function check(name, sinkPath, tracked, extra) {
  const byId = new Map(tracked.map((x) => [x.ctx.id, { input: x.input, ctx: x.ctx }]));
  const { lines } = readSink(sinkPath);
  const report = checkSink(lines, byId, METADATA);
  console.log(`[durability chromium ${name}] ${report.events} events recorded, ${extra}, ${report.lines} sink lines, ${report.missing.length} missing, ${report.duplicates} duplicates`);
  assert.deepEqual(report.missing, []);
  return report;
}

const recordings = (n, tag) => Array.from({ length: n }, (_, i) => recordingFor(i, tag));

test("Chromium: events recorded just before navigating away arrive (keepalive on pagehide, the rest from IndexedDB on the next load)", { timeout: 120_000 }, async (t) => {
  const { browser, app, sinkPath } = await setup(t);
  const context = await browser.newContext();
  const { page } = await openApp(context, app("&stall=1"));
  // 600 events: more than one keepalive body (64 KiB) holds.
  await page.evaluate((recs) => {
    window.__record(recs);
    location.href = "/next";
  }, recordings(600, "navigate"));
  await page.waitForURL("**/next", { timeout: 30_000 });
  // What pagehide's keepalive fetch delivered, before any other page of the origin runs.
  await waitFor(() => readSink(sinkPath).lines.length > 0, { timeoutMs: 10_000, what: "the keepalive send" });
  await new Promise((r) => setTimeout(r, 500));
  const byKeepalive = readSink(sinkPath).lines.length;
  assert.ok(byKeepalive > 0 && byKeepalive < 600, `keepalive delivered ${byKeepalive} of 600`);
  const r = await resume(context, app);
  const report = check("navigate away", sinkPath, r.tracked, `${byKeepalive} sent by the keepalive fetch on pagehide, ${r.stats.resumed} resumed from IndexedDB by the next page load`);
  assert.equal(report.events, 600);
  assert.ok(r.stats.resumed >= 600 - byKeepalive);
  await context.close();
});

for (const how of ["crash", "close"]) {
  test(`Chromium: events recorded, then the page is ${how === "crash" ? "crashed (renderer killed)" : "closed"}; the next page load sends them`, { timeout: 120_000 }, async (t) => {
    const { browser, app, sinkPath } = await setup(t);
    const context = await browser.newContext();
    const { page } = await openApp(context, app("&stall=1"));
    // Accepted: every exportEvents promise resolved (the events are in IndexedDB).
    await page.evaluate((recs) => window.__record(recs), recordings(200, how));
    if (how === "crash") {
      // Kills the renderer processes (only this page is open): no handler runs.
      const crashed = page.waitForEvent("crash", { timeout: 10_000 });
      const cdp = await browser.newBrowserCDPSession();
      const { processInfo } = await cdp.send("SystemInfo.getProcessInfo");
      const renderers = processInfo.filter((p) => p.type === "renderer");
      assert.ok(renderers.length > 0);
      for (const r of renderers) process.kill(r.id, "SIGKILL");
      await crashed;
      await cdp.detach();
    } else {
      await page.close();
    }
    await new Promise((r) => setTimeout(r, 300));
    const before = readSink(sinkPath).lines.length;
    if (how === "crash") assert.equal(before, 0, "a crashed page sends nothing");
    const r = await resume(context, app);
    const report = check(how, sinkPath, r.tracked, `${before} on the sink before the next page load, ${r.stats.resumed} resumed from IndexedDB`);
    assert.equal(report.events, 200);
    if (how === "crash") assert.equal(r.stats.resumed, 200);
    await context.close();
  });
}

test("Chromium: events recorded, then the page reloads at once; the reloaded page sends the rest", { timeout: 120_000 }, async (t) => {
  const { browser, app, sinkPath } = await setup(t);
  const context = await browser.newContext();
  const { page, pageErrors } = await openApp(context, app());
  await page.evaluate((recs) => {
    sessionStorage.setItem("phase", "resume");
    window.__record(recs);
    location.reload();
  }, recordings(200, "reload"));
  await page.waitForFunction(() => window.__ready === true && sessionStorage.getItem("phase") === "resume", null, { timeout: 30_000 });
  const r = await page.evaluate(() => window.__resume());
  assert.deepEqual(pageErrors, []);
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.leftInIndexedDb, 0);
  const report = check("reload", sinkPath, r.tracked, `${r.stats.resumed} resumed from IndexedDB after the reload`);
  assert.equal(report.events, 200);
  await context.close();
});

test("Chromium: two tabs — a live tab's queued events are left alone, and claimed by the other once it closes", { timeout: 120_000 }, async (t) => {
  const { browser, app, sinkPath } = await setup(t);
  const context = await browser.newContext();
  // Tab A: its export calls never start, and it sends nothing when closed (flushOnHide off).
  const a = await openApp(context, app("&stall=1&hide=0"));
  await a.page.evaluate((recs) => window.__record(recs), recordings(150, "tabs"));
  // Tab B opens while A lives: it must not take A's events.
  const b = await openApp(context, app());
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await b.page.evaluate(() => window.__exporter.stats.resumed), 0, "a live tab's events were taken");
  assert.equal(readSink(sinkPath).lines.length, 0);
  // A closes: B claims A's leftovers (its Web Lock is released) and sends them.
  await a.page.close();
  await b.page.waitForFunction(() => window.__exporter.stats.resumed === 150, null, { timeout: 20_000 });
  const r = await b.page.evaluate(() => window.__resume());
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.leftInIndexedDb, 0);
  const report = check("two tabs", sinkPath, r.tracked, `${r.stats.resumed} claimed by the other tab once the first closed`);
  assert.equal(report.events, 150);
  assert.equal(report.duplicates, 0);
  await context.close();
});
