#!/usr/bin/env node
// npm run size: each shipped module's size, gzipped (level 9), against its budget: the full
// build (core_bg.wasm) 150 KiB, the slim client build (client_bg.wasm) 64 KiB.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const BUDGETS = [
  ["core_bg.wasm", 150 * 1024, "full build: @telemetry-gateway/core"],
  ["client_bg.wasm", 64 * 1024, "client build: @telemetry-gateway/core/client"],
];
let ok = true;
for (const [name, budget, what] of BUDGETS) {
  const raw = readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "dist", name));
  const gz = gzipSync(raw, { level: 9 }).length;
  const within = gz <= budget;
  ok &&= within;
  console.log(
    `${name} (${what}): ${raw.length} bytes, ${gz} bytes gzipped (${(gz / 1024).toFixed(1)} KiB; ${within ? "within" : "OVER"} the budget of ${budget} bytes)`,
  );
}
process.exit(ok ? 0 : 1);
