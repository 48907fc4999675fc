//! Wire back-compat: protobuf bytes written by older shapes of `telemetrygateway.v1` decode
//! correctly under the current schema.
//!
//! The fixtures are in `tests/fixtures/backcompat/<shape>/<type>.<name>.pb`, each with a `.json`
//! sidecar holding the expected decoding under the current schema in proto3 JSON (see that
//! folder's README and `generate.py`). Each fixture is decoded with prost into the current types,
//! written with the core's Go-identical protojson writer, and compared with its sidecar as parsed
//! JSON (numbers by value, and an int64 written as the string `"42"` equals `42`).

use prost::Message as _;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use telemetry_core::proto::{
    Event, RecordEventsRequest, RecordEventsRequestMetadata, identifier, record_events_request,
};
use telemetry_core::{Outcome, Publisher, Rpc, json, migrate_legacy_metadata};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/backcompat")
}

/// One `.pb` fixture: its path, its shape (`2023-09`, ...), type and name.
struct Fixture {
    path: PathBuf,
    shape: String,
    kind: String,
    name: String,
}

impl Fixture {
    fn id(&self) -> String {
        format!("{}/{}.{}", self.shape, self.kind, self.name)
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap_or_else(|e| panic!("{}: {e}", self.path.display()))
    }

