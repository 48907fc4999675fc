//! Conformance (full build only): the Node runner checks each corpus file with the core's own
//! rules, inside WASM.

use telemetry_core::ffi::FfiError;
use telemetry_core::ffi::conformance::{self, Json};
use telemetry_core::json::{MAX_JSON_INPUT_BYTES, write_json_string};
use wasm_bindgen::prelude::*;

use crate::js_error;

/// Checks every case of one corpus file (its JSON text) for `target`, with the core's
/// comparison rules. `seen_names` is the JSON array of case names already run (a repeated name
/// is a failure, as in the native runner). Returns a JSON array of
/// `{"message"?, "name", "status": "passed" | "skipped" | "failed"}`.
#[wasm_bindgen(js_name = checkCorpusFile)]
pub fn check_corpus_file(file: &str, text: &str, target: &str, seen_names: &str) -> String {
    let mut seen = std::collections::HashSet::new();
    if let Ok(names) = telemetry_core::ffi::string_list(seen_names) {
        seen.extend(names);
    }
    let mut out = vec![b'['];
    for (i, checked) in conformance::check_file(file, text, target, &mut seen)
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push(b',');
        }
        let status = match checked.report {
            conformance::CaseReport::Passed => "passed",
            conformance::CaseReport::Skipped => "skipped",
            _ => "failed",
        };
        out.push(b'{');
        if let Some(message) = checked.message {
            out.extend_from_slice(br#""message":"#);
            write_json_string(&mut out, &message);
            out.push(b',');
        }
        out.extend_from_slice(br#""name":"#);
        write_json_string(&mut out, &checked.name);
        out.extend_from_slice(br#","status":"#);
        write_json_string(&mut out, status);
        out.push(b'}');
    }
    out.push(b']');
    String::from_utf8(out).unwrap_or_default()
}

/// Whether an answer (JSON text) satisfies an expectation (JSON text), by the corpus rules.
#[wasm_bindgen(js_name = answerMatches)]
pub fn answer_matches(expect: &str, actual: &str) -> Result<bool, JsError> {
    let parse = |text: &str| {
        if text.len() > MAX_JSON_INPUT_BYTES {
            return Err(js_error(FfiError::MalformedInput(format!(
                "input is {} bytes, more than the limit of {MAX_JSON_INPUT_BYTES}",
                text.len()
            ))));
        }
        Json::parse(text)
            .map_err(|e| js_error(FfiError::MalformedInput(format!("not valid JSON: {e}"))))
    };
    Ok(conformance::answer_matches(
        &parse(expect)?,
        &parse(actual)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_file_reports() {
        let text = r#"{"cases":[
            {"name":"v/ok","op":"validate","input":{"event":{"id":"1","feature":"a.b","action":"cd","timestamp":"2024-01-01T00:00:00Z"}},"expect":{"ok":true}},
            {"name":"v/ok","op":"validate","input":{"event":{}},"expect":{"ok":true}},
            {"name":"v/gw","op":"validate","input":{"event":{}},"expect":{"ok":true},"targets":["gateway"]}
        ]}"#;
        let out = check_corpus_file("f.json", text, "wasm", "[]");
        let statuses: Vec<&str> = out
            .split(r#""status":""#)
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        assert_eq!(statuses, ["passed", "failed", "skipped"]);
        assert!(out.starts_with(r#"[{"name":"v/ok","status":"passed"},{"message":"ERROR f.json v/ok: duplicate case name"#), "{out}");
    }
}
