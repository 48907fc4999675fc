//! The Go-identical protojson writer.
//!
//! Output equals Go's `json.Marshal(json.RawMessage(protojson.Marshal(m)))`: compact, fields in
//! proto declaration order, unpopulated fields omitted (proto3 `optional` fields emitted when
//! set, even if empty), map keys sorted by bytes, int64 as strings, doubles in Go's shortest
//! form, and strings escaped by protojson's rules plus `json.Marshal`'s HTML escaping.

use crate::prelude::*;

use super::time::{check_timestamp, format_timestamp};
use super::{MAX_STRUCT_DEPTH, MarshalError};
use crate::proto::{
    Event, EventInteraction, EventMarketingTracking, EventParameters, EventSource, EventUser,
    Identifier, RecordEventsRequestMetadata, identifier,
};
use alloc::collections::BTreeMap;
use prost_types::{Struct, Value, value::Kind};

/// Writes `event` as the Go gateway's `protojson.Marshal` + `json.Marshal` would.
pub fn event_to_json(event: &Event) -> Result<Vec<u8>, MarshalError> {
    let mut w = Writer::with_capacity(512);
    w.event(event)?;
    Ok(w.out)
}

/// Appends `event` as [`event_to_json`] writes it to `out` (on error `out` may hold a partial
/// document).
pub fn append_event_json(out: &mut Vec<u8>, event: &Event) -> Result<(), MarshalError> {
    let mut w = Writer {
        out: core::mem::take(out),
    };
    let result = w.event(event);
    *out = w.out;
    result
}

/// Whether the writer can write `event`: `Ok`, or exactly the error [`event_to_json`] would give
/// (a timestamp out of range, or a `google.protobuf.Value` in private metadata that is unset, not
/// finite, or nested too deep), found without writing anything. The gateway's marshal check
/// (`validate_event`) uses it; a test compares it with the writer on generated events.
pub fn check_event(event: &Event) -> Result<(), MarshalError> {
    if let Some(ts) = &event.timestamp {
        check_timestamp(ts)?;
    }
    if let Some(s) = event
        .parameters
        .as_ref()
        .and_then(|p| p.private_metadata.as_ref())
    {
        check_structure(s, 0).map_err(|e| e.at("parameters.privateMetadata"))?;
    }
    Ok(())
}

fn check_structure(s: &Struct, depth: usize) -> Result<(), MarshalError> {
    if depth >= MAX_STRUCT_DEPTH {
        return Err(MarshalError::TooDeep {
            limit: MAX_STRUCT_DEPTH,
        });
    }
    for (k, v) in &s.fields {
        check_value(v, depth + 1).map_err(|e| e.at(k))?;
    }
    Ok(())
}

fn check_value(v: &Value, depth: usize) -> Result<(), MarshalError> {
    match &v.kind {
        None => Err(MarshalError::ValueKindUnset {
            path: String::new(),
        }),
        Some(Kind::NumberValue(n)) if !n.is_finite() => Err(non_finite(*n)),
        Some(Kind::StructValue(s)) => check_structure(s, depth),
        Some(Kind::ListValue(l)) => {
            if depth >= MAX_STRUCT_DEPTH {
                return Err(MarshalError::TooDeep {
                    limit: MAX_STRUCT_DEPTH,
                });
            }
            for (i, item) in l.values.iter().enumerate() {
                check_value(item, depth + 1).map_err(|e| e.at(itoa::Buffer::new().format(i)))?;
            }
            Ok(())
        }
        Some(_) => Ok(()),
    }
}

fn non_finite(n: f64) -> MarshalError {
    MarshalError::NonFiniteNumber {
        path: String::new(),
        value: if n.is_nan() {
            "NaN"
        } else if n > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        },
    }
}

