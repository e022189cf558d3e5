//! The embedded store on its own: an event id is stored once, everything acknowledged survives a
//! reopen, concurrent writers are each answered, and `quantileExact` matches ClickHouse's.

use mcp_eventstore::{EventStore, quantile_exact};
use mcp_sentinel::query::{EventQuery, UsageQuery};
use serde_json::json;

fn row(id: &str, ts_ms: u64, tool: &str, decision: &str, latency: f64) -> mcp_sentinel::EventRow {
    let envelope = json!({
        "event_id": id,
        "timestamp": format!("{:.3}", jiff::Timestamp::from_millisecond(ts_ms as i64).expect("time")),
        "source": "mcp-gateway", "event_type": "mcp.request",
        "payload": {"server": "s", "namespace": "mcp-team-a", "tool_name": tool, "decision": decision,
                    "reason": if decision == "deny" { "tool_not_granted" } else { "allowed" },
                    "rpc_method": "tools/call", "latency_ms": latency, "agent_id": "bot", "human_id": "h"}
    });
    mcp_sentinel::row::extract(envelope.to_string().as_bytes()).expect("row")
}

fn now_ms() -> u64 {
    u64::try_from(jiff::Timestamp::now().as_millisecond()).expect("now")
}

#[test]
fn quantile_exact_takes_the_element_at_floor_level_times_n() {
    let v = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(quantile_exact(&v, 0.5), 3.0);
    assert_eq!(quantile_exact(&v, 0.95), 4.0);
    assert_eq!(quantile_exact(&v, 0.0), 1.0);
    assert_eq!(quantile_exact(&v, 1.0), 4.0);
    assert_eq!(quantile_exact(&[], 0.5), 0.0);
    let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(quantile_exact(&hundred, 0.99), 100.0);
    assert_eq!(quantile_exact(&hundred, 0.5), 51.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_stored_once_and_acknowledged_rows_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.db");
    let t = now_ms() - 60_000;
    {
        let store = EventStore::open(&path).await.expect("open");
        store
            .insert(vec![row("e1", t, "add", "allow", 1.0), row("e2", t + 1, "upper", "deny", 2.0)])
            .await
            .expect("insert");
        // A redelivery of e1 (and a new e3) in one write.
        store
            .insert(vec![row("e1", t, "add", "allow", 1.0), row("e3", t + 2, "add", "allow", 3.0)])
            .await
            .expect("again");
        assert_eq!(store.count().await.expect("count"), 3);
    }
    let store = EventStore::open(&path).await.expect("reopen");
    let page = store.events(&EventQuery::default()).await.expect("events");
    let ids: Vec<&str> = page.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["e3", "e2", "e1"], "newest first, each once, after a reopen");
    let usage =
        store.usage(&UsageQuery { window_days: Some(1), ..UsageQuery::default() }).await.expect("usage");
    assert_eq!((usage.totals.events, usage.totals.allowed, usage.totals.denied), (3, 2, 1));
    let latency = store
        .tool_latency(&UsageQuery { window_days: Some(1), ..UsageQuery::default() })
        .await
        .expect("latency");
    let add = latency.iter().find(|l| l.tool_name == "add").expect("add");
    assert_eq!((add.calls, add.p50_ms, add.max_ms), (2, 3.0, 3.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_are_each_answered_after_their_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EventStore::open(&dir.path().join("events.db")).await.expect("open");
    let t = now_ms() - 60_000;
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..32u64 {
        let store = store.clone();
        writers.spawn(async move {
            for i in 0..25u64 {
                store
                    .insert(vec![row(&format!("w{w}-{i}"), t + i, "add", "allow", 1.0)])
                    .await
                    .expect("insert");
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.expect("writer");
    }
    assert_eq!(store.count().await.expect("count"), 800);
}
