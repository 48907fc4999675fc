// Recordings for the end-to-end tests, and the check of a sink against the core: every line's
// body must be byte-identical to `translate(metadata, redact(record(input, context)))`.
import assert from "node:assert/strict";
import * as core from "../../dist/node.mjs";
import { lineEventId } from "./gateway.mjs";

/** A varied `TelemetryEventInput` (the JS SDK's shape). */
export function recordingFor(i, tag = "export") {
  const r = {
    feature: i % 3 === 0 ? "cody.chat" : `${tag}.feature-${"abcdefg"[i % 7]}`,
    action: ["submitted", "clicked", "viewed"][i % 3],
    source: { client: i % 2 ? "VSCode.Cody" : "web", clientVersion: `1.${i % 5}.0` },
    parameters: {
      version: i % 4,
      metadata: [
        { key: "count", value: i },
        { key: "ratio", value: i / 8 },
      ],
      privateMetadata: { prompt: `private text ${i}`, nested: { n: i } },
    },
  };
  if (i % 2 === 0) r.marketingTracking = { url: `https://example.com/p/${i}`, cohortID: "c1" };
  if (i % 5 === 0) r.parameters.billingMetadata = { product: "cody", category: "core" };
  if (i % 6 === 0) r.parameters.interactionID = `interaction-${i}`;
  return r;
}

/**
 * A recording context that remembers, per event id, what the exporter was given, so a test can
 * recompute the event independently with the core.
 */
export function trackingContext(base = {}) {
  const byId = new Map();
  const context = (input) => {
    const ctx = { serverVersion: "5.5.0", user: { userId: 9007199254740993n }, featureFlags: { "new-ui": true }, ...base, id: core.uuidV7(), now: new Date().toISOString() };
    byId.set(ctx.id, { input: structuredClone(input), ctx });
    return ctx;
  };
  return { context, byId };
}

/** The exact Pub/Sub body and attributes the gateway must publish for a recorded event. */
export function expectedMessage(metadata, policy, { input, ctx }) {
  const recorded = core.record(input, ctx);
  assert.ok(recorded.event, recorded.error);
  const redacted = core.redact(recorded.event, policy);
  assert.ok(redacted.event, redacted.error);
  const t = core.translate(metadata, redacted.event);
  assert.equal(typeof t.payload, "string", JSON.stringify(t));
  return { payload: t.payload, attributes: t.attributes, event: redacted.event };
}

/**
 * Checks sink lines against the recordings: each line byte-identical to the core's translation,
 * no unknown ids, none missing. Returns `{ events, lines, duplicates, missing }`.
 */
export function checkSink(lines, byId, metadata, policy = {}) {
  const expected = new Map();
  const seen = new Map();
  for (const line of lines) {
    const id = lineEventId(line);
    const tracked = byId.get(id);
    assert.ok(tracked, `the sink holds an event that was never recorded: ${id}`);
    if (!expected.has(id)) expected.set(id, expectedMessage(metadata, policy, tracked));
    const want = expected.get(id);
    assert.equal(line.data, want.payload, `event ${id}: body differs from the core's translation`);
    assert.deepEqual(line.attributes, want.attributes, `event ${id}: attributes differ`);
    seen.set(id, (seen.get(id) || 0) + 1);
  }
  const missing = [...byId.keys()].filter((id) => !seen.has(id));
  const duplicates = lines.length - seen.size;
  return { events: byId.size, lines: lines.length, duplicates, missing };
}
