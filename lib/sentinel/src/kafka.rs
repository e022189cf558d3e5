//! The rdkafka adapter: client settings and topic creation, shared by ingest and the processor.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::StreamConsumer;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use tracing::{debug, info};

use crate::config::KafkaConfig;

/// Longest time the broker may hold a fetch request of the processor's consumer (see
/// [`consumer`]): also the longest an idle processor waits to see a new message.
pub const FETCH_WAIT_MS: u32 = 50;

/// Settings every client shares: the brokers, and librdkafka's debug contexts when asked for.
fn base(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    if let Some(debug) = kafka.debug.as_deref().filter(|d| !d.is_empty()) {
        config.set("debug", debug).set_log_level(rdkafka::config::RDKafkaLogLevel::Debug);
    }
    config
}

/// Settings of a producer that loses nothing it acknowledged: every in-sync replica must have
/// the write (`acks=all`), and retries cannot duplicate or reorder (`enable.idempotence`).
/// A write is retried for up to `KAFKA_MESSAGE_TIMEOUT` (callers may stop waiting sooner; the
/// write goes on in the background). A long message timeout matters for the idempotent
/// producer: a write that times out makes librdkafka bump the producer epoch, which some
/// brokers handle badly after a restart (tansu 0.6.0 panics), while a write that simply waits
/// for the broker to come back keeps its sequence number.
pub fn producer(kafka: &KafkaConfig, client_id: &str) -> Result<FutureProducer, KafkaError> {
    base(kafka)
        .set("client.id", client_id)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", kafka.linger.as_millis().to_string())
        .set("compression.type", &kafka.compression)
        .set("message.timeout.ms", kafka.message_timeout.as_millis().max(1).to_string())
        .set("socket.timeout.ms", "5000")
        .set("reconnect.backoff.max.ms", "1000")
        .create()
}

/// A producer that replaces itself after a fatal error.
///
/// An idempotent producer turns some broker answers into fatal errors (for example when a
/// restarted broker no longer knows the producer's sequence numbers); a fatal producer fails
/// every later write. [`Reconnecting::recover`] swaps in a fresh producer so the service heals
/// without a restart. Writes that were in flight on the old producer were already reported as
/// failed to their callers, who retry.
pub struct Reconnecting {
    kafka: KafkaConfig,
    client_id: String,
    current: std::sync::RwLock<FutureProducer>,
}

impl std::fmt::Debug for Reconnecting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnecting").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

impl Reconnecting {
    /// A producer with [`producer`]'s settings.
    pub fn new(kafka: &KafkaConfig, client_id: &str) -> Result<Reconnecting, KafkaError> {
        let current = producer(kafka, client_id)?;
        Ok(Reconnecting {
            kafka: kafka.clone(),
            client_id: client_id.to_string(),
            current: std::sync::RwLock::new(current),
        })
    }

    /// The producer to write with now.
    pub fn get(&self) -> FutureProducer {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the producer if it hit a fatal error; returns whether it did.
    pub fn recover(&self) -> bool {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        let Some((code, reason)) = current.client().fatal_error() else { return false };
        match producer(&self.kafka, &self.client_id) {
            Ok(fresh) => {
                tracing::error!(?code, %reason, client_id = %self.client_id, "Kafka producer hit a fatal error; replaced it");
                *current = fresh;
                true
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot replace the failed Kafka producer");
                false
            }
        }
    }
}

/// A consumer in `group` that never commits by itself: the processor commits exactly the
/// offsets of rows that reached ClickHouse.
///
/// `fetch.wait.max.ms` is [`FETCH_WAIT_MS`] instead of librdkafka's 500: tansu 0.6.0 answers a
/// fetch only after sleeping part of the request's wait even when it found data (half of what
/// is left when that is 250 ms or more, else all of it), and librdkafka keeps one fetch in flight
/// per broker, so with the default every fetch took at least 250 ms and the processor could read
/// at most one 5 MiB fetch response (tansu's cap) per quarter second.
pub fn consumer(
    kafka: &KafkaConfig,
    group: &str,
    instance: Option<&str>,
) -> Result<StreamConsumer, KafkaError> {
    let mut config = base(kafka);
    if let Some(instance) = instance.filter(|i| !i.is_empty()) {
        config.set("group.instance.id", instance);
    }
    config
        .set("group.id", group)
        .set("client.id", "mcp-sentinel-processor")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("max.poll.interval.ms", "300000")
        .set("queued.max.messages.kbytes", "65536")
        .set("fetch.wait.max.ms", FETCH_WAIT_MS.to_string())
        .set("reconnect.backoff.max.ms", "1000")
        .create()
}

/// Creates the events and dead-letter topics when they do not exist yet.
pub async fn ensure_topics(kafka: &KafkaConfig) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = base(kafka).create()?;
    let topics = [
        NewTopic::new(&kafka.topic, kafka.partitions, TopicReplication::Fixed(kafka.replication)),
        NewTopic::new(&kafka.dlq_topic, 1, TopicReplication::Fixed(kafka.replication)),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics(&topics, &options).await?;
    for result in results {
        match result {
            Ok(topic) => info!(%topic, "topic created"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => debug!(%topic, "topic exists"),
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        }
    }
    Ok(())
}

/// Whether the brokers answer a metadata request for `topic` within `timeout`.
pub async fn probe(producer: &FutureProducer, topic: &str, timeout: Duration) -> Result<(), KafkaError> {
    let client = producer.clone();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || client.client().fetch_metadata(Some(&topic), timeout).map(|_| ()))
        .await
        .unwrap_or(Err(KafkaError::Canceled))
}
