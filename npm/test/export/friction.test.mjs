// What a new user hit, each against the real gateway binary:
//   - TLS or plaintext is chosen by the URL scheme; the mismatch (TLS to a plaintext gateway, or
//     plaintext to a TLS one) is an error that says what to do, not a bare "wrong version number";
//   - no grpc-js credentials object is needed (`url`), so none can come from another grpc-js copy;
//   - the shutdown order with @sourcegraph/telemetry 0.18.0: `provider.unsubscribe()` then
//     `exporter.close()` delivers everything, and so does the wrong order (close first).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { GatewayExporter, GrpcTransport } from "../../dist/exporter-node.mjs";
import { readSink, scratchDir, startGateway } from "./gateway.mjs";
import { checkSink, recordingFor, trackingContext } from "./events.mjs";

const require = createRequire(import.meta.url);
const { TelemetryRecorderProvider } = require("@sourcegraph/telemetry");
const METADATA = { requestId: "friction", identifier: { unlicensedInstance: { instanceId: "friction-instance" } } };

/** Exports one event and collects what onError saw until the first failure (bounded). */
async function firstFailure(transport) {
  const errors = [];
  const exporter = new GatewayExporter({
    transport,
    metadata: METADATA,
    context: { serverVersion: "5.5.0" },
    retry: { baseMs: 50, maxMs: 100 },
    requestTimeoutMs: 5_000,
    onError: (e) => errors.push(e),
  });
  await exporter.exportEvents([recordingFor(1, "friction")]);
  await assert.rejects(exporter.close({ timeoutMs: 1_500 }), (e) => e.code === "flush_timeout");
  assert.ok(errors.length >= 1, "the failure was reported");
  assert.ok(errors.every((e) => e.code === "export_failed"), errors.map((e) => e.message).join("\n"));
  return errors[0];
}

test("the URL scheme picks plaintext or TLS; each mismatch says what to do", { timeout: 60_000 }, async (t) => {
  const dir = scratchDir();
  const sinkPath = join(dir, "events.ndjson");
  const plain = await startGateway({ sink: `file:${sinkPath}` });
  t.after(() => plain.stop());

  // http:// → plaintext, delivered (no grpc-js credentials object involved).
  const { context, byId } = trackingContext();
  const exporter = new GatewayExporter({ transport: new GrpcTransport({ url: `http://${plain.address}` }), metadata: METADATA, context, onError: (e) => assert.fail(e.message) });
  await exporter.exportEvents(Array.from({ length: 20 }, (_, i) => recordingFor(i, "friction")));
  await exporter.close({ timeoutMs: 10_000 });
  const report = checkSink(readSink(sinkPath).lines, byId, METADATA);
  assert.deepEqual(report.missing, []);

  // https:// (or a bare address, TLS by default) to the plaintext gateway.
  for (const transport of [new GrpcTransport({ url: `https://${plain.address}` }), new GrpcTransport({ address: plain.address })]) {
    const failure = await firstFailure(transport);
    console.log(`[friction] TLS to a plaintext gateway: ${failure.message}`);
    assert.match(failure.message, /TLS handshake with 127\.0\.0\.1:\d+ failed/);
    assert.match(failure.message, new RegExp(`the gateway there speaks plaintext\\. Use url "http://${plain.address.replace(/\./g, "\\.")}"`));
  }

  // http:// to a gateway serving TLS.
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: "ignore" });
  const tls = await startGateway({ sink: `file:${join(dir, "tls.ndjson")}`, args: ["--tls-cert", cert, "--tls-key", key] });
  t.after(() => tls.stop());
  const failure = await firstFailure(new GrpcTransport({ url: `http://${tls.address}` }));
  console.log(`[friction] plaintext to a TLS gateway: ${failure.message}`);
  assert.match(failure.message, new RegExp(`the gateway there serves TLS; use url "https://${tls.address.replace(/\./g, "\\.")}"`));
});

for (const order of ["unsubscribe, then close", "close, then unsubscribe"]) {
  test(`@sourcegraph/telemetry's batch submitter, shutdown "${order}": every buffered event arrives`, { timeout: 60_000 }, async (t) => {
    const dir = scratchDir();
    const sinkPath = join(dir, "events.ndjson");
    const gw = await startGateway({ sink: `file:${sinkPath}` });
    t.after(() => gw.stop());
    const { context, byId } = trackingContext();
    const errors = [];
    const exporter = new GatewayExporter({ transport: new GrpcTransport({ url: `http://${gw.address}` }), metadata: METADATA, context, onError: (e) => errors.push(e) });
    const sdkErrors = [];
    // Buffered: nothing is exported before the provider's timer (1 minute) or 100 events.
    const provider = new TelemetryRecorderProvider({ client: "friction.test", clientVersion: "1.0.0" }, exporter, [], {
      bufferTimeMs: 60_000,
      bufferMaxSize: 100,
      errorHandler: (e) => sdkErrors.push(e),
    });
    const recorder = provider.getRecorder();
    for (let i = 0; i < 30; i++) recorder.recordEvent("cody.chat", "submitted", { version: 1, metadata: { n: i } });
    if (order === "unsubscribe, then close") {
      provider.unsubscribe();
      await exporter.close({ timeoutMs: 10_000 });
      assert.deepEqual(errors.map((e) => e.code), []);
    } else {
      await exporter.close({ timeoutMs: 10_000 });
      provider.unsubscribe(); // the SDK flushes its buffer now: after close
      for (let i = 0; i < 200 && exporter.pending + (readSink(sinkPath).lines.length < 30 ? 1 : 0) > 0; i++) await new Promise((r) => setTimeout(r, 25));
      assert.deepEqual(errors.map((e) => e.code), ["exported_after_close"]);
    }
    assert.deepEqual(sdkErrors, []);
    const report = checkSink(readSink(sinkPath).lines, byId, METADATA);
    console.log(`[friction shutdown "${order}"] ${report.events} recorded, ${report.lines} delivered, ${report.missing.length} missing`);
    assert.equal(report.events, 30);
    assert.deepEqual(report.missing, []);
    assert.equal(report.duplicates, 0);
  });
}