    fn sidecar(&self) -> Json {
        let path = self.path.with_extension("json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: no sidecar: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    let mut shapes: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures/backcompat exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "proto"))
        .collect();
    shapes.sort();
    for dir in shapes {
        let shape = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pb"))
            .collect();
        files.sort();
        for path in files {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let (kind, name) = stem
                .split_once('.')
                .unwrap_or_else(|| panic!("{}: name is not <type>.<name>.pb", path.display()));
            out.push(Fixture {
                shape: shape.clone(),
                kind: kind.to_string(),
                name: name.to_string(),
                path,
            });
        }
    }
    out
}

fn fixture(id: &str) -> Fixture {
    fixtures()
        .into_iter()
        .find(|f| f.id() == id)
        .unwrap_or_else(|| panic!("no fixture {id}"))
}

fn decode_request(f: &Fixture) -> RecordEventsRequest {
    RecordEventsRequest::decode(f.bytes().as_slice())
        .unwrap_or_else(|e| panic!("{}: does not decode as RecordEventsRequest: {e}", f.id()))
}

fn decode_event(f: &Fixture) -> Event {
    Event::decode(f.bytes().as_slice())
        .unwrap_or_else(|e| panic!("{}: does not decode as Event: {e}", f.id()))
}

fn written(bytes: &[u8]) -> Json {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "the writer produced invalid JSON ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    })
}

fn event_json(event: &Event) -> Json {
    written(&json::event_to_json(event).expect("event marshals"))
}

fn metadata_json(metadata: &RecordEventsRequestMetadata) -> Json {
    written(&json::metadata_to_json(metadata).expect("metadata marshals"))
}

/// A `RecordEventsRequest` in proto3 JSON, its messages written by the core's writer.
fn request_json(req: &RecordEventsRequest) -> Json {
    match &req.payload {
        None => serde_json::json!({}),
        Some(record_events_request::Payload::Metadata(m)) => {
            serde_json::json!({ "metadata": metadata_json(m) })
        }
        Some(record_events_request::Payload::Events(p)) if p.events.is_empty() => {
            serde_json::json!({ "events": {} })
        }
        Some(record_events_request::Payload::Events(p)) => {
            let events: Vec<Json> = p.events.iter().map(event_json).collect();
            serde_json::json!({ "events": { "events": events } })
        }
    }
}

/// The decoding of a fixture under the current schema, written as JSON by the core.
fn decoded_json(f: &Fixture) -> Json {
    match f.kind.as_str() {
        "record-events-request" => request_json(&decode_request(f)),
        "event" => event_json(&decode_event(f)),
        other => panic!("{}: unknown fixture type {other:?}", f.id()),
    }
}

fn integer_of(v: &Json) -> Option<i128> {
    match v {
        Json::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Json::String(s) => s.parse::<i128>().ok(),
        _ => None,
    }
}

/// Compares two JSON values as proto3 JSON: numbers by value (`3` equals `3.0`), and an integer
/// written as a string equals the same integer written as a number.
fn json_diff(path: &str, got: &Json, want: &Json, diffs: &mut Vec<String>) {
    match (got, want) {
        (Json::Object(g), Json::Object(w)) => {
            for key in g
                .keys()
                .chain(w.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                let sub = format!("{path}.{key}");
                match (g.get(key), w.get(key)) {
                    (Some(a), Some(b)) => json_diff(&sub, a, b, diffs),
                    (Some(a), None) => diffs.push(format!("{sub}: unexpected {a}")),
                    (None, Some(b)) => diffs.push(format!("{sub}: missing, want {b}")),
                    (None, None) => {}
                }
            }
        }
        (Json::Array(g), Json::Array(w)) if g.len() == w.len() => {
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                json_diff(&format!("{path}[{i}]"), a, b, diffs);
            }
        }
        (Json::Number(a), Json::Number(b)) => {
            let same = match (integer_of(got), integer_of(want)) {
                (Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64(),
            };
            if !same {
                diffs.push(format!("{path}: got {a}, want {b}"));
            }
        }
        (Json::String(_), Json::Number(_)) | (Json::Number(_), Json::String(_)) => {
            if integer_of(got).is_none() || integer_of(got) != integer_of(want) {
                diffs.push(format!("{path}: got {got}, want {want}"));
            }
        }
        _ => {
            if got != want {
                diffs.push(format!("{path}: got {got}, want {want}"));
            }
        }
    }
}

fn assert_json_matches(what: &str, got: &Json, want: &Json) {
    let mut diffs = Vec::new();
    json_diff("$", got, want, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{what}: decoding differs from the sidecar:\n  {}\ngot:  {got}\nwant: {want}",
        diffs.join("\n  ")
    );
}

#[test]
fn comparator_treats_int64_strings_and_float_spellings_as_equal() {
    let mut d = Vec::new();
    json_diff(
        "$",
        &serde_json::json!({"a": "42", "b": 3, "c": 1e21}),
        &serde_json::json!({"a": 42, "b": 3.0, "c": 1e21}),
        &mut d,
    );
    assert!(d.is_empty(), "{d:?}");
    json_diff(
        "$",
        &serde_json::json!({"a": "43"}),
        &serde_json::json!({"a": 42}),
        &mut d,
    );
    json_diff(
        "$",
        &serde_json::json!({"a": 1}),
        &serde_json::json!({}),
        &mut d,
    );
    json_diff(
        "$",
        &serde_json::json!({"a": "x"}),
        &serde_json::json!({"a": "y"}),
        &mut d,
    );
    assert_eq!(d.len(), 3, "{d:?}");
}

#[test]
fn every_fixture_decodes_to_its_sidecar() {
    let all = fixtures();
    let shapes: std::collections::BTreeSet<&str> = all.iter().map(|f| f.shape.as_str()).collect();
    assert!(
        shapes.contains("2023-09") && shapes.contains("2023-11"),
        "shapes found: {shapes:?}"
    );
    assert!(all.len() >= 10, "only {} fixtures", all.len());
    for f in &all {
        let got = decoded_json(f);
        assert_json_matches(&f.id(), &got, &f.sidecar());
        eprintln!("ok {}", f.id());
    }
    println!(
        "backcompat: {} fixtures decoded as their sidecars",
        all.len()
    );
}

#[test]
fn every_fixture_round_trips_through_the_current_types() {
    for f in fixtures() {
        match f.kind.as_str() {
            "record-events-request" => {
                let req = decode_request(&f);
                let again = RecordEventsRequest::decode(req.encode_to_vec().as_slice()).unwrap();
                assert_eq!(again, req, "{}", f.id());
            }
            _ => {
                let event = decode_event(&f);
                let again = Event::decode(event.encode_to_vec().as_slice()).unwrap();
                assert_eq!(again, event, "{}", f.id());
            }
        }
    }
}

/// Drops `"events": []` so the FFI's explicit empty list compares with proto3 JSON's omission.
fn without_empty_arrays(v: &Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.iter()
                .filter(|(_, v)| !matches!(v, Json::Array(a) if a.is_empty()))
                .map(|(k, v)| (k.clone(), without_empty_arrays(v)))
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.iter().map(without_empty_arrays).collect()),
        other => other.clone(),
    }
}

