// Browser: headless Chromium (Debian `chromium`, driven by playwright-core) loads the packed
// package's browser entries — the full one and the slim client one — from a page served on
// 127.0.0.1, initialises each with init() (fetch) and with initSync(bytes), and runs a
// representative subset of the conformance corpus (the first cases of every corpus file, checked
// inside WASM by the core's rules; for the client entry, the cases of its ops) plus the public
// functions, the batch path and the trap recovery. A second page drives the IndexedDB queue store
// through its failure paths.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, normalize, resolve } from "node:path";
import { chromium } from "playwright-core";
import { pack, pkgDir } from "../package/pack.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const CASES_PER_FILE = 4;
const corpus = resolve(pkgDir, "..", "tests", "conformance");

function corpusSubset() {
  const out = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir).sort()) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith(".json")) {
        const doc = JSON.parse(readFileSync(p, "utf8"));
        // Re-serialised per case; cases whose numbers JSON.parse cannot hold exactly are skipped.
        for (const c of doc.cases.slice(0, CASES_PER_FILE)) {
          const text = JSON.stringify(c);
          if (/-0[,}\]]|\d{16,}/.test(text)) continue;
          out.push({ file: p.slice(corpus.length + 1), text: JSON.stringify({ cases: [c] }) });
        }
      }
    }
  };
  walk(corpus);
  return out;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>telemetry core</title>
