//! Reading JSON straight into typed values: the serde plumbing shared by the proto3 JSON readers
//! ([`super::parse`]), the recording readers (`record`) and the `ffi` op inputs.
//!
//! Readers are plain functions over a [`Source`] of values: [`Source::value`] hands over the
//! next value (a scalar, or the kind of an object or array it read and skipped), and
//! [`Source::object`] / [`Source::array`] give an object's [`Entries`] or an array's elements to a
//! body. [`from_text`] reads with `serde_json`'s streaming deserializer, so no
//! `serde_json::Value` tree is built ([`from_value`] reads a parsed value the same way: it is a
//! deserializer too).
//! serde's visitors are the field's way to do this; what is written here are the rules that make
//! the result exactly what the earlier readers, which converted a parsed `serde_json::Value`,
//! gave for every input:
//!
//! * **Syntax first.** A reader never stops at a wrong field: it records the error and reads on,
//!   so that a document that is not valid JSON is reported as such, with serde_json's message and
//!   position, wherever a field error sits. Only serde errors (syntax, depth) stop reading.
//! * **Sorted keys, the last duplicate wins.** An object is judged as if its keys were read in
//!   sorted order after duplicates were merged, the last one winning (what a `serde_json::Map`
//!   holds): the error reported is the one under the smallest key ([`ByKey`]), a repeated key's
//!   earlier value has no effect even when it is wrong, and of two spellings of one field the
//!   later-sorting one wins ([`Spellings`]).
//! * **Bounded depth.** Every value, skipped ones included, is read through `deserialize_any`,
//!   so serde_json's 128-level recursion limit applies to the whole document: deep input is an
//!   error, never a stack overflow.
//!
//! Size matters as much as speed (this code ships in the WASM build): every value goes through
//! one visitor into one receiver ([`Take`]), so serde_json's large `deserialize_any` is compiled
//! once, and readers carry no per-type glue (a serde visitor per reader cost the WASM build a
//! third of its size).

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

/// A JSON value that is not an object or an array.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'de> {
    Null,
    Bool(bool),
    Number(Number),
    /// Borrowed from the input when it has no escapes.
    Str(Cow<'de, str>),
}

impl Scalar<'_> {
    pub(crate) fn kind(&self) -> JsonKind {
        match self {
            Scalar::Null => JsonKind::Null,
            Scalar::Bool(_) => JsonKind::Bool,
            Scalar::Number(_) => JsonKind::Number,
            Scalar::Str(_) => JsonKind::String,
        }
    }
}

/// Reading stopped on a serde error (syntax, depth). The error itself is kept by the adapter
/// that met it and handed back to serde on the way out, so readers only pass this marker up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop;

/// What one value was, once read: a scalar (handed over), or an object or array (already read
/// by the body given for it, or skipped), or nothing (the end of an array).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Got<'de> {
    Scalar(Scalar<'de>),
    Object,
    Array,
    End,
}

impl Got<'_> {
    /// The kind of the value (`End` is never asked for).
    pub(crate) fn kind(&self) -> JsonKind {
        match self {
            Got::Scalar(s) => s.kind(),
            Got::Object => JsonKind::Object,
            Got::Array | Got::End => JsonKind::Array,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Got::Scalar(Scalar::Null))
    }
}

/// What reads an object value: its entries, one by one.
pub(crate) type ObjectBody<'b, 'de> = &'b mut dyn FnMut(&mut dyn Entries<'de>) -> Result<(), Stop>;

/// What reads an array value: its elements, one by one, from the [`Source`] it is given.
pub(crate) type ArrayBody<'b, 'de> = &'b mut dyn FnMut(&mut dyn Source<'de>) -> Result<(), Stop>;

/// The one thing serde's visitor hands a value to: scalars are kept, objects and arrays go to
/// the bodies given (or are skipped). Every reader is a plain function over these, so the WASM
/// build carries one visitor and no per-reader glue.
pub(crate) struct Take<'o, 'a, 'de> {
    object: Option<ObjectBody<'o, 'de>>,
    array: Option<ArrayBody<'a, 'de>>,
    got: Got<'de>,
}

/// Somewhere values are read from: an object's value under the key just read (an [`Entries`]),
/// an array's elements, or one input field.
pub(crate) trait Source<'de> {
    /// Reads the next value into `take`; `false` when there is none (the end of an array).
    fn next(&mut self, take: &mut Take<'_, '_, 'de>) -> Result<bool, Stop>;
}

