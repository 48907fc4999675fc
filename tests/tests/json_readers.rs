//! The core's JSON readers (which read text straight into the prost types) against the earlier
//! `serde_json::Value`-based readers, kept as an oracle in `fuzz/src/value_oracle.rs`: for every
//! input, every JSON entry point must answer exactly what the oracle answers, the same value or
//! the same error message, byte for byte.
//!
//! The inputs are generated from the schema of each input (events, metadata, recordings,
//! contexts, each op's input object, the encoders' inputs) so that they reach every field, then
//! spoiled on purpose: wrong kinds, `null`s, unknown fields, repeated keys, both spellings of a
//! field, keys in any order, escaped keys, odd numbers, and syntax errors anywhere. The cases
//! are seeded (reproducible); `TELEMETRY_JSON_READER_CASES` runs more of them.

#[path = "../../fuzz/src/checks.rs"]
mod checks;

use std::fmt::Write as _;

/// A small deterministic generator (xorshift64*), so every run checks the same inputs, with
/// the case's rate of spoiled fields (percent): 0 gives well-formed inputs only.
struct Rng(u64, u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, 0);
        rng.1 = rng.pick(&[0, 0, 2, 6, 12]);
        rng
    }

    /// Whether to spoil this field.
    fn spoil(&mut self) -> bool {
        self.chance(self.1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// What a field holds.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Timestamp,
    Int,
    Double,
    Bool,
    BoolOrText,
    Rpc,
    Any,
    Message(&'static str),
    MapOf(&'static Kind),
    ListOf(&'static Kind),
}

use Kind::*;

const TEXT: Kind = Text;
const INT: Kind = Int;
const DOUBLE: Kind = Double;
const BOOL_OR_TEXT: Kind = BoolOrText;
const EVENT: Kind = Message("event");
const ENTRY: Kind = Message("entry");

/// The fields of each object the readers know, with both spellings where there are two.
fn fields(message: &str) -> &'static [(&'static str, Kind)] {
    match message {
        "event" => &[
            ("id", Text),
            ("timestamp", Timestamp),
            ("feature", Text),
            ("action", Text),
            ("source", Message("source")),
            ("parameters", Message("parameters")),
            ("user", Message("user")),
            ("featureFlags", Message("flags")),
            ("feature_flags", Message("flags")),
            ("marketingTracking", Message("marketing")),
            ("marketing_tracking", Message("marketing")),
            ("interaction", Message("interaction")),
        ],
        "source" => &[("server", Message("server")), ("client", Message("client"))],
        "server" => &[("version", Text)],
        "client" => &[("name", Text), ("version", Text)],
        "parameters" => &[
            ("version", Int),
            ("legacyMetadata", MapOf(&INT)),
            ("legacy_metadata", MapOf(&INT)),
            ("metadata", MapOf(&DOUBLE)),
            ("privateMetadata", Any),
            ("private_metadata", Any),
            ("billingMetadata", Message("billing")),
            ("billing_metadata", Message("billing")),
        ],
        "billing" => &[("product", Text), ("category", Text)],
        "user" => &[
            ("userId", Int),
            ("user_id", Int),
            ("anonymousUserId", Text),
            ("anonymous_user_id", Text),
            ("samsExternalId", Text),
            ("sams_external_id", Text),
        ],
        "flags" => &[("flags", MapOf(&TEXT))],
        "marketing" => &[
            ("url", Text),
            ("referrer", Text),
            ("firstSourceUrl", Text),
            ("first_source_url", Text),
            ("firstSourceURL", Text),
            ("cohortId", Text),
            ("cohort_id", Text),
            ("cohortID", Text),
            ("lastSourceUrl", Text),
            ("last_source_url", Text),
            ("lastSourceURL", Text),
            ("deviceSessionId", Text),
            ("device_session_id", Text),
            ("deviceSessionID", Text),
            ("sessionReferrer", Text),
            ("session_referrer", Text),
            ("sessionFirstUrl", Text),
            ("session_first_url", Text),
            ("sessionFirstURL", Text),
        ],
        "interaction" => &[
            ("traceId", Text),
            ("trace_id", Text),
            ("interactionId", Text),
            ("interaction_id", Text),
            ("geolocation", Message("geolocation")),
        ],
        "geolocation" => &[("countryCode", Text), ("country_code", Text)],
        "metadata" => &[
            ("requestId", Text),
            ("request_id", Text),
            ("identifier", Message("identifier")),
        ],
        "identifier" => &[
            ("licensedInstance", Message("licensed")),
            ("licensed_instance", Message("licensed")),
            ("unlicensedInstance", Message("unlicensed")),
            ("unlicensed_instance", Message("unlicensed")),
            ("managedService", Message("managed")),
            ("managed_service", Message("managed")),
        ],
        "licensed" => &[
            ("licenseKey", Text),
            ("license_key", Text),
            ("instanceId", Text),
            ("instance_id", Text),
            ("externalUrl", Text),
            ("external_url", Text),
        ],
        "unlicensed" => &[
            ("instanceId", Text),
            ("instance_id", Text),
            ("externalUrl", Text),
            ("external_url", Text),
        ],
        "managed" => &[
            ("serviceId", Text),
            ("service_id", Text),
            ("serviceEnvironment", Text),
            ("service_environment", Text),
        ],
        "recording" => &[
            ("timestamp", Timestamp),
            ("feature", Text),
            ("action", Text),
            ("source", Message("recording source")),
            ("parameters", Message("recording parameters")),
            ("marketingTracking", Message("marketing")),
        ],
        "recording source" => &[("client", Text), ("clientVersion", Text)],
        "recording parameters" => &[
            ("version", Int),
            ("metadata", ListOf(&ENTRY)),
            ("privateMetadata", Any),
            ("billingMetadata", Message("billing")),
            ("interactionID", Text),
            ("interactionId", Text),
        ],
        "entry" => &[("key", Text), ("value", Double), ("value", Any)],
        "context" => &[
            ("id", Text),
            ("now", Timestamp),
            ("serverVersion", Text),
            ("user", Message("user")),
            ("featureFlags", MapOf(&BOOL_OR_TEXT)),
            ("traceId", Text),
            ("interactionId", Text),
            ("countryCode", Text),
        ],
        "policy" => &[("dotcom", Bool), ("additionalAllowedEventTypes", Text)],
        "validate" => &[("event", EVENT)],
        "redact" => &[("event", EVENT), ("policy", Message("policy"))],
        "translate" => &[
            ("metadata", Message("metadata")),
            ("event", EVENT),
            ("maxMessageBytes", Int),
        ],
        "ingest" => &[
            ("metadata", Message("metadata")),
            ("events", ListOf(&EVENT)),
            ("rpc", Rpc),
            ("maxMessageBytes", Int),
        ],
        "record" => &[
            ("event", Message("recording")),
            ("context", Message("context")),
        ],
        "events request" => &[
            ("metadata", Message("metadata")),
            ("events", Message("payload")),
        ],
        "payload" => &[("events", ListOf(&EVENT))],
        "event request" => &[("metadata", Message("metadata")), ("event", EVENT)],
        "response" => &[("succeededEvents", ListOf(&TEXT))],
        "chunks" => &[("sizes", ListOf(&INT)), ("limit", Int)],
        other => panic!("no schema for {other}"),
    }
}

/// The fields an object needs before its other fields are looked at.
fn required(message: &str) -> &'static [&'static str] {
    match message {
        "validate" | "redact" => &["event"],
        "translate" => &["metadata", "event"],
        "ingest" => &["metadata", "events"],
        "record" => &["event", "context"],
        "event" => &["id", "timestamp", "feature", "action"],
        "metadata" => &["identifier"],
        "recording" => &["feature", "action", "source", "parameters"],
        "recording source" => &["client"],
        "recording parameters" => &["version"],
        "context" => &["id", "now"],
        _ => &[],
    }
}

/// The documents a case starts from.
const DOCUMENTS: [&str; 14] = [
    "validate",
    "redact",
    "translate",
    "ingest",
    "record",
    "event",
    "metadata",
    "recording",
    "context",
    "events request",
    "event request",
    "response",
    "chunks",
    "payload",
];

const TEXTS: [&str; 16] = [
    "",
    "x",
    "cody.completion",
    "accepted",
    "search",
    "submitted",
    "5.5.0",
    "VSCode.Cody",
    "e-1",
    "RecordEvents",
    "RecordEvent",
    "NaN",
    "-Infinity",
    "12.5",
    "ünïcødé <&> \u{2028}",
    "cody::accepted::model,search::*::q",
];

const TIMESTAMPS: [&str; 6] = [
    "2024-07-01T12:34:56.789Z",
    "2024-07-01T12:34:56Z",
    "2024-07-01T14:34:56.123456789+02:00",
    "0001-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "yesterday",
];

const NUMBERS: [&str; 20] = [
    "0",
    "1",
    "-1",
    "42",
    "1.5",
    "-0",
    "-0.0",
    "1e3",
    "1E-7",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1e21",
    "123456789012345678901234567890",
    "4e9",
];

const NUMERIC_STRINGS: [&str; 8] = [
    "42",
    "-9223372036854775808",
    "9223372036854775808",
    "1.5",
    "NaN",
    "Infinity",
    "inf",
    "",
];

/// A JSON value, kept as written (keys in order, repeats allowed).
enum Json {
    Raw(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn scalar(rng: &mut Rng) -> Json {
    Json::Raw(match rng.below(6) {
        0 => "null".into(),
        1 => rng.pick(&["true", "false"]).to_string(),
        2 | 3 => rng.pick(&NUMBERS).to_string(),
        _ => quoted(rng.pick(&TEXTS)),
    })
}

/// Any JSON value, `depth` levels at most.
fn any(rng: &mut Rng, depth: usize) -> Json {
    if depth == 0 || rng.chance(55) {
        return scalar(rng);
    }
    let n = rng.below(4);
    if rng.chance(50) {
        Json::Array((0..n).map(|_| any(rng, depth - 1)).collect())
    } else {
        Json::Object(
            (0..n)
                .map(|_| {
                    (
                        rng.pick(&["a", "b", "value", "id"]).to_string(),
                        any(rng, depth - 1),
                    )
                })
                .collect(),
        )
    }
}

/// A value for a field of `kind`: usually right, sometimes `null` or of another kind.
fn value(rng: &mut Rng, kind: Kind, depth: usize) -> Json {
    if rng.spoil() {
        return Json::Raw("null".into());
    }
    if rng.spoil() {
        return any(rng, depth.min(2));
    }
    let sloppy = rng.1 > 0;
    match kind {
        Text if sloppy => Json::Raw(quoted(rng.pick(&TEXTS))),
        Text => Json::Raw(quoted(rng.pick(&TEXTS[2..9]))),
        Timestamp if sloppy => Json::Raw(quoted(rng.pick(&TIMESTAMPS))),
        Timestamp => Json::Raw(quoted(rng.pick(&TIMESTAMPS[..4]))),
        Int | Double if !sloppy => Json::Raw(rng.pick(&NUMBERS[..4]).to_string()),
        Int | Double => Json::Raw(if rng.chance(70) {
            rng.pick(&NUMBERS).to_string()
        } else {
            quoted(rng.pick(&NUMERIC_STRINGS))
        }),
        Bool => Json::Raw(rng.pick(&["true", "false"]).to_string()),
        BoolOrText => Json::Raw(rng.pick(&["true", "false", "\"on\"", "\"\""]).to_string()),
        Rpc => Json::Raw(quoted(rng.pick(&["RecordEvents", "RecordEvent", "Record"]))),
        Any => any(rng, depth.min(3)),
        Message(name) => {
            if depth == 0 {
                Json::Object(Vec::new())
            } else {
                object(rng, name, depth - 1)
            }
        }
        MapOf(inner) => {
            let n = rng.below(4);
            Json::Object(
                (0..n)
                    .map(|_| {
                        let key = rng.pick(&["a", "b", "count", "x"]).to_string();
                        (key, value(rng, *inner, depth.saturating_sub(1)))
                    })
                    .collect(),
            )
        }
        ListOf(inner) => {
            let n = rng.below(4);
            Json::Array(
                (0..n)
                    .map(|_| value(rng, *inner, depth.saturating_sub(1)))
                    .collect(),
            )
        }
    }
}

/// An object of `message`: mostly its own fields (repeats and both spellings included, in any
/// order), sometimes an unknown one.
fn object(rng: &mut Rng, message: &str, depth: usize) -> Json {
    let schema = fields(message);
    let n = rng.below(schema.len().min(7) + 2);
    let mut entries = Vec::new();
    // The fields an input needs to get past its first checks, usually given.
    for &name in required(message) {
        if !rng.spoil() {
            let kind = schema
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, kind)| *kind);
            entries.push((name.to_string(), value(rng, kind.unwrap_or(Any), depth)));
        }
    }
    for _ in 0..n {
        if rng.spoil() {
            let key = rng
                .pick(&["surprise", "Id", "event", "events", "flags"])
                .to_string();
            entries.push((key, any(rng, 1)));
        } else {
            let (key, kind) = rng.pick(schema);
            entries.push((key.to_string(), value(rng, kind, depth)));
        }
    }
    Json::Object(entries)
}

/// Writes `v`; a key is sometimes written with a `\u` escape (the same key to a reader).
fn render(rng: &mut Rng, v: &Json, out: &mut String) {
    match v {
        Json::Raw(s) => out.push_str(s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(rng, item, out);
            }
            out.push(']');
        }
        Json::Object(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(if rng.chance(10) { " ,\n " } else { "," });
                }
                match key.chars().next() {
                    Some(first) if rng.chance(5) => {
                        let _ = write!(
                            out,
                            "\"\\u{:04x}{}\"",
                            first as u32,
                            &key[first.len_utf8()..]
                        );
                    }
                    _ => out.push_str(&quoted(key)),
                }
                out.push(':');
                render(rng, item, out);
            }
            out.push('}');
        }
    }
}

