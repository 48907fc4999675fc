// Packaging: npm pack, install the tarball into a scratch consumer, then require, import, and
// bundle it (esbuild, browser platform: the `browser` export with initSync).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installInto, pack, pkgDir } from "./pack.mjs";

const packed = pack();
const grpcVersion = JSON.parse(readFileSync(join(pkgDir, "node_modules", "@grpc", "grpc-js", "package.json"), "utf8")).version;
// A Node consumer with the peer dependency @grpc/grpc-js (the version this repository tests).
const consumer = mkdtempSync(join(tmpdir(), "tg-consumer-"));
writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
installInto(consumer, packed.tarball, [`@grpc/grpc-js@${grpcVersion}`]);
// A browser-only consumer: the package alone (the peer dependency is optional).
const bare = mkdtempSync(join(tmpdir(), "tg-consumer-bare-"));
writeFileSync(join(bare, "package.json"), JSON.stringify({ name: "bare", version: "1.0.0", private: true }));
installInto(bare, packed.tarball);

const EVENT = '{"id":"1","feature":"a.b","action":"cd","timestamp":"2024-01-01T00:00:00Z"}';

test("the tarball holds the built package and nothing else", () => {
  assert.deepEqual(packed.files, [
    "README.md",
    "dist/api.cjs",
    "dist/api.js",
    "dist/client.cjs",
    "dist/client.d.cts",
    "dist/client.d.ts",
    "dist/client.js",
    "dist/client.mjs",
    "dist/client_bg.wasm",
    "dist/client_node.cjs",
    "dist/client_web.js",
    "dist/core_bg.wasm",
    "dist/core_node.cjs",
    "dist/core_web.js",
    "dist/errors.js",
    "dist/exporter-node.cjs",
    "dist/exporter-node.d.cts",
    "dist/exporter-node.d.ts",
    "dist/exporter-node.mjs",
    "dist/exporter.js",
    "dist/grpc-web.js",
    "dist/index.d.cts",
    "dist/index.d.ts",
    "dist/js-values.js",
    "dist/node.cjs",
    "dist/node.mjs",
    "dist/store-file.cjs",
    "dist/store-indexeddb.js",
    "dist/web-entry.js",
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
     const exporter = new GatewayExporter({ transport: new GrpcWebTransport({ url: "http://127.0.0.1:1" }), metadata: { identifier: { unlicensedInstance: { instanceId: "i" } } }, context: { serverVersion: "1" } });
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

test("the client entry: require(), import and a browser bundle load the slim module", () => {
  const out = execFileSync(
    process.execPath,
    ["-e", `const c = require("@telemetry-gateway/core/client"); const full = require("@telemetry-gateway/core");
      console.log(JSON.stringify([c.validate(${EVENT}), typeof c.translate, c.validate === full.validate, require.resolve("@telemetry-gateway/core/client")]))`],
    { cwd: consumer, encoding: "utf8" },
  );
  const [answer, translate, same, resolved] = JSON.parse(out);
  assert.deepEqual(answer, { ok: true });
  assert.equal(translate, "undefined");
  assert.equal(same, false);
  assert.match(resolved, /dist\/client\.cjs$/);
  writeFileSync(
    join(consumer, "client.mjs"),
    `import { validate, recordBatch } from "@telemetry-gateway/core/client";
     import { createRequire } from "node:module";
     const [r] = recordBatch([{ feature: "a.b", action: "cd", source: { client: "c" }, parameters: { version: 0 } }], { context: { serverVersion: "1" } });
     console.log(JSON.stringify([validate(${EVENT}), r.bytes.length > 0, import.meta.resolve("@telemetry-gateway/core/client"), createRequire(import.meta.url)("@telemetry-gateway/core/client").validate === validate]));`,
  );
  const [esmAnswer, encoded, esmResolved, shared] = JSON.parse(execFileSync(process.execPath, ["client.mjs"], { cwd: consumer, encoding: "utf8" }));
  assert.deepEqual(esmAnswer, { ok: true });
  assert.equal(encoded, true);
  assert.match(esmResolved, /dist\/client\.mjs$/);
  assert.equal(shared, true, "import and require share one instance");

  writeFileSync(
    join(bare, "app.js"),
    `import { initSync, validate, GatewayExporter, GrpcWebTransport } from "@telemetry-gateway/core/client";
     import wasm from "@telemetry-gateway/core/client_bg.wasm";
     initSync(wasm);
     const exporter = new GatewayExporter({ transport: new GrpcWebTransport({ url: "http://127.0.0.1:1" }), metadata: { identifier: { unlicensedInstance: { instanceId: "i" } } }, context: { serverVersion: "1" }, persist: false });
     console.log(JSON.stringify([validate(${EVENT}), exporter.persistence, wasm.length]));`,
  );
  const esbuild = join(pkgDir, "node_modules", ".bin", "esbuild");
  execFileSync(esbuild, ["app.js", "--bundle", "--platform=browser", "--format=esm", "--target=es2022", "--loader:.wasm=binary", "--outfile=bundle.mjs", "--log-level=warning"], { cwd: bare });
  const bundle = readFileSync(join(bare, "bundle.mjs"), "utf8");
  assert.ok(!bundle.includes("core_bg.wasm"), "the client bundle must not reference the full module");
  assert.ok(!bundle.includes("grpc-js") && !bundle.includes("http2"));
  const [bundled, persistence, wasmBytes] = JSON.parse(execFileSync(process.execPath, ["bundle.mjs"], { cwd: bare, encoding: "utf8" }));
  assert.deepEqual(bundled, { ok: true });
  assert.equal(persistence, "memory");
  assert.equal(wasmBytes, readFileSync(join(pkgDir, "dist", "client_bg.wasm")).length);
});

test("exporter-node without @grpc/grpc-js installed fails with what to install", () => {
  const r = spawnSync(process.execPath, ["-e", `require("@telemetry-gateway/core/exporter-node")`], { cwd: bare, encoding: "utf8" });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /needs @grpc\/grpc-js \(a peer dependency\): npm install @grpc\/grpc-js/);
  // The main and client entries do not need it.
  const ok = spawnSync(process.execPath, ["-e", `require("@telemetry-gateway/core"); require("@telemetry-gateway/core/client")`], { cwd: bare, encoding: "utf8" });
  assert.equal(ok.status, 0, ok.stderr);
});

test("exporter-node uses the application's @grpc/grpc-js; credentials of another copy get a clear error", () => {
  // A second copy of grpc-js, as an application with its own version would have.
  cpSync(join(consumer, "node_modules", "@grpc", "grpc-js"), join(consumer, "node_modules", "other-grpc-js"), { recursive: true });
  const out = execFileSync(
    process.execPath,
    ["-e", `
      const { GrpcTransport } = require("@telemetry-gateway/core/exporter-node");
      const appGrpc = require("@grpc/grpc-js");
      const otherGrpc = require("other-grpc-js");
      const own = new GrpcTransport({ address: "127.0.0.1:1", credentials: appGrpc.credentials.createInsecure() });
      let foreign;
      try { new GrpcTransport({ address: "127.0.0.1:1", credentials: otherGrpc.credentials.createInsecure() }); } catch (e) { foreign = e.message; }
      const byUrl = [new GrpcTransport({ url: "http://127.0.0.1:10080" }), new GrpcTransport({ url: "https://gateway.example.com" })];
      console.log(JSON.stringify([own.tls, foreign, byUrl.map((t) => [t.target, t.tls])]));`],
    { cwd: consumer, encoding: "utf8" },
  );
  const [ownTls, foreign, byUrl] = JSON.parse(out);
  assert.equal(ownTls, false);
  assert.match(foreign, /not a ChannelCredentials of the @grpc\/grpc-js this package loads/);
  assert.match(foreign, /url: "http:\/\/host:port"/);
  assert.deepEqual(byUrl, [["127.0.0.1:10080", false], ["gateway.example.com:443", true]]);
});

test("types resolve under TypeScript's legacy moduleResolution \"node\" (typesVersions), for every entry", () => {
  writeFileSync(
    join(consumer, "legacy.ts"),
    `import { validate, GatewayExporter } from "@telemetry-gateway/core";
     import { record, GrpcWebTransport } from "@telemetry-gateway/core/client";
     import { GrpcTransport, FileQueueStore } from "@telemetry-gateway/core/exporter-node";
     const v = validate({ id: "1" });
     const r = record({ feature: "a.b", action: "cd", source: { client: "c" }, parameters: { version: 0 } }, { serverVersion: "1" });
     export const exporter = new GatewayExporter({
       transport: new GrpcTransport({ url: "http://127.0.0.1:10080" }),
       metadata: { identifier: { unlicensedInstance: { instanceId: "i" } } },
       context: { serverVersion: "5.5.0" },
       persist: new FileQueueStore("queue.log"),
     });
     export const web = new GrpcWebTransport({ url: "https://gateway.example.com" });
     export const answers: string[] = ["ok" in v ? "ok" : v.error, "event" in r ? r.event.id ?? "" : r.error];
     // @ts-expect-error the types are found, so a wrong option is an error
     export const wrong = new GrpcTransport({ url: 1 });`,
  );
  writeFileSync(
    join(consumer, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: "commonjs", moduleResolution: "node", target: "es2020", lib: ["es2022", "dom"], types: [], skipLibCheck: false, ignoreDeprecations: "5.0" },
      files: ["legacy.ts"],
    }),
  );
  const tsc = join(pkgDir, "node_modules", "typescript5", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: consumer, encoding: "utf8" });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(readFileSync(join(pkgDir, "node_modules", "typescript5", "package.json"), "utf8"), /"version": "5\./);
});

// What each entry exports at runtime, per condition: Node import and require, and the browser
// build (the `browser`, `import` and `default` conditions of `.` and `./client`).
function runtimeExports() {
  writeFileSync(
    join(consumer, "runtime-exports.mjs"),
    `import { createRequire } from "node:module";
     const require = createRequire(import.meta.url);
     const out = {};
     for (const entry of ${JSON.stringify(ENTRIES)}) {
       const spec = "@telemetry-gateway/core" + entry.slice(1);
       out[entry] = { import: Object.keys(await import(spec)), require: Object.keys(require(spec)) };
       out[entry].browser = out[entry].import;
     }
     const dist = new URL("./node_modules/@telemetry-gateway/core/dist/", import.meta.url);
     out["."].browser = Object.keys(await import(new URL("web.js", dist)));
     out["./client"].browser = Object.keys(await import(new URL("client.js", dist)));
     // The public members (own fields, methods and getters, not _private) of an instance of
     // each class, and the exporter's stats fields.
     const members = (o) => {
       const names = new Set(Object.keys(o));
       for (let p = Object.getPrototypeOf(o); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) for (const n of Object.getOwnPropertyNames(p)) names.add(n);
       return [...names].filter((n) => n !== "constructor" && !n.startsWith("_"));
     };
     const core = await import("@telemetry-gateway/core");
     const node = require("@telemetry-gateway/core/exporter-node");
     const transport = new core.GrpcWebTransport({ url: "http://127.0.0.1:1" });
     const exporter = new core.GatewayExporter({ transport, metadata: { identifier: { unlicensedInstance: { instanceId: "i" } } }, context: { serverVersion: "1" }, persist: false });
     const grpc = new node.GrpcTransport({ url: "http://127.0.0.1:1" });
     out.members = {
       GatewayExporter: members(exporter),
       GatewayExporterStats: Object.keys(exporter.stats),
       GrpcWebTransport: members(transport),
       IndexedDbQueueStore: members(new core.IndexedDbQueueStore({ newId: () => "x" })),
       ValidationProcessor: members(new core.ValidationProcessor()),
       RedactionProcessor: members(new core.RedactionProcessor()),
       GrpcTransport: members(grpc),
       FileQueueStore: members(new node.FileQueueStore("never-opened.log")),
     };
     grpc.close();
     await exporter.close();
     console.log(JSON.stringify(out));`,
  );
  return JSON.parse(execFileSync(process.execPath, ["runtime-exports.mjs"], { cwd: consumer, encoding: "utf8" }));
}
const ENTRIES = [".", "./client", "./exporter-node"];

test("TypeScript under every moduleResolution: each entry resolves, and its declared value exports (and the classes' members) are exactly its runtime ones", () => {
  const runtime = runtimeExports();
  for (const entry of ENTRIES) {
    for (const names of Object.values(runtime[entry])) assert.ok(names.length >= 6, `${entry}: ${names}`);
  }
  // One probe per entry and importing module kind: `keyof typeof` the module is its value exports
  // as tsc sees them (types and interfaces are not keys); both directions must match.
  const probe = (entry, kind, names) => {
    const spec = "@telemetry-gateway/core" + entry.slice(1);
    const load = kind === "require" ? `import m = require(${JSON.stringify(spec)});` : `import * as m from ${JSON.stringify(spec)};`;
    const runtimeNames = names.map((n) => JSON.stringify(n)).join(" | ");
    return `${load}
      type Runtime = ${runtimeNames};
      // A name in one set only is an error naming it (and a module typed any fails both).
      declare const declaredOnly: Exclude<keyof typeof m, Runtime>;
      declare const runtimeOnly: Exclude<Runtime, keyof typeof m>;
      export const declaredButNotExported: never = declaredOnly;
      export const exportedButNotDeclared: never = runtimeOnly;\n`;
  };
  const modes = [
    // [name, tsc, compilerOptions, files: [extension, module kind, runtime condition]]
    ["node16", "typescript", { module: "node16", moduleResolution: "node16" }, [["mts", "import", "import"], ["cts", "require", "require"]]],
    ["nodenext", "typescript", { module: "nodenext", moduleResolution: "nodenext" }, [["mts", "import", "import"], ["cts", "require", "require"]]],
    ["bundler-esnext", "typescript", { module: "esnext", moduleResolution: "bundler" }, [["ts", "import", "browser"]]],
    ["bundler-commonjs", "typescript", { module: "commonjs", moduleResolution: "bundler" }, [["ts", "import", "browser"]]],
    ["bundler-preserve", "typescript", { module: "preserve", moduleResolution: "bundler" }, [["ts", "import", "browser"]]],
    // TypeScript 7 has no node10; the legacy mode resolves the subpaths by typesVersions.
    ["node10-commonjs", "typescript5", { module: "commonjs", moduleResolution: "node", ignoreDeprecations: "5.0" }, [["ts", "import", "require"]]],
    ["node10-esnext", "typescript5", { module: "esnext", moduleResolution: "node", ignoreDeprecations: "5.0" }, [["ts", "import", "import"]]],
  ];
  // The classes' public members and the exporter's stats fields, as declared and at runtime.
  const union = (names) => names.map((n) => JSON.stringify(n)).join(" | ");
  const memberProbe = Object.entries(runtime.members).map(([name, names]) => {
    const declared = `keyof ${["GrpcTransport", "FileQueueStore"].includes(name) ? "node" : "core"}.${name}`;
    // Named in the error as \`Class.member\`.
    return `declare const ${name}DeclaredOnly: \`${name}.\${Exclude<${declared}, ${union(names)}> & string}\`;
      export const ${name}DeclaredButNotAtRuntime: never = ${name}DeclaredOnly;
      declare const ${name}RuntimeOnly: \`${name}.\${Exclude<${union(names)}, ${declared}>}\`;
      export const ${name}AtRuntimeButNotDeclared: never = ${name}RuntimeOnly;\n`;
  });
  const membersFile = `import type * as core from "@telemetry-gateway/core";
    import type * as node from "@telemetry-gateway/core/exporter-node";
    ${memberProbe.join("")}`;
  for (const [name, tsc, options, kinds] of modes) {
    const dir = join(consumer, `ts-${name}`);
    mkdirSync(dir, { recursive: true });
    const files = [];
    for (const [ext, kind, condition] of kinds) {
      for (const entry of ENTRIES) {
        // exporter-node has no browser build: bundlers resolve its `import` (Node) file.
        const names = runtime[entry][condition] ?? runtime[entry].import;
        const file = `${entry === "." ? "core" : entry.slice(2)}-${kind}.${ext}`;
        writeFileSync(join(dir, file), probe(entry, kind, names));
        files.push(file);
      }
    }
    if (name === "nodenext") {
      writeFileSync(join(dir, "members.mts"), membersFile);
      files.push("members.mts");
    }
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, target: "es2022", lib: ["es2022", "dom"], types: [], skipLibCheck: false, ...options },
        files,
      }),
    );
    const r = spawnSync(process.execPath, [join(pkgDir, "node_modules", tsc, "bin", "tsc"), "-p", "tsconfig.json"], { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 0, `${name} (${tsc}):\n${r.stdout}${r.stderr}`);
  }
});
