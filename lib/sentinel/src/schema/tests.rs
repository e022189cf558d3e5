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

/// Migration 1 created the table with exactly these columns; the table derived from
/// `mcp_events::columns` must stay the same (new columns come as new migrations).
#[test]
fn the_derived_table_is_the_one_migration_1_created() {
    let v1 = "CREATE TABLE IF NOT EXISTS mcp.events (\n    timestamp DateTime,\n    ts_ms UInt64,\n    event_id String,\n    trace_id String,\n    source String,\n    event_type String,\n    server String,\n    namespace String,\n    team_id String,\n    cluster String,\n    human_id String,\n    agent_id String,\n    subject_team_id String,\n    session_id String,\n    decision String,\n    reason String,\n    rpc_method String,\n    tool_name String,\n    method String,\n    path String,\n    status UInt16,\n    latency_ms Float64,\n    bytes_in UInt64,\n    bytes_out UInt64,\n    is_error UInt8,\n    policy_version String,\n    protocol_version String,\n    required_trust String,\n    admin_trust String,\n    consented_trust String,\n    effective_trust String,\n    required_side_effect String,\n    risk_level String,\n    matched_grant String,\n    matched_grant_namespace String,\n    matched_session String,\n    matched_session_namespace String,\n    inspection_error String,\n    payload String\n) ENGINE = ReplacingMergeTree\n\
PARTITION BY toYYYYMMDD(timestamp)\nORDER BY event_id";
    assert_eq!(events_table(&db()), v1);
}
