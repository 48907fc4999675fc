// Type-checked by `npm run typecheck`: the exporter as a consumer would use it, including as the
// JS SDK's TelemetryExporter (`exportEvents(events): Promise<void>`).
import {
  GatewayExporter,
  GrpcWebTransport,
  TelemetryExportError,
  GrpcStatusError,
  planChunks,
  backoffDelayMs,
  acknowledged,
  acknowledgedIn,
  encodeRecordEventsResponse,
  recordBatch,
  recordRequests,
  eventsRequests,
  checkEvents,
  type GatewayExporterOptions,
  type RecordBatchResult,
  type RecordEventsTransport,
  type TelemetryEventInput,
  type Event,
  type OverflowPolicy,
} from "@telemetry-gateway/core";
import { GrpcTransport, FileQueueStore } from "@telemetry-gateway/core/exporter-node";
import { credentials } from "@grpc/grpc-js";

/** The JS SDK's exporter contract, as `@sourcegraph/telemetry` declares it. */
interface TelemetryExporter {
  exportEvents(events: TelemetryEventInput[]): Promise<void>;
}

const options: GatewayExporterOptions = {
  transport: new GrpcWebTransport({ url: "https://gateway.example.com" }),
  metadata: { identifier: { unlicensedInstance: { instanceId: "i" } } },
  policy: { additionalAllowedEventTypes: "cody.chat::submitted::prompt" },
  context: (input) => ({ serverVersion: "5.5.0", interactionId: input.parameters.interactionID ?? undefined }),
  persist: false,
  queueName: "app",
  storeOpenTimeoutMs: 5_000,
  flushOnHide: true,
  maxKeepaliveBytes: 60_000,
  maxQueueEvents: 1000,
  overflow: "drop-oldest",
  retry: { baseMs: 100, maxMs: 10_000, maxAttempts: 20 },
  onError: (e: TelemetryExportError) => {
    const code:
      | "invalid_event"
      | "queue_overflow"
      | "export_failed"
      | "retries_exhausted"
      | "flush_timeout"
      | "closed"
      | "store_failed"
      | "exported_after_close"
      | "missing_server_version"
      | "duplicate_id"
      | "unsent_at_exit" = e.code;
    if (code === "duplicate_id") console.log(e.id?.length);
    if (e.cause instanceof GrpcStatusError) console.log(code, e.cause.code, e.cause.details);
  },
};
export const exporter: TelemetryExporter = new GatewayExporter(options);
const node: RecordEventsTransport = new GrpcTransport({ address: "127.0.0.1:10080", credentials: credentials.createInsecure(), headers: { authorization: "Bearer t" } });
export const plaintext = new GrpcTransport({ url: "http://127.0.0.1:10080" });
export const tls = new GrpcTransport({ address: "gateway.example.com:443", insecure: false });
export const isTls: boolean = tls.tls && plaintext.target.length > 0;
// @ts-expect-error url and address are exclusive
export const both = new GrpcTransport({ url: "http://a:1", address: "a:1" });
export const nodeExporter = new GatewayExporter({ ...options, transport: node, persist: new FileQueueStore("/tmp/q.log", { fsync: true }) });
export const persistence: string = nodeExporter.persistence;
export async function finish(): Promise<number> {
  await nodeExporter.flush({ timeoutMs: 1000 });
  await nodeExporter.close();
  return nodeExporter.pending + nodeExporter.stats.acknowledged + nodeExporter.pendingEvents().length;
}
export const chunks: [number, number][] = planChunks([1, 2, 3], 1024);
export const delay: number = backoffDelayMs(2, 100, 1000, Math.random());
export const acked: string[] = acknowledged(["a"], ["a"]);

// A context object must carry serverVersion.
// @ts-expect-error serverVersion is required in a context object
export const noVersion: GatewayExporterOptions = { transport: options.transport, metadata: options.metadata, context: { user: { userId: 1 } } };
export const batch = recordBatch([{ feature: "a.b", action: "cd", source: { client: "c" }, parameters: { version: 0 } }], { context: { serverVersion: "1" } });
for (const r of batch) {
  if ("error" in r) acked.push(r.error);
  else {
    const bytes: Uint8Array = r.bytes;
    acked.push(r.id, String(bytes.length));
  }
}
export const requests: Uint8Array[] = eventsRequests(batch.flatMap((r) => ("bytes" in r ? [r.bytes] : [])), 1024);
export const checks: (string | null)[] = checkEvents(requests);
// Recorded and framed in one call: the results as recordBatch's, and the requests.
export const framed: { results: RecordBatchResult[]; requests: Uint8Array[] } = recordRequests(
  [{ feature: "a.b", action: "cd", source: { client: "c" }, parameters: { version: 0 } }],
  { context: [{ serverVersion: "1" }], policy: { dotcom: true }, limit: 4096 },
);
export const ackedIn: Uint32Array = acknowledgedIn(["a"], encodeRecordEventsResponse({ succeededEvents: ["a"] }));

// What each TelemetryExportError carries, by code, as the exporter sets it.
export function describe(e: TelemetryExportError): string {
  switch (e.code) {
    case "export_failed":
      return `${e.sent} ${e.acknowledged} ${e.unacknowledged} ${e.attempt}`;
    case "retries_exhausted": {
      const lost: Event[] | undefined = e.events;
      return `${e.dropped} ${lost?.map((x) => x.id).join(",")}`;
    }
    case "queue_overflow": {
      const policy: OverflowPolicy | undefined = e.policy;
      return `${e.dropped} ${policy}`;
    }
    case "exported_after_close":
      return String(e.count);
    case "unsent_at_exit":
      return `${e.pending} ${e.persisted} ${e.unpersisted}`;
    default:
      return e.message;
  }
}

// The error classes are constructed as the runtime takes them: a custom transport rejects with
// the gRPC status it got (as GrpcWebTransport does), a wrapper reports with a code first.
export const unavailable = new GrpcStatusError(14, "unavailable");
export const statusCode: number = unavailable.code;
export const reported = new TelemetryExportError("export_failed", "RecordEvents: 1 of 1 events not acknowledged", {
  cause: unavailable,
  sent: 1,
  unacknowledged: 1,
});
// @ts-expect-error the code comes first, then the message
export const noCode = new TelemetryExportError("something failed");
// @ts-expect-error the details are the error's fields
export const wrongDetail = new TelemetryExportError("closed", "closed", { pending: "1" });

// Both transports expose the request headers they were given.
export const webHeaders: Record<string, string> = new GrpcWebTransport({ url: "https://gateway.example.com", headers: { authorization: "Bearer t" } }).headers;
export const nodeHeaders: Record<string, string> = plaintext.headers;
