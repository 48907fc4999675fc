#!/usr/bin/env node
// Builds the package into dist/:
//   1. cargo build of the `telemetry-core-wasm` crate for wasm32-unknown-unknown (profile
//      `wasm-release-fast` for the full module, `wasm-release` for the client one; honours
//      CARGO_TARGET_DIR, default: the workspace's target/),
//   2. wasm-bindgen (the exact pinned CLI) twice: `--target web` (ESM glue with init()/initSync(),
//      for browsers and bundlers) and `--target nodejs` (CommonJS glue for Node),
//   3. binaryen's wasm-opt (the npm package's, version pinned in package-lock.json) on the one
//      .wasm both glues share,
//   (steps 1-3 twice: the full module core_bg.wasm, and the slim client module client_bg.wasm
//   from --no-default-features),
//   4. the JS API layer (src/) copied, and converted to CommonJS for `require`.
//
// Options: --features objects  (adds the benchmark-only JS-object boundary; writes to
//          bench/build-objects/ instead of dist/);
//          --js-only  (development: redo only step 4 when dist/ holds both modules).
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { wasmCargoEnv } from "./cargo-env.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = resolve(here, "..");
const repo = resolve(pkgDir, "..");
const args = process.argv.slice(2);
const featureIndex = args.indexOf("--features");
const features = featureIndex >= 0 ? args[featureIndex + 1] : "";
const outDir = features ? join(pkgDir, "bench", `build-${features}`) : join(pkgDir, "dist");
const targetDir = process.env.CARGO_TARGET_DIR
  ? resolve(process.env.CARGO_TARGET_DIR)
  : join(repo, "target");
const WASM_BINDGEN_VERSION = "0.2.130";

function run(cmd, argv, opts = {}) {
  console.log(`[build] ${cmd} ${argv.join(" ")}`);
  execFileSync(cmd, argv, { stdio: "inherit", ...opts });
}

const bindgenVersion = execFileSync("wasm-bindgen", ["--version"], { encoding: "utf8" }).trim();
if (bindgenVersion !== `wasm-bindgen ${WASM_BINDGEN_VERSION}`) {
  throw new Error(
    `need wasm-bindgen ${WASM_BINDGEN_VERSION} (the crate's exact pin), found "${bindgenVersion}"; run scripts/setup`,
  );
}

// Two modules from one crate: the full build (cargo's default features: everything, including
// the gateway's translate/ingest and the conformance comparison) and the slim client build
// (--no-default-features: record, validate, redact, protobuf codecs, exporter rules). Each gets
// its own .wasm shared by a web and a Node glue.
// The full module is built for speed (cargo profile `wasm-release-fast`: opt-level 3, then
// `wasm-opt -O3`), the client one for size (`wasm-release`: opt-level "z", then `wasm-opt -Os`,
// which gzips 116 bytes smaller than `-Oz` here and runs the exporter path about 3% faster:
// BENCHMARKS.md); the root Cargo.toml says why.
const FULL_WASM_OPT = ["-O3"];
const CLIENT_WASM_OPT = ["-Os", "--converge"];
const variants = features
  ? [{ name: "core", profile: "wasm-release-fast", cargo: ["--features", features], wasmOpt: FULL_WASM_OPT }]
  : [
      { name: "core", profile: "wasm-release-fast", cargo: [], wasmOpt: FULL_WASM_OPT },
      // wasm-opt inlines a function into its only caller up to this size (in its units), not
      // without limit: the module is larger but gzips 3.2 KB smaller (BENCHMARKS.md).
      {
        name: "client",
        profile: "wasm-release",
        cargo: ["--no-default-features"],
        wasmOpt: [...CLIENT_WASM_OPT, "--one-caller-inline-max-function-size=20"],
      },
    ];
// --js-only (development): keep the modules and glue already in dist/, redo step 4.
const jsOnly = args.includes("--js-only") && variants.every(({ name }) => existsSync(join(outDir, `${name}_bg.wasm`)));
if (!jsOnly) rmSync(outDir, { recursive: true, force: true });
const sizes = [];
if (!jsOnly) for (const variant of variants) buildModule(variant);

