//! Reading JSON text straight into typed values: a small hand-written pull reader shared by the
//! proto3 JSON readers ([`super::parse`]), the recording readers (`record`) and the `ffi` op
//! inputs.
//!
//! ```text
//! let mut r = Reader::new(r#"{"a": [1, "x"]}"#);
//! r.open_object()?                 // None: an object was opened (Some(got): another value)
//! r.next_key()? == Some("a")       // a key and its colon; None (and the object closed) at `}`
//! r.open_array()?                  // None: an array was opened
//! r.next_item()? ; r.value()?      // true: another element follows, read it; false: `]` read
//! r.end()                          // after the document: only whitespace may follow
//! ```
//!
//! **Why by hand.** This code ships in the WASM modules, whose size budgets (64 KiB gzipped for
//! the client build) no general JSON library fits, with serde's visitors and the typed readers'
//! glue on top (serde_json alone was a quarter of the client module); and the errors are part of
//! the API: every message names the field (`parameters.metadata.count: …`) and a document that is
//! not JSON gets, byte for byte, the message and position serde_json gives (the messages the
//! earlier `serde_json::Value`-based readers gave, which the test oracle in
//! `fuzz/src/value_oracle.rs` checks on every input). The reader is a few hundred lines with one
//! float parser (`json/float.rs`, correctly rounded like serde_json's `float_roundtrip`).
//!
//! The rules every reader keeps, which the error messages depend on:
//!
//! * **Syntax first.** A reader never stops at a wrong field: it records the error and reads on,
//!   so that a document that is not valid JSON is reported as such, with serde_json's message
//!   and position, wherever a field error sits. Only a syntax error ([`Stop`]) stops reading; the
//!   error itself is kept by the [`Reader`].
//! * **Sorted keys, the last duplicate wins.** An object is judged as if its keys were read in
//!   sorted order after duplicates were merged, the last one winning (what a `serde_json::Map`
//!   holds): the error reported is the one under the smallest key ([`ByKey`]), a repeated key's
//!   earlier value has no effect even when it is wrong, and of two spellings of one field the
//!   later-sorting one wins ([`Spellings`]).
//! * **Bounded.** Every value, skipped ones included, is read in full (strings, escapes and
//!   numbers checked), and nesting deeper than serde_json's limit (128 levels, every value
//!   counted) is an error, never a stack overflow. Callers bound the text's size
//!   ([`super::MAX_JSON_INPUT_BYTES`]).

use crate::prelude::*;

use alloc::borrow::Cow;
use core::fmt;

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

/// A JSON number as serde_json reads it: a non-negative integer, a negative integer, or a float
/// (the three forms of `serde_json::Number`, with the same conversions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    PosInt(u64),
    NegInt(i64),
    Float(f64),
}

impl Number {
    /// `serde_json::Number::as_i64`.
    pub(crate) fn as_i64(self) -> Option<i64> {
        match self {
            Number::PosInt(u) => i64::try_from(u).ok(),
            Number::NegInt(i) => Some(i),
            Number::Float(_) => None,
        }
    }

    /// `serde_json::Number::as_u64` (the `ffi` op inputs' byte counts).
    #[cfg(feature = "ffi")]
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

    /// Appends the number as serde_json writes it (error messages quote numbers): integers in
    /// decimal, floats in their shortest round-trip form (`1.5`, `1e+300`, `-0.0`).
    pub(crate) fn write(self, out: &mut String) {
        match self {
            Number::PosInt(u) => out.push_str(itoa::Buffer::new().format(u)),
            Number::NegInt(i) => out.push_str(itoa::Buffer::new().format(i)),
            Number::Float(f) if f.is_finite() => {
                // serde_json writes floats with `zmij`, whose digits and layout are ryu's but
                // with a `+` in a positive exponent (`1e+300` where ryu writes `1e300`); a test
                // in `tests/tests/json_readers.rs` compares the two on many values.
                let mut buffer = ryu::Buffer::new();
                let text = buffer.format_finite(f);
                match text.split_once('e') {
                    Some((digits, exponent)) if !exponent.starts_with('-') => {
                        out.push_str(digits);
                        out.push_str("e+");
                        out.push_str(exponent);
                    }
                    _ => out.push_str(text),
                }
            }
            // Not reached: JSON text holds no NaN or infinity.
            Number::Float(_) => out.push_str("null"),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.write(&mut out);
        f.write_str(&out)
    }
}

/// A JSON value that is not an object or an array.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Number(Number),
    /// Borrowed from the input when it has no escapes.
    Str(Cow<'a, str>),
}

/// What a value was: a scalar, or the kind of an object or array (opened for the caller, or read
/// through and skipped, depending on the method that answered).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Got<'a> {
    Scalar(Scalar<'a>),
    Object,
    Array,
}

impl Got<'_> {
    /// The kind of the value.
    pub(crate) fn kind(&self) -> JsonKind {
        match self {
            Got::Scalar(Scalar::Null) => JsonKind::Null,
            Got::Scalar(Scalar::Bool(_)) => JsonKind::Bool,
            Got::Scalar(Scalar::Number(_)) => JsonKind::Number,
            Got::Scalar(Scalar::Str(_)) => JsonKind::String,
            Got::Object => JsonKind::Object,
            Got::Array => JsonKind::Array,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Got::Scalar(Scalar::Null))
    }
}

