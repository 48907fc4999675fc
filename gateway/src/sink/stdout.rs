//! NDJSON lines on standard output (see [`super::lines`]); logs go to standard error.

use super::lines::{LineWriter, render};
use super::{Sink, SinkError};
use async_trait::async_trait;
use telemetry_core::Message;

/// Writes one NDJSON line per message to standard output.
pub struct StdoutSink {
    writer: LineWriter,
}

impl StdoutSink {
    /// Starts the stdout writer.
    pub fn new() -> Self {
        StdoutSink {
            writer: LineWriter::spawn(tokio::io::stdout()),
        }
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Sink for StdoutSink {
    async fn publish(&self, message: &Message) -> Result<(), SinkError> {
        self.writer.write(render(message)?).await
    }

    async fn flush(&self) -> Result<(), SinkError> {
        self.writer.flush().await
    }

    async fn health(&self) -> Result<(), SinkError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "NDJSON on standard output".to_string()
    }
}
