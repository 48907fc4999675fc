// The CommonJS view of the same declarations (`require`).
import core = require("@telemetry-gateway/core");

export const answer: core.ValidateAnswer = core.validate({ id: "1" });
export const bytes: Uint8Array = core.encodeEvent({ id: "1" });
export const processor: core.TelemetryProcessor = new core.ValidationProcessor();

import exporterNode = require("@telemetry-gateway/core/exporter-node");
export const transport: core.RecordEventsTransport = new exporterNode.GrpcTransport({ address: "127.0.0.1:1" });
export const exporterClass: typeof core.GatewayExporter = exporterNode.GatewayExporter;

import client = require("@telemetry-gateway/core/client");
export const clientAnswer: core.ValidateAnswer = client.validate({ id: "1" });
export const clientBatch: core.RecordBatchResult[] = client.recordBatch([], { context: { serverVersion: "1" } });
export const fileStore: core.QueueStore = new exporterNode.FileQueueStore("/tmp/q.log");
