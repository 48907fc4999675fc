//! The conformance corpus against the native core, under `cargo test`.

use std::io::Write as _;

#[test]
fn conformance_corpus_native() {
    let dirs = telemetry_conformance::corpus_dirs(&[]);
    let summary = telemetry_conformance::run(&dirs);
    // Written to the process's stdout directly rather than with `println!`, which libtest
    // captures: the closing line shows even when every case passes.
    let mut out = std::io::stdout().lock();
    for failure in &summary.failures {
        let _ = writeln!(out, "{failure}");
    }
    let _ = writeln!(out, "conformance: {}", summary.closing_line());
    let _ = out.flush();
    drop(out);
    assert!(summary.passed > 0, "no conformance case ran");
    assert_eq!(summary.failed, 0, "{}", summary.closing_line());
}
