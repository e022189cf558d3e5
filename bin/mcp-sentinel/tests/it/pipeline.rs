//! End to end: events posted to ingest become exactly one queryable row each, and every query
//! of the library returns the numbers an independent computation over the same data gives.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use mcp_sentinel::query::{EventFilter, EventQuery, UsageQuery};
use serde_json::{Value, json};

use crate::support::{Pipeline, Servers, Setup, event, metric, send_concurrently};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_become_exactly_ten_thousand_rows() {
    let servers = Servers::start();
    let pipeline = Pipeline::start(&servers, Setup::new("ten-k"));
    let events: Vec<Value> = (0..10_000).map(event).collect();
    let ids: HashSet<String> =
        events.iter().map(|e| e["event_id"].as_str().expect("id").to_string()).collect();
    let stats = send_concurrently(&pipeline.url("/events"), events.clone(), 250, 4).await;
    assert_eq!(stats.accepted.load(std::sync::atomic::Ordering::Relaxed), 10_000);
    // Retries of 1,000 events that were already accepted: same ids, must not count twice.
    send_concurrently(&pipeline.url("/events"), events[..1_000].to_vec(), 250, 2).await;

    pipeline.expect_exactly(10_000, Duration::from_secs(90)).await;
    let listed = pipeline.all_event_ids(1_000).await;
    assert_eq!(listed, ids, "the event list shows every event once");
    let metrics = pipeline.processor_metrics();
    assert_eq!(metric(&metrics, "sentinel_processor_messages_total{outcome=\"inserted\"}"), 11_000.0);
    assert_eq!(metric(&metrics, "sentinel_processor_messages_total{outcome=\"dead_lettered\"}"), 0.0);
}

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// One event of the fixed data set, as the oracle sees it.
#[derive(Clone, Debug)]
struct Fixed {
    id: String,
    ts_ms: u64,
    trace_id: String,
    source: String,
    event_type: String,
    server: String,
    namespace: String,
    team_id: String,
    cluster: String,
    human_id: String,
    agent_id: String,
    session_id: String,
    decision: String,
    reason: String,
    tool_name: String,
    latency_ms: f64,
}

fn fixed_data(base_ms: u64) -> Vec<Fixed> {
    (0..240usize)
        .map(|i| {
            let server = ["alpha", "beta", "gamma"][i % 3];
            let namespace = if server == "gamma" { "team-b" } else { "team-a" };
            let deny = i % 6 == 0;
            Fixed {
                id: format!("fixed-{i:04}"),
                ts_ms: base_ms - (i as u64) * 17 * MINUTE_MS,
                trace_id: format!("{:032x}", i % 20 + 1),
                source: if i % 10 == 9 { "other-source" } else { "mcp-gateway" }.into(),
                event_type: if i % 8 == 7 { "mcp.other" } else { "mcp.request" }.into(),
                server: server.into(),
                namespace: namespace.into(),
                team_id: namespace.into(),
                cluster: ["c1", "c2"][i % 2].into(),
                human_id: ["h1", "h2", "h3", "h4"][i % 4].into(),
                agent_id: ["a1", "a2"][(i / 4) % 2].into(),
                session_id: format!("s{}", i % 5),
                decision: if deny { "deny" } else { "allow" }.into(),
                reason: if deny {
                    ["trust_too_low", "session_revoked", "tool_not_allowed"][(i / 6) % 3]
                } else {
                    "allowed"
                }
                .into(),
                tool_name: ["add", "echo", "upper", "", "add"][i % 5].into(),
                latency_ms: ((i * 37) % 100) as f64 + 0.5,
            }
        })
        .collect()
}

