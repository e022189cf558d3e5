//! `mcp-sentinel processor`: Kafka → ClickHouse, at least once, deduplicated by the table.
//!
//! The loop, one batch at a time:
//! 1. read messages (consumer group, no auto-commit) until the batch holds `batch_size`
//!    envelopes or its first message waited `flush_interval`;
//! 2. turn each envelope into a row ([`crate::row::extract`]; a message holds one envelope or
//!    an array of them, [`crate::row::split`]); an envelope that cannot become a row goes to
//!    the dead-letter topic with its reason code in the `x-dlq-reason` header (and its position
//!    in `x-source-index` when it came in an array), and is counted; a message that is not JSON
//!    goes there whole;
//! 3. insert the rows (RowBinary, one `INSERT`);
//! 4. commit, per partition, the offset after the batch's last message.
//!
//! Nothing is committed before its row is in ClickHouse (or its message in the dead-letter
//! topic). When an insert or a dead-letter write fails, the batch is kept, intake pauses (the
//! partitions are paused and the gauge `processor_intake_paused` is 1) and the write is retried
//! with backoff until it succeeds; then intake resumes. A crash at any point re-delivers at most
//! the uncommitted batch; its rows collapse on `event_id` (`ReplacingMergeTree`, queries use
//! `FINAL`). On SIGTERM the current batch is flushed within `shutdown_timeout`.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clickhouse::Client;
use prometheus_client::registry::Registry;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::ProcessorConfig;
use crate::metrics::{ProcessorMetrics, count};
use crate::row::{EventRow, Invalid, Record};
use crate::{kafka, schema};

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const INSERT_TIMEOUT: Duration = Duration::from_secs(30);
const DLQ_TIMEOUT: Duration = Duration::from_secs(10);

/// The processor could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The Kafka clients could not be created or subscribed (bad settings).
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// The metrics listener could not bind.
    #[error("cannot bind the metrics listener {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// A message that cannot become a row, kept with what the dead-letter topic needs.
#[derive(Debug)]
struct DeadLetter {
    partition: i32,
    offset: i64,
    /// Position in the message when it held an array of envelopes.
    index: Option<usize>,
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    reason: Invalid,
}

/// The messages read since the last commit.
#[derive(Debug, Default)]
struct Batch {
    rows: Vec<EventRow>,
    dead: Vec<DeadLetter>,
    /// Highest offset seen per partition.
    offsets: BTreeMap<i32, i64>,
    messages: usize,
    started: Option<Instant>,
    dead_lettered: bool,
    inserted: bool,
}

impl Batch {
    fn add(&mut self, partition: i32, offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        self.messages += 1;
        let slot = self.offsets.entry(partition).or_insert(offset);
        *slot = (*slot).max(offset);
        let value = value.unwrap_or_default();
        let dead = |index: Option<usize>, value: &[u8], reason: Invalid| DeadLetter {
            partition,
            offset,
            index,
            key: key.map(<[u8]>::to_vec),
            value: value.to_vec(),
            reason,
        };
        match crate::row::split(value) {
            Ok(Record::One(envelope)) => match crate::row::extract(envelope) {
                Ok(row) => self.rows.push(row),
                Err(reason) => self.dead.push(dead(None, envelope, reason)),
            },
            Ok(Record::Many(envelopes)) => {
                self.rows.reserve(envelopes.len());
                for (i, envelope) in envelopes.into_iter().enumerate() {
                    match crate::row::extract(envelope) {
                        Ok(row) => self.rows.push(row),
                        Err(reason) => self.dead.push(dead(Some(i), envelope, reason)),
                    }
                }
            }
            Err(reason) => self.dead.push(dead(None, value, reason)),
        }
    }

    /// Envelopes (rows plus dead letters) read so far: what `batch_size` limits.
    fn events(&self) -> usize {
        self.rows.len() + self.dead.len()
    }

    fn is_empty(&self) -> bool {
        self.messages == 0
    }
}

struct Shared {
    metrics: ProcessorMetrics,
    registry: Registry,
    ready: AtomicBool,
}

/// The running processor.
struct Processor {
    config: ProcessorConfig,
    consumer: Arc<StreamConsumer>,
    dlq: kafka::Reconnecting,
    client: Client,
    shared: Arc<Shared>,
    paused: bool,
}