/// Writes request metadata as the Go gateway's `protojson.Marshal` + `json.Marshal` would.
pub fn metadata_to_json(metadata: &RecordEventsRequestMetadata) -> Result<Vec<u8>, MarshalError> {
    let mut w = Writer::with_capacity(256);
    w.metadata(metadata);
    Ok(w.out)
}

/// Writes a `google.protobuf.Value` in protojson form.
pub fn value_to_json(value: &Value) -> Result<Vec<u8>, MarshalError> {
    let mut w = Writer::with_capacity(64);
    w.value(value, 0)?;
    Ok(w.out)
}

/// Bytes that need attention inside a string, for each of the two escapings: bit 1 for Go's
/// (control characters, `"`, `\`, the HTML-escaped `<`, `>`, `&`, and 0xE2, the first byte of
/// U+2028/U+2029), bit 2 for plain JSON as serde_json writes it (control characters, `"`, `\`).
// Indexing in a const initializer is checked at compile time; it cannot panic at run time.
#[allow(clippy::indexing_slicing)]
const ESCAPE: [u8; 256] = {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = GO | PLAIN;
        i += 1;
    }
    t[b'"' as usize] = GO | PLAIN;
    t[b'\\' as usize] = GO | PLAIN;
    t[b'<' as usize] = GO;
    t[b'>' as usize] = GO;
    t[b'&' as usize] = GO;
    t[0xE2] = GO;
    t
};
const GO: u8 = 1;
const PLAIN: u8 = 2;

/// Appends protojson's string form of `s`, with Go `json.Marshal`'s HTML escaping applied.
pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    write_escaped::<GO>(out, s);
}

/// Appends `s` as a JSON string escaped as serde_json escapes it (`\"`, `\\`, `\n`, `\r`, `\t`,
/// `\b`, `\f`, other control characters as `\u00xx`; nothing else): the strings of the `ffi`
/// answers, which were written by serde_json before and are kept byte for byte.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    write_escaped::<PLAIN>(out, s);
}

