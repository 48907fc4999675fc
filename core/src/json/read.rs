//! Reading JSON straight into typed values: the serde plumbing shared by the proto3 JSON readers
//! ([`super::parse`]), the recording readers (`record`) and the `ffi` op inputs.
//!
//! A reader is a [`Reader`]: what to make of each kind of JSON value. [`Seed`] runs one over any
//! `serde` deserializer, in practice `serde_json`'s streaming one over the input text, so no
//! `serde_json::Value` tree is built. (The `*_value` entry points run the same readers over a
//! `&serde_json::Value`, which is also a deserializer.) serde's visitors are the field's way to
//! do this; what is written here are the rules that make the result exactly what the earlier
//! readers, which converted a parsed `serde_json::Value`, gave for every input:
//!
//! * **Syntax first.** A reader never stops at a wrong field: it records the error and reads on,
//!   so that a document that is not valid JSON is reported as such, with serde_json's message and
//!   position, wherever a field error sits. Only serde errors (syntax, depth) stop reading.
//! * **Sorted keys, the last duplicate wins.** An object is judged as if its keys were read in
//!   sorted order after duplicates were merged, the last one winning (what a `serde_json::Map`
//!   holds): the error reported is the one under the smallest key ([`ErrorsByKey`]), a repeated
//!   key's earlier value has no effect even when it is wrong, and of two spellings of one field
//!   the later-sorting one wins ([`Spellings`]).
//! * **Bounded depth.** Every value, skipped ones included, is read through `deserialize_any`,
//!   so serde_json's 128-level recursion limit applies to the whole document: deep input is an
//!   error, never a stack overflow.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// The kind of a JSON value, for "expected …, got …" messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl JsonKind {
    /// The kind as the error messages name it (`null`, `a boolean`, `an object`, …).
    pub(crate) fn described(self) -> &'static str {
        match self {
            JsonKind::Null => "null",
            JsonKind::Bool => "a boolean",
            JsonKind::Number => "a number",
            JsonKind::String => "a string",
            JsonKind::Array => "an array",
            JsonKind::Object => "an object",
        }
    }
}

/// A JSON number as serde_json parsed it: a non-negative integer, a negative integer, or a float
/// (the three forms of `serde_json::Number`, with the same conversions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    PosInt(u64),
    NegInt(i64),
    Float(f64),
}

impl Number {
    fn from_i64(i: i64) -> Self {
        if i < 0 {
            Number::NegInt(i)
        } else {
            Number::PosInt(i.unsigned_abs())
        }
    }

    /// `serde_json::Number::as_i64`.
    pub(crate) fn as_i64(self) -> Option<i64> {
        match self {
            Number::PosInt(u) => i64::try_from(u).ok(),
            Number::NegInt(i) => Some(i),
            Number::Float(_) => None,
        }
    }

    /// `serde_json::Number::as_u64`.
    #[cfg(any(feature = "ffi", test))]
    pub(crate) fn as_u64(self) -> Option<u64> {
        match self {
            Number::PosInt(u) => Some(u),
            _ => None,
        }
    }

    /// `serde_json::Number::is_u64`.
    pub(crate) fn is_u64(self) -> bool {
        matches!(self, Number::PosInt(_))
    }

    /// `serde_json::Number::as_f64` (always a value: JSON text has no NaN or infinity).
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Number::PosInt(u) => u as f64,
            Number::NegInt(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

impl Number {
    /// The same number as a `serde_json::Value` (`null` for a non-finite float, which JSON
    /// text cannot hold, as serde_json does).
    pub(crate) fn to_json(self) -> serde_json::Value {
        match self {
            Number::PosInt(u) => u.into(),
            Number::NegInt(i) => i.into(),
            Number::Float(x) => serde_json::Number::from_f64(x)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
        }
    }
}

/// Written exactly as `serde_json::Number` writes itself (error messages quote numbers).
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_json() {
            serde_json::Value::Number(n) => fmt::Display::fmt(&n, f),
            _ => fmt::Display::fmt(&self.as_f64(), f),
        }
    }
}

