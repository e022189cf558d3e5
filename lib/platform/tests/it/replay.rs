//! Policy replay against a real ClickHouse: recorded tool calls judged again under a proposed
//! document, through the platform API, on both stores.

use mcp_platform::store::{Role, Team, now};
use serde_json::{Value, json};

use crate::analytics::{Seed, insert, row};
use crate::support::{Backend, Harness};

fn seed(
    id: &str,
    ts_ms: u64,
    agent: &'static str,
    tool: &'static str,
    decision: &'static str,
    reason: &'static str,
) -> Seed {
    Seed {
        id: id.into(),
        ts_ms,
        namespace: "mcp-team-a",
        server: "alpha",
        agent,
        tool,
        decision,
        reason,
        latency_ms: 1.0,
    }
}

/// bot-1 may call `add` and `delete`; bot-2 nothing.
fn proposal() -> Value {
    json!({
        "schema_version": "v1",
        "server": {"name": "alpha", "namespace": "mcp-team-a"},
        "tools": [
            {"name": "add", "side_effect": "read"},
            {"name": "delete", "side_effect": "write"},
        ],
        "grants": [{
            "name": "bot-1", "namespace": "mcp-team-a", "human_id": "alice", "agent_id": "bot-1",
            "max_trust": "high", "allowed_side_effects": ["read", "write"],
        }],
    })
}

async fn replay_reports_changed_decisions(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let (owner_id, owner) = h.signed_in("owner@example.org").await;
    let (viewer_id, viewer) = h.signed_in("viewer@example.org").await;
    let team = Team {
        id: uuid::Uuid::now_v7().to_string(),
        name: "a".into(),
        display_name: "A".into(),
        namespace: "mcp-team-a".into(),
        created_at: now(),
    };
    h.state.store.create_team(&team, &owner_id, &owner_id).await.expect("team");
    h.state.store.put_member(&team.id, &viewer_id, Role::Viewer).await.expect("viewer");

    let base = u64::try_from(jiff::Timestamp::now().as_millisecond()).expect("time") - 3_600_000;
    let mut seeds = Vec::new();
    for i in 0..40u64 {
        // bot-2's allowed `add` calls: allowed then, denied under the proposal.
        seeds.push(seed(&format!("a2d-{i:02}"), base + i * 1_000, "bot-2", "add", "allow", "allowed"));
    }
    for i in 0..5u64 {
        // bot-1's refused `delete` calls: denied then, allowed under the proposal.
        seeds.push(seed(
            &format!("d2a-{i}"),
            base + 100_000 + i,
            "bot-1",
            "delete",
            "deny",
            "tool_not_granted",
        ));
    }
    seeds.push(seed("same", base + 200_000, "bot-1", "add", "allow", "allowed"));
    seeds.push(seed("budget", base + 200_001, "bot-1", "add", "deny", "rate_limited"));
    seeds.push(seed("token", base + 200_002, "bot-1", "add", "deny", "invalid_token"));
    let mut rows: Vec<_> = seeds.iter().map(|s| row(s, json!({}))).collect();
    // Not in scope: another server, another namespace, outside the window, not a tool call.
    let mut other = seed("other-server", base + 10, "bot-2", "add", "allow", "allowed");
    other.server = "beta";
    rows.push(row(&other, json!({})));
    let mut elsewhere = seed("other-ns", base + 11, "bot-2", "add", "allow", "allowed");
    elsewhere.namespace = "mcp-team-b";
    rows.push(row(&elsewhere, json!({})));
    rows.push(row(&seed("old", base - 2 * 86_400_000, "bot-2", "add", "allow", "allowed"), json!({})));
    rows.push(row(
        &seed("list", base + 12, "bot-2", "", "allow", "allowed"),
        json!({"rpc_method": "tools/list"}),
    ));
    insert(&h, &rows).await;

    let since = (base - 1_000).to_string();
    let body = json!({"team": "a", "server": "alpha", "since": since, "policy": proposal(), "samples": 3});
    let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&owner), Some(body.clone())).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let b = &r.body;
    assert_eq!(b["scanned"], 48, "{b}");
    assert_eq!(b["evaluated"], 46);
    assert_eq!(b["unchanged"], 1);
    assert_eq!(b["changed"], json!({"allow_to_deny": 40, "deny_to_allow": 5}));
    assert_eq!(b["not_rejudged"], json!({"budget": 1, "gateway": 1}));
    assert_eq!(b["by_tool"]["add"], json!({"allow_to_deny": 40, "deny_to_allow": 0}));
    assert_eq!(b["by_tool"]["delete"], json!({"allow_to_deny": 0, "deny_to_allow": 5}));
    assert_eq!(b["by_agent"]["bot-2"]["allow_to_deny"], 40);
    assert_eq!(b["by_reason"], json!({"allowed → no_matching_grant": 40, "tool_not_granted → allowed": 5}));
    let samples = b["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0]["event_id"], "d2a-4", "newest first");
    assert_eq!((samples[0]["before"].as_str(), samples[0]["after"].as_str()), (Some("deny"), Some("allow")));
    assert_eq!(samples[0]["after_grant"], "bot-1");
    assert!(b.get("next_cursor").is_none() && b.get("stopped").is_none());

    // Bounded: 10 events per call, resumed by cursor until the window is done.
    let mut total = 0;
    let mut changed = 0;
    let mut cursor: Option<String> = None;
    let mut calls = 0;
    loop {
        let mut page = body.clone();
        page["max_events"] = json!(10);
        if let Some(c) = &cursor {
            page["cursor"] = json!(c);
        }
        let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&owner), Some(page)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        calls += 1;
        total += r.body["scanned"].as_u64().expect("scanned");
        changed += r.body["changed"]["allow_to_deny"].as_u64().expect("n")
            + r.body["changed"]["deny_to_allow"].as_u64().expect("n");
        cursor = r.body["next_cursor"].as_str().map(String::from);
        if cursor.is_none() {
            break;
        }
        assert_eq!(r.body["stopped"], "max_events");
    }
    assert_eq!((total, changed, calls), (48, 45, 5));

    // Who may replay, and what is refused.
    let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&viewer), Some(body.clone())).await;
    assert_eq!(r.status, 403, "viewers cannot replay");
    let mut wrong = body.clone();
    wrong["server"] = json!("beta");
    let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&owner), Some(wrong)).await;
    assert_eq!((r.status, r.body["error"]["details"]["field"].as_str()), (400, Some("policy")));
    let mut tampered = body.clone();
    tampered["policy"]["revision"] = json!("sha256:00");
    let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&owner), Some(tampered)).await;
    assert_eq!(r.status, 400, "a given revision must match: {:?}", r.body);
    let mut backwards = body.clone();
    backwards["until"] = json!((base - 5_000).to_string());
    let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&owner), Some(backwards)).await;
    assert_eq!((r.status, r.body["error"]["details"]["field"].as_str()), (400, Some("since")));
    let mut huge = body.clone();
    huge["max_events"] = json!(1_000_000);
    let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&owner), Some(huge)).await;
    assert_eq!(r.status, 400);
}

