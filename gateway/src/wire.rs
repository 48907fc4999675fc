//! The server's view of `RecordEventsRequest`: the same wire format as
//! `telemetry_core::proto::RecordEventsRequest`, but an `EventsPayload` is kept as its raw bytes
//! (zero-copy slices of the received message) and its events are decoded one at a time inside
//! the bounded publish loop. Decoding a whole payload up front would hold every decoded event of
//! a 90 MiB request at once — up to hundreds of times its wire size.
//!
//! Receiving checks the payload's structure (every field's key and length) and counts its events,
//! so a malformed payload is refused before anything is processed, as eager decoding did.
//!
//! Written by hand (a `prost::Message` implementation) because prost has no lazy repeated fields.

use bytes::{Buf, BufMut, Bytes};
use prost::DecodeError;
use prost::encoding::{
    DecodeContext, WireType, check_wire_type, decode_key, decode_varint, encode_key, encode_varint,
    encoded_len_varint, key_len, message, skip_field,
};
use telemetry_core::proto::RecordEventsRequestMetadata;

/// `RecordEventsRequest` with its events payload kept raw (see the module docs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncomingRecordEventsRequest {
    /// The `payload` oneof.
    pub payload: Option<IncomingPayload>,
}

/// The `payload` oneof of [`IncomingRecordEventsRequest`].
#[derive(Clone, Debug, PartialEq)]
pub enum IncomingPayload {
    /// Field 1: the stream metadata, decoded.
    Metadata(RecordEventsRequestMetadata),
    /// Field 2: an `EventsPayload`, raw.
    Events(RawEvents),
}

/// The raw bytes of an `EventsPayload` (one segment per occurrence of the field; protobuf merges
/// repeated occurrences by concatenating their events) and how many events they hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawEvents {
    segments: Vec<Bytes>,
    count: usize,
    bytes: usize,
}

impl RawEvents {
    /// Builds from encoded `EventsPayload` message bodies, checking their structure.
    pub fn from_segments(segments: Vec<Bytes>) -> Result<Self, DecodeError> {
        let mut raw = RawEvents::default();
        for s in segments {
            raw.push_segment(s)?;
        }
        Ok(raw)
    }

    fn push_segment(&mut self, segment: Bytes) -> Result<(), DecodeError> {
        let mut count = 0;
        let mut buf = segment.as_ref();
        while buf.has_remaining() {
            let (tag, wire_type) = decode_key(&mut buf)?;
            if tag == 1 {
                check_wire_type(WireType::LengthDelimited, wire_type)?;
                count += 1;
            }
            skip_field(wire_type, tag, &mut buf, DecodeContext::default())?;
        }
        self.count += count;
        self.bytes += segment.len();
        self.segments.push(segment);
        Ok(())
    }

    /// How many events the payload holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the payload holds no events.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The payload's size on the wire.
    pub fn wire_bytes(&self) -> usize {
        self.bytes
    }

    /// Each event's encoded bytes, in order (zero-copy slices).
    pub fn iter(&self) -> impl Iterator<Item = Bytes> + Clone + '_ {
        self.segments.iter().flat_map(|segment| {
            let mut offset = 0usize;
            std::iter::from_fn(move || {
                // The structure was checked on receipt; stop quietly if it were not.
                loop {
                    let mut buf = segment.get(offset..)?;
                    if buf.is_empty() {
                        return None;
                    }
                    let (tag, wire_type) = decode_key(&mut buf).ok()?;
                    if tag == 1 && wire_type == WireType::LengthDelimited {
                        let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                        let start = segment.len() - buf.len();
                        let end = start.checked_add(len).filter(|e| *e <= segment.len())?;
                        offset = end;
                        return Some(segment.slice(start..end));
                    }
                    skip_field(wire_type, tag, &mut buf, DecodeContext::default()).ok()?;
                    offset = segment.len() - buf.len();
                }
            })
        })
    }
}