fn envelope(f: &Fixed) -> Value {
    let ts = jiff::Timestamp::from_millisecond(f.ts_ms as i64).expect("time");
    json!({
        "event_id": f.id, "timestamp": format!("{ts:.3}"), "trace_id": f.trace_id,
        "source": f.source, "event_type": f.event_type,
        "payload": {
            "method": "POST", "path": format!("/{}/mcp", f.server), "status": if f.decision == "deny" { 403 } else { 200 },
            "latency_ms": f.latency_ms, "bytes_in": 10, "bytes_out": 20, "server": f.server,
            "namespace": f.namespace, "team_id": f.team_id, "cluster": f.cluster, "human_id": f.human_id,
            "agent_id": f.agent_id, "subject_team_id": "caller", "session_id": f.session_id,
            "decision": f.decision, "reason": f.reason, "policy_version": "sha256:fixed",
            "rpc_method": if f.tool_name.is_empty() { "tools/list" } else { "tools/call" },
            "tool_name": if f.tool_name.is_empty() { Value::Null } else { Value::from(f.tool_name.clone()) }
        }
    })
}

fn matches(e: &Fixed, f: &EventFilter) -> bool {
    let eq = |column: &str, have: &str| f.get(column).is_none_or(|w| w == have);
    eq("trace_id", &e.trace_id)
        && eq("source", &e.source)
        && eq("event_type", &e.event_type)
        && eq("server", &e.server)
        && eq("namespace", &e.namespace)
        && eq("team_id", &e.team_id)
        && eq("cluster", &e.cluster)
        && eq("human_id", &e.human_id)
        && eq("agent_id", &e.agent_id)
        && eq("session_id", &e.session_id)
        && eq("decision", &e.decision)
        && eq("tool_name", &e.tool_name)
        && eq("reason", &e.reason)
        && f.since_ms.is_none_or(|s| e.ts_ms >= s)
        && f.until_ms.is_none_or(|u| e.ts_ms < u)
}

/// Newest first, as the list orders them.
fn newest_first(mut events: Vec<&Fixed>) -> Vec<String> {
    events.sort_by(|a, b| (b.ts_ms, &b.id).cmp(&(a.ts_ms, &a.id)));
    events.into_iter().map(|e| e.id.clone()).collect()
}

fn in_scope(e: &Fixed, q: &UsageQuery, from: u64, to: u64) -> bool {
    let one = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    let any = |want: &Vec<String>, have: &str| want.is_empty() || want.iter().any(|w| w == have);
    e.ts_ms >= from
        && e.ts_ms < to
        && any(&q.namespaces, &e.namespace)
        && any(&q.team_ids, &e.team_id)
        && one(&q.server, &e.server)
        && one(&q.decision, &e.decision)
        && one(&q.tool, &e.tool_name)
}

/// (events, allowed, denied) per key, ordered like the library: events desc, then key asc.
fn rollup<K: Ord + Clone>(
    events: &[&Fixed],
    key: impl Fn(&Fixed) -> Option<K>,
    limit: usize,
) -> Vec<(K, u64, u64, u64)> {
    let mut by: BTreeMap<K, (u64, u64, u64)> = BTreeMap::new();
    for e in events {
        if let Some(k) = key(e) {
            let c = by.entry(k).or_default();
            c.0 += 1;
            if e.decision == "allow" {
                c.1 += 1;
            } else {
                c.2 += 1;
            }
        }
    }
    let mut rows: Vec<(K, u64, u64, u64)> = by.into_iter().map(|(k, (n, a, d))| (k, n, a, d)).collect();
    rows.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    rows.truncate(limit);
    rows
}

/// ClickHouse `quantileExact(level)`: the element at `floor(level * n)` of the sorted values.
fn quantile_exact(values: &[f64], level: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((level * v.len() as f64) as usize).min(v.len() - 1)]
}