/// Grants and sessions as YAML over the server's current objects (the Local backend).
async fn replay_applies_yaml_over_the_current_objects(backend: Backend) {
    use crate::runtime_contract::{grant, server};
    let h = Harness::start(backend, &[]).await;
    let (owner_id, owner) = h.signed_in("owner@example.org").await;
    let team = crate::runtime_contract::team("a");
    h.state.store.create_team(&team, &owner_id, &owner_id).await.expect("team");
    let runtime = &h.state.runtime;
    runtime.provision_team(&team).await.expect("provision");
    runtime.apply_server(server(&team, "tools")).await.expect("server");
    runtime.apply_grant(grant(&team, "g1", "tools", "bot-1")).await.expect("grant");

    let base = u64::try_from(jiff::Timestamp::now().as_millisecond()).expect("time") - 600_000;
    let mut rows = Vec::new();
    for (i, (agent, decision, reason)) in [
        ("bot-1", "allow", "allowed"),
        ("bot-2", "deny", "no_matching_grant"),
        ("bot-2", "deny", "no_matching_grant"),
        ("bot-2", "deny", "no_matching_grant"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut s = seed(&format!("y{i}"), base + i as u64, agent, "echo", decision, reason);
        s.server = "tools";
        rows.push(row(&s, json!({"human_id": "human-1", "subject_team_id": team.id})));
    }
    insert(&h, &rows).await;
    let since = (base - 1_000).to_string();

    // Nothing proposed: the current objects judge the calls as the gateway did.
    let body = json!({"team": "a", "server": "tools", "since": since});
    let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&owner), Some(body)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!((r.body["scanned"].as_u64(), r.body["unchanged"].as_u64()), (Some(4), Some(4)), "{}", r.body);

    // A new grant for bot-2, and g1 disabled: both directions change.
    let grants = "apiVersion: mcpruntime.org/v1alpha1
kind: MCPAccessGrant
metadata: {name: g2}
spec:
  serverRef: {name: tools}
  subject: {humanID: human-1, agentID: bot-2}
  maxTrust: medium
  allowedSideEffects: [read]
---
- metadata: {name: g1}
  spec:
    serverRef: {name: tools}
    subject: {humanID: human-1, agentID: bot-1}
    allowedSideEffects: [read]
    disabled: true
";
    let body = json!({"team": "a", "server": "tools", "since": since, "grants": grants});
    let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&owner), Some(body)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["changed"], json!({"allow_to_deny": 1, "deny_to_allow": 3}), "{}", r.body);
    assert_eq!(r.body["by_agent"]["bot-2"]["deny_to_allow"], 3);
    assert_eq!(r.body["samples"][0]["after_grant"], "g2");

    // Refused: another team's namespace, an invalid spec, unreadable YAML, both kinds at once.
    for (field, value) in [
        (
            "grants",
            "metadata: {name: x, namespace: mcp-team-b}\nspec: {serverRef: {name: tools}, subject: {agentID: a}, allowedSideEffects: [read]}",
        ),
        (
            "grants",
            "metadata: {name: x}\nspec: {serverRef: {name: tools}, subject: {agentID: a}, allowedSideEffects: [read, read]}",
        ),
        ("sessions", "[: nope"),
    ] {
        let body = json!({"team": "a", "server": "tools", field: value});
        let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&owner), Some(body)).await;
        assert_eq!(
            (r.status, r.body["error"]["details"]["field"].as_str()),
            (400, Some(field)),
            "{value}: {:?}",
            r.body
        );
    }
    let body = json!({"team": "a", "server": "tools", "grants": "", "policy": proposal()});
    let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&owner), Some(body)).await;
    assert_eq!(r.status, 400);
    let body = json!({"team": "a", "server": "nope"});
    let r = h.call("POST", "/api/v1/runtime/policy/replay", Some(&owner), Some(body)).await;
    assert_eq!((r.status, r.body["error"]["details"]["field"].as_str()), (400, Some("server")));
}

crate::both!(replay_reports_changed_decisions, replay_applies_yaml_over_the_current_objects);
