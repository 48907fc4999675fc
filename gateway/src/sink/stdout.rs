//! NDJSON lines on standard output (see [`super::lines`]); logs go to standard error. A line is
//! acknowledged once written to the pipe or terminal: it survives a crash of the gateway (the
//! reader can still read it), not a crash of the reader.

use super::lines::{LineWriter, Output};
use super::{Batch, BatchResult, Sink, SinkError};
use async_trait::async_trait;
use std::io::{self, Write};
use tokio::time::Instant;

/// Writes one NDJSON line per message to standard output.
pub struct StdoutSink {
    writer: LineWriter,
}

struct StdoutOutput(io::Stdout);

impl Output for StdoutOutput {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.lock().write_all(buf)
    }

    fn commit(&mut self, _written: usize) -> io::Result<()> {
        self.0.lock().flush()
    }

    fn recover(&mut self) -> io::Result<()> {
        // A pipe cannot be rewound; the reader sees the failure as the stream's end.
        Ok(())
    }
}

impl StdoutSink {
    /// Starts the stdout writer.
    pub fn new() -> Result<Self, SinkError> {
        Ok(StdoutSink {
            writer: LineWriter::spawn("stdout", StdoutOutput(io::stdout()))?,
        })
    }
}

#[async_trait]
impl Sink for StdoutSink {
    async fn publish(&self, batch: Batch, deadline: Instant) -> BatchResult {
        self.writer.write_batch(batch, deadline).await
    }

    async fn flush(&self) -> Result<(), SinkError> {
        self.writer.flush().await
    }

    async fn health(&self) -> Result<(), SinkError> {
        self.writer.health()
    }

    fn describe(&self) -> String {
        "NDJSON on standard output".to_string()
    }
}
