// The JavaScript API over the WASM module, shared by every entry point (node.cjs, node.mjs,
// web.js). No telemetry rule lives here: each function marshals its arguments to JSON text,
// calls the core through wasm-bindgen, and parses the answer.
//
// Boundary encoding: JSON strings (see README "Boundary encoding" and bench/). Objects are
// serialized with JSON.stringify (a BigInt is written as its decimal string); a string argument
// is taken as JSON text as it is, so callers can pass int64 values and doubles exactly.
// Answers are parsed with JSON.parse: every int64 in them (user ids, legacyMetadata values) is a
// decimal string, as in proto3 JSON, so no precision is ever lost.
import { createExporter } from "./exporter.js";
import { describe, eventValueProblem, loneSurrogateProblem, metadataValueProblem, recordingProblem, unwritable } from "./js-values.js";

/** A recording every rule accepts: recorded once to check a context or a policy before any event. */
const PROBE_RECORDING = Object.freeze({ feature: "x.x", action: "xx", source: { client: "x" }, parameters: { version: 0 } });

/** A context for checks that only need a syntactically complete `record`. */
const CHECK_CONTEXT = Object.freeze({
  id: "00000000-0000-7000-8000-000000000000",
  now: "1970-01-01T00:00:00Z",
  serverVersion: "0.0.0",
});

const textEncoder = new TextEncoder();
/** Typed arrays use the platform's byte order; the module's tables are little-endian. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
// `ignoreBOM`: a text starting with U+FEFF (an id or message the batch answer decodes and slices
// by UTF-16 lengths) keeps it, instead of losing one unit and shifting every later slice.
const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Console warnings given once per process (a missing serverVersion, …). */
const warned = new Set();
function warnOnce(key, message) {
  if (warned.has(key)) return;
  warned.add(key);
  if (typeof console !== "undefined" && console.warn) console.warn(`@telemetry-gateway/core: ${message}`);
}

function bigintReplacer(_key, value) {
  return typeof value === "bigint" ? value.toString() : value;
}

function stringify(value) {
  try {
    return JSON.stringify(value);
  } catch (e) {
    // BigInt values (int64 user ids, legacy metadata) are written as decimal strings.
    if (e instanceof TypeError) return JSON.stringify(value, bigintReplacer);
    throw e;
  }
}

/**
 * UTF-8 bytes of `text` for one call into the module, encoded into a buffer reused from call to
 * call (`slot` 0 or 1: two arguments of one call). wasm-bindgen copies these in one native copy,
 * where a string argument is copied one UTF-16 unit at a time in JS; `encodeInto` into a reused
 * buffer also spares allocating a new array per call. The answer is valid until the next call
 * with the same slot.
 */
const scratch = [new Uint8Array(16 * 1024), new Uint8Array(16 * 1024)];
const SCRATCH_KEPT = 1024 * 1024;
function scratchFor(chars, slot) {
  // At most 3 bytes per UTF-16 unit.
  const need = chars * 3;
  let buffer = scratch[slot];
  if (buffer.length < need) {
    buffer = new Uint8Array(need);
    // A buffer grown for one huge input is not kept.
    if (need <= SCRATCH_KEPT) scratch[slot] = buffer;
  }
  return buffer;
}
function utf8(text, slot = 0) {
  const buffer = scratchFor(text.length, slot);
  const { written } = textEncoder.encodeInto(text, buffer);
  return buffer.subarray(0, written);
}
/** Several texts back to back as UTF-8, and each one's length in bytes. */
function utf8Joined(texts) {
  let chars = 0;
  let strings = true;
  for (const t of texts) {
    chars += t.length;
    if (typeof t !== "string") strings = false;
  }
  const buffer = scratchFor(chars, 0);
  const lens = new Uint32Array(texts.length);
  // One encodeInto for all: when every character was one byte (ASCII, as generated ids are),
  // each text's byte length is its length (one view per text cost more than the encoding).
  const joined = strings ? texts.join("") : "";
  const { written } = textEncoder.encodeInto(joined, buffer);
  if (strings && written === joined.length) {
    for (let i = 0; i < texts.length; i++) lens[i] = texts[i].length;
    return { bytes: buffer.subarray(0, written), lens };
  }
  let at = 0;
  for (let i = 0; i < texts.length; i++) {
    const { written } = textEncoder.encodeInto(texts[i], buffer.subarray(at));
    lens[i] = written;
    at += written;
  }
  return { bytes: buffer.subarray(0, at), lens };
}