/// What to make of each kind of JSON value. Every method must consume its value completely;
/// the defaults read (and check) an object or array they do not want, then answer
/// [`Reader::wrong_kind`].
pub(crate) trait Reader<'de>: Sized {
    /// What the reader makes of a value (usually a `Result` of the target type and the
    /// reader's own error type: a wrong value is an answer, not a serde error).
    type Out;

    /// The answer for a value of a kind this reader does not take.
    fn wrong_kind(self, kind: JsonKind) -> Self::Out;

    fn null(self) -> Self::Out {
        self.wrong_kind(JsonKind::Null)
    }

    fn boolean(self, _: bool) -> Self::Out {
        self.wrong_kind(JsonKind::Bool)
    }

    fn number(self, _: Number) -> Self::Out {
        self.wrong_kind(JsonKind::Number)
    }

    fn string(self, _: Cow<'de, str>) -> Self::Out {
        self.wrong_kind(JsonKind::String)
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        skip_entries(&mut map)?;
        Ok(self.wrong_kind(JsonKind::Object))
    }

    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        skip_elements(&mut seq)?;
        Ok(self.wrong_kind(JsonKind::Array))
    }
}

/// Runs a [`Reader`] over one value of a deserializer (through `deserialize_any`, so that
/// serde_json's recursion limit counts every level).
pub(crate) struct Seed<R>(pub R);

impl<'de, R: Reader<'de>> DeserializeSeed<'de> for Seed<R> {
    type Value = R::Out;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<R::Out, D::Error> {
        deserializer.deserialize_any(Visit(self.0))
    }
}

struct Visit<R>(R);

