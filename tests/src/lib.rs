//! The native conformance runner: reads corpus directories and checks every case against the
//! core's `ffi` entry points (the same ones the WASM build exposes).

use std::path::{Path, PathBuf};
use telemetry_core::ffi::conformance::{CaseReport, check_file};

/// The corpus directory in this repository.
pub fn default_corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// The directories to run: the given ones (or the repository corpus if none), plus every
/// directory in `TELEMETRY_CONFORMANCE_DIR` (`:`-separated).
pub fn corpus_dirs(explicit: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = if explicit.is_empty() {
        vec![default_corpus_dir()]
    } else {
        explicit.to_vec()
    };
    if let Ok(extra) = std::env::var("TELEMETRY_CONFORMANCE_DIR") {
        dirs.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
    }
    dirs
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            json_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Totals of one run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed, were malformed, or could not be read.
    pub failed: usize,
    /// Cases whose `targets` exclude this target.
    pub skipped: usize,
    /// One line (or block) per failure.
    pub failures: Vec<String>,
}

impl Summary {
    /// The closing line: `N passed, N failed` (with skipped cases if any).
    pub fn closing_line(&self) -> String {
        if self.skipped > 0 {
            format!(
                "{} passed, {} failed, {} skipped",
                self.passed, self.failed, self.skipped
            )
        } else {
            format!("{} passed, {} failed", self.passed, self.failed)
        }
    }

    /// Whether the run succeeded: nothing failed and something ran.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }
}

/// Runs every case below `dirs` (files in sorted path order) for the `native` target.
pub fn run(dirs: &[PathBuf]) -> Summary {
    let mut summary = Summary::default();
    let mut seen_names = std::collections::HashSet::new();
    for dir in dirs {
        let mut files = Vec::new();
        if let Err(e) = json_files(dir, &mut files) {
            summary.failed += 1;
            summary
                .failures
                .push(format!("ERROR {}: cannot read: {e}", dir.display()));
            continue;
        }
        files.sort();
        for file in files {
            let shown = file.display().to_string();
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    summary.failed += 1;
                    summary
                        .failures
                        .push(format!("ERROR {shown}: cannot read: {e}"));
                    continue;
                }
            };
            for checked in check_file(&shown, &text, "native", &mut seen_names) {
                match checked.report {
                    CaseReport::Passed => summary.passed += 1,
                    CaseReport::Skipped => summary.skipped += 1,
                    _ => {
                        summary.failed += 1;
                        summary.failures.extend(checked.message);
                    }
                }
            }
        }
    }
    summary
}
