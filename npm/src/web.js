// Browsers and bundlers, the full build (ES module, no top-level await). Call `await init()`
// (fetches core_bg.wasm next to this file, or from the URL / Response / bytes /
// WebAssembly.Module you pass) or `initSync(bytes)` once before any other function.
// The slim client build is `@telemetry-gateway/core/client` (client.js).
import initGlue, * as glue from "./core_web.js";
import { createApi } from "./api.js";
import { webEntry } from "./web-entry.js";

const api = webEntry(createApi, initGlue, glue, true);

export const {
  init,
  initSync,
  runOp,
  validate,
  redact,
  translate,
  ingest,
  record,
  recordBatch,
  recordRequests,
  eventsRequests,
  checkEvents,
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
  planChunks,
  backoffDelayMs,
  acknowledged,
  acknowledgedIn,
  GatewayExporter,
  GrpcWebTransport,
  IndexedDbQueueStore,
  TelemetryExportError,
  GrpcStatusError,
  conformance,
  __trapForTests,
} = api;
