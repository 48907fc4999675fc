//! The embedded default sink: NDJSON lines appended to a file (see [`super::lines`]).
//!
//! The file is created with mode 0600 (it holds every event, license keys included). A line is
//! acknowledged once written and flushed to the OS — it survives a crash of the gateway, not a
//! power loss — or, with `--sink-fsync`, once fsynced (one fsync per group of writes): then it
//! survives a power loss too. A partial line — left by a failed write, or found at the end of the
//! file when it is opened (a crash mid-write) — is truncated away, so every line parses.

use super::lines::{LineWriter, Output};
use super::{Batch, BatchResult, Sink, SinkError};
use async_trait::async_trait;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tokio::time::Instant;

/// Appends one NDJSON line per message to a file.
pub struct FileSink {
    path: PathBuf,
    fsync: bool,
    writer: LineWriter,
}

struct FileOutput {
    file: File,
    /// The file's length after the last successful commit: everything before it is whole lines.
    good_len: u64,
    pending: u64,
    fsync: bool,
}

impl Output for FileOutput {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        // Counted before writing: a partial write must be undone too.
        self.pending += buf.len() as u64;
        self.file.write_all(buf)
    }

    fn write_all_vectored(&mut self, bufs: &[&[u8]]) -> io::Result<()> {
        self.pending += bufs.iter().map(|b| b.len() as u64).sum::<u64>();
        let mut slices: Vec<io::IoSlice<'_>> = bufs.iter().map(|b| io::IoSlice::new(b)).collect();
        let mut rest = slices.as_mut_slice();
        while !rest.is_empty() {
            match self.file.write_vectored(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => io::IoSlice::advance_slices(&mut rest, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn commit(&mut self, _written: usize) -> io::Result<()> {
        self.file.flush()?;
        if self.fsync {
            self.file.sync_data()?;
        }
        self.good_len += std::mem::take(&mut self.pending);
        Ok(())
    }

    fn recover(&mut self) -> io::Result<()> {
        self.pending = 0;
        self.file.set_len(self.good_len)
    }
}

/// Truncates a trailing partial line (from a crash mid-write); returns the resulting length.
fn repair_tail(file: &mut File, path: &Path) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(len);
    }
    // Find the last newline, reading backwards in chunks.
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(chunk.len() as u64);
        let n = (end - start) as usize;
        let part = chunk.get_mut(..n).unwrap_or_default();
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|b| *b == b'\n') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    file.set_len(keep)?;
    tracing::warn!(
        path = %path.display(),
        removed_bytes = len - keep,
        "the sink file ended with a partial line (an interrupted write, never acknowledged); truncated it"
    );
    Ok(keep)
}

impl FileSink {
    /// Opens (creating with mode 0600, appending to) the file, repairing a partial last line.
    pub fn open(path: &Path, fsync: bool) -> Result<Self, SinkError> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .map_err(|e| anyhow::anyhow!("opening sink file {}: {e}", path.display()))?;
        let good_len = repair_tail(&mut file, path)
            .map_err(|e| anyhow::anyhow!("checking sink file {}: {e}", path.display()))?;
        let writer = LineWriter::spawn(
            "file",
            FileOutput {
                file,
                good_len,
                pending: 0,
                fsync,
            },
        )?;
        Ok(FileSink {
            path: path.to_path_buf(),
            fsync,
            writer,
        })
    }
}

#[async_trait]
impl Sink for FileSink {
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
        let shown = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        format!(
            "NDJSON file {}{}",
            shown.display(),
            if self.fsync {
                " (fsync before acknowledging)"
            } else {
                ""
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_last_line_is_truncated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.ndjson");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":2}\n{\"tor").unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        assert_eq!(repair_tail(&mut f, &path).unwrap(), 16);
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n{\"b\":2}\n");
        std::fs::write(&path, b"no newline at all").unwrap();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        assert_eq!(repair_tail(&mut f, &path).unwrap(), 0);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_file_is_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.ndjson");
        let _sink = FileSink::open(&path, false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
