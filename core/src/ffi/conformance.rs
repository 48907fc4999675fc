//! Checking one conformance case: run its op, compare with its expectation.
//!
//! The comparison rules are the corpus contract's (`FORMAT.md`): answers are compared as parsed
//! JSON (key order ignored, numbers by value, an int64 written `"42"` equals `42`), a `payload`
//! string must match byte for byte, and a top-level `error` matches as a prefix.

use super::{OPS, run_op, written_json};
use serde_json::{Value as Json, json};

/// The result of checking one case.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseReport {
    /// The answer matched the expectation.
    Passed,
    /// The answer did not match.
    Failed {
        /// The expectation.
        expected: Json,
        /// The answer.
        actual: Json,
    },
    /// The case is malformed or names an unknown op (counted as failed by runners).
    Invalid(String),
    /// The case's `targets` exclude this target.
    Skipped,
}

/// The case's name, or a placeholder for runner messages when it has none.
pub fn case_name(case: &Json) -> String {
    case.get("name")
        .and_then(Json::as_str)
        .unwrap_or("<unnamed>")
        .to_string()
}

/// Checks one case for `target` (`native`, `wasm` or `gateway`).
pub fn check_case(case: &Json, target: &str) -> CaseReport {
    let Some(obj) = case.as_object() else {
        return CaseReport::Invalid("a case must be an object".into());
    };
    if !matches!(obj.get("name"), Some(Json::String(n)) if !n.is_empty()) {
        return CaseReport::Invalid("case has no \"name\" string".into());
    }
    let Some(op) = obj.get("op").and_then(Json::as_str) else {
        return CaseReport::Invalid("case has no \"op\" string".into());
    };
    if !OPS.contains(&op) {
        return CaseReport::Invalid(format!("unknown op {op:?}"));
    }
    let Some(input) = obj.get("input").filter(|i| i.is_object()) else {
        return CaseReport::Invalid("case has no \"input\" object".into());
    };
    let Some(expect) = obj.get("expect").filter(|e| e.is_object()) else {
        return CaseReport::Invalid("case has no \"expect\" object".into());
    };
    if let Some(targets) = obj.get("targets") {
        let Some(list) = targets.as_array() else {
            return CaseReport::Invalid("\"targets\" must be an array".into());
        };
        if !list.iter().any(|t| t.as_str() == Some(target)) {
            return CaseReport::Skipped;
        }
    }
    // Through the JSON-text entry point, as the WASM build and JS callers use it.
    match run_op(op, &input.to_string()) {
        Err(e) => CaseReport::Invalid(e.to_string()),
        Ok(answer) => {
            let actual = written_json(answer.as_bytes());
            if answer_matches(expect, &actual) {
                CaseReport::Passed
            } else {
                CaseReport::Failed {
                    expected: expect.clone(),
                    actual,
                }
            }
        }
    }
}

/// Whether an answer satisfies an expectation (top level: `error` is a prefix match).
pub fn answer_matches(expect: &Json, actual: &Json) -> bool {
    if let (Some(Json::String(want)), Some(obj)) = (expect.get("error"), expect.as_object())
        && obj.len() == 1
    {
        return matches!(actual.get("error"), Some(Json::String(got)) if got.starts_with(want.as_str()))
            && actual.as_object().is_some_and(|a| a.len() == 1);
    }
    values_equal(expect, actual)
}

fn number_of(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn int_of_string(s: &str) -> Option<i128> {
    s.parse::<i128>().ok()
}

fn values_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| values_equal(v, w))
        }
        (Json::Number(x), Json::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => number_of(a) == number_of(b),
        },
        // int64 written as a string on one side and a number on the other.
        (Json::String(s), Json::Number(n)) | (Json::Number(n), Json::String(s)) => {
            match (int_of_string(s), n.as_i64()) {
                (Some(i), Some(j)) => i == i128::from(j),
                _ => false,
            }
        }
        _ => a == b,
    }
}

/// A one-line summary of a failing case for runner output.
pub fn describe_failure(file: &str, case: &Json, report: &CaseReport) -> Option<String> {
    let name = case_name(case);
    match report {
        CaseReport::Passed | CaseReport::Skipped => None,
        CaseReport::Failed { expected, actual } => Some(format!(
            "FAIL {file} {name}\n  expected: {expected}\n  actual:   {actual}"
        )),
        CaseReport::Invalid(why) => Some(format!("ERROR {file} {name}: {why}")),
    }
}

/// One case of a corpus file, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedCase {
    /// The case name (`<unnamed>` if it has none).
    pub name: String,
    /// The outcome.
    pub report: CaseReport,
    /// For a failed or invalid case: the runner's failure block.
    pub message: Option<String>,
}

/// Checks every case of one corpus file from its text, for `target`. A name already in `seen`
/// is a failure (names are unique across a run); every name is added to `seen`. A file that is
/// not JSON yields one invalid entry named after the file. Both runners (native, WASM) use this.
pub fn check_file(
    file: &str,
    text: &str,
    target: &str,
    seen: &mut std::collections::HashSet<String>,
) -> Vec<CheckedCase> {
    let document: Json = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            return vec![CheckedCase {
                name: file.to_string(),
                report: CaseReport::Invalid(format!("not valid JSON: {e}")),
                message: Some(format!("ERROR {file}: not valid JSON: {e}")),
            }];
        }
    };
    cases_of(&document)
        .into_iter()
        .map(|case| {
            let name = case_name(&case);
            let report = if seen.insert(name.clone()) {
                check_case(&case, target)
            } else {
                CaseReport::Invalid(format!("duplicate case name {name:?}"))
            };
            let message = describe_failure(file, &case, &report);
            CheckedCase {
                name,
                report,
                message,
            }
        })
        .collect()
}

/// Splits a corpus file's JSON into its cases (`{"cases": [...]}` or a single case object).
pub fn cases_of(document: &Json) -> Vec<Json> {
    match document.get("cases") {
        Some(Json::Array(cases)) => cases.clone(),
        Some(other) => vec![json!({ "invalid": other.clone() })],
        None => vec![document.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_rules() {
        assert!(answer_matches(
            &json!({"error": "event ID"}),
            &json!({"error": "event ID is required"})
        ));
        assert!(!answer_matches(
            &json!({"error": "event ID"}),
            &json!({"ok": true})
        ));
        assert!(values_equal(
            &json!({"userId": "42"}),
            &json!({"userId": 42})
        ));
        assert!(!values_equal(
            &json!({"userId": "43"}),
            &json!({"userId": 42})
        ));
        assert!(values_equal(&json!(1.0), &json!(1)));
        assert!(!values_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!values_equal(&json!("payload "), &json!("payload")));
    }

    #[test]
    fn invalid_cases_are_reported() {
        assert!(matches!(
            check_case(
                &json!({"name": "x", "op": "nope", "input": {}, "expect": {}}),
                "native"
            ),
            CaseReport::Invalid(_)
        ));
        assert!(matches!(
            check_case(
                &json!({"op": "validate", "input": {}, "expect": {}}),
                "native"
            ),
            CaseReport::Invalid(_)
        ));
        assert_eq!(
            check_case(
                &json!({"name": "x", "op": "validate", "input": {"event": {}}, "expect": {"ok": true}, "targets": ["gateway"]}),
                "native"
            ),
            CaseReport::Skipped
        );
    }
}
