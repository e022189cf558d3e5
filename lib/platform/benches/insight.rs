//! `cargo bench -p mcp-platform --bench insight` (run by `cargo xtask bench platform`):
//! - how many recorded tool calls policy replay judges per second against a proposed document
//!   with 10,000 grants (and, as the baseline of the same run, with 10), reading the events
//!   from memory — the evaluation side of replay; the ClickHouse read is the event list's cost;
//! - the latency of the catalog list (`GET /api/v1/catalog/servers`) and of the registry list
//!   (`GET /v0.1/servers?limit=100`) with 1,000 servers (embedded store, Local backend), against
//!   `GET /health` of the same run.
//!
//! Writes JSON to `$MCP_BENCH_OUT` (default: stdout).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mcp_platform::replay::{Outcome, Report, judge};
use mcp_policy::{Document, Grant, Snapshot, Tool};
use mcp_sentinel::query::EventRecord;
use serde_json::{Value, json};

const EVENTS: usize = 200_000;
const AGENTS: usize = 1_000;

fn snapshot(grants: usize) -> Snapshot {
    let mut doc: Document = serde_json::from_value(json!({
        "schema_version": "v1",
        "server": {"name": "payments", "namespace": "mcp-team-a"},
    }))
    .expect("document");
    doc.tools = ["balance", "transfer", "refund"]
        .iter()
        .map(|t| {
            serde_json::from_value::<Tool>(
                json!({"name": t, "side_effect": if *t == "balance" { "read" } else { "write" }}),
            )
            .expect("tool")
        })
        .collect();
    doc.grants = (0..grants)
        .map(|i| {
            // Agents below AGENTS/2 keep `balance` only: their `transfer` calls change to deny.
            let rules = if i % AGENTS < AGENTS / 2 {
                json!([{"name": "balance", "decision": "allow"}])
            } else {
                json!([])
            };
            serde_json::from_value::<Grant>(json!({
                "name": format!("g-{i}"), "namespace": "mcp-team-a", "human_id": format!("human-{i}"),
                "agent_id": format!("agent-{}", i % AGENTS), "max_trust": "high",
                "allowed_side_effects": ["read", "write"], "tool_rules": rules,
            }))
            .expect("grant")
        })
        .collect();
    doc.stamp();
    Snapshot::new(doc).expect("valid document")
}

fn events(grants: usize) -> Vec<EventRecord> {
    let base = 1_795_000_000_000u64;
    (0..EVENTS)
        .map(|i| {
            let g = (i * 7_919) % grants;
            EventRecord {
                timestamp: String::new(),
                ts_ms: base + i as u64,
                event_id: format!("e{i}"),
                trace_id: String::new(),
                source: "mcp-gateway".into(),
                event_type: "mcp.request".into(),
                server: "payments".into(),
                namespace: "mcp-team-a".into(),
                team_id: "team-a".into(),
                cluster: String::new(),
                human_id: format!("human-{g}"),
                agent_id: format!("agent-{}", g % AGENTS),
                subject_team_id: "team-a".into(),
                session_id: String::new(),
                decision: "allow".into(),
                reason: "allowed".into(),
                rpc_method: "tools/call".into(),
                tool_name: if i % 2 == 0 { "balance" } else { "transfer" }.into(),
                status: 200,
                latency_ms: 1.0,
                policy_version: String::new(),
                required_trust: String::new(),
                consented_trust: String::new(),
                matched_grant: String::new(),
                payload: json!({}),
            }
        })
        .collect()
}

fn run(grants: usize) -> Value {
    let snap = snapshot(grants);
    let events = events(grants);
    // Warm-up.
    for e in events.iter().take(10_000) {
        std::hint::black_box(judge(&snap, e));
    }
    let started = Instant::now();
    let mut report = Report::default();
    for e in &events {
        let j = judge(&snap, e);
        report.add(e, &j, 20);
        std::hint::black_box(matches!(j.outcome, Outcome::AllowToDeny));
    }
    let secs = started.elapsed().as_secs_f64();
    json!({
        "grants": grants,
        "events": events.len(),
        "seconds": secs,
        "events_per_s": events.len() as f64 / secs,
        "changed": report.changed.allow_to_deny + report.changed.deny_to_allow,
    })
}

