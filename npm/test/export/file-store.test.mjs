// The Node file-backed queue store on its own: what it resumes from a log (a torn last line, a
// damaged line, removals), its lock (taken over from a process that is gone, refused while the
// owner lives), compaction, and the exporter resuming through it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { FileQueueStore, GatewayExporter } from "../../dist/exporter-node.mjs";
import * as core from "../../dist/node.mjs";

const dir = () => mkdtempSync(join(tmpdir(), "tg-file-store-"));
const b64 = (bytes) => Buffer.from(bytes).toString("base64");

async function opened(path, options) {
  const store = new FileQueueStore(path, options);
  const adopted = [];
  await store.open((entries) => adopted.push(...entries));
  return { store, adopted };
}

test("resumes what the log holds: adds minus removals; a torn last line and damaged lines are skipped", async () => {
  const path = join(dir(), "queue.log");
  writeFileSync(
    path,
    [
      `+"a"\t${b64([1, 2, 3])}`,
      `+"b"\t${b64([4])}`,
      `-"a"`,
      `+"c\\n\\t"\t${b64([5, 6])}`,
      `+not json\t${b64([7])}`,
      `+"d"`, // no bytes: damaged
      `+"e"\t${b64([8])}`, // the last line, torn (no newline): a write the process never finished
    ].join("\n"),
  );
  const { store, adopted } = await opened(path);
  assert.deepEqual(
    adopted.map((e) => [e.id, [...e.bytes]]),
    [
      ["b", [4]],
      ["c\n\t", [5, 6]],
    ],
  );
  // Opening compacted the log to the live events.
  assert.equal(readFileSync(path, "utf8"), `+"b"\t${b64([4])}\n+"c\\n\\t"\t${b64([5, 6])}\n`);
  await store.add([{ id: "f", bytes: new Uint8Array([9]) }]);
  await store.remove(["b", "unknown"]);
  assert.match(readFileSync(path, "utf8"), /\+"f"\t.*\n-"b"\n$/);
  await store.close();
  assert.equal(readFileSync(path, "utf8"), `+"c\\n\\t"\t${b64([5, 6])}\n+"f"\t${b64([9])}\n`, "closing compacts");
  assert.equal(existsSync(`${path}.lock`), false);
});

test("the lock: refused while its process lives, taken over when it is gone", async () => {
  const path = join(dir(), "queue.log");
  const { store } = await opened(path);
  assert.equal(readFileSync(`${path}.lock`, "utf8"), String(process.pid));
  // A second store on the same file (here: this live process) is refused, and says by whom.
  await assert.rejects(opened(path), new RegExp(`in use by process ${process.pid}`));
  await store.close();
  // A lock left by a process that is gone.
  const gone = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
  writeFileSync(`${path}.lock`, gone.stdout.trim());
  const { store: next } = await opened(path);
  assert.equal(readFileSync(`${path}.lock`, "utf8"), String(process.pid));
  await next.close();
});

test("close() whose last compaction fails still releases the lock; the log keeps the events", async () => {
  const path = join(dir(), "queue.log");
  const { store } = await opened(path);
  await store.add([{ id: "a", bytes: new Uint8Array([1]) }, { id: "b", bytes: new Uint8Array([2]) }]);
  await store.remove(["a"]);
  // The compacted log cannot be written (its temporary name is taken by a folder).
  mkdirSync(`${path}.tmp`);
  await assert.rejects(store.close(), /EISDIR|EEXIST|ENOTDIR|EPERM/);
  assert.equal(existsSync(`${path}.lock`), false, "the lock is released");
  rmdirSync(`${path}.tmp`);
  // The same process opens the queue again (it is not "in use by" itself), and gets what was left.
  const { store: again, adopted } = await opened(path);
  assert.deepEqual(adopted.map((e) => e.id), ["b"]);
  await again.close();
});

test("a write to a store that is not open (never opened, or closed) is refused with a clear error, and does not reopen the file", async () => {
  const path = join(dir(), "queue.log");
  const never = new FileQueueStore(path);
  await assert.rejects(never.add([{ id: "a", bytes: new Uint8Array([1]) }]), new RegExp(`queue file ${path} is not open`));
  const { store } = await opened(path);
  await store.add([{ id: "b", bytes: new Uint8Array([2]) }]);
  await store.close();
  await assert.rejects(store.add([{ id: "c", bytes: new Uint8Array([3]) }]), /is not open/);
  await assert.rejects(store.add([{ id: "d", bytes: new Uint8Array([4]) }]), /is not open/);
  assert.equal(readFileSync(path, "utf8"), `+"b"\t${b64([2])}\n`);
  assert.equal(existsSync(`${path}.lock`), false);
});

