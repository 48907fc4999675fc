//! Conformance (full build only): the Node runner checks each corpus file with the core's own
//! rules, inside WASM.

use serde_json::Value as Json;
use telemetry_core::ffi::{conformance, parse_input};
use wasm_bindgen::prelude::*;

use crate::js_error;

/// Checks every case of one corpus file (its JSON text) for `target`, with the core's
/// comparison rules. `seen_names` is the JSON array of case names already run (a repeated name
/// is a failure, as in the native runner). Returns a JSON array of
/// `{"name", "status": "passed" | "skipped" | "failed", "message"?}`.
#[wasm_bindgen(js_name = checkCorpusFile)]
pub fn check_corpus_file(file: &str, text: &str, target: &str, seen_names: &str) -> String {
    let mut seen: std::collections::HashSet<String> =
        serde_json::from_str::<Vec<String>>(seen_names)
            .unwrap_or_default()
            .into_iter()
            .collect();
    let results: Vec<Json> = conformance::check_file(file, text, target, &mut seen)
        .into_iter()
        .map(|checked| {
            let status = match checked.report {
                conformance::CaseReport::Passed => "passed",
                conformance::CaseReport::Skipped => "skipped",
                _ => "failed",
            };
            let mut entry = serde_json::json!({ "name": checked.name, "status": status });
            if let (Some(message), Json::Object(map)) = (checked.message, &mut entry) {
                map.insert("message".into(), Json::String(message));
            }
            entry
        })
        .collect();
    Json::Array(results).to_string()
}

/// Whether an answer (JSON text) satisfies an expectation (JSON text), by the corpus rules.
#[wasm_bindgen(js_name = answerMatches)]
pub fn answer_matches(expect: &str, actual: &str) -> Result<bool, JsError> {
    let expect = parse_input(expect).map_err(js_error)?;
    let actual = parse_input(actual).map_err(js_error)?;
    Ok(conformance::answer_matches(&expect, &actual))
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
        let out: Json = serde_json::from_str(&check_corpus_file("f.json", text, "wasm", "[]"))
            .unwrap_or(Json::Null);
        let statuses: Vec<&str> = out
            .as_array()
            .map(|a| a.iter().filter_map(|r| r["status"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(statuses, ["passed", "failed", "skipped"]);
    }
}