const SERVERS: usize = 1_000;
const LIST_SAMPLES: usize = 30;

fn stats(mut samples: Vec<Duration>) -> Value {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_nanos() as f64;
    json!({"samples": samples.len(), "median_ns": pick(0.5), "p99_ns": pick(0.99), "max_ns": pick(1.0)})
}

async fn catalog() -> Value {
    let dir = tempfile::tempdir().expect("dir");
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("PLATFORM_DATA_DIR".into(), dir.path().display().to_string());
    let config = mcp_platform::Config::from_source(&env).expect("config");
    let platform = mcp_platform::Platform::open(config).await.expect("open");
    let state = platform.state().clone();
    let admin = mcp_platform::api::CreateUser {
        email: "admin@bench.local".into(),
        password: Some("bench-password-1".into()),
        display_name: None,
        kind: None,
        admin: Some(true),
    };
    let admin = mcp_platform::api::new_user(&state, admin).await.expect("admin");
    let team = mcp_platform::store::Team {
        id: uuid::Uuid::now_v7().to_string(),
        name: "bench".into(),
        display_name: "Bench".into(),
        namespace: "mcp-team-bench".into(),
        created_at: mcp_platform::store::now(),
    };
    state.store.create_team(&team, &admin.id, &admin.id).await.expect("team");
    state.runtime.provision_team(&team).await.expect("provision");
    for i in 0..SERVERS {
        let server: mcp_api::MCPServer = serde_json::from_value(json!({
            "apiVersion": "mcpruntime.org/v1alpha1", "kind": "MCPServer",
            "metadata": {"name": format!("srv-{i:04}"), "namespace": team.namespace},
            "spec": {"teamID": team.id, "image": "registry.local/bench:1.0.0", "tools": [
                {"name": "read", "sideEffect": "read"}, {"name": "write", "sideEffect": "write", "requiredTrust": "medium"}
            ]},
        }))
        .expect("server");
        state.runtime.apply_server(server).await.expect("apply");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(platform.serve(listener, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let login: Value = serde_json::from_slice(
        &client
            .post(format!("{base}/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body(json!({"email": "admin@bench.local", "password": "bench-password-1"}).to_string())
            .send()
            .await
            .expect("login")
            .bytes()
            .await
            .expect("body"),
    )
    .expect("json");
    let token = login["access_token"].as_str().expect("token").to_string();
    let mut out = json!({"servers": SERVERS});
    for (key, path) in [
        ("health", "/health"),
        ("catalog", "/api/v1/catalog/servers"),
        ("registry", "/v0.1/servers?limit=100"),
    ] {
        let mut samples = Vec::new();
        for i in 0..LIST_SAMPLES + 3 {
            let t = Instant::now();
            let r = client.get(format!("{base}{path}")).bearer_auth(&token).send().await.expect("send");
            assert!(r.status().is_success(), "{path}: {}", r.status());
            let bytes = r.bytes().await.expect("body");
            if i >= 3 {
                samples.push(t.elapsed());
            }
            if key == "catalog" && i == 0 {
                let body: Value = serde_json::from_slice(&bytes).expect("json");
                assert_eq!(body["items"].as_array().map(Vec::len), Some(SERVERS));
            }
        }
        out[key] = stats(samples);
    }
    let _ = stop.send(());
    let _ = server.await;
    out
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let catalog = runtime.block_on(catalog());
    let report = json!({"baseline": run(10), "grants_10k": run(10_000), "catalog": catalog});
    let text = serde_json::to_string_pretty(&report).expect("json");
    match std::env::var_os("MCP_BENCH_OUT") {
        Some(path) => std::fs::write(path, text).expect("write results"),
        None => println!("{text}"),
    }
}