<script type="module">
const params = new URLSearchParams(location.search);
const mode = params.get("mode");
const entry = params.get("entry");
const core = await import(entry === "client" ? "/pkg/dist/client.js" : "/pkg/dist/web.js");
const wasmFile = entry === "client" ? "/pkg/dist/client_bg.wasm" : "/pkg/dist/core_bg.wasm";
const result = { mode, entry };
try {
  try { core.validate({}); } catch (e) { result.beforeInit = e.message; }
  if (mode === "sync") {
    const bytes = new Uint8Array(await (await fetch(wasmFile)).arrayBuffer());
    core.initSync(bytes);
  } else {
    await core.init();
  }
  const files = await (await fetch("/cases.json")).json();
  let passed = 0, failed = 0, seen = [];
  const failures = [];
  if (entry === "client") {
    // The slim module has no conformance comparison: its answers to the cases of its ops are
    // compared by the full module's rules.
    const full = await import("/pkg/dist/web.js");
    await full.init();
    result.translate = typeof core.translate;
    for (const f of files) {
      for (const c of JSON.parse(f.text).cases) {
        if (!["validate", "redact", "record"].includes(c.op)) continue;
        if (c.targets && !c.targets.includes("wasm")) continue;
        let answer;
        try { answer = core.runOp(c.op, c.input); } catch (e) { answer = { error: e.message }; }
        if (full.conformance.answerMatches(c.expect, answer)) passed++;
        else { failed++; failures.push(c.name + ": " + JSON.stringify(answer).slice(0, 300)); }
      }
    }
  } else {
    for (const f of files) {
      for (const r of core.conformance.checkFile(f.file, f.text, "wasm", seen)) {
        if (r.name) seen.push(r.name);
        if (r.status === "passed") passed++;
        else if (r.status === "failed") { failed++; failures.push(r.message); }
      }
    }
  }
  result.corpus = { passed, failed, failures };
  const event = { id: "1", feature: "a.b", action: "cd", timestamp: "2024-01-01T00:00:00Z" };
  result.validate = core.validate(event);
  const rec = core.record({ feature: "a.b", action: "cd", source: { client: "web" }, parameters: { version: 0 } },
    { serverVersion: "5.5.0", user: { userId: 9007199254740993n } });
  result.record = { id: rec.event.id, userId: rec.event.user.userId, timestamp: rec.event.timestamp };
  const batch = core.recordBatch([{ feature: "a.b", action: "cd", source: { client: "web" }, parameters: { version: 0 } }], { context: { serverVersion: "5.5.0" } });
  // Decoding requests, the gateway's side of the wire, is in the full build only.
  result.gatewayCodecs = typeof core.decodeRecordEventsRequest;
  const gateway = entry === "client" ? await import("/pkg/dist/web.js") : core;
  result.batch = gateway.decodeRecordEventsRequest(core.eventsRequests([batch[0].bytes])[0]).events.events.map((e) => e.feature);
  result.roundTrip = core.decodeRecordEventsResponse(core.encodeRecordEventsResponse({ succeededEvents: ["x"] }));
  try { core.__trapForTests(); } catch (e) { result.trap = e.name; }
  result.afterTrap = core.validate(event);
  try { new core.ValidationProcessor().processEvent({ feature: "X", action: "cd", source: { client: "c" }, parameters: { version: 0 } }); }
  catch (e) { result.processor = e.name + ": " + e.message; }
} catch (e) {
  result.error = String(e && e.stack || e);
}
window.__result = result;
</script>`;

// The IndexedDB queue store's failure paths, each answered with a clear error (never a bare
// TypeError, never swallowed).
const STORE_PAGE = `<!doctype html><meta charset="utf-8"><title>queue store</title>
<script type="module">
const core = await import("/pkg/dist/web.js");
await core.init();
const result = {};
const newId = () => core.uuidV7();
const bytes = new Uint8Array([1, 2, 3]);
const failure = (e) => e.name + ": " + e.message;
try {
  // A write to a store that is not open (never opened, or closed).
  const never = new core.IndexedDbQueueStore({ name: "never", newId });
  result.neverOpened = await never.add([{ id: "a", bytes }]).then(() => "resolved", failure);
  const closed = new core.IndexedDbQueueStore({ name: "closed", newId });
  await closed.open(() => {});
  await closed.add([{ id: "a", bytes }]);
  await closed.close();
  result.addAfterClose = await closed.add([{ id: "b", bytes }]).then(() => "resolved", failure);
  result.removeAfterClose = await closed.remove(["a"]).then(() => "resolved", failure);

  // The store's write transaction aborted by the page (abort() called on it), and failing (a
  // request error: the page turns the store's put into an add of a key already stored).
  const put = IDBObjectStore.prototype.put;
  const store = new core.IndexedDbQueueStore({ name: "aborted", newId });
  await store.open(() => {});
  await store.add([{ id: "kept", bytes }]);
  IDBObjectStore.prototype.put = function (value) {
    IDBObjectStore.prototype.put = put;
    const req = put.call(this, value);
    this.transaction.abort();
    return req;
  };
  result.abortedByPage = await store.add([{ id: "x", bytes }]).then(() => "resolved", failure);
  IDBObjectStore.prototype.put = function (value) {
    IDBObjectStore.prototype.put = put;
    return this.add({ ...value, id: "kept" });
  };
  result.failedWrite = await store.add([{ id: "y", bytes }]).then(() => "resolved", failure);
  IDBObjectStore.prototype.put = put;
  await store.close();

  // Claiming a closed tab's leftovers fails in the background (here: a newer version of the
  // database was opened meanwhile, which closes this page's connections): reported as
  // store_failed, and the leftovers stay for a later page load.
  const left = new core.IndexedDbQueueStore({ name: "claim", newId });
  await left.open(() => {});
  await left.add([{ id: "l1", bytes }, { id: "l2", bytes }, { id: "l3", bytes }]);
  const reported = [];
  const exporter = new core.GatewayExporter({
    transport: { recordEvents: async () => {} },
    metadata: { identifier: { unlicensedInstance: { instanceId: "store-page" } } },
    context: { serverVersion: "5.5.0" },
    persist: new core.IndexedDbQueueStore({ name: "claim", newId }),
    onError: (e) => reported.push(e.code + ": " + e.message),
  });
  await exporter.ready;
  result.claimWaits = { resumed: exporter.stats.resumed, reported: reported.length };
  const openDb = (version) =>
    new Promise((ok, no) => {
      const r = indexedDB.open("telemetry-gateway-exporter:claim", version);
      r.onsuccess = () => ok(r.result);
      r.onerror = () => no(r.error);
      r.onblocked = () => no(new Error("blocked"));
    });
  (await openDb(2)).close();
  // The first page goes away: its lock is free, the exporter's store tries to claim its events.
  await left.close();
  for (let i = 0; i < 100 && reported.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  result.claimFailed = { reported, storeFailures: exporter.stats.storeFailures, resumed: exporter.stats.resumed };
  await exporter.close({ timeoutMs: 1000 });
  const db = await openDb(2);
  result.leftovers = await new Promise((ok) => {
    const r = db.transaction("events").objectStore("events").getAllKeys();
    r.onsuccess = () => ok(r.result);
  });
  db.close();
  // close() ending that wait is not a failure.
  const live = new core.IndexedDbQueueStore({ name: "wait", newId });
  await live.open(() => {});
  await live.add([{ id: "w", bytes }]);
  const waiting = new core.IndexedDbQueueStore({ name: "wait", newId });
  const heard = [];
  await waiting.open((events) => heard.push("adopted " + events.length), (e) => heard.push(failure(e)));
  await waiting.close();
  await live.close();
  await new Promise((r) => setTimeout(r, 200));
  result.closedWhileWaiting = heard;
} catch (e) {
  result.error = String(e && e.stack || e);
}
window.__result = result;
</script>`;

const TYPES = { ".js": "text/javascript", ".cjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

function serve(root, cases) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
    } else if (url.pathname === "/store") {
      res.writeHead(200, { "content-type": "text/html" }).end(STORE_PAGE);
    } else if (url.pathname === "/cases.json") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(cases));
    } else if (url.pathname.startsWith("/pkg/")) {
      const path = normalize(join(root, url.pathname.slice(5)));
      if (!path.startsWith(root) || !existsSync(path)) return res.writeHead(404).end();
      res.writeHead(200, { "content-type": TYPES[extname(path)] || "application/octet-stream" }).end(readFileSync(path));
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

let packed;
/** The packed package (packed once for this file's tests). */
const packedOnce = () => (packed ??= pack());

function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

test("the packed browser entry runs in headless Chromium", { timeout: 120_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/setup installs Debian's chromium)`);
  const { extracted } = packedOnce();
  const cases = corpusSubset();
  assert.ok(cases.length >= 80, `subset has ${cases.length} cases`);
  const server = await serve(extracted, cases);
  t.after(() => server.close());
  const browser = await launch();
  t.after(() => browser.close());
  const { port } = server.address();
  for (const entry of ["web", "client"]) {
    for (const mode of ["async", "sync"]) {
      const page = await browser.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`http://127.0.0.1:${port}/?mode=${mode}&entry=${entry}`, { timeout: 30_000 });
      await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60_000 });
      const r = await page.evaluate(() => window.__result);
      await page.close();
      assert.deepEqual(errors, []);
      assert.equal(r.error, undefined, r.error);
      console.log(`browser (${entry} entry, ${mode} init): ${r.corpus.passed} passed, ${r.corpus.failed} failed`);
      assert.deepEqual(r.corpus.failures, []);
      if (entry === "web") assert.equal(r.corpus.passed, cases.length);
      else {
        assert.ok(r.corpus.passed >= 30, `the client entry ran ${r.corpus.passed} cases`);
        assert.equal(r.translate, "undefined");
      }
      assert.equal(r.gatewayCodecs, entry === "web" ? "function" : "undefined");
      assert.match(r.beforeInit, /call init\(\) or initSync\(bytes\)/);
      assert.deepEqual(r.validate, { ok: true });
      assert.match(r.record.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
      assert.equal(r.record.userId, "9007199254740993");
      assert.ok(Math.abs(Date.parse(r.record.timestamp) - Date.now()) < 60_000);
      assert.deepEqual(r.batch, ["a.b"]);
      assert.deepEqual(r.roundTrip, { succeededEvents: ["x"] });
      assert.equal(r.trap, "TelemetryCoreTrap");
      assert.deepEqual(r.afterTrap, { ok: true });
      assert.match(r.processor, /^TelemetryEventValidationError: 'feature' must start/);
    }
  }
});

