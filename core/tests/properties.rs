//! Property tests over arbitrary events: redaction never leaks what the policy does not allow,
//! the writer's output always parses, and parse → print → parse is stable.

use proptest::prelude::*;
use prost_types::{ListValue, Struct, Timestamp, Value, value::Kind};
use std::collections::BTreeMap;
use telemetry_core::json::{event_to_json, parse_event};
use telemetry_core::proto::{
    Event, EventBillingMetadata, EventFeatureFlags, EventInteraction, EventMarketingTracking,
    EventParameters, EventSource, EventUser, event_interaction, event_source,
};
use telemetry_core::{RedactionMode, RedactionPolicy};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z.\\-]{0,12}",
        "\\PC{0,12}",
        Just("<script>&\u{2028}\u{2029}\"\\\n\t\u{0}\u{1f}\u{7f}".to_string()),
    ]
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(0.0),
        Just(-0.0),
        Just(1e21),
        Just(1e-7),
        (-1_000_000i64..1_000_000).prop_map(|i| i as f64),
    ]
}

fn struct_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Kind::NullValue(0)),
        any::<bool>().prop_map(Kind::BoolValue),
        double().prop_map(Kind::NumberValue),
        text().prop_map(Kind::StringValue),
    ]
    .prop_map(|k| Value { kind: Some(k) });
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|values| Value {
                kind: Some(Kind::ListValue(ListValue { values }))
            }),
            prop::collection::btree_map(text(), inner, 0..4).prop_map(|fields| Value {
                kind: Some(Kind::StructValue(Struct { fields }))
            }),
        ]
    })
    .boxed()
}

fn private_metadata() -> impl Strategy<Value = Struct> {
    let key = prop_oneof![
        Just("languageId".to_string()),
        Just("chatModel".to_string()),
        Just("model".to_string()),
        Just("testField".to_string()),
        Just("extra".to_string()),
        text(),
    ];
    prop::collection::btree_map(key, struct_value(), 0..5).prop_map(|fields| Struct { fields })
}

fn feature_action() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        Just(("cody.completion".to_string(), "accepted".to_string())),
        Just(("cody.chatResponse".to_string(), "submitted".to_string())),
        Just(("cody.hoverCommands".to_string(), "visible".to_string())),
        Just(("cody.hoverCommands".to_string(), "hidden".to_string())),
        Just(("exampleFeature".to_string(), "exampleAction".to_string())),
        Just(("my.feature".to_string(), "did".to_string())),
        (text(), text()),
    ]
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Option<T>> {
    prop::option::of(s)
}

fn marketing() -> impl Strategy<Value = EventMarketingTracking> {
    (opt(text()), opt(text()), opt(text()), opt(text())).prop_map(
        |(url, first, cohort, referrer)| EventMarketingTracking {
            url,
            first_source_url: first,
            cohort_id: cohort,
            referrer,
            ..Default::default()
        },
    )
}

/// Boxed: the full tuple of strategies is too large for a debug-build test thread's stack.
fn event() -> BoxedStrategy<Event> {
    event_unboxed().boxed()
}

prop_compose! {
    fn event_unboxed()(
        id in text(),
        ts in opt((-62_135_596_800i64..=253_402_300_799, 0i32..1_000_000_000)),
        (feature, action) in feature_action(),
        server_version in text(),
        client in opt((text(), opt(text()))),
        version in any::<i32>(),
        legacy in prop::collection::btree_map(text(), any::<i64>(), 0..3),
        metadata in prop::collection::btree_map(text(), double(), 0..4),
        private in opt(private_metadata()),
        billing in opt((text(), text())),
        user in opt((opt(any::<i64>()), opt(text()), opt(text()))),
        flags in opt(prop::collection::btree_map(text(), text(), 0..3)),
        marketing in opt(marketing()),
        interaction in opt((opt(text()), opt(text()), opt(text()))),
    ) -> Event {
        Event {
            id,
            timestamp: ts.map(|(seconds, nanos)| Timestamp { seconds, nanos }),
            feature,
            action,
            source: Some(EventSource {
                server: Some(event_source::Server { version: server_version }),
                client: client.map(|(name, version)| event_source::Client { name, version }),
            }),
            parameters: Some(EventParameters {
                version,
                legacy_metadata: legacy,
                metadata,
                private_metadata: private,
                billing_metadata: billing.map(|(product, category)| EventBillingMetadata { product, category }),
            }),
            user: user.map(|(user_id, anonymous_user_id, sams_external_id)| EventUser { user_id, anonymous_user_id, sams_external_id }),
            feature_flags: flags.map(|flags| EventFeatureFlags { flags }),
            marketing_tracking: marketing,
            interaction: interaction.map(|(trace_id, interaction_id, cc)| EventInteraction {
                trace_id,
                interaction_id,
                geolocation: cc.map(|country_code| event_interaction::Geolocation { country_code }),
            }),
        }
    }
}

fn additional_allowlist() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("my.feature::did::extra".to_string()),
        Just("my.feature::*::extra::model".to_string()),
        Just("cody.hoverCommands::hidden::languageId,cody.completion::accepted::extra".to_string()),
    ]
}

