//! Reading JSON straight into typed values: the serde plumbing shared by the proto3 JSON readers
//! ([`super::parse`]), the recording readers (`record`) and the `ffi` op inputs.
//!
//! A reader is a [`Reader`]: what to make of a scalar, an object or an array. [`from_text`] runs
//! one over `serde_json`'s streaming deserializer, so no `serde_json::Value` tree is built
//! ([`from_value`] runs the same readers over a parsed value, which is a deserializer too).
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
//! Size matters as much as speed (this code ships in the WASM build): readers see objects and
//! arrays as `dyn` [`Entries`] / [`Elements`] and run through one type-erased visitor, so
//! serde_json's large `deserialize_any` is compiled once, not once per reader type.

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

/// What to make of each kind of JSON value. Every method must consume its value completely;
/// the defaults read (and check) a value they do not want, then answer [`Reader::wrong_kind`].
pub(crate) trait Reader<'de>: Sized {
    /// What the reader makes of a value (usually a `Result` of the target type and the
    /// reader's own error type: a wrong value is an answer, not a serde error).
    type Out;

    /// The answer for a value of a kind this reader does not take.
    fn wrong_kind(self, kind: JsonKind) -> Self::Out;

    fn scalar(self, s: Scalar<'de>) -> Self::Out {
        self.wrong_kind(s.kind())
    }

    fn object(self, map: &mut dyn Entries<'de>) -> Result<Self::Out, Stop> {
        skip_entries(map)?;
        Ok(self.wrong_kind(JsonKind::Object))
    }

    fn array(self, seq: &mut dyn Elements<'de>) -> Result<Self::Out, Stop> {
        skip_elements(seq)?;
        Ok(self.wrong_kind(JsonKind::Array))
    }
}

/// The entries of an object being read.
pub(crate) trait Entries<'de> {
    /// The next key (borrowed from the input when it has no escapes), or `None` at the end.
    fn next_key(&mut self) -> Result<Option<Cow<'de, str>>, Stop>;

    /// Reads the value of the key just read into `into`.
    fn next_value_into(&mut self, into: &mut dyn Erased<'de>) -> Result<(), Stop>;
}

impl<'de> dyn Entries<'de> + '_ {
    /// Reads the value of the key just read with `reader`.
    pub(crate) fn value<R: Reader<'de>>(&mut self, reader: R) -> Result<R::Out, Stop> {
        let mut slot = Slot::new(reader, false);
        self.next_value_into(&mut slot)?;
        slot.answer()
    }

    /// Reads the value of the key just read with `reader`, unless it is `null` (`None`).
    pub(crate) fn value_or_null<R: Reader<'de>>(
        &mut self,
        reader: R,
    ) -> Result<Option<R::Out>, Stop> {
        let mut slot = Slot::new(reader, true);
        self.next_value_into(&mut slot)?;
        slot.answer_or_null()
    }
}

/// The elements of an array being read.
pub(crate) trait Elements<'de> {
    /// Reads the next element into `into`; `false` at the end.
    fn next_element_into(&mut self, into: &mut dyn Erased<'de>) -> Result<bool, Stop>;
}

impl<'de> dyn Elements<'de> + '_ {
    /// Reads the next element with `reader`, or `None` at the end.
    pub(crate) fn element<R: Reader<'de>>(&mut self, reader: R) -> Result<Option<R::Out>, Stop> {
        let mut slot = Slot::new(reader, false);
        if self.next_element_into(&mut slot)? {
            slot.answer().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// One value to read (an input given as separate fields hands each over as one).
#[cfg(feature = "ffi")]
pub(crate) trait OneValue<'de> {
    /// Reads the value into `into`.
    fn read_into(&mut self, into: &mut dyn Erased<'de>) -> Result<(), Stop>;
}

#[cfg(feature = "ffi")]
impl<'de> dyn OneValue<'de> + '_ {
    /// Reads the value with `reader`.
    pub(crate) fn read<R: Reader<'de>>(&mut self, reader: R) -> Result<R::Out, Stop> {
        let mut slot = Slot::new(reader, false);
        self.read_into(&mut slot)?;
        slot.answer()
    }

    /// Reads the value with `reader`, unless it is `null` (`None`).
    pub(crate) fn read_or_null<R: Reader<'de>>(
        &mut self,
        reader: R,
    ) -> Result<Option<R::Out>, Stop> {
        let mut slot = Slot::new(reader, true);
        self.read_into(&mut slot)?;
        slot.answer_or_null()
    }
}

