// Nothing lost in Node, with the real gateway binary: a process exporting to a file-backed queue
// is killed (SIGKILL) mid-export, and the next process sends what was left (every accepted event
// arrives, none missing; duplicates counted and printed). And a process never kept alive by the
// exporter: with the gateway unreachable and close() never called, it exits by itself (events
// kept in the queue file for the next run, or reported as unsent without one); with the gateway
// up and nothing left to send, it exits once everything was acknowledged.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { readSink, scratchDir, startGateway } from "./gateway.mjs";
import { checkSink } from "./events.mjs";

/** The files beside `q`, with their sizes (for failure messages). */
const listing = (q) => readdirSync(join(q, "..")).map((f) => `${f}:${statSync(join(q, "..", f)).size}`).join(",");
const CHILD = fileURLToPath(new URL("./child-exporter.mjs", import.meta.url));
const METADATA = { requestId: "", identifier: { unlicensedInstance: { instanceId: "durability-instance" } } };

/**
 * Runs the child exporter; `onLine(value, child)` sees each stdout line. Resolves with
 * `{ code, signal, lines, stderr, ms }` when it exits (bounded: `timeoutMs`, then SIGKILL and a failure).
 */
function runChild(options, { onLine = () => {}, timeoutMs = 60_000 } = {}) {
  const started = Date.now();
  const child = spawn(process.execPath, [CHILD, JSON.stringify(options)], { stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  createInterface({ input: child.stdout }).on("line", (line) => {
    const value = JSON.parse(line);
    lines.push(value);
    onLine(value, child);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`child did not exit within ${timeoutMs} ms:\n${stderr}\n${lines.map((l) => JSON.stringify(l)).join("\n")}`));
    }, timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      // Let the last stdout lines drain.
      setImmediate(() => resolve({ code, signal, lines, stderr, ms: Date.now() - started }));
    });
  });
}

function trackedOf(lines, into = new Map()) {
  for (const l of lines) for (const t of l.recorded || []) into.set(t.id, { input: t.input, ctx: t.ctx });
  return into;
}

