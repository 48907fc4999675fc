//! `cargo run -p telemetry-conformance --bin conformance -- [DIR ...]`
//!
//! Runs the conformance corpus (default: `tests/conformance/`, plus `TELEMETRY_CONFORMANCE_DIR`)
//! against the native core and prints one block per failing case and `N passed, N failed`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "usage: conformance [DIR ...]\n\nRuns every *.json conformance case below each DIR (default: the repository's \
             tests/conformance) and below every directory in TELEMETRY_CONFORMANCE_DIR (':'-separated) against the \
             native core. Exits non-zero if any case fails or none ran."
        );
        return ExitCode::SUCCESS;
    }
    let dirs = telemetry_conformance::corpus_dirs(&args);
    let summary = telemetry_conformance::run(&dirs);
    for failure in &summary.failures {
        println!("{failure}");
    }
    println!("{}", summary.closing_line());
    if summary.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
