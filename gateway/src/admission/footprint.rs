//! An upper bound of the memory one event can take while the gateway processes it — its decoded
//! form, its message body and its attributes — computed from its wire bytes *before* decoding,
//! so the publish loop can reserve it first. Protobuf decoding can amplify memory: a
//! `google.protobuf.Struct` entry of a few wire bytes allocates a B-tree node of ~640 bytes, so
//! the wire size alone is not a bound; this walks the event's fields by the schema and adds what
//! each field can cost. Linear in the wire size, allocation-free.
//!
//! Written by hand because no library computes heap bounds for prost decoding; it is checked
//! against a counting allocator in `gateway/tests/footprint.rs` (the bound must hold for every
//! event, including adversarial shapes).

use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
use telemetry_core::proto::Event;

/// Heap cost of one string of `n` bytes: the bytes and the allocator's overhead.
const fn string_heap(n: usize) -> usize {
    n + 32
}
/// One B-tree map's first node (a leaf of 11 entries: at most ~640 bytes for `<String, Value>`).
const MAP_NODE: usize = 1024;
/// Per map entry, amortised: B-tree nodes hold at least 5 entries (~730 bytes per internal node).
const MAP_ENTRY: usize = 256;
/// Per `ListValue` element: a 32-byte `Value`, doubled for `Vec` growth.
const LIST_ELEMENT: usize = 64;
/// Per JSON member: the longest field name of the schema, quotes, colon and comma.
const JSON_MEMBER: usize = 32;
/// JSON of a number, bool, null or timestamp (the longest: 24-digit doubles, quoted int64s,
/// 30-character timestamps).
const JSON_SCALAR: usize = 40;
/// The message envelope `{"event":…,"metadata":…}`.
const ENVELOPE: usize = 64;
/// The fixed attributes (their map nodes, keys and values, without the feature, action and
/// source strings).
const ATTRIBUTES_FIXED: usize = 2048;
/// Deeper than this, the bytes are not a valid event (prost refuses them): fall back.
const MAX_DEPTH: u32 = 110;

/// What processing one event can hold, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Footprint {
    /// The decoded `Event` (its struct and everything it owns).
    pub decoded: usize,
    /// The message body (`{"event":…,"metadata":…}`): an upper bound of its length, to allocate
    /// it at once (growing a buffer would hold the old and new ones together).
    pub body: usize,
    /// The attributes and allocator slack.
    pub attributes: usize,
    /// Where the event's `id` lies in its bytes (the last occurrence wins, as in decoding; empty
    /// if absent).
    pub id: std::ops::Range<usize>,
}

