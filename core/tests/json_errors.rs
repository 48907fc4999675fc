//! The JSON readers' error paths, message by message, and their bounds: every kind of wrong
//! field, repeated keys, key order, syntax errors, deep and huge input. (That these are the
//! messages the earlier `serde_json::Value`-based readers gave, for any input, is checked by
//! `tests/tests/json_readers.rs` against the kept oracle.)

use telemetry_core::json::{MAX_JSON_INPUT_BYTES, parse_event, parse_metadata};
use telemetry_core::{RecordContext, TelemetryEventInput};

fn event_error(text: &str) -> String {
    match parse_event(text) {
        Ok(e) => panic!("{text} parsed: {e:?}"),
        Err(e) => e.to_string(),
    }
}

fn metadata_error(text: &str) -> String {
    match parse_metadata(text) {
        Ok(m) => panic!("{text} parsed: {m:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_event_field_names_its_wrong_kind() {
    for (text, want) in [
        (r#"{"id":1}"#, "id: expected a string, got a number"),
        (
            r#"{"timestamp":1}"#,
            "timestamp: expected an RFC 3339 timestamp string, got a number",
        ),
        (
            r#"{"feature":true}"#,
            "feature: expected a string, got a boolean",
        ),
        (
            r#"{"action":[]}"#,
            "action: expected a string, got an array",
        ),
        (
            r#"{"source":"s"}"#,
            "source: expected a source object, got a string",
        ),
        (
            r#"{"source":{"server":1}}"#,
            "source.server: expected a server object, got a number",
        ),
        (
            r#"{"source":{"server":{"version":{}}}}"#,
            "source.server.version: expected a string, got an object",
        ),
        (
            r#"{"source":{"client":[]}}"#,
            "source.client: expected a client object, got an array",
        ),
        (
            r#"{"source":{"client":{"name":1}}}"#,
            "source.client.name: expected a string, got a number",
        ),
        (
            r#"{"source":{"client":{"version":false}}}"#,
            "source.client.version: expected a string, got a boolean",
        ),
        (
            r#"{"parameters":1}"#,
            "parameters: expected a parameters object, got a number",
        ),
        (
            r#"{"parameters":{"version":"x"}}"#,
            "parameters.version: \"x\" is not an int32",
        ),
        (
            r#"{"parameters":{"version":1.5}}"#,
            "parameters.version: 1.5 is not an int32",
        ),
        (
            r#"{"parameters":{"version":2147483648}}"#,
            "parameters.version: 2147483648 is out of range for int32",
        ),
        (
            r#"{"parameters":{"version":"-2147483649"}}"#,
            "parameters.version: -2147483649 is out of range for int32",
        ),
        (
            r#"{"parameters":{"version":{}}}"#,
            "parameters.version: expected an int32 as a number or string, got an object",
        ),
        (
            r#"{"parameters":{"legacyMetadata":[]}}"#,
            "parameters.legacyMetadata: expected a map object, got an array",
        ),
        (
            r#"{"parameters":{"legacy_metadata":{"k":"1.0"}}}"#,
            "parameters.legacy_metadata.k: \"1.0\" is not an int64",
        ),
        (
            r#"{"parameters":{"legacyMetadata":{"k":1e30}}}"#,
            "parameters.legacyMetadata.k: 1e+30 is not an int64",
        ),
        (
            r#"{"parameters":{"metadata":{"k":"inf"}}}"#,
            "parameters.metadata.k: \"inf\" is not a double",
        ),
        (
            r#"{"parameters":{"metadata":{"k":""}}}"#,
            "parameters.metadata.k: \"\" is not a double",
        ),
        (
            r#"{"parameters":{"metadata":{"k":[1]}}}"#,
            "parameters.metadata.k: expected a double as a number or string, got an array",
        ),
        (
            r#"{"parameters":{"privateMetadata":[1]}}"#,
            "parameters.privateMetadata: expected a JSON object for google.protobuf.Struct, got an array",
        ),
        (
            r#"{"parameters":{"billingMetadata":"b"}}"#,
            "parameters.billingMetadata: expected a billingMetadata object, got a string",
        ),
        (
            r#"{"parameters":{"billing_metadata":{"product":1}}}"#,
            "parameters.billing_metadata.product: expected a string, got a number",
        ),
        (
            r#"{"parameters":{"billingMetadata":{"x":1}}}"#,
            "parameters.billingMetadata: unknown field \"x\"",
        ),
        (
            r#"{"user":1}"#,
            "user: expected a user object, got a number",
        ),
        (
            r#"{"user":{"user_id":"x"}}"#,
            "user.user_id: \"x\" is not an int64",
        ),
        (
            r#"{"user":{"anonymousUserId":1}}"#,
            "user.anonymousUserId: expected a string, got a number",
        ),
        (
            r#"{"user":{"sams_external_id":true}}"#,
            "user.sams_external_id: expected a string, got a boolean",
        ),
        (
            r#"{"featureFlags":[]}"#,
            "featureFlags: expected a featureFlags object, got an array",
        ),
        (
            r#"{"feature_flags":{"flags":1}}"#,
            "feature_flags.flags: expected a map object, got a number",
        ),
        (
            r#"{"featureFlags":{"flags":{"f":true}}}"#,
            "featureFlags.flags.f: expected a string, got a boolean",
        ),
        (
            r#"{"featureFlags":{"other":{}}}"#,
            "featureFlags: unknown field \"other\"",
        ),
        (
            r#"{"marketingTracking":1}"#,
            "marketingTracking: expected a marketingTracking object, got a number",
        ),
        (
            r#"{"marketing_tracking":{"cohort_id":1}}"#,
            "marketing_tracking.cohort_id: expected a string, got a number",
        ),
        (
            r#"{"marketingTracking":{"firstSourceURL":"u"}}"#,
            "marketingTracking: unknown field \"firstSourceURL\"",
        ),
        (
            r#"{"interaction":"i"}"#,
            "interaction: expected an interaction object, got a string",
        ),
        (
            r#"{"interaction":{"trace_id":1}}"#,
            "interaction.trace_id: expected a string, got a number",
        ),
        (
            r#"{"interaction":{"geolocation":1}}"#,
            "interaction.geolocation: expected a geolocation object, got a number",
        ),
        (
            r#"{"interaction":{"geolocation":{"country_code":1}}}"#,
            "interaction.geolocation.country_code: expected a string, got a number",
        ),
        (
            r#"{"user":{"userId":9223372036854775808}}"#,
            "user.userId: 9223372036854775808 is out of range for int64",
        ),
        ("null", "expected an event object, got null"),
    ] {
        assert_eq!(
            event_error(text),
            format!("invalid event: {want}"),
            "{text}"
        );
    }
}

#[test]
fn every_metadata_field_names_its_wrong_kind() {
    for (text, want) in [
        ("[]", "expected a metadata object, got an array"),
        (
            r#"{"requestId":1}"#,
            "requestId: expected a string, got a number",
        ),
        (
            r#"{"identifier":1}"#,
            "identifier: expected an identifier object, got a number",
        ),
        (
            r#"{"identifier":{"licensedInstance":1}}"#,
            "identifier.licensedInstance: expected a licensedInstance object, got a number",
        ),
        (
            r#"{"identifier":{"licensed_instance":{"license_key":1}}}"#,
            "identifier.licensed_instance.license_key: expected a string, got a number",
        ),
        (
            r#"{"identifier":{"unlicensedInstance":[]}}"#,
            "identifier.unlicensedInstance: expected an unlicensedInstance object, got an array",
        ),
        (
            r#"{"identifier":{"unlicensed_instance":{"external_url":1}}}"#,
            "identifier.unlicensed_instance.external_url: expected a string, got a number",
        ),
        (
            r#"{"identifier":{"managedService":"m"}}"#,
            "identifier.managedService: expected a managedService object, got a string",
        ),
        (
            r#"{"identifier":{"managed_service":{"service_environment":1}}}"#,
            "identifier.managed_service.service_environment: expected a string, got a number",
        ),
        (
            r#"{"identifier":{"licensedInstance":{"x":1}}}"#,
            "identifier.licensedInstance: unknown field \"x\"",
        ),
        (
            r#"{"identifier":{"other":{}}}"#,
            "identifier: unknown field \"other\"",
        ),
    ] {
        assert_eq!(
            metadata_error(text),
            format!("invalid metadata: {want}"),
            "{text}"
        );
    }
}

#[test]
fn repeated_keys_and_key_order_give_what_a_sorted_merged_object_gives() {
    // The last value of a repeated key wins; an earlier wrong one has no effect.
    let e = parse_event(r#"{"id":1,"id":"x"}"#).unwrap();
    assert_eq!(e.id, "x");
    assert_eq!(
        event_error(r#"{"id":"x","id":1}"#),
        "invalid event: id: expected a string, got a number"
    );
    // A later `null` unsets the field.
    assert_eq!(parse_event(r#"{"id":"x","id":null}"#).unwrap().id, "");
    // Of two spellings of one field, the one that sorts later wins, in any order.
    for text in [
        r#"{"feature_flags":{"flags":{"b":"2"}},"featureFlags":{"flags":{"a":"1"}}}"#,
        r#"{"featureFlags":{"flags":{"a":"1"}},"feature_flags":{"flags":{"b":"2"}}}"#,
    ] {
        let flags = parse_event(text).unwrap().feature_flags.unwrap().flags;
        assert_eq!(flags.keys().collect::<Vec<_>>(), ["b"], "{text}");
    }
    // Of several wrong fields, the smallest key's error is reported, whatever the order.
    assert_eq!(
        event_error(r#"{"zzz":1,"user":1,"action":5}"#),
        "invalid event: action: expected a string, got a number"
    );
    assert_eq!(
        event_error(r#"{"parameters":{"metadata":{"z":"?","a":"?"}}}"#),
        "invalid event: parameters.metadata.a: \"?\" is not a double"
    );
    // An unknown field set to null is no field.
    assert!(parse_event(r#"{"surprise":null}"#).is_ok());
    // A oneof set twice is refused under the later-sorting key.
    assert_eq!(
        metadata_error(
            r#"{"identifier":{"unlicensedInstance":{"instanceId":"i"},"licensedInstance":{}}}"#
        ),
        "invalid metadata: identifier: field \"unlicensedInstance\" sets the identifier oneof a second time"
    );
    // The same oneof field twice is one field.
    let m = parse_metadata(
        r#"{"identifier":{"licensedInstance":{"instanceId":1},"licensedInstance":{"instanceId":"i"}}}"#,
    )
    .unwrap();
    assert!(m.identifier.unwrap().identifier.is_some());
    // Escaped keys are the same keys.
    assert_eq!(parse_event(r#"{"\u0069d":"x"}"#).unwrap().id, "x");
}

#[test]
fn a_syntax_error_anywhere_wins_over_a_wrong_field() {
    for (text, want) in [
        (
            r#"{"surprise":1,"#,
            "EOF while parsing a value at line 1 column 14",
        ),
        (r#"{"id":1} x"#, "trailing characters at line 1 column 10"),
        (
            r#"{"id":1,"parameters":{"metadata":{"a":"?"}}"#,
            "EOF while parsing an object at line 1 column 43",
        ),
        (
            r#"{"user":{"userId":1.5,}}"#,
            "trailing comma at line 1 column 23",
        ),
        (
            r#"{"id":"\ud800"}"#,
            "unexpected end of hex escape at line 1 column 14",
        ),
        (r#"{"id":1e999}"#, "number out of range at line 1 column 11"),
        ("", "EOF while parsing a value at line 1 column 0"),
    ] {
        assert_eq!(
            event_error(text),
            format!("invalid event: not valid JSON: {want}"),
            "{text}"
        );
        // serde_json's own message and position, as when parsing into a `Value`.
        let value_error = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
        assert_eq!(value_error.to_string(), want, "{text}");
    }
}

/// `depth` nested arrays around `1`.
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn deep_input_is_an_error_at_the_same_depth_as_serde_json_value() {
    // Read, skipped, or unknown: every position counts every level, and a document far deeper
    // than the limit is an error, not a stack overflow.
    for depth in [124, 125, 126, 127, 128, 100_000] {
        for (what, text) in [
            (
                "private metadata",
                format!(
                    r#"{{"parameters":{{"privateMetadata":{{"a":{}}}}}}}"#,
                    nested(depth)
                ),
            ),
            (
                "unknown field",
                format!(r#"{{"surprise":{}}}"#, nested(depth)),
            ),
            (
                "unknown field of a nested message",
                format!(r#"{{"source":{{"x":{}}}}}"#, nested(depth)),
            ),
            (
                "map value",
                format!(
                    r#"{{"parameters":{{"metadata":{{"a":{}}}}}}}"#,
                    nested(depth)
                ),
            ),
        ] {
            let value = serde_json::from_str::<serde_json::Value>(&text);
            let read = parse_event(&text);
            match &value {
                Ok(_) => assert!(
                    !read
                        .as_ref()
                        .is_err_and(|e| e.to_string().contains("recursion limit")),
                    "{what} at depth {depth}: {read:?}"
                ),
                Err(e) => assert_eq!(
                    read.unwrap_err().to_string(),
                    format!("invalid event: not valid JSON: {e}"),
                    "{what} at depth {depth}"
                ),
            }
        }
    }
    let deep_recording = format!(
        r#"{{"source":{{"client":"c"}},"parameters":{{"version":1,"privateMetadata":{}}}}}"#,
        nested(100_000)
    );
    let e = TelemetryEventInput::from_json_str(&deep_recording).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid event input: not valid JSON: recursion limit exceeded"),
        "{e}"
    );
    let deep_context = format!(
        r#"{{"id":"i","now":"2024-01-01T00:00:00Z","user":{}}}"#,
        nested(100_000)
    );
    let e = RecordContext::from_json_str(&deep_context).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid record context: not valid JSON: recursion limit exceeded"),
        "{e}"
    );
}

/// A document of exactly `len` bytes: `{"id":"aaa…"}`.
fn document_of(len: usize) -> String {
    let mut text = String::with_capacity(len);
    text.push_str(r#"{"id":""#);
    text.extend(std::iter::repeat_n('a', len - text.len() - 2));
    text.push_str(r#""}"#);
    assert_eq!(text.len(), len);
    text
}

#[test]
fn huge_input_is_refused_before_it_is_read() {
    let at_limit = document_of(MAX_JSON_INPUT_BYTES);
    assert_eq!(
        parse_event(&at_limit).unwrap().id.len(),
        MAX_JSON_INPUT_BYTES - 9
    );
    drop(at_limit);
    let over = document_of(MAX_JSON_INPUT_BYTES + 1);
    let limit = MAX_JSON_INPUT_BYTES;
    let len = limit + 1;
    assert_eq!(
        parse_event(&over).unwrap_err().to_string(),
        format!("invalid event: document is {len} bytes, more than the limit of {limit}")
    );
    assert_eq!(
        parse_metadata(&over).unwrap_err().to_string(),
        format!("invalid metadata: document is {len} bytes, more than the limit of {limit}")
    );
    assert_eq!(
        TelemetryEventInput::from_json_str(&over)
            .unwrap_err()
            .to_string(),
        format!("invalid event input: document is {len} bytes, more than the limit of {limit}")
    );
    assert_eq!(
        RecordContext::from_json_str(&over).unwrap_err().to_string(),
        format!("invalid record context: document is {len} bytes, more than the limit of {limit}")
    );
    #[cfg(feature = "ffi")]
    {
        use telemetry_core::ffi;
        let want = format!("malformed input: input is {len} bytes, more than the limit of {limit}");
        for op in ffi::OPS {
            assert_eq!(
                ffi::run_op(op, &over).unwrap_err().to_string(),
                want,
                "{op}"
            );
        }
        assert_eq!(ffi::encode_event(&over).unwrap_err().to_string(), want);
        assert_eq!(ffi::plan_chunks(&over).unwrap_err().to_string(), want);
        assert_eq!(
            ffi::run_op_fields("validate", &[("event", &over)], None)
                .unwrap_err()
                .to_string(),
            format!("malformed input: event: input is {len} bytes, more than the limit of {limit}")
        );
    }
}

#[test]
fn every_recording_and_context_field_names_its_problem() {
    let base = |extra: &str| {
        format!(
            r#"{{"feature":"a.b","action":"cd","source":{{"client":"c"}},"parameters":{{"version":1{extra}}}}}"#
        )
    };
    for (text, want) in [
        ("[]".to_string(), "event: expected an object"),
        ("{}".to_string(), "source: is required"),
        (r#"{"source":null}"#.to_string(), "source: is required"),
        (r#"{"source":{"client":1}}"#.to_string(), "source.client: is required"),
        (r#"{"source":{"client":"c"}}"#.to_string(), "parameters: is required"),
        (r#"{"source":{"client":"c"},"parameters":{"version":null}}"#.to_string(), "parameters.version: is required"),
        (r#"{"source":{"client":"c","x":null},"parameters":{"version":1}}"#.to_string(), "source: unknown field \"x\""),
        (r#"{"source":{"client":"c","clientVersion":1},"parameters":{"version":1}}"#.to_string(), "source.clientVersion: expected a string"),
        (r#"{"source":{"client":"c"},"parameters":{"version":1},"timestamp":1}"#.to_string(), "timestamp: expected a string"),
        (r#"{"source":{"client":"c"},"parameters":{"version":1},"feature":1}"#.to_string(), "feature: expected a string"),
        (r#"{"source":{"client":"c"},"parameters":{"version":1},"x":null}"#.to_string(), "unknown field \"x\""),
        (r#"{"source":{"client":"c"},"parameters":{"version":1},"marketingTracking":1}"#.to_string(), "marketingTracking: expected an object"),
        (r#"{"source":{"client":"c"},"parameters":{"version":1},"marketingTracking":{"cohortID":1}}"#.to_string(), "marketingTracking.cohortID: expected a string"),
        (r#"{"source":{"client":"c"},"parameters":{"version":1},"marketingTracking":{"cohort_id":"x"}}"#.to_string(), "marketingTracking: unknown field \"cohort_id\""),
        (r#"{"source":{"client":"c"},"parameters":{"version":1.0}}"#.to_string(), "parameters.version: expected a 32-bit integer"),
        (r#"{"source":{"client":"c"},"parameters":{"version":"1"}}"#.to_string(), "parameters.version: expected a 32-bit integer"),
        (base(r#","metadata":{}"#), "parameters.metadata: expected an array of {key, value}"),
        (base(r#","metadata":[1]"#), "parameters.metadata.0: expected an object"),
        (base(r#","metadata":[{"key":"a","value":1},{"value":1}]"#), "parameters.metadata.1.key: is required"),
        (base(r#","metadata":[{"key":1}]"#), "parameters.metadata.0.key: expected a string"),
        (base(r#","metadata":[{"key":"a","extra":null}]"#), "parameters.metadata.0: unknown field \"extra\""),
        (base(r#","billingMetadata":[]"#), "parameters.billingMetadata: expected an object"),
        (base(r#","billingMetadata":{"product":1}"#), "parameters.billingMetadata.product: expected a string"),
        (base(r#","billingMetadata":{"x":"y"}"#), "parameters.billingMetadata: unknown field \"x\""),
        (base(r#","interactionId":1"#), "parameters.interactionID: expected a string"),
        (base(r#","other":1"#), "parameters: unknown field \"other\""),
    ] {
        let e = TelemetryEventInput::from_json_str(&text).unwrap_err();
        assert_eq!(e.to_string(), format!("invalid event input: {want}"), "{text}");
    }
    // Values the reading accepts and `record` refuses, by the Go type upstream names.
    for (value, go_type) in [
        ("null", "<nil>"),
        ("true", "bool"),
        ("\"1\"", "string"),
        ("[]", "[]interface {}"),
        ("{}", "map[string]interface {}"),
    ] {
        let input = TelemetryEventInput::from_json_str(&base(&format!(
            r#","metadata":[{{"key":"k","value":{value}}}]"#
        )))
        .unwrap();
        let ctx =
            RecordContext::from_json_str(r#"{"id":"i","now":"2024-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(
            telemetry_core::record(&input, &ctx)
                .unwrap_err()
                .to_string(),
            format!("metadata \"k\" has invalid value type {go_type}")
        );
    }

    for (text, want) in [
        ("1", "expected an object"),
        ("{}", "id is required"),
        (r#"{"id":""}"#, "id is required"),
        (r#"{"id":"i"}"#, "now is required"),
        (
            r#"{"id":null,"now":"2024-01-01T00:00:00Z"}"#,
            "id: expected a string",
        ),
        (r#"{"id":"i","now":"2024-13-01T00:00:00Z"}"#, "now: "),
        (r#"{"id":"i","now":1}"#, "now: expected a string"),
        (
            r#"{"id":"i","now":"2024-01-01T00:00:00Z","serverVersion":1}"#,
            "serverVersion: expected a string",
        ),
        (
            r#"{"id":"i","now":"2024-01-01T00:00:00Z","user":1}"#,
            "user: invalid user: expected a user object, got a number",
        ),
        (
            r#"{"id":"i","now":"2024-01-01T00:00:00Z","user":{"userId":"x"}}"#,
            "user: invalid user: userId: \"x\" is not an int64",
        ),
        (
            r#"{"id":"i","now":"2024-01-01T00:00:00Z","featureFlags":[]}"#,
            "featureFlags: expected an object",
        ),
        (
            r#"{"id":"i","now":"2024-01-01T00:00:00Z","featureFlags":{"f":1}}"#,
            "featureFlags.f: expected a boolean or string",
        ),
        (
            r#"{"id":"i","now":"2024-01-01T00:00:00Z","traceId":1}"#,
            "traceId: expected a string",
        ),
        (
            r#"{"id":"i","now":"2024-01-01T00:00:00Z","countryCode":[]}"#,
            "countryCode: expected a string",
        ),
        (
            r#"{"id":"i","now":"2024-01-01T00:00:00Z","x":null}"#,
            "unknown field \"x\"",
        ),
    ] {
        let e = RecordContext::from_json_str(text).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("invalid record context: {want}")),
            "{text}: {e}"
        );
    }
}

#[cfg(feature = "ffi")]
#[test]
fn every_malformed_ffi_request_says_what_is_wrong() {
    use telemetry_core::ffi::{self, ContextDefaults};
    let event = r#"{"id":"e","timestamp":"2024-01-01T00:00:00Z","feature":"a.b","action":"cd"}"#;
    let metadata = r#"{"identifier":{"unlicensedInstance":{"instanceId":"i"}}}"#;
    for (op, input, want) in [
        (
            "validate",
            "[]".to_string(),
            "malformed input: input must be an object",
        ),
        ("nope", "{}".to_string(), "unknown op \"nope\""),
        (
            "nope",
            "[]".to_string(),
            "malformed input: input must be an object",
        ),
        (
            "nope",
            "{".to_string(),
            "malformed input: not valid JSON: EOF while parsing an object at line 1 column 1",
        ),
        (
            "validate",
            "{}".to_string(),
            "malformed input: input has no \"event\"",
        ),
        (
            "redact",
            format!(r#"{{"event":{event},"policy":{{"dotcom":"yes"}}}}"#),
            "malformed input: policy.dotcom must be a boolean",
        ),
        (
            "redact",
            format!(r#"{{"event":{event},"policy":{{"additionalAllowedEventTypes":1}}}}"#),
            "malformed input: policy.additionalAllowedEventTypes must be a string",
        ),
        (
            "translate",
            format!(r#"{{"event":{event},"metadata":{metadata},"maxMessageBytes":-1}}"#),
            "malformed input: maxMessageBytes must be a non-negative integer",
        ),
        (
            "translate",
            format!(r#"{{"event":{event}}}"#),
            "malformed input: input has no \"metadata\"",
        ),
        (
            "ingest",
            format!(r#"{{"metadata":{metadata},"events":{{}}}}"#),
            "malformed input: events must be an array",
        ),
        (
            "ingest",
            format!(r#"{{"metadata":{metadata},"events":[],"rpc":{{"b":[1,2.5],"a":"\u00e9"}}}}"#),
            "malformed input: rpc must be \"RecordEvents\" or \"RecordEvent\", got {\"a\":\"é\",\"b\":[1,2.5]}",
        ),
        (
            "ingest",
            format!(r#"{{"metadata":{metadata},"events":[],"rpc":"recordEvents"}}"#),
            "malformed input: rpc must be \"RecordEvents\" or \"RecordEvent\", got \"recordEvents\"",
        ),
        (
            "record",
            r#"{"event":{}}"#.to_string(),
            "malformed input: input has no \"context\"",
        ),
    ] {
        assert_eq!(
            ffi::run_op(op, &input).unwrap_err().to_string(),
            want,
            "{op} {input}"
        );
    }
    // A wrong event or metadata is an answer, not a malformed request.
    assert_eq!(
        ffi::run_op(
            "ingest",
            &format!(r#"{{"metadata":{metadata},"events":[{event},{{"id":1}}]}}"#)
        )
        .unwrap(),
        r#"{"error":"events[1]: invalid event: id: expected a string, got a number"}"#
    );
    // Context defaults fill only what is missing, and a missing context becomes one.
    let id = || "0190f6b4-8c2e-7a3b-9d1e-2f4a5b6c7d8e".to_string();
    let now = || "2024-07-01T12:34:56.789Z".to_string();
    let defaults = ContextDefaults { id: &id, now: &now };
    let recording =
        r#"{"feature":"a.b","action":"cd","source":{"client":"c"},"parameters":{"version":1}}"#;
    let answer =
        ffi::record_with_defaults(&format!(r#"{{"event":{recording}}}"#), defaults).unwrap();
    assert!(answer.starts_with(r#"{"event":{"id":"0190f6b4-8c2e-7a3b-9d1e-2f4a5b6c7d8e","timestamp":"2024-07-01T12:34:56.789Z""#), "{answer}");
    let answer = ffi::record_with_defaults(
        &format!(r#"{{"event":{recording},"context":{{"id":null}}}}"#),
        defaults,
    )
    .unwrap();
    assert_eq!(
        answer,
        r#"{"error":"invalid record context: id: expected a string"}"#
    );
    assert_eq!(
        ffi::record_with_defaults("[]", defaults)
            .unwrap_err()
            .to_string(),
        "malformed input: input has no \"context\""
    );
    // Fields given one by one: a field that is not JSON is named.
    assert_eq!(
        ffi::run_op_fields("validate", &[("event", "{")], None)
            .unwrap_err()
            .to_string(),
        "malformed input: event: not valid JSON: EOF while parsing an object at line 1 column 1"
    );
    assert_eq!(
        ffi::run_op_fields("validate", &[("event", "{}"), ("event", event)], None).unwrap(),
        r#"{"ok":true}"#
    );
}

/// `translate_parts` (the body kept apart, for the JS API) answers what `run_op("translate")`
/// answers: the same body, the same attributes, the same dropped/error answers and errors.
#[cfg(all(feature = "ffi", feature = "translate"))]
#[test]
fn translate_parts_agree_with_run_op() {
    use telemetry_core::ffi;
    let event = include_str!("../benches/event.json").trim();
    let metadata = include_str!("../benches/metadata.json").trim();
    for input in [
        format!(r#"{{"metadata":{metadata},"event":{event}}}"#),
        format!(r#"{{"metadata":{metadata},"event":{event},"maxMessageBytes":10}}"#),
        format!(r#"{{"metadata":{metadata},"event":{{"id":"x"}}}}"#),
        format!(r#"{{"metadata":{{}},"event":{event}}}"#),
        format!(r#"{{"event":{event}}}"#),
        "[]".to_string(),
        "{".to_string(),
    ] {
        let whole = ffi::run_op("translate", &input).map_err(|e| e.to_string());
        let parts = ffi::translate_parts(&input).map_err(|e| e.to_string());
        match (whole, parts) {
            (Ok(whole), Ok(parts)) => {
                let whole: serde_json::Value = serde_json::from_str(&whole).unwrap();
                let rest: serde_json::Value = serde_json::from_str(&parts.answer).unwrap();
                match parts.payload {
                    Some(payload) => {
                        assert_eq!(
                            whole["payload"].as_str().unwrap().as_bytes(),
                            &payload[..],
                            "{input}"
                        );
                        assert_eq!(whole["attributes"], rest["attributes"], "{input}");
                        assert_eq!(whole.as_object().unwrap().len(), 2, "{input}");
                        assert_eq!(rest.as_object().unwrap().len(), 1, "{input}");
                    }
                    None => assert_eq!(whole, rest, "{input}"),
                }
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{input}"),
            (a, b) => panic!("{input}: run_op {a:?}, translate_parts {b:?}"),
        }
    }
}
