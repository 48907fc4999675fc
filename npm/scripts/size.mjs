#!/usr/bin/env node
// npm run size: the shipped module's size, gzipped (level 9), against the budget of 150 KiB.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const BUDGET = 150 * 1024;
const file = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "core_bg.wasm");
const raw = readFileSync(file);
const gz = gzipSync(raw, { level: 9 }).length;
const verdict = gz <= BUDGET ? "within" : "OVER";
console.log(
  `core_bg.wasm: ${raw.length} bytes, ${gz} bytes gzipped (${(gz / 1024).toFixed(1)} KiB; ${verdict} the budget of ${BUDGET} bytes)`,
);
process.exit(gz <= BUDGET ? 0 : 1);