/// What is wrong with a document that is not JSON, in serde_json's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    EofWhileParsingList,
    EofWhileParsingObject,
    EofWhileParsingString,
    EofWhileParsingValue,
    ExpectedColon,
    ExpectedListCommaOrEnd,
    ExpectedObjectCommaOrEnd,
    ExpectedSomeIdent,
    ExpectedSomeValue,
    InvalidEscape,
    InvalidNumber,
    NumberOutOfRange,
    ControlCharacterWhileParsingString,
    KeyMustBeAString,
    LoneLeadingSurrogateInHexEscape,
    TrailingComma,
    TrailingCharacters,
    UnexpectedEndOfHexEscape,
    RecursionLimitExceeded,
}

impl Code {
    fn message(self) -> &'static str {
        match self {
            Code::EofWhileParsingList => "EOF while parsing a list",
            Code::EofWhileParsingObject => "EOF while parsing an object",
            Code::EofWhileParsingString => "EOF while parsing a string",
            Code::EofWhileParsingValue => "EOF while parsing a value",
            Code::ExpectedColon => "expected `:`",
            Code::ExpectedListCommaOrEnd => "expected `,` or `]`",
            Code::ExpectedObjectCommaOrEnd => "expected `,` or `}`",
            Code::ExpectedSomeIdent => "expected ident",
            Code::ExpectedSomeValue => "expected value",
            Code::InvalidEscape => "invalid escape",
            Code::InvalidNumber => "invalid number",
            Code::NumberOutOfRange => "number out of range",
            Code::ControlCharacterWhileParsingString => {
                "control character (\\u0000-\\u001F) found while parsing a string"
            }
            Code::KeyMustBeAString => "key must be a string",
            Code::LoneLeadingSurrogateInHexEscape => "lone leading surrogate in hex escape",
            Code::TrailingComma => "trailing comma",
            Code::TrailingCharacters => "trailing characters",
            Code::UnexpectedEndOfHexEscape => "unexpected end of hex escape",
            Code::RecursionLimitExceeded => "recursion limit exceeded",
        }
    }
}

/// A document that is not JSON: what and where (1-based line, column counted in bytes from the
/// line's start), written as serde_json writes its errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    code: Code,
    line: usize,
    column: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.code.message(),
            self.line,
            self.column
        )
    }
}

/// Reading stopped on a syntax error. The error itself is kept by the [`Reader`] (see
/// [`Reader::end`], [`document`]), so readers only pass this marker up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stop;

/// serde_json's nesting limit: 128 levels are refused (127 are read).
const MAX_DEPTH: u8 = 128;