/// Spoils the syntax at a random place: cut the text short, or insert or drop a character.
fn spoil(rng: &mut Rng, text: &str) -> String {
    let boundaries: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let at = rng.pick(&boundaries);
    match rng.below(3) {
        0 => text[..at].to_string(),
        1 => format!(
            "{}{}{}",
            &text[..at],
            rng.pick(&[",", "}", "]", "\"", ":", "{", "nul", "\\", "x"]),
            &text[at..]
        ),
        _ => {
            let mut s = text.to_string();
            if at < s.len() {
                s.remove(at);
            }
            s
        }
    }
}

fn case(seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let document = rng.pick(&DOCUMENTS);
    let v = object(&mut rng, document, 4);
    let mut text = String::new();
    render(&mut rng, &v, &mut text);
    if rng.1 > 0 && rng.chance(15) {
        text = spoil(&mut rng, &text);
    }
    text
}

fn cases() -> u64 {
    std::env::var("TELEMETRY_JSON_READER_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000)
}

#[test]
fn generated_inputs_get_the_answers_of_the_value_based_readers() {
    let n = cases();
    let mut failures = Vec::new();
    for seed in 0..n {
        let text = case(seed);
        let outcome = std::panic::catch_unwind(|| checks::same_answers_as_value_oracle(&text));
        if let Err(panic) = outcome {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "panic".into());
            failures.push(format!("seed {seed}: {msg}"));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    println!("json readers: {n} generated inputs agree with the Value-based readers");
}

#[test]
fn the_generator_reaches_deep_fields_and_errors() {
    // The generated inputs are worth something only if they reach nested fields and produce
    // both answers and errors of many kinds: count what the first cases give.
    let mut ok = 0;
    let mut errors = std::collections::BTreeSet::new();
    for seed in 0..2000 {
        let text = case(seed);
        for op in ["validate", "redact", "translate", "ingest", "record"] {
            match telemetry_core::ffi::run_op(op, &text) {
                Ok(answer) if answer.starts_with("{\"error\"") => {
                    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
                    let msg = v["error"].as_str().unwrap_or_default().to_string();
                    // The message up to its detail: which field, which check.
                    errors.insert(msg.split(": ").take(2).collect::<Vec<_>>().join(": "));
                }
                Ok(_) => ok += 1,
                Err(e) => {
                    errors.insert(
                        e.to_string()
                            .split(": ")
                            .take(2)
                            .collect::<Vec<_>>()
                            .join(": "),
                    );
                }
            }
        }
    }
    assert!(ok > 100, "only {ok} inputs were accepted");
    for wanted in [
        "invalid event: parameters.version",
        "invalid event: user.userId",
        "invalid event: feature_flags.flags.b",
        "invalid event: unknown field \"surprise\"",
        "invalid metadata: identifier.licensedInstance.instanceId",
        "invalid event input: parameters.metadata.0.key",
        "invalid event input: parameters.version",
        "invalid record context: user",
        "invalid record context: now is required",
        "metadata \"submitted\" has invalid value type",
        "events[0]: invalid event",
        "malformed input: rpc must be",
        "malformed input: not valid JSON",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(wanted)),
            "no generated input gives {wanted:?}; got {} kinds:\n{}",
            errors.len(),
            errors.iter().cloned().collect::<Vec<_>>().join("\n")
        );
    }
}
