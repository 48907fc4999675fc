//! Checking one conformance case: run its op, compare with its expectation.
//!
//! The comparison rules are the corpus contract's (`FORMAT.md`): answers are compared as parsed
//! JSON (key order ignored, numbers by value, an int64 written `"42"` equals `42`), a `payload`
//! string must match byte for byte, and a top-level `error` matches as a prefix.
//!
//! Cases and answers are parsed with the core's own reader into a small tree ([`Json`]: objects
//! with sorted keys, a repeated key's last value kept, as a `serde_json::Map` holds them), so the
//! full WASM build, which runs the corpus in Node and in browsers, carries no second JSON
//! library.

use crate::prelude::*;

use super::{OPS, run_op};
use crate::json::read::{Got, Number, Reader, Scalar, Stop, SyntaxError, document, last_per_key};
use crate::json::write_json_string;
use core::fmt;
use std::collections::HashSet;

/// A parsed JSON value of a corpus file or an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Json(Tree);

#[derive(Debug, Clone, PartialEq)]
enum Tree {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Tree>),
    /// Keys sorted, each once (its last value).
    Object(Vec<(String, Tree)>),
}

impl Json {
    /// Parses JSON text (serde_json's messages for text that is not JSON).
    pub fn parse(text: &str) -> Result<Json, String> {
        document(text, tree)
            .map(Json)
            .map_err(|e: SyntaxError| e.to_string())
    }
}

/// Written compactly, keys in sorted order, numbers and strings as serde_json writes them.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        write_tree(&mut out, &self.0);
        f.write_str(&String::from_utf8(out).unwrap_or_default())
    }
}

fn tree(r: &mut Reader<'_>) -> Result<Tree, Stop> {
    Ok(match r.open()? {
        Got::Scalar(Scalar::Null) => Tree::Null,
        Got::Scalar(Scalar::Bool(b)) => Tree::Bool(b),
        Got::Scalar(Scalar::Number(n)) => Tree::Number(n),
        Got::Scalar(Scalar::Str(s)) => Tree::String(s.into_owned()),
        Got::Array => {
            let mut items = Vec::new();
            while r.next_item()? {
                items.push(tree(r)?);
            }
            Tree::Array(items)
        }
        Got::Object => {
            let mut entries = Vec::new();
            while let Some(key) = r.next_key()? {
                let value = tree(r)?;
                entries.push((key.into_owned(), value));
            }
            let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
            let order = last_per_key(&keys);
            let mut slots: Vec<Option<(String, Tree)>> = entries.into_iter().map(Some).collect();
            Tree::Object(
                order
                    .into_iter()
                    .filter_map(|i| slots.get_mut(i).and_then(Option::take))
                    .collect(),
            )
        }
    })
}

fn write_tree(out: &mut Vec<u8>, t: &Tree) {
    match t {
        Tree::Null => out.extend_from_slice(b"null"),
        Tree::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Tree::Number(n) => {
            let mut s = String::new();
            n.write(&mut s);
            out.extend_from_slice(s.as_bytes());
        }
        Tree::String(s) => write_json_string(out, s),
        Tree::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_tree(out, item);
            }
            out.push(b']');
        }
        Tree::Object(entries) => {
            out.push(b'{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_string(out, k);
                out.push(b':');
                write_tree(out, v);
            }
            out.push(b'}');
        }
    }
}

impl Tree {
    fn get(&self, key: &str) -> Option<&Tree> {
        match self {
            Tree::Object(entries) => entries
                .binary_search_by(|(k, _)| k.as_str().cmp(key))
                .ok()
                .and_then(|i| entries.get(i))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Tree::String(s) => Some(s),
            _ => None,
        }
    }

    fn object_len(&self) -> Option<usize> {
        match self {
            Tree::Object(entries) => Some(entries.len()),
            _ => None,
        }
    }
}

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
    case.0
        .get("name")
        .and_then(Tree::as_str)
        .unwrap_or("<unnamed>")
        .to_string()
}