/** JSON text of an argument: a string is taken as JSON text already. */
function jsonText(value) {
  return typeof value === "string" ? value : stringify(value === undefined ? null : value);
}

/** The error thrown when the module trapped (a bug in the core); the module was re-instantiated. */
export class TelemetryCoreTrap extends Error {
  constructor(cause) {
    super(
      `telemetry core trapped (${cause && cause.message ? cause.message : cause}); the WASM module was re-instantiated and is usable again`,
      { cause },
    );
    this.name = "TelemetryCoreTrap";
  }
}

/** Thrown by the processors when an event would be rejected. */
export class TelemetryEventValidationError extends Error {
  constructor(message, event) {
    super(message);
    this.name = "TelemetryEventValidationError";
    this.event = event;
  }
}

/**
 * Builds the API over a wasm-bindgen glue module. `full: false` (the slim client build) leaves
 * out what that module does not hold: `translate`, `ingest` and the conformance comparison.
 * @param {{ glue: () => any, reset: () => void, full?: boolean }} host
 */
export function createApi(host) {
  const full = host.full !== false;
  /**
   * Calls into the module; a trap re-instantiates it and is rethrown as TelemetryCoreTrap.
   * Arguments are serialized before `call`: a JS error there (a cyclic or 10,000-deep object's
   * TypeError or RangeError from JSON.stringify) is the caller's, thrown as it is, not a trap.
   */
  function call(fn) {
    const glue = host.glue();
    try {
      return fn(glue);
    } catch (e) {
      // A trap (RuntimeError), or a stack overflow inside WASM (V8 raises RangeError), may leave
      // the instance's memory inconsistent: start a fresh one.
      if (e instanceof WebAssembly.RuntimeError || e instanceof RangeError) {
        host.reset();
        throw new TelemetryCoreTrap(e);
      }
      throw e;
    }
  }

  /**
   * Runs `op` on an input given as named fields; undefined fields are left out. `fields` are
   * data arguments (an object, or a string holding its JSON text); `options` are plain values
   * (a string option is a string, never JSON text).
   */
  function runFields(op, fields, options = {}, fill = false) {
    // Objects only (the common case): the input object's JSON text is written field by field,
    // without building a wrapper object or arrays. Field names are this file's constants (plain
    // identifiers): written as they are, without JSON.stringify.
    let allObjects = true;
    for (const name in fields) if (typeof fields[name] === "string") allObjects = false;
    if (allObjects) {
      const text = fieldsText(options, fieldsText(fields, "{"));
      return runText(op, utf8(text + "}"), fill);
    }
    const names = [];
    const values = [];
    for (const name in fields) {
      const value = fields[name];
      if (value === undefined) continue;
      names.push(name);
      values.push(typeof value === "string" ? value : stringify(value));
    }
    for (const name in options) {
      const value = options[name];
      if (value === undefined) continue;
      names.push(name);
      values.push(stringify(value));
    }
    const { bytes, lens } = utf8Joined(values);
    return JSON.parse(call((g) => g.runOpFields(op, names, bytes, lens, fill)));
  }

  /** `text` (an object's JSON text so far, from its `{`) with `group`'s defined fields added. */
  function fieldsText(group, text) {
    for (const name in group) {
      const value = group[name];
      if (value === undefined) continue;
      text += (text.length > 1 ? ',"' : '"') + name + '":' + stringify(value);
    }
    return text;
  }

  /**
   * Runs `op` on its input's JSON text (UTF-8) through the module's entry point for it
   * (wasm/src/lib.rs): `recordNow` when `fill`; in the full module `validateText`, which answers
   * `undefined` for a valid event (the answer `{"ok":true}`, built here as a fresh object, as
   * JSON.parse would give it), and `redactText`; else `runOp` (the client module, whose size
   * budget leaves those two out).
   */
  function runText(op, bytes, fill) {
    if (fill) return JSON.parse(call((g) => g.recordNow(bytes)));
    if (full && op === "validate") {
      const answer = call((g) => g.validateText(bytes));
      return answer === undefined ? { ok: true } : JSON.parse(answer);
    }
    if (full && op === "redact") return JSON.parse(call((g) => g.redactText(bytes)));
    return JSON.parse(call((g) => g.runOp(op, bytes)));
  }

  function runOp(op, input) {
    const bytes = utf8(jsonText(input));
    return JSON.parse(call((g) => g.runOp(op, bytes)));
  }

  /**
   * The lone UTF-16 surrogate one of a failed call's object arguments (`[path, value]` pairs)
   * holds, named (js-values.js), or null: the core refuses one as malformed JSON text, with a
   * message that names only a column of that text.
   */
  function surrogateProblem(e, args) {
    if (e instanceof TelemetryCoreTrap) return null;
    for (const [path, value] of args) {
      const problem = typeof value === "object" && value !== null ? loneSurrogateProblem(value, path) : null;
      if (problem !== null) return problem;
    }
    return null;
  }

  /** A failed call's answer `{ error }` when an argument holds a lone surrogate; else `e` rethrown. */
  function surrogateError(e, ...args) {
    const problem = surrogateProblem(e, args);
    if (problem === null) throw e;
    return { error: problem };
  }

  function validate(event) {
    const problem = eventValueProblem(event);
    if (problem !== null) return { error: problem };
    try {
      return runFields("validate", { event });
    } catch (e) {
      return surrogateError(e, ["", event]);
    }
  }

  function redact(event, policy = {}) {
    const problem = eventValueProblem(event);
    if (problem !== null) return { error: problem };
    try {
      return runFields("redact", { event, policy });
    } catch (e) {
      return surrogateError(e, ["", event]);
    }
  }

  function translate(metadata, event, options = {}) {
    const problem = eventValueProblem(event);
    if (problem !== null) return { error: problem };
    try {
      return translateAnswer(metadata, event, options);
    } catch (e) {
      return surrogateError(e, ["metadata", metadata], ["", event]);
    }
  }

  function translateAnswer(metadata, event, options) {
    const maxMessageBytes = options.maxMessageBytes;
    if (typeof metadata === "string" || typeof event === "string") {
      // Exact JSON text given for a field: the fields path (no string splicing).
      const answer = runFields("translate", { metadata, event }, { maxMessageBytes });
      if (typeof answer.payload === "string") answer.data = textEncoder.encode(answer.payload);
      return answer;
    }
    // Objects: one input text, and the answer's body as bytes (wasm/src/lib.rs translateParts):
    // `data` is those bytes, `payload` their text, without a JSON string's escaping.
    const text = fieldsText({ maxMessageBytes }, fieldsText({ metadata, event }, "{"));
    const bytes = utf8(text + "}");
    const parts = call((g) => g.translateParts(bytes));
    const view = new DataView(parts.buffer, parts.byteOffset, parts.byteLength);
    const len = view.getUint32(0, true);
    if (len === 0xffffffff) return JSON.parse(textDecoder.decode(parts.subarray(4)));
    // A copy of its own (not a view of the whole answer), as TextEncoder.encode gave it.
    const data = parts.slice(4, 4 + len);
    const rest = JSON.parse(textDecoder.decode(parts.subarray(4 + len)));
    return { payload: textDecoder.decode(data), attributes: rest.attributes, data };
  }

  function ingest(metadata, events, options = {}) {
    return runFields("ingest", { metadata, events }, { rpc: options.rpc, maxMessageBytes: options.maxMessageBytes });
  }

  function record(event, context = {}) {
    const problem = typeof event === "object" && event !== null ? metadataValueProblem(event) : null;
    if (problem) return { error: problem };
    if (typeof context === "object" && context !== null && context.serverVersion === undefined) {
      warnOnce(
        "record-server-version",
        "record(): the context has no serverVersion, so events carry an empty source.server (\"server\":{}); pass context.serverVersion (the version of the instance or service recording them)",
      );
    }
    try {
      return runFields("record", { event, context }, {}, true);
    } catch (e) {
      return surrogateError(e, ["", event]);
    }
  }

  /**
   * The batch path (one boundary crossing): records, validates, redacts and encodes every
   * recording. `context` is one context or an array with one per recording; `policy` the
   * redaction policy. Answers one result per recording: `{ id, bytes }` (the event's protobuf
   * wire bytes) or `{ error }` (the core's message).
   */
  function recordBatch(inputs, { context = {}, policy = {} } = {}) {
    return recordInputs("recordBatch", inputs, context, policy, 1024 * 1024).results;
  }

  /**
   * recordBatch and eventsRequests in one boundary crossing (the exporter's usual path): answers
   * `{ results, requests }`, `results` as recordBatch's, `requests` the `RecordEventsRequest`s
   * carrying the recorded events cut under `limit` bytes (default 1 MiB) by the core's chunk
   * plan, as eventsRequests would frame them. Each result's `bytes` is a view of its request.
   */
  function recordRequests(inputs, { context = {}, policy = {}, limit = 1024 * 1024 } = {}) {
    return recordInputs("recordRequests", inputs, context, policy, limit);
  }

  /** recordBatch or recordRequests (the same call into the module); `entry` as recordBatchText's. */
  function recordInputs(name, inputs, context, policy, limit, entry = null) {
    if (!Array.isArray(inputs)) throw new TypeError(`${name}: expected an array of TelemetryEventInput`);
    const perEvent = Array.isArray(context);
    if (perEvent && context.length !== inputs.length) {
      throw new TypeError(`${name}: ${context.length} contexts for ${inputs.length} recordings`);
    }
    // JS values JSON cannot carry (Infinity, NaN, undefined metadata values) are refused here,
    // with the JS value named, before JSON.stringify would turn them into null.
    let problems = null;
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i];
      let problem;
      try {
        problem = typeof input === "object" && input !== null ? metadataValueProblem(input) : null;
      } catch (e) {
        // A getter or Proxy that throws: this recording alone is refused.
        problem = unwritable(e);
      }
      if (problem) (problems ||= new Map()).set(i, problem);
    }
    const policyText = jsonText(policy);
    // The recordings not refused (and their contexts), in one call into the module.
    const recordRest = () => {
      const kept = (_, i) => !problems.has(i);
      const sent = problems ? inputs.filter(kept) : inputs;
      const sentContext = problems && perEvent ? context.filter(kept) : context;
      return recordBatchText(stringify(sent), jsonText(sentContext), perEvent, policyText, limit, entry);
    };
    let answer;
    try {
      answer = recordRest();
    } catch (e) {
      // One recording JSON.stringify throws on, or that the core cannot read, fails the whole
      // call: find each such recording, refuse it alone, and record the others.
      if (e instanceof TelemetryCoreTrap) throw e;
      const found = recordingProblems(inputs, problems, context, perEvent, policyText);
      if (found === null) throw e;
      problems = found;
      answer = recordRest();
    }
    if (!problems) return answer;
    const out = new Array(inputs.length);
    for (let i = 0, j = 0; i < inputs.length; i++) {
      out[i] = problems.has(i) ? { error: problems.get(i) } : answer.results[j++];
    }
    // The ids' UTF-8 (see recordBatchText) no longer line up with the recordings.
    return { results: out, requests: answer.requests, ids: null };
  }

  /**
   * After a batch's call failed: `problems` (or a new map) with each recording that cannot reach
   * the core alone added — one JSON.stringify throws on or that holds a lone surrogate
   * (js-values.js), or one the core refuses as malformed JSON by itself (deeper than it reads) —
   * or null if none (the call failed for another reason: a context or policy it cannot read).
   */
  function recordingProblems(inputs, problems, context, perEvent, policyText) {
    const found = new Map(problems || []);
    const before = found.size;
    for (let i = 0; i < inputs.length; i++) {
      if (found.has(i)) continue;
      const input = inputs[i];
      let problem = recordingProblem(input, stringify);
      if (problem === null) {
        try {
          recordBatchText(stringify([input]), jsonText(perEvent ? [context[i]] : context), perEvent, policyText, 1024 * 1024);
        } catch (e) {
          if (!(e instanceof TelemetryCoreTrap) && /^malformed input: recordings: /.test(e.message)) problem = e.message;
        }
      }
      if (problem !== null) found.set(i, problem);
    }
    return found.size > before ? found : null;
  }

  /**
   * recordRequests on JSON texts: answers `{ results: [{ id, bytes } | { error }], requests }`.
   * The module answers one buffer (layout in wasm/src/batch.rs): lengths and offsets, the ids and
   * messages as one UTF-8 text (decoded once, then sliced), then the framed requests holding the
   * events' bytes; each answer's `bytes` and each request is a view of that buffer.
   */
  function recordBatchText(inputsText, contextText, perEvent, policyText, limit, entry = null) {
    const inputsBytes = utf8(inputsText, 0);
    const contextBytes = utf8(contextText, 1);
    const buffer = call((g) => g.recordBatch(inputsBytes, contextBytes, perEvent, policyText, limit));
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    const n = view.getUint32(0, true);
    const textBytes = view.getUint32(4, true);
    const head = 8 + 12 * n;
    const text = textDecoder.decode(buffer.subarray(head, head + textBytes));
    const results = new Array(n);
    const tail = head + textBytes;
    let t = 0;
    let errors = 0;
    for (let i = 0; i < n; i++) {
      const len = view.getUint32(8 + 4 * i, true);
      const units = view.getUint32(8 + 4 * n + 4 * i, true);
      const s = text.slice(t, t + units);
      t += units;
      if (len === 0xffffffff) {
        results[i] = { error: s };
        errors++;
      } else {
        const at = tail + view.getUint32(8 + 8 * n + 4 * i, true);
        // The exporter's queue entries (`entry`) make their bytes view when first asked for it.
        results[i] = entry === null ? { id: s, bytes: buffer.subarray(at, at + len) } : entry(s, buffer, at, len);
      }
    }
    const requests = splitRequests(buffer.subarray(tail));
    if (entry === null) return { results, requests };
    // For the exporter: every recording's id as UTF-8 back to back, and each one's length, as
    // acknowledgedInUtf8 takes them — the text's own bytes when it holds only ids, all ASCII
    // (each id's length in bytes is then its length in UTF-16 units, the module's second table).
    let ids = null;
    if (errors === 0 && textBytes === text.length) {
      const lensAt = buffer.byteOffset + 8 + 4 * n;
      const lens = LITTLE_ENDIAN && lensAt % 4 === 0 ? new Uint32Array(buffer.buffer, lensAt, n) : unitsTable(view, n);
      ids = { bytes: buffer.subarray(head, tail), lens };
    }
    return { results, requests, ids };
  }

  /** The module's table of UTF-16 lengths (little-endian u32s after the `n` byte lengths), copied. */
  function unitsTable(view, n) {
    const lens = new Uint32Array(n);
    for (let i = 0; i < n; i++) lens[i] = view.getUint32(8 + 4 * n + 4 * i, true);
    return lens;
  }

  /**
   * The exporter's recordRequests: results are `{ error }` or what `entry(id, buffer, at, len)`
   * makes of a recorded event (its bytes are `buffer[at, at + len)`), and `ids` the recorded ids
   * as UTF-8 for acknowledgedInUtf8, or null.
   */
  function recordQueued(inputs, context, policy, limit, entry) {
    return recordInputs("recordRequests", inputs, context, policy, limit, entry);
  }

  /** acknowledgedIn with the ids already UTF-8 (`bytes`, back to back; `lens`, each one's length). */
  function acknowledgedInUtf8(bytes, lens, response) {
    return call((g) => g.acknowledgedIn(bytes, lens, response));
  }

  /** Requests back to back, each after its length (4 bytes, little-endian), as views. */
  function splitRequests(framed) {
    const view = new DataView(framed.buffer, framed.byteOffset, framed.byteLength);
    const requests = [];
    for (let p = 0; p < framed.length; ) {
      const n = view.getUint32(p, true);
      requests.push(framed.subarray(p + 4, p + 4 + n));
      p += 4 + n;
    }
    return requests;
  }

  /**
   * The `RecordEventsRequest`s carrying encoded events (from `recordBatch`), cut into payloads
   * under `limit` bytes (default 1 MiB) by the core's chunk plan, without re-encoding them.
   */
  function eventsRequests(events, limit = 1024 * 1024) {
    let total = 0;
    for (const e of events) total += e.length;
    const joined = new Uint8Array(total);
    const lens = new Uint32Array(events.length);
    let at = 0;
    for (let i = 0; i < events.length; i++) {
      joined.set(events[i], at);
      at += events[i].length;
      lens[i] = events[i].length;
    }
    return splitRequests(call((g) => g.eventsRequests(joined, lens, limit)));
  }

  /** For each encoded event, `null` if it decodes as an Event, else the decode error. */
  function checkEvents(events) {
    let total = 0;
    for (const e of events) total += e.length;
    const joined = new Uint8Array(total);
    const lens = new Uint32Array(events.length);
    let at = 0;
    for (let i = 0; i < events.length; i++) {
      joined.set(events[i], at);
      at += events[i].length;
      lens[i] = events[i].length;
    }
    return JSON.parse(call((g) => g.checkEvents(joined, lens)));
  }

  /**
   * record for the processors: a recording record() throws on (JSON.stringify throws on it, or the
   * core refuses it as too deep) answers the error the exporter path (recordBatch) reports for it,
   * with its message, so the processors refuse exactly what the exporter would.
   */
  function recordForProcessor(event, context) {
    try {
      return record(event, context);
    } catch (e) {
      if (e instanceof TelemetryCoreTrap) throw e;
      let exported;
      try {
        [exported] = recordBatch([event], { context });
      } catch {
        throw e;
      }
      if (exported && "error" in exported) return { error: exported.error };
      throw e;
    }
  }

  /**
   * Why the core cannot record with `context` (under `policy`), or undefined: checked once, when a
   * processor or an exporter is made, instead of refusing every event after.
   */
  function contextProblem(context, policy = {}) {
    try {
      return recordBatch([PROBE_RECORDING], { context, policy })[0].error;
    } catch (e) {
      return String((e && e.message) || e).replace(/^malformed input: /, "");
    }
  }

  /** Why the core cannot parse `policy`, or undefined (checked once, like `contextProblem`). */
  function policyProblem(policy) {
    return redact({ id: "x", feature: "x.x", action: "xx" }, policy).error;
  }

  function checkEventInput(event, context = CHECK_CONTEXT) {
    const answer = recordForProcessor(event, { ...CHECK_CONTEXT, ...context });
    return "error" in answer ? { error: answer.error } : { ok: true };
  }

  function redactEventInput(event, policy = {}) {
    const recorded = recordForProcessor(event, CHECK_CONTEXT);
    if ("error" in recorded) return { error: recorded.error };
    const redacted = redact(recorded.event, policy);
    if ("error" in redacted) return { error: redacted.error };
    const input = typeof event === "string" ? JSON.parse(event) : event;
    const out = { ...input };
    if (input.parameters) out.parameters = { ...input.parameters };
    if (!("marketingTracking" in redacted.event)) delete out.marketingTracking;
    const privateMetadata = redacted.event.parameters && redacted.event.parameters.privateMetadata;
    if (out.parameters) {
      if (privateMetadata === undefined) delete out.parameters.privateMetadata;
      else out.parameters.privateMetadata = privateMetadata;
    }
    return { event: out };
  }

  class ValidationProcessor {
    constructor(options = {}) {
      this.context = { ...CHECK_CONTEXT, ...(options.context || {}) };
      // A context that cannot be used fails here (as GatewayExporter's does), not on every event.
      const problem = contextProblem(this.context);
      if (problem !== undefined) throw new TypeError(`ValidationProcessor: context: ${problem}`);
    }
    processEvent(event) {
      const answer = checkEventInput(event, this.context);
      if ("error" in answer) throw new TelemetryEventValidationError(answer.error, event);
    }
  }

  class RedactionProcessor {
    constructor(policy = {}) {
      // A policy that cannot be parsed fails here, not on the first event.
      const problem = policyProblem(policy);
      if (problem !== undefined) throw new Error(problem);
      this.policy = policy;
    }
    processEvent(event) {
      const answer = redactEventInput(event, this.policy);
      if ("error" in answer) throw new TelemetryEventValidationError(answer.error, event);
      if ("marketingTracking" in event && !("marketingTracking" in answer.event)) {
        delete event.marketingTracking;
      }
      if (event.parameters) {
        if (answer.event.parameters && "privateMetadata" in answer.event.parameters) {
          event.parameters.privateMetadata = answer.event.parameters.privateMetadata;
        } else {
          delete event.parameters.privateMetadata;
        }
      }
    }
  }

  const encoder = (name) => (value) => {
    const problem = encodedEventsProblem(value);
    if (problem !== null) throw new Error(`malformed input: ${problem}`);
    const bytes = utf8(jsonText(value));
    try {
      return call((g) => g[name](bytes));
    } catch (e) {
      const problem = surrogateProblem(e, [["", value]]);
      if (problem === null) throw e;
      throw new Error(`malformed input: ${problem}`, { cause: e });
    }
  };
  const decoder = (name) => (bytes) => {
    const view = protobufBytes(name, bytes);
    return JSON.parse(call((g) => g[name](view)));
  };

  /**
   * A decoder's argument as a Uint8Array: an ArrayBuffer or another view is viewed as its bytes;
   * anything else is refused (the module's glue would read an ArrayBuffer as no bytes and a
   * string as zeros).
   */
  function protobufBytes(name, bytes) {
    if (bytes instanceof Uint8Array) return bytes;
    if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
    if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    throw new TypeError(`${name}: expected protobuf bytes (a Uint8Array or an ArrayBuffer), got ${describe(bytes)}`);
  }

  /** eventValueProblem for the Event, or each Event of the request, an encoder is given. */
  function encodedEventsProblem(value) {
    if (value === null || typeof value !== "object") return null;
    const events = value.events && value.events.events;
    if (Array.isArray(events)) {
      for (const event of events) {
        const problem = eventValueProblem(event);
        if (problem !== null) return problem;
      }
      return null;
    }
    return eventValueProblem(value.event !== undefined ? value.event : value);
  }

  /** The core's chunk plan: index ranges `[start, end)` of events whose sizes stay under `limit`. */
  function planChunks(sizes, limit) {
    const input = limit === undefined ? { sizes } : { sizes, limit };
    const bytes = utf8(JSON.stringify(input));
    return JSON.parse(call((g) => g.planChunks(bytes))).chunks;
  }

  /** The core's retry back-off for `attempt` (from 0); `sample` uniform in [0, 1). */
  function backoffDelayMs(attempt, baseMs, maxMs, sample = Math.random()) {
    return call((g) => g.backoffDelayMs(attempt, baseMs, maxMs, sample));
  }

  /**
   * The positions in `sent` (ids of one call) that an encoded RecordEventsResponse acknowledges,
   * in `sent` order without duplicates: the core decodes the answer and applies `acknowledged`'s
   * rule in one call.
   */
  function acknowledgedIn(sent, response) {
    const { bytes, lens } = utf8Joined(sent);
    return call((g) => g.acknowledgedIn(bytes, lens, response));
  }

  /** The ids of `sent` the gateway acknowledged in `succeeded`, by the core's rule. */
  function acknowledged(sent, succeeded) {
    const bytes = utf8(JSON.stringify({ sent, succeeded }));
    return JSON.parse(call((g) => g.acknowledged(bytes)));
  }

  const core = {
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
    uuidV7: () => call((g) => g.uuidV7()),
    encodeRecordEventsRequest: encoder("encodeRecordEventsRequest"),
    encodeRecordEventsResponse: encoder("encodeRecordEventsResponse"),
    decodeRecordEventsResponse: decoder("decodeRecordEventsResponse"),
    encodeRecordEventRequest: encoder("encodeRecordEventRequest"),
    encodeEvent: encoder("encodeEvent"),
    decodeEvent: decoder("decodeEvent"),
    ValidationProcessor,
    RedactionProcessor,
    TelemetryEventValidationError,
    TelemetryCoreTrap,
    __trapForTests: () => call((g) => g.__trapForTests()),
    planChunks,
    backoffDelayMs,
    acknowledged,
    acknowledgedIn,
  };
  if (full) {
    Object.assign(core, {
      translate,
      ingest,
      // Decoding requests, the gateway's side of the wire (the client module only encodes them).
      decodeRecordEventsRequest: decoder("decodeRecordEventsRequest"),
      decodeRecordEventRequest: decoder("decodeRecordEventRequest"),
      conformance: {
        checkFile: (file, text, target, seenNames = []) => {
          const seen = JSON.stringify(seenNames);
          return JSON.parse(call((g) => g.checkCorpusFile(file, text, target, seen)));
        },
        answerMatches: (expect, actual) => {
          const [expectText, actualText] = [jsonText(expect), jsonText(actual)];
          return call((g) => g.answerMatches(expectText, actualText));
        },
      },
    });
  }
  Object.assign(core, createExporter(core, { recordQueued, acknowledgedInUtf8, contextProblem, policyProblem }));
  return core;
}
