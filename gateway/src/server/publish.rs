//! One payload through the core and the sink, in bounded memory.
//!
//! Events arrive raw (see [`crate::wire`]). For each, in order: reserve its
//! [`footprint`](crate::admission::footprint) from the `process` pool (flushing the batch being
//! built and waiting for publishes in flight if the pool is used up), decode it, run it through
//! `telemetry_core::ingest_event` (migration, validation, translation, the oversize and Pub/Sub
//! rules), and add its message to the batch being built. A batch goes to the sink when it holds
//! half of `--publish-concurrency` messages or 1 MiB; at most `--publish-concurrency` messages of
//! a stream are alive at once. A message's reservation travels with its batch into the sink and
//! is released when the sink lets go of it. An event is acknowledged only once the sink accepted
//! its message.

use super::GatewayState;
use crate::admission::{Reservation, footprint};
use crate::limits;
use crate::log_limit::{Clip, EventLogKind};
use crate::sink::dead_letter::Rejection;
use crate::sink::{Batch, BatchResult};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use prost::Message as _;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use telemetry_core::proto::Event;
use telemetry_core::{Acknowledgement, Message, Outcome, Publisher, Rpc};
use tokio::time::Instant;
use tonic::Status;

/// How long a payload's answer waits for its dead letters to be written, at most.
const DEAD_LETTER_WAIT: Duration = Duration::from_millis(50);

/// The processing budget is taken in chunks of this size at least.
const CREDIT_CHUNK: usize = 256 * 1024;

/// A batch is flushed at this size at the latest.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// Who sent the payload.
pub(crate) struct PayloadContext<'a> {
    pub publisher: &'a Publisher,
    pub request_id: &'a str,
    pub rpc: Rpc,
    pub kind_label: &'static str,
}

/// Every event's final state, in input order.
pub(crate) struct Processed {
    /// Each event's id, as a slice of its wire bytes (empty when it has none).
    pub ids: Vec<Bytes>,
    /// Each event's acknowledgement.
    pub acks: Vec<Acknowledgement>,
    /// Why events failed (index, reason), for `RecordEvent`'s status.
    pub errors: Vec<(usize, String)>,
}

impl Processed {
    /// The ids the response lists, in input order (the core's acknowledgement rule).
    pub fn succeeded(
        &self,
        kind: telemetry_core::PublisherKind,
    ) -> impl Iterator<Item = &str> + Clone {
        self.ids
            .iter()
            .zip(&self.acks)
            .filter(move |(_, ack)| ack.is_listed(kind))
            // Ids of decoded events are valid UTF-8 (decoding checks it).
            .map(|(id, _)| std::str::from_utf8(id).unwrap_or(""))
    }
}

type PublishFuture<'a> = Pin<Box<dyn Future<Output = (Vec<usize>, BatchResult)> + Send + 'a>>;

/// The batch being built.
#[derive(Default)]
struct Building {
    messages: Vec<Message>,
    indices: Vec<usize>,
    charge: Reservation,
    bytes: usize,
}

#[derive(Default)]
struct Tally {
    published: u64,
    publish_failed: u64,
    rejected: u64,
    dropped: u64,
}

/// What a message holds in memory.
fn message_cost(m: &Message) -> usize {
    m.data.capacity()
        + m.attributes
            .iter()
            .map(|(k, v)| k.capacity() + v.capacity() + 96)
            .sum::<usize>()
        + 128
}

