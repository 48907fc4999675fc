// A Node process using the exporter, for the durability tests (durability-node.test.mjs): it
// records `count` events with a GatewayExporter over gRPC and reports on stdout, one JSON object
// per line: `{recorded: [{id, input, ctx}]}` once a batch was accepted (persisted, with a
// queue file), `{response: n}` per gateway answer, `{error: {code, message}}` per onError,
// `{done: stats}` at the end. The test kills it, restarts it, or lets it exit by itself.
//
// argv[2]: JSON options { url, queue?, count, start?, batch?, tag?, delayMs?, maxBatchEvents?,
//                        end: "close" | "flush" | "none", requestTimeoutMs?, holdUntilRecorded? }
import { FileQueueStore, GatewayExporter, GrpcTransport } from "../../dist/exporter-node.mjs";
import * as core from "../../dist/node.mjs";
import { recordingFor } from "./events.mjs";

const options = JSON.parse(process.argv[2]);
const { url, queue, count = 0, start = 0, batch = 100, tag = "child", delayMs = 0, maxBatchEvents = 10_000, end = "close", holdUntilRecorded = false } = options;
const out = (value) => process.stdout.write(`${JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}\n`);

const grpc = new GrpcTransport({ url });
let responses = 0;
let recordedAll;
const allRecorded = new Promise((resolve) => (recordedAll = resolve));
// A transport that takes `delayMs` per call (a slow network), so a kill lands mid-export; with
// `holdUntilRecorded`, no call starts before every batch was accepted.
const transport = {
  recordEvents: async (requests, callOptions) => {
    if (holdUntilRecorded) await allRecorded;
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    return grpc.recordEvents(requests, {
      ...callOptions,
      onResponse: (bytes) => {
        callOptions.onResponse(bytes);
        out({ response: ++responses });
      },
    });
  },
  close: () => grpc.close(),
};

let tracked = [];
const exporter = new GatewayExporter({
  transport,
  metadata: { requestId: `durability-${tag}`, identifier: { unlicensedInstance: { instanceId: "durability-instance" } } },
  context: (input) => {
    const ctx = { serverVersion: "5.5.0", user: { userId: "42" }, id: core.uuidV7(), now: new Date().toISOString() };
    tracked.push({ id: ctx.id, input, ctx });
    return ctx;
  },
  persist: queue ? new FileQueueStore(queue) : false,
  maxBatchEvents,
  maxChunkBytes: 16 * 1024,
  requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
  retry: { baseMs: 50, maxMs: 500 },
  onError: (e) => out({ error: { code: e.code, message: e.message } }),
});

for (let i = start; i < start + count; i += batch) {
  tracked = [];
  const inputs = Array.from({ length: Math.min(batch, start + count - i) }, (_, j) => recordingFor(i + j, tag));
  await exporter.exportEvents(inputs);
  out({ recorded: tracked });
}
out({ allRecorded: true });
recordedAll();
if (end === "close") await exporter.close({ timeoutMs: 30_000 });
else if (end === "flush") await exporter.flush({ timeoutMs: 30_000 });
out({ done: exporter.stats, pending: exporter.pending });
