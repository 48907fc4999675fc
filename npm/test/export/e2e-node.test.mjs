// End to end in Node with the real gateway binary and its embedded NDJSON sink: recordings
// exported over gRPC (@grpc/grpc-js) and over gRPC-Web (fetch) arrive on the sink redacted and
// byte-identical to the core's translation, each exactly once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import { GatewayExporter, GrpcTransport, GrpcWebTransport } from "../../dist/exporter-node.mjs";
import * as core from "../../dist/node.mjs";
import { readSink, scratchDir, startGateway } from "./gateway.mjs";
import { checkSink, recordingFor, trackingContext } from "./events.mjs";

const grpc = createRequire(import.meta.url)("@grpc/grpc-js");

const TRANSPORTS = {
  grpc: (gw) => new GrpcTransport({ address: gw.address, credentials: grpc.credentials.createInsecure() }),
  "grpc-web": (gw) => new GrpcWebTransport({ url: `http://${gw.address}` }),
};

for (const [name, makeTransport] of Object.entries(TRANSPORTS)) {
  test(`Node over ${name}: events arrive on the sink redacted and byte-identical to the core's translation`, { timeout: 60_000 }, async (t) => {
    const dir = scratchDir();
    const sinkPath = join(dir, "events.ndjson");
    const gw = await startGateway({ sink: `file:${sinkPath}` });
    t.after(() => gw.stop());
    const metadata = { requestId: `e2e-${name}`, identifier: { unlicensedInstance: { instanceId: "e2e-instance", externalUrl: "https://sg.example.com" } } };
    // cody.chat::submitted::prompt is allowlisted: its `prompt` survives redaction, nothing else does.
    const policy = { additionalAllowedEventTypes: "cody.chat::submitted::prompt" };
    const { context, byId } = trackingContext();
    const errors = [];
    const exporter = new GatewayExporter({ transport: makeTransport(gw), metadata, policy, context, onError: (e) => errors.push(e) });
    const N = 300;
    for (let i = 0; i < N; i += 50) {
      await exporter.exportEvents(Array.from({ length: 50 }, (_, j) => recordingFor(i + j, name)));
    }
    await exporter.close({ timeoutMs: 30_000 });
    assert.deepEqual(errors.map((e) => e.message), []);

    const { lines, torn } = readSink(sinkPath);
    assert.equal(torn, 0);
    const report = checkSink(lines, byId, metadata, policy);
    console.log(`[e2e ${name}] ${report.events} events recorded, ${report.lines} sink lines, ${report.missing.length} missing, ${report.duplicates} duplicates`);
    assert.deepEqual(report.missing, []);
    assert.equal(report.duplicates, 0);
    assert.equal(report.lines, N);

    // Redaction by the policy, as seen on the sink.
    for (const line of lines) {
      const { event } = JSON.parse(line.data);
      assert.equal(event.marketingTracking, undefined);
      const pm = event.parameters.privateMetadata;
      if (event.feature === "cody.chat" && event.action === "submitted") assert.deepEqual(pm, { prompt: pm.prompt });
      else assert.equal(pm, undefined);
      assert.equal(event.user.userId, "9007199254740993");
    }
    // The gateway's pipeline (the core's ingest of one payload) agrees with the sink too.
    const sample = lines.slice(0, 5).map((l) => JSON.parse(l.data).event);
    const ingested = core.ingest(metadata, sample);
    assert.deepEqual(ingested.results.map((r) => r.payload), lines.slice(0, 5).map((l) => l.data));
  });
}

test("the gateway's refusal (bad metadata) is reported through onError and the events are kept", { timeout: 30_000 }, async (t) => {
  const dir = scratchDir();
  const gw = await startGateway({ sink: `file:${join(dir, "events.ndjson")}` });
  t.after(() => gw.stop());
  const errors = [];
  const exporter = new GatewayExporter({
    transport: TRANSPORTS.grpc(gw),
    metadata: { identifier: { unlicensedInstance: { instanceId: "" } } },
    context: { serverVersion: "5.5.0" },
    retry: { baseMs: 20, maxMs: 50 },
    onError: (e) => errors.push(e),
  });
  await exporter.exportEvents([recordingFor(1)]);
  await assert.rejects(exporter.close({ timeoutMs: 500 }), (e) => e.code === "flush_timeout" && e.pending === 1);
  assert.ok(errors.length >= 1);
  assert.equal(errors[0].code, "export_failed");
  assert.match(errors[0].message, /instance_id is required for unlicensed instance/);
  assert.equal(errors[0].cause.code, grpc.status.INVALID_ARGUMENT);
});