#[inline(always)]
fn write_escaped<const WHICH: u8>(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(pos) = next_to_escape::<WHICH>(rest) {
        let (clean, tail) = rest.split_at(pos);
        out.extend_from_slice(clean);
        let Some((&b, after)) = tail.split_first() else {
            break;
        };
        rest = after;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xE2 => match after {
                [0x80, 0xA8, more @ ..] => {
                    out.extend_from_slice(b"\\u2028");
                    rest = more;
                }
                [0x80, 0xA9, more @ ..] => {
                    out.extend_from_slice(b"\\u2029");
                    rest = more;
                }
                // Another character starting with 0xE2: copied as is.
                _ => out.push(b),
            },
            _ => {
                // Other control characters as \u00XX with lowercase hex (protojson and
                // serde_json alike).
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
                out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
            }
        }
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// The position of the first byte of `bytes` that `WHICH`'s escaping changes: eight bytes at a
/// time (the payload strings of `translate` answers are whole JSON documents).
#[inline(always)]
fn next_to_escape<const WHICH: u8>(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The bytes of `v` equal to `b`, flagged in their high bit (the lowest flag is exact).
    let eq = |v: u64, b: u8| {
        let x = v ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x
    };
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let mut found = (v.wrapping_sub(ONES * 0x20) & !v) | eq(v, b'"') | eq(v, b'\\');
        if WHICH == GO {
            found |= eq(v, b'<') | eq(v, b'>') | eq(v, b'&') | eq(v, 0xE2);
        }
        let found = found & HIGH;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes
        .get(i..)
        .unwrap_or_default()
        .iter()
        .position(|&b| ESCAPE.get(usize::from(b)).copied().unwrap_or(0) & WHICH != 0)
        .map(|p| i + p)
}

/// Appends a double as protojson writes it: Go's `strconv.AppendFloat(v, 'f', -1, 64)` for
/// 1e-6 <= |v| < 1e21 (and zero), `'e'` format otherwise with protojson's `e-07` → `e-7`
/// fix-up, and NaN/±Inf as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(if v.is_nan() {
            b"\"NaN\""
        } else if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
        return;
    }
    // Integral values below 2^53 print as their integer digits in Go's 'f' format.
    if super::float::is_integral(v) && v.abs() < 9_007_199_254_740_992.0 {
        if v == 0.0 && v.is_sign_negative() {
            out.extend_from_slice(b"-0");
        } else {
            out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
        }
        return;
    }
    // Shortest round-trip digits (ryu and Go's strconv both produce them), normalised to
    // d.ddd × 10^exponent and then laid out the way Go does.
    let mut ryu_buf = ryu::Buffer::new();
    let text = ryu_buf.format_finite(v.abs()).as_bytes();
    // Fast path: ryu's positional output ("123.5", "0.25") is already Go's 'f' form whenever it
    // has no exponent and no ".0" suffix (integral values took the itoa path above).
    if !text.contains(&b'e') && !text.ends_with(b".0") {
        if v.is_sign_negative() {
            out.push(b'-');
        }
        out.extend_from_slice(text);
        return;
    }
    let (mantissa, exp_part) = match text.iter().position(|&b| b == b'e') {
        Some(pos) => (
            text.get(..pos).unwrap_or_default(),
            text.get(pos + 1..).unwrap_or_default(),
        ),
        None => (text, &b""[..]),
    };
    let mut exp_value: i32 = 0;
    let mut negative_exp = false;
    for &b in exp_part {
        match b {
            b'-' => negative_exp = true,
            b'0'..=b'9' => exp_value = exp_value * 10 + i32::from(b - b'0'),
            _ => {}
        }
    }
    if negative_exp {
        exp_value = -exp_value;
    }
    let int_len = mantissa
        .iter()
        .position(|&b| b == b'.')
        .unwrap_or(mantissa.len()) as i32;
    let mut digits = [0u8; 32];
    let mut n = 0usize;
    let mut leading_zeros = 0i32;
    for &b in mantissa {
        if b == b'.' {
            continue;
        }
        if n == 0 && b == b'0' {
            leading_zeros += 1;
            continue;
        }
        if let Some(slot) = digits.get_mut(n) {
            *slot = b;
            n += 1;
        }
    }
    while n > 1 && digits.get(n - 1) == Some(&b'0') {
        n -= 1;
    }
    let digits = digits.get(..n).unwrap_or_default();
    // value = d.ddd × 10^exponent
    let exponent = int_len - 1 - leading_zeros + exp_value;
    if v.is_sign_negative() {
        out.push(b'-');
    }
    let abs = v.abs();
    if !(1e-6..1e21).contains(&abs) {
        out.extend_from_slice(digits.get(..1).unwrap_or_default());
        if n > 1 {
            out.push(b'.');
            out.extend_from_slice(digits.get(1..).unwrap_or_default());
        }
        out.push(b'e');
        out.push(if exponent < 0 { b'-' } else { b'+' });
        out.extend_from_slice(
            itoa::Buffer::new()
                .format(exponent.unsigned_abs())
                .as_bytes(),
        );
    } else if exponent < 0 {
        out.extend_from_slice(b"0.");
        out.extend(core::iter::repeat_n(b'0', (-exponent - 1) as usize));
        out.extend_from_slice(digits);
    } else {
        let point = exponent as usize + 1;
        if n <= point {
            out.extend_from_slice(digits);
            out.extend(core::iter::repeat_n(b'0', point - n));
        } else {
            out.extend_from_slice(digits.get(..point).unwrap_or_default());
            out.push(b'.');
            out.extend_from_slice(digits.get(point..).unwrap_or_default());
        }
    }
}

fn write_i64_string(out: &mut Vec<u8>, v: i64) {
    out.push(b'"');
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    out.push(b'"');
}

/// The `,"name":` form of a field key, for [`Writer::key`].
macro_rules! k {
    ($name:literal) => {
        concat!(",\"", $name, "\":").as_bytes()
    };
}