/// Runs the processor until `shutdown` completes: migrations (unless disabled), topic
/// creation (unless disabled), then the consume → insert → commit loop, then a final flush.
pub async fn run(
    config: ProcessorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ProcessorError> {
    let mut registry = Registry::default();
    let metrics = ProcessorMetrics::register(&mut registry);
    let shared = Arc::new(Shared { metrics, registry, ready: AtomicBool::new(false) });
    if let Some(addr) = config.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ProcessorError::Bind { addr, source })?;
        info!(%addr, "processor metrics listening");
        let app = Router::new()
            .route("/metrics", get(metrics_handler))
            .route("/live", get(live))
            .route("/health", get(live))
            .route("/ready", get(ready))
            .with_state(shared.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                error!(error = %err, "metrics server failed");
            }
        });
    }

    tokio::pin!(shutdown);
    let client = config.clickhouse.client().with_database(config.clickhouse.database.as_str());
    let admin = config.clickhouse.client();
    if config.migrate {
        let migrated = retry_until("migrate ClickHouse", &mut shutdown, config.max_backoff, || {
            schema::migrate(&admin, &config.clickhouse.database)
        })
        .await;
        match migrated {
            Some(report) => info!(version = report.current, applied = ?report.applied, "schema up to date"),
            None => return Ok(()),
        }
    }
    if config.kafka.create_topics
        && retry_until("create topics", &mut shutdown, config.max_backoff, || {
            kafka::ensure_topics(&config.kafka)
        })
        .await
        .is_none()
    {
        return Ok(());
    }
    let consumer =
        Arc::new(kafka::consumer(&config.kafka, &config.group, config.group_instance_id.as_deref())?);
    consumer.subscribe(&[&config.kafka.topic])?;
    let dlq = kafka::Reconnecting::new(&config.kafka, "mcp-sentinel-processor-dlq")?;
    if config.retention_days > 0 {
        tokio::spawn(retention(admin, config.clone(), shared.clone()));
    }
    shared.ready.store(true, Ordering::Relaxed);
    info!(
        topic = %config.kafka.topic, group = %config.group, database = %config.clickhouse.database,
        batch_size = config.batch_size, flush_interval_ms = config.flush_interval.as_millis() as u64,
        "processor consuming"
    );
    let mut processor = Processor { config, consumer, dlq, client, shared, paused: false };
    processor.run(&mut shutdown).await;
    Ok(())
}

/// Retries `op` with backoff until it succeeds; `None` when `shutdown` came first.
async fn retry_until<T, E, F, Fut>(
    what: &str,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    max_backoff: Duration,
    mut op: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = BACKOFF_MIN;
    loop {
        match op().await {
            Ok(v) => return Some(v),
            Err(err) => warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "cannot {what} yet"),
        }
        tokio::select! {
            () = shutdown.as_mut() => return None,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(max_backoff);
    }
}