/// The entries of an object being read: a key, then its value through [`Source`].
pub(crate) trait Entries<'de>: Source<'de> {
    /// The next key (borrowed from the input when it has no escapes), or `None` at the end.
    fn next_key(&mut self) -> Result<Option<Cow<'de, str>>, Stop>;
}

impl<'de> dyn Source<'de> + '_ {
    /// The next value; an object goes to `object`, an array to `array` (each is read and
    /// skipped when `None`).
    pub(crate) fn value_with(
        &mut self,
        object: Option<ObjectBody<'_, 'de>>,
        array: Option<ArrayBody<'_, 'de>>,
    ) -> Result<Got<'de>, Stop> {
        let mut take = Take {
            object,
            array,
            got: Got::End,
        };
        self.next(&mut take)?;
        Ok(take.got)
    }

    /// The next value, objects and arrays read only to check them.
    pub(crate) fn value(&mut self) -> Result<Got<'de>, Stop> {
        self.value_with(None, None)
    }

    /// The next value, read by `body` if it is an object: `Ok(t)`, else `Err(got)`.
    pub(crate) fn object<T>(
        &mut self,
        body: &mut dyn FnMut(&mut dyn Entries<'de>) -> Result<T, Stop>,
    ) -> Result<Result<T, Got<'de>>, Stop> {
        let mut out = None;
        let got = self.value_with(
            Some(&mut |map| {
                out = Some(body(map)?);
                Ok(())
            }),
            None,
        )?;
        Ok(out.ok_or(got))
    }

    /// The next value, read by `body` if it is an array: `Ok(t)`, else `Err(got)`.
    pub(crate) fn array<T>(
        &mut self,
        body: &mut dyn FnMut(&mut dyn Source<'de>) -> Result<T, Stop>,
    ) -> Result<Result<T, Got<'de>>, Stop> {
        let mut out = None;
        let got = self.value_with(
            None,
            Some(&mut |seq| {
                out = Some(body(seq)?);
                Ok(())
            }),
        )?;
        Ok(out.ok_or(got))
    }
}

/// Runs a [`Take`] over one value of a deserializer, through `deserialize_any` (so that
/// serde_json's recursion limit counts every level).
struct TakeSeed<'t, 'o, 'a, 'de>(&'t mut Take<'o, 'a, 'de>);

impl<'de> DeserializeSeed<'de> for TakeSeed<'_, '_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(Visit(self.0))
    }
}

/// The one visitor.
struct Visit<'t, 'o, 'a, 'de>(&'t mut Take<'o, 'a, 'de>);

impl<'de> Visit<'_, '_, '_, 'de> {
    fn scalar<E>(self, s: Scalar<'de>) -> Result<(), E> {
        self.0.got = Got::Scalar(s);
        Ok(())
    }
}