/// A pull reader over one JSON text (see the module docs for the calls).
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
    /// Levels left before the limit (serde_json's `remaining_depth`).
    depth: u8,
    /// Whether the object or array opened last has had no entry yet.
    first: bool,
    error: Option<SyntaxError>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Reader {
            text,
            pos: 0,
            depth: MAX_DEPTH,
            first: false,
            error: None,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// The error for a byte already read: positioned after it (serde_json's `error`).
    #[cold]
    fn error(&mut self, code: Code) -> Stop {
        self.fail(code, self.pos)
    }

    /// The error for the byte not yet read: positioned on it (serde_json's `peek_error`).
    #[cold]
    fn peek_error(&mut self, code: Code) -> Stop {
        self.fail(code, (self.pos + 1).min(self.text.len()))
    }

    #[cold]
    fn fail(&mut self, code: Code, at: usize) -> Stop {
        let before = self.text.as_bytes().get(..at).unwrap_or_default();
        let start_of_line = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + before
            .get(..start_of_line)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        // Only the first error counts (nothing reads on after one).
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                code,
                line,
                column: at - start_of_line,
            });
        }
        Stop
    }

    /// The next byte that is not whitespace (not consumed).
    #[inline]
    fn skip_whitespace(&mut self) -> Option<u8> {
        loop {
            match self.peek() {
                Some(b' ' | b'\n' | b'\t' | b'\r') => self.pos += 1,
                other => return other,
            }
        }
    }

    /// The next value: a scalar, or an object or array **opened** (`Got::Object` / `Got::Array`:
    /// the caller reads its entries with [`Reader::next_key`] / [`Reader::next_item`], to the end).
    pub(crate) fn open(&mut self) -> Result<Got<'a>, Stop> {
        let Some(b) = self.skip_whitespace() else {
            return Err(self.peek_error(Code::EofWhileParsingValue));
        };
        let scalar = match b {
            b'"' => {
                self.pos += 1;
                Scalar::Str(self.string()?)
            }
            b'{' | b'[' => {
                self.depth -= 1;
                if self.depth == 0 {
                    return Err(self.peek_error(Code::RecursionLimitExceeded));
                }
                self.pos += 1;
                self.first = true;
                return Ok(if b == b'{' { Got::Object } else { Got::Array });
            }
            b'n' => {
                self.pos += 1;
                self.ident(b"ull")?;
                Scalar::Null
            }
            b't' => {
                self.pos += 1;
                self.ident(b"rue")?;
                Scalar::Bool(true)
            }
            b'f' => {
                self.pos += 1;
                self.ident(b"alse")?;
                Scalar::Bool(false)
            }
            b'-' => {
                self.pos += 1;
                Scalar::Number(self.number(false, true)?)
            }
            b'0'..=b'9' => Scalar::Number(self.number(true, true)?),
            _ => return Err(self.peek_error(Code::ExpectedSomeValue)),
        };
        Ok(Got::Scalar(scalar))
    }

    /// The next value, objects and arrays read through (checked) and skipped.
    pub(crate) fn value(&mut self) -> Result<Got<'a>, Stop> {
        let got = self.open()?;
        match got {
            Got::Object => self.skip_entries()?,
            Got::Array => self.skip_items()?,
            Got::Scalar(_) => {}
        }
        Ok(got)
    }

    /// The next value when it is a string (owned: one copy at its final size) or `null`
    /// (`None`), the common case of text fields, without going through [`Got`]; any other value
    /// is read through as [`Reader::value`] reads it and answered as `Err`.
    pub(crate) fn text_or_null(&mut self) -> Result<Result<Option<String>, Got<'a>>, Stop> {
        match self.skip_whitespace() {
            Some(b'"') => {
                self.pos += 1;
                Ok(Ok(Some(self.string()?.into_owned())))
            }
            Some(b'n') => {
                self.pos += 1;
                self.ident(b"ull")?;
                Ok(Ok(None))
            }
            _ => self.value().map(Err),
        }
    }

    /// Reads the next value through, checking it as [`Reader::value`] does (the same errors at
    /// the same places) but keeping nothing: strings are not copied, numbers are not converted
    /// unless they could be out of range.
    pub(crate) fn skip(&mut self) -> Result<(), Stop> {
        match self.skip_whitespace() {
            Some(b'"') => {
                self.pos += 1;
                self.skip_string()
            }
            Some(b'-') => {
                self.pos += 1;
                self.number(false, false).map(drop)
            }
            Some(b'0'..=b'9') => self.number(true, false).map(drop),
            _ => match self.open()? {
                Got::Object => self.skip_entries(),
                Got::Array => self.skip_items(),
                Got::Scalar(_) => Ok(()),
            },
        }
    }

    /// A string after its opening quote, checked (escapes included) and not kept.
    fn skip_string(&mut self) -> Result<(), Stop> {
        let bytes = self.text.as_bytes();
        loop {
            let i = special_byte(bytes, self.pos);
            self.pos = i + 1;
            match bytes.get(i) {
                Some(b'"') => return Ok(()),
                Some(b'\\') => {
                    // Escapes are rare: checked by the reading code, into a scratch string.
                    let mut scratch = String::new();
                    self.escape(&mut scratch)?;
                }
                Some(_) => return Err(self.error(Code::ControlCharacterWhileParsingString)),
                None => {
                    self.pos = bytes.len();
                    return Err(self.error(Code::EofWhileParsingString));
                }
            }
        }
    }

    /// The next value: `None` when it is an object, now opened; else `Some` of what it was
    /// (an array read through).
    pub(crate) fn open_object(&mut self) -> Result<Option<Got<'a>>, Stop> {
        Ok(match self.open()? {
            Got::Object => None,
            Got::Array => {
                self.skip_items()?;
                Some(Got::Array)
            }
            scalar => Some(scalar),
        })
    }

    /// The next value: `None` when it is an array, now opened; else `Some` of what it was (an
    /// object read through).
    pub(crate) fn open_array(&mut self) -> Result<Option<Got<'a>>, Stop> {
        Ok(match self.open()? {
            Got::Array => None,
            Got::Object => {
                self.skip_entries()?;
                Some(Got::Object)
            }
            scalar => Some(scalar),
        })
    }

    /// In an opened object: the next key (its colon read too; its value is next), or `None`
    /// when the object ends (closed).
    pub(crate) fn next_key(&mut self) -> Result<Option<Cow<'a, str>>, Stop> {
        let Some(b) = self.skip_whitespace() else {
            return Err(self.peek_error(Code::EofWhileParsingObject));
        };
        if b == b'}' {
            self.close();
            return Ok(None);
        }
        if self.first {
            self.first = false;
            if b != b'"' {
                return Err(self.peek_error(Code::KeyMustBeAString));
            }
        } else if b == b',' {
            self.pos += 1;
            match self.skip_whitespace() {
                Some(b'"') => {}
                Some(b'}') => return Err(self.peek_error(Code::TrailingComma)),
                Some(_) => return Err(self.peek_error(Code::KeyMustBeAString)),
                None => return Err(self.peek_error(Code::EofWhileParsingValue)),
            }
        } else {
            return Err(self.peek_error(Code::ExpectedObjectCommaOrEnd));
        }
        self.pos += 1;
        let key = self.string()?;
        // serde_json reads the colon when the value is asked for; nothing is read in between,
        // so reading it here gives the same errors at the same places.
        match self.skip_whitespace() {
            Some(b':') => self.pos += 1,
            Some(_) => return Err(self.peek_error(Code::ExpectedColon)),
            None => return Err(self.peek_error(Code::EofWhileParsingObject)),
        }
        Ok(Some(key))
    }

    /// In an opened array: whether another element follows (read it next), or `false` when the
    /// array ends (closed).
    pub(crate) fn next_item(&mut self) -> Result<bool, Stop> {
        let Some(b) = self.skip_whitespace() else {
            return Err(self.peek_error(Code::EofWhileParsingList));
        };
        if b == b']' {
            self.close();
            return Ok(false);
        }
        if self.first {
            self.first = false;
            return Ok(true);
        }
        if b != b',' {
            return Err(self.peek_error(Code::ExpectedListCommaOrEnd));
        }
        self.pos += 1;
        match self.skip_whitespace() {
            Some(b']') => Err(self.peek_error(Code::TrailingComma)),
            Some(_) => Ok(true),
            None => Err(self.peek_error(Code::EofWhileParsingValue)),
        }
    }

    /// The closing `}` or `]` (already peeked).
    fn close(&mut self) {
        self.pos += 1;
        // The enclosing object or array has had an entry: the one just closed.
        self.first = false;
        self.depth += 1;
    }

    /// Reads the rest of an opened object without keeping it.
    pub(crate) fn skip_entries(&mut self) -> Result<(), Stop> {
        while self.next_key()?.is_some() {
            self.skip()?;
        }
        Ok(())
    }

    /// Reads the rest of an opened array without keeping it.
    pub(crate) fn skip_items(&mut self) -> Result<(), Stop> {
        while self.next_item()? {
            self.skip()?;
        }
        Ok(())
    }

    /// After the document's value: only whitespace may follow. Answers the syntax error that
    /// stopped reading, if one did.
    pub(crate) fn end(&mut self, read: Result<(), Stop>) -> Result<(), SyntaxError> {
        if read.is_ok() && self.skip_whitespace().is_some() {
            self.peek_error(Code::TrailingCharacters);
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn ident(&mut self, rest: &[u8]) -> Result<(), Stop> {
        for &expected in rest {
            match self.peek() {
                None => return Err(self.error(Code::EofWhileParsingValue)),
                Some(b) => {
                    self.pos += 1;
                    if b != expected {
                        return Err(self.error(Code::ExpectedSomeIdent));
                    }
                }
            }
        }
        Ok(())
    }

    /// A string's contents, after its opening quote: borrowed from the text unless it has
    /// escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, Stop> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let i = special_byte(bytes, start);
        match bytes.get(i) {
            Some(b'"') => {
                self.pos = i + 1;
                // Between two ASCII bytes: always on character boundaries.
                return Ok(Cow::Borrowed(self.text.get(start..i).unwrap_or_default()));
            }
            Some(b'\\') => {}
            Some(_) => {
                self.pos = i + 1;
                return Err(self.error(Code::ControlCharacterWhileParsingString));
            }
            None => {
                self.pos = bytes.len();
                return Err(self.error(Code::EofWhileParsingString));
            }
        }
        let mut out = String::with_capacity(i - start + 16);
        self.pos = start;
        loop {
            let segment = self.pos;
            let i = special_byte(bytes, segment);
            out.push_str(self.text.get(segment..i).unwrap_or_default());
            self.pos = i + 1;
            match bytes.get(i) {
                Some(b'"') => return Ok(Cow::Owned(out)),
                Some(b'\\') => self.escape(&mut out)?,
                Some(_) => return Err(self.error(Code::ControlCharacterWhileParsingString)),
                None => {
                    self.pos = bytes.len();
                    return Err(self.error(Code::EofWhileParsingString));
                }
            }
        }
    }

    /// One escape, after its backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), Stop> {
        let Some(b) = self.peek() else {
            return Err(self.error(Code::EofWhileParsingString));
        };
        self.pos += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => self.unicode_escape()?,
            _ => return Err(self.error(Code::InvalidEscape)),
        };
        out.push(c);
        Ok(())
    }

    /// The character of a `\u` escape (a surrogate pair: two escapes), after the `u`.
    fn unicode_escape(&mut self) -> Result<char, Stop> {
        let n = self.hex4()?;
        if (0xDC00..=0xDFFF).contains(&n) {
            return Err(self.error(Code::LoneLeadingSurrogateInHexEscape));
        }
        if !(0xD800..=0xDBFF).contains(&n) {
            // Outside the surrogates: always a character.
            return char::from_u32(n).ok_or_else(|| self.error(Code::InvalidEscape));
        }
        for expected in [b'\\', b'u'] {
            match self.peek() {
                None => return Err(self.error(Code::EofWhileParsingString)),
                Some(b) => {
                    self.pos += 1;
                    if b != expected {
                        return Err(self.error(Code::UnexpectedEndOfHexEscape));
                    }
                }
            }
        }
        let n2 = self.hex4()?;
        if !(0xDC00..=0xDFFF).contains(&n2) {
            return Err(self.error(Code::LoneLeadingSurrogateInHexEscape));
        }
        char::from_u32((((n - 0xD800) << 10) | (n2 - 0xDC00)) + 0x1_0000)
            .ok_or_else(|| self.error(Code::InvalidEscape))
    }

    fn hex4(&mut self) -> Result<u32, Stop> {
        let Some(digits) = self.text.as_bytes().get(self.pos..self.pos + 4) else {
            self.pos = self.text.len();
            return Err(self.error(Code::EofWhileParsingString));
        };
        self.pos += 4;
        let mut n = 0;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.error(Code::InvalidEscape)),
            };
            n = n << 4 | u32::from(v);
        }
        Ok(n)
    }

    #[inline]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// A number, after its sign. The grammar, the integer forms and the errors (with their
    /// positions) are serde_json's; a float's value is `json::float::parse_f64` of its text
    /// (`str::parse::<f64>`'s value), which is correctly rounded as serde_json's
    /// `float_roundtrip` parser is.
    ///
    /// Without `keep` (skipping), a float's value is only computed when it could be out of range
    /// (its magnitude reaches 1e308); the answer is then a placeholder.
    fn number(&mut self, positive: bool, keep: bool) -> Result<Number, Stop> {
        let start = if positive { self.pos } else { self.pos - 1 };
        match self.peek() {
            None => return Err(self.error(Code::EofWhileParsingValue)),
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.peek_error(Code::InvalidNumber));
                }
            }
            Some(b'1'..=b'9') => {
                self.pos += 1;
                self.digits();
            }
            Some(_) => {
                self.pos += 1;
                return Err(self.error(Code::InvalidNumber));
            }
        }
        let int_end = self.pos;
        let mut is_float = false;
        let mut exponent_value: i32 = 0;
        if self.peek() == Some(b'.') {
            is_float = true;
            self.pos += 1;
            match self.peek() {
                Some(b'0'..=b'9') => self.digits(),
                Some(_) => return Err(self.peek_error(Code::InvalidNumber)),
                None => return Err(self.peek_error(Code::EofWhileParsingValue)),
            }
        }
        let mantissa_end = self.pos;
        if let Some(b'e' | b'E') = self.peek() {
            is_float = true;
            let mantissa = self
                .text
                .as_bytes()
                .get(start..self.pos)
                .unwrap_or_default();
            self.pos += 1;
            let positive_exponent = match self.peek() {
                Some(b'+') => {
                    self.pos += 1;
                    true
                }
                Some(b'-') => {
                    self.pos += 1;
                    false
                }
                _ => true,
            };
            let mut exponent: i32 = match self.peek() {
                None => return Err(self.error(Code::EofWhileParsingValue)),
                Some(d @ b'0'..=b'9') => {
                    self.pos += 1;
                    i32::from(d - b'0')
                }
                Some(_) => {
                    self.pos += 1;
                    return Err(self.error(Code::InvalidNumber));
                }
            };
            while let Some(d @ b'0'..=b'9') = self.peek() {
                self.pos += 1;
                match exponent
                    .checked_mul(10)
                    .and_then(|e| e.checked_add(i32::from(d - b'0')))
                {
                    Some(e) => exponent = e,
                    None => {
                        // An exponent past i32: serde_json refuses it right there unless the
                        // value is zero (all digits zero, or a negative exponent).
                        let zero = mantissa.iter().all(|&b| !matches!(b, b'1'..=b'9'));
                        if positive_exponent && !zero {
                            return Err(self.error(Code::NumberOutOfRange));
                        }
                        self.digits();
                        return Ok(Number::Float(if positive { 0.0 } else { -0.0 }));
                    }
                }
            }
            exponent_value = if positive_exponent {
                exponent
            } else {
                -exponent
            };
        }
        if !is_float {
            let digits = self.text.as_bytes().get(start..int_end).unwrap_or_default();
            let digits = if positive {
                digits
            } else {
                digits.get(1..).unwrap_or_default()
            };
            let mut significand: u64 = 0;
            let mut fits = true;
            for &d in digits {
                match significand
                    .checked_mul(10)
                    .and_then(|s| s.checked_add(u64::from(d - b'0')))
                {
                    Some(s) => significand = s,
                    None => {
                        fits = false;
                        break;
                    }
                }
            }
            if fits {
                if positive {
                    return Ok(Number::PosInt(significand));
                }
                // serde_json: a float for `-0` and below i64::MIN.
                let negated = (significand as i64).wrapping_neg();
                return Ok(if negated >= 0 {
                    Number::Float(-(significand as f64))
                } else {
                    Number::NegInt(negated)
                });
            }
        }
        let text = self.text.get(start..self.pos).unwrap_or_default();
        if !keep && below_1e308(text) {
            return Ok(Number::Float(0.0));
        }
        let mantissa = self.text.get(start..mantissa_end).unwrap_or_default();
        if let Some(f) = exact_float(mantissa, exponent_value) {
            return Ok(Number::Float(if positive { f } else { -f }));
        }
        match super::float::parse_f64(text) {
            Some(f) if f.is_finite() => Ok(Number::Float(f)),
            _ => Err(self.error(Code::NumberOutOfRange)),
        }
    }
}

