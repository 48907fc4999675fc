//! Event → Pub/Sub message: the JSON body, its attributes, and the oversize rule.

use crate::prelude::*;

use crate::json::{MarshalError, append_event_json, metadata_to_json};
use crate::proto::{Event, RecordEventsRequestMetadata, identifier};
use alloc::collections::BTreeMap;

/// Messages whose body is this many bytes or more are dropped (and acknowledged) instead of
/// published: Pub/Sub's `MaxPublishRequestBytes`.
pub const MAX_MESSAGE_BYTES: usize = 10_000_000;

/// Pub/Sub's limit on attributes per message.
pub const PUBSUB_MAX_ATTRIBUTES: usize = 100;
/// Pub/Sub's limit on an attribute key, in bytes.
pub const PUBSUB_MAX_ATTRIBUTE_KEY_BYTES: usize = 256;
/// Pub/Sub's limit on an attribute value, in bytes.
pub const PUBSUB_MAX_ATTRIBUTE_VALUE_BYTES: usize = 1024;
/// Pub/Sub's limit on a publish request, in bytes.
pub const PUBSUB_MAX_REQUEST_BYTES: usize = 10_000_000;
/// What a publish request adds around one message: the topic name (at most 255 bytes plus the
/// project) and protobuf framing.
pub const PUBSUB_REQUEST_OVERHEAD_BYTES: usize = 1024;

/// The prefix of metadata keys that flag recorded private metadata as attributes.
const RECORDS_PRIVATE_METADATA_PREFIX: &str = "recordsPrivateMetadata";

/// Who publishes the events of a stream, as far as acknowledgement and attributes care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublisherKind {
    /// A Sourcegraph instance with a license key.
    LicensedInstance,
    /// A Sourcegraph instance without a license key.
    UnlicensedInstance,
    /// A managed service.
    ManagedService,
    /// Metadata without an identifier.
    Unknown,
}

impl PublisherKind {
    /// Whether this is a Sourcegraph instance (licensed or unlicensed), whose non-retryable
    /// failures are acknowledged so that it stops retrying them.
    pub fn is_sourcegraph_instance(self) -> bool {
        matches!(
            self,
            PublisherKind::LicensedInstance | PublisherKind::UnlicensedInstance
        )
    }
}

/// Why a message cannot be published to Pub/Sub. Checked before publishing (a deliberate
/// difference from the Go gateway, which publishes and fails the whole Pub/Sub batch — other
/// clients' events included — and leaves the event to be retried forever): the event is refused
/// as not retryable instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PubSubLimitError {
    /// More than [`PUBSUB_MAX_ATTRIBUTES`] attributes.
    #[error("{count} attributes, over the limit of 100")]
    TooManyAttributes {
        /// How many attributes the message would have.
        count: usize,
    },
    /// An attribute key over [`PUBSUB_MAX_ATTRIBUTE_KEY_BYTES`].
    #[error("attribute key of {len} bytes, over the limit of 256")]
    KeyTooLong {
        /// The key's length in bytes.
        len: usize,
    },
    /// An attribute value over [`PUBSUB_MAX_ATTRIBUTE_VALUE_BYTES`].
    #[error("attribute {key:?} has a value of {len} bytes, over the limit of 1024")]
    ValueTooLong {
        /// The attribute.
        key: String,
        /// The value's length in bytes.
        len: usize,
    },
    /// The message and its attributes would not fit in one publish request.
    #[error(
        "message of {size} bytes with its attributes, over the publish request limit of 10000000"
    )]
    RequestTooLarge {
        /// The encoded message size plus the request overhead.
        size: usize,
    },
}

