//! The NDJSON line format shared by the file and stdout sinks, and their group-committing writer.
//!
//! One line per message: `{"data":"<the exact body, as a JSON string>","attributes":{...}}`.
//! A single writer thread takes every queued batch, writes them with one `write_all`, flushes
//! (and with `--sink-fsync`, fsyncs) before completing them: a publish reports a message as
//! accepted only once its line reached the OS (or the disk).
//!
//! - The queue is bounded (`QUEUE_BATCHES`): a slow disk slows publishers down instead of
//!   growing memory.
//! - A batch whose publish deadline passes before the writer took it is never written (the
//!   publisher reports it failed; the client retries it). A batch the writer already took is
//!   written and reported as it turned out.
//! - A failed or partial write is undone ([`Output::recover`]: the file is truncated back to its
//!   last complete line), so no later line is ever appended to half a line. Until the undo
//!   succeeds, nothing more is written. The last write error is reported by `health`.

use super::{Batch, BatchResult, SinkError};
use crate::admission::Reservation;
use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use telemetry_core::Message;
// Attribute keys and values: the core's serde_json-identical string escaping (SWAR scan), so lines
// stay byte-identical to those serde_json wrote.
use telemetry_core::json::write_json_string;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A JSON string as serde_json escapes it, for a message body: JSON the core (or serde_json, for
/// dead letters) wrote, so it holds no raw control characters and only `"` and `\\` need
/// escaping — found with SIMD `memchr2` instead of a byte-by-byte scan.
fn push_json_body(out: &mut Vec<u8>, body: &[u8]) {
    debug_assert!(
        !body.iter().any(|b| *b < 0x20),
        "a raw control character in a body"
    );
    out.push(b'"');
    let mut run = 0;
    for i in memchr::memchr2_iter(b'"', b'\\', body) {
        out.extend_from_slice(body.get(run..i).unwrap_or_default());
        out.push(b'\\');
        run = i;
    }
    out.extend_from_slice(body.get(run..).unwrap_or_default());
    out.push(b'"');
}

/// Renders one NDJSON line (with the trailing newline) onto `out`:
/// `{"data":"<body>","attributes":{"k":"v",...}}`. The body must be UTF-8 (every message body is
/// written by the core from `str`s, and dead letters by serde_json).
pub fn render_into(out: &mut Vec<u8>, message: &Message) -> Result<(), SinkError> {
    debug_assert!(std::str::from_utf8(&message.data).is_ok());
    out.reserve(message.data.len() + message.data.len() / 8 + 160);
    out.extend_from_slice(b"{\"data\":");
    push_json_body(out, &message.data);
    out.extend_from_slice(b",\"attributes\":{");
    for (i, (k, v)) in message.attributes.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, k);
        out.push(b':');
        write_json_string(out, v);
    }
    out.extend_from_slice(b"}}\n");
    Ok(())
}

/// Renders one NDJSON line (with the trailing newline).
pub fn render(message: &Message) -> Result<Vec<u8>, SinkError> {
    let mut out = Vec::with_capacity(message.data.len() + 256);
    render_into(&mut out, message)?;
    Ok(out)
}

/// Where the writer thread writes.
pub trait Output: Send + 'static {
    /// Writes all of `buf`.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Writes all of `bufs`, in order (one system call for several batches where possible).
    fn write_all_vectored(&mut self, bufs: &[&[u8]]) -> io::Result<()> {
        for b in bufs {
            self.write_all(b)?;
        }
        Ok(())
    }
    /// Makes what was written durable as far as this output promises (flush, and fsync if
    /// configured); `written` bytes were written since the last commit.
    fn commit(&mut self, written: usize) -> io::Result<()>;
    /// Undoes everything written since the last successful commit.
    fn recover(&mut self) -> io::Result<()>;
}

/// Batches queued for the writer at most (each up to a payload's worth of lines).
const QUEUE_BATCHES: usize = 64;
/// The most bytes written in one go before committing.
const MAX_GROUP_BYTES: usize = 4 << 20;

const PENDING: u8 = 0;
const CLAIMED: u8 = 1;
const CANCELLED: u8 = 2;

struct Job {
    lines: Vec<u8>,
    claim: Arc<AtomicU8>,
    done: oneshot::Sender<Result<(), String>>,
    _charge: Reservation,
}

enum Command {
    Write(Job),
    Flush(oneshot::Sender<Result<(), String>>),
}

/// A handle to the writer thread.
#[derive(Clone)]
pub struct LineWriter {
    tx: mpsc::Sender<Command>,
    last_error: Arc<Mutex<Option<String>>>,
    /// Line buffers the writer thread gave back after writing them, reused by the next batches
    /// (a batch's buffer is large: allocating one per batch costs page faults).
    spare: Arc<Mutex<Vec<Vec<u8>>>>,
}

/// Spare buffers kept at most, and the largest capacity kept (at most 16 MiB in all, part of the
/// fixed overhead in the README's memory sizing).
const SPARE_BUFFERS: usize = 8;
const SPARE_MAX_CAPACITY: usize = 2 << 20;