/// Checks one case for `target` (`native`, `wasm` or `gateway`).
pub fn check_case(case: &Json, target: &str) -> CaseReport {
    let case = &case.0;
    if case.object_len().is_none() {
        return CaseReport::Invalid("a case must be an object".into());
    }
    if !matches!(case.get("name"), Some(Tree::String(n)) if !n.is_empty()) {
        return CaseReport::Invalid("case has no \"name\" string".into());
    }
    let Some(op) = case.get("op").and_then(Tree::as_str) else {
        return CaseReport::Invalid("case has no \"op\" string".into());
    };
    if !OPS.contains(&op) {
        return CaseReport::Invalid(format!("unknown op {op:?}"));
    }
    let Some(input) = case.get("input").filter(|i| i.object_len().is_some()) else {
        return CaseReport::Invalid("case has no \"input\" object".into());
    };
    let Some(expect) = case.get("expect").filter(|e| e.object_len().is_some()) else {
        return CaseReport::Invalid("case has no \"expect\" object".into());
    };
    if let Some(targets) = case.get("targets") {
        let Tree::Array(list) = targets else {
            return CaseReport::Invalid("\"targets\" must be an array".into());
        };
        if !list.iter().any(|t| t.as_str() == Some(target)) {
            return CaseReport::Skipped;
        }
    }
    // Through the JSON-text entry point, as the WASM build and JS callers use it.
    let mut input_text = Vec::new();
    write_tree(&mut input_text, input);
    match run_op(op, &String::from_utf8(input_text).unwrap_or_default()) {
        Err(e) => CaseReport::Invalid(e.to_string()),
        Ok(answer) => {
            // The core's answers are always JSON.
            let actual = Json::parse(&answer).unwrap_or(Json(Tree::Null));
            let expected = Json(expect.clone());
            if answer_matches(&expected, &actual) {
                CaseReport::Passed
            } else {
                CaseReport::Failed { expected, actual }
            }
        }
    }
}

/// Whether an answer satisfies an expectation (top level: `error` is a prefix match).
pub fn answer_matches(expect: &Json, actual: &Json) -> bool {
    let (expect, actual) = (&expect.0, &actual.0);
    if let Some(Tree::String(want)) = expect.get("error")
        && expect.object_len() == Some(1)
    {
        return matches!(actual.get("error"), Some(Tree::String(got)) if got.starts_with(want.as_str()))
            && actual.object_len() == Some(1);
    }
    values_equal(expect, actual)
}

fn int_of_string(s: &str) -> Option<i128> {
    s.parse::<i128>().ok()
}

fn values_equal(a: &Tree, b: &Tree) -> bool {
    match (a, b) {
        (Tree::Object(x), Tree::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| values_equal(v, w)))
        }
        (Tree::Array(x), Tree::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| values_equal(v, w))
        }
        (Tree::Number(x), Tree::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        // int64 written as a string on one side and a number on the other.
        (Tree::String(s), Tree::Number(n)) | (Tree::Number(n), Tree::String(s)) => {
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
    seen: &mut HashSet<String>,
) -> Vec<CheckedCase> {
    let document = match Json::parse(text) {
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
    match document.0.get("cases") {
        Some(Tree::Array(cases)) => cases.iter().cloned().map(Json).collect(),
        Some(other) => vec![Json(Tree::Object(vec![(
            "invalid".to_string(),
            other.clone(),
        )]))],
        None => vec![document.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Json {
        Json::parse(text).unwrap()
    }

    fn tree_of(text: &str) -> Tree {
        json(text).0
    }

    #[test]
    fn trees_print_as_serde_json_prints_values() {
        for text in [
            r#"{"b":1,"a":[true,null,"x\u0001\"",1.5,-0,1e300,18446744073709551615],"b":{"d":{},"c":[]}}"#,
            r#"[]"#,
            r#""é\n""#,
        ] {
            let ours = json(text).to_string();
            let theirs = serde_json::from_str::<serde_json::Value>(text)
                .unwrap()
                .to_string();
            assert_eq!(ours, theirs, "{text}");
        }
    }

    #[test]
    fn comparison_rules() {
        assert!(answer_matches(
            &json(r#"{"error": "event ID"}"#),
            &json(r#"{"error": "event ID is required"}"#)
        ));
        assert!(!answer_matches(
            &json(r#"{"error": "event ID"}"#),
            &json(r#"{"ok": true}"#)
        ));
        assert!(values_equal(
            &tree_of(r#"{"userId": "42"}"#),
            &tree_of(r#"{"userId": 42}"#)
        ));
        assert!(!values_equal(
            &tree_of(r#"{"userId": "43"}"#),
            &tree_of(r#"{"userId": 42}"#)
        ));
        assert!(values_equal(&tree_of(r#"1.0"#), &tree_of(r#"1"#)));
        assert!(!values_equal(
            &tree_of(r#"{"a": 1}"#),
            &tree_of(r#"{"a": 1, "b": 2}"#)
        ));
        assert!(!values_equal(
            &tree_of(r#""payload ""#),
            &tree_of(r#""payload""#)
        ));
    }

    #[test]
    fn invalid_cases_are_reported() {
        assert!(matches!(
            check_case(
                &json(r#"{"name": "x", "op": "nope", "input": {}, "expect": {}}"#),
                "native"
            ),
            CaseReport::Invalid(_)
        ));
        assert!(matches!(
            check_case(
                &json(r#"{"op": "validate", "input": {}, "expect": {}}"#),
                "native"
            ),
            CaseReport::Invalid(_)
        ));
        assert_eq!(
            check_case(
                &json(
                    r#"{"name": "x", "op": "validate", "input": {"event": {}}, "expect": {"ok": true}, "targets": ["gateway"]}"#
                ),
                "native"
            ),
            CaseReport::Skipped
        );
    }
}