impl Footprint {
    /// Everything together: what to reserve before decoding.
    pub fn total(&self) -> usize {
        self.decoded
            .saturating_add(self.body)
            .saturating_add(self.attributes)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Event,
    Timestamp,
    Source,
    Server,
    Client,
    Parameters,
    Billing,
    User,
    Flags,
    Marketing,
    Interaction,
    Geolocation,
    Struct,
    Value,
    List,
    /// A map entry: its key is a string; `value` says what its value is.
    Entry(EntryValue),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EntryValue {
    Int,
    Double,
    Str,
    Value,
}

/// What a length-delimited field of `kind` with `tag` is.
enum Field {
    Str,
    Msg(Kind),
    /// A map field's entry (each costs a B-tree slot).
    MapEntry(EntryValue),
    /// A `ListValue` element.
    ListElement,
    Unknown,
}

fn field(kind: Kind, tag: u32) -> Field {
    use Kind as K;
    match (kind, tag) {
        (K::Event, 1 | 3 | 4) => Field::Str,
        (K::Event, 2) => Field::Msg(K::Timestamp),
        (K::Event, 5) => Field::Msg(K::Source),
        (K::Event, 6) => Field::Msg(K::Parameters),
        (K::Event, 7) => Field::Msg(K::User),
        (K::Event, 8) => Field::Msg(K::Flags),
        (K::Event, 9) => Field::Msg(K::Marketing),
        (K::Event, 10) => Field::Msg(K::Interaction),
        (K::Source, 1) => Field::Msg(K::Server),
        (K::Source, 2) => Field::Msg(K::Client),
        (K::Server, 1) | (K::Client, 1 | 2) => Field::Str,
        (K::Parameters, 2) => Field::MapEntry(EntryValue::Int),
        (K::Parameters, 5) => Field::MapEntry(EntryValue::Double),
        (K::Parameters, 3) => Field::Msg(K::Struct),
        (K::Parameters, 4) => Field::Msg(K::Billing),
        (K::Billing, 1 | 2) | (K::User, 2 | 3) | (K::Marketing, 1..=8) => Field::Str,
        (K::Flags, 1) => Field::MapEntry(EntryValue::Str),
        (K::Interaction, 1 | 2) | (K::Geolocation, 1) => Field::Str,
        (K::Interaction, 3) => Field::Msg(K::Geolocation),
        (K::Struct, 1) => Field::MapEntry(EntryValue::Value),
        (K::Value, 3) => Field::Str,
        (K::Value, 5) => Field::Msg(K::Struct),
        (K::Value, 6) => Field::Msg(K::List),
        (K::List, 1) => Field::ListElement,
        (K::Entry(_), 1) => Field::Str,
        (K::Entry(EntryValue::Str), 2) => Field::Str,
        (K::Entry(EntryValue::Value), 2) => Field::Msg(K::Value),
        _ => Field::Unknown,
    }
}

#[derive(Default)]
struct Totals {
    heap: usize,
    json: usize,
    attributes: usize,
    /// The top-level `id` field's range, relative to the walked buffer's start.
    id: std::ops::Range<usize>,
}

struct Malformed;

/// The footprint of one event given its wire bytes and the length of the stream's marshalled
/// metadata (copied into every message body). Never fails: bytes that are not a valid event get
/// a generous bound (decoding will refuse them).
pub fn event_footprint(raw: &[u8], metadata_json_len: usize) -> Footprint {
    let mut totals = Totals::default();
    let ok = walk(raw, Kind::Event, 0, &mut totals).is_ok();
    if !ok {
        // Decoding stops at the first error; it cannot allocate more than this.
        totals = Totals {
            heap: raw.len().saturating_mul(128),
            ..Totals::default()
        };
    }
    Footprint {
        decoded: std::mem::size_of::<Event>().saturating_add(totals.heap),
        body: ENVELOPE
            .saturating_add(metadata_json_len)
            .saturating_add(totals.json),
        attributes: ATTRIBUTES_FIXED.saturating_add(totals.attributes),
        id: totals.id,
    }
}

fn walk(mut buf: &[u8], kind: Kind, depth: u32, t: &mut Totals) -> Result<(), Malformed> {
    if depth > MAX_DEPTH {
        return Err(Malformed);
    }
    let start_len = buf.len();
    // Map fields of this message already charged their first node.
    let mut maps_seen = 0u8;
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(&mut buf).map_err(|_| Malformed)?;
        if wire_type != WireType::LengthDelimited {
            // Scalars live inline; a member of JSON each (the int64 `userId` is quoted).
            skip_field(wire_type, tag, &mut buf, DecodeContext::default())
                .map_err(|_| Malformed)?;
            t.json += JSON_MEMBER + JSON_SCALAR;
            continue;
        }
        let len = usize::try_from(decode_varint(&mut buf).map_err(|_| Malformed)?)
            .map_err(|_| Malformed)?;
        let (inner, rest) = buf.split_at_checked(len).ok_or(Malformed)?;
        if kind == Kind::Event && tag == 1 {
            let at = start_len - buf.len();
            t.id = at..at + len;
        }
        buf = rest;
        match field(kind, tag) {
            Field::Str => {
                t.heap += string_heap(len);
                t.json += JSON_MEMBER + 2 + escaped_len(inner);
                if kind == Kind::Event && (tag == 3 || tag == 4) {
                    // `event.feature` / `event.action` attributes.
                    t.attributes += string_heap(len);
                }
            }
            Field::Msg(Kind::Timestamp) => t.json += JSON_MEMBER + JSON_SCALAR,
            Field::Msg(sub) => {
                // Sub-messages live inline in their parent (`Option<T>`), except a `Struct`'s
                // map and a `ListValue`'s vector, charged by their entries below.
                t.json += JSON_MEMBER + 2;
                walk(inner, sub, depth + 1, t)?;
            }
            Field::MapEntry(value) => {
                let bit = match value {
                    EntryValue::Int => 1,
                    EntryValue::Double => 2,
                    EntryValue::Str => 4,
                    EntryValue::Value => 8,
                };
                if maps_seen & bit == 0 {
                    maps_seen |= bit;
                    t.heap += MAP_NODE;
                    t.json += JSON_MEMBER + 2;
                }
                // Legacy (int64) entries are moved into `metadata` by migration: twice.
                let copies = if value == EntryValue::Int { 2 } else { 1 };
                t.heap += MAP_ENTRY * copies;
                t.json += 4 + JSON_SCALAR;
                if matches!(value, EntryValue::Int | EntryValue::Double) {
                    // A `recordsPrivateMetadata…` key becomes an attribute `event.<key>=true`.
                    t.attributes += MAP_ENTRY + string_heap(len + 6) + string_heap(4);
                    t.heap += string_heap(len) * (copies - 1);
                }
                walk(inner, Kind::Entry(value), depth + 1, t)?;
            }
            Field::ListElement => {
                t.heap += LIST_ELEMENT;
                t.json += 1;
                walk(inner, Kind::Value, depth + 1, t)?;
            }
            Field::Unknown => {
                // Unknown fields are dropped by decoding and never rendered.
            }
        }
    }
    if kind == Kind::List {
        // The vector's own header slack.
        t.heap += LIST_ELEMENT;
    }
    Ok(())
}

/// An upper bound of a string's JSON length: each byte the writer escapes (control characters,
/// `"`, `\\`, `<`, `>`, `&`, and the first byte of U+2028/U+2029) counts as six.
fn escaped_len(s: &[u8]) -> usize {
    // This runs over every string byte of every event: counted branch-free in `u8` lanes, 255
    // bytes at a time, so the compiler vectorizes it.
    let mut escaped = 0usize;
    for chunk in s.chunks(255) {
        let mut n: u8 = 0;
        for &b in chunk {
            n = n.wrapping_add(u8::from(
                (b < 0x20)
                    | (b == b'"')
                    | (b == b'\\')
                    | (b == b'<')
                    | (b == b'>')
                    | (b == b'&')
                    | (b == 0xE2),
            ));
        }
        escaped += usize::from(n);
    }
    s.len() + 5 * escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use telemetry_core::proto::EventParameters;

    #[test]
    fn larger_for_amplifying_shapes_than_for_their_wire_size() {
        // 1,000 one-entry structs in a list: a few bytes each on the wire, a B-tree node each
        // when decoded.
        use prost_types::{ListValue, Struct, Value, value::Kind as VK};
        let one = Value {
            kind: Some(VK::StructValue(Struct {
                fields: [("k".to_string(), Value { kind: None })].into(),
            })),
        };
        let list = Value {
            kind: Some(VK::ListValue(ListValue {
                values: vec![one; 1000],
            })),
        };
        let event = Event {
            id: "e".into(),
            parameters: Some(EventParameters {
                private_metadata: Some(Struct {
                    fields: [("l".to_string(), list)].into(),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let raw = event.encode_to_vec();
        let f = event_footprint(&raw, 0);
        assert!(f.decoded > 1000 * MAP_NODE, "{f:?} for {} bytes", raw.len());
    }

    #[test]
    fn escaped_length_counts_every_escaped_byte() {
        assert_eq!(escaped_len(b"plain"), 5);
        assert_eq!(escaped_len(b"a\"b<\x01"), 5 + 3 * 5);
        let long = "<".repeat(1000);
        assert_eq!(escaped_len(long.as_bytes()), 6000);
    }

    #[test]
    fn malformed_bytes_get_a_bound_and_ids_are_found() {
        assert!(event_footprint(&[0x0a, 0xff], 10).total() > 0);
        let raw = Event {
            id: "abcdef".into(),
            feature: "f".into(),
            ..Default::default()
        }
        .encode_to_vec();
        let f = event_footprint(&raw, 0);
        assert_eq!(&raw[f.id], b"abcdef");
        assert_eq!(event_footprint(&[], 0).id, 0..0);
    }
}