impl LineWriter {
    /// Starts the writer thread over `out`.
    pub fn spawn(name: &str, mut out: impl Output) -> io::Result<Self> {
        let (tx, mut rx) = mpsc::channel::<Command>(QUEUE_BATCHES);
        let last_error = Arc::new(Mutex::new(None::<String>));
        let status = last_error.clone();
        let spare: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let returned = spare.clone();
        std::thread::Builder::new()
            .name(format!("sink-{name}"))
            .spawn(move || {
                let mut claimed: Vec<Job> = Vec::new();
                let mut pending_bytes = 0usize;
                let mut flushes = Vec::new();
                let mut needs_recovery = false;
                while let Some(first) = rx.blocking_recv() {
                    let mut next = Some(first);
                    while let Some(cmd) = next.take() {
                        match cmd {
                            Command::Write(job) => {
                                if job
                                    .claim
                                    .compare_exchange(
                                        PENDING,
                                        CLAIMED,
                                        Ordering::AcqRel,
                                        Ordering::Acquire,
                                    )
                                    .is_ok()
                                {
                                    pending_bytes += job.lines.len();
                                    claimed.push(job);
                                }
                                // else: its publisher gave up; never written.
                            }
                            Command::Flush(done) => flushes.push(done),
                        }
                        if pending_bytes < MAX_GROUP_BYTES {
                            next = rx.try_recv().ok();
                        }
                    }
                    let mut result = Ok(());
                    if needs_recovery {
                        result = out.recover();
                        needs_recovery = result.is_err();
                    }
                    if result.is_ok() && (pending_bytes > 0 || !flushes.is_empty()) {
                        let bufs: Vec<&[u8]> = claimed.iter().map(|j| j.lines.as_slice()).collect();
                        result = out
                            .write_all_vectored(&bufs)
                            .and_then(|()| out.commit(pending_bytes));
                        if result.is_err() {
                            needs_recovery = out.recover().is_err();
                        }
                    }
                    let result = result.map_err(|e| e.to_string());
                    if let Ok(mut s) = status.lock() {
                        match &result {
                            Ok(()) if !needs_recovery => *s = None,
                            Ok(()) => {}
                            Err(e) => *s = Some(e.clone()),
                        }
                    }
                    pending_bytes = 0;
                    for job in claimed.drain(..) {
                        let _ = job.done.send(result.clone());
                        let mut lines = job.lines;
                        if lines.capacity() <= SPARE_MAX_CAPACITY
                            && let Ok(mut s) = returned.lock()
                            && s.len() < SPARE_BUFFERS
                        {
                            lines.clear();
                            s.push(lines);
                        }
                    }
                    for done in flushes.drain(..) {
                        let _ = done.send(result.clone());
                    }
                }
            })?;
        Ok(LineWriter {
            tx,
            last_error,
            spare,
        })
    }

