//! Migrations against a real ClickHouse: idempotent, safe when run concurrently, and retention
//! drops only expired day partitions.

use std::process::Command;

use mcp_sentinel::schema::{drop_expired, migrate};
use mcp_sentinel::{ClickHouseConfig, Database, EventRow};
use mcp_testkit::services::ClickHouse;

fn row(id: &str, ts_ms: u64) -> EventRow {
    let line = serde_json::json!({
        "event_id": id,
        "timestamp": format!("{:.3}", jiff::Timestamp::from_millisecond(ts_ms as i64).expect("time")),
        "source": "s", "event_type": "t", "payload": {"server": "ws"}
    });
    mcp_sentinel::row::extract(line.to_string().as_bytes()).expect("row")
}

async fn count(client: &clickhouse::Client, sql: &str) -> u64 {
    client.query(sql).fetch_one::<u64>().await.expect(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_retention_drops_expired_days() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ClickHouse::start(dir.path()).unwrap_or_else(|e| panic!("{e}"));

    // The binary, twice.
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_mcp-sentinel"))
            .args(["migrate", "--clickhouse-url", &server.url(), "--clickhouse-db", "m1"])
            .env("RUST_LOG", "info")
            .output()
            .expect("run migrate");
        assert!(out.status.success(), "migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut config = ClickHouseConfig::new(server.url());
    config.database = Database::new("m1").expect("name");
    let client = config.client();
    assert_eq!(count(&client, "SELECT count() FROM m1.schema_migrations").await, 1, "version recorded once");
    let engine = client
        .query("SELECT engine FROM system.tables WHERE database = 'm1' AND name = 'events'")
        .fetch_one::<String>()
        .await
        .expect("table exists");
    assert_eq!(engine, "ReplacingMergeTree");

    // Two processors starting at once on a fresh database.
    let db2 = Database::new("m2").expect("name");
    let (a, b) = tokio::join!(migrate(&client, &db2), migrate(&client, &db2));
    a.expect("first");
    b.expect("second");
    let report = migrate(&client, &db2).await.expect("third");
    assert!(report.applied.is_empty());
    assert_eq!(report.current, 1);

    // Retention: day partitions older than 30 days go, the rest stays; copies collapse.
    let now = jiff::Timestamp::now().as_millisecond() as u64;
    let day = 86_400_000;
    let rows = [
        row("new", now),
        row("new", now),
        row("two-days", now - 2 * day),
        row("old", now - 40 * day),
        row("older", now - 41 * day),
    ];
    let insert_client = client.clone().with_database("m1");
    let mut insert = insert_client.insert::<EventRow>("events").await.expect("insert");
    for r in &rows {
        insert.write(r).await.expect("write");
    }
    insert.end().await.expect("end");
    assert_eq!(count(&client, "SELECT count() FROM m1.events").await, 5);
    assert_eq!(
        count(&client, "SELECT count() FROM m1.events FINAL").await,
        4,
        "copies of one event collapse"
    );
    let dropped = drop_expired(&client, &config.database, 30).await.expect("retention");
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert_eq!(count(&client, "SELECT count() FROM m1.events FINAL").await, 2);
    assert!(drop_expired(&client, &config.database, 30).await.expect("again").is_empty());
    assert!(
        drop_expired(&client, &config.database, 0).await.expect("disabled").is_empty(),
        "0 keeps everything"
    );
}