function buildModule({ name, profile, cargo, wasmOpt: wasmOptFlags }) {
  // 1. cargo, with one of the root Cargo.toml's WASM profiles (LTO, one codegen unit, panic
  // abort; opt-level "z", or 3 throughout in `wasm-release-fast`; BENCHMARKS.md records the
  // size measurements).
  run(
    "cargo",
    ["build", "--target", "wasm32-unknown-unknown", "--profile", profile, "-p", "telemetry-core-wasm", ...cargo],
    { cwd: repo, env: wasmCargoEnv(targetDir) },
  );
  const rawWasm = join(targetDir, "wasm32-unknown-unknown", profile, "telemetry_core_wasm.wasm");

  // 2. wasm-bindgen, into a scratch folder. Same --out-name for both glues, so the module's
  // import namespace ("./<name>_bg.js") is the same and one .wasm serves both.
  const scratch = join(outDir, `.bindgen-${name}`);
  mkdirSync(scratch, { recursive: true });
  for (const target of ["web", "nodejs"]) {
    run("wasm-bindgen", [
      "--target",
      target,
      "--out-name",
      name,
      "--out-dir",
      join(scratch, target),
      "--no-typescript",
      "--experimental-reset-state-function",
      rawWasm,
    ]);
  }
  const webWasm = readFileSync(join(scratch, "web", `${name}_bg.wasm`));
  const nodeWasm = readFileSync(join(scratch, "nodejs", `${name}_bg.wasm`));
  if (!webWasm.equals(nodeWasm)) {
    throw new Error(`wasm-bindgen produced different ${name} modules for web and nodejs; cannot share one .wasm`);
  }

  // 3. wasm-opt. The features are those rustc enables by default for wasm32-unknown-unknown.
  const wasmOpt = join(pkgDir, "node_modules", ".bin", "wasm-opt");
  if (!existsSync(wasmOpt)) throw new Error(`missing ${wasmOpt}: run npm ci in npm/`);
  run(wasmOpt, [
    ...wasmOptFlags,
    "--enable-bulk-memory",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-reference-types",
    "--enable-multivalue",
    "--strip-debug",
    "--strip-producers",
    "--strip-target-features",
    join(scratch, "web", `${name}_bg.wasm`),
    "-o",
    join(outDir, `${name}_bg.wasm`),
  ]);

  // Both glues load the one shared module, <name>_bg.wasm next to them.
  const webGlue = readFileSync(join(scratch, "web", `${name}.js`), "utf8");
  const nodeGlue = readFileSync(join(scratch, "nodejs", `${name}.js`), "utf8");
  if (!webGlue.includes(`new URL('${name}_bg.wasm', import.meta.url)`) || !nodeGlue.includes(`/${name}_bg.wasm\``)) {
    throw new Error("the wasm-bindgen glue no longer names its module as expected; update scripts/build.mjs");
  }
  const selfTypes = /^\/\* @ts-self-types="[^"]*" \*\/\n/;
  writeFileSync(join(outDir, `${name}_web.js`), webGlue.replace(selfTypes, ""));
  writeFileSync(join(outDir, `${name}_node.cjs`), nodeGlue.replace(selfTypes, ""));
  rmSync(scratch, { recursive: true, force: true });
  sizes.push(`${join(outDir, `${name}_bg.wasm`)}: ${readFileSync(join(outDir, `${name}_bg.wasm`)).length} bytes`);
}

// 4. The JS layer: ESM sources as they are, and a CommonJS build of the shared API (with the
// exporter, bundled in) for require. The Node-only gRPC transport and file store
// (exporter-node, the only entry that loads @grpc/grpc-js) are CommonJS with an ESM wrapper.
for (const f of [
  "api.js",
  "exporter.js",
  "errors.js",
  "grpc-web.js",
  "store-indexeddb.js",
  "js-values.js",
  "web-entry.js",
  "web.js",
  "client.js",
  "node.mjs",
  "node.cjs",
  "client.mjs",
  "client.cjs",
  "index.d.ts",
  "client.d.ts",
  "exporter-node.cjs",
  "exporter-node.mjs",
  "exporter-node.d.ts",
  "store-file.cjs",
]) {
  cpSync(join(pkgDir, "src", f), join(outDir, f));
}
// The CommonJS views of the declarations (`require`): the same text, resolved as CommonJS.
cpSync(join(pkgDir, "src", "index.d.ts"), join(outDir, "index.d.cts"));
writeFileSync(
  join(outDir, "client.d.cts"),
  readFileSync(join(pkgDir, "src", "client.d.ts"), "utf8").replaceAll('from "./index.js"', 'from "./index.cjs"'),
);
cpSync(join(pkgDir, "src", "exporter-node.d.ts"), join(outDir, "exporter-node.d.cts"));
run(join(pkgDir, "node_modules", ".bin", "esbuild"), [
  join(pkgDir, "src", "api.js"),
  "--bundle",
  "--format=cjs",
  "--platform=neutral",
  "--log-level=warning",
  `--outfile=${join(outDir, "api.cjs")}`,
]);

for (const line of sizes) console.log(`[build] ${line}`);
