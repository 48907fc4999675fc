#!/usr/bin/env node
// What each part of the WASM modules costs (for BENCHMARKS.md; not run in CI). For the full and
// the client build: the shipped size (wasm-opt, gzipped, as `npm run size` measures it), and the
// code and data of the cargo output (before wasm-opt, which keeps function names) grouped by the
// crate/module each function comes from, using `twiggy` (`cargo install twiggy`).
//
// Usage: node scripts/size-breakdown.mjs   (after `npm run build`; needs twiggy on PATH)
import { execFileSync } from "node:child_process";
import { wasmCargoEnv } from "./cargo-env.mjs";
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repo = resolve(pkgDir, "..");
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(repo, "target");
const scratch = mkdtempSync(join(tmpdir(), "tg-size-"));

/** The group a function belongs to: a core module, or a dependency (by crate, a few split). */
function group(name) {
  const n = name.replace(/^</, "").replace(/\[[0-9a-f]+\]/g, "");
  const rules = [
    [/^telemetry_core::json::read/, "core json::read (the JSON reader)"],
    [/^telemetry_core::json::parse/, "core json::parse (proto3 JSON readers)"],
    [/^telemetry_core::json::write/, "core json::write (Go-identical writer)"],
    [/^telemetry_core::json::time/, "core json::time"],
    [/^telemetry_core::record/, "core record (recordings, contexts)"],
    [/^telemetry_core::ffi::batch/, "core ffi::batch (batch path)"],
    [/^telemetry_core::ffi::conformance/, "core ffi::conformance"],
    [/^telemetry_core::ffi/, "core ffi (entry points, inputs)"],
    [/^telemetry_core::(translate|ingest)/, "core translate + ingest"],
    [/^telemetry_core::policy/, "core policy (redaction)"],
    [/^telemetry_core::(validate|export)/, "core validate + export rules"],
    [/^telemetry_core::proto|^prost_types|^prost::/, "prost (protobuf encode/decode)"],
    [/^telemetry_core_wasm/, "wasm bindings"],
    [/^alloc::collections::btree|BTreeMap/, "BTreeMap (maps, Struct fields)"],
    [/^core::num::(flt2dec|dec2flt)|^ryu|^zmij|^f64 as|^minimal_lexical|^telemetry_core::json::float|libm_math/, "float parsing and formatting (core or minimal-lexical, ryu)"],
    [/^core::fmt|^alloc::fmt|Display|Debug/, "fmt (messages)"],
    [/^dlmalloc|^talc|^__rustc|__rdl/, "allocator (talc)"],
    [/^wasm_bindgen|^js_sys|^__wbindgen|^__wbg/, "wasm-bindgen runtime"],
  ];
  for (const [re, g] of rules) if (re.test(n)) return g;
  if (/^(core|alloc|std)::/.test(n)) return "std (other)";
  return "other";
}

function variant(name, profile, cargo) {
  execFileSync("cargo", ["build", "--target", "wasm32-unknown-unknown", "--profile", profile, "-p", "telemetry-core-wasm", ...cargo], {
    cwd: repo,
    stdio: ["ignore", "ignore", "inherit"],
    env: wasmCargoEnv(targetDir),
  });
  const raw = join(scratch, `${name}.wasm`);
  copyFileSync(join(targetDir, "wasm32-unknown-unknown", profile, "telemetry_core_wasm.wasm"), raw);
  const csv = execFileSync("twiggy", ["top", "-n", "1000000", "-f", "csv", raw], { encoding: "utf8", maxBuffer: 1 << 28 });
  const totals = new Map();
  let all = 0;
  for (const line of csv.split("\n").slice(1)) {
    if (!line) continue;
    // Name,ShallowSize,ShallowSizePercent,RetainedSize,RetainedSizePercent (names may hold commas, quoted)
    const m = line.match(/^("(?:[^"]|"")*"|[^,]*),(\d+),/);
    if (!m) continue;
    const itemName = m[1].replace(/^"|"$/g, "").replace(/""/g, '"');
    const size = Number(m[2]);
    if (/function names|custom section|producers|target_features/.test(itemName)) continue;
    const g = /^data segment/.test(itemName) ? "data (strings, float tables, …)" : group(itemName);
    totals.set(g, (totals.get(g) || 0) + size);
    all += size;
  }
  const shipped = readFileSync(join(pkgDir, "dist", `${name}_bg.wasm`));
  return { name, shipped: shipped.length, gz: gzipSync(shipped, { level: 9 }).length, all, totals };
}

const builds = [variant("core", "wasm-release-fast", []), variant("client", "wasm-release", ["--no-default-features"])];
console.log(`shipped (after wasm-opt): ${builds.map((b) => `${b.name}_bg.wasm ${b.shipped} bytes, ${b.gz} gzipped`).join("; ")}`);
const groups = [...new Set(builds.flatMap((b) => [...b.totals.keys()]))].sort((a, b) => (builds[0].totals.get(b) || 0) - (builds[0].totals.get(a) || 0));
console.log("\ncode and data before wasm-opt, bytes (share):");
console.log(`| part | ${builds.map((b) => `${b.name} build`).join(" | ")} |`);
console.log(`|---|${builds.map(() => "---:").join("|")}|`);
for (const g of groups) {
  console.log(`| ${g} | ${builds.map((b) => `${(b.totals.get(g) || 0).toLocaleString("en-US")} (${(((b.totals.get(g) || 0) * 100) / b.all).toFixed(1)}%)`).join(" | ")} |`);
}
console.log(`| total | ${builds.map((b) => b.all.toLocaleString("en-US")).join(" | ")} |`);