/// Powers of ten that a double holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The value of a number's mantissa (`-?digits[.digits]`) times ten to `exponent`, when one
/// correctly rounded operation computes it: digits that fit 2^53 and a power of ten a double
/// holds exactly (Clinger's fast path, the first thing `str::parse::<f64>` tries too; the common
/// `412.5` needs no more, and going through `str::parse` for it cost a tenth of a recording's
/// reading). `None` otherwise: `str::parse` then decides. The magnitude, without the sign.
fn exact_float(mantissa: &str, exponent: i32) -> Option<f64> {
    let mut digits: u64 = 0;
    let mut fraction: i32 = 0;
    let mut after_point = false;
    for b in mantissa.bytes() {
        match b {
            b'0'..=b'9' => {
                digits = digits * 10 + u64::from(b - b'0');
                if digits > 1 << 53 {
                    return None;
                }
                fraction += i32::from(after_point);
            }
            b'.' => after_point = true,
            _ => {}
        }
    }
    let power = exponent.checked_sub(fraction)?;
    let scale = EXACT_POWERS_OF_TEN.get(usize::try_from(power.unsigned_abs()).ok()?)?;
    let value = digits as f64;
    Some(if power >= 0 {
        value * scale
    } else {
        value / scale
    })
}

/// Whether a number's text (valid JSON grammar) is surely below 1e308 in magnitude, so finite:
/// its decimal exponent, from the digits before the point and the exponent part, is below 308.
fn below_1e308(text: &str) -> bool {
    let text = text.trim_start_matches('-');
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (
            text.get(..i).unwrap_or_default(),
            text.get(i + 1..).unwrap_or_default(),
        ),
        None => (text, "0"),
    };
    let int_digits = mantissa.find('.').unwrap_or(mantissa.len());
    match exponent.parse::<i64>() {
        // Integral digits beyond the first, plus the exponent.
        Ok(e) => (int_digits as i64 - 1).saturating_add(e) < 307,
        Err(_) => false,
    }
}