test("many removals are compacted away while running; fsync mode writes the same log", async () => {
  const path = join(dir(), "queue.log");
  const { store } = await opened(path, { fsync: true });
  const ids = Array.from({ length: 2500 }, (_, i) => `id-${i}`);
  await store.add(ids.map((id) => ({ id, bytes: new Uint8Array([1, 2]) })));
  await store.remove(ids.slice(0, 2400));
  const text = readFileSync(path, "utf8");
  assert.ok(!text.split("\n").some((l) => l.startsWith("-")), "compacted once removals outnumbered the live events");
  assert.equal(text.split("\n").filter(Boolean).length, 100);
  await store.close();
});

test("the exporter resumes from a queue file left by an earlier process, and empties it", async () => {
  const path = join(dir(), "queue.log");
  const recorded = core.recordBatch(
    [1, 2, 3].map((n) => ({ feature: "a.b", action: "cd", source: { client: "c" }, parameters: { version: n } })),
    { context: { serverVersion: "1" } },
  );
  writeFileSync(path, recorded.map((r) => `+${JSON.stringify(r.id)}\t${b64(r.bytes)}\n`).join(""));
  const sent = [];
  const exporter = new GatewayExporter({
    transport: {
      async recordEvents(requests, { onResponse }) {
        const ids = requests.slice(1).flatMap((r) => core.decodeRecordEventsRequest(r).events.events.map((e) => e.id));
        sent.push(...ids);
        onResponse(core.encodeRecordEventsResponse({ succeededEvents: ids }));
      },
    },
    metadata: { identifier: { unlicensedInstance: { instanceId: "i" } } },
    context: { serverVersion: "1" },
    persist: new FileQueueStore(path),
    onError: (e) => assert.fail(e.message),
  });
  assert.equal(exporter.persistence, "file");
  await exporter.ready;
  assert.equal(exporter.stats.resumed, 3);
  await exporter.exportEvents([{ feature: "a.b", action: "cd", source: { client: "c" }, parameters: { version: 9 } }]);
  await exporter.close();
  assert.deepEqual(sent.slice(0, 3), recorded.map((r) => r.id));
  assert.equal(sent.length, 4);
  assert.equal(readFileSync(path, "utf8"), "");
});

/**
 * The script of a child process with an exporter to a gateway that is down (retries a minute
 * apart) and a queue file (`process.env.QUEUE`): `prelude` first (imports), then the
 * exporter with `onError` (JS source), then `body`; `event(n)` makes a recording.
 */
function exporterChild({ prelude = "", onError }, body) {
  return `
${prelude}
const { FileQueueStore, GatewayExporter } = await import(process.env.EXPORTER_NODE);
const exporter = new GatewayExporter({
  transport: { recordEvents: async () => { throw new Error("gateway down (fake)"); } },
  metadata: { identifier: { unlicensedInstance: { instanceId: "i" } } },
  context: { serverVersion: "1" },
  retry: { baseMs: 60000, maxMs: 60000 },
  persist: new FileQueueStore(process.env.QUEUE),
  onError: ${onError},
});
await exporter.ready;
const event = (n) => ({ feature: "a.b", action: "cd", source: { client: "c" }, parameters: { version: n } });
${body}
`;
}

/** The environment of such a child: the package's Node exporter entry and the queue file. */
const childEnv = (path) => ({ ...process.env, EXPORTER_NODE: new URL("../../dist/exporter-node.mjs", import.meta.url).href, QUEUE: path });

/**
 * A child process exporting to a queue file, one event per step: it prints its step number after
 * each, waits for a line on stdin, and at the end prints `{ storeFailed, ids }` and exits without
 * close() (as if killed).
 */
const FULL_DISK_CHILD = exporterChild(
  {
    prelude: `import { createInterface } from "node:readline";
const next = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const storeFailed = [];`,
    onError: `(e) => { if (e.code === "store_failed") storeFailed.push(e.message); }`,
  },
  `for (const step of [[1], [2, 3], [4]]) {
  for (const n of step) await exporter.exportEvents([event(n)]);
  console.log(step.at(-1));
  if (step[0] !== 4) await next.next();
}
console.log(JSON.stringify({ storeFailed, ids: exporter.pendingIds() }));
process.exit(0);`,
);