/// A compact JSON object writer that tracks whether a comma is due.
struct Writer {
    out: Vec<u8>,
}

struct Obj {
    first: bool,
}

impl Writer {
    fn with_capacity(n: usize) -> Self {
        Writer {
            out: Vec::with_capacity(n),
        }
    }

    fn begin(&mut self) -> Obj {
        self.out.push(b'{');
        Obj { first: true }
    }

    fn end(&mut self, _obj: Obj) {
        self.out.push(b'}');
    }

    /// Writes a field key given as its static `,"name":` form (the comma is skipped for the
    /// first field): one copy per key instead of four.
    fn key(&mut self, obj: &mut Obj, comma_quoted_key: &'static [u8]) {
        let bytes = if obj.first {
            comma_quoted_key.get(1..).unwrap_or_default()
        } else {
            comma_quoted_key
        };
        obj.first = false;
        self.out.extend_from_slice(bytes);
    }

    /// A singular string without presence: omitted when empty.
    fn str_field(&mut self, obj: &mut Obj, name: &'static [u8], v: &str) {
        if !v.is_empty() {
            self.key(obj, name);
            write_string(&mut self.out, v);
        }
    }

    /// A proto3 `optional` string: emitted whenever set, even if empty.
    fn opt_str_field(&mut self, obj: &mut Obj, name: &'static [u8], v: Option<&String>) {
        if let Some(v) = v {
            self.key(obj, name);
            write_string(&mut self.out, v);
        }
    }

    fn string_map(&mut self, obj: &mut Obj, name: &'static [u8], map: &BTreeMap<String, String>) {
        if map.is_empty() {
            return;
        }
        self.key(obj, name);
        let mut inner = self.begin();
        for (k, v) in map {
            self.map_key(&mut inner, k);
            write_string(&mut self.out, v);
        }
        self.end(inner);
    }

    fn map_key(&mut self, obj: &mut Obj, k: &str) {
        if !obj.first {
            self.out.push(b',');
        }
        obj.first = false;
        write_string(&mut self.out, k);
        self.out.push(b':');
    }

    fn event(&mut self, e: &Event) -> Result<(), MarshalError> {
        let mut o = self.begin();
        self.str_field(&mut o, k!("id"), &e.id);
        if let Some(ts) = &e.timestamp {
            self.key(&mut o, k!("timestamp"));
            self.out.push(b'"');
            format_timestamp(&mut self.out, ts)?;
            self.out.push(b'"');
        }
        self.str_field(&mut o, k!("feature"), &e.feature);
        self.str_field(&mut o, k!("action"), &e.action);
        if let Some(source) = &e.source {
            self.key(&mut o, k!("source"));
            self.source(source);
        }
        if let Some(p) = &e.parameters {
            self.key(&mut o, k!("parameters"));
            self.parameters(p)?;
        }
        if let Some(user) = &e.user {
            self.key(&mut o, k!("user"));
            self.user(user);
        }
        if let Some(flags) = &e.feature_flags {
            self.key(&mut o, k!("featureFlags"));
            let mut f = self.begin();
            self.string_map(&mut f, k!("flags"), &flags.flags);
            self.end(f);
        }
        if let Some(m) = &e.marketing_tracking {
            self.key(&mut o, k!("marketingTracking"));
            self.marketing(m);
        }
        if let Some(i) = &e.interaction {
            self.key(&mut o, k!("interaction"));
            self.interaction(i);
        }
        self.end(o);
        Ok(())
    }

    fn source(&mut self, s: &EventSource) {
        let mut o = self.begin();
        if let Some(server) = &s.server {
            self.key(&mut o, k!("server"));
            let mut so = self.begin();
            self.str_field(&mut so, k!("version"), &server.version);
            self.end(so);
        }
        if let Some(client) = &s.client {
            self.key(&mut o, k!("client"));
            let mut co = self.begin();
            self.str_field(&mut co, k!("name"), &client.name);
            self.opt_str_field(&mut co, k!("version"), client.version.as_ref());
            self.end(co);
        }
        self.end(o);
    }