#[test]
fn ffi_decoders_agree_with_the_sidecars() {
    use telemetry_core::ffi;
    for f in fixtures() {
        let text = match f.kind.as_str() {
            "record-events-request" => ffi::decode_record_events_request(&f.bytes()),
            _ => ffi::decode_event(&f.bytes()),
        }
        .unwrap_or_else(|e| panic!("{}: {e}", f.id()));
        let got: Json = serde_json::from_str(&text).unwrap();
        assert_json_matches(
            &format!("ffi {}", f.id()),
            &without_empty_arrays(&got),
            &f.sidecar(),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// What the old bytes mean, spelled out (independently of the generated sidecars).

#[test]
fn sep_2023_identifiers_decode_into_the_current_oneof() {
    let req = decode_request(&fixture("2023-09/record-events-request.metadata-licensed"));
    let Some(record_events_request::Payload::Metadata(m)) = req.payload else {
        panic!("metadata payload expected")
    };
    let Some(identifier::Identifier::LicensedInstance(l)) = m.identifier.and_then(|i| i.identifier)
    else {
        panic!("licensed identifier expected")
    };
    assert!(l.license_key.starts_with("eyJzaWciOnsi"));
    assert_eq!(l.instance_id, "9b5b3a4c-6d1e-4f0a-8c2d-7e3f1a2b3c4d");
    assert_eq!(l.external_url, "", "external_url did not exist in 2023");

    // The misspelled `UnlicensedInstanceIdenfitier` message: only its field numbers matter.
    let req = decode_request(&fixture(
        "2023-09/record-events-request.metadata-unlicensed",
    ));
    let Some(record_events_request::Payload::Metadata(m)) = req.payload else {
        panic!("metadata payload expected")
    };
    assert_eq!(m.request_id, "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e");
    let Some(identifier::Identifier::UnlicensedInstance(u)) =
        m.identifier.and_then(|i| i.identifier)
    else {
        panic!("unlicensed identifier expected")
    };
    assert_eq!(u.instance_id, "e3a1f7c2-4b5d-4e6f-a7b8-c9d0e1f2a3b4");
    assert_eq!(u.external_url, "");
}

#[test]
fn sep_2023_int64_metadata_arrives_as_legacy_metadata() {
    let event = decode_event(&fixture("2023-09/event.full"));
    assert!(event.interaction.is_none(), "no interaction in Sep 2023");
    let user = event.user.as_ref().expect("user");
    assert_eq!(user.user_id, Some(48213));
    assert_eq!(user.sams_external_id, None);
    let p = event.parameters.as_ref().expect("parameters");
    assert_eq!(p.version, 2);
    assert!(
        p.metadata.is_empty(),
        "field 5 did not exist: {:?}",
        p.metadata
    );
    assert_eq!(p.legacy_metadata["lines"], 12);
    assert_eq!(p.legacy_metadata["zero"], 0);
    assert_eq!(p.legacy_metadata["negative"], -3);
    assert_eq!(p.legacy_metadata["beyondFloat53"], 9_007_199_254_740_993);
    assert_eq!(p.legacy_metadata["maxInt64"], i64::MAX);
    assert_eq!(p.legacy_metadata["minInt64"], i64::MIN);

    let v = event_json(&event);
    assert_eq!(
        v["parameters"]["legacyMetadata"]["maxInt64"],
        "9223372036854775807"
    );
    assert!(v["parameters"].get("metadata").is_none());
    assert!(v.get("interaction").is_none());

    // Explicit presence survives: user id 0 and an empty anonymous id are still written.
    let edge = decode_event(&fixture("2023-09/event.edge"));
    assert_eq!(edge.timestamp.as_ref().map(|t| t.nanos), Some(1));
    let v = event_json(&edge);
    assert_eq!(
        v["user"],
        serde_json::json!({"userId": "0", "anonymousUserId": ""})
    );
    assert_eq!(v["marketingTracking"], serde_json::json!({}));
    assert_eq!(v["source"]["client"], serde_json::json!({"name": "WEB"}));
}

#[test]
fn nov_2023_interaction_and_both_metadata_maps_decode() {
    let event = decode_event(&fixture("2023-11/event.full"));
    let interaction = event.interaction.as_ref().expect("interaction");
    assert_eq!(
        interaction.trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(
        interaction.interaction_id.as_deref(),
        Some("b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e")
    );
    assert!(interaction.geolocation.is_none());
    let p = event.parameters.as_ref().expect("parameters");
    assert_eq!(p.metadata["ratio"], 0.75);
    assert_eq!(p.metadata["huge"], 1e21);
    assert_eq!(p.metadata["shared"], 1.5);
    assert_eq!(p.legacy_metadata["shared"], 7);
    assert_eq!(p.legacy_metadata["charCount"], 512);

    let empty = decode_event(&fixture("2023-11/event.empty-interaction"));
    assert_eq!(empty.interaction, Some(Default::default()));
    assert_eq!(event_json(&empty)["interaction"], serde_json::json!({}));
}

// ---------------------------------------------------------------------------------------------
// Legacy int64 metadata sent by the old shape is migrated into doubles.

fn metadata_as_f64(v: &Json) -> BTreeMap<String, f64> {
    v.as_object()
        .expect("metadata object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().expect("a JSON number")))
        .collect()
}

#[test]
fn sep_2023_legacy_metadata_migrates_into_doubles() {
    let req = decode_request(&fixture("2023-09/record-events-request.events"));
    let Some(record_events_request::Payload::Events(payload)) = req.payload else {
        panic!("events payload expected")
    };
    assert_eq!(payload.events.len(), 3);
    let mut migrated_any = false;
    for original in &payload.events {
        let mut event = original.clone();
        migrate_legacy_metadata(&mut event);
        let before = original.parameters.clone().unwrap_or_default();
        let after = event.parameters.clone().unwrap_or_default();
        assert!(
            after.legacy_metadata.is_empty(),
            "{}: legacy kept",
            event.id
        );
        assert_eq!(after.metadata.len(), before.legacy_metadata.len());
        for (key, value) in &before.legacy_metadata {
            assert_eq!(after.metadata[key], *value as f64, "{}: {key}", event.id);
            migrated_any = true;
        }
        // Nothing else changes.
        let mut rest = event.clone();
        let mut orig_rest = original.clone();
        if let Some(p) = rest.parameters.as_mut() {
            p.metadata.clear();
        }
        if let Some(p) = orig_rest.parameters.as_mut() {
            p.legacy_metadata.clear();
        }
        assert_eq!(
            rest, orig_rest,
            "{}: migration touched other fields",
            event.id
        );
    }
    assert!(migrated_any);

    // The published JSON carries doubles under "metadata", Go-formatted.
    let mut full = payload.events[0].clone();
    migrate_legacy_metadata(&mut full);
    let written = json::event_to_json(&full).unwrap();
    let text = String::from_utf8(written.clone()).unwrap();
    assert!(!text.contains("legacyMetadata"), "{text}");
    assert!(
        text.contains(r#""maxInt64":9223372036854776000"#),
        "int64 max becomes the nearest double, Go-formatted ('f' below 1e21): {text}"
    );
    assert!(
        text.contains(r#""beyondFloat53":9007199254740992"#),
        "{text}"
    );
    assert!(
        text.contains(r#""minInt64":-9223372036854776000"#),
        "{text}"
    );
    assert!(text.contains(r#""lines":12"#), "{text}");
    let v: Json = serde_json::from_slice(&written).unwrap();
    let m = metadata_as_f64(&v["parameters"]["metadata"]);
    assert_eq!(m["charsInserted"], 418.0);
    assert_eq!(m["negative"], -3.0);
    assert_eq!(m["zero"], 0.0);
}

#[test]
fn nov_2023_legacy_value_wins_over_the_double_on_a_shared_key() {
    let mut event = decode_event(&fixture("2023-11/event.full"));
    migrate_legacy_metadata(&mut event);
    let p = event.parameters.as_ref().unwrap();
    assert!(p.legacy_metadata.is_empty());
    assert_eq!(
        p.metadata["shared"], 7.0,
        "legacy value overwrites the double"
    );
    assert_eq!(p.metadata["charCount"], 512.0);
    assert_eq!(p.metadata["ratio"], 0.75);
    assert_eq!(p.metadata.len(), 7);

    // An event that only has legacy metadata gets a metadata map.
    let mut only_legacy = decode_event(&fixture("2023-11/event.empty-interaction"));
    migrate_legacy_metadata(&mut only_legacy);
    let v = event_json(&only_legacy);
    assert_eq!(
        metadata_as_f64(&v["parameters"]["metadata"]),
        BTreeMap::from([("hasV2Event".to_string(), 1.0), ("tier".to_string(), -1.0)])
    );
}

/// The whole old stream through `ingest`: RecordEvents migrates, RecordEvent does not.
#[test]
fn old_stream_through_ingest() {
    for shape in ["2023-09", "2023-11"] {
        let req = decode_request(&fixture(&format!(
            "{shape}/record-events-request.metadata-licensed"
        )));
        let Some(record_events_request::Payload::Metadata(metadata)) = req.payload else {
            panic!("metadata payload expected")
        };
        let publisher = Publisher::new(&metadata).expect("publisher");
        assert_eq!(publisher.source, "licensed_instance");
        let req = decode_request(&fixture(&format!("{shape}/record-events-request.events")));
        let Some(record_events_request::Payload::Events(payload)) = req.payload else {
            panic!("events payload expected")
        };
        let n = payload.events.len();
        for rpc in [Rpc::RecordEvents, Rpc::RecordEvent] {
            let outcomes = telemetry_core::ingest(
                &publisher,
                payload.events.clone(),
                rpc,
                telemetry_core::MAX_MESSAGE_BYTES,
            );
            assert_eq!(outcomes.len(), n);
            for (o, e) in outcomes.iter().zip(&payload.events) {
                assert_eq!(o.id, e.id);
                let Outcome::Publish(m) = &o.outcome else {
                    panic!("{shape} {rpc:?} {}: {:?}", o.id, o.outcome)
                };
                let body: Json = serde_json::from_slice(&m.data).expect("body is JSON");
                assert_json_matches(
                    &format!("{shape} {rpc:?} metadata"),
                    &body["metadata"],
                    &metadata_json(&metadata),
                );
                let params = &body["event"]["parameters"];
                let had_legacy = e
                    .parameters
                    .as_ref()
                    .is_some_and(|p| !p.legacy_metadata.is_empty());
                match rpc {
                    Rpc::RecordEvents => {
                        assert!(params.get("legacyMetadata").is_none(), "{params}");
                        if had_legacy {
                            assert!(params["metadata"].is_object(), "{params}");
                        }
                    }
                    Rpc::RecordEvent => {
                        assert_eq!(
                            params.get("legacyMetadata").is_some(),
                            had_legacy,
                            "{params}"
                        );
                    }
                }
            }
        }
    }
}
