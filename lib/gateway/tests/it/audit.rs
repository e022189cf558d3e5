//! Audit: exactly one event per governed request, with attribution; nothing lost while ingest
//! is down; nothing duplicated; shutdown drains.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

async fn setup(ingest: &Ingest, spool: &std::path::Path) -> (Upstream, Running, String) {
    let upstream = Upstream::start().await;
    let key = SigningKey::from_seed("platform-1", [7; 32]);
    let policy = policy_json(&resources(), &[&key]);
    let url = ingest.url();
    let spool = spool.display().to_string();
    let gw = Running::start(
        upstream.addr,
        Some(&policy),
        &[
            ("ANALYTICS_INGEST_URL", &url),
            ("ANALYTICS_SOURCE", "policy-mcp-server-gateway"),
            ("AUDIT_SPOOL_DIR", &spool),
        ],
    )
    .await;
    (upstream, gw, key.token(ops_claims()))
}

fn by_jsonrpc_id(events: &[Value], id: i64) -> Vec<&Value> {
    events.iter().filter(|e| e["payload"]["jsonrpc_id"] == json!(id)).collect()
}

#[tokio::test]
async fn one_event_per_governed_request_with_attribution() {
    let ingest = Ingest::start().await;
    let spool = tempfile::tempdir().expect("spool");
    let (_upstream, gw, token) = setup(&ingest, spool.path()).await;

    assert_eq!(rpc(gw.addr, Some(&token), &[], call(1, "echo", json!({"text": "hi"}))).await.status, 200);
    assert_eq!(rpc(gw.addr, Some(&token), &[], call(2, "upper", json!({"text": "hi"}))).await.status, 403);
    assert_eq!(rpc(gw.addr, None, &[], call(3, "echo", json!({}))).await.status, 401);
    assert_eq!(
        rpc(gw.addr, Some(&token), &[], json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}))
            .await
            .status,
        200
    );
    assert_eq!(rpc(gw.addr, Some(&token), &[], call(5, "fails", json!({}))).await.status, 200);
    let bad = send(
        gw.addr,
        "POST",
        "/policy-mcp-server/mcp",
        &[("content-type", "application/json")],
        "{\"jsonrpc\":",
    )
    .await;
    assert_eq!(bad.status, 403);
    // Audited like any caller (regression: the live-inventory agent used to be exempt), and so
    // is a refused non-JSON body; admin endpoints and /health are not MCP traffic.
    let mut probe = ops_claims();
    probe["agent"] = json!("mcp-runtime-live-inventory");
    let probe = SigningKey::from_seed("platform-1", [7; 32]).token(probe);
    let list = json!({"jsonrpc": "2.0", "id": 99, "method": "tools/list"});
    assert_eq!(rpc(gw.addr, Some(&probe), &[], list).await.status, 200);
    send(gw.addr, "POST", "/policy-mcp-server/mcp", &[("content-type", "text/plain")], "hello").await;
    send(gw.addr, "GET", "/health", &[], "").await;
    send(gw.admin, "GET", "/metrics", &[], "").await;

    let events = ingest.wait_for(8, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events = if events.len() == 8 { ingest.events() } else { events };
    assert_eq!(events.len(), 8, "{events:#?}");

    let ids: BTreeSet<&str> = events.iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert_eq!(ids.len(), 8, "event ids are unique");
    let probe = by_jsonrpc_id(&events, 99)[0]["payload"].clone();
    assert_eq!(
        (probe["agent_id"].as_str(), probe["decision"].as_str()),
        (Some("mcp-runtime-live-inventory"), Some("allow"))
    );
    let not_json: Vec<&Value> =
        events.iter().filter(|e| e["payload"]["inspection_error"] == "not_json").collect();
    assert_eq!(not_json.len(), 1, "{events:#?}");
    for e in &events {
        let id = e["event_id"].as_str().expect("event_id");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "7", "UUIDv7: {id}");
        assert_eq!(e["source"], "policy-mcp-server-gateway");
        assert_eq!(e["event_type"], "mcp.request");
        let p = &e["payload"];
        assert_eq!(p["server"], "policy-mcp-server");
        assert_eq!(p["namespace"], "mcp-servers");
        assert_eq!(p["team_id"], "team-a");
        assert_eq!(p["cluster"], "test");
        assert_eq!(p["path"], "/policy-mcp-server/mcp");
        assert_eq!(p["method"], "POST");
        assert!(p["latency_ms"].as_f64().is_some_and(|l| l >= 0.0), "{p}");
        assert!(p["bytes_out"].as_u64().is_some_and(|b| b > 0), "{p}");
    }

    let allowed = by_jsonrpc_id(&events, 1)[0]["payload"].clone();
    assert_eq!(allowed["decision"], "allow");
    assert_eq!(allowed["reason"], "allowed");
    assert_eq!(allowed["status"], 200);
    assert_eq!(allowed["rpc_method"], "tools/call");
    assert_eq!(allowed["tool_name"], "echo");
    assert_eq!(allowed["human_id"], "user-123");
    assert_eq!(allowed["agent_id"], "ops-agent");
    assert_eq!(allowed["subject_team_id"], "team-a");
    assert_eq!(allowed["session_id"], "sess-ops-agent");
    assert_eq!(allowed["matched_grant"], "ops-agent-grant");
    assert_eq!(allowed["matched_session"], "sess-ops-agent");
    assert_eq!(allowed["effective_trust"], "low");
    assert_eq!(allowed["is_error"], false);
    assert_eq!(allowed["protocol_version"], "2025-03-26");
    assert!(allowed["bytes_in"].as_u64().is_some_and(|b| b > 0));

    let denied = by_jsonrpc_id(&events, 2)[0]["payload"].clone();
    assert_eq!(
        (denied["decision"].as_str(), denied["reason"].as_str()),
        (Some("deny"), Some("trust_too_low"))
    );
    assert_eq!((denied["status"].as_u64(), denied["required_trust"].as_str()), (Some(403), Some("medium")));

    let anonymous = by_jsonrpc_id(&events, 3)[0]["payload"].clone();
    assert_eq!(
        (anonymous["reason"].as_str(), anonymous["status"].as_u64()),
        (Some("missing_identity"), Some(401))
    );

    let list = by_jsonrpc_id(&events, 4)[0]["payload"].clone();
    assert_eq!((list["rpc_method"].as_str(), list["decision"].as_str()), (Some("tools/list"), Some("allow")));

    let failed = by_jsonrpc_id(&events, 5)[0]["payload"].clone();
    assert_eq!(failed["is_error"], true, "a tool result with isError: true is flagged");

    let unreadable: Vec<&Value> =
        events.iter().filter(|e| e["payload"]["inspection_error"] == "invalid_json").collect();
    assert_eq!(unreadable.len(), 1, "{events:#?}");
    assert_eq!(unreadable[0]["payload"]["reason"], "rpc_inspection_failed");
    gw.shutdown().await;
}

