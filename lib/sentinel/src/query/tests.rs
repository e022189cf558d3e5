use super::*;

fn db() -> Database {
    Database::new("mcp").expect("valid name")
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn event_list_binds_every_filter_and_asks_one_row_more() {
    let query = EventQuery {
        filter: EventFilter { since_ms: Some(1_000), ..EventFilter::default() }
            .with("trace_id", "t")
            .with("source", "src")
            .with("event_type", "et")
            .with("server", "ws")
            .with("namespace", "ns")
            .with("team_id", "team")
            .with("cluster", "c")
            .with("human_id", "h")
            .with("agent_id", "a")
            .with("session_id", "sess")
            .with("decision", "deny")
            .with("tool_name", "add")
            .with("reason", "trust_too_low"),
        limit: Some(5),
        cursor: None,
    };
    let (sql, limit) = events_sql(&db(), &query).expect("valid query");
    assert_eq!(limit, 5);
    assert_eq!(
        sql.text(),
        format!(
            "SELECT {} FROM mcp.events FINAL WHERE trace_id = ? AND source = ? AND event_type = ? \
AND server = ? AND namespace = ? AND team_id = ? AND cluster = ? AND human_id = ? AND agent_id = ? \
AND session_id = ? AND decision = ? AND reason = ? AND tool_name = ? \
AND timestamp >= toDateTime(?) AND ts_ms >= ? ORDER BY ts_ms DESC, event_id DESC LIMIT ?",
            event_fields()
        )
    );
    let strs = ["t", "src", "et", "ws", "ns", "team", "c", "h", "a", "sess", "deny", "trust_too_low", "add"];
    let mut expected: Vec<Arg> = strs.iter().map(|v| Arg::Str(v.to_string())).collect();
    expected.extend([Arg::UInt(1), Arg::UInt(1_000), Arg::UInt(6)]);
    assert_eq!(sql.args(), expected.as_slice());
    assert_eq!(sql.text().matches('?').count(), sql.args().len());
}

#[test]
fn caller_text_never_reaches_the_sql() {
    let evil = "x' OR 1=1 --";
    let query = EventQuery { filter: EventFilter::default().with("server", evil), ..EventQuery::default() };
    let (sql, _) = events_sql(&db(), &query).expect("valid query");
    assert!(!sql.text().contains(evil));
    assert_eq!(sql.args()[0], Arg::Str(evil.into()));
}

#[test]
fn empty_filters_are_ignored_and_limits_are_clamped() {
    let query =
        EventQuery { filter: EventFilter::default().with("server", ""), limit: Some(0), cursor: None };
    let (sql, limit) = events_sql(&db(), &query).expect("valid query");
    assert_eq!(limit, 1);
    assert!(!sql.text().contains("WHERE"));
    let (_, limit) =
        events_sql(&db(), &EventQuery { limit: Some(5_000), ..EventQuery::default() }).expect("valid");
    assert_eq!(limit, EVENTS_LIMIT_MAX);
    let (_, limit) = events_sql(&db(), &EventQuery::default()).expect("valid");
    assert_eq!(limit, EVENTS_LIMIT_DEFAULT);
}

#[test]
fn cursors_round_trip_and_bad_ones_are_refused() {
    let cursor = Cursor { ts: 42, id: "e-1".into() };
    assert_eq!(Cursor::decode(&cursor.encode()).expect("valid"), cursor);
    let query = EventQuery { cursor: Some(cursor.encode()), ..EventQuery::default() };
    let (sql, _) = events_sql(&db(), &query).expect("valid");
    assert!(sql.text().contains("WHERE (ts_ms < ? OR (ts_ms = ? AND event_id < ?))"));
    assert_eq!(sql.args()[..3], [Arg::UInt(42), Arg::UInt(42), Arg::Str("e-1".into())]);
    for bad in ["???", "eyJ4IjoxfQ", "bm90IGpzb24"] {
        let query = EventQuery { cursor: Some(bad.into()), ..EventQuery::default() };
        assert!(matches!(events_sql(&db(), &query), Err(QueryError::InvalidCursor)), "{bad}");
    }
}

#[test]
fn usage_scope_clamps_window_and_limit() {
    let now = 1_000 * DAY_MS;
    let scope = Scope::new(&UsageQuery::default(), now);
    assert_eq!((scope.window_days, scope.limit, scope.bucket_ms), (30, 10, DAY_MS));
    assert_eq!((scope.from_ms, scope.to_ms), (now - 30 * DAY_MS, now));
    let scope =
        Scope::new(&UsageQuery { window_days: Some(0), limit: Some(99), ..UsageQuery::default() }, now);
    assert_eq!((scope.window_days, scope.limit, scope.bucket_ms), (1, 50, HOUR_MS));
    let scope =
        Scope::new(&UsageQuery { window_days: Some(9_999), until_ms: Some(5), ..UsageQuery::default() }, now);
    assert_eq!((scope.window_days, scope.from_ms, scope.to_ms), (365, 0, 5));
}

#[test]
fn usage_sections_scope_every_query() {
    let q = UsageQuery {
        namespaces: vec!["a".into(), "b".into()],
        team_ids: vec!["t".into()],
        server: s("ws"),
        decision: s("deny"),
        tool: s("add"),
        until_ms: Some(10 * DAY_MS),
        ..UsageQuery::default()
    };
    let scope = Scope::new(&q, 0);
    let scoped = " WHERE timestamp >= toDateTime(?) AND ts_ms >= ? AND timestamp <= toDateTime(?) AND ts_ms < ? \
AND namespace IN (?, ?) AND team_id IN (?) AND server = ? AND decision = ? AND tool_name = ?";
    for section in [
        UsageSection::Totals,
        UsageSection::Servers,
        UsageSection::Actors,
        UsageSection::Tools,
        UsageSection::Decisions,
        UsageSection::Buckets,
        UsageSection::Latency,
        UsageSection::DenyReasons,
    ] {
        let sql = usage_sql(&db(), &scope, section);
        assert!(sql.text().contains(" FROM mcp.events FINAL WHERE "), "{section:?}: {}", sql.text());
        assert!(sql.text().contains(scoped), "{section:?}: {}", sql.text());
        assert_eq!(sql.text().matches('?').count(), sql.args().len(), "{section:?}");
    }
    let servers = usage_sql(&db(), &scope, UsageSection::Servers);
    assert!(servers.text().ends_with(
        "AND server != '' GROUP BY server, namespace ORDER BY events DESC, server ASC, namespace ASC LIMIT ?"
    ));
    assert_eq!(servers.args().last(), Some(&Arg::UInt(10)));
    let buckets = usage_sql(&db(), &scope, UsageSection::Buckets);
    assert!(
        buckets
            .text()
            .starts_with("SELECT intDiv(ts_ms, 86400000) * 86400000 AS start_ms, count() AS events")
    );
    let deny = usage_sql(&db(), &scope, UsageSection::DenyReasons);
    assert!(deny.text().contains("AND decision = 'deny' GROUP BY reason"));
}

#[test]
fn buckets_are_filled_with_zeros() {
    let found = vec![
        UsageBucket { start_ms: 2 * HOUR_MS, events: 3, allowed: 2, denied: 1 },
        UsageBucket { start_ms: 4 * HOUR_MS, events: 1, allowed: 1, denied: 0 },
    ];
    let all = fill_buckets(found, HOUR_MS + 5, 5 * HOUR_MS, HOUR_MS);
    let events: Vec<(u64, u64)> = all.iter().map(|b| (b.start_ms / HOUR_MS, b.events)).collect();
    assert_eq!(events, vec![(1, 0), (2, 3), (3, 0), (4, 1)]);
}

#[test]
fn times_are_formatted_in_utc_with_milliseconds() {
    assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(format_ms(1_795_688_430_456), "2026-11-26T10:20:30.456Z");
}

#[test]
fn the_listed_row_is_the_listed_columns_and_unknown_filters_are_refused() {
    let listed: Vec<&str> = mcp_events::columns::listed().collect();
    assert_eq!(<EventListRow as clickhouse::Row>::COLUMN_NAMES, listed.as_slice());
    let record = EventRecord::from(EventListRow {
        ts_ms: 0,
        event_id: String::new(),
        trace_id: String::new(),
        source: String::new(),
        event_type: String::new(),
        server: String::new(),
        namespace: String::new(),
        team_id: String::new(),
        cluster: String::new(),
        human_id: String::new(),
        agent_id: String::new(),
        subject_team_id: String::new(),
        session_id: String::new(),
        decision: String::new(),
        reason: String::new(),
        rpc_method: String::new(),
        tool_name: String::new(),
        status: 0,
        latency_ms: 0.0,
        policy_version: String::new(),
        required_trust: String::new(),
        consented_trust: String::new(),
        matched_grant: String::new(),
        payload: "{}".into(),
    });
    let value = serde_json::to_value(record).expect("json");
    let mut keys: Vec<&str> = value.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = listed.clone();
    expected.push("timestamp");
    expected.sort_unstable();
    assert_eq!(keys, expected, "an event record shows the listed columns and its time");
    let mut f = EventFilter::default();
    assert!(f.set("server", "x").is_ok());
    for bad in ["payload", "latency_ms", "nope", "timestamp"] {
        assert!(matches!(f.set(bad, "x"), Err(QueryError::UnknownFilter(_))), "{bad}");
    }
    let (sql, _) = events_sql(&db(), &EventQuery { filter: f.with("payload", "x"), ..EventQuery::default() })
        .expect("valid");
    assert!(!sql.text().contains("payload ="), "only filterable columns reach the SQL");
}

#[test]
fn a_namespace_scope_is_an_in_list() {
    let f = EventFilter { namespaces: vec!["a".into(), "b".into()], ..EventFilter::default() };
    assert_eq!(
        count_sql(&db(), &f).text(),
        "SELECT count() AS count FROM mcp.events FINAL WHERE namespace IN (?, ?)"
    );
}
