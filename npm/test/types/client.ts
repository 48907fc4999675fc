// Type-checked by `npm run typecheck`: the slim client entry as a browser app would use it.
import {
  init,
  record,
  recordBatch,
  validate,
  redact,
  GatewayExporter,
  GrpcWebTransport,
  ValidationProcessor,
  type TelemetryEventInput,
  type GatewayExporterOptions,
  type Op,
} from "@telemetry-gateway/core/client";
// @ts-expect-error translate is in the full build only
import { translate } from "@telemetry-gateway/core/client";

export async function start(): Promise<GatewayExporter> {
  await init();
  const input: TelemetryEventInput = { feature: "a.b", action: "cd", source: { client: "web" }, parameters: { version: 0 } };
  new ValidationProcessor().processEvent(input);
  const r = record(input, { serverVersion: "5.5.0" });
  if ("event" in r) validate(r.event), redact(r.event);
  const [first] = recordBatch([input], { context: { serverVersion: "5.5.0" } });
  if (first && "error" in first) throw new Error(first.error);
  const options: GatewayExporterOptions = {
    transport: new GrpcWebTransport({ url: "https://gateway.example.com" }),
    metadata: { identifier: { unlicensedInstance: { instanceId: "i" } } },
    context: { serverVersion: "5.5.0" },
    queueName: "web-app",
  };
  return new GatewayExporter(options);
}
export const op: Op = "record";
export const unused = translate;
// @ts-expect-error decoding requests is the gateway's side of the wire: full build only
import { decodeRecordEventsRequest } from "@telemetry-gateway/core/client";
export const unusedDecoder = decodeRecordEventsRequest;
