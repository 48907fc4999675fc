//! The embedded default sink: NDJSON lines appended to a file (see [`super::lines`]).

use super::lines::{LineWriter, render};
use super::{Sink, SinkError};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use telemetry_core::Message;

/// Appends one NDJSON line per message to a file.
pub struct FileSink {
    path: PathBuf,
    writer: LineWriter,
}

impl FileSink {
    /// Opens (creating, appending to) the file.
    pub async fn open(path: &Path) -> Result<Self, SinkError> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(|e| anyhow::anyhow!("opening sink file {}: {e}", path.display()))?;
        Ok(FileSink {
            path: path.to_path_buf(),
            writer: LineWriter::spawn(file),
        })
    }
}

#[async_trait]
impl Sink for FileSink {
    async fn publish(&self, message: &Message) -> Result<(), SinkError> {
        self.writer.write(render(message)?).await
    }

    async fn flush(&self) -> Result<(), SinkError> {
        self.writer.flush().await
    }

    async fn health(&self) -> Result<(), SinkError> {
        self.writer.flush().await
    }

    fn describe(&self) -> String {
        let shown = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        format!("NDJSON file {}", shown.display())
    }
}