/// An object's value under the key just read, as one value.
#[cfg(feature = "ffi")]
pub(crate) struct EntryValue<'a, 'de>(pub &'a mut dyn Entries<'de>);

#[cfg(feature = "ffi")]
impl<'de> OneValue<'de> for EntryValue<'_, 'de> {
    fn read_into(&mut self, into: &mut dyn Erased<'de>) -> Result<(), Stop> {
        self.0.next_value_into(into)
    }
}

/// A reader with its type erased: what the one visitor calls.
pub(crate) trait Erased<'de> {
    fn scalar(&mut self, s: Scalar<'de>);
    fn object(&mut self, map: &mut dyn Entries<'de>) -> Result<(), Stop>;
    fn array(&mut self, seq: &mut dyn Elements<'de>) -> Result<(), Stop>;
}

/// A reader waiting for its value, then its answer. With `or_null`, a `null` is not handed
/// to the reader but noted (for fields where `null` is "not set"), which spares every reader a
/// second, null-aware type.
struct Slot<'de, R: Reader<'de>> {
    reader: Option<R>,
    out: Option<R::Out>,
    or_null: bool,
    was_null: bool,
}

impl<'de, R: Reader<'de>> Slot<'de, R> {
    fn new(reader: R, or_null: bool) -> Self {
        Slot {
            reader: Some(reader),
            out: None,
            or_null,
            was_null: false,
        }
    }

    fn answer(self) -> Result<R::Out, Stop> {
        self.out.ok_or(Stop)
    }

    fn answer_or_null(self) -> Result<Option<R::Out>, Stop> {
        if self.was_null {
            Ok(None)
        } else {
            self.out.ok_or(Stop).map(Some)
        }
    }
}

impl<'de, R: Reader<'de>> Erased<'de> for Slot<'de, R> {
    fn scalar(&mut self, s: Scalar<'de>) {
        if self.or_null && matches!(s, Scalar::Null) {
            self.was_null = true;
        } else if let Some(r) = self.reader.take() {
            self.out = Some(r.scalar(s));
        }
    }

    fn object(&mut self, map: &mut dyn Entries<'de>) -> Result<(), Stop> {
        if let Some(r) = self.reader.take() {
            self.out = Some(r.object(map)?);
        }
        Ok(())
    }

    fn array(&mut self, seq: &mut dyn Elements<'de>) -> Result<(), Stop> {
        if let Some(r) = self.reader.take() {
            self.out = Some(r.array(seq)?);
        }
        Ok(())
    }
}

/// Runs an erased reader over one value of a deserializer, through `deserialize_any` (so that
/// serde_json's recursion limit counts every level).
struct ErasedSeed<'a, 'de>(&'a mut dyn Erased<'de>);

impl<'de> DeserializeSeed<'de> for ErasedSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(Visit(self.0))
    }
}

/// The one visitor: hands each value to the erased reader.
struct Visit<'a, 'de>(&'a mut dyn Erased<'de>);

