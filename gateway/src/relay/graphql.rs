//! The GraphQL surface real clients already call: `POST /.api/graphql` with
//!
//! ```graphql
//! mutation RecordTelemetryEvents($events: [TelemetryEventInput!]!) {
//!     telemetry { recordEvents(events: $events) { alwaysNil } }
//! }
//! ```
//!
//! and `{"query": …, "variables": {"events": [...]}}`. The document is parsed with
//! `graphql-parser`; exactly that mutation is served (aliases and `__typename` are honoured).
//! Events must come as a variable: inline literals (`recordEvents(events: [{…}])`) are refused
//! with a clear error. Answers have the GraphQL shape:
//! `{"data":{"telemetry":{"recordEvents":{"alwaysNil":null}}}}`, errors in `errors[]`.

use graphql_parser::query::{Definition, OperationDefinition, Selection, SelectionSet, Value};
use serde_json::{Map, Value as Json, json};

/// The largest query document accepted (the real one is about 150 bytes).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
/// The deepest bracket nesting accepted in a document (the real one has 3).
pub const MAX_DOCUMENT_DEPTH: usize = 16;

/// What a request asks for: the events, and how to shape the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordEventsCall {
    /// The `events` variable's value (validated later, event by event).
    pub events: Json,
    /// The answer's `data` object for success.
    pub data: Json,
    /// The answer's `data` object when the call fails (`recordEvents: null`).
    pub failed_data: Json,
    /// The response path of the `recordEvents` field (for `errors[].path`).
    pub path: Vec<String>,
}

/// A request the GraphQL layer refuses (answered in `errors[]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GraphqlError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, GraphqlError> {
    Err(GraphqlError(msg.into()))
}

/// Bracket depth outside strings and comments. Checked before parsing: `graphql-parser`
/// recurses on nesting, so a hostile document must not reach it deep (no option bounds it).
fn depth(doc: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped, mut comment) =
        (0usize, 0, false, false, false);
    for c in doc.chars() {
        if comment {
            comment = c != '\n' && c != '\r';
            continue;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '#' => comment = true,
            '{' | '[' | '(' => {
                depth += 1;
                max = max.max(depth);
            }
            '}' | ']' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn response_key<'a>(alias: &'a Option<String>, name: &'a str) -> &'a str {
    alias.as_deref().unwrap_or(name)
}

fn only_fields<'a, 'd>(
    set: &'a SelectionSet<'d, String>,
) -> Result<Vec<&'a graphql_parser::query::Field<'d, String>>, GraphqlError> {
    set.items
        .iter()
        .map(|s| match s {
            Selection::Field(f) => Ok(f),
            _ => err("fragments are not supported by this endpoint"),
        })
        .collect()
}

/// Parses a GraphQL request body (`{"query", "variables"?, "operationName"?}`).
pub fn parse_request(body: &Json) -> Result<RecordEventsCall, GraphqlError> {
    let Json::Object(req) = body else {
        return err("the request body must be a JSON object with a \"query\"");
    };
    let Some(Json::String(query)) = req.get("query") else {
        return err("the request has no \"query\" string");
    };
    if query.len() > MAX_DOCUMENT_BYTES {
        return err(format!(
            "the query document is larger than {MAX_DOCUMENT_BYTES} bytes"
        ));
    }
    if depth(query) > MAX_DOCUMENT_DEPTH {
        return err(format!(
            "the query document is nested deeper than {MAX_DOCUMENT_DEPTH} levels"
        ));
    }
    let doc = graphql_parser::parse_query::<String>(query)
        .map_err(|e| GraphqlError(format!("syntax error: {}", e.to_string().trim())))?;
    let operation_name = match req.get("operationName") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(s.as_str()),
        Some(_) => return err("\"operationName\" must be a string"),
    };
    let variables = match req.get("variables") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(_) => return err("\"variables\" must be an object"),
    };
    let ops: Vec<&OperationDefinition<'_, String>> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Operation(op) => Some(op),
            Definition::Fragment(_) => None,
        })
        .collect();
    let op = match operation_name {
        Some(name) => ops
            .iter()
            .find(|op| matches!(op, OperationDefinition::Mutation(m) if m.name.as_deref() == Some(name)))
            .copied()
            .ok_or_else(|| GraphqlError(format!("no mutation named {name:?} in the document")))?,
        None if ops.len() == 1 => ops[0],
        None => return err("the document has several operations: give \"operationName\""),
    };
    let OperationDefinition::Mutation(mutation) = op else {
        return err("only the telemetry.recordEvents mutation is served here");
    };
    let top = only_fields(&mutation.selection_set)?;
    let [telemetry] = top.as_slice() else {
        return err(
            "select exactly one field: telemetry { recordEvents(events: $events) { alwaysNil } }",
        );
    };
    if telemetry.name != "telemetry" {
        return err(format!("unknown mutation field {:?}", telemetry.name));
    }
    let telemetry_key = response_key(&telemetry.alias, &telemetry.name).to_string();
    let mut telemetry_data = Map::new();
    let mut record_key = None;
    let mut events_var = None;
    let mut record_data = Map::new();
    for field in only_fields(&telemetry.selection_set)? {
        let key = response_key(&field.alias, &field.name).to_string();
        match field.name.as_str() {
            "__typename" => {
                telemetry_data.insert(key, json!("TelemetryMutation"));
            }
            "recordEvents" => {
                if record_key.is_some() {
                    return err("recordEvents may be selected once per request");
                }
                let mut arg = None;
                for (name, value) in &field.arguments {
                    match name.as_str() {
                        "events" => arg = Some(value),
                        other => return err(format!("unknown argument {other:?} of recordEvents")),
                    }
                }
                match arg {
                    Some(Value::Variable(v)) => events_var = Some(v.clone()),
                    Some(_) => {
                        return err(
                            "inline event literals are not supported: pass the events as a \
                             variable, recordEvents(events: $events)",
                        );
                    }
                    None => return err("recordEvents needs the argument events: $events"),
                }
                for sub in only_fields(&field.selection_set)? {
                    let sub_key = response_key(&sub.alias, &sub.name).to_string();
                    match sub.name.as_str() {
                        "alwaysNil" => record_data.insert(sub_key, Json::Null),
                        "__typename" => record_data.insert(sub_key, json!("EmptyResponse")),
                        other => return err(format!("unknown field {other:?} of EmptyResponse")),
                    };
                }
                record_key = Some(key);
            }
            other => return err(format!("unknown field {other:?} of TelemetryMutation")),
        }
    }
    let (Some(record_key), Some(var)) = (record_key, events_var) else {
        return err("select telemetry { recordEvents(events: $events) { alwaysNil } }");
    };
    let events = match variables.get(&var) {
        None | Some(Json::Null) => {
            return err(format!(
                "variable \"${var}\" of required type \"[TelemetryEventInput!]!\" was not provided"
            ));
        }
        Some(v) => v.clone(),
    };
    let mut ok = telemetry_data.clone();
    ok.insert(record_key.clone(), Json::Object(record_data));
    let mut failed = telemetry_data;
    failed.insert(record_key.clone(), Json::Null);
    Ok(RecordEventsCall {
        events,
        data: json!({ telemetry_key.clone(): Json::Object(ok) }),
        failed_data: json!({ telemetry_key.clone(): Json::Object(failed) }),
        path: vec![telemetry_key, record_key],
    })
}