test("the IndexedDB queue store in headless Chromium: clear errors on its failure paths", { timeout: 60_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/setup installs Debian's chromium)`);
  const { extracted } = packedOnce();
  const server = await serve(extracted, []);
  t.after(() => server.close());
  const browser = await launch();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${server.address().port}/store`, { timeout: 30_000 });
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 30_000 });
  const r = await page.evaluate(() => window.__result);
  await page.close();
  assert.deepEqual(errors, []);
  assert.equal(r.error, undefined, r.error);
  // Not a TypeError on a null connection: the queue is named.
  assert.equal(r.neverOpened, "Error: IndexedDB queue telemetry-gateway-exporter:never is not open");
  assert.equal(r.addAfterClose, "Error: IndexedDB queue telemetry-gateway-exporter:closed is not open");
  assert.equal(r.removeAfterClose, "Error: IndexedDB queue telemetry-gateway-exporter:closed is not open");
  // What happened to the transaction, not only that it failed.
  assert.equal(r.abortedByPage, "Error: IndexedDB transaction on telemetry-gateway-exporter:aborted aborted without an error (abort() was called on it)");
  assert.match(r.failedWrite, /^Error: IndexedDB transaction on telemetry-gateway-exporter:aborted aborted: ConstraintError: \S/);
  assert.deepEqual(r.claimWaits, { resumed: 0, reported: 0 }, "a live page's events were claimed");
  assert.equal(r.claimFailed.reported.length, 1, "the failed claim was not reported");
  assert.match(
    r.claimFailed.reported[0],
    /^store_failed: queue store \(indexeddb\): claim failed: events left by page \S+ \(now closed\): InvalidStateError: .*closing.*; they stay in the store for a later load$/,
  );
  assert.deepEqual(r.claimFailed, { reported: r.claimFailed.reported, storeFailures: 1, resumed: 0 });
  assert.deepEqual(r.leftovers, ["l1", "l2", "l3"]);
  assert.deepEqual(r.closedWhileWaiting, []);
});
