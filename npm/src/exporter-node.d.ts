// Types of @telemetry-gateway/core/exporter-node (Node only: loads @grpc/grpc-js).
import type { ChannelCredentials, ChannelOptions } from "@grpc/grpc-js";
import type { RecordEventsCallOptions, RecordEventsTransport } from "@telemetry-gateway/core";

export {
  GatewayExporter,
  GrpcWebTransport,
  TelemetryExportError,
  GrpcStatusError,
} from "@telemetry-gateway/core";
export type { GatewayExporterOptions, RecordEventsTransport, OverflowPolicy } from "@telemetry-gateway/core";

/** `RecordEvents` over gRPC (HTTP/2, @grpc/grpc-js): a bidirectional stream per call. */
export declare class GrpcTransport implements RecordEventsTransport {
  constructor(options: {
    /** `host:port` or any grpc-js target. */
    address: string;
    /** Default TLS (`credentials.createSsl()`); `credentials.createInsecure()` for plaintext. */
    credentials?: ChannelCredentials;
    /** Request metadata, e.g. `{ authorization: "Bearer …" }`. */
    headers?: Record<string, string>;
    channelOptions?: ChannelOptions;
  });
  readonly headers: Record<string, string>;
  recordEvents(requests: Uint8Array[], options: RecordEventsCallOptions): Promise<void>;
  close(): void;
}
