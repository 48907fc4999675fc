//! The per-event footprint (`admission::footprint`) is an upper bound of what decoding and
//! translating an event really allocates: checked with a counting allocator on generated events
//! and on shapes built to amplify memory (tiny struct entries, long lists, escaping-heavy
//! strings, many metadata keys).

use proptest::prelude::*;
use prost::Message as _;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use telemetry_core::proto::{
    Event, EventFeatureFlags, EventParameters, EventSource, EventUser, Identifier,
    RecordEventsRequestMetadata, event_source, identifier,
};
use telemetry_core::{Outcome, Publisher, Rpc};
use telemetry_gateway::admission::footprint::event_footprint;

/// Counts this thread's live and peak heap bytes (the requested sizes).
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let _ = LIVE.try_with(|l| {
                let now = l.get() + layout.size();
                l.set(now);
                let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
            });
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(layout.size())));
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn publisher() -> Publisher {
    Publisher::new(&RecordEventsRequestMetadata {
        request_id: "req".into(),
        identifier: Some(Identifier {
            identifier: Some(identifier::Identifier::UnlicensedInstance(
                identifier::UnlicensedInstanceIdentifier {
                    instance_id: "instance".into(),
                    external_url: "https://sourcegraph.example.com".into(),
                },
            )),
        }),
    })
    .unwrap()
}

/// Peak bytes allocated while decoding `raw` and translating it (the message kept alive, as the
/// publish loop keeps it until the sink is done), and the footprint computed for it.
fn measure(raw: &[u8], publisher: &Publisher) -> (usize, usize) {
    let fp = event_footprint(raw, publisher.metadata_json().len());
    let footprint = fp.total();
    let raw = bytes::Bytes::copy_from_slice(raw);
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let outcome = Event::decode(raw).map(|e| {
        telemetry_core::ingest_event(publisher, e, Rpc::RecordEvents, 10_000_000, fp.body)
    });
    let peak = PEAK.with(Cell::get) - base;
    drop(outcome);
    (peak, footprint)
}

fn value(kind: prost_types::value::Kind) -> prost_types::Value {
    prost_types::Value { kind: Some(kind) }
}

fn assert_bounded(event: &Event) {
    let p = publisher();
    let raw = event.encode_to_vec();
    let (peak, footprint) = measure(&raw, &p);
    assert!(
        peak <= footprint,
        "allocated {peak} bytes, footprint {footprint} ({} wire bytes)",
        raw.len()
    );
}

#[test]
fn amplifying_shapes_stay_within_their_footprint() {
    use prost_types::value::Kind;
    let base = Event {
        id: "0190f6b4-8c2e-7a3b-9d1e-2f4a5b6c7d8e".into(),
        feature: "a.b".into(),
        action: "cd".into(),
        timestamp: Some(prost_types::Timestamp {
            seconds: 1_719_837_296,
            nanos: 0,
        }),
        ..Default::default()
    };
    // Many one-entry structs in a list: a B-tree node each.
    let one = value(Kind::StructValue(prost_types::Struct {
        fields: [("k".to_string(), value(Kind::NullValue(0)))].into(),
    }));
    let list = value(Kind::ListValue(prost_types::ListValue {
        values: vec![one; 5000],
    }));
    let mut e = base.clone();
    e.parameters = Some(EventParameters {
        private_metadata: Some(prost_types::Struct {
            fields: [("l".to_string(), list)].into(),
        }),
        ..Default::default()
    });
    assert_bounded(&e);
    // Deep nesting.
    let mut deep = value(Kind::StringValue("leaf".into()));
    for _ in 0..60 {
        deep = value(Kind::StructValue(prost_types::Struct {
            fields: [("d".to_string(), deep)].into(),
        }));
    }
    let mut e = base.clone();
    e.parameters = Some(EventParameters {
        private_metadata: Some(prost_types::Struct {
            fields: [("deep".to_string(), deep)].into(),
        }),
        ..Default::default()
    });
    assert_bounded(&e);
    // Strings that escape to six bytes per byte.
    let mut e = base.clone();
    e.source = Some(EventSource {
        server: Some(event_source::Server {
            version: "<>&\u{1}".repeat(50_000),
        }),
        client: None,
    });
    assert_bounded(&e);
    // Many metadata keys (each a map entry and possibly an attribute), legacy too.
    let mut e = base.clone();
    let metadata: BTreeMap<String, f64> = (0..20_000)
        .map(|i| (format!("recordsPrivateMetadata{i}"), 1.0))
        .collect();
    let legacy: BTreeMap<String, i64> = (0..20_000).map(|i| (format!("l{i}"), 1)).collect();
    e.parameters = Some(EventParameters {
        metadata,
        legacy_metadata: legacy,
        ..Default::default()
    });
    assert_bounded(&e);
    // Many flags.
    let mut e = base;
    e.feature_flags = Some(EventFeatureFlags {
        flags: (0..10_000)
            .map(|i| (format!("f{i}"), "true".to_string()))
            .collect(),
    });
    e.user = Some(EventUser {
        user_id: Some(7),
        anonymous_user_id: Some("a".into()),
        sams_external_id: None,
    });
    assert_bounded(&e);
}

