//! The gateway pipeline for one `EventsPayload`, minus the IO: identifier checks, legacy
//! metadata migration, per-event outcome, and the acknowledgement rule.
//!
//! The gateway drives it as: [`identify`] the stream's metadata (then authenticate, which needs
//! IO), build a [`Publisher`], run [`ingest`] on every payload, publish the `Publish` outcomes,
//! and answer with [`succeeded_events`] over the final [`Acknowledgement`]s.

use crate::prelude::*;

use crate::proto::{Event, RecordEventsRequestMetadata, identifier};
use crate::translate::{Message, Publisher, TranslateError, Translation, translate_with_capacity};
use crate::validate::{EventError, check_required_fields};

pub use crate::translate::PublisherKind;

/// Which RPC delivered the events (legacy-metadata migration only applies to `RecordEvents`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rpc {
    /// The bidirectional streaming RPC.
    #[default]
    RecordEvents,
    /// The unary RPC (managed services only).
    RecordEvent,
}

/// Stream metadata the gateway refuses before any authentication. Messages match upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// An unlicensed instance without `instance_id` (gRPC `InvalidArgument`).
    #[error("instance_id is required for unlicensed instance")]
    InstanceIdRequired,
    /// A managed service without `service_id` (gRPC `InvalidArgument`).
    #[error("service_id is required for managed services")]
    ServiceIdRequired,
    /// No identifier, or one this RPC does not accept (gRPC `Unimplemented`).
    #[error("unsupported identifier type")]
    UnsupportedIdentifier,
}

/// Who the stream says it is, once the metadata checks passed; what the gateway must still
/// authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity<'a> {
    /// A licensed instance: verify this license key.
    LicensedInstance {
        /// The license key to verify.
        license_key: &'a str,
    },
    /// An unlicensed instance: not authenticated (unless the operator refuses them).
    UnlicensedInstance {
        /// The self-reported instance id.
        instance_id: &'a str,
    },
    /// A managed service: check its bearer token.
    ManagedService {
        /// The self-reported service id.
        service_id: &'a str,
    },
}

/// Checks stream metadata in the gateway's order for the given RPC.
pub fn identify(
    metadata: &RecordEventsRequestMetadata,
    rpc: Rpc,
) -> Result<Identity<'_>, MetadataError> {
    let id = metadata
        .identifier
        .as_ref()
        .and_then(|i| i.identifier.as_ref());
    match (id, rpc) {
        (Some(identifier::Identifier::LicensedInstance(l)), Rpc::RecordEvents) => {
            Ok(Identity::LicensedInstance {
                license_key: &l.license_key,
            })
        }
        (Some(identifier::Identifier::UnlicensedInstance(u)), Rpc::RecordEvents) => {
            if u.instance_id.is_empty() {
                Err(MetadataError::InstanceIdRequired)
            } else {
                Ok(Identity::UnlicensedInstance {
                    instance_id: &u.instance_id,
                })
            }
        }
        (Some(identifier::Identifier::ManagedService(s)), _) => {
            if s.service_id.is_empty() {
                Err(MetadataError::ServiceIdRequired)
            } else {
                Ok(Identity::ManagedService {
                    service_id: &s.service_id,
                })
            }
        }
        _ => Err(MetadataError::UnsupportedIdentifier),
    }
}

/// Merges `legacy_metadata` (int64) into `metadata` (double), the legacy value winning on a
/// shared key, and clears it. Applied to `RecordEvents` payloads only.
pub fn migrate_legacy_metadata(event: &mut Event) {
    if let Some(p) = event.parameters.as_mut() {
        if p.legacy_metadata.is_empty() {
            return;
        }
        for (key, value) in core::mem::take(&mut p.legacy_metadata) {
            p.metadata.insert(key, value as f64);
        }
    }
}

/// What the pipeline decided for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Publish this message; acknowledge once the sink accepted it.
    Publish(Message),
    /// Refused (not retryable).
    Reject(EventError),
    /// Dropped because its message would be too large; acknowledged.
    DropOversized {
        /// The body size in bytes.
        size: usize,
    },
}

/// One event's id and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOutcome {
    /// The event id (possibly empty, for events refused for that).
    pub id: String,
    /// The decision.
    pub outcome: Outcome,
}

/// Runs one payload through migration (for `RecordEvents`), validation, translation and the
/// oversize rule, returning one outcome per event in input order.
pub fn ingest(
    publisher: &Publisher,
    events: Vec<Event>,
    rpc: Rpc,
    max_message_bytes: usize,
) -> Vec<EventOutcome> {
    events
        .into_iter()
        .map(|event| ingest_event(publisher, event, rpc, max_message_bytes, 0))
        .collect()
}

