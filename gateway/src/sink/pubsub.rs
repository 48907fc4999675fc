//! Google Cloud Pub/Sub, through the official `google-cloud-pubsub` client. One Pub/Sub message
//! per event (data = the body, attributes as computed by the core), each publish awaited: a
//! message is acknowledged once Pub/Sub acknowledged the publish (stored durably by Pub/Sub).
//! Messages are checked against Pub/Sub's limits before they get here (the core's
//! `check_pubsub_limits`), so one message cannot fail the client library's batch of others.
//! A publish still in the client library when its deadline passes may yet be delivered: the
//! event is then reported failed and also delivered (the client's retry is a duplicate, which
//! consumers deduplicate by event id).

use super::{Batch, BatchResult, Sink, SinkError};
use async_trait::async_trait;
use google_cloud_pubsub::client::{Publisher, TopicAdmin};
use google_cloud_pubsub::model::Message as PubSubMessage;
use telemetry_core::Message;
use tokio::time::Instant;

/// Publishes to one Pub/Sub topic.
pub struct PubSubSink {
    topic: String,
    endpoint: Option<String>,
    publisher: Publisher,
    admin: TopicAdmin,
}

impl PubSubSink {
    /// Connects to `topic` (`projects/P/topics/T`). With an `endpoint` (e.g. the emulator's
    /// `http://127.0.0.1:8085`) anonymous credentials are used; otherwise Application Default
    /// Credentials.
    pub async fn connect(topic: &str, endpoint: Option<&str>) -> Result<Self, SinkError> {
        let mut publisher = Publisher::builder(topic);
        let mut admin = TopicAdmin::builder();
        if let Some(endpoint) = endpoint {
            let anonymous = || google_cloud_auth::credentials::anonymous::Builder::new().build();
            publisher = publisher
                .with_endpoint(endpoint)
                .with_credentials(anonymous());
            admin = admin.with_endpoint(endpoint).with_credentials(anonymous());
        }
        let publisher = publisher
            .build()
            .await
            .map_err(|e| anyhow::anyhow!("creating Pub/Sub publisher for {topic}: {e}"))?;
        let admin = admin
            .build()
            .await
            .map_err(|e| anyhow::anyhow!("creating Pub/Sub topic admin client: {e}"))?;
        Ok(PubSubSink {
            topic: topic.to_string(),
            endpoint: endpoint.map(str::to_string),
            publisher,
            admin,
        })
    }
}

#[async_trait]
impl Sink for PubSubSink {
    async fn publish(&self, batch: Batch, deadline: Instant) -> BatchResult {
        let Batch { messages, charge } = batch;
        let n = messages.len();
        let publishes = futures::future::join_all(messages.into_iter().map(|m: Message| {
            self.publisher.publish(
                PubSubMessage::new()
                    .set_data(bytes::Bytes::from(m.data))
                    .set_attributes(m.attributes),
            )
        }));
        let results = match tokio::time::timeout_at(deadline, publishes).await {
            Ok(results) => results,
            Err(_) => return BatchResult::all_failed(n, "publish timed out"),
        };
        drop(charge);
        BatchResult {
            failed: results
                .into_iter()
                .enumerate()
                .filter_map(|(i, r)| r.err().map(|e| (i, format!("publishing event: {e}"))))
                .collect(),
        }
    }

    async fn flush(&self) -> Result<(), SinkError> {
        self.publisher.flush().await;
        Ok(())
    }

    async fn health(&self) -> Result<(), SinkError> {
        self.admin
            .get_topic()
            .set_topic(&self.topic)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("topic does not exist: {e}"))?;
        Ok(())
    }

    fn describe(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("Pub/Sub topic {} at {e}", self.topic),
            None => format!("Pub/Sub topic {}", self.topic),
        }
    }
}
