// Node only, ES module: re-exports the CommonJS build (one WASM instance with the main entry).
import api from "./exporter-node.cjs";

export const { GrpcTransport, FileQueueStore, GatewayExporter, GrpcWebTransport, TelemetryExportError, GrpcStatusError } = api;
