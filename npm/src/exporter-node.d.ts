// Types of @telemetry-gateway/core/exporter-node (Node only: loads the peer dependency
// @grpc/grpc-js).
import type { ChannelCredentials, ChannelOptions } from "@grpc/grpc-js";
import type { QueuedEvent, QueueStore, RecordEventsCallOptions, RecordEventsTransport } from "@telemetry-gateway/core";

export {
  GatewayExporter,
  GrpcWebTransport,
  TelemetryExportError,
  GrpcStatusError,
} from "@telemetry-gateway/core";
export type { GatewayExporterOptions, RecordEventsTransport, OverflowPolicy, QueueStore, QueuedEvent } from "@telemetry-gateway/core";

/** Where the gateway is, and how to talk to it. */
export type GrpcTransportOptions = (
  | {
      /** `http://host:port` (plaintext) or `https://host[:port]` (TLS, default port 443). */
      url: string;
      address?: never;
      insecure?: never;
    }
  | {
      /** A grpc-js target (`host:port`): TLS unless `insecure: true`. */
      address: string;
      insecure?: boolean;
      url?: never;
    }
) & {
  /** Channel credentials of the same @grpc/grpc-js (e.g. TLS with a private CA); overrides the scheme. */
  credentials?: ChannelCredentials;
  /** Request metadata, e.g. `{ authorization: "Bearer …" }`. */
  headers?: Record<string, string>;
  channelOptions?: ChannelOptions;
};

/** `RecordEvents` over gRPC (HTTP/2, @grpc/grpc-js): a bidirectional stream per call. */
export declare class GrpcTransport implements RecordEventsTransport {
  constructor(options: GrpcTransportOptions);
  readonly headers: Record<string, string>;
  /** The grpc-js target (`host:port`). */
  readonly target: string;
  /** Whether the channel uses TLS. */
  readonly tls: boolean;
  recordEvents(requests: Uint8Array[], options: RecordEventsCallOptions): Promise<void>;
  close(): void;
}

/**
 * A file-backed export queue (`persist: new FileQueueStore(path)`): events are written before
 * `exportEvents` resolves and resumed by the next process. `fsync: true` also survives power loss.
 */
export declare class FileQueueStore implements QueueStore {
  constructor(path: string, options?: { fsync?: boolean });
  readonly path: string;
  readonly kind: "file";
  open(adopt: (events: QueuedEvent[]) => void): Promise<void>;
  add(events: QueuedEvent[]): Promise<void>;
  remove(ids: string[]): Promise<void>;
  close(): Promise<void>;
}