/** A 127.0.0.1 port with nothing listening (bound, then released). */
async function closedPort() {
  const server = createServer();
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

function metadataFor(tag) {
  return { ...METADATA, requestId: `durability-${tag}` };
}

test("a process killed mid-export: the next one sends what its queue file kept; every event arrives", { timeout: 120_000 }, async (t) => {
  const dir = scratchDir();
  const sinkPath = join(dir, "events.ndjson");
  const queue = join(dir, "queue.log");
  const gw = await startGateway({ sink: `file:${sinkPath}` });
  t.after(() => gw.stop());
  const url = `http://${gw.address}`;

  // 1. Records 2000 events (each batch accepted = written to the queue file), then exports them
  //    50 per call with 20 ms per call; killed at the 5th answer, mid-export.
  let killedAt = null;
  const first = await runChild(
    { url, queue, count: 2000, batch: 100, tag: "killed", delayMs: 20, maxBatchEvents: 50, end: "close", holdUntilRecorded: true },
    {
      onLine: (value, child) => {
        if (value.response === 5 && killedAt === null) {
          killedAt = readSink(sinkPath).lines.length;
          child.kill("SIGKILL");
        }
      },
    },
  );
  assert.equal(first.signal, "SIGKILL", `the first process was killed (it exited with ${first.code}):\n${first.stderr}`);
  const accepted = trackedOf(first.lines);
  assert.ok(first.lines.some((l) => l.allRecorded), "every batch was accepted before the kill");
  assert.equal(accepted.size, 2000);
  const onSinkAtKill = readSink(sinkPath).lines.length;
  assert.ok(onSinkAtKill < 2000, `the kill happened mid-export (${onSinkAtKill} on the sink)`);
  assert.ok(existsSync(queue) && readFileSync(queue, "utf8").length > 0, `the queue file holds the accepted events (${listing(queue)})`);

  // 2. The next process (same queue file, its lock left by a dead process) records 100 more and
  //    sends everything.
  const second = await runChild({ url, queue, count: 100, start: 2000, tag: "killed", end: "close" });
  assert.equal(second.code, 0, second.stderr);
  trackedOf(second.lines, accepted);
  const done = second.lines.find((l) => l.done);
  assert.ok(done.done.resumed > 0, "the second process resumed events from the queue file");
  assert.equal(done.pending, 0);

  const { lines, torn } = readSink(sinkPath);
  const report = checkSink(lines, accepted, metadataFor("killed"));
  console.log(
    `[durability node kill] ${report.events} events accepted, ${onSinkAtKill} on the sink at the kill, ${done.done.resumed} resumed by the next process, ` +
      `${report.lines} sink lines, ${report.missing.length} missing, ${report.duplicates} duplicates, ${torn} torn lines`,
  );
  assert.deepEqual(report.missing, []);
  assert.equal(report.events, 2100);
  assert.equal(readFileSync(queue, "utf8"), "", "the queue file holds nothing once everything was acknowledged");
  assert.equal(existsSync(`${queue}.lock`), false, "close() released the lock");
});

test("gateway unreachable, close() never called: the process exits by itself; the queue file keeps the events", { timeout: 120_000 }, async (t) => {
  const dir = scratchDir();
  const queue = join(dir, "queue.log");
  const port = await closedPort();

  // Without a store: exits, and says how many events were not exported.
  const memory = await runChild({ url: `http://127.0.0.1:${port}`, count: 20, tag: "unreachable", end: "none" }, { timeoutMs: 20_000 });
  assert.equal(memory.code, 0, memory.stderr);
  assert.ok(memory.ms < 15_000, `exited after ${memory.ms} ms`);
  const unsent = memory.lines.filter((l) => l.error && l.error.code === "unsent_at_exit");
  assert.equal(unsent.length, 1, JSON.stringify(memory.lines.filter((l) => l.error)));
  assert.match(unsent[0].error.message, /20 events not exported when the process exited/);

  // With a queue file: exits too, and the next run (gateway up) delivers them.
  const kept = await runChild({ url: `http://127.0.0.1:${port}`, queue, count: 30, tag: "unreachable", end: "none" }, { timeoutMs: 20_000 });
  assert.equal(kept.code, 0, kept.stderr);
  assert.ok(kept.ms < 15_000, `exited after ${kept.ms} ms`);
  assert.match(kept.lines.find((l) => l.error && l.error.code === "unsent_at_exit").error.message, /stay in the queue store/);
  assert.equal(existsSync(`${queue}.lock`), false, "the lock is released at exit");
  const accepted = trackedOf(kept.lines);

  const sinkPath = join(dir, "events.ndjson");
  const gw = await startGateway({ sink: `file:${sinkPath}` });
  t.after(() => gw.stop());
  const next = await runChild({ url: `http://${gw.address}`, queue, count: 0, tag: "unreachable", end: "close" });
  assert.equal(next.code, 0, next.stderr);
  const report = checkSink(readSink(sinkPath).lines, accepted, metadataFor("unreachable"));
  console.log(`[durability node unreachable] ${report.events} events kept, ${report.lines} delivered by the next run, ${report.missing.length} missing, ${report.duplicates} duplicates`);
  assert.deepEqual(report.missing, []);
  assert.equal(report.duplicates, 0);
});

test("gateway up, close() never called: the process exits once everything was acknowledged", { timeout: 60_000 }, async (t) => {
  const dir = scratchDir();
  const sinkPath = join(dir, "events.ndjson");
  const gw = await startGateway({ sink: `file:${sinkPath}` });
  t.after(() => gw.stop());
  const run = await runChild({ url: `http://${gw.address}`, count: 300, tag: "noclose", end: "none" }, { timeoutMs: 30_000 });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.lines.filter((l) => l.error).length, 0, JSON.stringify(run.lines.filter((l) => l.error)));
  const report = checkSink(readSink(sinkPath).lines, trackedOf(run.lines), metadataFor("noclose"));
  console.log(`[durability node no close] exited after ${run.ms} ms; ${report.lines} of ${report.events} events delivered, ${report.duplicates} duplicates`);
  assert.deepEqual(report.missing, []);
});