impl prost::Message for IncomingRecordEventsRequest {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match &self.payload {
            Some(IncomingPayload::Metadata(m)) => message::encode(1, m, buf),
            Some(IncomingPayload::Events(raw)) => {
                for segment in &raw.segments {
                    encode_key(2, WireType::LengthDelimited, buf);
                    encode_varint(segment.len() as u64, buf);
                    buf.put_slice(segment);
                }
            }
            None => {}
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => match &mut self.payload {
                Some(IncomingPayload::Metadata(m)) => message::merge(wire_type, m, buf, ctx),
                _ => {
                    let mut m = RecordEventsRequestMetadata::default();
                    message::merge(wire_type, &mut m, buf, ctx)?;
                    self.payload = Some(IncomingPayload::Metadata(m));
                    Ok(())
                }
            },
            2 => {
                // Zero-copy when decoding from tonic's buffer.
                let mut segment = Bytes::new();
                prost::encoding::bytes::merge(wire_type, &mut segment, buf, ctx)?;
                match &mut self.payload {
                    Some(IncomingPayload::Events(raw)) => raw.push_segment(segment),
                    _ => {
                        let mut raw = RawEvents::default();
                        raw.push_segment(segment)?;
                        self.payload = Some(IncomingPayload::Events(raw));
                        Ok(())
                    }
                }
            }
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        match &self.payload {
            Some(IncomingPayload::Metadata(m)) => message::encoded_len(1, m),
            Some(IncomingPayload::Events(raw)) => raw
                .segments
                .iter()
                .map(|s| key_len(2) + encoded_len_varint(s.len() as u64) + s.len())
                .sum(),
            None => 0,
        }
    }

    fn clear(&mut self) {
        self.payload = None;
    }
}

/// `RecordEventRequest` (the unary RPC) with its event kept raw, like a one-event payload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncomingRecordEventRequest {
    /// Field 1, decoded.
    pub metadata: Option<RecordEventsRequestMetadata>,
    /// Field 2, raw (occurrences concatenated: protobuf merges a repeated message field, and the
    /// concatenation of two encodings decodes as their merge).
    pub event: Option<Bytes>,
}

impl prost::Message for IncomingRecordEventRequest {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(m) = &self.metadata {
            message::encode(1, m, buf);
        }
        if let Some(e) = &self.event {
            encode_key(2, WireType::LengthDelimited, buf);
            encode_varint(e.len() as u64, buf);
            buf.put_slice(e);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => message::merge(
                wire_type,
                self.metadata.get_or_insert_with(Default::default),
                buf,
                ctx,
            ),
            2 => {
                let mut bytes = Bytes::new();
                prost::encoding::bytes::merge(wire_type, &mut bytes, buf, ctx)?;
                self.event = Some(match self.event.take() {
                    Some(before) => {
                        let mut joined = Vec::with_capacity(before.len() + bytes.len());
                        joined.extend_from_slice(&before);
                        joined.extend_from_slice(&bytes);
                        Bytes::from(joined)
                    }
                    None => bytes,
                });
                Ok(())
            }
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.metadata
            .as_ref()
            .map_or(0, |m| message::encoded_len(1, m))
            + self.event.as_ref().map_or(0, |e| {
                key_len(2) + encoded_len_varint(e.len() as u64) + e.len()
            })
    }

    fn clear(&mut self) {
        self.metadata = None;
        self.event = None;
    }
}

/// `RecordEventsResponse` as the server sends it: already encoded, written straight from the
/// payload's acknowledged ids (no `Vec<String>` per response).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutgoingRecordEventsResponse {
    encoded: Bytes,
}

impl OutgoingRecordEventsResponse {
    /// Encodes `succeeded_events` from the acknowledged ids.
    pub fn from_ids<'a>(ids: impl Iterator<Item = &'a str> + Clone) -> Self {
        let len: usize = ids
            .clone()
            .map(|id| key_len(1) + encoded_len_varint(id.len() as u64) + id.len())
            .sum();
        let mut out = Vec::with_capacity(len);
        for id in ids {
            encode_key(1, WireType::LengthDelimited, &mut out);
            encode_varint(id.len() as u64, &mut out);
            out.put_slice(id.as_bytes());
        }
        OutgoingRecordEventsResponse {
            encoded: Bytes::from(out),
        }
    }

    /// The encoded size in bytes.
    pub fn len(&self) -> usize {
        self.encoded.len()
    }

    /// Whether no id is acknowledged.
    pub fn is_empty(&self) -> bool {
        self.encoded.is_empty()
    }
}

