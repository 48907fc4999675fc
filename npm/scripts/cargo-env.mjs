// The environment of the WASM modules' cargo builds (scripts/build.mjs, scripts/size-breakdown.mjs:
// the same, so neither rebuilds what the other built).
//
// Paths of this machine stay out of the modules: a panic's location names the source file, and for
// the generated protobuf code (under the target dir) and the registry's crates (under the cargo
// home) that path is absolute. `--remap-path-prefix` rewrites them to `target/…` and `cargo/…`
// (stable rustc; cargo's own `trim-paths` is not). Appended to any RUSTFLAGS the caller set.
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export function wasmCargoEnv(targetDir) {
  const cargoHome = process.env.CARGO_HOME ? resolve(process.env.CARGO_HOME) : join(homedir(), ".cargo");
  const remaps = [`--remap-path-prefix=${targetDir}=target`, `--remap-path-prefix=${cargoHome}=cargo`];
  const rustflags = [process.env.RUSTFLAGS, ...remaps].filter(Boolean).join(" ");
  return { ...process.env, CARGO_TARGET_DIR: targetDir, RUSTFLAGS: rustflags };
}