/// An error answer: `{"errors":[{"message", "path"?}], "data"?}`.
pub fn error_body(message: &str, call: Option<&RecordEventsCall>) -> Json {
    match call {
        Some(call) => json!({
            "errors": [{ "message": message, "path": call.path }],
            "data": call.failed_data,
        }),
        None => json!({ "errors": [{ "message": message }] }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = "mutation RecordTelemetryEvents($events: [TelemetryEventInput!]!) {\n  telemetry {\n    recordEvents(events: $events) {\n      alwaysNil\n    }\n  }\n}";

    #[test]
    fn the_mutation_real_clients_send() {
        let call =
            parse_request(&json!({"query": REAL, "variables": {"events": [{"feature": "a"}]}}))
                .unwrap();
        assert_eq!(call.events, json!([{"feature": "a"}]));
        assert_eq!(
            call.data,
            json!({"telemetry": {"recordEvents": {"alwaysNil": null}}})
        );
        assert_eq!(call.path, vec!["telemetry", "recordEvents"]);
    }

    #[test]
    fn aliases_typename_and_operation_names() {
        let q = "query Q { x } mutation M($e: [TelemetryEventInput!]!) { t: telemetry { __typename r: recordEvents(events: $e) { __typename n: alwaysNil } } }";
        let call =
            parse_request(&json!({"query": q, "operationName": "M", "variables": {"e": []}}))
                .unwrap();
        assert_eq!(
            call.data,
            json!({"t": {"__typename": "TelemetryMutation", "r": {"__typename": "EmptyResponse", "n": null}}})
        );
        assert_eq!(
            call.failed_data,
            json!({"t": {"__typename": "TelemetryMutation", "r": null}})
        );
        assert!(
            parse_request(&json!({"query": q, "variables": {"e": []}}))
                .unwrap_err()
                .0
                .contains("operationName")
        );
    }

    #[test]
    fn refusals_are_clear() {
        let inline =
            "mutation { telemetry { recordEvents(events: [{feature: \"a\"}]) { alwaysNil } } }";
        assert!(
            parse_request(&json!({"query": inline}))
                .unwrap_err()
                .0
                .contains("inline event literals are not supported")
        );
        assert!(
            parse_request(&json!({"query": "{ telemetry { x } }"}))
                .unwrap_err()
                .0
                .contains("only the telemetry.recordEvents mutation")
        );
        assert!(
            parse_request(&json!({"query": REAL}))
                .unwrap_err()
                .0
                .contains("was not provided")
        );
        assert!(
            parse_request(&json!({"query": "mutation {"}))
                .unwrap_err()
                .0
                .starts_with("syntax error")
        );
        assert!(
            parse_request(&json!({"query": REAL.replace("alwaysNil", "secret")}))
                .unwrap_err()
                .0
                .contains("unknown field")
        );
        let deep = format!("mutation {}{}", "{a ".repeat(10_000), "}".repeat(10_000));
        assert!(
            parse_request(&json!({"query": deep}))
                .unwrap_err()
                .0
                .contains("larger than")
        );
        let deep = format!("mutation {}{}", "{a ".repeat(100), "}".repeat(100));
        assert!(
            parse_request(&json!({"query": deep}))
                .unwrap_err()
                .0
                .contains("nested deeper")
        );
        assert!(parse_request(&json!([1])).is_err());
    }

    #[test]
    fn depth_ignores_strings_and_comments() {
        assert_eq!(depth("{ a(x: \"{{{{\") # {{{{\n }"), 2);
        assert_eq!(depth(REAL), 3);
    }
}