/// Why an event cannot be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// protojson cannot marshal the event or metadata.
    #[error("marshalling event: {0}")]
    Marshal(#[from] MarshalError),
    /// The message would break Pub/Sub's limits.
    #[error("event exceeds pub/sub limits: {0}")]
    PubSubLimit(#[from] PubSubLimitError),
}

fn varint_len(n: usize) -> usize {
    // 7 bits per byte.
    let bits = usize::BITS - n.leading_zeros();
    (bits.max(1) as usize).div_ceil(7)
}

fn field_len(n: usize) -> usize {
    1 + varint_len(n) + n
}

/// Checks a message against Pub/Sub's per-message limits: attribute count, key and value sizes,
/// and the size of a publish request holding it (data, attributes, framing, topic).
pub fn check_pubsub_limits(message: &Message) -> Result<(), PubSubLimitError> {
    let count = message.attributes.len();
    if count > PUBSUB_MAX_ATTRIBUTES {
        return Err(PubSubLimitError::TooManyAttributes { count });
    }
    // With at most 100 attributes within their sizes (at most ~130 KB in all), a body under half
    // the request limit always fits: only larger bodies need the request's exact size.
    let exact = message.data.len() >= PUBSUB_MAX_REQUEST_BYTES / 2;
    let mut size = field_len(message.data.len());
    for (key, value) in &message.attributes {
        if key.len() > PUBSUB_MAX_ATTRIBUTE_KEY_BYTES {
            return Err(PubSubLimitError::KeyTooLong { len: key.len() });
        }
        if value.len() > PUBSUB_MAX_ATTRIBUTE_VALUE_BYTES {
            return Err(PubSubLimitError::ValueTooLong {
                key: key.clone(),
                len: value.len(),
            });
        }
        if exact {
            size += field_len(field_len(key.len()) + field_len(value.len()));
        }
    }
    if exact {
        let size = field_len(size) + PUBSUB_REQUEST_OVERHEAD_BYTES;
        if size > PUBSUB_MAX_REQUEST_BYTES {
            return Err(PubSubLimitError::RequestTooLarge { size });
        }
    }
    Ok(())
}

/// The per-stream part of every message: the marshalled metadata and the publisher source.
/// Build it once per stream, as the Go gateway does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    /// The `publisher.source` attribute: `licensed_instance`, `unlicensed_instance`, the
    /// managed service's `service_id`, or `unknown`.
    pub source: String,
    /// The publisher kind.
    pub kind: PublisherKind,
    metadata_json: Vec<u8>,
}

impl Publisher {
    /// Prepares the per-stream part of every message from the stream's metadata (the whole
    /// metadata is published, license key included, as upstream).
    pub fn new(metadata: &RecordEventsRequestMetadata) -> Result<Self, TranslateError> {
        let (kind, source) = match metadata
            .identifier
            .as_ref()
            .and_then(|i| i.identifier.as_ref())
        {
            Some(identifier::Identifier::LicensedInstance(_)) => (
                PublisherKind::LicensedInstance,
                "licensed_instance".to_string(),
            ),
            Some(identifier::Identifier::UnlicensedInstance(_)) => (
                PublisherKind::UnlicensedInstance,
                "unlicensed_instance".to_string(),
            ),
            Some(identifier::Identifier::ManagedService(s)) => {
                (PublisherKind::ManagedService, s.service_id.clone())
            }
            None => (PublisherKind::Unknown, "unknown".to_string()),
        };
        Ok(Publisher {
            source,
            kind,
            metadata_json: metadata_to_json(metadata)?,
        })
    }

    /// The marshalled metadata, exactly as it appears in each message body.
    pub fn metadata_json(&self) -> &[u8] {
        &self.metadata_json
    }
}

/// A Pub/Sub message ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The body: `{"event":…,"metadata":…}`.
    pub data: Vec<u8>,
    /// The message attributes.
    pub attributes: BTreeMap<String, String>,
}

/// What to do with a translated event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Translation {
    /// Publish this message.
    Publish(Message),
    /// Drop the event (and acknowledge it): its body would be `size` bytes, at or over the limit.
    Oversized {
        /// The body size in bytes.
        size: usize,
    },
}

/// The attributes of an event's message.
pub fn attributes(source: &str, event: &Event) -> BTreeMap<String, String> {
    let params = event.parameters.as_ref();
    let has_private = params.is_some_and(|p| p.private_metadata.is_some());
    // Built in one go from sorted entries (cheaper than inserting one by one).
    let mut attrs = BTreeMap::from([
        ("event.action".to_string(), event.action.clone()),
        ("event.feature".to_string(), event.feature.clone()),
        (
            "event.hasPrivateMetadata".to_string(),
            if has_private { "true" } else { "false" }.to_string(),
        ),
        ("publisher.source".to_string(), source.to_string()),
    ]);
    if let Some(p) = params {
        for (key, value) in &p.metadata {
            // At least two bytes after the prefix, and a positive value (NaN is not).
            if key.len() > RECORDS_PRIVATE_METADATA_PREFIX.len() + 1
                && key.starts_with(RECORDS_PRIVATE_METADATA_PREFIX)
                && *value > 0.0
            {
                attrs.insert(format!("event.{key}"), "true".to_string());
            }
        }
    }
    attrs
}

