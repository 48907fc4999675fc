//! Replays the fuzzers' kept inputs under plain `cargo test`, so CI keeps them fixed without
//! cargo-fuzz or a nightly toolchain.
//!
//! Every file in `fuzz/regressions/<target>/` (except `*.md`) goes through the same checks the
//! cargo-fuzz target `<target>` runs (`fuzz/src/checks.rs`, included here by path). The seed
//! inputs (the conformance corpus and the wire back-compat fixtures) go through them as well, so
//! the fuzzers' invariants are checked on known inputs on every run.

#[path = "../../fuzz/src/checks.rs"]
mod checks;

use serde_json::Value as Json;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            files_below(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn target_check(name: &str) -> fn(&[u8]) {
    match name {
        "json_entry_points" => checks::json_entry_points,
        "protobuf_entry_points" => checks::protobuf_entry_points,
        other => panic!("fuzz/regressions/{other}: no such fuzz target"),
    }
}

/// Runs `check` on every input, collecting failures instead of stopping at the first.
fn replay(inputs: &[(String, Vec<u8>)], check: impl Fn(&[u8])) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, bytes) in inputs {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(bytes))) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {msg}"));
        }
    }
    failures
}

#[test]
fn fuzz_regressions_stay_fixed() {
    let root = repo().join("fuzz/regressions");
    let mut targets: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fuzz/regressions exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
        .collect();
    targets.sort();
    assert!(!targets.is_empty(), "no target folders in fuzz/regressions");
    let mut total = 0;
    let mut failures = Vec::new();
    for dir in targets {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let check = target_check(&name);
        let mut files = Vec::new();
        files_below(&dir, &mut files);
        files.retain(|p| p.extension().is_none_or(|e| e != "md"));
        files.sort();
        let inputs: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|p| {
                let rel = p.strip_prefix(&root).unwrap_or(p).display().to_string();
                (rel, std::fs::read(p).expect("readable regression input"))
            })
            .collect();
        total += inputs.len();
        failures.extend(replay(&inputs, check));
    }
    println!("fuzz regressions: {total} inputs replayed");
    assert!(
        failures.is_empty(),
        "{} of {total} regression inputs fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The JSON documents a conformance case holds: the whole input, and its event(s) and metadata.
fn conformance_documents() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    files_below(&repo().join("tests/conformance"), &mut files);
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let doc: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let Some(cases) = doc.get("cases").and_then(Json::as_array) else {
            continue;
        };
        for case in cases {
            let name = case["name"].as_str().unwrap_or("?").to_string();
            let input = &case["input"];
            out.push((name.clone(), input.to_string().into_bytes()));
            for key in ["event", "metadata"] {
                if let Some(v) = input.get(key) {
                    out.push((format!("{name} {key}"), v.to_string().into_bytes()));
                }
            }
            if let Some(Json::Array(events)) = input.get("events") {
                for (i, e) in events.iter().enumerate() {
                    out.push((format!("{name} events[{i}]"), e.to_string().into_bytes()));
                }
            }
        }
    }
    out
}

#[test]
fn fuzz_checks_hold_on_the_seed_inputs() {
    let json_inputs = conformance_documents();
    assert!(
        json_inputs.len() > 100,
        "only {} conformance documents",
        json_inputs.len()
    );
    let mut failures = replay(&json_inputs, checks::json_entry_points);

    // Protobuf seeds: the wire back-compat fixtures, and every conformance event and metadata
    // that encodes, wrapped as each request type.
    let mut files = Vec::new();
    files_below(&repo().join("tests/fixtures/backcompat"), &mut files);
    files.retain(|p| p.extension().is_some_and(|e| e == "pb"));
    files.sort();
    let mut pb_inputs: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
        .collect();
    assert!(!pb_inputs.is_empty(), "no back-compat fixtures");
    use telemetry_core::ffi;
    for (name, bytes) in &json_inputs {
        let text = String::from_utf8_lossy(bytes);
        if let Ok(b) = ffi::encode_event(&text) {
            pb_inputs.push((format!("{name} as Event"), b));
            let wrapped = format!(r#"{{"events":{{"events":[{text}]}}}}"#);
            if let Ok(b) = ffi::encode_record_events_request(&wrapped) {
                pb_inputs.push((format!("{name} as EventsPayload"), b));
            }
        }
        let wrapped = format!(r#"{{"metadata":{text}}}"#);
        if let Ok(b) = ffi::encode_record_events_request(&wrapped) {
            pb_inputs.push((format!("{name} as metadata"), b));
        }
        if let Ok(b) = ffi::encode_record_event_request(&text) {
            pb_inputs.push((format!("{name} as RecordEventRequest"), b));
        }
    }
    failures.extend(replay(&pb_inputs, checks::protobuf_entry_points));
    println!(
        "fuzz checks: {} JSON and {} protobuf seed inputs",
        json_inputs.len(),
        pb_inputs.len()
    );
    assert!(
        failures.is_empty(),
        "{} seed inputs break a fuzz invariant:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
