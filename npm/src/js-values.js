// JS values that JSON text cannot carry. JSON.stringify writes Infinity, -Infinity and NaN as
// null and leaves out undefined, symbols and functions, so the core would only see a missing or
// null metadata value and answer `invalid value type <nil>` (a recording), or drop the key or
// version without a word (an Event, whose metadata is a map). These are caught before
// serialization and named as the JS values they were. (Only the boundary's concern: the metadata
// rule itself is the core's.)

/** The error for a recording whose metadata or version holds a value JSON cannot carry, or null. */
export function metadataValueProblem(input) {
  const parameters = input.parameters;
  if (parameters === null || typeof parameters !== "object") return null;
  const version = versionProblem(parameters.version);
  if (version !== null) return version;
  const metadata = parameters.metadata;
  if (!Array.isArray(metadata)) return null;
  for (const entry of metadata) {
    if (entry === null || typeof entry !== "object") continue;
    const value = entry.value;
    if (value === undefined) {
      return `${prefix(entry.key)} undefined (metadata values must be finite numbers)`;
    } else if (typeof value === "bigint") {
      return `${prefix(entry.key)} ${value}n (a BigInt; metadata values must be finite numbers)`;
    }
    const problem = valueProblem(entry.key, value);
    if (problem !== null) return problem;
  }
  return null;
}

/**
 * The error for an Event (proto3 JSON: `parameters.metadata` a map) whose metadata or version
 * holds a value JSON cannot carry, or null. An undefined value is left out, as JSON leaves out
 * any undefined property, and a BigInt is its decimal string (a double in proto3 JSON).
 */
export function eventValueProblem(event) {
  if (event === null || typeof event !== "object") return null;
  const parameters = event.parameters;
  if (parameters === null || typeof parameters !== "object") return null;
  const version = versionProblem(parameters.version);
  if (version !== null) return version;
  const metadata = parameters.metadata;
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) return null;
  for (const key in metadata) {
    const problem = valueProblem(key, metadata[key]);
    if (problem !== null) return problem;
  }
  return null;
}

function valueProblem(key, value) {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      return `${prefix(key)} ${value} (a JavaScript number that JSON cannot carry; metadata values must be finite numbers)`;
    }
  } else if (typeof value === "symbol") {
    return `${prefix(key)} ${value.toString()} (a symbol; metadata values must be finite numbers)`;
  } else if (typeof value === "function") {
    return `${prefix(key)} a function (metadata values must be finite numbers)`;
  }
  return null;
}

function versionProblem(version) {
  if (typeof version === "number" && !Number.isFinite(version)) {
    return `parameters.version has invalid value ${version} (a JavaScript number that JSON cannot carry)`;
  }
  return null;
}

/** What a JS value is, for an error message: "a string", "null", "an array", … */
export function describe(value) {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array";
  const type = typeof value;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function prefix(key) {
  return `metadata ${JSON.stringify(String(key))} has invalid value`;
}

/**
 * Why one recording of a batch cannot reach the core, or null. Asked only after the batch's call
 * failed, so that one such recording is refused alone and the rest of the batch is recorded:
 * JSON.stringify throws on it (a cyclic object; a getter, `toJSON` or Proxy that throws; an
 * object too deep for the JS stack), or it holds a lone UTF-16 surrogate.
 */
export function recordingProblem(input, stringify) {
  try {
    stringify(input);
  } catch (e) {
    return unwritable(e);
  }
  return loneSurrogateProblem(input);
}

/** The error for a recording whose serialization threw `e`. */
export function unwritable(e) {
  return `recording cannot be written as JSON: ${e && e.message ? e.message : e}`;
}

/**
 * Where `value` holds a lone UTF-16 surrogate (a string cut in the middle of an emoji, say), or
 * null. JSON.stringify writes one as an escape (`"\ud83d"`) that no UTF-8 JSON reader accepts —
 * the core's neither (serde_json: "lone leading surrogate in hex escape"), which would name only a
 * column of the whole batch's text. This names the field and shows the string.
 */
export function loneSurrogateProblem(value, path = "", depth = 0) {
  if (typeof value === "string") return surrogateIn(value, path, "");
  // Deeper than the core reads JSON (serde_json's limit, 128) is refused by the core anyway.
  if (value === null || typeof value !== "object" || depth > 130) return null;
  try {
    const isArray = Array.isArray(value);
    for (const key of Object.keys(value)) {
      const at = path === "" ? key : `${path}.${key}`;
      const problem = (isArray ? null : surrogateIn(key, path, "key ")) || loneSurrogateProblem(value[key], at, depth + 1);
      if (problem) return problem;
    }
  } catch {
    // A getter or Proxy that throws now: JSON.stringify's own error is the one reported.
  }
  return null;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function surrogateIn(text, path, what) {
  const found = LONE_SURROGATE.exec(text);
  if (found === null) return null;
  const at = found.index;
  // A long string is shown around the surrogate.
  const start = text.length <= 64 ? 0 : Math.max(0, at - 30);
  const end = text.length <= 64 ? text.length : Math.min(text.length, at + 31);
  const shown = `${start > 0 ? "…" : ""}${JSON.stringify(text.slice(start, end))}${end < text.length ? "…" : ""}`;
  const unit = `\\u${text.charCodeAt(at).toString(16)}`;
  return `${path === "" ? "" : `${path}: `}${what}${shown} holds a lone UTF-16 surrogate (${unit}), which UTF-8 text cannot carry`;
}
