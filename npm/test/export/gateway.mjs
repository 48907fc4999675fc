// The real telemetry-gateway binary for the exporter's end-to-end tests: started on 127.0.0.1
// with the embedded NDJSON file sink (optionally behind the testing-only fault sink), killed and
// restarted on demand. $TELEMETRY_GATEWAY_BIN names the binary (scripts/test-npm builds it);
// without it the tests fail, they do not skip.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

export function gatewayBin() {
  const bin = process.env.TELEMETRY_GATEWAY_BIN;
  if (!bin || !existsSync(bin)) {
    throw new Error(`TELEMETRY_GATEWAY_BIN must name the telemetry-gateway binary (got ${bin}); scripts/test-npm builds it`);
  }
  return bin;
}

export function scratchDir() {
  return mkdtempSync(join(tmpdir(), "tg-export-e2e-"));
}

/**
 * Starts the gateway; resolves with `{ port, address, child, stop(), kill() }` once it logged its
 * listen address (bounded: `timeoutMs`).
 * @param {{ sink: string, port?: number, args?: string[], timeoutMs?: number }} options
 */
export async function startGateway({ sink, port = 0, args = [], timeoutMs = 20_000 }) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("TELEMETRY_GATEWAY_") && !k.startsWith("SAMS_")),
  );
  // A port just freed by a killed gateway may take a moment to bind again: a few bounded tries.
  for (let attempt = 0; ; attempt++) {
    try {
      return await startOnce({ sink, port, args, timeoutMs, env });
    } catch (e) {
      if (attempt >= 10 || port === 0) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function startOnce({ sink, port, args, timeoutMs, env }) {
  return spawnListening({
    what: "gateway",
    argv: ["serve", "--listen", `127.0.0.1:${port}`, "--diagnostics-listen", "off", "--sink", sink, "--log-format", "json", "--log-level", "warn,telemetry_gateway=info", ...args],
    env,
    timeoutMs,
    stopTimeoutMs: 10_000,
    // The gateway logs its gRPC address in a `listen` field once it serves.
    listening: (fields) => fields.listen,
  }).then((started) => ({
    ...started,
    port: Number(started.address.split(":").pop()),
    /** Graceful: SIGTERM (in-flight streams finish, the sink is flushed). */
    stop: () => started.stopWith("SIGTERM"),
    /** Hard: SIGKILL, mid-whatever. */
    kill: () => started.stopWith("SIGKILL"),
  }));
}

/**
 * Spawns a `telemetry-gateway` subcommand (JSON logs on stderr) and resolves once `listening`
 * returns an address for one of its log lines' `fields`: `{ child, address, log, stopWith(signal) }`
 * (`stopWith` signals it and waits for its exit, SIGKILL after `stopTimeoutMs`). Rejects, with the
 * last log lines, if it exits first or logs no address within `timeoutMs`. Shared by the gateway
 * here and the relay (`test/relay/relay.mjs`).
 * @param {{ what: string, argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number, stopTimeoutMs: number, listening: (fields: any) => string | undefined }} options
 */
export function spawnListening({ what, argv, env, timeoutMs, stopTimeoutMs, listening }) {
  const child = spawn(gatewayBin(), argv, { env, stdio: ["ignore", "ignore", "pipe"] });
  const log = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${what} did not start within ${timeoutMs} ms:\n${log.join("\n")}`));
    }, timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? signal}) before listening:\n${log.join("\n")}`));
    });
    createInterface({ input: child.stderr }).on("line", (line) => {
      log.push(line);
      if (log.length > 200) log.shift();
      let v;
      try {
        v = JSON.parse(line);
      } catch {
        return;
      }
      const address = v.fields && listening(v.fields);
      if (address) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        const exited = new Promise((ok) => child.on("exit", ok));
        resolve({
          child,
          address,
          log,
          stopWith: async (signal) => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            const bounded = setTimeout(() => child.kill("SIGKILL"), stopTimeoutMs);
            await exited;
            clearTimeout(bounded);
          },
        });
      }
    });
  });
}

/**
 * Reads the NDJSON sink: `{ lines: [{data, attributes}], torn }`. A gateway killed mid-write may
 * leave a partial line that the restarted gateway's next line is appended to; such a line is
 * split at its last `{"data":` and counted in `torn`.
 */
export function readSink(path) {
  if (!existsSync(path)) return { lines: [], torn: 0 };
  const lines = [];
  let torn = 0;
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    if (raw === "") continue;
    try {
      lines.push(JSON.parse(raw));
    } catch {
      torn++;
      const at = raw.lastIndexOf('{"data":');
      if (at > 0) {
        try {
          lines.push(JSON.parse(raw.slice(at)));
        } catch {
          // a partial last line of a killed gateway: its event was never acknowledged
        }
      }
    }
  }
  return { lines, torn };
}

/** The event id of a sink line (its body is the gateway's `{"event": …, "metadata": …}`). */
export function lineEventId(line) {
  return JSON.parse(line.data).event.id;
}

/** Polls `predicate` every `everyMs` until true, at most `timeoutMs`. */
export async function waitFor(predicate, { timeoutMs = 20_000, everyMs = 25, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