impl<'de> Visitor<'de> for Visit<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.scalar(Scalar::Null);
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.0.scalar(Scalar::Null);
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.scalar(Scalar::Bool(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.scalar(Scalar::Number(Number::PosInt(v)));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.scalar(Scalar::Number(Number::from_i64(v)));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.scalar(Scalar::Number(Number::Float(v)));
        Ok(())
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.0.scalar(Scalar::Str(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.scalar(Scalar::Str(Cow::Owned(v.to_owned())));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.0.scalar(Scalar::Str(Cow::Owned(v)));
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let mut entries = MapEntries { map, error: None };
        match self.0.object(&mut entries) {
            Ok(()) => Ok(()),
            Err(Stop) => Err(entries.error.unwrap_or_else(stopped)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let mut elements = SeqElements { seq, error: None };
        match self.0.array(&mut elements) {
            Ok(()) => Ok(()),
            Err(Stop) => Err(elements.error.unwrap_or_else(stopped)),
        }
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

impl<'de, A: MapAccess<'de>> Entries<'de> for MapEntries<'de, A> {
    fn next_key(&mut self) -> Result<Option<Cow<'de, str>>, Stop> {
        self.map.next_key_seed(KeySeed).map_err(|e| {
            self.error = Some(e);
            Stop
        })
    }

    fn next_value_into(&mut self, into: &mut dyn Erased<'de>) -> Result<(), Stop> {
        self.map.next_value_seed(ErasedSeed(into)).map_err(|e| {
            self.error = Some(e);
            Stop
        })
    }
}

/// A serde `SeqAccess` as [`Elements`], keeping the serde error it meets.
struct SeqElements<'de, A: SeqAccess<'de>> {
    seq: A,
    error: Option<A::Error>,
}

impl<'de, A: SeqAccess<'de>> Elements<'de> for SeqElements<'de, A> {
    fn next_element_into(&mut self, into: &mut dyn Erased<'de>) -> Result<bool, Stop> {
        match self.seq.next_element_seed(ErasedSeed(into)) {
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

/// Reads a value only to check it (syntax, depth) and tell its kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Skip;

impl<'de> Reader<'de> for Skip {
    type Out = JsonKind;

    fn wrong_kind(self, kind: JsonKind) -> JsonKind {
        kind
    }
}

/// Reads the rest of an object without keeping it.
pub(crate) fn skip_entries<'de>(map: &mut dyn Entries<'de>) -> Result<(), Stop> {
    while map.next_key()?.is_some() {
        map.value(Skip)?;
    }
    Ok(())
}

/// Reads the rest of an array without keeping it.
pub(crate) fn skip_elements<'de>(seq: &mut dyn Elements<'de>) -> Result<(), Stop> {
    while seq.element(Skip)?.is_some() {}
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

/// Runs a reader over JSON text (the whole text: trailing characters are an error). The caller
/// bounds the text's size; serde_json bounds its depth.
pub(crate) fn from_text<'de, R: Reader<'de>>(
    text: &'de str,
    reader: R,
) -> Result<R::Out, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut slot = Slot::new(reader, false);
    ErasedSeed(&mut slot).deserialize(&mut de)?;
    de.end()?;
    slot.answer().map_err(|Stop| stopped())
}

/// Runs a reader over an already parsed value (its keys are unique and sorted already).
pub(crate) fn from_value<'de, R: Reader<'de>>(
    value: &'de serde_json::Value,
    reader: R,
) -> Result<R::Out, serde_json::Error> {
    let mut slot = Slot::new(reader, false);
    ErasedSeed(&mut slot).deserialize(value)?;
    slot.answer().map_err(|Stop| stopped())
}

/// One input field's JSON text, read as one value (the whole text).
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
impl<'de> OneValue<'de> for TextValue<'de> {
    fn read_into(&mut self, into: &mut dyn Erased<'de>) -> Result<(), Stop> {
        ErasedSeed(into).deserialize(&mut self.de).map_err(|e| {
            self.error = Some(e);
            Stop
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NumberOnly;

    impl<'de> Reader<'de> for NumberOnly {
        type Out = Option<Number>;
        fn wrong_kind(self, _: JsonKind) -> Self::Out {
            None
        }
        fn scalar(self, s: Scalar<'de>) -> Self::Out {
            match s {
                Scalar::Number(n) => Some(n),
                _ => None,
            }
        }
    }

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
