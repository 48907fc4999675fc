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
  type GatewayExporterOptions,
  type RecordEventsTransport,
  type TelemetryEventInput,
} from "@telemetry-gateway/core";
import { GrpcTransport } from "@telemetry-gateway/core/exporter-node";
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
  maxQueueEvents: 1000,
  overflow: "drop-oldest",
  retry: { baseMs: 100, maxMs: 10_000, maxAttempts: 20 },
  onError: (e: TelemetryExportError) => {
    const code: "invalid_event" | "queue_overflow" | "export_failed" | "retries_exhausted" | "flush_timeout" | "closed" = e.code;
    if (e.cause instanceof GrpcStatusError) console.log(code, e.cause.code, e.cause.details);
  },
};
export const exporter: TelemetryExporter = new GatewayExporter(options);
const node: RecordEventsTransport = new GrpcTransport({ address: "127.0.0.1:10080", credentials: credentials.createInsecure(), headers: { authorization: "Bearer t" } });
export const nodeExporter = new GatewayExporter({ ...options, transport: node });
export async function finish(): Promise<number> {
  await nodeExporter.flush({ timeoutMs: 1000 });
  await nodeExporter.close();
  return nodeExporter.pending + nodeExporter.stats.acknowledged + nodeExporter.pendingEvents().length;
}
export const chunks: [number, number][] = planChunks([1, 2, 3], 1024);
export const delay: number = backoffDelayMs(2, 100, 1000, Math.random());
export const acked: string[] = acknowledged(["a"], ["a"]);
