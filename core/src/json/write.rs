//! The Go-identical protojson writer.
//!
//! Output equals Go's `json.Marshal(json.RawMessage(protojson.Marshal(m)))`: compact, fields in
//! proto declaration order, unpopulated fields omitted (proto3 `optional` fields emitted when
//! set, even if empty), map keys sorted by bytes, int64 as strings, doubles in Go's shortest
//! form, and strings escaped by protojson's rules plus `json.Marshal`'s HTML escaping.

use super::time::format_timestamp;
use super::{MAX_STRUCT_DEPTH, MarshalError};
use crate::proto::{
    Event, EventInteraction, EventMarketingTracking, EventParameters, EventSource, EventUser,
    Identifier, RecordEventsRequestMetadata, identifier,
};
use prost_types::{Struct, Value, value::Kind};
use std::collections::BTreeMap;
use std::io::Write as _;

/// Writes `event` as the Go gateway's `protojson.Marshal` + `json.Marshal` would.
pub fn event_to_json(event: &Event) -> Result<Vec<u8>, MarshalError> {
    let mut w = Writer::with_capacity(512);
    w.event(event)?;
    Ok(w.out)
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

/// Appends protojson's string form of `s`, with Go `json.Marshal`'s HTML escaping applied.
pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            b'<' => Some(b"\\u003c"),
            b'>' => Some(b"\\u003e"),
            b'&' => Some(b"\\u0026"),
            0xE2 if bytes.get(i + 1) == Some(&0x80) => match bytes.get(i + 2) {
                Some(0xA8) => Some(b"\\u2028"),
                Some(0xA9) => Some(b"\\u2029"),
                _ => None,
            },
            _ => None,
        };
        if let Some(esc) = escape {
            out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
            out.extend_from_slice(esc);
            i += if esc.len() == 6 && b == 0xE2 { 3 } else { 1 };
            start = i;
        } else if b < 0x20 {
            out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
            // protojson writes other control characters as \u00XX with lowercase hex.
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
            out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
            i += 1;
            start = i;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Appends a double as protojson writes it (Go's `strconv.AppendFloat` with `'f'` format, or
/// `'e'` below 1e-6 and from 1e21 on, with a two-digit negative exponent shortened to one digit
/// and NaN/±Inf as strings).
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
        return;
    }
    // Shortest round-trip digits and decimal exponent from Rust's `{:e}` (the same digits Go's
    // `strconv` picks), then laid out as Go does: positional ('f') for 1e-6 <= |v| < 1e21 (and
    // zero), padding with zeros past the digits ("9223372036854776000"); exponent form ('e')
    // otherwise, always signed, with protojson's "e-07" -> "e-7" fix-up.
    let mut sci = Vec::with_capacity(32);
    let _ = write!(sci, "{:e}", v.abs());
    let (mantissa, exponent) = match sci.iter().position(|&b| b == b'e') {
        Some(pos) => (
            sci.get(..pos).unwrap_or_default(),
            std::str::from_utf8(sci.get(pos + 1..).unwrap_or_default())
                .ok()
                .and_then(|e| e.parse::<i32>().ok())
                .unwrap_or(0),
        ),
        None => (sci.as_slice(), 0),
    };
    let digits: Vec<u8> = mantissa
        .iter()
        .copied()
        .filter(u8::is_ascii_digit)
        .collect();
    if v.is_sign_negative() {
        out.push(b'-');
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        out.extend_from_slice(mantissa);
        out.push(b'e');
        out.push(if exponent < 0 { b'-' } else { b'+' });
        let _ = write!(out, "{}", exponent.unsigned_abs());
    } else if abs == 0.0 {
        out.push(b'0');
    } else {
        // value = 0.d1d2d3... * 10^(exponent + 1)
        let point = exponent + 1;
        if point <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', point.unsigned_abs() as usize));
            out.extend_from_slice(&digits);
        } else {
            let point = point as usize;
            if digits.len() <= point {
                out.extend_from_slice(&digits);
                out.extend(std::iter::repeat_n(b'0', point - digits.len()));
            } else {
                out.extend_from_slice(digits.get(..point).unwrap_or_default());
                out.push(b'.');
                out.extend_from_slice(digits.get(point..).unwrap_or_default());
            }
        }
    }
}

