//! The telemetry event core: every rule the telemetry gateway applies, as pure functions.
//!
//! This crate is built twice: natively into the `telemetry-gateway` server, and to WebAssembly for
//! the npm package used by JavaScript telemetry SDKs. Both therefore apply exactly the same rules,
//! and one conformance corpus (`tests/conformance/`) proves it on both targets.
//!
//! The crate does no IO and has no clock or randomness of its own: callers pass event ids and the
//! current time in ([`RecordContext`]), and receive bytes and values back.
//!
//! ```
//! use telemetry_core::{json, Publisher, Translation, MAX_MESSAGE_BYTES};
//!
//! let metadata = json::parse_metadata(
//!     r#"{"requestId":"r1","identifier":{"unlicensedInstance":{"instanceId":"i1"}}}"#,
//! )?;
//! let event = json::parse_event(
//!     r#"{"id":"e1","timestamp":"2024-07-01T12:34:56.789Z","feature":"search","action":"submitted",
//!        "source":{"server":{"version":"5.5.0"}},"parameters":{"metadata":{"count":3}}}"#,
//! )?;
//! telemetry_core::validate_event(&event)?;
//!
//! let publisher = Publisher::new(&metadata)?;
//! let Translation::Publish(message) = telemetry_core::translate(&publisher, &event, MAX_MESSAGE_BYTES)?
//! else { unreachable!("a small event is never oversized") };
//! assert!(message.data.starts_with(br#"{"event":{"id":"e1","timestamp":"2024-07-01T12:34:56.789Z""#));
//! assert_eq!(message.attributes["publisher.source"], "unlicensed_instance");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Where each rule lives
//!
//! | module | rule |
//! |---|---|
//! | [`proto`] | the generated `telemetrygateway.v1` types |
//! | [`json`] | proto3 JSON parsing, and the Go-identical protojson writer |
//! | [`validate`] | feature/action rules and the gateway's per-event checks |
//! | [`policy`] | the sensitive-attribute allowlist, redaction modes and export mode |
//! | [`mod@translate`] | the Pub/Sub message body, attributes and the oversize rule |
//! | [`mod@ingest`] | identifier checks, legacy-metadata migration, per-event outcomes, acknowledgement |
//! | [`mod@record`] | a client recording (`TelemetryEventInput`) to a full `Event` |
//! | [`export`] | exporter rules: chunking under 1 MiB, which ids to mark exported, back-off |
//! | `ffi` (feature `ffi`) | JSON-string entry points shared by the WASM build and the conformance runners |
//!
//! Cargo features: `translate` and `ingest` (default) hold the gateway's Pub/Sub translation and
//! ingest pipeline; `json-value` (default) the entry points over a parsed `serde_json::Value`
//! (everything else reads JSON text with the crate's own reader, `json::read`); `ffi` the
//! JSON-string entry points (with `ingest`, the conformance comparison) and `ffi::batch`, the
//! exporters' batch path; `std` (default; `translate`, `ingest` and `json-value` need it) the
//! standard library: without it the crate is `#![no_std]` with `alloc`, as in the WASM client
//! module, which then links none of std's panic machinery. The npm package's modules are built
//! without the defaults (the full one with `std`, `translate` and `ingest`): neither carries
//! serde_json.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]
#![deny(unsafe_code)]
#![warn(missing_docs)]
// Without `std` (the WASM client module) the crate needs only `alloc`: that module then links no
// std panic machinery (its own handler traps; see wasm/src/lib.rs).
#![cfg_attr(not(any(feature = "std", test)), no_std)]

extern crate alloc;

/// What std's prelude gives and a `no_std` crate must import: every module takes it with
/// `use crate::prelude::*`.
mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec::Vec;
    pub(crate) use alloc::{format, vec};
}

pub mod export;
#[cfg(feature = "ffi")]
pub mod ffi;
#[cfg(feature = "ingest")]
pub mod ingest;
pub mod json;
mod order;
pub mod policy;
pub mod proto;
pub mod record;
#[cfg(feature = "translate")]
pub mod translate;
pub mod validate;

#[cfg(feature = "ingest")]
pub use ingest::{
    Acknowledgement, EventOutcome, Identity, MetadataError, Outcome, PublisherKind, Rpc, identify,
    ingest, ingest_event, migrate_legacy_metadata, succeeded_events,
};
pub use json::JsonError;
pub use policy::{
    AllowedEventType, Allowlist, ExportMode, ExportModeInputs, LicenseState, PolicyError,
    RedactionMode, RedactionPolicy, export_mode,
};
pub use record::{MetadataValue, RecordContext, RecordError, TelemetryEventInput, record};
#[cfg(feature = "translate")]
pub use translate::{
    MAX_MESSAGE_BYTES, Message, PubSubLimitError, Publisher, TranslateError, Translation,
    check_pubsub_limits, translate, translate_with_capacity,
};
pub use validate::{EventError, FeatureActionError, validate_event, validate_feature_action};
