//! Sentinel: the analytics pipeline that turns every audit event into one queryable ClickHouse
//! row. gateway → `POST /events` ([`ingest`]) → Kafka topic `mcp.events` → [`processor`] →
//! `<db>.events` ([`schema`]) → [`query`] (platform API, dashboard).
//!
//! Owns: the ingest service, the processor, the row extraction ([`row`]), the ClickHouse schema
//! and its migrations, and the query library. The envelope itself is [`mcp_events::Envelope`]
//! (crate `mcp-events`, shared with the gateway).
//!
//! Invariants:
//! - No acknowledged event is lost: ingest answers `202` only after the broker acknowledged
//!   every write (`acks=all`, idempotent producer); the processor commits offsets only after
//!   the rows are in ClickHouse; a message that cannot become a row goes to the dead-letter
//!   topic (`mcp.events.dlq`) and is counted, never skipped silently.
//! - None is counted twice: every event has an `event_id`, the Kafka key; the table is a
//!   `ReplacingMergeTree` ordered by `event_id`, and every query reads it with `FINAL`.
//! - SQL stays inside what ClickHouse 18.16 and current releases both accept (no `DateTime64`,
//!   `LowCardinality`, `Map`, `JSON`, `Bool`, server-side parameters or TTL); caller values are
//!   always client-side `?` binds; clients run with `with_validation(false)`.
//! - Pure parts ([`row`], SQL builders in [`schema`] and [`query`], [`ingest::prepare`],
//!   [`config`]) do no I/O and are tested without servers; rdkafka, clickhouse and axum stay in
//!   [`kafka`], [`ingest`], [`processor`] and the `Analytics`/`migrate` adapters.
//! - Never depends on `mcp-gateway` or any Kubernetes crate.

pub mod auth;
pub mod config;
#[cfg(feature = "pipeline")]
pub mod ingest;
#[cfg(feature = "pipeline")]
pub mod kafka;
pub mod metrics;
#[cfg(feature = "pipeline")]
pub mod processor;
pub mod query;
pub mod row;
pub mod schema;

pub use config::{
    ClickHouseConfig, ConfigError, Database, IngestConfig, KafkaConfig, OidcConfig, ProcessorConfig,
};
pub use query::Analytics;
pub use row::EventRow;