impl Processor {
    async fn run(&mut self, shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>) {
        let mut batch = Batch::default();
        loop {
            let deadline = batch.started.map(|t| t + self.config.flush_interval);
            let flush_due = sleep_until_some(deadline);
            tokio::select! {
                biased;
                () = shutdown.as_mut() => break,
                () = flush_due => {}
                received = self.consumer.recv() => match received {
                    Ok(msg) => batch.add(msg.partition(), msg.offset(), msg.key(), msg.payload()),
                    Err(err) => {
                        warn!(error = %err, "kafka consumer error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
            let due = deadline.is_some_and(|at| Instant::now() >= at);
            if !batch.is_empty() && (batch.events() >= self.config.batch_size || due) {
                let next = self.flush(&mut batch, None).await;
                batch = next;
            }
        }
        if !batch.is_empty() {
            let n = batch.messages;
            info!(messages = n, "shutting down: flushing the current batch");
            let budget = Instant::now() + self.config.shutdown_timeout;
            let _ = self.flush(&mut batch, Some(budget)).await;
            if !batch.is_empty() {
                error!(
                    messages = n,
                    "shutdown budget exhausted; the batch is not committed and will be redelivered"
                );
            }
        }
        let producer = self.dlq.get();
        let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(5))).await;
        self.consumer.unsubscribe();
        info!("processor stopped");
    }

    /// Writes and commits `batch`, retrying until it succeeds (or `budget` passes). Messages
    /// that arrive meanwhile (while the batch is written and committed, and while intake is
    /// paused, up to `batch_size` envelopes) are returned as the next batch, so reading and
    /// extracting the next batch overlaps the insert. On shutdown (`budget` set) nothing more is
    /// read. On success `batch` is left empty.
    async fn flush(&mut self, batch: &mut Batch, budget: Option<Instant>) -> Batch {
        let mut next = Batch::default();
        let mut backoff = BACKOFF_MIN;
        let consumer = self.consumer.clone();
        let limit = if budget.is_some() { 0 } else { self.config.batch_size };
        loop {
            match read_while(&consumer, &mut next, limit, self.write(batch)).await {
                Ok(()) => break,
                Err(err) => {
                    warn!(error = %err, messages = batch.messages, retry_in_ms = backoff.as_millis() as u64, "batch not written; retrying");
                    self.pause();
                }
            }
            let wake = Instant::now() + backoff;
            if budget.is_some_and(|b| wake > b) {
                return next;
            }
            // Keep polling while paused so the group keeps us; anything already fetched is kept.
            loop {
                match tokio::time::timeout_at(wake, self.consumer.recv()).await {
                    Ok(Ok(msg)) => next.add(msg.partition(), msg.offset(), msg.key(), msg.payload()),
                    Ok(Err(err)) => {
                        debug!(error = %err, "kafka consumer error while paused");
                        tokio::time::sleep_until(wake.min(Instant::now() + Duration::from_millis(100))).await;
                    }
                    Err(_) => break,
                }
            }
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
        read_while(&consumer, &mut next, limit, self.commit(batch)).await;
        self.resume();
        *batch = Batch::default();
        next
    }

    /// Dead-letters and inserts what has not been written yet.
    async fn write(&self, batch: &mut Batch) -> Result<(), String> {
        let m = &self.shared.metrics;
        if !batch.dead_lettered && !batch.dead.is_empty() {
            self.dead_letter(&batch.dead).await?;
            for d in &batch.dead {
                count(&m.dead_letters, d.reason.code(), 1);
            }
            count(&m.messages, "dead_lettered", batch.dead.len() as u64);
        }
        batch.dead_lettered = true;
        if !batch.inserted && !batch.rows.is_empty() {
            let started = std::time::Instant::now();
            match self.insert(&batch.rows).await {
                Ok(()) => {
                    m.insert_duration.observe(started.elapsed().as_secs_f64());
                    m.batch_rows.observe(batch.rows.len() as f64);
                    count(&m.inserts, "ok", 1);
                    count(&m.messages, "inserted", batch.rows.len() as u64);
                    debug!(
                        rows = batch.rows.len(),
                        ms = started.elapsed().as_millis() as u64,
                        "batch inserted"
                    );
                }
                Err(err) => {
                    count(&m.inserts, "failed", 1);
                    return Err(format!("insert into ClickHouse: {err}"));
                }
            }
        }
        batch.inserted = true;
        Ok(())
    }

    async fn insert(&self, rows: &[EventRow]) -> Result<(), clickhouse::error::Error> {
        let mut insert = self
            .client
            .insert::<EventRow>("events")
            .await?
            .with_timeouts(Some(INSERT_TIMEOUT), Some(INSERT_TIMEOUT));
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await
    }

    async fn dead_letter(&self, dead: &[DeadLetter]) -> Result<(), String> {
        let result = self.try_dead_letter(dead).await;
        if result.is_err() {
            self.dlq.recover();
        }
        result
    }

    async fn try_dead_letter(&self, dead: &[DeadLetter]) -> Result<(), String> {
        let producer = self.dlq.get();
        let topic = &self.config.kafka.topic;
        let mut pending = Vec::with_capacity(dead.len());
        for d in dead {
            warn!(partition = d.partition, offset = d.offset, index = ?d.index, reason = d.reason.code(), error = %d.reason, "message sent to the dead-letter topic");
            let message = d.reason.to_string();
            let partition = d.partition.to_string();
            let offset = d.offset.to_string();
            let index = d.index.map(|i| i.to_string());
            let mut headers = OwnedHeaders::new()
                .insert(Header { key: "x-dlq-reason", value: Some(d.reason.code()) })
                .insert(Header { key: "x-dlq-error", value: Some(truncate(&message, 1024)) })
                .insert(Header { key: "x-source-topic", value: Some(topic.as_str()) })
                .insert(Header { key: "x-source-partition", value: Some(&partition) })
                .insert(Header { key: "x-source-offset", value: Some(&offset) });
            if let Some(index) = &index {
                headers = headers.insert(Header { key: "x-source-index", value: Some(index) });
            }
            let mut record =
                FutureRecord::to(&self.config.kafka.dlq_topic).payload(&d.value).headers(headers);
            if let Some(key) = &d.key {
                record = record.key(key);
            }
            match producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((err, _)) => return Err(format!("dead-letter write: {err}")),
            }
        }
        let deadline = Instant::now() + DLQ_TIMEOUT;
        for delivery in pending {
            match tokio::time::timeout_at(deadline, delivery).await {
                Ok(Ok(Ok(_))) => {}
                Ok(Ok(Err((err, _)))) => return Err(format!("dead-letter write: {err}")),
                Ok(Err(_)) => return Err("dead-letter write: producer shut down".into()),
                Err(_) => return Err(format!("dead-letter write not acknowledged within {DLQ_TIMEOUT:?}")),
            }
        }
        Ok(())
    }

    async fn commit(&self, batch: &Batch) {
        let mut tpl = TopicPartitionList::new();
        for (&partition, &offset) in &batch.offsets {
            if tpl
                .add_partition_offset(&self.config.kafka.topic, partition, Offset::Offset(offset + 1))
                .is_err()
            {
                return;
            }
        }
        let consumer = self.consumer.clone();
        let result = tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync)).await;
        let m = &self.shared.metrics;
        match result {
            Ok(Ok(())) => count(&m.commits, "ok", 1),
            Ok(Err(err)) => {
                // The rows are in ClickHouse; the messages will be redelivered and collapse.
                count(&m.commits, "failed", 1);
                warn!(error = %err, offsets = ?batch.offsets, "offset commit failed; the batch will be redelivered");
            }
            Err(err) => {
                count(&m.commits, "failed", 1);
                warn!(error = %err, "offset commit task failed");
            }
        }
    }