/// [`ingest`] for one event: what the gateway's publish loop calls as it decodes each event.
/// `body_capacity` is passed to [`crate::translate::translate_with_capacity`] (0: its default).
pub fn ingest_event(
    publisher: &Publisher,
    mut event: Event,
    rpc: Rpc,
    max_message_bytes: usize,
    body_capacity: usize,
) -> EventOutcome {
    if rpc == Rpc::RecordEvents {
        migrate_legacy_metadata(&mut event);
    }
    let outcome = match check_required_fields(&event) {
        Err(e) => Outcome::Reject(e),
        Ok(()) => {
            match translate_with_capacity(publisher, &event, max_message_bytes, body_capacity) {
                Ok(Translation::Publish(m)) => Outcome::Publish(m),
                Ok(Translation::Oversized { size }) => Outcome::DropOversized { size },
                Err(TranslateError::Marshal(e)) => Outcome::Reject(EventError::Marshal(e)),
                Err(TranslateError::PubSubLimit(e)) => Outcome::Reject(EventError::PubSubLimit(e)),
            }
        }
    };
    EventOutcome {
        id: event.id,
        outcome,
    }
}

/// The final state of one event once publishing is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledgement {
    /// The sink accepted the message.
    Published,
    /// Dropped as oversized.
    Dropped,
    /// Refused by validation (not retryable).
    Rejected,
    /// Publishing failed; the client should retry.
    PublishFailed,
}

impl Acknowledgement {
    /// Whether the response lists an event with this acknowledgement, for a publisher of
    /// `kind` (the rule of [`succeeded_events`]).
    pub fn is_listed(self, kind: PublisherKind) -> bool {
        match self {
            Acknowledgement::Published | Acknowledgement::Dropped => true,
            Acknowledgement::Rejected => kind.is_sourcegraph_instance(),
            Acknowledgement::PublishFailed => false,
        }
    }

    /// The acknowledgement an outcome gets when every publish succeeds.
    pub fn assuming_published(outcome: &Outcome) -> Self {
        match outcome {
            Outcome::Publish(_) => Acknowledgement::Published,
            Outcome::Reject(_) => Acknowledgement::Rejected,
            Outcome::DropOversized { .. } => Acknowledgement::Dropped,
        }
    }
}

/// The ids a `RecordEventsResponse` lists, in input order: published and dropped events, and
/// for Sourcegraph instances also rejected ones (so they stop retrying events that can never
/// be accepted). Events whose publish failed are never listed.
pub fn succeeded_events<'a>(
    kind: PublisherKind,
    events: impl IntoIterator<Item = (&'a str, Acknowledgement)>,
) -> Vec<String> {
    events
        .into_iter()
        .filter(|(_, ack)| ack.is_listed(kind))
        .map(|(id, _)| id.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Identifier, identifier as id};

    fn metadata(kind: Option<id::Identifier>) -> RecordEventsRequestMetadata {
        RecordEventsRequestMetadata {
            request_id: String::new(),
            identifier: kind.map(|k| Identifier {
                identifier: Some(k),
            }),
        }
    }

    #[test]
    fn identify_follows_the_gateway_order() {
        let unlicensed = |i: &str| {
            metadata(Some(id::Identifier::UnlicensedInstance(
                id::UnlicensedInstanceIdentifier {
                    instance_id: i.into(),
                    external_url: String::new(),
                },
            )))
        };
        let managed = |s: &str| {
            metadata(Some(id::Identifier::ManagedService(
                id::ManagedServiceIdentifier {
                    service_id: s.into(),
                    service_environment: None,
                },
            )))
        };
        assert_eq!(
            identify(&unlicensed(""), Rpc::RecordEvents),
            Err(MetadataError::InstanceIdRequired)
        );
        assert_eq!(
            identify(&unlicensed("i"), Rpc::RecordEvents),
            Ok(Identity::UnlicensedInstance { instance_id: "i" })
        );
        // RecordEvent only accepts managed services.
        assert_eq!(
            identify(&unlicensed("i"), Rpc::RecordEvent),
            Err(MetadataError::UnsupportedIdentifier)
        );
        assert_eq!(
            identify(&managed(""), Rpc::RecordEvent),
            Err(MetadataError::ServiceIdRequired)
        );
        assert_eq!(
            identify(&managed("svc"), Rpc::RecordEvents),
            Ok(Identity::ManagedService { service_id: "svc" })
        );
        assert_eq!(
            identify(&metadata(None), Rpc::RecordEvents),
            Err(MetadataError::UnsupportedIdentifier)
        );
        // an Identifier message with no oneof member set
        let empty = RecordEventsRequestMetadata {
            request_id: String::new(),
            identifier: Some(Identifier { identifier: None }),
        };
        assert_eq!(
            identify(&empty, Rpc::RecordEvents),
            Err(MetadataError::UnsupportedIdentifier)
        );
    }

    #[test]
    fn acknowledgement_rule() {
        let acks = [
            ("published", Acknowledgement::Published),
            ("dropped", Acknowledgement::Dropped),
            ("rejected", Acknowledgement::Rejected),
            ("failed", Acknowledgement::PublishFailed),
        ];
        assert_eq!(
            succeeded_events(PublisherKind::LicensedInstance, acks),
            vec!["published", "dropped", "rejected"]
        );
        assert_eq!(
            succeeded_events(PublisherKind::UnlicensedInstance, acks),
            vec!["published", "dropped", "rejected"]
        );
        assert_eq!(
            succeeded_events(PublisherKind::ManagedService, acks),
            vec!["published", "dropped"]
        );
    }
}