fn arb_value(depth: u32) -> BoxedStrategy<prost_types::Value> {
    use prost_types::value::Kind;
    let leaf = prop_oneof![
        Just(value(Kind::NullValue(0))),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| value(Kind::NumberValue(f))),
        any::<bool>().prop_map(|b| value(Kind::BoolValue(b))),
        "\\PC{0,40}|[\\x00-\\x1f<>&\"\\\\]{0,40}".prop_map(|s| value(Kind::StringValue(s))),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        leaf,
        prop::collection::btree_map("\\PC{0,8}", arb_value(depth - 1), 0..6)
            .prop_map(|fields| { value(Kind::StructValue(prost_types::Struct { fields })) }),
        prop::collection::vec(arb_value(depth - 1), 0..6)
            .prop_map(|values| value(Kind::ListValue(prost_types::ListValue { values }))),
    ]
    .boxed()
}

prop_compose! {
    fn arb_event()(
        id in "[a-z0-9-]{0,40}",
        feature in "[a-z][a-zA-Z.-]{1,20}|\\PC{0,10}",
        action in "[a-z][a-zA-Z.-]{1,20}",
        metadata in prop::collection::btree_map("\\PC{0,30}", any::<f64>(), 0..20),
        legacy in prop::collection::btree_map("\\PC{0,30}", any::<i64>(), 0..10),
        private in prop::option::of(prop::collection::btree_map("\\PC{0,12}", arb_value(3), 0..8)),
        flags in prop::collection::btree_map("[a-z-]{0,12}", "true|false", 0..8),
        version in "\\PC{0,20}",
    ) -> Event {
        Event {
            id,
            feature,
            action,
            timestamp: Some(prost_types::Timestamp { seconds: 1_719_837_296, nanos: 5 }),
            source: Some(EventSource {
                server: Some(event_source::Server { version }),
                client: None,
            }),
            parameters: Some(EventParameters {
                metadata,
                legacy_metadata: legacy,
                private_metadata: private.map(|fields| prost_types::Struct { fields }),
                ..Default::default()
            }),
            feature_flags: Some(EventFeatureFlags { flags }),
            ..Default::default()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn generated_events_stay_within_their_footprint(event in arb_event()) {
        let p = publisher();
        let raw = event.encode_to_vec();
        let (peak, footprint) = measure(&raw, &p);
        prop_assert!(peak <= footprint, "allocated {} bytes, footprint {}", peak, footprint);
        // And the outcome is the same as for eager decoding.
        let eager = telemetry_core::ingest(&p, vec![event], Rpc::RecordEvents, 10_000_000);
        let lazy = telemetry_core::ingest_event(&p, Event::decode(raw.as_slice()).unwrap(), Rpc::RecordEvents, 10_000_000, 0);
        prop_assert_eq!(eager.into_iter().next().map(|o| matches!(o.outcome, Outcome::Publish(_))), Some(matches!(lazy.outcome, Outcome::Publish(_))));
    }
}