impl GatewayState {
    fn send_batch<'a>(&'a self, building: &mut Building) -> Option<PublishFuture<'a>> {
        if building.messages.is_empty() {
            return None;
        }
        let Building {
            messages,
            indices,
            charge,
            ..
        } = std::mem::take(building);
        let n = messages.len();
        Some(Box::pin(async move {
            let started = Instant::now();
            let deadline = started + self.limits.publish_timeout;
            // The sink honours the deadline; the outer timeout guards against one that does not.
            let result = tokio::time::timeout_at(
                deadline + Duration::from_secs(1),
                self.sink.publish(Batch { messages, charge }, deadline),
            )
            .await
            .unwrap_or_else(|_| {
                BatchResult::all_failed(
                    n,
                    &format!("publish timed out after {:?}", self.limits.publish_timeout),
                )
            });
            self.metrics
                .publish_latency
                .with_label_values(&[if result.is_ok() { "ok" } else { "error" }])
                .observe(started.elapsed().as_secs_f64());
            (indices, result)
        }))
    }

    /// Runs one payload (see the module docs). Fails only for a malformed event (tonic's
    /// `Internal`, as when the whole payload was decoded at once) or an event id over its cap.
    pub(crate) async fn process_payload(
        &self,
        ctx: &PayloadContext<'_>,
        events: impl Iterator<Item = Bytes> + Clone,
        count: usize,
    ) -> Result<Processed, Status> {
        let started = Instant::now();
        self.metrics
            .payload_events
            .with_label_values(&[super::rpc_name(ctx.rpc)])
            .observe(count as f64);
        // One pass before anything is published: each event's footprint, and its id (within its
        // cap; kept as a slice of the payload for the response).
        let metadata_len = ctx.publisher.metadata_json().len();
        let mut ids = Vec::with_capacity(count);
        let mut footprints = Vec::with_capacity(count);
        for bytes in events.clone() {
            let mut fp = footprint::event_footprint(&bytes, metadata_len);
            let range = std::mem::take(&mut fp.id);
            if range.len() > self.limits.max_id_bytes {
                self.metrics.limit_hit(limits::Limit::FieldLength);
                return Err(limits::field_too_long(
                    "event.id",
                    range.len(),
                    self.limits.max_id_bytes,
                    "max-id-bytes",
                ));
            }
            ids.push(bytes.slice(range));
            footprints.push(fp);
        }
        let mut acks = vec![Acknowledgement::Published; count];
        if self.baseline {
            // Benchmark floor: decode and acknowledge, no checks, no publishing.
            for bytes in events {
                Event::decode(bytes).map_err(|e| Status::internal(e.to_string()))?;
            }
            return Ok(Processed {
                ids,
                acks,
                errors: Vec::new(),
            });
        }

        let concurrency = self.publish_concurrency.max(1);
        let batch_max = concurrency.div_ceil(2);
        let per_event_cap = self.budgets.process.total();
        let mut errors = Vec::new();
        let mut tally = Tally::default();
        let mut inflight: FuturesUnordered<PublishFuture<'_>> = FuturesUnordered::new();
        let mut building = Building::default();
        let mut alive = 0usize;
        let mut credit = Reservation::default();
        // Observed locally, flushed once per payload (no shared cache line per event).
        let message_bytes = self
            .metrics
            .message_bytes
            .with_label_values(&[ctx.kind_label])
            .local();
        // The dead letter of the payload's last rejection: awaited (briefly) before answering.
        let mut last_dead_letter = None;

        let mut inspected = self.inspector.payload(
            ctx.publisher,
            ctx.request_id,
            super::rpc_name(ctx.rpc),
            count,
        );
        // Applies a finished batch's results.
        let apply = |(indices, result): (Vec<usize>, BatchResult),
                     acks: &mut Vec<Acknowledgement>,
                     errors: &mut Vec<(usize, String)>,
                     alive: &mut usize,
                     tally: &mut Tally,
                     inspected: &mut crate::inspector::PayloadRecorder| {
            *alive -= indices.len();
            tally.published += (indices.len() - result.failed.len()) as u64;
            for (j, reason) in result.failed {
                let Some(&i) = indices.get(j) else { continue };
                if let Some(a) = acks.get_mut(i) {
                    *a = Acknowledgement::PublishFailed;
                }
                tally.publish_failed += 1;
                inspected.publish_failed(i, &format!("publishing event: {reason}"));
                if let Some(suppressed) = self.logs.check(EventLogKind::PublishFailed) {
                    let id = ids.get(i).map(|b| String::from_utf8_lossy(b).into_owned());
                    tracing::warn!(
                        event_id = %Clip(id.as_deref().unwrap_or("")),
                        error = %reason,
                        suppressed,
                        "publishing event failed; not acknowledged"
                    );
                }
                errors.push((i, format!("publishing event: {reason}")));
            }
        };

        for ((i, bytes), fp) in events.enumerate().zip(footprints) {
            // Stay cooperative on huge payloads.
            tokio::task::consume_budget().await;
            while alive >= concurrency {
                if let Some(f) = self.send_batch(&mut building) {
                    inflight.push(f);
                }
                match inflight.next().await {
                    Some(done) => apply(
                        done,
                        &mut acks,
                        &mut errors,
                        &mut alive,
                        &mut tally,
                        &mut inspected,
                    ),
                    None => break,
                }
            }
            let cost = fp.total();
            if cost > per_event_cap {
                // Decoding it could take more than the whole processing budget: refuse it
                // unread, as not retryable.
                let reason = format!(
                    "event too large to process: decoding and translating it could take {cost} bytes, \
                     over the processing share of --max-inflight-bytes ({per_event_cap} bytes)"
                );
                last_dead_letter =
                    self.reject(ctx, &ids, i, &bytes, "too_large_to_process", &reason);
                if let Some(a) = acks.get_mut(i) {
                    *a = Acknowledgement::Rejected;
                }
                tally.rejected += 1;
                errors.push((i, reason));
                continue;
            }
            // Events draw on a local credit taken from the pool in chunks (one semaphore
            // operation per chunk, not per event); what a message does not need goes back to it.
            if credit.bytes() < cost {
                let want = cost.max(CREDIT_CHUNK).min(per_event_cap);
                match self
                    .budgets
                    .process
                    .try_reserve(want - credit.bytes().min(want))
                {
                    Some(more) => credit.merge(more),
                    None => {
                        // Hold nothing while waiting: send our own batch, give back the credit.
                        if let Some(f) = self.send_batch(&mut building) {
                            inflight.push(f);
                        }
                        drop(std::mem::take(&mut credit));
                        self.metrics.limit_hit(limits::Limit::InflightBudgetWait);
                        let wait = self.budgets.process.reserve(cost);
                        tokio::pin!(wait);
                        credit = loop {
                            tokio::select! {
                                biased;
                                Some(done) = inflight.next(), if !inflight.is_empty() => {
                                    apply(done, &mut acks, &mut errors, &mut alive, &mut tally, &mut inspected);
                                }
                                r = &mut wait => break r,
                            }
                        };
                    }
                }
            }
            let mut charge = credit.split(cost);
            let event =
                Event::decode(bytes.as_ref()).map_err(|e| Status::internal(e.to_string()))?;
            inspected.note(i, &event);
            // The body is written into one buffer of its bound: no regrowth.
            let outcome = telemetry_core::ingest_event(
                ctx.publisher,
                event,
                ctx.rpc,
                self.max_message_bytes,
                fp.body,
            );
            inspected.record(
                i,
                &outcome,
                Acknowledgement::assuming_published(&outcome.outcome),
                match &outcome.outcome {
                    Outcome::Reject(e) => Some(e.to_string()),
                    _ => None,
                }
                .as_deref(),
            );
            match outcome.outcome {
                Outcome::Publish(message) => {
                    message_bytes.observe(message.data.len() as f64);
                    let keep = message_cost(&message).min(charge.bytes());
                    credit.merge(charge.split(charge.bytes() - keep));
                    building.bytes += message.data.len();
                    building.messages.push(message);
                    building.indices.push(i);
                    building.charge.merge(charge);
                    alive += 1;
                    if (building.messages.len() >= batch_max || building.bytes >= MAX_BATCH_BYTES)
                        && let Some(f) = self.send_batch(&mut building)
                    {
                        inflight.push(f);
                    }
                }
                Outcome::Reject(e) => {
                    last_dead_letter = self.reject(
                        ctx,
                        &ids,
                        i,
                        &bytes,
                        crate::sink::dead_letter::reason(&e),
                        &e.to_string(),
                    );
                    if let Some(a) = acks.get_mut(i) {
                        *a = Acknowledgement::Rejected;
                    }
                    tally.rejected += 1;
                    errors.push((i, e.to_string()));
                    credit.merge(charge);
                }
                Outcome::DropOversized { size } => {
                    credit.merge(charge);
                    if let Some(suppressed) = self.logs.check(EventLogKind::Oversized) {
                        tracing::error!(
                            event_id = %Clip(&outcome.id),
                            size,
                            source = %Clip(&ctx.publisher.source),
                            suppressed,
                            "discarding oversized event"
                        );
                    }
                    if let Some(a) = acks.get_mut(i) {
                        *a = Acknowledgement::Dropped;
                    }
                    tally.dropped += 1;
                }
            }
        }
        if let Some(f) = self.send_batch(&mut building) {
            inflight.push(f);
        }
        while let Some(done) = inflight.next().await {
            apply(
                done,
                &mut acks,
                &mut errors,
                &mut alive,
                &mut tally,
                &mut inspected,
            );
        }
        if let Some(written) = last_dead_letter {
            // Dead letters are written in order: once the last is, all are. Best effort, so that
            // what was refused is on record when the client hears back; never longer than this.
            let _ = tokio::time::timeout(DEAD_LETTER_WAIT, written).await;
        }

        // Hands the payload's entries to the inspector's store.
        drop(inspected);
        message_bytes.flush();
        let events = &self.metrics.events;
        for (outcome, n) in [
            ("published", tally.published),
            ("publish_failed", tally.publish_failed),
            ("rejected", tally.rejected),
            ("dropped_oversized", tally.dropped),
        ] {
            if n > 0 {
                events
                    .with_label_values(&[outcome, ctx.kind_label])
                    .inc_by(n);
            }
        }
        self.metrics
            .payload_latency
            .with_label_values(&[super::rpc_name(ctx.rpc)])
            .observe(started.elapsed().as_secs_f64());
        errors.sort_by_key(|(i, _)| *i);
        Ok(Processed { ids, acks, errors })
    }

    /// Logs a rejected event (rate-limited) and queues its dead letter; returns a signal of the
    /// dead letter being written.
    fn reject(
        &self,
        ctx: &PayloadContext<'_>,
        ids: &[Bytes],
        i: usize,
        raw: &Bytes,
        reason: &'static str,
        error: &str,
    ) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let id = ids
            .get(i)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        if let Some(suppressed) = self.logs.check(EventLogKind::Rejected) {
            tracing::info!(
                event_id = %Clip(&id),
                error = %Clip(error),
                source = %Clip(&ctx.publisher.source),
                suppressed,
                "rejected event"
            );
        }
        self.dead_letters.as_ref().and_then(|d| {
            d.record(&Rejection {
                event_id: &id,
                event_protobuf: raw,
                reason,
                error,
                source: &ctx.publisher.source,
                request_id: ctx.request_id,
                rpc: super::rpc_name(ctx.rpc),
            })
        })
    }
}
