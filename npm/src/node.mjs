// Node, ES module (`import`). Re-exports the CommonJS entry, so `import` and `require` in one
// process share one WASM instance.
import api from "./node.cjs";

export const {
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
  __trapForTests,
} = api;
