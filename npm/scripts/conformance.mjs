#!/usr/bin/env node
// npm run conformance -- [DIR ...]
//
// Runs the conformance corpus against the built WASM module, in Node: every *.json file below
// each DIR (default: the repository's tests/conformance), plus every directory named in
// TELEMETRY_CONFORMANCE_DIR (':'-separated), recursively, in sorted path order. Each case is
// checked for the target "wasm" inside the module by the core's own rules (the same code the
// native runner uses), so results are the native ones. Prints one block per failing case and
// the closing line `N passed, N failed`; exits non-zero if any case failed or none ran.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { conformance } from "@telemetry-gateway/core";

const here = dirname(fileURLToPath(import.meta.url));
const defaultDir = resolve(here, "..", "..", "tests", "conformance");

export function corpusDirs(explicit, env = process.env) {
  const dirs = explicit.length > 0 ? [...explicit] : [defaultDir];
  for (const d of (env.TELEMETRY_CONFORMANCE_DIR || "").split(":")) {
    if (d) dirs.push(d);
  }
  return dirs;
}

function jsonFiles(dir, out) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) jsonFiles(path, out);
    else if (entry.endsWith(".json")) out.push(path);
  }
}

// Sorted by path bytes, as the native runner (Rust PathBuf ordering of ASCII paths).
const byPath = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export function run(dirs, target = "wasm") {
  const summary = { passed: 0, failed: 0, skipped: 0, failures: [] };
  const seen = [];
  for (const dir of dirs) {
    const files = [];
    try {
      jsonFiles(dir, files);
    } catch (e) {
      summary.failed += 1;
      summary.failures.push(`ERROR ${dir}: cannot read: ${e.message}`);
      continue;
    }
    files.sort(byPath);
    for (const file of files) {
      let text;
      try {
        text = readFileSync(file, "utf8");
      } catch (e) {
        summary.failed += 1;
        summary.failures.push(`ERROR ${file}: ${e.message}`);
        continue;
      }
      for (const result of conformance.checkFile(file, text, target, seen)) {
        if (result.name !== null) seen.push(result.name);
        if (result.status === "passed") summary.passed += 1;
        else if (result.status === "skipped") summary.skipped += 1;
        else {
          summary.failed += 1;
          summary.failures.push(result.message ?? `FAIL ${file} ${result.name}`);
        }
      }
    }
  }
  return summary;
}

export function closingLine(s) {
  return s.skipped > 0
    ? `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`
    : `${s.passed} passed, ${s.failed} failed`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.includes("-h") || args.includes("--help")) {
    console.log(
      "usage: npm run conformance -- [DIR ...]\n\nRuns every *.json conformance case below each DIR (default: " +
        "the repository's tests/conformance) and below every directory in TELEMETRY_CONFORMANCE_DIR " +
        "(':'-separated) against the WASM build, in Node. Exits non-zero if any case fails or none ran.",
    );
    process.exit(0);
  }
  const summary = run(corpusDirs(args));
  for (const f of summary.failures) console.log(f);
  console.log(closingLine(summary));
  process.exit(summary.failed === 0 && summary.passed > 0 ? 0 : 1);
}