test("a full disk (RLIMIT_FSIZE): a short or failed write is reported, and once there is room the log is whole again", { timeout: 20_000 }, async () => {
  const path = join(dir(), "queue.log");
  const child = spawn(process.execPath, ["--input-type=module", "-e", FULL_DISK_CHILD], {
    stdio: ["pipe", "pipe", "pipe"],
    env: childEnv(path),
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const prlimit = (fsize) => {
    const r = spawnSync("prlimit", ["--pid", String(child.pid), `--fsize=${fsize}:unlimited`], { encoding: "utf8" });
    assert.equal(r.status, 0, `prlimit: ${r.stderr}`);
  };
  const exited = new Promise((resolve) => child.on("exit", resolve));
  let result;
  for await (const line of createInterface({ input: child.stdout })) {
    if (line === "1") {
      // The file may grow by 40 bytes more: event 2's line is written in part (a short write),
      // event 3's not at all.
      prlimit(statSync(path).size + 40);
      child.stdin.write("go\n");
    } else if (line === "3") {
      prlimit("unlimited");
      child.stdin.write("go\n");
    } else if (line.startsWith("{")) {
      result = JSON.parse(line);
    }
  }
  await exited;
  assert.ok(result, `the child finished: ${stderr}`);
  assert.equal(result.ids.length, 4);
  // Both writes that did not reach the file were reported; exportEvents did not claim them persisted silently.
  assert.equal(result.storeFailed.length, 2, result.storeFailed.join("\n"));
  for (const message of result.storeFailed) assert.match(message, /queue store \(file\): add failed: .*EFBIG.*; events stay in memory/);
  // The next process resumes every event, each whole: the torn line was not left in the log.
  const { store, adopted } = await opened(path);
  assert.deepEqual(
    adopted.map((e) => e.id),
    result.ids,
  );
  assert.deepEqual(core.checkEvents(adopted.map((e) => e.bytes)), [null, null, null, null]);
  await store.close();
});

test("a disk full until the process exits: unsent_at_exit does not claim the queue file kept what it could not write", { timeout: 20_000 }, async () => {
  const path = join(dir(), "queue.log");
  const script = exporterChild(
    {
      onError: `(e) => { if (e.code !== "export_failed") console.log(JSON.stringify({ code: e.code, message: e.message, persisted: e.persisted, unpersisted: e.unpersisted })); }`,
    },
    `await exporter.exportEvents([event(1), event(2)]);
await exporter.exportEvents([event(3)]);`,
  );
  // Files may hold 16 bytes: the lock file's pid, not an event's line.
  const child = spawnSync("prlimit", ["--fsize=16:unlimited", process.execPath, "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 15_000,
    env: childEnv(path),
  });
  assert.equal(child.status, 0, child.stderr);
  const reports = child.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(reports.map((r) => r.code), ["store_failed", "store_failed", "unsent_at_exit"], child.stdout);
  const atExit = reports[2];
  const { store, adopted } = await opened(path);
  assert.deepEqual(adopted, [], "no event reached the queue file");
  await store.close();
  assert.equal(atExit.persisted, false, JSON.stringify(atExit));
  assert.equal(atExit.unpersisted, 3);
  assert.match(atExit.message, /^3 events not yet acknowledged when the process exited; 3 of them were not written to the queue store \(the write failed, reported as store_failed, or had not ended\) and may be lost/);
});

test("process.exit() before a batch's write ended: unsent_at_exit does not count it as kept by the queue file", { timeout: 20_000 }, async () => {
  const path = join(dir(), "queue.log");
  const script = exporterChild(
    {
      onError: `(e) => { if (e.code === "unsent_at_exit") console.log(JSON.stringify({ message: e.message, persisted: e.persisted, unpersisted: e.unpersisted })); }`,
    },
    `await exporter.exportEvents([event(1)]);
// As the SDK's batch submitter does: not awaited; then the process ends at once.
exporter.exportEvents([event(2), event(3)]);
process.exit(0);`,
  );
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 15_000,
    env: childEnv(path),
  });
  assert.equal(child.status, 0, child.stderr);
  const atExit = JSON.parse(child.stdout);
  const { store, adopted } = await opened(path);
  await store.close();
  assert.equal(adopted.length, 1, "only the first batch reached the queue file");
  assert.equal(atExit.persisted, false, JSON.stringify(atExit));
  assert.equal(atExit.unpersisted, 2);
  assert.match(atExit.message, /^3 events not yet acknowledged when the process exited; 2 of them were not written/);
});
