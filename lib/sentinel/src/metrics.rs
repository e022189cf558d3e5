//! Prometheus metrics of ingest and the processor. Every label value comes from a closed set
//! (outcome codes), never from request or message text.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label set with one `outcome` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// A fixed outcome code.
    pub outcome: &'static str,
}

/// Counts by outcome.
pub type ByOutcome = Family<Outcome, Counter>;

/// Increments `family{outcome}` by `n`.
pub fn count(family: &ByOutcome, outcome: &'static str, n: u64) {
    family.get_or_create(&Outcome { outcome }).inc_by(n);
}

/// Renders a registry in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

/// Metrics of `mcp-sentinel ingest`.
#[derive(Debug)]
pub struct IngestMetrics {
    /// Requests to `POST /events` by outcome (`accepted` or the error code).
    pub requests: ByOutcome,
    /// Envelopes by outcome: `accepted` (broker acknowledged), `enqueue_failed`.
    pub events: ByOutcome,
    /// Time from request to answer of `POST /events`, seconds.
    pub request_duration: Histogram,
    /// Broker round trips (write to acknowledgement) of one request's envelopes, seconds.
    pub delivery_duration: Histogram,
}

impl IngestMetrics {
    /// Registers every metric under `sentinel_ingest_`.
    pub fn register(registry: &mut Registry) -> IngestMetrics {
        let m = IngestMetrics {
            requests: ByOutcome::default(),
            events: ByOutcome::default(),
            request_duration: Histogram::new(exponential_buckets(0.000_5, 2.0, 16)),
            delivery_duration: Histogram::new(exponential_buckets(0.000_5, 2.0, 16)),
        };
        let r = registry.sub_registry_with_prefix("sentinel_ingest");
        r.register("requests", "POST /events requests by outcome", m.requests.clone());
        r.register("events", "Envelopes by outcome", m.events.clone());
        r.register("request_duration_seconds", "POST /events duration", m.request_duration.clone());
        r.register(
            "delivery_duration_seconds",
            "Broker acknowledgement wait per request",
            m.delivery_duration.clone(),
        );
        m
    }
}

/// Metrics of `mcp-sentinel processor`.
#[derive(Debug)]
pub struct ProcessorMetrics {
    /// Messages by outcome: `inserted`, `dead_lettered`.
    pub messages: ByOutcome,
    /// Dead-lettered messages by reason code.
    pub dead_letters: ByOutcome,
    /// Insert attempts by outcome: `ok`, `failed`.
    pub inserts: ByOutcome,
    /// Offset commits by outcome: `ok`, `failed`.
    pub commits: ByOutcome,
    /// Insert duration, seconds.
    pub insert_duration: Histogram,
    /// Rows per insert.
    pub batch_rows: Histogram,
    /// 1 while intake is paused because ClickHouse (or the dead-letter topic) refuses writes.
    pub intake_paused: Gauge<i64, AtomicI64>,
    /// Times intake was paused.
    pub intake_pause_transitions: Counter,
    /// Day partitions dropped by retention.
    pub partitions_dropped: Counter,
}

impl ProcessorMetrics {
    /// Registers every metric under `sentinel_processor_` (plus the reference's
    /// `processor_intake_paused` and `processor_intake_pause_transitions_total`).
    pub fn register(registry: &mut Registry) -> ProcessorMetrics {
        let m = ProcessorMetrics {
            messages: ByOutcome::default(),
            dead_letters: ByOutcome::default(),
            inserts: ByOutcome::default(),
            commits: ByOutcome::default(),
            insert_duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            batch_rows: Histogram::new(exponential_buckets(1.0, 2.0, 18)),
            intake_paused: Gauge::default(),
            intake_pause_transitions: Counter::default(),
            partitions_dropped: Counter::default(),
        };
        registry.register("processor_intake_paused", "1 while intake is paused", m.intake_paused.clone());
        registry.register(
            "processor_intake_pause_transitions",
            "Times intake was paused",
            m.intake_pause_transitions.clone(),
        );
        let r = registry.sub_registry_with_prefix("sentinel_processor");
        r.register("messages", "Kafka messages by outcome", m.messages.clone());
        r.register("dead_letters", "Dead-lettered messages by reason", m.dead_letters.clone());
        r.register("inserts", "ClickHouse insert attempts by outcome", m.inserts.clone());
        r.register("commits", "Offset commits by outcome", m.commits.clone());
        r.register("insert_duration_seconds", "ClickHouse insert duration", m.insert_duration.clone());
        r.register("batch_rows", "Rows per insert", m.batch_rows.clone());
        r.register("partitions_dropped", "Day partitions dropped by retention", m.partitions_dropped.clone());
        m
    }
}