    fn parameters(&mut self, p: &EventParameters) -> Result<(), MarshalError> {
        let mut o = self.begin();
        if p.version != 0 {
            self.key(&mut o, k!("version"));
            self.out
                .extend_from_slice(itoa::Buffer::new().format(p.version).as_bytes());
        }
        if !p.legacy_metadata.is_empty() {
            self.key(&mut o, k!("legacyMetadata"));
            let mut m = self.begin();
            for (k, v) in &p.legacy_metadata {
                self.map_key(&mut m, k);
                write_i64_string(&mut self.out, *v);
            }
            self.end(m);
        }
        if !p.metadata.is_empty() {
            self.key(&mut o, k!("metadata"));
            let mut m = self.begin();
            for (k, v) in &p.metadata {
                self.map_key(&mut m, k);
                write_f64(&mut self.out, *v);
            }
            self.end(m);
        }
        if let Some(s) = &p.private_metadata {
            self.key(&mut o, k!("privateMetadata"));
            self.structure(s, 0)
                .map_err(|e| e.at("parameters.privateMetadata"))?;
        }
        if let Some(b) = &p.billing_metadata {
            self.key(&mut o, k!("billingMetadata"));
            let mut bo = self.begin();
            self.str_field(&mut bo, k!("product"), &b.product);
            self.str_field(&mut bo, k!("category"), &b.category);
            self.end(bo);
        }
        self.end(o);
        Ok(())
    }

    fn user(&mut self, u: &EventUser) {
        let mut o = self.begin();
        if let Some(id) = u.user_id {
            self.key(&mut o, k!("userId"));
            write_i64_string(&mut self.out, id);
        }
        self.opt_str_field(&mut o, k!("anonymousUserId"), u.anonymous_user_id.as_ref());
        self.opt_str_field(&mut o, k!("samsExternalId"), u.sams_external_id.as_ref());
        self.end(o);
    }

    fn marketing(&mut self, m: &EventMarketingTracking) {
        let mut o = self.begin();
        self.opt_str_field(&mut o, k!("url"), m.url.as_ref());
        self.opt_str_field(&mut o, k!("firstSourceUrl"), m.first_source_url.as_ref());
        self.opt_str_field(&mut o, k!("cohortId"), m.cohort_id.as_ref());
        self.opt_str_field(&mut o, k!("referrer"), m.referrer.as_ref());
        self.opt_str_field(&mut o, k!("lastSourceUrl"), m.last_source_url.as_ref());
        self.opt_str_field(&mut o, k!("deviceSessionId"), m.device_session_id.as_ref());
        self.opt_str_field(&mut o, k!("sessionReferrer"), m.session_referrer.as_ref());
        self.opt_str_field(&mut o, k!("sessionFirstUrl"), m.session_first_url.as_ref());
        self.end(o);
    }

    fn interaction(&mut self, i: &EventInteraction) {
        let mut o = self.begin();
        self.opt_str_field(&mut o, k!("traceId"), i.trace_id.as_ref());
        self.opt_str_field(&mut o, k!("interactionId"), i.interaction_id.as_ref());
        if let Some(g) = &i.geolocation {
            self.key(&mut o, k!("geolocation"));
            let mut go = self.begin();
            self.str_field(&mut go, k!("countryCode"), &g.country_code);
            self.end(go);
        }
        self.end(o);
    }

    fn metadata(&mut self, m: &RecordEventsRequestMetadata) {
        let mut o = self.begin();
        self.str_field(&mut o, k!("requestId"), &m.request_id);
        if let Some(id) = &m.identifier {
            self.key(&mut o, k!("identifier"));
            self.identifier(id);
        }
        self.end(o);
    }

