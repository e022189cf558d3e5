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
        filter: EventFilter {
            trace_id: s("t"),
            source: s("src"),
            event_type: s("et"),
            server: s("ws"),
            namespace: s("ns"),
            team_id: s("team"),
            cluster: s("c"),
            human_id: s("h"),
            agent_id: s("a"),
            session_id: s("sess"),
            decision: s("deny"),
            tool_name: s("add"),
            reason: s("trust_too_low"),
            since_ms: Some(1_000),
            until_ms: None,
        },
        limit: Some(5),
        cursor: None,
    };
    let (sql, limit) = events_sql(&db(), &query).expect("valid query");
    assert_eq!(limit, 5);
    assert_eq!(
        sql.text(),
        format!(
            "SELECT {EVENT_FIELDS} FROM mcp.events FINAL WHERE trace_id = ? AND source = ? AND event_type = ? \
AND server = ? AND namespace = ? AND team_id = ? AND cluster = ? AND human_id = ? AND agent_id = ? \
AND session_id = ? AND decision = ? AND tool_name = ? AND reason = ? \
AND timestamp >= toDateTime(?) AND ts_ms >= ? ORDER BY ts_ms DESC, event_id DESC LIMIT ?"
        )
    );
    let strs = ["t", "src", "et", "ws", "ns", "team", "c", "h", "a", "sess", "deny", "add", "trust_too_low"];
    let mut expected: Vec<Arg> = strs.iter().map(|v| Arg::Str(v.to_string())).collect();
    expected.extend([Arg::UInt(1), Arg::UInt(1_000), Arg::UInt(6)]);
    assert_eq!(sql.args(), expected.as_slice());
    assert_eq!(sql.text().matches('?').count(), sql.args().len());
}

#[test]
fn caller_text_never_reaches_the_sql() {
    let evil = "x' OR 1=1 --";
    let query = EventQuery {
        filter: EventFilter { server: s(evil), ..EventFilter::default() },
        ..EventQuery::default()
    };
    let (sql, _) = events_sql(&db(), &query).expect("valid query");
    assert!(!sql.text().contains(evil));
    assert_eq!(sql.args()[0], Arg::Str(evil.into()));
}

#[test]
fn empty_filters_are_ignored_and_limits_are_clamped() {
    let query = EventQuery {
        filter: EventFilter { server: s(""), ..EventFilter::default() },
        limit: Some(0),
        cursor: None,
    };
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
