"use strict";
// Node: a file-backed export queue (optional; `persist: new FileQueueStore(path)`). Queued
// events' wire bytes are appended to a log before `exportEvents` resolves, acknowledgements
// append removals, and the next process that opens the file resumes what is left.
//
// Format: one line per change — `+<id as JSON>\t<event bytes, base64>` or `-<id as JSON>`. A
// process killed mid-write leaves at most a torn last line, which is ignored (its events were
// never reported as queued). A write that fails (a full disk) is reported to its caller, and
// the log is rewritten before the next one, so no torn line stays inside it. The log is
// compacted (rewritten to the live events, then renamed over) when it is opened, when it is
// closed, and when it holds far more lines than live events. A `<path>.lock` file names the
// process using the queue; a lock left by a process that is gone is taken over.
const fs = require("node:fs");
const fsp = require("node:fs/promises");

/** The log is rewritten once it holds this many lines more than twice the live events. */
const COMPACT_SLACK_LINES = 1000;

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

class FileQueueStore {
  /**
   * @param {string} path the log file (created if missing; its folder must exist)
   * @param {{ fsync?: boolean }} [options] `fsync`: flush every write to the disk before
   *   `exportEvents` resolves (survives power loss; slower). Default false: writes reach the
   *   operating system (they survive the process crashing or being killed, not a power loss).
   */
  constructor(path, { fsync = false } = {}) {
    if (typeof path !== "string" || path === "") throw new TypeError("FileQueueStore: `path` is required");
    this.path = path;
    this.kind = "file";
    this._fsync = fsync;
    this._handle = null;
    /** Whether a write failed: the log may end in a torn line (it is rewritten before the next). */
    this._damaged = false;
    this._live = new Map();
    /** Lines the log file holds (as written, in write order). */
    this._fileLines = 0;
    this._opening = null;
    this._onExit = () => this._unlockSync();
  }

  /** Takes the lock, replays and compacts the log, and hands the events left to `adopt`. */
  open(adopt) {
    if (!this._opening) this._opening = this._open(adopt);
    return this._opening;
  }

  async _open(adopt) {
    this._lock();
    process.on("exit", this._onExit);
    let text = "";
    try {
      text = await fsp.readFile(this.path, "utf8");
    } catch (e) {
      if (e.code !== "ENOENT") throw e;
    }
    this._live = new Map();
    const lines = text.split("\n");
    // The last piece has no newline: complete only if the file ended with one.
    lines.pop();
    for (const line of lines) {
      if (line.startsWith("+")) {
        const tab = line.indexOf("\t");
        if (tab < 0) continue;
        try {
          this._live.set(JSON.parse(line.slice(1, tab)), line);
        } catch {
          // a damaged line: skipped
        }
      } else if (line.startsWith("-")) {
        try {
          this._live.delete(JSON.parse(line.slice(1)));
        } catch {
          // a damaged line: skipped
        }
      }
    }
    await this._compact();
    const entries = [];
    for (const [id, line] of this._live) {
      entries.push({ id, bytes: new Uint8Array(Buffer.from(line.slice(line.indexOf("\t") + 1), "base64")) });
    }
    adopt(entries);
  }

  _lock() {
    const lockPath = `${this.path}.lock`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(lockPath, String(process.pid), { flag: "wx" });
        this._locked = true;
        return;
      } catch (e) {
        if (e.code !== "EEXIST") throw e;
      }
      let pid = NaN;
      try {
        pid = Number(fs.readFileSync(lockPath, "utf8").trim());
      } catch {
        // removed meanwhile: try again
      }
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new Error(`queue file ${this.path} is in use by process ${pid} (${lockPath})`);
      }
      try {
        fs.unlinkSync(lockPath); // left by a process that is gone
      } catch {
        // removed meanwhile
      }
    }
    throw new Error(`cannot lock ${lockPath}`);
  }

  _unlockSync() {
    if (!this._locked) return;
    this._locked = false;
    try {
      if (fs.readFileSync(`${this.path}.lock`, "utf8").trim() === String(process.pid)) fs.unlinkSync(`${this.path}.lock`);
    } catch {
      // already gone
    }
  }

  /** Rewrites the log to the live events and reopens it for appending. */
  async _compact() {
    if (this._handle) await this._handle.close();
    this._handle = null;
    const tmp = `${this.path}.tmp`;
    let body = "";
    for (const line of this._live.values()) body += `${line}\n`;
    await fsp.writeFile(tmp, body);
    if (this._fsync) {
      const h = await fsp.open(tmp, "r+");
      await h.datasync();
      await h.close();
    }
    await fsp.rename(tmp, this.path);
    this._fileLines = this._live.size;
    this._handle = await fsp.open(this.path, "a");
    this._damaged = false;
  }

  /**
   * Appends `lines` lines in call order (writes are chained: the thread pool could reorder them),
   * then compacts the log when it holds far more lines than live events. Compaction runs in the
   * same chain, so it sees every earlier write and none of the later ones.
   */
  _append(text, lines) {
    this._writes = (this._writes || Promise.resolve())
      .catch(() => {
        // an earlier failure was reported to its caller
      })
      .then(async () => {
        // Never opened, or closed (a write after close() must not reopen the log without the lock).
        if (!this._opening && !this._handle) throw new Error(`queue file ${this.path} is not open`);
        if (!this._handle && !this._damaged) await this._opening;
        try {
          if (this._damaged) {
            // An earlier write failed (a full disk): it may have left a torn line that this one
            // would run into, or a failed compaction no log open. The log is rewritten to the
            // live events instead (this change included: they were updated before the write).
            await this._compact();
            return;
          }
          // appendFile writes all of it (write() may write a part, a full disk, and resolve).
          await this._handle.appendFile(text);
          if (this._fsync) await this._handle.datasync();
          this._fileLines += lines;
          if (this._fileLines > COMPACT_SLACK_LINES + 2 * this._live.size) await this._compact();
        } catch (e) {
          this._damaged = true;
          throw e;
        }
      });
    return this._writes;
  }

  /** Appends events (`{ id, bytes }`); resolves once written. */
  async add(entries) {
    let text = "";
    for (const { id, bytes } of entries) {
      const line = `+${JSON.stringify(id)}\t${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")}`;
      this._live.set(id, line);
      text += `${line}\n`;
    }
    await this._append(text, entries.length);
  }

  /** Appends removals; compacts when they outnumber the live events. */
  async remove(ids) {
    let text = "";
    let lines = 0;
    for (const id of ids) {
      if (!this._live.delete(id)) continue;
      text += `-${JSON.stringify(id)}\n`;
      lines++;
    }
    if (lines === 0) return;
    await this._append(text, lines);
  }

  /** Closes the file and releases the lock; the events left stay for the next process. */
  async close() {
    if (!this._opening) return;
    try {
      await this._opening;
    } catch {
      // never opened
    }
    this._opening = null;
    await (this._writes || Promise.resolve()).catch(() => {});
    this._writes = null;
    try {
      // Leaves the log holding only the live events (none, once everything was acknowledged).
      if (this._damaged || this._fileLines !== this._live.size) await this._compact();
    } finally {
      // Even when that failed (reported to the caller; the log as it was stays for the next
      // process): the lock is released.
      if (this._handle) await this._handle.close();
      this._handle = null;
      process.removeListener("exit", this._onExit);
      this._unlockSync();
    }
  }
}

module.exports = { FileQueueStore };