    fn identifier(&mut self, id: &Identifier) {
        let mut o = self.begin();
        match &id.identifier {
            Some(identifier::Identifier::LicensedInstance(l)) => {
                self.key(&mut o, k!("licensedInstance"));
                let mut lo = self.begin();
                self.str_field(&mut lo, k!("licenseKey"), &l.license_key);
                self.str_field(&mut lo, k!("instanceId"), &l.instance_id);
                self.str_field(&mut lo, k!("externalUrl"), &l.external_url);
                self.end(lo);
            }
            Some(identifier::Identifier::UnlicensedInstance(u)) => {
                self.key(&mut o, k!("unlicensedInstance"));
                let mut uo = self.begin();
                self.str_field(&mut uo, k!("instanceId"), &u.instance_id);
                self.str_field(&mut uo, k!("externalUrl"), &u.external_url);
                self.end(uo);
            }
            Some(identifier::Identifier::ManagedService(s)) => {
                self.key(&mut o, k!("managedService"));
                let mut so = self.begin();
                self.str_field(&mut so, k!("serviceId"), &s.service_id);
                self.opt_str_field(
                    &mut so,
                    k!("serviceEnvironment"),
                    s.service_environment.as_ref(),
                );
                self.end(so);
            }
            None => {}
        }
        self.end(o);
    }

    fn structure(&mut self, s: &Struct, depth: usize) -> Result<(), MarshalError> {
        if depth >= MAX_STRUCT_DEPTH {
            return Err(MarshalError::TooDeep {
                limit: MAX_STRUCT_DEPTH,
            });
        }
        let mut o = self.begin();
        for (k, v) in &s.fields {
            self.map_key(&mut o, k);
            self.value(v, depth + 1).map_err(|e| e.at(k))?;
        }
        self.end(o);
        Ok(())
    }