impl<'de, R: Reader<'de>> Visitor<'de> for Visit<R> {
    type Value = R::Out;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<R::Out, E> {
        Ok(self.0.null())
    }

    fn visit_none<E>(self) -> Result<R::Out, E> {
        Ok(self.0.null())
    }

    fn visit_bool<E>(self, v: bool) -> Result<R::Out, E> {
        Ok(self.0.boolean(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<R::Out, E> {
        Ok(self.0.number(Number::PosInt(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<R::Out, E> {
        Ok(self.0.number(Number::from_i64(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<R::Out, E> {
        Ok(self.0.number(Number::Float(v)))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<R::Out, E> {
        Ok(self.0.string(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<R::Out, E> {
        Ok(self.0.string(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<R::Out, E> {
        Ok(self.0.string(Cow::Owned(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<R::Out, A::Error> {
        self.0.object(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<R::Out, A::Error> {
        self.0.array(seq)
    }
}

/// Reads a value only to check it (syntax, depth) and tell its kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Skip;

impl<'de> Reader<'de> for Skip {
    type Out = JsonKind;

    fn wrong_kind(self, kind: JsonKind) -> JsonKind {
        kind
    }

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonKind, A::Error> {
        skip_entries(&mut map)?;
        Ok(JsonKind::Object)
    }

    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonKind, A::Error> {
        skip_elements(&mut seq)?;
        Ok(JsonKind::Array)
    }
}

/// Reads the rest of an object without keeping it.
pub(crate) fn skip_entries<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    while next_key(map)?.is_some() {
        map.next_value_seed(Seed(Skip))?;
    }
    Ok(())
}

/// Reads the rest of an array without keeping it.
pub(crate) fn skip_elements<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
    while seq.next_element_seed(Seed(Skip))?.is_some() {}
    Ok(())
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The next key of an object (borrowed from the input when it has no escapes).
pub(crate) fn next_key<'de, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<Cow<'de, str>>, A::Error> {
    map.next_key_seed(KeySeed)
}

/// A reader for a field where `null` means "not set": `None` for null, else the inner answer.
pub(crate) struct OrNull<R>(pub R);

impl<'de, R: Reader<'de>> Reader<'de> for OrNull<R> {
    type Out = Option<R::Out>;

    fn wrong_kind(self, kind: JsonKind) -> Self::Out {
        Some(self.0.wrong_kind(kind))
    }

    fn null(self) -> Self::Out {
        None
    }

    fn boolean(self, v: bool) -> Self::Out {
        Some(self.0.boolean(v))
    }

    fn number(self, v: Number) -> Self::Out {
        Some(self.0.number(v))
    }

    fn string(self, v: Cow<'de, str>) -> Self::Out {
        Some(self.0.string(v))
    }

    fn object<A: MapAccess<'de>>(self, map: A) -> Result<Self::Out, A::Error> {
        self.0.object(map).map(Some)
    }

    fn array<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Out, A::Error> {
        self.0.array(seq).map(Some)
    }
}

/// The errors of one object's fields, by key: a later value of the same key replaces (or, when
/// good, clears) an earlier one's error, and the error reported is the smallest key's, as when
/// the merged object is read in sorted key order. Allocates only when a field is wrong.
#[derive(Debug)]
pub(crate) struct ErrorsByKey<E> {
    errors: BTreeMap<String, E>,
}

impl<E> Default for ErrorsByKey<E> {
    fn default() -> Self {
        ErrorsByKey {
            errors: BTreeMap::new(),
        }
    }
}

impl<E> ErrorsByKey<E> {
    /// `key`'s latest value is good (or absent): forget its earlier error.
    pub(crate) fn clear(&mut self, key: &str) {
        if !self.errors.is_empty() {
            self.errors.remove(key);
        }
    }

    /// `key`'s latest value is wrong.
    pub(crate) fn insert(&mut self, key: &str, error: E) {
        self.errors.insert(key.to_owned(), error);
    }

    /// Records `key`'s latest answer: the value when good.
    pub(crate) fn keep<T>(&mut self, key: &str, answer: Result<T, E>) -> Option<T> {
        match answer {
            Ok(v) => {
                self.clear(key);
                Some(v)
            }
            Err(e) => {
                self.insert(key, e);
                None
            }
        }
    }

    /// The error under the smallest key, if any.
    pub(crate) fn first(self) -> Option<E> {
        self.errors.into_values().next()
    }
}

/// The two spellings of one field (e.g. `featureFlags` and `feature_flags`), each holding the
/// latest value given under it. When both are given, the one whose key sorts later wins, as when
/// the object is read in sorted key order.
#[derive(Debug)]
pub(crate) struct Spellings<T> {
    /// The value under the spelling that sorts first.
    pub(crate) first: Option<T>,
    /// The value under the spelling that sorts second.
    pub(crate) second: Option<T>,
}

impl<T> Default for Spellings<T> {
    fn default() -> Self {
        Spellings {
            first: None,
            second: None,
        }
    }
}

impl<T> Spellings<T> {
    /// The winning value.
    pub(crate) fn get(self) -> Option<T> {
        self.second.or(self.first)
    }
}

/// Runs a reader over JSON text (the whole text: trailing characters are an error). The caller
/// bounds the text's size; serde_json bounds its depth.
pub(crate) fn from_text<'de, R: Reader<'de>>(
    text: &'de str,
    reader: R,
) -> Result<R::Out, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let out = Seed(reader).deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// Runs a reader over an already parsed value (its keys are unique and sorted already).
pub(crate) fn from_value<'de, R: Reader<'de>>(
    value: &'de serde_json::Value,
    reader: R,
) -> Result<R::Out, serde_json::Error> {
    Seed(reader).deserialize(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_and_convert_as_serde_json_does() {
        for text in [
            "0",
            "42",
            "-7",
            "18446744073709551615",
            "-9223372036854775808",
            "1.5",
            "-0",
            "1e300",
            "12345678901234567890123",
        ] {
            let json: serde_json::Number = serde_json::from_str(text).unwrap();
            let ours = from_text(text, NumberOnly).unwrap().unwrap();
            assert_eq!(ours.to_string(), json.to_string(), "{text}");
            assert_eq!(ours.as_i64(), json.as_i64(), "{text}");
            assert_eq!(ours.as_u64(), json.as_u64(), "{text}");
            assert_eq!(ours.is_u64(), json.is_u64(), "{text}");
            assert_eq!(Some(ours.as_f64()), json.as_f64(), "{text}");
        }
    }

    struct NumberOnly;

    impl<'de> Reader<'de> for NumberOnly {
        type Out = Option<Number>;
        fn wrong_kind(self, _: JsonKind) -> Self::Out {
            None
        }
        fn number(self, n: Number) -> Self::Out {
            Some(n)
        }
    }

    #[test]
    fn skipping_keeps_the_depth_limit() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e = from_text(&deep, Skip).unwrap_err();
        assert!(e.to_string().starts_with("recursion limit exceeded"), "{e}");
        // The same depths pass and fail as when parsing into a `serde_json::Value`.
        for depth in [126, 127, 128, 129] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let value = serde_json::from_str::<serde_json::Value>(&text).map(drop);
            let skipped = from_text(&text, Skip).map(drop);
            assert_eq!(
                skipped.map_err(|e| e.to_string()),
                value.map_err(|e| e.to_string()),
                "depth {depth}"
            );
        }
    }

    #[test]
    fn errors_by_key_report_the_smallest_key_of_the_latest_values() {
        let mut errors = ErrorsByKey::default();
        errors.insert("b", "b is wrong");
        errors.insert("a", "a is wrong");
        errors.clear("a");
        errors.insert("c", "c is wrong");
        assert_eq!(errors.first(), Some("b is wrong"));
        let mut errors: ErrorsByKey<&str> = ErrorsByKey::default();
        assert_eq!(errors.keep("a", Ok::<_, &str>(1)), Some(1));
        assert_eq!(errors.first(), None);
    }
}
