// The event inspector page in headless Chromium (Debian `chromium`, driven by playwright-core),
// against the real telemetry-gateway binary ($TELEMETRY_GATEWAY_BIN; scripts/test-inspector-browser
// builds it). The page is opened first; then valid, invalid and oversized events are sent over
// gRPC (@grpc/grpc-js with the repository's proto) and must appear live; the test filters, opens
// a rejected event and checks its reason, opens a published one and checks its attributes, and
// saves a screenshot to artifacts/inspector.png (gitignored). 127.0.0.1 only; bounded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, "..", "..", "..");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARTIFACTS = join(HERE, "artifacts");
const BAD_FEATURE_ERROR =
  "invalid event 'feature' or 'action': 'feature' must start with a lowercase letter and contain only letters, dashes, and dots";

/** Waits for `promise` at most `ms`, then runs `onTimeout` (cleanup never hangs the suite). */
async function bounded(promise, ms, onTimeout) {
  let timer;
  const late = new Promise((ok) => {
    timer = setTimeout(() => {
      onTimeout();
      ok();
    }, ms);
  });
  await Promise.race([promise.catch(() => {}), late]);
  clearTimeout(timer);
}

/** Starts the gateway; resolves with its gRPC and diagnostics addresses once it logged them. */
function startGateway(dir, timeoutMs = 30_000) {
  const bin = process.env.TELEMETRY_GATEWAY_BIN;
  if (!bin || !existsSync(bin)) throw new Error(`TELEMETRY_GATEWAY_BIN must name the telemetry-gateway binary (got ${bin})`);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TELEMETRY_GATEWAY_")));
  const child = spawn(
    bin,
    ["serve", "--listen", "127.0.0.1:0", "--diagnostics-listen", "127.0.0.1:0", "--sink", `file:${join(dir, "events.ndjson")}`, "--log-format", "json"],
    { env, stdio: ["ignore", "ignore", "pipe"] },
  );
  process.on("exit", () => child.kill("SIGKILL"));
  const log = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gateway did not start within ${timeoutMs} ms:\n${log.join("\n")}`));
    }, timeoutMs);
    child.on("exit", (code) => reject(new Error(`gateway exited (${code}):\n${log.join("\n")}`)));
    createInterface({ input: child.stderr }).on("line", (line) => {
      log.push(line);
      let fields;
      try {
        fields = JSON.parse(line).fields || {};
      } catch {
        return;
      }
      if (fields.listen && fields.inspector) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        const exited = new Promise((ok) => child.on("exit", ok));
        resolve({
          listen: fields.listen,
          inspector: fields.inspector,
          stop: async () => {
            if (child.exitCode === null) child.kill("SIGTERM");
            const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
            await exited;
            clearTimeout(t);
          },
        });
      }
    });
  });
}

function client(address) {
  const definition = protoLoader.loadSync(join(REPO, "proto", "telemetrygateway", "v1", "telemetrygateway.proto"), {
    keepCase: true,
    longs: String,
    includeDirs: [join(REPO, "proto")],
  });
  const pkg = grpc.loadPackageDefinition(definition);
  // (keepCase keeps the proto's field names; the google.protobuf types come from protobufjs's
  // built-in definitions, whose field names are camelCase: `stringValue`.)
  return new pkg.telemetrygateway.v1.TelemeteryGatewayService(address, grpc.credentials.createInsecure(), {
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  });
}

/** One RecordEvents stream: metadata, one payload, close; resolves with the acknowledged ids. */
function recordEvents(stub, events) {
  return new Promise((resolve, reject) => {
    const acked = [];
    const call = stub.RecordEvents({ deadline: Date.now() + 60_000 });
    call.on("data", (r) => acked.push(...r.succeeded_events));
    call.on("error", reject);
    call.on("end", () => resolve(acked));
    call.write({
      metadata: {
        request_id: "browser-test",
        identifier: { unlicensed_instance: { instance_id: "browser-instance" } },
      },
    });
    call.write({ events: { events } });
    call.end();
  });
}

function event(id, feature, action, extra = {}) {
  return {
    id,
    feature,
    action,
    timestamp: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 },
    source: { server: { version: "5.5.0" } },
    parameters: { version: 1, metadata: { count: 3 }, ...extra },
  };
}

test("the inspector page shows events live, filters, and explains a rejection", { timeout: 180_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/setup installs Debian's chromium)`);
  const dir = mkdtempSync(join(tmpdir(), "tg-inspector-browser-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gw = await startGateway(dir);
  t.after(() => gw.stop());
  const stub = client(gw.listen);
  t.after(() => stub.close());
  const origin = new URL(gw.inspector).origin;

  // A fresh profile each run (playwright's launch makes a temporary --user-data-dir).
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
  t.after(() => bounded(browser.close(), 10_000, () => browser.process()?.kill("SIGKILL")));
  const context = await browser.newContext({ viewport: { width: 1500, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  const foreign = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(origin + "/")) foreign.push(r.url());
  });

  await page.goto(gw.inspector, { timeout: 30_000 });
  await page.locator("#status.live").waitFor({ timeout: 15_000 });
  assert.equal(await page.locator("#events tbody tr").count(), 0);

  // Sent after the page opened: they must arrive live.
  const acked = await recordEvents(stub, [
    event("ok-1", "inspector.demo", "viewed"),
    event("ok-2", "inspector.demo", "clicked"),
    event("bad-1", "Bad.Feature", "viewed"),
    event("big-1", "inspector.upload", "sent", { private_metadata: { fields: { blob: { stringValue: "x".repeat(10_000_001) } } } }),
    event("ok-3", "search", "submitted"),
  ]);
  assert.deepEqual(acked.sort(), ["bad-1", "big-1", "ok-1", "ok-2", "ok-3"]);

  const rows = page.locator("#events tbody tr");
  await page.waitForFunction(() => document.querySelectorAll("#events tbody tr").length === 5, null, { timeout: 15_000 });
  const table = await rows.evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const byId = Object.fromEntries(table.map((cells) => [cells[4], cells]));
  assert.deepEqual(Object.keys(byId).sort(), ["bad-1", "big-1", "ok-1", "ok-2", "ok-3"]);
  assert.equal(byId["bad-1"][1], "rejected");
  assert.equal(byId["bad-1"][5], "invalid_feature_or_action");
  assert.equal(byId["big-1"][1], "dropped oversized", JSON.stringify(byId["big-1"]));
  assert.equal(byId["ok-1"][1], "published");
  assert.deepEqual(byId["ok-1"].slice(2, 4), ["inspector.demo", "viewed"]);
  assert.equal(byId["ok-1"][6], "unlicensed_instance");
  assert.equal(byId["ok-1"][7], "browser-instance");

  // Counts per outcome and the events/s chart (stats arrive every second).
  await page.waitForFunction(() => document.getElementById("count-published").textContent === "3", null, { timeout: 10_000 });
  assert.equal(await page.textContent("#count-rejected"), "1");
  assert.equal(await page.textContent("#count-dropped_oversized"), "1");
  assert.equal(await page.textContent("#count-publish_failed"), "0");
  await page.waitForFunction(() => Number(document.getElementById("chart").dataset.events) === 5, null, { timeout: 10_000 });

  // Filter by outcome: only the rejected event.
  await page.selectOption("select[name=outcome]", "rejected");
  await page.waitForFunction(
    () => {
      const trs = [...document.querySelectorAll("#events tbody tr")];
      return trs.length === 1 && trs[0].dataset.outcome === "rejected";
    },
    null,
    { timeout: 10_000 },
  );

  // Open it: the decoded event as JSON, the exact reason, highlighted.
  await rows.first().click();
  const reason = page.locator("#detail-reason");
  await reason.waitFor({ state: "visible", timeout: 10_000 });
  assert.equal(await reason.textContent(), `invalid_feature_or_action: ${BAD_FEATURE_ERROR}`);
  const look = await reason.evaluate((el) => {
    const s = getComputedStyle(el);
    return { border: s.borderTopColor, width: s.borderTopWidth };
  });
  assert.equal(look.border, "rgb(207, 34, 46)");
  assert.equal(look.width, "2px");
  const rejected = JSON.parse(await page.textContent("#detail-event"));
  assert.equal(rejected.id, "bad-1");
  assert.equal(rejected.feature, "Bad.Feature");
  assert.deepEqual(rejected.parameters.metadata, { count: 3 });
  assert.equal(JSON.parse(await page.textContent("#detail-metadata")).identifier.unlicensedInstance.instanceId, "browser-instance");

  // Filter by feature prefix (outcome back to any): the two published inspector.demo events.
  await page.selectOption("select[name=outcome]", "");
  await page.fill("input[name=feature]", "inspector.d*");
  await page.press("input[name=feature]", "Enter");
  await page.waitForFunction(
    () => {
      const ids = [...document.querySelectorAll("#events tbody tr")].map((tr) => tr.cells[4].textContent).sort();
      return ids.join(",") === "ok-1,ok-2";
    },
    null,
    { timeout: 10_000 },
  );

  // Text search in the body.
  await page.fill("input[name=feature]", "");
  await page.fill("input[name=q]", '"action":"clicked"');
  await page.press("input[name=q]", "Enter");
  await page.waitForFunction(
    () => {
      const ids = [...document.querySelectorAll("#events tbody tr")].map((tr) => tr.cells[4].textContent);
      return ids.join(",") === "ok-2";
    },
    null,
    { timeout: 10_000 },
  );

  // Open a published event: readable JSON next to its attributes; no rejection box.
  await rows.first().click();
  await page.waitForFunction(() => document.getElementById("detail").dataset.outcome === "published", null, { timeout: 10_000 });
  assert.equal(await reason.isVisible(), false);
  const published = JSON.parse(await page.textContent("#detail-event"));
  assert.equal(published.id, "ok-2");
  const attributes = Object.fromEntries(
    await page.locator("#detail-attributes tbody tr").evaluateAll((trs) => trs.map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent])),
  );
  assert.equal(attributes["event.feature"], "inspector.demo");
  assert.equal(attributes["event.action"], "clicked");
  assert.equal(attributes["publisher.source"], "unlicensed_instance");

  // Still live under a filter: a new matching event appears without a reload.
  await page.click("#clear");
  await page.waitForFunction(() => document.querySelectorAll("#events tbody tr").length === 5, null, { timeout: 10_000 });
  await recordEvents(stub, [event("late-1", "inspector.demo", "viewed")]);
  await page.waitForFunction(() => document.querySelector("#events tbody tr").cells[4].textContent === "late-1", null, { timeout: 10_000 });

  // The screenshot artefact: every outcome in the table, the rejected event open.
  await page.locator("#events tbody tr", { hasText: "bad-1" }).click();
  await reason.waitFor({ state: "visible", timeout: 10_000 });
  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, "inspector.png");
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(existsSync(shot));
  console.log(`# screenshot: ${shot}`);

  assert.deepEqual(foreign, [], "the page loads nothing from another origin");
  assert.deepEqual([...problems], []);
});
