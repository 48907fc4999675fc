// The browser's persistent export queue: every queued event's wire bytes in IndexedDB, so events
// recorded just before a tab closes, navigates or crashes are sent by the next page load of the
// same origin.
//
// Each exporter (one per page, usually) owns the records it wrote, and holds a Web Lock named
// after its owner id for as long as the page lives. A new exporter claims the records of owners
// whose lock is free (their page is gone) and, for owners still alive (other tabs), waits for
// their lock: when such a tab closes, its leftovers are claimed then. Without the Web Locks API
// every other owner's records are claimed at start (two live tabs may then both send an event: a
// duplicate, never a loss).

const DB_PREFIX = "telemetry-gateway-exporter:";
const STORE = "events";

/** Whether this runtime has IndexedDB. */
export function indexedDbAvailable() {
  return typeof indexedDB !== "undefined" && indexedDB !== null;
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * Resolves once the transaction committed; rejects once it aborted, saying why. A failed request
 * (its error event reaches the transaction first, while `tx.error` is still null) aborts the
 * transaction, so only the abort is answered: by then `tx.error` holds the cause, or is null when
 * `abort()` was called on the transaction (its requests then fail with a generic AbortError).
 */
function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => {
      const where = `IndexedDB transaction on ${tx.db.name}`;
      const e = tx.error;
      reject(
        e
          ? new Error(`${where} aborted: ${e.name}: ${e.message}`, { cause: e })
          : new Error(`${where} aborted without an error (abort() was called on it)`),
      );
    };
  });
}

/** Commits now instead of at the end of the task (a page being hidden may not get another task). */
function commit(tx) {
  if (typeof tx.commit === "function") {
    try {
      tx.commit();
    } catch {
      // already committing
    }
  }
}

export class IndexedDbQueueStore {
  /**
   * @param {{ name?: string, newId: () => string }} options `name` separates the queues of
   *   several exporters on one origin (default `"default"`); `newId` makes owner ids.
   */
  constructor({ name = "default", newId }) {
    this.name = name;
    this.kind = "indexeddb";
    this._newId = newId;
    this._db = null;
    this._opening = null;
    this._seq = 0;
  }

  get _locks() {
    return typeof navigator !== "undefined" && navigator.locks && typeof navigator.locks.request === "function"
      ? navigator.locks
      : null;
  }

  _lockName(owner) {
    return `${DB_PREFIX}${this.name}/${owner}`;
  }

  /**
   * Opens the database, takes this exporter's owner lock, and claims what pages that are gone
   * left behind: `adopt(entries)` gets them (oldest first), now and whenever another owner's
   * page goes away later. `failed(error)` hears of such a later claim that failed (the events
   * stay in the database for a later page load); without it, the error goes to console.error.
   * Idempotent.
   */
  open(adopt, failed) {
    if (!this._opening) this._opening = this._open(adopt, failed);
    return this._opening;
  }

  async _open(adopt, failed = (e) => console.error("@telemetry-gateway/core IndexedDbQueueStore:", e)) {
    const req = indexedDB.open(DB_PREFIX + this.name, 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore(STORE, { keyPath: "id" });
      store.createIndex("owner", "owner");
    };
    this._db = await request(req);
    this._db.onversionchange = () => this._db && this._db.close();
    this._owner = this._newId();
    this._seq = Date.now() * 1024;
    this._abort = new AbortController();
    const locks = this._locks;
    if (locks) {
      // Held until close() or the page goes away.
      await new Promise((granted, failed) => {
        locks
          .request(this._lockName(this._owner), () => {
            granted();
            return new Promise((release) => (this._release = release));
          })
          .catch(failed);
      });
    }
    const owners = await this._owners();
    owners.delete(this._owner);
    for (const owner of owners) {
      if (!locks) {
        adopt(await this._reown(owner));
        continue;
      }
      const claimedNow = await locks.request(this._lockName(owner), { ifAvailable: true }, async (lock) => {
        if (!lock) return false;
        adopt(await this._reown(owner));
        return true;
      });
      if (!claimedNow) {
        // That owner's page is alive: claim its leftovers once it is gone.
        const { signal } = this._abort;
        locks
          .request(this._lockName(owner), { signal }, async () => {
            if (this._db) adopt(await this._reown(owner));
          })
          .catch((e) => {
            // close() stopped the wait.
            if (signal.aborted && e && e.name === "AbortError") return;
            // Its transaction did not commit: the records are still that owner's, whose lock is
            // free now, so the next page load claims them.
            const why = e instanceof Error && e.name !== "Error" ? `${e.name}: ${e.message}` : String((e && e.message) || e);
            failed(new Error(`events left by page ${owner} (now closed): ${why}`, { cause: e }));
          });
      }
    }
  }

  /** The distinct owners of stored records. */
  async _owners() {
    const tx = this._db.transaction(STORE, "readonly");
    const owners = new Set();
    await new Promise((resolve, reject) => {
      const cursor = tx.objectStore(STORE).index("owner").openKeyCursor(null, "nextunique");
      cursor.onerror = () => reject(cursor.error);
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c) return resolve();
        owners.add(c.key);
        c.continue();
      };
    });
    return owners;
  }

  /** Re-owns every record of `owner`; answers them oldest first. */
  async _reown(owner) {
    const tx = this._db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    const claimed = [];
    await new Promise((resolve, reject) => {
      const cursor = store.index("owner").openCursor(IDBKeyRange.only(owner));
      cursor.onerror = () => reject(cursor.error);
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c) return resolve();
        const record = c.value;
        record.owner = this._owner;
        c.update(record);
        claimed.push({ id: record.id, bytes: record.bytes, seq: record.seq });
        c.continue();
      };
    });
    await done(tx);
    claimed.sort((a, b) => a.seq - b.seq);
    return claimed;
  }

  /** The open connection (once open() has ended); a clear error for a store not open (or closed). */
  async _connection() {
    if (!this._db) await this._opening;
    if (!this._db) throw new Error(`IndexedDB queue ${DB_PREFIX}${this.name} is not open`);
    return this._db;
  }

  /** Persists entries (`{ id, bytes }`); resolves once the transaction committed. */
  async add(entries) {
    const db = this._db || (await this._connection());
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    for (const { id, bytes } of entries) {
      // A copy: a view would store the whole batch buffer behind it.
      store.put({ id, owner: this._owner, seq: this._seq++, bytes: bytes.slice() });
    }
    commit(tx);
    await done(tx);
  }

  /** Removes acknowledged (or dropped) events. */
  async remove(ids) {
    const db = this._db || (await this._connection());
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    for (const id of ids) store.delete(id);
    commit(tx);
    await done(tx);
  }

  /** Releases the owner lock and the connection; records stay for the next page load. */
  async close() {
    if (!this._opening) return;
    try {
      await this._opening;
    } catch {
      // never opened
    }
    this._opening = null;
    if (this._abort) this._abort.abort();
    if (this._release) this._release();
    this._release = null;
    if (this._db) this._db.close();
    this._db = null;
  }
}