    fn pause(&mut self) {
        if self.paused {
            return;
        }
        self.paused = true;
        let m = &self.shared.metrics;
        m.intake_paused.set(1);
        m.intake_pause_transitions.inc();
        if let Ok(assignment) = self.consumer.assignment()
            && let Err(err) = self.consumer.pause(&assignment)
        {
            debug!(error = %err, "cannot pause the partitions");
        }
        warn!("intake paused until the batch is written");
    }

    fn resume(&mut self) {
        if !self.paused {
            return;
        }
        self.paused = false;
        self.shared.metrics.intake_paused.set(0);
        if let Ok(assignment) = self.consumer.assignment()
            && let Err(err) = self.consumer.resume(&assignment)
        {
            debug!(error = %err, "cannot resume the partitions");
        }
        info!("intake resumed");
    }
}

/// Sleeps until `at`; never wakes when there is no `at`.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs `work` while reading messages into `next` until it holds `limit` envelopes.
async fn read_while<T>(
    consumer: &StreamConsumer,
    next: &mut Batch,
    limit: usize,
    work: impl Future<Output = T>,
) -> T {
    tokio::pin!(work);
    // After a consumer error, wait a little before reading again instead of spinning.
    let mut quiet_until: Option<Instant> = None;
    loop {
        let quiet = sleep_until_some(quiet_until);
        tokio::select! {
            biased;
            out = &mut work => return out,
            () = quiet => quiet_until = None,
            received = consumer.recv(), if quiet_until.is_none() && next.events() < limit => match received {
                Ok(msg) => next.add(msg.partition(), msg.offset(), msg.key(), msg.payload()),
                Err(err) => {
                    debug!(error = %err, "kafka consumer error while writing a batch");
                    quiet_until = Some(Instant::now() + Duration::from_millis(100));
                }
            },
        }
    }
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

async fn retention(client: Client, config: ProcessorConfig, shared: Arc<Shared>) {
    loop {
        match schema::drop_expired(&client, &config.clickhouse.database, config.retention_days).await {
            Ok(dropped) => {
                shared.metrics.partitions_dropped.inc_by(dropped.len() as u64);
            }
            Err(err) => warn!(error = %err, "retention run failed"),
        }
        tokio::time::sleep(config.retention_interval).await;
    }
}

async fn metrics_handler(State(shared): State<Arc<Shared>>) -> Response {
    crate::ingest::metrics_response(&shared.registry)
}

async fn live() -> Response {
    axum::Json(json!({"ok": true})).into_response()
}

async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    if shared.ready.load(Ordering::Relaxed) {
        axum::Json(json!({"ok": true})).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"ok": false, "error": "starting"})))
            .into_response()
    }
}

#[cfg(test)]
mod tests;
