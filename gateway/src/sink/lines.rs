//! The NDJSON line format shared by the file and stdout sinks, and a group-committing writer.
//!
//! One line per message: `{"data":"<the exact body, as a JSON string>","attributes":{...}}`.
//! A single writer task drains every queued line, writes them with one `write_all` and flushes
//! before completing the publishes: a publish returns `Ok` only once its line reached the OS.

use super::SinkError;
use std::collections::BTreeMap;
use telemetry_core::Message;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Renders one NDJSON line (with the trailing newline).
pub fn render(message: &Message) -> Result<Vec<u8>, SinkError> {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        data: &'a str,
        attributes: &'a BTreeMap<String, String>,
    }
    let data = std::str::from_utf8(&message.data)?;
    let mut line = serde_json::to_vec(&Line {
        data,
        attributes: &message.attributes,
    })?;
    line.push(b'\n');
    Ok(line)
}

enum Command {
    Write(Vec<u8>, oneshot::Sender<Result<(), String>>),
    Flush(oneshot::Sender<Result<(), String>>),
}

/// A handle to the writer task.
#[derive(Clone)]
pub struct LineWriter {
    tx: mpsc::UnboundedSender<Command>,
}

/// The most bytes written in one go before flushing.
const MAX_BATCH_BYTES: usize = 4 << 20;

impl LineWriter {
    /// Starts the writer task over `out`.
    pub fn spawn<W: AsyncWrite + Unpin + Send + 'static>(mut out: W) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Command>();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(64 * 1024);
            let mut waiters = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut next = Some(first);
                while let Some(cmd) = next.take() {
                    match cmd {
                        Command::Write(line, done) => {
                            buf.extend_from_slice(&line);
                            waiters.push(done);
                        }
                        Command::Flush(done) => waiters.push(done),
                    }
                    if buf.len() < MAX_BATCH_BYTES {
                        next = rx.try_recv().ok();
                    }
                }
                let result = async {
                    out.write_all(&buf).await?;
                    out.flush().await
                }
                .await
                .map_err(|e| e.to_string());
                buf.clear();
                for done in waiters.drain(..) {
                    let _ = done.send(result.clone());
                }
            }
        });
        LineWriter { tx }
    }

    /// Writes one line; returns once it was written and flushed.
    pub async fn write(&self, line: Vec<u8>) -> Result<(), SinkError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Write(line, done))
            .map_err(|_| anyhow::anyhow!("sink writer stopped"))?;
        wait.await
            .map_err(|_| anyhow::anyhow!("sink writer stopped"))?
            .map_err(|e| anyhow::anyhow!("writing to sink: {e}"))
    }

    /// Waits until everything queued before this call was written and flushed.
    pub async fn flush(&self) -> Result<(), SinkError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Flush(done))
            .map_err(|_| anyhow::anyhow!("sink writer stopped"))?;
        wait.await
            .map_err(|_| anyhow::anyhow!("sink writer stopped"))?
            .map_err(|e| anyhow::anyhow!("flushing sink: {e}"))
    }
}