    fn value(&mut self, v: &Value, depth: usize) -> Result<(), MarshalError> {
        match &v.kind {
            None => Err(MarshalError::ValueKindUnset {
                path: String::new(),
            }),
            Some(Kind::NullValue(_)) => {
                self.out.extend_from_slice(b"null");
                Ok(())
            }
            Some(Kind::NumberValue(n)) => {
                if n.is_finite() {
                    write_f64(&mut self.out, *n);
                    Ok(())
                } else {
                    Err(non_finite(*n))
                }
            }
            Some(Kind::StringValue(s)) => {
                write_string(&mut self.out, s);
                Ok(())
            }
            Some(Kind::BoolValue(b)) => {
                self.out
                    .extend_from_slice(if *b { b"true" } else { b"false" });
                Ok(())
            }
            Some(Kind::StructValue(s)) => self.structure(s, depth),
            Some(Kind::ListValue(l)) => {
                if depth >= MAX_STRUCT_DEPTH {
                    return Err(MarshalError::TooDeep {
                        limit: MAX_STRUCT_DEPTH,
                    });
                }
                self.out.push(b'[');
                for (i, item) in l.values.iter().enumerate() {
                    if i > 0 {
                        self.out.push(b',');
                    }
                    self.value(item, depth + 1)
                        .map_err(|e| e.at(itoa::Buffer::new().format(i)))?;
                }
                self.out.push(b']');
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_finds_every_special_byte_at_every_offset() {
        for len in 0..24 {
            for at in 0..len {
                for special in [
                    "\"", "\\", "\n", "\u{1}", "<", ">", "&", "\u{2028}", "\u{2029}", "\u{2030}",
                    "é", "a",
                ] {
                    let text: String = (0..len)
                        .map(|i| if i == at { special } else { "x" })
                        .collect();
                    let mut plain = Vec::new();
                    write_json_string(&mut plain, &text);
                    assert_eq!(
                        String::from_utf8(plain).unwrap(),
                        serde_json::to_string(&text).unwrap(),
                        "{text:?}"
                    );
                    let go = s(&text);
                    let html = text
                        .replace('<', "\\u003c")
                        .replace('>', "\\u003e")
                        .replace('&', "\\u0026");
                    let expected = serde_json::to_string(&html)
                        .unwrap()
                        .replace("\\\\u00", "\\u00")
                        .replace('\u{2028}', "\\u2028")
                        .replace('\u{2029}', "\\u2029");
                    assert_eq!(go, expected, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn the_check_gives_exactly_the_writers_errors() {
        use crate::proto::EventParameters;
        use prost_types::{ListValue, Timestamp};
        let with_private = |v: Value| Event {
            id: "x".into(),
            timestamp: Some(Timestamp {
                seconds: 1,
                nanos: 0,
            }),
            parameters: Some(EventParameters {
                private_metadata: Some(Struct {
                    fields: BTreeMap::from([("a".to_string(), num(1.0)), ("k".to_string(), v)]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        fn num(n: f64) -> Value {
            Value {
                kind: Some(Kind::NumberValue(n)),
            }
        }
        let nest = |depth: usize, inner: Value| {
            let mut v = inner;
            for i in 0..depth {
                v = if i % 2 == 0 {
                    Value {
                        kind: Some(Kind::ListValue(ListValue {
                            values: vec![num(2.0), v],
                        })),
                    }
                } else {
                    Value {
                        kind: Some(Kind::StructValue(Struct {
                            fields: BTreeMap::from([("n".to_string(), v)]),
                        })),
                    }
                };
            }
            v
        };
        let mut events = vec![Event::default(), with_private(num(1.5))];
        for inner in [
            num(f64::NAN),
            num(f64::NEG_INFINITY),
            Value { kind: None },
            num(3.0),
        ] {
            for depth in [0, 1, 2, 5, 126, 127, 128, 129, 200] {
                events.push(with_private(nest(depth, inner.clone())));
            }
        }
        for (seconds, nanos) in [
            (i64::MAX, 0),
            (-62_135_596_801, 0),
            (0, -1),
            (0, 1_000_000_000),
        ] {
            let mut e = with_private(num(f64::NAN));
            e.timestamp = Some(Timestamp { seconds, nanos });
            events.push(e);
        }
        let mut errors = 0;
        for e in &events {
            let written = event_to_json(e).map(drop);
            errors += usize::from(written.is_err());
            assert_eq!(check_event(e), written, "{e:?}");
        }
        assert!(errors > 20, "only {errors} events refused");
    }

    fn f(v: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn s(v: &str) -> String {
        let mut out = Vec::new();
        write_string(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn doubles_match_go() {
        let cases: &[(f64, &str)] = &[
            (3.0, "3"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (0.0, "0"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (9223372036854775807.0, "9223372036854776000"),
            (9007199254740993.0, "9007199254740992"),
            (0.000001234, "0.000001234"),
            (9.999e20, "999900000000000000000"),
            (1e100, "1e+100"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-1e21, "-1e+21"),
            (123456789.125, "123456789.125"),
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"Infinity\""),
            (f64::NEG_INFINITY, "\"-Infinity\""),
        ];
        for (v, want) in cases {
            assert_eq!(f(*v), *want, "formatting {v:?}");
        }
    }

    #[test]
    fn strings_escape_like_go() {
        assert_eq!(s("plain"), "\"plain\"");
        assert_eq!(s("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(s("<a&b>"), "\"\\u003ca\\u0026b\\u003e\"");
        assert_eq!(s("\u{2028}\u{2029}"), "\"\\u2028\\u2029\"");
        assert_eq!(
            s("\u{0}\u{1f}\u{8}\u{c}\n\r\t"),
            "\"\\u0000\\u001f\\b\\f\\n\\r\\t\""
        );
        assert_eq!(s("\u{7f}é😀\u{2027}"), "\"\u{7f}é😀\u{2027}\"");
    }
}