/// The position of the first `"`, `\\` or control character at or after `i` (`bytes.len()` if
/// none): eight bytes at a time (the word trick serde_json uses too; the lowest byte flagged is
/// always a true match).
#[inline]
fn special_byte(bytes: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let control = v.wrapping_sub(ONES * 0x20) & !v;
        let quote = v ^ (ONES * u64::from(b'"'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = v ^ (ONES * u64::from(b'\\'));
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        let found = (control | quote | backslash) & HIGH;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

/// Reads a whole JSON text with `read` (trailing characters are an error): its answer, or the
/// syntax error that stopped it.
pub(crate) fn document<'a, T>(
    text: &'a str,
    read: impl FnOnce(&mut Reader<'a>) -> Result<T, Stop>,
) -> Result<T, SyntaxError> {
    let mut r = Reader::new(text);
    match read(&mut r) {
        Ok(v) => r.end(Ok(())).map(|()| v),
        Err(Stop) => Err(r
            .end(Err(Stop))
            .err()
            // Not reached: a `Stop` comes with its error.
            .unwrap_or(SyntaxError {
                code: Code::ExpectedSomeValue,
                line: 1,
                column: 0,
            })),
    }
}

/// The latest of something (an error, a value) per key of one object: a later value of the
/// same key replaces an earlier one, [`ByKey::clear`] forgets it, and [`ByKey::first`] is the
/// smallest key's, as when the merged object is read in sorted key order. Allocates only when
/// used: a log of what happened, sorted once at the end (so a hostile object with a million wrong
/// keys costs `n log n`, and no map type is compiled for it).
#[derive(Debug)]
pub(crate) struct ByKey<T> {
    keys: Vec<String>,
    values: Vec<Option<T>>,
}

impl<T> Default for ByKey<T> {
    fn default() -> Self {
        ByKey {
            keys: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl<T> ByKey<T> {
    /// `key` has nothing (any more). Called for every good field, so the common case (nothing
    /// kept yet: nothing to forget) is inlined at the call and the rest is out of line.
    #[inline(always)]
    pub(crate) fn clear(&mut self, key: &str) {
        if !self.keys.is_empty() {
            self.forget(key);
        }
    }

    #[inline(never)]
    fn forget(&mut self, key: &str) {
        self.keys.push(key.to_owned());
        self.values.push(None);
    }

    /// `key`'s latest is `value`.
    pub(crate) fn insert(&mut self, key: &str, value: T) {
        self.keys.push(key.to_owned());
        self.values.push(Some(value));
    }

    /// Whether nothing was kept (the log is empty).
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
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
        if self.keys.is_empty() {
            return None;
        }
        self.into_sorted().next().map(|(_, v)| v)
    }

    /// What each key has, in sorted key order.
    pub(crate) fn into_sorted(self) -> impl Iterator<Item = (String, T)> {
        let order = last_per_key(&self.keys.iter().map(String::as_str).collect::<Vec<_>>());
        let mut keys: Vec<Option<String>> = self.keys.into_iter().map(Some).collect();
        let mut values = self.values;
        order.into_iter().filter_map(move |i| {
            let value = values.get_mut(i).and_then(Option::take)?;
            Some((keys.get_mut(i).and_then(Option::take)?, value))
        })
    }
}

/// The positions of each key's last occurrence in `keys`, in sorted key order.
pub(crate) fn last_per_key(keys: &[&str]) -> Vec<usize> {
    let key = |i: usize| keys.get(i).copied().unwrap_or_default();
    let order = crate::order::by_key(keys);
    let mut last = Vec::with_capacity(order.len());
    for (n, &i) in order.iter().enumerate() {
        if order.get(n + 1).is_none_or(|&next| key(next) != key(i)) {
            last.push(i);
        }
    }
    last
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
    /// The slot of the first spelling, or of the second.
    pub(crate) fn slot(&mut self, second: bool) -> &mut Option<T> {
        if second {
            &mut self.second
        } else {
            &mut self.first
        }
    }

    /// The winning value.
    pub(crate) fn get(self) -> Option<T> {
        self.second.or(self.first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(text: &str) -> Result<Got<'_>, String> {
        document(text, |r| r.value()).map_err(|e| e.to_string())
    }

    #[test]
    fn numbers_read_and_print_as_serde_json_does() {
        for (text, want, shown) in [
            ("0", Number::PosInt(0), "0"),
            ("42", Number::PosInt(42), "42"),
            ("-7", Number::NegInt(-7), "-7"),
            (
                "18446744073709551615",
                Number::PosInt(u64::MAX),
                "18446744073709551615",
            ),
            (
                "-9223372036854775808",
                Number::NegInt(i64::MIN),
                "-9223372036854775808",
            ),
            (
                "-9223372036854775809",
                Number::Float(-9223372036854775809.0),
                "-9.223372036854776e+18",
            ),
            ("1.5", Number::Float(1.5), "1.5"),
            ("-0", Number::Float(-0.0), "-0.0"),
            ("1e300", Number::Float(1e300), "1e+300"),
            ("1E-7", Number::Float(1e-7), "1e-7"),
            (
                "12345678901234567890123",
                Number::Float(1.2345678901234568e22),
                "1.2345678901234568e+22",
            ),
            ("0e99999999999", Number::Float(0.0), "0.0"),
            ("-1e-99999999999", Number::Float(-0.0), "-0.0"),
        ] {
            let Ok(Got::Scalar(Scalar::Number(n))) = scalar(text) else {
                panic!("{text} is not a number");
            };
            assert_eq!(n, want, "{text}");
            assert_eq!(n.to_string(), shown, "{text}");
        }
    }

    /// The value read, as a `serde_json::Value` (for comparing with serde_json).
    fn to_json(r: &mut Reader<'_>) -> Result<serde_json::Value, Stop> {
        use serde_json::Value as Json;
        Ok(match r.open()? {
            Got::Scalar(Scalar::Null) => Json::Null,
            Got::Scalar(Scalar::Bool(b)) => Json::Bool(b),
            Got::Scalar(Scalar::Number(Number::PosInt(u))) => u.into(),
            Got::Scalar(Scalar::Number(Number::NegInt(i))) => i.into(),
            Got::Scalar(Scalar::Number(Number::Float(f))) => {
                serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
            }
            Got::Scalar(Scalar::Str(s)) => Json::String(s.into_owned()),
            Got::Array => {
                let mut items = Vec::new();
                while r.next_item()? {
                    items.push(to_json(r)?);
                }
                Json::Array(items)
            }
            Got::Object => {
                let mut map = serde_json::Map::new();
                while let Some(k) = r.next_key()? {
                    let v = to_json(r)?;
                    map.insert(k.into_owned(), v);
                }
                Json::Object(map)
            }
        })
    }

    /// The reader and serde_json agree on `text`: the same value, or the same error message.
    fn agrees_with_serde_json(text: &str) {
        let ours = document(text, to_json).map_err(|e| e.to_string());
        let theirs = serde_json::from_str::<serde_json::Value>(text).map_err(|e| e.to_string());
        assert_eq!(ours, theirs, "{text:?}");
        // Skipping checks exactly as reading does.
        let skipped = document(text, |r| r.skip()).map_err(|e| e.to_string());
        assert_eq!(skipped, theirs.clone().map(drop), "skipping {text:?}");
        // Numbers print as serde_json prints them.
        if let Ok(serde_json::Value::Number(n)) = &theirs {
            let Ok(Got::Scalar(Scalar::Number(ours))) = document(text, |r| r.value()) else {
                panic!("{text:?} is not a number");
            };
            assert_eq!(ours.to_string(), n.to_string(), "{text:?}");
        }
    }

    #[test]
    fn syntax_errors_and_values_are_serde_json_s() {
        for text in [
            "",
            " ",
            "[1,]",
            "[1,",
            "[1 2]",
            "[",
            "[,1]",
            "{",
            "{,}",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{\"a\":1,",
            "{\"a\":1 \"b\":2}",
            "{\"a\"",
            "{\"a\":",
            "{1:2}",
            "{\"a\":1,2:3}",
            "1e400",
            "-1e400",
            "1e9999999999",
            "1e-9999999999",
            "0e9999999999",
            "-0.0e99999999999",
            "1.5e2147483647",
            "1e2147483648",
            "123456789012345678901234567890",
            "-123456789012345678901234567890",
            "18446744073709551616",
            "-9223372036854775809",
            "-0",
            "0.1e-400",
            "1E+2",
            "01",
            "-01",
            "1.",
            "1.e5",
            "1.5e",
            "1.5e+",
            "1.5ex",
            "-",
            "-x",
            "--1",
            "+1",
            ".5",
            "nul",
            "nulx",
            "tru",
            "truex",
            "falsy",
            "\"abc",
            "\"a\nb\"",
            "\"a\u{1}b\"",
            "\"\\x\"",
            "\"\\",
            "\"\\u12\"",
            "\"\\u12",
            "\"\\u12g4\"",
            "\"\\ud800\"",
            "\"\\ud800x\"",
            "\"\\ud800\\x\"",
            "\"\\ud800\\u0041\"",
            "\"\\ud800\\udc00\"",
            "\"\\udc00\"",
            "\"\\ud800",
            "\"\\ud800\\",
            "\"é\\u00e9\"",
            "[1] x",
            "[1]\n\n  x",
            "{\"a\":\n[1,\n2,]}",
            "{\"a\":1,\"a\":2}",
            "[true,false,null,\"\",{},[]]",
        ] {
            agrees_with_serde_json(text);
        }
        // Near the largest double, and long integers (skipping checks their range too).
        for text in [
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "-1.7976931348623159e308",
            "179769313486231570000e288",
            "0.00000000000000000000017976931348623159e330",
            "1e307",
            "9.99e307",
        ] {
            agrees_with_serde_json(text);
        }
        agrees_with_serde_json(&format!("1{}", "0".repeat(400)));
        agrees_with_serde_json(&format!("[1{}]", "0".repeat(300)));
    }

    #[test]
    fn floats_are_str_parse_s() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..300_000 {
            let int = next() % [10, 1000, 1 << 53, u64::MAX][(next() % 4) as usize];
            let frac = next() % 1_000_000_000_000;
            let text = match next() % 4 {
                0 => format!("{int}.{frac}"),
                1 => format!("{int}.{frac:0>12}e{}", next() % 60),
                2 => format!("-0.{frac}e-{}", next() % 40),
                _ => format!("{int}e{}", (next() % 50) as i64 - 25),
            };
            let Ok(Got::Scalar(Scalar::Number(n))) = document(&text, |r| r.value()) else {
                panic!("{text} is not a number");
            };
            let want: f64 = text.parse().unwrap();
            assert_eq!(n.as_f64().to_bits(), want.to_bits(), "{text}");
        }
    }

    #[test]
    fn generated_texts_get_serde_json_s_answers() {
        // Short texts over JSON's own characters: every error path, at every position.
        const PIECES: [&str; 32] = [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\\",
            "u",
            "d8",
            "dc",
            "00",
            "0",
            "1",
            "9",
            ".",
            "e",
            "E",
            "+",
            "-",
            "null",
            "true",
            "f",
            "a",
            " ",
            "\n",
            "\"k\"",
            "\"v\":",
            "\\u",
            "\t",
            "é",
            "12345678901234567890",
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            let mut text = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 12) as usize;
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                text.push_str(PIECES[(x % PIECES.len() as u64) as usize]);
            }
            agrees_with_serde_json(&text);
        }
    }

    #[test]
    fn specials_are_found_at_every_offset() {
        for len in 0..40 {
            for at in 0..=len {
                for special in ["\"", "\\n", "\\", "\n", "\u{1f}", "é"] {
                    let body: String = (0..len)
                        .map(|i| if i == at { special } else { "a" })
                        .collect();
                    agrees_with_serde_json(&format!("\"{body}\""));
                    agrees_with_serde_json(&format!("\"{body}"));
                }
            }
        }
    }

    #[test]
    fn depth_is_bounded_as_serde_json_bounds_it() {
        let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert!(scalar(&ok).is_ok());
        let deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!(
            scalar(&deep).unwrap_err(),
            "recursion limit exceeded at line 1 column 128"
        );
        let very = "[".repeat(100_000);
        assert!(scalar(&very).unwrap_err().starts_with("recursion limit"));
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        assert_eq!(
            scalar(r#""plain""#).unwrap(),
            Got::Scalar(Scalar::Str(Cow::Borrowed("plain")))
        );
        let Got::Scalar(Scalar::Str(s)) = scalar(r#""a\n\u00e9\ud83d\ude00\/""#).unwrap() else {
            panic!("not a string");
        };
        assert!(matches!(s, Cow::Owned(_)));
        assert_eq!(s, "a\né😀/");
    }

    #[test]
    fn by_key_gives_the_smallest_key_of_the_latest_values() {
        let mut errors = ByKey::default();
        errors.insert("b", "b is wrong");
        errors.insert("a", "a is wrong");
        errors.clear("a");
        errors.insert("c", "c is wrong");
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