impl<'de> Visitor<'de> for Visit<'_, '_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.scalar(Scalar::Null)
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.scalar(Scalar::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.scalar(Scalar::Bool(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.scalar(Scalar::Number(Number::PosInt(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.scalar(Scalar::Number(Number::from_i64(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.scalar(Scalar::Number(Number::Float(v)))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.scalar(Scalar::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.scalar(Scalar::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.scalar(Scalar::Str(Cow::Owned(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let mut entries = MapEntries { map, error: None };
        let read = match self.0.object.as_mut() {
            Some(body) => body(&mut entries),
            None => skip_entries(&mut entries),
        };
        self.0.got = Got::Object;
        read.map_err(|Stop| entries.error.unwrap_or_else(stopped))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let mut elements = SeqElements { seq, error: None };
        let read = match self.0.array.as_mut() {
            Some(body) => body(&mut elements),
            None => skip_elements(&mut elements),
        };
        self.0.got = Got::Array;
        read.map_err(|Stop| elements.error.unwrap_or_else(stopped))
    }
}

/// The error for a [`Stop`] without a kept serde error (not reached: a `Stop` starts at one).
fn stopped<E: serde::de::Error>() -> E {
    E::custom("reading stopped")
}

/// A serde `MapAccess` as [`Entries`], keeping the serde error it meets.
struct MapEntries<'de, A: MapAccess<'de>> {
    map: A,
    error: Option<A::Error>,
}

impl<'de, A: MapAccess<'de>> Source<'de> for MapEntries<'de, A> {
    fn next(&mut self, take: &mut Take<'_, '_, 'de>) -> Result<bool, Stop> {
        match self.map.next_value_seed(TakeSeed(take)) {
            Ok(()) => Ok(true),
            Err(e) => {
                self.error = Some(e);
                Err(Stop)
            }
        }
    }
}

impl<'de, A: MapAccess<'de>> Entries<'de> for MapEntries<'de, A> {
    fn next_key(&mut self) -> Result<Option<Cow<'de, str>>, Stop> {
        self.map.next_key_seed(KeySeed).map_err(|e| {
            self.error = Some(e);
            Stop
        })
    }
}

/// A serde `SeqAccess` as a [`Source`] of its elements, keeping the serde error it meets.
struct SeqElements<'de, A: SeqAccess<'de>> {
    seq: A,
    error: Option<A::Error>,
}

impl<'de, A: SeqAccess<'de>> Source<'de> for SeqElements<'de, A> {
    fn next(&mut self, take: &mut Take<'_, '_, 'de>) -> Result<bool, Stop> {
        match self.seq.next_element_seed(TakeSeed(take)) {
            Ok(more) => Ok(more.is_some()),
            Err(e) => {
                self.error = Some(e);
                Err(Stop)
            }
        }
    }
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

/// Reads the rest of an object without keeping it.
pub(crate) fn skip_entries<'de>(map: &mut dyn Entries<'de>) -> Result<(), Stop> {
    while map.next_key()?.is_some() {
        (map as &mut dyn Source<'de>).value()?;
    }
    Ok(())
}

/// Reads the rest of an array without keeping it.
pub(crate) fn skip_elements<'de>(seq: &mut dyn Source<'de>) -> Result<(), Stop> {
    while seq.value()? != Got::End {}
    Ok(())
}

/// The latest of something (an error, a value) per key of one object: a later value of the
/// same key replaces an earlier one, [`ByKey::clear`] forgets it, and [`ByKey::first`] is the
/// smallest key's, as when the merged object is read in sorted key order. Allocates only when
/// used. (Keys map to slots in a list rather than to the values themselves, so that one
/// `BTreeMap` type serves every value type and nothing is ever removed from it: each would be
/// another copy of `BTreeMap`'s code in the WASM build.)
#[derive(Debug)]
pub(crate) struct ByKey<T> {
    slots: BTreeMap<String, usize>,
    values: Vec<Option<T>>,
}

impl<T> Default for ByKey<T> {
    fn default() -> Self {
        ByKey {
            slots: BTreeMap::new(),
            values: Vec::new(),
        }
    }
}

impl<T> ByKey<T> {
    /// `key` has nothing (any more).
    pub(crate) fn clear(&mut self, key: &str) {
        if !self.slots.is_empty()
            && let Some(slot) = self.slots.get(key).and_then(|&i| self.values.get_mut(i))
        {
            *slot = None;
        }
    }

    /// `key`'s latest is `value`.
    pub(crate) fn insert(&mut self, key: &str, value: T) {
        match self.slots.get(key).and_then(|&i| self.values.get_mut(i)) {
            Some(slot) => *slot = Some(value),
            None => {
                self.slots.insert(key.to_owned(), self.values.len());
                self.values.push(Some(value));
            }
        }
    }

    /// Whether no key has anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }

    /// Whether `key` has something.
    pub(crate) fn contains(&self, key: &str) -> bool {
        !self.slots.is_empty()
            && self
                .slots
                .get(key)
                .and_then(|&i| self.values.get(i))
                .is_some_and(Option::is_some)
    }

    /// Records `key`'s latest answer (for errors): the value when good, else the error.
    pub(crate) fn keep<V>(&mut self, key: &str, answer: Result<V, T>) -> Option<V> {
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

    /// What the smallest key has, if any key has something.
    pub(crate) fn first(self) -> Option<T> {
        if self.slots.is_empty() {
            return None;
        }
        self.into_sorted().next().map(|(_, v)| v)
    }

    /// What each key has, in sorted key order.
    pub(crate) fn into_sorted(self) -> impl Iterator<Item = (String, T)> {
        let mut values = self.values;
        self.slots
            .into_iter()
            .filter_map(move |(k, i)| values.get_mut(i).and_then(Option::take).map(|v| (k, v)))
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

/// Reads JSON text (the whole text: trailing characters are an error); objects and arrays go to
/// the bodies given. The caller bounds the text's size; serde_json bounds its depth.
pub(crate) fn from_text<'de>(
    text: &'de str,
    object: Option<ObjectBody<'_, 'de>>,
    array: Option<ArrayBody<'_, 'de>>,
) -> Result<Got<'de>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut take = Take {
        object,
        array,
        got: Got::End,
    };
    TakeSeed(&mut take).deserialize(&mut de)?;
    de.end()?;
    Ok(take.got)
}

/// Reads an already parsed value (its keys are unique and sorted already), as [`from_text`].
pub(crate) fn from_value<'de>(
    value: &'de serde_json::Value,
    object: Option<ObjectBody<'_, 'de>>,
    array: Option<ArrayBody<'_, 'de>>,
) -> Result<Got<'de>, serde_json::Error> {
    let mut take = Take {
        object,
        array,
        got: Got::End,
    };
    TakeSeed(&mut take).deserialize(value)?;
    Ok(take.got)
}

/// A JSON document that is an object read by `body`: `Ok(t)`, else `Err(got)`.
pub(crate) fn object_document<'de, T>(
    read: impl FnOnce(Option<ObjectBody<'_, 'de>>) -> Result<Got<'de>, serde_json::Error>,
    body: &mut dyn FnMut(&mut dyn Entries<'de>) -> Result<T, Stop>,
) -> Result<Result<T, Got<'de>>, serde_json::Error> {
    let mut out = None;
    let got = read(Some(&mut |map| {
        out = Some(body(map)?);
        Ok(())
    }))?;
    Ok(out.ok_or(got))
}

/// One input field's JSON text, as a [`Source`] of one value (the whole text).
#[cfg(feature = "ffi")]
pub(crate) struct TextValue<'de> {
    de: serde_json::Deserializer<serde_json::de::StrRead<'de>>,
    error: Option<serde_json::Error>,
}

#[cfg(feature = "ffi")]
impl<'de> TextValue<'de> {
    pub(crate) fn new(text: &'de str) -> Self {
        TextValue {
            de: serde_json::Deserializer::from_str(text),
            error: None,
        }
    }

    /// After the value is read: the serde error that stopped it, or trailing characters.
    pub(crate) fn end(mut self, read: Result<(), Stop>) -> Result<(), serde_json::Error> {
        match (read, self.error.take()) {
            (Err(Stop), error) => Err(error.unwrap_or_else(stopped)),
            (Ok(()), _) => self.de.end(),
        }
    }
}

#[cfg(feature = "ffi")]
impl<'de> Source<'de> for TextValue<'de> {
    fn next(&mut self, take: &mut Take<'_, '_, 'de>) -> Result<bool, Stop> {
        match TakeSeed(take).deserialize(&mut self.de) {
            Ok(()) => Ok(true),
            Err(e) => {
                self.error = Some(e);
                Err(Stop)
            }
        }
    }
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
            let Got::Scalar(Scalar::Number(ours)) = from_text(text, None, None).unwrap() else {
                panic!("{text} is not a number");
            };
            assert_eq!(ours.to_string(), json.to_string(), "{text}");
            assert_eq!(ours.as_i64(), json.as_i64(), "{text}");
            assert_eq!(ours.as_u64(), json.as_u64(), "{text}");
            assert_eq!(ours.is_u64(), json.is_u64(), "{text}");
            assert_eq!(Some(ours.as_f64()), json.as_f64(), "{text}");
        }
    }

    #[test]
    fn skipping_keeps_the_depth_limit() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e = from_text(&deep, None, None).unwrap_err();
        assert!(e.to_string().starts_with("recursion limit exceeded"), "{e}");
        // The same depths pass and fail as when parsing into a `serde_json::Value`.
        for depth in [126, 127, 128, 129] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let value = serde_json::from_str::<serde_json::Value>(&text).map(drop);
            let skipped = from_text(&text, None, None).map(drop);
            assert_eq!(
                skipped.map_err(|e| e.to_string()),
                value.map_err(|e| e.to_string()),
                "depth {depth}"
            );
        }
    }

    #[test]
    fn by_key_gives_the_smallest_key_of_the_latest_values() {
        let mut errors = ByKey::default();
        errors.insert("b", "b is wrong");
        errors.insert("a", "a is wrong");
        errors.clear("a");
        errors.insert("c", "c is wrong");
        assert!(errors.contains("b") && !errors.contains("a"));
        assert_eq!(errors.first(), Some("b is wrong"));
        let mut errors: ByKey<&str> = ByKey::default();
        assert_eq!(errors.keep("a", Ok::<_, &str>(1)), Some(1));
        assert_eq!(errors.first(), None);
        let mut values = ByKey::default();
        values.insert("z", 1);
        values.insert("y", 2);
        values.insert("z", 3);
        assert_eq!(
            values.into_sorted().collect::<Vec<_>>(),
            [("y".to_string(), 2), ("z".to_string(), 3)]
        );
    }
}
