//! proto3 JSON in, Go-identical protojson out.
//!
//! ```
//! let event = telemetry_core::json::parse_event(r#"{"id":"e1","parameters":{"metadata":{"n":1}}}"#)?;
//! assert_eq!(event.parameters.unwrap().metadata["n"], 1.0);
//! let e = telemetry_core::json::parse_event(r#"{"parameters":{"metadata":{"n":"x"}}}"#).unwrap_err();
//! assert_eq!(e.to_string(), r#"invalid event: parameters.metadata.n: "x" is not a double"#);
//! # Ok::<(), telemetry_core::JsonError>(())
//! ```
//!
//! * [`parse_event`], [`parse_metadata`] (and, with the `json-value` feature, the `*_value`
//!   variants over a parsed `serde_json::Value`) read the proto3 JSON mapping of
//!   `telemetrygateway.v1`: lowerCamelCase or original field names, int64 as a string or a
//!   number, RFC 3339 timestamps, `Struct` as a plain JSON object. Errors name the field.
//!   The text is read once, straight into the prost types, by a small hand-written pull reader
//!   (`read.rs`; why by hand is said there); inputs over [`MAX_JSON_INPUT_BYTES`] or nested
//!   deeper than 128 levels are refused, and a text that is not JSON gets serde_json's message
//!   and position. Keys are judged as if sorted with the last duplicate
//!   winning (see `read.rs`), as they were when the readers converted a parsed
//!   `serde_json::Value`, so errors and accepted inputs did not change.
//! * [`event_to_json`] and [`metadata_to_json`] write exactly the bytes the Go gateway publishes:
//!   `protojson.Marshal` output, compacted and HTML-escaped by Go's `json.Marshal`.
//!
//! The writer is hand-written because no Rust library reproduces Go's protojson byte-for-byte
//! (field order, float formatting, timestamp precision, HTML escaping); the byte rules are proven
//! against real Go output in `tests/conformance/` (see `tests/go-oracle/`).

use crate::prelude::*;

mod float;
pub(crate) mod parse;
pub(crate) mod read;
mod time;
mod write;

pub use parse::{parse_event, parse_metadata, parse_timestamp_str};
#[cfg(feature = "json-value")]
pub use parse::{parse_event_value, parse_metadata_value, parse_struct_value};
pub use time::{format_timestamp, timestamp_from_rfc3339};
pub use write::{
    append_event_json, check_event, event_to_json, metadata_to_json, value_to_json,
    write_json_string,
};

/// The largest JSON document the parsing entry points accept, in bytes. Larger inputs are
/// refused before parsing. It is above the gateway's 90 MiB gRPC message limit.
pub const MAX_JSON_INPUT_BYTES: usize = 96 * 1024 * 1024;

/// The deepest nesting of `Struct`/`ListValue` the writer accepts. Parsing is bounded tighter
/// (the reader's 128-level limit for JSON, serde_json's, and prost's 100-level limit for
/// protobuf), so this only guards values built in memory by callers.
pub const MAX_STRUCT_DEPTH: usize = 128;

/// An input that is not valid proto3 JSON for the expected message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {subject}: {}{detail}", path_prefix(.path))]
pub struct JsonError {
    /// What was being parsed: `event`, `metadata`, `struct`, ...
    pub subject: &'static str,
    /// Dotted path of the offending field (empty for the document itself).
    pub path: String,
    /// What is wrong, in lowercase.
    pub detail: String,
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// An event or metadata value that protojson cannot marshal (the Go gateway's "marshalling event"
/// failures).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarshalError {
    /// A `google.protobuf.Value` number that is NaN or infinite.
    #[error("google.protobuf.Value at {path}: invalid number value {value}")]
    NonFiniteNumber {
        /// Path of the value inside the event.
        path: String,
        /// `NaN`, `Infinity` or `-Infinity`.
        value: &'static str,
    },
    /// A `google.protobuf.Value` with no kind set.
    #[error("google.protobuf.Value at {path}: none of the oneof fields is set")]
    ValueKindUnset {
        /// Path of the value inside the event.
        path: String,
    },
    /// A timestamp outside 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999999Z.
    #[error("google.protobuf.Timestamp: seconds {seconds} out of range")]
    TimestampOutOfRange {
        /// The offending seconds value.
        seconds: i64,
    },
    /// Timestamp nanos outside 0..=999,999,999.
    #[error("google.protobuf.Timestamp: nanos {nanos} out of range")]
    TimestampNanosOutOfRange {
        /// The offending nanos value.
        nanos: i32,
    },
    /// `Struct`/`ListValue` nesting deeper than [`MAX_STRUCT_DEPTH`].
    #[error("google.protobuf.Struct nested deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
}

impl MarshalError {
    pub(crate) fn at(mut self, key: &str) -> Self {
        match &mut self {
            MarshalError::NonFiniteNumber { path, .. } | MarshalError::ValueKindUnset { path } => {
                if path.is_empty() {
                    *path = key.to_string();
                } else {
                    *path = format!("{key}.{path}");
                }
            }
            _ => {}
        }
        self
    }
}
