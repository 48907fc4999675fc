// JS values that JSON text cannot carry. JSON.stringify writes Infinity, -Infinity and NaN as
// null and leaves out undefined, symbols and functions, so the core would only see a missing or
// null metadata value and answer `invalid value type <nil>`. These are caught before serialization and named as the JS
// values they were. (Only the boundary's concern: the metadata rule itself is the core's.)

/** The error for a recording whose metadata holds a value JSON cannot carry, or null. */
export function metadataValueProblem(input) {
  const parameters = input.parameters;
  if (parameters === null || typeof parameters !== "object") return null;
  const metadata = parameters.metadata;
  if (!Array.isArray(metadata)) return null;
  for (const entry of metadata) {
    if (entry === null || typeof entry !== "object") continue;
    const value = entry.value;
    if (typeof value === "number") {
      if (!Number.isFinite(value)) {
        return `${prefix(entry.key)} ${value} (a JavaScript number that JSON cannot carry; metadata values must be finite numbers)`;
      }
    } else if (value === undefined) {
      return `${prefix(entry.key)} undefined (metadata values must be finite numbers)`;
    } else if (typeof value === "bigint") {
      return `${prefix(entry.key)} ${value}n (a BigInt; metadata values must be finite numbers)`;
    } else if (typeof value === "symbol") {
      return `${prefix(entry.key)} ${value.toString()} (a symbol; metadata values must be finite numbers)`;
    } else if (typeof value === "function") {
      return `${prefix(entry.key)} a function (metadata values must be finite numbers)`;
    }
  }
  return null;
}

function prefix(key) {
  return `metadata ${JSON.stringify(String(key))} has invalid value`;
}