async fn check_usage(pipeline: &Pipeline, data: &[Fixed], q: UsageQuery, until: u64) {
    let analytics = pipeline.analytics();
    let report = analytics.usage(&q).await.expect("usage");
    let window = q.window_days.unwrap_or(30).clamp(1, 365);
    let limit = q.limit.unwrap_or(10).clamp(1, 50) as usize;
    let from = until - u64::from(window) * DAY_MS;
    let scoped: Vec<&Fixed> = data.iter().filter(|e| in_scope(e, &q, from, until)).collect();
    let what = format!("{q:?}");
    assert_eq!((report.window_days, report.limit as usize), (window, limit), "{what}");

    let t = report.totals;
    let distinct = |f: fn(&Fixed) -> &str| {
        scoped.iter().map(|e| f(e)).filter(|v| !v.is_empty()).collect::<BTreeSet<_>>().len() as u64
    };
    assert_eq!(t.events, scoped.len() as u64, "{what}: events");
    assert_eq!(t.allowed, scoped.iter().filter(|e| e.decision == "allow").count() as u64, "{what}");
    assert_eq!(t.denied, scoped.iter().filter(|e| e.decision == "deny").count() as u64, "{what}");
    assert_eq!(t.unique_servers, distinct(|e| &e.server), "{what}");
    assert_eq!(t.unique_humans, distinct(|e| &e.human_id), "{what}");
    assert_eq!(t.unique_agents, distinct(|e| &e.agent_id), "{what}");
    assert_eq!(t.unique_sessions, distinct(|e| &e.session_id), "{what}");

    let servers: Vec<_> = report
        .servers
        .iter()
        .map(|s| ((s.server.clone(), s.namespace.clone()), s.events, s.allowed, s.denied))
        .collect();
    assert_eq!(
        servers,
        rollup(&scoped, |e| Some((e.server.clone(), e.namespace.clone())), limit),
        "{what}: servers"
    );
    let actors: Vec<_> = report
        .actors
        .iter()
        .map(|a| ((a.human_id.clone(), a.agent_id.clone()), a.events, a.allowed, a.denied))
        .collect();
    assert_eq!(
        actors,
        rollup(&scoped, |e| Some((e.human_id.clone(), e.agent_id.clone())), limit),
        "{what}: actors"
    );
    let tools: Vec<_> = report
        .tools
        .iter()
        .map(|t| {
            (
                (
                    t.server.clone(),
                    t.tool_name.clone(),
                    t.human_id.clone(),
                    t.team_id.clone(),
                    t.agent_id.clone(),
                ),
                t.events,
                t.allowed,
                t.denied,
            )
        })
        .collect();
    let expected_tools = rollup(
        &scoped,
        |e| {
            (!e.tool_name.is_empty()).then(|| {
                (
                    e.server.clone(),
                    e.tool_name.clone(),
                    e.human_id.clone(),
                    e.team_id.clone(),
                    e.agent_id.clone(),
                )
            })
        },
        limit,
    );
    assert_eq!(tools, expected_tools, "{what}: tools");
    let decisions: Vec<_> = report.decisions.iter().map(|d| (d.decision.clone(), d.events)).collect();
    let expected: Vec<_> = rollup(&scoped, |e| Some(e.decision.clone()), usize::MAX)
        .into_iter()
        .map(|(k, n, _, _)| (k, n))
        .collect();
    assert_eq!(decisions, expected, "{what}: decisions");

    let bucket = if window <= 2 { HOUR_MS } else { DAY_MS };
    let first = from / bucket * bucket;
    let expected_buckets = (until - first).div_ceil(bucket);
    assert_eq!(report.buckets.len() as u64, expected_buckets, "{what}: every bucket of the window");
    for b in &report.buckets {
        let in_bucket: Vec<&&Fixed> =
            scoped.iter().filter(|e| e.ts_ms / bucket * bucket == b.start_ms).collect();
        assert_eq!(b.events, in_bucket.len() as u64, "{what}: bucket {}", b.start_ms);
        assert_eq!(b.denied, in_bucket.iter().filter(|e| e.decision == "deny").count() as u64, "{what}");
    }
    assert_eq!(report.buckets.iter().map(|b| b.events).sum::<u64>(), scoped.len() as u64, "{what}");

    let recent: Vec<String> = report.recent.iter().map(|e| e.event_id.clone()).collect();
    let mut expected_recent = newest_first(scoped.clone());
    expected_recent.truncate(limit);
    assert_eq!(recent, expected_recent, "{what}: recent");

    // Latency percentiles per tool and top deny reasons over the same scope.
    let latency = analytics.tool_latency(&q).await.expect("latency");
    let mut per_tool: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for e in scoped.iter().filter(|e| !e.tool_name.is_empty()) {
        per_tool.entry((e.server.clone(), e.tool_name.clone())).or_default().push(e.latency_ms);
    }
    let mut expected: Vec<_> = per_tool.into_iter().collect();
    expected.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    expected.truncate(limit);
    assert_eq!(latency.len(), expected.len(), "{what}: latency rows");
    for (row, ((server, tool), values)) in latency.iter().zip(&expected) {
        assert_eq!((&row.server, &row.tool_name, row.calls), (server, tool, values.len() as u64), "{what}");
        assert_eq!(row.p50_ms, quantile_exact(values, 0.5), "{what}: p50 {server}/{tool}");
        assert_eq!(row.p95_ms, quantile_exact(values, 0.95), "{what}: p95 {server}/{tool}");
        assert_eq!(row.p99_ms, quantile_exact(values, 0.99), "{what}: p99 {server}/{tool}");
        assert_eq!(row.max_ms, values.iter().copied().fold(f64::MIN, f64::max), "{what}: max");
    }
    let reasons = analytics.deny_reasons(&q).await.expect("deny reasons");
    let got: Vec<_> = reasons.iter().map(|r| (r.reason.clone(), r.count)).collect();
    let denied: Vec<&Fixed> = scoped.iter().copied().filter(|e| e.decision == "deny").collect();
    let expected: Vec<_> =
        rollup(&denied, |e| Some(e.reason.clone()), limit).into_iter().map(|(k, n, _, _)| (k, n)).collect();
    assert_eq!(got, expected, "{what}: deny reasons");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_and_rollup_returns_the_expected_numbers() {
    let servers = Servers::start();
    let pipeline = Pipeline::start(&servers, Setup::new("fixed"));
    let now_ms = jiff::Timestamp::now().as_millisecond() as u64;
    let base = now_ms / HOUR_MS * HOUR_MS;
    let until = base + 1;
    let data = fixed_data(base);
    let envelopes: Vec<Value> = data.iter().map(envelope).collect();
    // Every event twice (the second time as a retry in another batch).
    let mut twice = envelopes.clone();
    twice.extend(envelopes.iter().rev().cloned());
    send_concurrently(&pipeline.url("/events"), twice, 40, 3).await;
    pipeline.expect_exactly(data.len() as u64, Duration::from_secs(60)).await;
    let analytics = pipeline.analytics();

    // Event list: every filter alone, then combined, each against the oracle.
    let s = |v: &str| Some(v.to_string());
    let filters = vec![
        EventFilter::default().with("trace_id", &data[7].trace_id),
        EventFilter::default().with("source", "other-source"),
        EventFilter::default().with("event_type", "mcp.other"),
        EventFilter::default().with("server", "beta"),
        EventFilter::default().with("namespace", "team-b"),
        EventFilter::default().with("team_id", "team-a"),
        EventFilter::default().with("cluster", "c2"),
        EventFilter::default().with("human_id", "h3"),
        EventFilter::default().with("agent_id", "a2"),
        EventFilter::default().with("session_id", "s4"),
        EventFilter::default().with("decision", "deny"),
        EventFilter::default().with("tool_name", "echo"),
        EventFilter::default().with("reason", "session_revoked"),
        EventFilter {
            since_ms: Some(base - 10 * HOUR_MS),
            until_ms: Some(base - 2 * HOUR_MS),
            ..Default::default()
        },
        EventFilter::default().with("server", "alpha").with("decision", "deny").with("human_id", "h1"),
        EventFilter::default().with("server", "nope"),
        EventFilter::default(),
    ];
    for filter in filters {
        let expected = newest_first(data.iter().filter(|e| matches(e, &filter)).collect());
        let page = analytics
            .events(&EventQuery { filter: filter.clone(), limit: Some(1_000), cursor: None })
            .await
            .expect("events");
        let got: Vec<String> = page.events.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(got, expected, "event list for {filter:?}");
        assert!(!page.meta.has_more && page.meta.next_cursor.is_none());
        let count = analytics.stats(&filter).await.expect("stats").count;
        assert_eq!(count, expected.len() as u64, "stats for {filter:?}");
    }

    // The columns of one listed event.
    let page = analytics
        .events(&EventQuery {
            filter: EventFilter::default().with("trace_id", &data[6].trace_id),
            limit: Some(1),
            cursor: None,
        })
        .await
        .expect("events");
    let e = &page.events[0];
    let f = data.iter().find(|f| f.id == e.event_id).expect("known id");
    assert_eq!(
        (e.ts_ms, &e.server, &e.namespace, &e.human_id, &e.agent_id),
        (f.ts_ms, &f.server, &f.namespace, &f.human_id, &f.agent_id)
    );
    assert_eq!(
        (&e.decision, &e.reason, &e.tool_name, e.latency_ms),
        (&f.decision, &f.reason, &f.tool_name, f.latency_ms)
    );
    assert_eq!(e.subject_team_id, "caller");
    assert_eq!(e.payload["policy_version"], "sha256:fixed");
    assert!(page.meta.has_more);

    // Cursor pagination walks the whole list once, in order.
    let mut walked = Vec::new();
    let mut query = EventQuery { limit: Some(7), ..Default::default() };
    loop {
        let page = analytics.events(&query).await.expect("page");
        assert!(page.events.len() <= 7);
        walked.extend(page.events.into_iter().map(|e| e.event_id));
        match page.meta.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(walked, newest_first(data.iter().collect()));
    let bad = analytics.events(&EventQuery { cursor: s("not-a-cursor"), ..Default::default() }).await;
    assert_eq!(bad.expect_err("invalid cursor").code(), "invalid_query_param");

    // Sources and event types.
    let sources: Vec<_> = analytics
        .sources(&EventFilter::default())
        .await
        .expect("sources")
        .into_iter()
        .map(|k| (k.key, k.count))
        .collect();
    let expected: Vec<_> = rollup(&data.iter().collect::<Vec<_>>(), |e| Some(e.source.clone()), 10)
        .into_iter()
        .map(|(k, n, _, _)| (k, n))
        .collect();
    assert_eq!(sources, expected);
    let types: Vec<_> = analytics
        .event_types(&EventFilter::default())
        .await
        .expect("types")
        .into_iter()
        .map(|k| (k.key, k.count))
        .collect();
    let expected: Vec<_> = rollup(&data.iter().collect::<Vec<_>>(), |e| Some(e.event_type.clone()), 10)
        .into_iter()
        .map(|(k, n, _, _)| (k, n))
        .collect();
    assert_eq!(types, expected);

    // Usage rollups, latency and deny reasons: default window, short windows (hourly buckets),
    // scopes, and clamped values.
    let u = |q: UsageQuery| UsageQuery { until_ms: Some(until), ..q };
    let queries = vec![
        u(UsageQuery::default()),
        u(UsageQuery { window_days: Some(1), ..Default::default() }),
        u(UsageQuery { window_days: Some(2), limit: Some(3), ..Default::default() }),
        u(UsageQuery { namespaces: vec!["team-a".into()], ..Default::default() }),
        u(UsageQuery {
            namespaces: vec!["team-a".into(), "team-b".into()],
            team_ids: vec!["team-b".into()],
            ..Default::default()
        }),
        u(UsageQuery { server: s("alpha"), decision: s("deny"), ..Default::default() }),
        u(UsageQuery { tool: s("add"), limit: Some(50), ..Default::default() }),
        u(UsageQuery { window_days: Some(0), limit: Some(0), ..Default::default() }),
        u(UsageQuery { window_days: Some(10_000), limit: Some(10_000), ..Default::default() }),
        UsageQuery { until_ms: Some(base - 40 * HOUR_MS), window_days: Some(1), ..Default::default() },
    ];
    for q in queries {
        let until = q.until_ms.expect("set");
        check_usage(&pipeline, &data, q, until).await;
    }
}