fn write_i64_string(out: &mut Vec<u8>, v: i64) {
    let _ = write!(out, "\"{v}\"");
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

    fn key(&mut self, obj: &mut Obj, name: &str) {
        if !obj.first {
            self.out.push(b',');
        }
        obj.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A singular string without presence: omitted when empty.
    fn str_field(&mut self, obj: &mut Obj, name: &str, v: &str) {
        if !v.is_empty() {
            self.key(obj, name);
            write_string(&mut self.out, v);
        }
    }

    /// A proto3 `optional` string: emitted whenever set, even if empty.
    fn opt_str_field(&mut self, obj: &mut Obj, name: &str, v: Option<&String>) {
        if let Some(v) = v {
            self.key(obj, name);
            write_string(&mut self.out, v);
        }
    }

    fn string_map(&mut self, obj: &mut Obj, name: &str, map: &BTreeMap<String, String>) {
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
        self.str_field(&mut o, "id", &e.id);
        if let Some(ts) = &e.timestamp {
            self.key(&mut o, "timestamp");
            self.out.push(b'"');
            format_timestamp(&mut self.out, ts)?;
            self.out.push(b'"');
        }
        self.str_field(&mut o, "feature", &e.feature);
        self.str_field(&mut o, "action", &e.action);
        if let Some(source) = &e.source {
            self.key(&mut o, "source");
            self.source(source);
        }
        if let Some(p) = &e.parameters {
            self.key(&mut o, "parameters");
            self.parameters(p)?;
        }
        if let Some(user) = &e.user {
            self.key(&mut o, "user");
            self.user(user);
        }
        if let Some(flags) = &e.feature_flags {
            self.key(&mut o, "featureFlags");
            let mut f = self.begin();
            self.string_map(&mut f, "flags", &flags.flags);
            self.end(f);
        }
        if let Some(m) = &e.marketing_tracking {
            self.key(&mut o, "marketingTracking");
            self.marketing(m);
        }
        if let Some(i) = &e.interaction {
            self.key(&mut o, "interaction");
            self.interaction(i);
        }
        self.end(o);
        Ok(())
    }

    fn source(&mut self, s: &EventSource) {
        let mut o = self.begin();
        if let Some(server) = &s.server {
            self.key(&mut o, "server");
            let mut so = self.begin();
            self.str_field(&mut so, "version", &server.version);
            self.end(so);
        }
        if let Some(client) = &s.client {
            self.key(&mut o, "client");
            let mut co = self.begin();
            self.str_field(&mut co, "name", &client.name);
            self.opt_str_field(&mut co, "version", client.version.as_ref());
            self.end(co);
        }
        self.end(o);
    }

    fn parameters(&mut self, p: &EventParameters) -> Result<(), MarshalError> {
        let mut o = self.begin();
        if p.version != 0 {
            self.key(&mut o, "version");
            let _ = write!(self.out, "{}", p.version);
        }
        if !p.legacy_metadata.is_empty() {
            self.key(&mut o, "legacyMetadata");
            let mut m = self.begin();
            for (k, v) in &p.legacy_metadata {
                self.map_key(&mut m, k);
                write_i64_string(&mut self.out, *v);
            }
            self.end(m);
        }
        if !p.metadata.is_empty() {
            self.key(&mut o, "metadata");
            let mut m = self.begin();
            for (k, v) in &p.metadata {
                self.map_key(&mut m, k);
                write_f64(&mut self.out, *v);
            }
            self.end(m);
        }
        if let Some(s) = &p.private_metadata {
            self.key(&mut o, "privateMetadata");
            self.structure(s, 0)
                .map_err(|e| e.at("parameters.privateMetadata"))?;
        }
        if let Some(b) = &p.billing_metadata {
            self.key(&mut o, "billingMetadata");
            let mut bo = self.begin();
            self.str_field(&mut bo, "product", &b.product);
            self.str_field(&mut bo, "category", &b.category);
            self.end(bo);
        }
        self.end(o);
        Ok(())
    }

    fn user(&mut self, u: &EventUser) {
        let mut o = self.begin();
        if let Some(id) = u.user_id {
            self.key(&mut o, "userId");
            write_i64_string(&mut self.out, id);
        }
        self.opt_str_field(&mut o, "anonymousUserId", u.anonymous_user_id.as_ref());
        self.opt_str_field(&mut o, "samsExternalId", u.sams_external_id.as_ref());
        self.end(o);
    }

    fn marketing(&mut self, m: &EventMarketingTracking) {
        let mut o = self.begin();
        self.opt_str_field(&mut o, "url", m.url.as_ref());
        self.opt_str_field(&mut o, "firstSourceUrl", m.first_source_url.as_ref());
        self.opt_str_field(&mut o, "cohortId", m.cohort_id.as_ref());
        self.opt_str_field(&mut o, "referrer", m.referrer.as_ref());
        self.opt_str_field(&mut o, "lastSourceUrl", m.last_source_url.as_ref());
        self.opt_str_field(&mut o, "deviceSessionId", m.device_session_id.as_ref());
        self.opt_str_field(&mut o, "sessionReferrer", m.session_referrer.as_ref());
        self.opt_str_field(&mut o, "sessionFirstUrl", m.session_first_url.as_ref());
        self.end(o);
    }

    fn interaction(&mut self, i: &EventInteraction) {
        let mut o = self.begin();
        self.opt_str_field(&mut o, "traceId", i.trace_id.as_ref());
        self.opt_str_field(&mut o, "interactionId", i.interaction_id.as_ref());
        if let Some(g) = &i.geolocation {
            self.key(&mut o, "geolocation");
            let mut go = self.begin();
            self.str_field(&mut go, "countryCode", &g.country_code);
            self.end(go);
        }
        self.end(o);
    }

    fn metadata(&mut self, m: &RecordEventsRequestMetadata) {
        let mut o = self.begin();
        self.str_field(&mut o, "requestId", &m.request_id);
        if let Some(id) = &m.identifier {
            self.key(&mut o, "identifier");
            self.identifier(id);
        }
        self.end(o);
    }

    fn identifier(&mut self, id: &Identifier) {
        let mut o = self.begin();
        match &id.identifier {
            Some(identifier::Identifier::LicensedInstance(l)) => {
                self.key(&mut o, "licensedInstance");
                let mut lo = self.begin();
                self.str_field(&mut lo, "licenseKey", &l.license_key);
                self.str_field(&mut lo, "instanceId", &l.instance_id);
                self.str_field(&mut lo, "externalUrl", &l.external_url);
                self.end(lo);
            }
            Some(identifier::Identifier::UnlicensedInstance(u)) => {
                self.key(&mut o, "unlicensedInstance");
                let mut uo = self.begin();
                self.str_field(&mut uo, "instanceId", &u.instance_id);
                self.str_field(&mut uo, "externalUrl", &u.external_url);
                self.end(uo);
            }
            Some(identifier::Identifier::ManagedService(s)) => {
                self.key(&mut o, "managedService");
                let mut so = self.begin();
                self.str_field(&mut so, "serviceId", &s.service_id);
                self.opt_str_field(
                    &mut so,
                    "serviceEnvironment",
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
                    Err(MarshalError::NonFiniteNumber {
                        path: String::new(),
                        value: if n.is_nan() {
                            "NaN"
                        } else if *n > 0.0 {
                            "Infinity"
                        } else {
                            "-Infinity"
                        },
                    })
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
                        .map_err(|e| e.at(&i.to_string()))?;
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
