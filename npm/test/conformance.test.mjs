// The conformance corpus in Node, against the built WASM module.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as api from "@telemetry-gateway/core";
import { closingLine, corpusDirs, run } from "../scripts/conformance.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const corpus = resolve(here, "..", "..", "tests", "conformance");
const runner = resolve(here, "..", "scripts", "conformance.mjs");

test("the whole corpus passes in WASM", () => {
  const summary = run([corpus]);
  for (const f of summary.failures) console.log(f);
  console.log(`wasm conformance: ${closingLine(summary)}`);
  assert.equal(summary.failed, 0);
  assert.ok(summary.passed >= 389, `only ${summary.passed} cases ran`);
});

test("npm run conformance: closing line, TELEMETRY_CONFORMANCE_DIR, exit codes", () => {
  const extra = mkdtempSync(join(tmpdir(), "tg-conformance-"));
  mkdirSync(join(extra, "sub"));
  writeFileSync(
    join(extra, "sub", "a.json"),
    JSON.stringify({
      cases: [
        { name: "extra/ok", op: "validate", input: { event: { id: "1", feature: "a.b", action: "cd", timestamp: "2024-01-01T00:00:00Z" } }, expect: { ok: true } },
        { name: "extra/gateway-only", op: "validate", input: { event: {} }, expect: { ok: true }, targets: ["gateway"] },
      ],
    }),
  );
  // One passing extra directory: corpus + 1 passed, 1 skipped.
  let r = spawnSync(process.execPath, [runner], { env: { ...process.env, TELEMETRY_CONFORMANCE_DIR: extra }, encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(lines.at(-1), /^\d+ passed, 0 failed, 1 skipped$/);

  // Failures: a wrong expectation, an unknown op, a malformed file, a duplicate name.
  const bad = mkdtempSync(join(tmpdir(), "tg-conformance-bad-"));
  writeFileSync(
    join(bad, "b.json"),
    JSON.stringify({
      cases: [
        { name: "bad/wrong", op: "validate", input: { event: {} }, expect: { ok: true } },
        { name: "bad/op", op: "frobnicate", input: {}, expect: {} },
        { name: "bad/wrong", op: "validate", input: { event: {} }, expect: { error: "event ID is required" } },
        { name: "bad/no-input", op: "validate", expect: {} },
      ],
    }),
  );
  writeFileSync(join(bad, "c.json"), "{ not json");
  r = spawnSync(process.execPath, [runner, bad], { encoding: "utf8" });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /FAIL .*b\.json bad\/wrong/);
  assert.match(r.stdout, /ERROR .*b\.json bad\/op: unknown op "frobnicate"/);
  assert.match(r.stdout, /duplicate case name "bad\/wrong"/);
  assert.match(r.stdout, /ERROR .*c\.json: /);
  assert.equal(r.stdout.trim().split("\n").at(-1), "0 passed, 5 failed");

  // No case ran: failure.
  const empty = mkdtempSync(join(tmpdir(), "tg-conformance-empty-"));
  r = spawnSync(process.execPath, [runner, empty], { encoding: "utf8" });
  assert.equal(r.status, 1);
  assert.equal(r.stdout.trim(), "0 passed, 0 failed");
  assert.deepEqual(corpusDirs(["x"], { TELEMETRY_CONFORMANCE_DIR: "a::b" }), ["x", "a", "b"]);
});

// The same corpus through the public functions (objects in, objects out). Inputs are JSON.parse'd
// here, so the few cases whose input JSON.parse cannot represent (-0, doubles beyond 2^53) or that
// pass a non-object string (a string argument is JSON text by contract) are left out.
const NOT_REPRESENTABLE_AS_JS_OBJECTS = new Set([
  "record/hostile-event-not-object",
  "translate/double-neg-zero",
  "translate/hostile-metadata-not-object",
  "translate/struct-numbers",
  "validate/hostile-event-string",
]);

function* cases(dir) {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* cases(path);
    else if (entry.endsWith(".json")) yield* JSON.parse(readFileSync(path, "utf8")).cases;
  }
}

test("the public functions answer every corpus case", () => {
  let checked = 0;
  for (const c of cases(corpus)) {
    if ((c.targets && !c.targets.includes("wasm")) || NOT_REPRESENTABLE_AS_JS_OBJECTS.has(c.name)) continue;
    const i = c.input;
    let answer;
    switch (c.op) {
      case "validate": answer = api.validate(i.event); break;
      case "redact": answer = api.redact(i.event, i.policy); break;
      case "translate": answer = api.translate(i.metadata, i.event, { maxMessageBytes: i.maxMessageBytes }); break;
      case "ingest": answer = api.ingest(i.metadata, i.events, { rpc: i.rpc, maxMessageBytes: i.maxMessageBytes }); break;
      case "record": answer = api.record(i.event, i.context); break;
    }
    if (answer.data) {
      assert.deepEqual(answer.data, new TextEncoder().encode(answer.payload));
      delete answer.data;
    }
    assert.ok(api.conformance.answerMatches(c.expect, answer), `${c.name}: ${JSON.stringify(answer)}`);
    checked++;
  }
  assert.ok(checked >= 380, `checked ${checked}`);
});
