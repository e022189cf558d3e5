//! `cargo bench -p mcp-platform --bench replay` (run by `cargo xtask bench platform`): how many
//! recorded tool calls policy replay judges per second against a proposed document with 10,000
//! grants (and, as the baseline of the same run, with 10), reading the events from memory —
//! the evaluation side of replay; the ClickHouse read is the event list's cost.
//!
//! Writes JSON to `$MCP_BENCH_OUT` (default: stdout).

use std::time::Instant;

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

fn main() {
    let report = json!({"baseline": run(10), "grants_10k": run(10_000)});
    let text = serde_json::to_string_pretty(&report).expect("json");
    match std::env::var_os("MCP_BENCH_OUT") {
        Some(path) => std::fs::write(path, text).expect("write results"),
        None => println!("{text}"),
    }
}