/// The keys the policy's entries allow for an event, computed independently of the lookup:
/// the union over every entry naming this feature with this action or `*`.
fn keys_any_entry_allows(policy: &RedactionPolicy, e: &Event) -> Vec<String> {
    policy
        .allowlist
        .entries()
        .iter()
        .filter(|t| t.feature == e.feature && (t.action == e.action || t.action == "*"))
        .flat_map(|t| t.allowed_private_metadata_keys.clone())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn redaction_never_leaks_what_the_policy_does_not_allow(
        mut e in event(), additional in additional_allowlist(), dotcom in any::<bool>()
    ) {
        let policy = RedactionPolicy::new(dotcom, &additional).unwrap();
        let before = e.clone();
        let mode = policy.redact(&mut e);
        if dotcom {
            prop_assert_eq!(mode, RedactionMode::RedactNothing);
            prop_assert_eq!(&e, &before);
            return Ok(());
        }
        // Marketing tracking never leaves a non-dotcom instance.
        prop_assert!(e.marketing_tracking.is_none());
        let allowed = keys_any_entry_allows(&policy, &before);
        let private = e.parameters.as_ref().and_then(|p| p.private_metadata.as_ref());
        if allowed.is_empty() {
            prop_assert!(private.is_none(), "not allowlisted, yet private metadata kept: {:?}", private);
        }
        if let Some(private) = private {
            for (key, value) in &private.fields {
                prop_assert!(allowed.contains(key), "key {:?} leaked", key);
                // Allowed keys only ever carry strings: the original string, or the ERROR text.
                let Some(Kind::StringValue(s)) = &value.kind else {
                    return Err(TestCaseError::fail(format!("non-string value for {key:?}")));
                };
                let original = before.parameters.as_ref().and_then(|p| p.private_metadata.as_ref()).and_then(|p| p.fields.get(key));
                match original.and_then(|v| v.kind.as_ref()) {
                    Some(Kind::StringValue(o)) => prop_assert_eq!(s, o),
                    _ => prop_assert!(s.starts_with("ERROR: value of allowlisted key was not a string, got: ")),
                }
            }
        }
        // Nothing else is touched.
        let mut expected = before.clone();
        expected.marketing_tracking = None;
        if let Some(p) = expected.parameters.as_mut() {
            p.private_metadata = e.parameters.as_ref().and_then(|q| q.private_metadata.clone());
        }
        prop_assert_eq!(&e, &expected);
    }

    #[test]
    fn written_json_always_parses(e in event()) {
        match event_to_json(&e) {
            Ok(bytes) => {
                let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&bytes);
                prop_assert!(parsed.is_ok(), "invalid JSON: {}", String::from_utf8_lossy(&bytes));
            }
            // Only protojson's own refusals: non-finite numbers inside Struct.
            Err(err) => prop_assert!(err.to_string().contains("invalid number value"), "{}", err),
        }
    }

    #[test]
    fn parse_print_parse_is_stable(e in event()) {
        if let Ok(first) = event_to_json(&e) {
            let text = String::from_utf8(first.clone()).unwrap();
            let reparsed = parse_event(&text).map_err(|err| TestCaseError::fail(format!("{err}: {text}")))?;
            let second = event_to_json(&reparsed).unwrap();
            prop_assert_eq!(String::from_utf8(second).unwrap(), text);
        }
    }

    #[test]
    fn json_parser_never_panics(s in "\\PC{0,64}") {
        let _ = parse_event(&s);
        let _ = telemetry_core::json::parse_metadata(&s);
    }
}

#[test]
fn allowlisted_event_keeps_only_allowed_string_keys() {
    let policy = RedactionPolicy::default();
    let mut e = Event {
        feature: "cody.completion".into(),
        action: "accepted".into(),
        parameters: Some(EventParameters {
            private_metadata: Some(Struct {
                fields: BTreeMap::from([
                    (
                        "languageId".into(),
                        Value {
                            kind: Some(Kind::StringValue("go".into())),
                        },
                    ),
                    (
                        "otherCompletionProviders".into(),
                        Value {
                            kind: Some(Kind::BoolValue(true)),
                        },
                    ),
                    (
                        "prompt".into(),
                        Value {
                            kind: Some(Kind::StringValue("secret".into())),
                        },
                    ),
                ]),
            }),
            ..Default::default()
        }),
        marketing_tracking: Some(EventMarketingTracking {
            url: Some("https://x".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        policy.redact(&mut e),
        RedactionMode::RedactMarketingAndUnallowedPrivateMetadataKeys
    );
    let private = e.parameters.unwrap().private_metadata.unwrap();
    assert_eq!(private.fields.len(), 2);
    assert_eq!(
        private.fields["otherCompletionProviders"].kind,
        Some(Kind::StringValue(
            "ERROR: value of allowlisted key was not a string, got: *structpb.Value_BoolValue"
                .into()
        ))
    );
    assert!(e.marketing_tracking.is_none());
}
