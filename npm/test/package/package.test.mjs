// Packaging: npm pack, install the tarball into a scratch consumer, then require, import, and
// bundle it (esbuild, browser platform: the `browser` export with initSync).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installInto, pack, pkgDir } from "./pack.mjs";

const packed = pack();
const consumer = mkdtempSync(join(tmpdir(), "tg-consumer-"));
writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
installInto(consumer, packed.tarball);

const EVENT = '{"id":"1","feature":"a.b","action":"cd","timestamp":"2024-01-01T00:00:00Z"}';

test("the tarball holds the built package and nothing else", () => {
  assert.deepEqual(packed.files, [
    "README.md",
    "dist/api.cjs",
    "dist/api.js",
    "dist/core_bg.wasm",
    "dist/core_node.cjs",
    "dist/core_web.js",
    "dist/exporter-node.cjs",
    "dist/exporter-node.d.cts",
    "dist/exporter-node.d.ts",
    "dist/exporter-node.mjs",
    "dist/exporter.js",
    "dist/index.d.cts",
    "dist/index.d.ts",
    "dist/node.cjs",
    "dist/node.mjs",
    "dist/web.js",
    "package.json",
  ]);
});

test("require() from a CommonJS consumer", () => {
  const out = execFileSync(
    process.execPath,
    ["-e", `const c = require("@telemetry-gateway/core"); console.log(JSON.stringify([c.validate(${EVENT}), typeof c.init, require.resolve("@telemetry-gateway/core")]))`],
    { cwd: consumer, encoding: "utf8" },
  );
  const [answer, init, resolved] = JSON.parse(out);
  assert.deepEqual(answer, { ok: true });
  assert.equal(init, "function");
  assert.match(resolved, /node_modules\/@telemetry-gateway\/core\/dist\/node\.cjs$/);
});

test("import from an ES module consumer", () => {
  writeFileSync(
    join(consumer, "esm.mjs"),
    `import { validate, record, ValidationProcessor } from "@telemetry-gateway/core";
     import def from "@telemetry-gateway/core/package.json" with { type: "json" };
     new ValidationProcessor().processEvent({ feature: "a.b", action: "cd", source: { client: "c" }, parameters: { version: 0 } });
     const r = record({ feature: "a.b", action: "cd", source: { client: "c" }, parameters: { version: 0 } }, { serverVersion: "1" });
     console.log(JSON.stringify([validate(${EVENT}), r.event.feature, def.version, import.meta.resolve("@telemetry-gateway/core")]));`,
  );
  const [answer, feature, version, resolved] = JSON.parse(execFileSync(process.execPath, ["esm.mjs"], { cwd: consumer, encoding: "utf8" }));
  assert.deepEqual(answer, { ok: true });
  assert.equal(feature, "a.b");
  assert.equal(version, "0.1.0");
  assert.match(resolved, /dist\/node\.mjs$/);
});

test("a bundler (esbuild, browser platform) bundles the browser entry; the bundle runs", () => {
  writeFileSync(
    join(consumer, "app.js"),
    `import { initSync, validate, translate, GatewayExporter, GrpcWebTransport } from "@telemetry-gateway/core";
     import wasm from "@telemetry-gateway/core/core_bg.wasm";
     let before;
     try { validate({}); } catch (e) { before = e.message; }
     initSync(wasm);
     const t = translate({ requestId: "r", identifier: { unlicensedInstance: { instanceId: "i" } } }, ${EVENT});
     const exporter = new GatewayExporter({ transport: new GrpcWebTransport({ url: "http://127.0.0.1:1" }), metadata: { identifier: { unlicensedInstance: { instanceId: "i" } } } });
     console.log(JSON.stringify([before, validate(${EVENT}), t.attributes["publisher.source"], exporter.pending]));`,
  );
  const esbuild = join(pkgDir, "node_modules", ".bin", "esbuild");
  execFileSync(esbuild, ["app.js", "--bundle", "--platform=browser", "--format=esm", "--target=es2022", "--loader:.wasm=binary", "--outfile=bundle.mjs", "--log-level=warning"], { cwd: consumer });
  const bundle = readFileSync(join(consumer, "bundle.mjs"), "utf8");
  assert.ok(!bundle.includes("readFileSync"), "the browser bundle must not hold the Node loader");
  assert.ok(!bundle.includes("grpc-js") && !bundle.includes("http2"), "the browser bundle must not hold @grpc/grpc-js");
  const [before, answer, source, pending] = JSON.parse(execFileSync(process.execPath, ["bundle.mjs"], { cwd: consumer, encoding: "utf8" }));
  assert.equal(pending, 0);
  assert.match(before, /call init\(\) or initSync\(bytes\)/);
  assert.deepEqual(answer, { ok: true });
  assert.equal(source, "unlicensed_instance");
});

test("the Node gRPC exporter entry loads with require() and import, sharing the core", () => {
  const out = execFileSync(
    process.execPath,
    ["-e", `const n = require("@telemetry-gateway/core/exporter-node"); const c = require("@telemetry-gateway/core");
      console.log(JSON.stringify([typeof n.GrpcTransport, n.GatewayExporter === c.GatewayExporter, require.resolve("@telemetry-gateway/core/exporter-node")]))`],
    { cwd: consumer, encoding: "utf8" },
  );
  const [transport, same, resolved] = JSON.parse(out);
  assert.equal(transport, "function");
  assert.equal(same, true);
  assert.match(resolved, /dist\/exporter-node\.cjs$/);
  writeFileSync(
    join(consumer, "exp.mjs"),
    `import { GrpcTransport, GatewayExporter } from "@telemetry-gateway/core/exporter-node";
     import * as core from "@telemetry-gateway/core";
     const t = new GrpcTransport({ address: "127.0.0.1:1" });
     t.close();
     console.log(JSON.stringify([GatewayExporter === core.GatewayExporter, import.meta.resolve("@telemetry-gateway/core/exporter-node")]));`,
  );
  const [sameEsm, resolvedEsm] = JSON.parse(execFileSync(process.execPath, ["exp.mjs"], { cwd: consumer, encoding: "utf8" }));
  assert.equal(sameEsm, true);
  assert.match(resolvedEsm, /dist\/exporter-node\.mjs$/);
});
