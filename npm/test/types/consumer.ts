// Type-checked by `npm run typecheck` (tsc): every export is used as a consumer would.
import {
  init,
  initSync,
  runOp,
  validate,
  redact,
  translate,
  ingest,
  record,
  checkEventInput,
  redactEventInput,
  uuidV7,
  encodeRecordEventsRequest,
  decodeRecordEventsRequest,
  encodeRecordEventsResponse,
  decodeRecordEventsResponse,
  encodeRecordEventRequest,
  decodeRecordEventRequest,
  encodeEvent,
  decodeEvent,
  ValidationProcessor,
  RedactionProcessor,
  TelemetryEventValidationError,
  TelemetryCoreTrap,
  conformance,
  type TelemetryEventInput,
  type TelemetryProcessor,
  type Event,
} from "@telemetry-gateway/core";

export async function demo(bytes: Uint8Array): Promise<string[]> {
  await init();
  initSync(bytes);
  const input: TelemetryEventInput = {
    feature: "cody.chat",
    action: "submitted",
    source: { client: "VSCode.Cody" },
    parameters: { version: 0, metadata: [{ key: "n", value: 1 }] },
  };
  const processors: TelemetryProcessor[] = [new ValidationProcessor(), new RedactionProcessor({ dotcom: false })];
  for (const p of processors) p.processEvent(input);
  const out: string[] = [];
  const v = validate({ id: "1" });
  if ("error" in v) out.push(v.error);
  else { const ok: true = v.ok; out.push(String(ok)); }
  const r = record(input, { serverVersion: "5.5.0", user: { userId: 42n } });
  if ("event" in r) {
    const e: Event = r.event;
    const userId: string | undefined = e.user?.userId; // int64 as a decimal string
    out.push(userId ?? "");
  }
  const red = redact("{}", { additionalAllowedEventTypes: "a::b::c" });
  if ("event" in red) out.push(red.event.id ?? "");
  const t = translate({ requestId: "r" }, { id: "1" }, { maxMessageBytes: 10 });
  if ("payload" in t) { const d: Uint8Array = t.data; out.push(t.payload, String(d.length), t.attributes["x"] ?? ""); }
  else if ("dropped" in t) { const why: "oversized" = t.dropped; out.push(why); }
  const i = ingest({ requestId: "r" }, [{ id: "1" }], { rpc: "RecordEvent" });
  if ("results" in i) for (const res of i.results) out.push(res.id, res.outcome);
  const c = checkEventInput(input);
  out.push("ok" in c ? "ok" : c.error);
  const s = redactEventInput(input, {});
  if ("event" in s) out.push(s.event.feature);
  out.push(uuidV7(), String(runOp("validate", { event: {} })));
  const a: Uint8Array = encodeRecordEventsRequest({ events: { events: [{ id: "1" }] } });
  const b = decodeRecordEventsRequest(a);
  if ("events" in b) out.push(String(b.events.events.length));
  out.push(...decodeRecordEventsResponse(encodeRecordEventsResponse({ succeededEvents: ["x"] })).succeededEvents);
  const one = decodeRecordEventRequest(encodeRecordEventRequest({ metadata: { requestId: "r" } }));
  out.push(String(one.event?.id));
  out.push(decodeEvent(encodeEvent('{"id":"1"}')).id ?? "");
  out.push(decodeEvent(encodeEvent('{"id":"1"}').slice().buffer).id ?? "");
  try {
    new RedactionProcessor({ additionalAllowedEventTypes: "bad" });
  } catch (e) {
    if (e instanceof TelemetryEventValidationError) out.push(e.message, String(e.event));
    if (e instanceof TelemetryCoreTrap) out.push(e.message);
  }
  const results = conformance.checkFile("f.json", "{}", "wasm");
  for (const res of results) out.push(res.status, res.name ?? "", res.message ?? "");
  out.push(String(conformance.answerMatches({ ok: true }, '{"ok":true}')));
  return out;
}

// @ts-expect-error feature is required
export const bad: TelemetryEventInput = { action: "a", source: { client: "c" }, parameters: { version: 0 } };
// Thrown by a processor of the application's own, as the package's processors throw it.
export const refused = new TelemetryEventValidationError("feature is required", { action: "a" });
export const trap = new TelemetryCoreTrap(new Error("unreachable"));
// @ts-expect-error the offending event is its second argument, not error options
export const withOptions = new TelemetryEventValidationError("m", { cause: 1 }, 3);
