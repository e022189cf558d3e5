//! The analytics routes against a real ClickHouse (one server per test binary, a fresh
//! database per service): events seeded as the processor writes them, read back through the
//! platform API admin-wide and team-scoped, on both stores.

use mcp_platform::store::{Role, Team, now};
use mcp_sentinel::EventRow;
use serde_json::{Value, json};

use crate::support::{Backend, Harness};

/// One seeded event.
pub struct Seed {
    pub id: String,
    pub ts_ms: u64,
    pub namespace: &'static str,
    pub server: &'static str,
    pub agent: &'static str,
    pub tool: &'static str,
    pub decision: &'static str,
    pub reason: &'static str,
    pub latency_ms: f64,
}

/// The row the processor would write for `s` (through its own extraction).
pub fn row(s: &Seed, extra: Value) -> EventRow {
    let mut payload = json!({
        "method": "POST", "path": "/mcp", "status": if s.decision == "deny" { 403 } else { 200 },
        "latency_ms": s.latency_ms, "server": s.server, "namespace": s.namespace, "team_id": s.namespace,
        "human_id": "alice", "agent_id": s.agent, "subject_team_id": "callers", "session_id": "",
        "decision": s.decision, "reason": s.reason, "policy_version": "sha256:x",
        "rpc_method": "tools/call", "tool_name": s.tool,
    });
    if let (Some(p), Some(e)) = (payload.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    let envelope = json!({
        "event_id": s.id,
        "timestamp": format!("{:.3}", jiff::Timestamp::from_millisecond(s.ts_ms as i64).expect("time")),
        "source": "mcp-gateway", "event_type": "mcp.request", "payload": payload,
    });
    mcp_sentinel::row::extract(envelope.to_string().as_bytes()).expect("row")
}

/// Writes rows into the service's events database (ClickHouse, or the embedded store).
pub async fn insert(h: &Harness, rows: &[EventRow]) {
    if let Some(path) = &h.state.config.events_db {
        let store = mcp_eventstore::EventStore::open(path).await.expect("open the embedded store");
        store.insert(rows.to_vec()).await.expect("insert");
        return;
    }
    let config = h.state.config.clickhouse.clone().expect("analytics configured");
    let client = config.client().with_database(config.database.as_str());
    let mut insert = client.insert::<EventRow>("events").await.expect("insert");
    for r in rows {
        insert.write(r).await.expect("write");
    }
    insert.end().await.expect("end");
}

fn seeds(base: u64) -> Vec<Seed> {
    let mut out = Vec::new();
    for i in 0..30u64 {
        let (namespace, server) = if i % 3 == 0 { ("mcp-team-b", "beta") } else { ("mcp-team-a", "alpha") };
        let deny = i % 4 == 0;
        out.push(Seed {
            id: format!("e{i:03}"),
            ts_ms: base - i * 60_000,
            namespace,
            server,
            agent: if i % 2 == 0 { "bot-1" } else { "bot-2" },
            tool: if i % 5 == 0 { "delete" } else { "add" },
            decision: if deny { "deny" } else { "allow" },
            reason: if deny { if i % 8 == 0 { "trust_too_low" } else { "tool_denied" } } else { "allowed" },
            latency_ms: i as f64,
        });
    }
    out
}

async fn team(h: &Harness, name: &str, owner: &str) -> Team {
    let team = Team {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.into(),
        display_name: name.into(),
        namespace: format!("mcp-team-{name}"),
        created_at: now(),
    };
    h.state.store.create_team(&team, owner, owner).await.expect("team");
    team
}

fn ids(body: &Value) -> Vec<String> {
    body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event_id"].as_str().expect("id").to_string())
        .collect()
}

async fn admin_and_team_reads(backend: Backend) {
    reads(Harness::start(backend, &[]).await).await;
}

/// The same reads answered by the embedded store (`PLATFORM_EVENTS_DB`) instead of ClickHouse:
/// both stores give the same answers to the same seeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_answers_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.db").display().to_string();
    reads(Harness::start(Backend::Sqlite, &[("PLATFORM_EVENTS_DB", path.as_str())]).await).await;
}