#[tokio::test]
async fn events_survive_an_ingest_outage_without_loss_or_duplicates() {
    let ingest = Ingest::start().await;
    let spool = tempfile::tempdir().expect("spool");
    let (_upstream, gw, token) = setup(&ingest, spool.path()).await;
    ingest.down.store(true, std::sync::atomic::Ordering::SeqCst);

    const CALLS: i64 = 1_000;
    let mut tasks = tokio::task::JoinSet::new();
    let addr = gw.addr;
    for worker in 0..8 {
        let token = token.clone();
        tasks.spawn(async move {
            let mut i = worker;
            while i < CALLS {
                let r = rpc(addr, Some(&token), &[], call(i, "echo", json!({"text": "x"}))).await;
                assert_eq!(r.status, 200);
                i += 8;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("worker");
    }
    // While ingest is down, nothing arrives and the spool fills.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(ingest.events().is_empty());
    let metrics = send(gw.admin, "GET", "/metrics", &[], "").await.body;
    assert!(metrics.contains("mcp_gateway_audit_events_total{outcome=\"spooled\"}"), "{metrics}");
    assert!(std::fs::read_dir(spool.path()).expect("spool dir").count() > 0, "batches are on disk");

    ingest.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let events = ingest.wait_for(CALLS as usize, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = if events.len() >= CALLS as usize { ingest.events() } else { events };
    let ids: BTreeSet<&str> = events.iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert_eq!(events.len(), CALLS as usize, "every event arrived exactly once");
    assert_eq!(ids.len(), CALLS as usize, "no duplicates");
    let calls: BTreeSet<i64> = events.iter().filter_map(|e| e["payload"]["jsonrpc_id"].as_i64()).collect();
    assert_eq!(calls.len(), CALLS as usize);
    assert_eq!(std::fs::read_dir(spool.path()).expect("spool dir").count(), 0, "the spool is empty again");
    let metrics = send(gw.admin, "GET", "/metrics", &[], "").await.body;
    assert!(!metrics.contains("outcome=\"dropped"), "{metrics}");
    gw.shutdown().await;
}

#[tokio::test]
async fn batches_refused_as_too_large_are_split_until_they_fit() {
    let ingest = Ingest::start().await;
    let spool = tempfile::tempdir().expect("spool");
    let (_upstream, gw, token) = setup(&ingest, spool.path()).await;
    // While ingest is down, many events gather in the spool as large batches...
    ingest.down.store(true, std::sync::atomic::Ordering::SeqCst);
    const CALLS: i64 = 200;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (token, addr) = (token.clone(), gw.addr);
        tasks.spawn(async move {
            let mut i = worker;
            while i < CALLS {
                assert_eq!(
                    rpc(addr, Some(&token), &[], call(i, "echo", json!({"text": "x"}))).await.status,
                    200
                );
                i += 8;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("worker");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...then ingest comes back taking at most 3 events per request: every batch is split,
    // nothing is lost, nothing is stuck in the spool.
    ingest.max_batch.store(3, std::sync::atomic::Ordering::SeqCst);
    ingest.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let events = ingest.wait_for(CALLS as usize, Duration::from_secs(20)).await;
    let ids: BTreeSet<&str> = events.iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert_eq!(ids.len(), CALLS as usize, "every event arrived");
    assert_eq!(events.len(), CALLS as usize, "none twice");
    assert_eq!(std::fs::read_dir(spool.path()).expect("spool dir").count(), 0, "the spool is empty again");
    assert!(
        ingest.max_batch.load(std::sync::atomic::Ordering::SeqCst) >> 32 > 0,
        "some batch was refused as too large"
    );
    let metrics = send(gw.admin, "GET", "/metrics", &[], "").await.body;
    assert!(!metrics.contains("outcome=\"rejected\""), "{metrics}");
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_drains_queued_events_to_ingest_or_spool() {
    let ingest = Ingest::start().await;
    let spool = tempfile::tempdir().expect("spool");
    let (_upstream, gw, token) = setup(&ingest, spool.path()).await;
    for i in 0..50 {
        assert_eq!(rpc(gw.addr, Some(&token), &[], call(i, "echo", json!({}))).await.status, 200);
    }
    gw.shutdown().await;
    assert_eq!(ingest.events().len(), 50, "every event was delivered before shutdown returned");

    // With ingest down at shutdown, the queue goes to the spool, and a new gateway replays it.
    let (_upstream, gw, token) = setup(&ingest, spool.path()).await;
    ingest.down.store(true, std::sync::atomic::Ordering::SeqCst);
    for i in 100..120 {
        assert_eq!(rpc(gw.addr, Some(&token), &[], call(i, "echo", json!({}))).await.status, 200);
    }
    gw.shutdown().await;
    assert_eq!(ingest.events().len(), 50);
    ingest.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let (_upstream, gw, _token) = setup(&ingest, spool.path()).await;
    let events = ingest.wait_for(70, Duration::from_secs(10)).await;
    assert_eq!(events.len(), 70, "the spool of the previous run was replayed");
    gw.shutdown().await;
}

/// JSON-RPC batches exist only on 2025-03-26 sessions: each element is authorized and audited
/// on its own, allowed ones go upstream, denied ones are answered by the gateway.
#[tokio::test]
async fn batches_on_2025_03_26_sessions_are_governed_per_element() {
    let ingest = Ingest::start().await;
    let spool = tempfile::tempdir().expect("spool");
    let (upstream, gw, token) = setup(&ingest, spool.path()).await;
    let batch = json!([
        call(1, "echo", json!({"text": "a"})),
        call(2, "upper", json!({"text": "b"})),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        call(3, "aaa-ping", json!({})),
    ]);
    let r = rpc(gw.addr, Some(&token), &[("mcp-session-id", "legacy-1")], batch.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let answers = r.json();
    let ids: Vec<i64> = answers.as_array().expect("array").iter().filter_map(|a| a["id"].as_i64()).collect();
    assert_eq!(ids, [1, 3, 2], "upstream answers, then the gateway's denial");
    let denied = answers.as_array().expect("array").iter().find(|a| a["id"] == 2).expect("denial").clone();
    assert_eq!(denied["error"]["data"]["reason"], "trust_too_low");
    let sent = upstream.last().body;
    let methods: Vec<&str> =
        sent.as_array().expect("a batch went upstream").iter().filter_map(|m| m["method"].as_str()).collect();
    assert_eq!(
        methods,
        ["tools/call", "notifications/initialized", "tools/call"],
        "the denied call never reached the app"
    );

    // Not on a 2025-03-26 session: refused as a whole.
    let hits = upstream.hits();
    let r = rpc(
        gw.addr,
        Some(&token),
        &[("mcp-session-id", "s2"), ("mcp-protocol-version", "2025-06-18")],
        batch.clone(),
    )
    .await;
    assert_eq!((r.status, r.reason().as_str()), (403, "rpc_inspection_failed"));
    let r = rpc(gw.addr, Some(&token), &[], batch).await;
    assert_eq!(r.status, 403, "no session, no batch");
    assert_eq!(upstream.hits(), hits);

    let events = ingest.wait_for(6, Duration::from_secs(5)).await;
    let batch_events: Vec<&Value> = events.iter().filter(|e| e["payload"]["batch"] == true).collect();
    assert_eq!(batch_events.len(), 4, "one event per element: {events:#?}");
    let reasons: BTreeSet<(String, String)> = batch_events
        .iter()
        .map(|e| {
            (
                e["payload"]["rpc_method"].as_str().unwrap_or("").to_string(),
                e["payload"]["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(reasons.contains(&("tools/call".to_string(), "trust_too_low".to_string())), "{reasons:?}");
    assert!(
        reasons.contains(&("notifications/initialized".to_string(), "allowed".to_string())),
        "{reasons:?}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn one_request_yields_a_bounded_number_of_records() {
    // Regression: every element of a batch was a record of its own, so one request could write
    // tens of thousands of events.
    let ingest = Ingest::start().await;
    let spool = tempfile::tempdir().expect("spool");
    let (_upstream, gw, token) = setup(&ingest, spool.path()).await;
    let notifications: Vec<Value> = (0..500)
        .map(|_| json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}))
        .collect();
    let r = rpc(gw.addr, Some(&token), &[("mcp-session-id", "legacy-n")], Value::Array(notifications)).await;
    assert!(r.status < 300, "{}", r.body);
    let calls: Vec<Value> = (0..200).map(|i| call(i, "echo", json!({}))).collect();
    let r = rpc(gw.addr, Some(&token), &[("mcp-session-id", "legacy-c")], Value::Array(calls)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let _ = ingest.wait_for(1 + 65, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = ingest.events();
    let notification_records =
        events.iter().filter(|e| e["payload"]["rpc_method"] == "notifications/progress").count();
    assert_eq!(notification_records, 1, "a batch of notifications is one record");
    let call_records = events.iter().filter(|e| e["payload"]["rpc_method"] == "tools/call").count();
    assert_eq!(call_records, 65, "64 elements and one record for the rest");
    gw.shutdown().await;
}
