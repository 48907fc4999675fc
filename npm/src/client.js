// Browsers and bundlers, the slim client build (ES module, no top-level await): record,
// validate, redact, the protobuf codecs, the exporter rules and the GatewayExporter, in a module
// a fraction of the full one's size (no Pub/Sub translation, ingest or conformance comparison).
// Call `await init()` (fetches client_bg.wasm next to this file, or from the URL / Response /
// bytes / WebAssembly.Module you pass) or `initSync(bytes)` once before any other function.
import initGlue, * as glue from "./client_web.js";
import { createApi } from "./api.js";
import { webEntry } from "./web-entry.js";

const api = webEntry(createApi, initGlue, glue, false);

export const {
  init,
  initSync,
  runOp,
  validate,
  redact,
  record,
  recordBatch,
  recordRequests,
  eventsRequests,
  checkEvents,
  checkEventInput,
  redactEventInput,
  uuidV7,
  encodeRecordEventsRequest,
  encodeRecordEventsResponse,
  decodeRecordEventsResponse,
  encodeRecordEventRequest,
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
  __trapForTests,
} = api;