impl prost::Message for OutgoingRecordEventsResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.encoded);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if tag != 1 {
            return skip_field(wire_type, tag, buf, ctx);
        }
        let mut id = String::new();
        prost::encoding::string::merge(wire_type, &mut id, buf, ctx)?;
        let mut out = Vec::with_capacity(self.encoded.len() + 2 + id.len());
        out.put_slice(&self.encoded);
        encode_key(1, WireType::LengthDelimited, &mut out);
        encode_varint(id.len() as u64, &mut out);
        out.put_slice(id.as_bytes());
        self.encoded = Bytes::from(out);
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.encoded.len()
    }

    fn clear(&mut self) {
        self.encoded = Bytes::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use telemetry_core::proto::{Event, RecordEventsRequest, record_events_request};

    fn events_request(ids: &[&str]) -> RecordEventsRequest {
        RecordEventsRequest {
            payload: Some(record_events_request::Payload::Events(
                record_events_request::EventsPayload {
                    events: ids
                        .iter()
                        .map(|id| Event {
                            id: id.to_string(),
                            feature: "a.b".into(),
                            ..Default::default()
                        })
                        .collect(),
                },
            )),
        }
    }

    #[test]
    fn events_round_trip_lazily_and_in_order() {
        let wire = events_request(&["1", "22", "333"]).encode_to_vec();
        let incoming = IncomingRecordEventsRequest::decode(wire.as_slice()).unwrap();
        let Some(IncomingPayload::Events(raw)) = &incoming.payload else {
            panic!("events expected")
        };
        assert_eq!(raw.len(), 3);
        let ids: Vec<String> = raw.iter().map(|b| Event::decode(b).unwrap().id).collect();
        assert_eq!(ids, ["1", "22", "333"]);
        assert_eq!(incoming.encode_to_vec(), wire);
        assert_eq!(incoming.encoded_len(), wire.len());
    }

    #[test]
    fn repeated_payload_fields_concatenate_like_prost() {
        let mut wire = events_request(&["a"]).encode_to_vec();
        wire.extend(events_request(&["b", "c"]).encode_to_vec());
        let eager = RecordEventsRequest::decode(wire.as_slice()).unwrap();
        let lazy = IncomingRecordEventsRequest::decode(wire.as_slice()).unwrap();
        let Some(record_events_request::Payload::Events(p)) = eager.payload else {
            panic!()
        };
        let Some(IncomingPayload::Events(raw)) = lazy.payload else {
            panic!()
        };
        let lazy_ids: Vec<String> = raw.iter().map(|b| Event::decode(b).unwrap().id).collect();
        let eager_ids: Vec<String> = p.events.into_iter().map(|e| e.id).collect();
        assert_eq!(lazy_ids, eager_ids);
    }

    #[test]
    fn responses_encode_like_prost() {
        let ids = ["a", "", "0190f6b4-8c2e-7a3b-9d1e-2f4a5b6c7d8e"];
        let ours = OutgoingRecordEventsResponse::from_ids(ids.iter().copied());
        let theirs = telemetry_core::proto::RecordEventsResponse {
            succeeded_events: ids.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(ours.encode_to_vec(), theirs.encode_to_vec());
        let back = OutgoingRecordEventsResponse::decode(theirs.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, ours);
    }

    #[test]
    fn malformed_payloads_are_refused_on_receipt() {
        // Field 2 claiming 5 bytes with 2 present; an event field with the wrong wire type.
        assert!(IncomingRecordEventsRequest::decode(&[0x12, 0x05, 0x0a, 0x00][..]).is_err());
        assert!(IncomingRecordEventsRequest::decode(&[0x12, 0x02, 0x08, 0x01][..]).is_err());
        // Unknown fields are skipped, as prost does.
        let ok =
            IncomingRecordEventsRequest::decode(&[0x18, 0x01, 0x12, 0x02, 0x0a, 0x00][..]).unwrap();
        assert!(matches!(ok.payload, Some(IncomingPayload::Events(r)) if r.len() == 1));
    }
}