/// Translates one event into its Pub/Sub message, or drops it when the body would be
/// `max_message_bytes` or larger (pass [`MAX_MESSAGE_BYTES`]). A message that would break
/// Pub/Sub's limits ([`check_pubsub_limits`]) is an error. Validation is separate
/// ([`crate::validate_event`]).
pub fn translate(
    publisher: &Publisher,
    event: &Event,
    max_message_bytes: usize,
) -> Result<Translation, TranslateError> {
    translate_with_capacity(publisher, event, max_message_bytes, 0)
}

/// [`translate`] writing the body into a buffer of `body_capacity` bytes (0: a default that fits
/// most events). A caller that knows an upper bound of the body's size (the gateway computes
/// one from the event's wire bytes) passes it: the body is then written without a single
/// reallocation, so writing it never holds more than that bound.
pub fn translate_with_capacity(
    publisher: &Publisher,
    event: &Event,
    max_message_bytes: usize,
    body_capacity: usize,
) -> Result<Translation, TranslateError> {
    let metadata_len = publisher.metadata_json.len();
    // Most events' JSON is well under 2 KiB: one allocation, no regrowth.
    let capacity = if body_capacity == 0 {
        2048 + metadata_len
    } else {
        body_capacity
    };
    let mut data = Vec::with_capacity(capacity);
    data.extend_from_slice(br#"{"event":"#);
    append_event_json(&mut data, event)?;
    data.extend_from_slice(br#","metadata":"#);
    data.extend_from_slice(&publisher.metadata_json);
    data.push(b'}');
    if data.len() >= max_message_bytes {
        return Ok(Translation::Oversized { size: data.len() });
    }
    let message = Message {
        data,
        attributes: attributes(&publisher.source, event),
    };
    check_pubsub_limits(&message)?;
    Ok(Translation::Publish(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{EventParameters, Identifier, identifier::UnlicensedInstanceIdentifier};
    use prost_types::{Struct, Timestamp, Value, value::Kind};

    fn publisher() -> Publisher {
        Publisher::new(&RecordEventsRequestMetadata {
            request_id: "r".into(),
            identifier: Some(Identifier {
                identifier: Some(identifier::Identifier::UnlicensedInstance(
                    UnlicensedInstanceIdentifier {
                        instance_id: "i".into(),
                        external_url: String::new(),
                    },
                )),
            }),
        })
        .unwrap()
    }

    fn event_with_private_string(len: usize) -> Event {
        Event {
            id: "e".into(),
            feature: "a.b".into(),
            action: "cd".into(),
            timestamp: Some(Timestamp {
                seconds: 0,
                nanos: 0,
            }),
            parameters: Some(EventParameters {
                private_metadata: Some(Struct {
                    fields: [(
                        "k".to_string(),
                        Value {
                            kind: Some(Kind::StringValue("x".repeat(len))),
                        },
                    )]
                    .into_iter()
                    .collect(),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn oversize_boundary_is_exactly_ten_million_bytes() {
        let p = publisher();
        let Translation::Publish(small) =
            translate(&p, &event_with_private_string(0), MAX_MESSAGE_BYTES).unwrap()
        else {
            panic!("small event dropped")
        };
        let overhead = small.data.len();
        // Below the drop threshold, a body is published as long as the publish request (body,
        // attributes, framing and topic) fits Pub/Sub's limit; right below it, it does not.
        let just_under = event_with_private_string(MAX_MESSAGE_BYTES - 1 - overhead);
        assert!(matches!(
            translate(&p, &just_under, MAX_MESSAGE_BYTES),
            Err(TranslateError::PubSubLimit(
                PubSubLimitError::RequestTooLarge { .. }
            ))
        ));
        let fits = event_with_private_string(MAX_MESSAGE_BYTES - 2048 - overhead);
        match translate(&p, &fits, MAX_MESSAGE_BYTES).unwrap() {
            Translation::Publish(m) => assert_eq!(m.data.len(), MAX_MESSAGE_BYTES - 2048),
            other => panic!("a body 2 KiB under the limit must publish, got {other:?}"),
        }
        let at_limit = event_with_private_string(MAX_MESSAGE_BYTES - overhead);
        assert_eq!(
            translate(&p, &at_limit, MAX_MESSAGE_BYTES).unwrap(),
            Translation::Oversized {
                size: MAX_MESSAGE_BYTES
            }
        );
    }

    #[test]
    fn pubsub_limits_are_refused_before_publishing() {
        let p = publisher();
        let mut many = event_with_private_string(1);
        let params = many.parameters.as_mut().unwrap();
        for i in 0..97 {
            params
                .metadata
                .insert(format!("recordsPrivateMetadata{i:03}"), 1.0);
        }
        // 4 fixed attributes + 97 = 101.
        assert_eq!(
            translate(&p, &many, MAX_MESSAGE_BYTES)
                .unwrap_err()
                .to_string(),
            "event exceeds pub/sub limits: 101 attributes, over the limit of 100"
        );
        many.parameters
            .as_mut()
            .unwrap()
            .metadata
            .remove("recordsPrivateMetadata000");
        assert!(translate(&p, &many, MAX_MESSAGE_BYTES).is_ok());

        let mut long_key = event_with_private_string(1);
        long_key.parameters.as_mut().unwrap().metadata.insert(
            format!("recordsPrivateMetadata{}", "x".repeat(250 - 22)),
            1.0,
        );
        // "event." + 250 bytes = 256: allowed; one more is not.
        assert!(translate(&p, &long_key, MAX_MESSAGE_BYTES).is_ok());
        long_key.parameters.as_mut().unwrap().metadata.insert(
            format!("recordsPrivateMetadata{}", "x".repeat(251 - 22)),
            1.0,
        );
        assert_eq!(
            translate(&p, &long_key, MAX_MESSAGE_BYTES)
                .unwrap_err()
                .to_string(),
            "event exceeds pub/sub limits: attribute key of 257 bytes, over the limit of 256"
        );

        let long_source = Publisher {
            source: "s".repeat(1025),
            ..publisher()
        };
        assert_eq!(
            translate(
                &long_source,
                &event_with_private_string(1),
                MAX_MESSAGE_BYTES
            )
            .unwrap_err()
            .to_string(),
            "event exceeds pub/sub limits: attribute \"publisher.source\" has a value of 1025 bytes, over the limit of 1024"
        );

        // A body just under the drop threshold whose attributes push the request over 1e7.
        let Translation::Publish(small) =
            translate(&p, &event_with_private_string(0), MAX_MESSAGE_BYTES).unwrap()
        else {
            panic!()
        };
        let near = event_with_private_string(MAX_MESSAGE_BYTES - 1 - small.data.len());
        let err = translate(&p, &near, MAX_MESSAGE_BYTES).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("event exceeds pub/sub limits: message of "),
            "{err}"
        );
    }

    #[test]
    fn unmarshalable_events_are_errors() {
        let p = publisher();
        let mut nan = event_with_private_string(1);
        nan.parameters
            .as_mut()
            .unwrap()
            .private_metadata
            .as_mut()
            .unwrap()
            .fields
            .insert(
                "n".into(),
                Value {
                    kind: Some(Kind::NumberValue(f64::NAN)),
                },
            );
        assert_eq!(
            translate(&p, &nan, MAX_MESSAGE_BYTES)
                .unwrap_err()
                .to_string(),
            "marshalling event: google.protobuf.Value at parameters.privateMetadata.n: invalid number value NaN"
        );
        let mut unset = event_with_private_string(1);
        unset
            .parameters
            .as_mut()
            .unwrap()
            .private_metadata
            .as_mut()
            .unwrap()
            .fields
            .insert("u".into(), Value { kind: None });
        assert!(
            translate(&p, &unset, MAX_MESSAGE_BYTES)
                .unwrap_err()
                .to_string()
                .contains("none of the oneof fields is set")
        );
        let mut old = event_with_private_string(1);
        old.timestamp = Some(Timestamp {
            seconds: -62_135_596_801,
            nanos: 0,
        });
        assert_eq!(
            crate::validate_event(&old).unwrap_err().to_string(),
            "marshalling event: google.protobuf.Timestamp: seconds -62135596801 out of range"
        );
    }
}
