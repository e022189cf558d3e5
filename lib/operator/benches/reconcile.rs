//! The operator's compute per reconcile, without the API: pick the server's grants and
//! sessions out of the caches, render the policy, decide whether to write it (the diff against
//! the ConfigMap already there), and build the desired objects. `cargo xtask bench operator`
//! runs this and writes docs/benchmarks.md.
//!
//! Two shapes: one server with 10,000 grants (the biggest policy), and 1,000 servers with 10
//! grants each (a full resync of a big cluster: every server's reconcile scans the same cache
//! of 10,000 grants).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use mcp_api::{
    MCPAccessGrant, MCPAccessGrantSpec, MCPAgentSession, MCPAgentSessionSpec, MCPServer, MCPServerSpec,
    PolicyDecision, ServerRef, SideEffect, Subject, ToolConfig, ToolRule, TrustLevel,
};
use mcp_operator::build::{self, PolicyPlan, ServerView, policy_config_map};
use mcp_operator::config::OperatorConfig;
use mcp_operator::controller::policy_inputs;
use serde_json::{Value, json};

fn server(name: &str, namespace: &str) -> MCPServer {
    let mut server = MCPServer::new(
        name,
        MCPServerSpec {
            team_id: Some("team-a".into()),
            image: "registry.local/app:1".into(),
            tools: ["search", "read", "write", "delete", "admin"]
                .iter()
                .map(|t| ToolConfig {
                    name: t.to_string(),
                    side_effect: Some(if *t == "read" || *t == "search" {
                        SideEffect::Read
                    } else {
                        SideEffect::Write
                    }),
                    required_trust: Some(TrustLevel::Medium),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
    );
    server.metadata.namespace = Some(namespace.into());
    server.metadata.uid = Some(format!("uid-{namespace}-{name}"));
    server
}

fn grant(i: usize, server: &str, namespace: &str) -> MCPAccessGrant {
    let mut g = MCPAccessGrant::new(
        &format!("grant-{i:05}"),
        MCPAccessGrantSpec {
            server_ref: ServerRef { name: server.into(), namespace: None },
            subject: Subject {
                human_id: Some(format!("user-{i}")),
                agent_id: Some(format!("agent-{i}")),
                team_id: None,
            },
            max_trust: Some(TrustLevel::High),
            allowed_side_effects: vec![SideEffect::Read, SideEffect::Write],
            tool_rules: ["search", "read"]
                .iter()
                .map(|t| ToolRule {
                    name: t.to_string(),
                    decision: Some(PolicyDecision::Allow),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
    );
    g.metadata.namespace = Some(namespace.into());
    g
}

fn session(i: usize, server: &str, namespace: &str) -> MCPAgentSession {
    let mut s = MCPAgentSession::new(
        &format!("sess-{i:05}"),
        MCPAgentSessionSpec {
            server_ref: ServerRef { name: server.into(), namespace: None },
            subject: Subject {
                human_id: Some(format!("user-{i}")),
                agent_id: Some(format!("agent-{i}")),
                team_id: None,
            },
            expires_at: Some("2030-01-01T00:00:00Z".into()),
            ..Default::default()
        },
    );
    s.metadata.namespace = Some(namespace.into());
    s
}

fn cfg() -> OperatorConfig {
    OperatorConfig {
        default_ingress_host: Some("mcp.example.com".into()),
        gateway_image: Some("registry.local/mcp-gateway:1".into()),
        ..OperatorConfig::default()
    }
}

/// Median, p99 and max of nanosecond samples.
fn stats(mut samples: Vec<u128>) -> Value {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    json!({"samples": samples.len(), "median_ns": at(0.5), "p99_ns": at(0.99), "max_ns": at(1.0)})
}

/// One reconcile's compute for `server`; returns the nanoseconds of each step.
struct Steps {
    select: u128,
    render: u128,
    plan: u128,
    build: u128,
}

fn reconcile(
    server: &MCPServer,
    grants: &[Arc<MCPAccessGrant>],
    sessions: &[Arc<MCPAgentSession>],
    existing: &k8s_openapi::api::core::v1::ConfigMap,
    cached: &str,
    cfg: &OperatorConfig,
) -> Steps {
    let t0 = Instant::now();
    let view = ServerView::new(server, cfg).expect("valid");
    let (g, s) = policy_inputs(&view, grants, sessions);
    let t1 = Instant::now();
    let ctx = cfg.render_context(None, Some("2026-01-01T00:00:00Z".into()));
    let doc = mcp_policy::render(server, &g, &s, &ctx).expect("renders");
    let t2 = Instant::now();
    let plan = build::plan_policy(&view, Some(existing), Some(cached.to_string()), &doc);
    assert_eq!(plan, PolicyPlan::Unchanged, "steady state: nothing to write");
    let t3 = Instant::now();
    black_box(build::desired(&view, cfg, true));
    let t4 = Instant::now();
    Steps {
        select: (t1 - t0).as_nanos(),
        render: (t2 - t1).as_nanos(),
        plan: (t3 - t2).as_nanos(),
        build: (t4 - t3).as_nanos(),
    }
}

fn steps_json(all: Vec<Steps>) -> Value {
    let total: Vec<u128> = all.iter().map(|s| s.select + s.render + s.plan + s.build).collect();
    json!({
        "select": stats(all.iter().map(|s| s.select).collect()),
        "render": stats(all.iter().map(|s| s.render).collect()),
        "plan": stats(all.iter().map(|s| s.plan).collect()),
        "build": stats(all.iter().map(|s| s.build).collect()),
        "total": stats(total),
    })
}

fn one_server(grants: usize, rounds: usize) -> Value {
    let cfg = cfg();
    let s = server("big", "team-a");
    let all_grants: Vec<Arc<MCPAccessGrant>> =
        (0..grants).map(|i| Arc::new(grant(i, "big", "team-a"))).collect();
    let all_sessions: Vec<Arc<MCPAgentSession>> =
        (0..100).map(|i| Arc::new(session(i, "big", "team-a"))).collect();
    let view = ServerView::new(&s, &cfg).expect("valid");
    let (g, ss) = policy_inputs(&view, &all_grants, &all_sessions);
    let doc = mcp_policy::render(&s, &g, &ss, &cfg.render_context(None, None)).expect("renders");
    let existing = policy_config_map(&view, &doc);
    let pretty = doc.to_json_pretty().len();
    let compact = serde_json::to_string(&doc).map(|t| t.len()).unwrap_or(0);

    // The first reconcile after a restart verifies the stored policy (parse + hash) once.
    let verify_started = Instant::now();
    let plan = build::plan_policy(&view, Some(&existing), None, &doc);
    let verify = verify_started.elapsed().as_nanos();
    assert_eq!(plan, PolicyPlan::Unchanged);

    let _warm = reconcile(&s, &all_grants, &all_sessions, &existing, &doc.revision, &cfg);
    let steps: Vec<Steps> = (0..rounds)
        .map(|_| reconcile(&s, &all_grants, &all_sessions, &existing, &doc.revision, &cfg))
        .collect();
    json!({
        "grants": grants, "sessions": 100, "policy_bytes": pretty, "policy_bytes_compact": compact,
        "verify_stored_ns": verify, "steps": steps_json(steps),
    })
}

fn fleet(servers: usize, grants_each: usize, passes: usize) -> Value {
    let cfg = cfg();
    let list: Vec<MCPServer> =
        (0..servers).map(|i| server(&format!("srv-{i:04}"), &format!("team-{}", i % 50))).collect();
    let mut all_grants = Vec::new();
    let mut all_sessions = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let ns = s.metadata.namespace.clone().unwrap_or_default();
        let name = s.metadata.name.clone().unwrap_or_default();
        for j in 0..grants_each {
            all_grants.push(Arc::new(grant(i * grants_each + j, &name, &ns)));
        }
        all_sessions.push(Arc::new(session(i, &name, &ns)));
    }
    let existing: Vec<(k8s_openapi::api::core::v1::ConfigMap, String)> = list
        .iter()
        .map(|s| {
            let view = ServerView::new(s, &cfg).expect("valid");
            let (g, ss) = policy_inputs(&view, &all_grants, &all_sessions);
            let doc = mcp_policy::render(s, &g, &ss, &cfg.render_context(None, None)).expect("renders");
            (policy_config_map(&view, &doc), doc.revision)
        })
        .collect();
    let mut pass_ns = Vec::new();
    let mut steps = Vec::new();
    for _ in 0..passes {
        let started = Instant::now();
        for (s, (cm, revision)) in list.iter().zip(&existing) {
            steps.push(reconcile(s, &all_grants, &all_sessions, cm, revision, &cfg));
        }
        pass_ns.push(started.elapsed().as_nanos());
    }
    json!({
        "servers": servers, "grants_each": grants_each, "grants_total": servers * grants_each,
        "passes": stats(pass_ns), "per_server": steps_json(steps),
    })
}

fn main() {
    let quick = std::env::var("MCP_BENCH_QUICK").is_ok();
    let one = one_server(if quick { 1_000 } else { 10_000 }, if quick { 3 } else { 30 });
    let many = fleet(if quick { 100 } else { 1_000 }, 10, if quick { 1 } else { 5 });
    let baseline = one_server(10, if quick { 3 } else { 200 });
    let report = json!({"one_server": one, "fleet": many, "baseline": baseline});
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    match std::env::var_os("MCP_BENCH_OUT") {
        Some(path) => std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {path:?}: {e}")),
        None => println!("{text}"),
    }
}
