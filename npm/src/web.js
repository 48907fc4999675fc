// Browsers and bundlers (ES module, no top-level await). Call `await init()` (fetches
// core_bg.wasm next to this file, or from the URL / Response / bytes / WebAssembly.Module you
// pass) or `initSync(bytes)` once before any other function.
import initGlue, * as glue from "./core_web.js";
import { createApi } from "./api.js";

let ready = false;

/** Loads the module asynchronously. Idempotent. */
export async function init(moduleOrPath) {
  await initGlue(moduleOrPath === undefined ? undefined : { module_or_path: moduleOrPath });
  ready = true;
}

/** Loads the module synchronously from its bytes (or a compiled WebAssembly.Module). */
export function initSync(module) {
  glue.initSync({ module });
  ready = true;
}

const api = createApi({
  glue: () => {
    if (!ready) {
      throw new Error("@telemetry-gateway/core: call init() or initSync(bytes) before using the module");
    }
    return glue;
  },
  reset: () => glue.__wbg_reset_state(),
});

export const {
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
  planChunks,
  backoffDelayMs,
  acknowledged,
  GatewayExporter,
  GrpcWebTransport,
  TelemetryExportError,
  GrpcStatusError,
  conformance,
  __trapForTests,
} = api;
