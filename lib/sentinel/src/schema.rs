//! The ClickHouse schema: versioned, idempotent migrations and retention by partition drop.
//!
//! Every statement stays inside SQL that ClickHouse 18.16 (our test server) and current releases
//! both accept: `DateTime` plus a `UInt64` millisecond column instead of `DateTime64`, `String`
//! instead of `LowCardinality`/`JSON`/`Map`/`Bool`, no TTL clause (retention drops whole day
//! partitions instead).
//!
//! `<db>.events` is a `ReplacingMergeTree` ordered by `event_id` alone: copies of one event
//! (retries, redelivery after a crash) have the same sorting key and collapse in background
//! merges; queries read it with `FINAL`, so they never see a copy even before a merge. It is
//! partitioned by day (`toYYYYMMDD(timestamp)`), which is also the unit of retention.
//!
//! `<db>.schema_migrations` records which versions ran. Each migration is idempotent on its own
//! (`IF NOT EXISTS`), so two processors starting at once, or a run that died half-way, are safe:
//! a migration that is applied again changes nothing.

use clickhouse::Client;
use tracing::info;

use crate::config::Database;

/// The columns of `<db>.events`, in [`crate::row::EventRow`] order: the one table of them in
/// `mcp-events` (the DDL below, the row and the query select lists all derive from it).
pub use mcp_events::columns::EVENT_COLUMNS;

/// One schema version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Increasing version number; never reused.
    pub version: u32,
    /// Short name, recorded next to the version.
    pub name: &'static str,
    /// Statements, run in order; each must be idempotent.
    pub statements: Vec<String>,
}

/// Every migration of database `db`, oldest first.
pub fn migrations(db: &Database) -> Vec<Migration> {
    vec![Migration { version: 1, name: "events", statements: vec![events_table(db)] }]
}

/// `CREATE TABLE` for `<db>.events`.
pub fn events_table(db: &Database) -> String {
    let columns: Vec<String> =
        EVENT_COLUMNS.iter().map(|c| format!("    {} {}", c.name, c.ty.sql())).collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.events (\n{}\n) ENGINE = ReplacingMergeTree\n\
         PARTITION BY toYYYYMMDD(timestamp)\nORDER BY event_id",
        columns.join(",\n")
    )
}

fn bootstrap(db: &Database) -> [String; 2] {
    [
        format!("CREATE DATABASE IF NOT EXISTS {db}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, name String, applied_at DateTime) \
             ENGINE = ReplacingMergeTree ORDER BY version"
        ),
    ]
}

/// A ClickHouse call that failed, with the statement it ran.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct SchemaError {
    what: String,
    #[source]
    source: clickhouse::error::Error,
}

fn failed(what: impl Into<String>) -> impl FnOnce(clickhouse::error::Error) -> SchemaError {
    let what = what.into();
    move |source| SchemaError { what, source }
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// Versions applied by this run.
    pub applied: Vec<u32>,
    /// The schema version now.
    pub current: u32,
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct VersionRow {
    version: u32,
}

/// Brings `db` to the newest schema version: creates the database and the migrations table when
/// missing, then runs every migration not yet recorded, in order.
pub async fn migrate(client: &Client, db: &Database) -> Result<MigrateReport, SchemaError> {
    for sql in bootstrap(db) {
        client.query(&sql).execute().await.map_err(failed(format!("run `{sql}`")))?;
    }
    let done: Vec<VersionRow> = client
        .query(&format!("SELECT DISTINCT version FROM {db}.schema_migrations ORDER BY version"))
        .fetch_all()
        .await
        .map_err(failed("read applied migrations"))?;
    let done: Vec<u32> = done.into_iter().map(|r| r.version).collect();
    let mut applied = Vec::new();
    for migration in migrations(db) {
        if done.contains(&migration.version) {
            continue;
        }
        for sql in &migration.statements {
            client
                .query(sql)
                .execute()
                .await
                .map_err(failed(format!("migration {} ({})", migration.version, migration.name)))?;
        }
        client
            .query(&format!(
                "INSERT INTO {db}.schema_migrations (version, name, applied_at) VALUES (?, ?, now())"
            ))
            .bind(migration.version)
            .bind(migration.name)
            .execute()
            .await
            .map_err(failed(format!("record migration {}", migration.version)))?;
        info!(version = migration.version, name = migration.name, database = %db, "migration applied");
        applied.push(migration.version);
    }
    let current = done.iter().chain(&applied).copied().max().unwrap_or(0);
    Ok(MigrateReport { applied, current })
}

/// The day partitions (`YYYYMMDD`) strictly older than `retention_days` days before `today`.
///
/// `today` is `YYYYMMDD` in UTC; partitions that are not eight-digit days are never chosen.
pub fn expired_partitions(
    partitions: &[String],
    today: jiff::civil::Date,
    retention_days: u32,
) -> Vec<String> {
    let Ok(cutoff) = today.checked_sub(jiff::Span::new().days(i64::from(retention_days))) else {
        return Vec::new();
    };
    let cutoff = yyyymmdd(cutoff);
    let mut out: Vec<String> = partitions
        .iter()
        .filter(|p| p.len() == 8 && p.bytes().all(|b| b.is_ascii_digit()))
        .filter(|p| p.parse::<u32>().is_ok_and(|day| day < cutoff))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

fn yyyymmdd(date: jiff::civil::Date) -> u32 {
    (date.year() as u32) * 10_000 + (date.month() as u32) * 100 + date.day() as u32
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct PartitionRow {
    partition: String,
}

/// Drops the day partitions of `<db>.events` older than `retention_days` (0 keeps everything).
/// Returns the partitions dropped.
pub async fn drop_expired(
    client: &Client,
    db: &Database,
    retention_days: u32,
) -> Result<Vec<String>, SchemaError> {
    if retention_days == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<PartitionRow> = client
        .query(
            "SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = 'events' AND active",
        )
        .bind(db.as_str())
        .fetch_all()
        .await
        .map_err(failed("list partitions"))?;
    let partitions: Vec<String> = rows.into_iter().map(|r| r.partition).collect();
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let expired = expired_partitions(&partitions, today, retention_days);
    for partition in &expired {
        // `partition` is eight ASCII digits (checked above): safe to splice.
        let sql = format!("ALTER TABLE {db}.events DROP PARTITION {partition}");
        client.query(&sql).execute().await.map_err(failed(format!("drop partition {partition}")))?;
        info!(%partition, database = %db, retention_days, "expired partition dropped");
    }
    Ok(expired)
}

#[cfg(test)]
mod tests;
