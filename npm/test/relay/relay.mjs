// The relay for the end-to-end tests: `telemetry-gateway relay` started on 127.0.0.1 with an
// SQLite queue in a scratch directory, exporting to a gateway every second; and the GraphQL
// exporter real clients use (the `recordEvents` mutation, as Sourcegraph's editor and web
// clients post it), plus the check of a sink against the core's translation of the hydrated,
// redacted event.
import { join } from "node:path";
import assert from "node:assert/strict";
import * as core from "../../dist/node.mjs";
import { spawnListening } from "../export/gateway.mjs";

export const MUTATION = `mutation RecordTelemetryEvents($events: [TelemetryEventInput!]!) {
    telemetry {
        recordEvents(events: $events) {
            alwaysNil
        }
    }
}`;

export const SERVER_VERSION = "6.4.0";
export const INSTANCE_ID = "js-relay";

/**
 * Starts a relay; resolves with `{ address, child, stop() }` once it logged "relay listening".
 * @param {{ dir: string, gateway: string, args?: string[], timeoutMs?: number }} options
 */
export function startRelay({ dir, gateway, args = [], timeoutMs = 20_000 }) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TELEMETRY_") && !k.startsWith("SRC_")));
  return spawnListening({
    what: "relay",
    argv: [
      "relay", "--listen", "127.0.0.1:0", "--diagnostics-listen", "off", "--queue", join(dir, "queue.sqlite3"),
      "--gateway", `http://${gateway}`, "--unlicensed", "--instance-id", INSTANCE_ID, "--server-version", SERVER_VERSION,
      "--export-interval-seconds", "1", "--log-format", "json", ...args,
    ],
    env,
    timeoutMs,
    stopTimeoutMs: 15_000,
    listening: (fields) => (fields.message === "relay listening" ? fields.listen : undefined),
  }).then(({ child, log, address, stopWith }) => ({ child, log, address, stop: () => stopWith("SIGTERM") }));
}

/**
 * A `TelemetryExporter` (the `@sourcegraph/telemetry` contract) that posts the GraphQL mutation,
 * as Sourcegraph's clients do. Source text shared by Node and the browser page.
 */
export const GRAPHQL_EXPORTER_SOURCE = `class GraphQLTelemetryExporter {
  constructor(url, headers = {}) { this.url = url; this.headers = headers; this.calls = 0; }
  async exportEvents(events) {
    const response = await fetch(this.url + "/.api/graphql?RecordTelemetryEvents", {
      method: "POST",
      headers: { "content-type": "application/json", ...this.headers },
      body: JSON.stringify({ query: ${JSON.stringify(MUTATION)}, variables: { events } }),
    });
    const body = await response.json();
    this.calls++;
    if (!response.ok || body.errors) throw new Error("recordEvents failed: " + response.status + " " + JSON.stringify(body));
  }
}`;

/** The exporter class, for Node. */
export const GraphQLTelemetryExporter = new Function(`${GRAPHQL_EXPORTER_SOURCE}; return GraphQLTelemetryExporter;`)();

/**
 * Checks each sink line against the core: `translate(metadata, redact(record(input, ctx)))`,
 * where `input` is what the client submitted (matched by its `seq` metadata) and `ctx` is the
 * hydration the relay should have done: the event's id and time (checked separately: UUID v7,
 * client time or server time), the configured version, and the user, flags, trace and
 * interaction the test sent. Returns `{ lines, duplicates, missing }`.
 */
export function checkRelaySink(lines, inputsBySeq, expectedCtx, { startedMs }) {
  const seen = new Map();
  for (const line of lines) {
    const data = JSON.parse(line.data);
    const event = data.event;
    const seq = event.parameters.metadata.seq;
    const input = inputsBySeq.get(seq);
    assert.ok(input, `the sink holds an event that was never recorded: seq ${seq}`);
    assert.match(event.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "a UUID v7");
    if (input.timestamp) assert.equal(event.timestamp, input.timestamp, "the client's time when it gave one");
    else assert.ok(Math.abs(Date.parse(event.timestamp) - startedMs) < 120_000, `server time ${event.timestamp}`);
    const ctx = { ...expectedCtx(seq, input), id: event.id, now: event.timestamp };
    const recorded = core.record(input, ctx);
    assert.ok(recorded.event, recorded.error);
    const redacted = core.redact(recorded.event, {});
    assert.ok(redacted.event, redacted.error);
    const metadata = { requestId: data.metadata.requestId, identifier: { unlicensedInstance: { instanceId: INSTANCE_ID } } };
    const want = core.translate(metadata, redacted.event);
    assert.equal(typeof want.payload, "string", JSON.stringify(want));
    assert.equal(line.data, want.payload, `seq ${seq}: the sink body differs from the core's translation`);
    assert.deepEqual(line.attributes, want.attributes, `seq ${seq}: attributes differ`);
    seen.set(seq, (seen.get(seq) || 0) + 1);
  }
  const missing = [...inputsBySeq.keys()].filter((s) => !seen.has(s));
  return { lines: lines.length, duplicates: lines.length - seen.size, missing };
}
