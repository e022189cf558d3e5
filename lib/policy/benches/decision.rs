//! Decision cost with 10, 1k and 10k grants: `cargo xtask bench policy` runs this and writes
//! docs/benchmarks.md. Each case times single decisions (not batches) so the tail is real.
//!
//! The caller's grant allows the tool through a rule with an argument constraint, so every
//! decision runs the full check sequence. Every other grant belongs to another human of the same
//! team, which is the case the subject index must make cheap.

use std::hint::black_box;
use std::time::Instant;

use mcp_api::{
    ArgumentConstraint, MCPAccessGrant, MCPAccessGrantSpec, MCPAgentSession, MCPAgentSessionSpec, MCPServer,
    MCPServerSpec, PolicyDecision, ServerRef, SessionConfig, SideEffect, Subject, ToolConfig, ToolRule,
    TrustLevel,
};
use mcp_policy::{Call, Identity, MemoryBudgets, Reason, RenderContext, Request, Snapshot, render};
use serde_json::json;

const WARMUP: usize = 20_000;
const SAMPLES: usize = 200_000;

fn grant(name: &str, human: &str, agent: &str) -> MCPAccessGrant {
    let mut rule =
        ToolRule { name: "transfer".into(), decision: Some(PolicyDecision::Allow), ..Default::default() };
    rule.arguments.insert(
        "currency".into(),
        ArgumentConstraint { enum_: Some(vec![json!("EUR"), json!("USD")]), ..Default::default() },
    );
    rule.arguments
        .insert("amount".into(), ArgumentConstraint { maximum: Some(1000.0), ..Default::default() });
    let mut g = MCPAccessGrant::new(
        name,
        MCPAccessGrantSpec {
            server_ref: ServerRef { name: "payments".into(), namespace: None },
            subject: Subject { human_id: Some(human.into()), agent_id: Some(agent.into()), team_id: None },
            max_trust: Some(TrustLevel::High),
            allowed_side_effects: vec![SideEffect::Read, SideEffect::Write],
            tool_rules: vec![
                rule,
                ToolRule {
                    name: "balance".into(),
                    decision: Some(PolicyDecision::Allow),
                    ..Default::default()
                },
            ],
            ..Default::default()
        },
    );
    g.metadata.namespace = Some("payments".into());
    g
}

fn snapshot(grants: usize) -> Snapshot {
    let mut server = MCPServer::new(
        "payments",
        MCPServerSpec {
            team_id: Some("team-a".into()),
            image: "registry.local/payments".into(),
            session: Some(SessionConfig { required: Some(true), ..Default::default() }),
            tools: ["balance", "transfer", "refund"]
                .iter()
                .map(|n| ToolConfig {
                    name: n.to_string(),
                    side_effect: Some(if *n == "balance" { SideEffect::Read } else { SideEffect::Write }),
                    required_trust: Some(TrustLevel::Medium),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
    );
    server.metadata.namespace = Some("payments".into());
    let mut all: Vec<MCPAccessGrant> = (1..grants)
        .map(|i| grant(&format!("grant-{i:05}"), &format!("user-{i}"), &format!("agent-{i}")))
        .collect();
    all.push(grant("grant-caller", "alice", "billing-agent"));
    let mut session = MCPAgentSession::new(
        "sess-alice",
        MCPAgentSessionSpec {
            server_ref: ServerRef { name: "payments".into(), namespace: None },
            subject: Subject {
                human_id: Some("alice".into()),
                agent_id: Some("billing-agent".into()),
                team_id: None,
            },
            consented_trust: Some(TrustLevel::Medium),
            expires_at: Some("2099-01-01T00:00:00Z".into()),
            ..Default::default()
        },
    );
    session.metadata.namespace = Some("payments".into());
    let doc = render(&server, &all, &[session], &RenderContext::default()).expect("render");
    Snapshot::new(doc).expect("snapshot")
}

struct Stats {
    grants: usize,
    median: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

fn measure(grants: usize) -> Stats {
    let snapshot = snapshot(grants);
    let identity = Identity {
        human: "alice".into(),
        agent: "billing-agent".into(),
        team: "team-a".into(),
        session: "sess-alice".into(),
    };
    let args = json!({"currency": "EUR", "amount": 250, "to": "acct-42"});
    let budgets = MemoryBudgets::new();
    let now: jiff::Timestamp = "2026-11-26T12:00:00Z".parse().expect("timestamp");
    let request = Request {
        identity: &identity,
        call: Call::Tool { name: "transfer", arguments: Some(&args), drifted: false },
        now,
        charge: true,
    };
    let d = snapshot.evaluate(&request, &budgets);
    assert_eq!(d.reason, Reason::Allowed, "the benchmark must measure a full allow: {d:?}");

    for _ in 0..WARMUP {
        black_box(snapshot.evaluate(black_box(&request), &budgets));
    }
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        black_box(snapshot.evaluate(black_box(&request), &budgets));
        samples.push(start.elapsed().as_nanos() as f64);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        grants,
        median: at(0.5),
        p99: at(0.99),
        max: samples[samples.len() - 1],
        mean: samples.iter().sum::<f64>() / samples.len() as f64,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run passes nothing and
    // should stay quick.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full { &[10, 1_000, 10_000] } else { &[10] };
    let mut cases = Vec::new();
    println!("{:>8} {:>10} {:>10} {:>10} {:>10}", "grants", "median", "p99", "max", "mean");
    for &n in sizes {
        let s = measure(n);
        println!("{:>8} {:>8.0}ns {:>8.0}ns {:>8.0}ns {:>8.0}ns", s.grants, s.median, s.p99, s.max, s.mean);
        cases.push(json!({
            "grants": s.grants,
            "samples": SAMPLES,
            "median_ns": s.median,
            "p99_ns": s.p99,
            "max_ns": s.max,
            "mean_ns": s.mean,
        }));
    }
    if let Ok(path) = std::env::var("MCP_BENCH_OUT") {
        let report = json!({ "cases": cases });
        std::fs::write(&path, serde_json::to_string_pretty(&report).expect("json")).expect("write results");
    }
}
