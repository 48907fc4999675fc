//! The conformance corpus against the native core, under `cargo test`.

#[test]
fn conformance_corpus_native() {
    let dirs = telemetry_conformance::corpus_dirs(&[]);
    let summary = telemetry_conformance::run(&dirs);
    for failure in &summary.failures {
        println!("{failure}");
    }
    // The closing line is printed even when everything passes (run with --nocapture to see it;
    // the test harness also shows it on failure).
    println!("conformance: {}", summary.closing_line());
    eprintln!("conformance: {}", summary.closing_line());
    assert!(summary.passed > 0, "no conformance case ran");
    assert_eq!(summary.failed, 0, "{}", summary.closing_line());
}