async fn reads(h: Harness) {
    let admin = h.admin_token().await;
    let base = u64::try_from(jiff::Timestamp::now().as_millisecond()).expect("time") - 60_000;
    let data = seeds(base);
    let mut rows: Vec<EventRow> = data.iter().map(|s| row(s, json!({}))).collect();
    rows.push(row(&data[1], json!({})));
    insert(&h, &rows).await;

    // The whole list, page by page through the cursor, newest first, each event once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/events?limit=7&cursor={c}"),
            None => "/api/v1/events?limit=7".to_string(),
        };
        let r = h.call("GET", &path, Some(&admin), None).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        seen.extend(ids(&r.body));
        cursor = r.body["meta"]["next_cursor"].as_str().map(String::from);
        if cursor.is_none() {
            assert_eq!(r.body["meta"]["has_more"], false);
            break;
        }
    }
    let expected: Vec<String> = data.iter().map(|s| s.id.clone()).collect();
    assert_eq!(seen, expected, "every event once, newest first");

    // Filters, each against what was seeded.
    let r = h.call("GET", "/api/v1/events?server=beta&decision=deny&limit=1000", Some(&admin), None).await;
    let want: Vec<String> =
        data.iter().filter(|s| s.server == "beta" && s.decision == "deny").map(|s| s.id.clone()).collect();
    assert_eq!(ids(&r.body), want);
    let e = &r.body["events"][0];
    assert_eq!((e["tool_name"].as_str(), e["rpc_method"].as_str()), (Some("delete"), Some("tools/call")));
    assert_eq!(e["payload"]["policy_version"], "sha256:x");
    let r = h.call("GET", "/api/v1/stats?reason=trust_too_low", Some(&admin), None).await;
    assert_eq!(r.body["count"], data.iter().filter(|s| s.reason == "trust_too_low").count());
    let since = base - 9 * 60_000;
    let r = h.call("GET", &format!("/api/v1/stats?since={since}&agent_id=bot-1"), Some(&admin), None).await;
    assert_eq!(r.body["count"], data.iter().filter(|s| s.ts_ms >= since && s.agent == "bot-1").count());
    let r = h.call("GET", "/api/v1/sources", Some(&admin), None).await;
    assert_eq!(r.body["items"], json!([{"source": "mcp-gateway", "count": 30}]));
    let r = h.call("GET", "/api/v1/event-types", Some(&admin), None).await;
    assert_eq!(r.body["items"], json!([{"event_type": "mcp.request", "count": 30}]));

    // Rollups.
    let r = h.call("GET", "/api/v1/analytics/usage?window_days=1", Some(&admin), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let denied = data.iter().filter(|s| s.decision == "deny").count();
    assert_eq!(r.body["totals"]["events"], 30);
    assert_eq!(r.body["totals"]["denied"], denied);
    assert_eq!(r.body["totals"]["unique_servers"], 2);
    let r = h.call("GET", "/api/v1/analytics/deny-reasons?window_days=1", Some(&admin), None).await;
    let tool_denied = data.iter().filter(|s| s.reason == "tool_denied").count();
    let too_low = data.iter().filter(|s| s.reason == "trust_too_low").count();
    assert_eq!(
        r.body["items"],
        json!([{"reason": "tool_denied", "count": tool_denied}, {"reason": "trust_too_low", "count": too_low}])
    );
    let r = h.call("GET", "/api/v1/analytics/latency?window_days=1&server=alpha", Some(&admin), None).await;
    let items = r.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items.iter().all(|i| i["server"] == "alpha"));
    let calls: u64 = items.iter().map(|i| i["calls"].as_u64().expect("calls")).sum();
    assert_eq!(calls, 20);

    // Bad parameters name themselves.
    for (path, field) in [
        ("/api/v1/events?payload=x", "payload"),
        ("/api/v1/events?cursor=nope", "cursor"),
        ("/api/v1/events?since=yesterday", "since"),
        ("/api/v1/stats?limit=3", "limit"),
        ("/api/v1/analytics/usage?colour=red", "colour"),
    ] {
        let r = h.call("GET", path, Some(&admin), None).await;
        assert_eq!((r.status, r.body["error"]["details"]["field"].as_str()), (400, Some(field)), "{path}");
    }

    // Team scope: a viewer of team `a` sees its namespace only; others see nothing of it.
    let (owner_id, _) = h.signed_in("owner-a@example.org").await;
    let (viewer_id, viewer) = h.signed_in("viewer-a@example.org").await;
    let (_, stranger) = h.signed_in("stranger@example.org").await;
    let a = team(&h, "a", &owner_id).await;
    h.state.store.put_member(&a.id, &viewer_id, Role::Viewer).await.expect("viewer");
    let r = h.call("GET", "/api/v1/teams/a/analytics/events?limit=1000", Some(&viewer), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mine: Vec<String> =
        data.iter().filter(|s| s.namespace == "mcp-team-a").map(|s| s.id.clone()).collect();
    assert_eq!(ids(&r.body), mine);
    let r = h.call("GET", "/api/v1/teams/a/analytics/stats?server=beta", Some(&viewer), None).await;
    assert_eq!(r.body["count"], 0, "another team's server is not in scope");
    let r = h.call("GET", "/api/v1/teams/a/analytics/usage?window_days=1", Some(&viewer), None).await;
    assert_eq!(r.body["totals"]["events"], mine.len());
    assert_eq!(r.body["totals"]["unique_servers"], 1);
    let r = h.call("GET", "/api/v1/teams/a/analytics/deny-reasons?window_days=1", Some(&viewer), None).await;
    let denied_a = data.iter().filter(|s| s.namespace == "mcp-team-a" && s.decision == "deny").count() as u64;
    let total: u64 =
        r.body["items"].as_array().expect("items").iter().map(|i| i["count"].as_u64().expect("n")).sum();
    assert_eq!(total, denied_a);
    let r = h.call("GET", "/api/v1/teams/a/analytics/latency?window_days=1", Some(&viewer), None).await;
    assert!(r.body["items"].as_array().expect("items").iter().all(|i| i["server"] == "alpha"));
    let r = h.call("GET", "/api/v1/teams/a/analytics/sources", Some(&viewer), None).await;
    assert_eq!(r.body["items"][0]["count"], mine.len());
    let r = h.call("GET", "/api/v1/teams/a/analytics/event-types", Some(&viewer), None).await;
    assert_eq!(r.body["items"][0]["count"], mine.len());
    for path in [
        "/api/v1/teams/a/analytics/events?namespace=mcp-team-b",
        "/api/v1/teams/a/analytics/usage?namespace=mcp-team-b",
    ] {
        let r = h.call("GET", path, Some(&viewer), None).await;
        assert_eq!(r.status, 400, "{path}: {:?}", r.body);
    }
    let r = h.call("GET", "/api/v1/teams/a/analytics/events", Some(&stranger), None).await;
    assert_eq!(r.status, 404, "a team the caller is not in does not exist");
    let r = h.call("GET", "/api/v1/events", Some(&viewer), None).await;
    assert_eq!(r.status, 403, "the admin-wide list is for administrators");
}

async fn not_configured_is_unavailable(backend: Backend) {
    let h = Harness::start(backend, &[("PLATFORM_CLICKHOUSE_URL", "")]).await;
    let admin = h.admin_token().await;
    let r = h.call("GET", "/api/v1/events", Some(&admin), None).await;
    assert_eq!((r.status, r.code()), (503, "service_unavailable"), "{:?}", r.body);
}

crate::both!(admin_and_team_reads, not_configured_is_unavailable);
