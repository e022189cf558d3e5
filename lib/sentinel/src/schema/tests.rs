use super::*;

fn db() -> Database {
    Database::new("mcp").expect("valid name")
}

#[test]
fn events_table_ddl_is_stable() {
    let ddl = events_table(&db());
    assert!(
        ddl.starts_with(
            "CREATE TABLE IF NOT EXISTS mcp.events (\n    timestamp DateTime,\n    ts_ms UInt64,"
        )
    );
    assert!(ddl.ends_with(
        "    payload String\n) ENGINE = ReplacingMergeTree\nPARTITION BY toYYYYMMDD(timestamp)\nORDER BY event_id"
    ));
    for banned in ["DateTime64", "LowCardinality", "JSON", "Map(", "Bool", "TTL"] {
        assert!(!ddl.contains(banned), "{banned} is not accepted by ClickHouse 18.16");
    }
}

#[test]
fn migrations_are_increasing_and_idempotent_statements() {
    let all = migrations(&db());
    assert!(!all.is_empty());
    for pair in all.windows(2) {
        assert!(pair[0].version < pair[1].version, "versions must increase");
    }
    for m in &all {
        for sql in &m.statements {
            assert!(
                sql.contains("IF NOT EXISTS") || sql.contains("IF EXISTS"),
                "migration {} is not idempotent: {sql}",
                m.version
            );
        }
    }
}

#[test]
fn only_day_partitions_older_than_the_retention_are_expired() {
    let today = jiff::civil::date(2026, 11, 26);
    let parts: Vec<String> =
        ["20261025", "20261026", "20261027", "20261126", "tuple()", "2026102", "20261024", "20261024"]
            .into_iter()
            .map(String::from)
            .collect();
    assert_eq!(expired_partitions(&parts, today, 31), vec!["20261024".to_string(), "20261025".to_string()]);
    assert_eq!(expired_partitions(&parts, today, 0).len(), 4, "0 days expires every day before today");
    assert!(expired_partitions(&parts, today, 365).is_empty());
}