    /// Writes rendered lines; returns once they were written and committed. If `deadline`
    /// passes before the writer took them, they are never written and this fails.
    pub async fn write(
        &self,
        lines: Vec<u8>,
        charge: Reservation,
        deadline: Instant,
    ) -> Result<(), SinkError> {
        let claim = Arc::new(AtomicU8::new(PENDING));
        let (done, mut wait) = oneshot::channel();
        let job = Job {
            lines,
            claim: claim.clone(),
            done,
            _charge: charge,
        };
        let timed_out = || anyhow::anyhow!("publish timed out before the sink wrote it");
        match tokio::time::timeout_at(deadline, self.tx.send(Command::Write(job))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => anyhow::bail!("sink writer stopped"),
            // Never queued: never written.
            Err(_) => return Err(timed_out()),
        }
        let result = tokio::select! {
            r = &mut wait => r,
            () = tokio::time::sleep_until(deadline) => {
                if claim
                    .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Err(timed_out());
                }
                // Already being written: report how that turns out.
                wait.await
            }
        };
        result
            .map_err(|_| anyhow::anyhow!("sink writer stopped"))?
            .map_err(|e| anyhow::anyhow!("writing to sink: {e}"))
    }

    /// Renders and writes a batch (see [`LineWriter::write`]).
    pub async fn write_batch(&self, batch: Batch, deadline: Instant) -> BatchResult {
        let Batch { messages, charge } = batch;
        let n = messages.len();
        // Room for every line as rendered (quotes in the body are escaped, attributes added):
        // growing the buffer would copy it.
        let size: usize = messages
            .iter()
            .map(|m| {
                m.data.len()
                    + m.data.len() / 4
                    + m.attributes
                        .iter()
                        .map(|(k, v)| k.len() + v.len() + 8)
                        .sum::<usize>()
                    + 64
            })
            .sum();
        let mut lines = self
            .spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default();
        lines.reserve(size);
        let mut failed = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let start = lines.len();
            if let Err(e) = render_into(&mut lines, m) {
                lines.truncate(start);
                failed.push((i, format!("rendering the sink line: {e}")));
            }
        }
        drop(messages);
        if failed.len() == n {
            return BatchResult { failed };
        }
        match self.write(lines, charge, deadline).await {
            Ok(()) => BatchResult { failed },
            Err(e) => BatchResult::all_failed(n, &e.to_string()),
        }
    }

    /// Waits until everything queued before this call was written and committed.
    pub async fn flush(&self) -> Result<(), SinkError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Flush(done))
            .await
            .map_err(|_| anyhow::anyhow!("sink writer stopped"))?;
        wait.await
            .map_err(|_| anyhow::anyhow!("sink writer stopped"))?
            .map_err(|e| anyhow::anyhow!("flushing sink: {e}"))
    }

    /// The last write error, if the last write failed.
    pub fn health(&self) -> Result<(), SinkError> {
        if self.tx.is_closed() {
            anyhow::bail!("sink writer stopped");
        }
        match self.last_error.lock().ok().and_then(|e| e.clone()) {
            Some(e) => anyhow::bail!("last write failed: {e}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// An output that fails writes while `fail` is set, writing half the buffer first.
    #[derive(Clone, Default)]
    struct Flaky {
        data: Arc<Mutex<Vec<u8>>>,
        good: Arc<Mutex<usize>>,
        fail: Arc<std::sync::atomic::AtomicBool>,
        slow: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Output for Flaky {
        fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
            while self.slow.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut d = self.data.lock().unwrap();
            if self.fail.load(Ordering::SeqCst) {
                d.extend_from_slice(&buf[..buf.len() / 2]);
                return Err(io::Error::other("disk full"));
            }
            d.extend_from_slice(buf);
            Ok(())
        }
        fn commit(&mut self, _: usize) -> io::Result<()> {
            *self.good.lock().unwrap() = self.data.lock().unwrap().len();
            Ok(())
        }
        fn recover(&mut self) -> io::Result<()> {
            let good = *self.good.lock().unwrap();
            self.data.lock().unwrap().truncate(good);
            Ok(())
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn lines_are_byte_identical_to_serde_json() {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            data: &'a str,
            attributes: &'a std::collections::BTreeMap<String, String>,
        }
        let bodies = [
            r#"{"event":{"id":"1","x":"a\"b\\c\u003c\u2028"}}"#.to_string(),
            r#"\\"start and end with escapes""#.to_string(),
            "no escapes \u{7f} é 漢 🎉".to_string(),
            String::new(),
        ];
        for body in bodies {
            let attributes: std::collections::BTreeMap<String, String> = [
                ("event.feature".to_string(), "a.b".to_string()),
                (
                    "publisher.source".to_string(),
                    "svc \"q\" \\ \u{2}\u{8}\u{c}\n\r\t\u{1f}".to_string(),
                ),
            ]
            .into();
            let m = Message {
                data: body.clone().into_bytes(),
                attributes: attributes.clone(),
            };
            let mut expected = serde_json::to_vec(&Line {
                data: &body,
                attributes: &attributes,
            })
            .unwrap();
            expected.push(b'\n');
            assert_eq!(render(&m).unwrap(), expected);
        }
    }

    #[tokio::test]
    async fn a_failed_write_is_undone_and_reported_by_health() {
        let out = Flaky::default();
        let w = LineWriter::spawn("t", out.clone()).unwrap();
        w.write(b"one\n".to_vec(), Reservation::default(), far())
            .await
            .unwrap();
        out.fail.store(true, Ordering::SeqCst);
        assert!(
            w.write(b"two two two\n".to_vec(), Reservation::default(), far())
                .await
                .is_err()
        );
        assert!(w.health().unwrap_err().to_string().contains("disk full"));
        out.fail.store(false, Ordering::SeqCst);
        w.write(b"three\n".to_vec(), Reservation::default(), far())
            .await
            .unwrap();
        assert_eq!(out.data.lock().unwrap().as_slice(), b"one\nthree\n");
        assert!(w.health().is_ok());
    }

    #[tokio::test]
    async fn a_batch_not_taken_before_its_deadline_is_never_written() {
        let out = Flaky::default();
        out.slow.store(true, Ordering::SeqCst);
        let w = LineWriter::spawn("t", out.clone()).unwrap();
        // The first write blocks the writer thread; the second waits in the queue.
        let first = tokio::spawn({
            let w = w.clone();
            async move {
                w.write(b"first\n".to_vec(), Reservation::default(), far())
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let late = w
            .write(
                b"late\n".to_vec(),
                Reservation::default(),
                Instant::now() + Duration::from_millis(50),
            )
            .await;
        assert!(late.unwrap_err().to_string().contains("timed out"));
        out.slow.store(false, Ordering::SeqCst);
        first.await.unwrap().unwrap();
        w.flush().await.unwrap();
        assert_eq!(out.data.lock().unwrap().as_slice(), b"first\n");
    }
}
