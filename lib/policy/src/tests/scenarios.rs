//! The reference E2E expectations (smoke-auth identity matrix, governance, trust, multitenancy)
//! as tables evaluated against rendered documents.

use mcp_api::{PolicyDecision, ToolRule, TrustLevel};
use serde_json::json;

use super::{World, ops, who};
use crate::{Reason, ToolVisibility};

const SERVER: &str = "policy-mcp-server";

fn allow(name: &str) -> ToolRule {
    ToolRule { name: name.into(), decision: Some(PolicyDecision::Allow), ..ToolRule::default() }
}

fn deny(name: &str) -> ToolRule {
    ToolRule { name: name.into(), decision: Some(PolicyDecision::Deny), ..ToolRule::default() }
}

/// Asserts `(tool, expected status, expected reason)` rows for one identity.
fn assert_rows(w: &World, server: &str, id: &crate::Identity, rows: &[(&str, u16, Reason)]) {
    for (tool, status, reason) in rows {
        let d = w.call(server, id, tool, None);
        assert_eq!((d.http_status(), d.reason), (*status, *reason), "{id:?} calling {tool}: {d:#?}");
    }
}

#[test]
fn smoke_auth_identity_matrix() {
    let w = World::workspace_assistant();
    let rows: &[(crate::Identity, &str, u16, Reason)] = &[
        (who("", "", "", ""), "aaa-ping", 401, Reason::MissingIdentity),
        (who("user-123", "ops-agent", "team-a", ""), "aaa-ping", 401, Reason::MissingSession),
        (
            who("user-123", "ops-agent", "team-a", "sess-does-not-exist"),
            "aaa-ping",
            401,
            Reason::SessionNotFound,
        ),
        (ops(), "aaa-ping", 200, Reason::Allowed),
        (ops(), "echo", 200, Reason::Allowed),
    ];
    for (id, tool, status, reason) in rows {
        let d = w.call(SERVER, id, tool, None);
        assert_eq!((d.http_status(), d.reason), (*status, *reason), "{id:?} {tool}");
    }
}

#[test]
fn governance_revoke_expire_disable() {
    let mut w = World::workspace_assistant();
    // Revoke, then unrevoke.
    w.session("sess-ops-agent").spec.revoked = Some(true);
    assert_rows(&w, SERVER, &ops(), &[("echo", 401, Reason::SessionRevoked)]);
    w.session("sess-ops-agent").spec.revoked = Some(false);
    assert_rows(&w, SERVER, &ops(), &[("echo", 200, Reason::Allowed)]);
    // Past expiry, then future expiry.
    w.session("sess-ops-agent").spec.expires_at = Some("2026-11-26T11:59:59Z".into());
    assert_rows(&w, SERVER, &ops(), &[("echo", 401, Reason::SessionExpired)]);
    w.session("sess-ops-agent").spec.expires_at = Some("2026-11-26T13:00:00+01:00".into());
    assert_rows(&w, SERVER, &ops(), &[("echo", 401, Reason::SessionExpired)]);
    w.session("sess-ops-agent").spec.expires_at = Some("2026-11-27T00:00:00Z".into());
    assert_rows(&w, SERVER, &ops(), &[("echo", 200, Reason::Allowed)]);
    // Disable the grant, then enable it.
    w.grant("ops-agent-grant").spec.disabled = Some(true);
    assert_rows(&w, SERVER, &ops(), &[("echo", 403, Reason::ToolNotGranted)]);
    w.grant("ops-agent-grant").spec.disabled = Some(false);
    assert_rows(&w, SERVER, &ops(), &[("echo", 200, Reason::Allowed)]);
}

/// Design delta: a presented session that is revoked or expired denies even when the server
/// does not require sessions (the reference silently ignored it).
#[test]
fn revocation_bites_when_sessions_are_optional() {
    let mut w = World::workspace_assistant();
    w.server(SERVER).spec.session.get_or_insert_with(Default::default).required = Some(false);
    assert_rows(&w, SERVER, &ops(), &[("echo", 200, Reason::Allowed)]);
    // Without a session the grant's trust applies.
    assert_rows(&w, SERVER, &who("user-123", "ops-agent", "team-a", ""), &[("upper", 200, Reason::Allowed)]);
    w.session("sess-ops-agent").spec.revoked = Some(true);
    assert_rows(&w, SERVER, &ops(), &[("echo", 401, Reason::SessionRevoked)]);
    w.session("sess-ops-agent").spec.revoked = None;
    w.session("sess-ops-agent").spec.expires_at = Some("2020-01-01T00:00:00Z".into());
    assert_rows(&w, SERVER, &ops(), &[("echo", 401, Reason::SessionExpired)]);
    // An unreadable expiry counts as expired.
    w.session("sess-ops-agent").spec.expires_at = Some("next tuesday".into());
    assert_rows(&w, SERVER, &ops(), &[("echo", 401, Reason::SessionExpired)]);
}

#[test]
fn trust_consent_and_rules() {
    let mut w = World::workspace_assistant();
    // Consented low.
    let d = w.call(SERVER, &ops(), "upper", None);
    assert_eq!((d.http_status(), d.reason), (403, Reason::TrustTooLow));
    assert_eq!(
        (d.required_trust, d.admin_trust, d.consented_trust, d.effective_trust),
        (Some(TrustLevel::Medium), Some(TrustLevel::High), Some(TrustLevel::Low), Some(TrustLevel::Low))
    );
    assert_rows(&w, SERVER, &ops(), &[("echo", 200, Reason::Allowed)]);
    // Raise the session to medium.
    w.session("sess-ops-agent").spec.consented_trust = Some(TrustLevel::Medium);
    let d = w.call(SERVER, &ops(), "upper", None);
    assert_eq!((d.http_status(), d.effective_trust), (200, Some(TrustLevel::Medium)));
    assert_rows(&w, SERVER, &ops(), &[("add", 403, Reason::ToolNotGranted)]);
    // Expand the grant's rules.
    let rules = &mut w.grant("ops-agent-grant").spec.tool_rules;
    rules.push(allow("add"));
    rules.push(allow("slugify"));
    assert_rows(&w, SERVER, &ops(), &[("add", 200, Reason::Allowed), ("slugify", 200, Reason::Allowed)]);
    // Deny rules win.
    let rules = &mut w.grant("ops-agent-grant").spec.tool_rules;
    rules.retain(|r| r.name != "aaa-ping" && r.name != "echo");
    rules.push(deny("aaa-ping"));
    rules.push(deny("echo"));
    assert_rows(
        &w,
        SERVER,
        &ops(),
        &[("aaa-ping", 403, Reason::ToolDenied), ("echo", 403, Reason::ToolDenied)],
    );
}

/// A deny rule in any enabled matching grant wins over allows from other grants, and a rule's
/// required trust raises the tool's.
#[test]
fn deny_wins_across_grants_and_rule_trust_raises_requirement() {
    let mut w = World::workspace_assistant();
    let mut wide = w.grant("ops-agent-grant").clone();
    wide.metadata.name = Some("a-team-wide".into());
    wide.spec.subject = Default::default();
    wide.spec.tool_rules = vec![];
    w.grants.push(wide);
    assert_rows(&w, SERVER, &ops(), &[("slugify", 200, Reason::Allowed)]);
    w.grant("ops-agent-grant").spec.tool_rules.push(deny("slugify"));
    assert_rows(&w, SERVER, &ops(), &[("slugify", 403, Reason::ToolDenied)]);

    let mut w = World::workspace_assistant();
    w.session("sess-ops-agent").spec.consented_trust = Some(TrustLevel::High);
    w.grant("ops-agent-grant").spec.tool_rules[1].required_trust = Some(TrustLevel::High);
    w.grant("ops-agent-grant").spec.max_trust = Some(TrustLevel::Medium);
    let d = w.call(SERVER, &ops(), "echo", None);
    assert_eq!((d.reason, d.required_trust), (Reason::TrustTooLow, Some(TrustLevel::High)));
}

/// Attribution follows the deciding grant; namespaces qualify names.
#[test]
fn decisions_attribute_grant_session_and_version() {
    let mut w = World::workspace_assistant();
    w.grant("ops-agent-grant").spec.policy_version = Some("v7".into());
    let d = w.call(SERVER, &ops(), "echo", Some(json!({"text": "hello"})));
    assert!(d.allowed);
    let grant = d.matched_grant.clone().expect("grant");
    let session = d.matched_session.clone().expect("session");
    assert_eq!((grant.namespace.as_str(), grant.name.as_str()), ("mcp-servers", "ops-agent-grant"));
    assert_eq!((session.namespace.as_str(), session.name.as_str()), ("mcp-servers", "sess-ops-agent"));
    assert_eq!(d.policy_version, "v7");
    let fields = serde_json::Value::Object(d.attribution());
    assert_eq!(
        fields,
        json!({
            "decision": "allow", "reason": "allowed", "policy_version": "v7",
            "matched_grant": "ops-agent-grant", "matched_grant_namespace": "mcp-servers",
            "matched_session": "sess-ops-agent", "matched_session_namespace": "mcp-servers",
            "required_trust": "low", "required_side_effect": "read", "risk_level": "low",
            "admin_trust": "high", "consented_trust": "low", "effective_trust": "low",
        })
    );
}

pub(super) const TENANTS: &str = r#"
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: server-a, namespace: team-a}
spec:
  teamID: team-a
  image: registry.local/a
  session: {required: true}
  tools: [{name: add, sideEffect: read}, {name: upper, sideEffect: read}]
---
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: server-b, namespace: team-b}
spec:
  teamID: team-b
  image: registry.local/b
  session: {required: true}
  tools: [{name: add, sideEffect: read}, {name: upper, sideEffect: read}]
---
apiVersion: mcpruntime.org/v1alpha1
kind: MCPAccessGrant
metadata: {name: alice-add, namespace: team-a}
spec:
  serverRef: {name: server-a}
  subject: {humanID: alice, agentID: agent-a}
  maxTrust: low
  allowedSideEffects: [read]
  toolRules: [{name: add, decision: allow}]
---
apiVersion: mcpruntime.org/v1alpha1
kind: MCPAgentSession
metadata: {name: sess-alice, namespace: team-a}
spec:
  serverRef: {name: server-a}
  subject: {humanID: alice, agentID: agent-a}
---
apiVersion: mcpruntime.org/v1alpha1
kind: MCPAccessGrant
metadata: {name: bob-upper, namespace: team-b}
spec:
  serverRef: {name: server-b}
  subject: {humanID: bob, agentID: agent-b}
  maxTrust: low
  allowedSideEffects: [read]
  toolRules: [{name: upper, decision: allow}]
---
apiVersion: mcpruntime.org/v1alpha1
kind: MCPAgentSession
metadata: {name: sess-bob, namespace: team-b}
spec:
  serverRef: {name: server-b}
  subject: {humanID: bob, agentID: agent-b}
---
# Same name as team-a's session, other namespace and server: names are unique per namespace.
apiVersion: mcpruntime.org/v1alpha1
kind: MCPAgentSession
metadata: {name: sess-alice, namespace: team-b}
spec:
  serverRef: {name: server-a, namespace: team-a}
  subject: {humanID: mallory}
"#;

/// 401 = not known on that server, 403 = known but the tool is not granted.
#[test]
fn multitenancy_isolation() {
    let w = World::from_yaml(TENANTS);
    let alice = who("alice", "agent-a", "team-a", "sess-alice");
    let bob = who("bob", "agent-b", "team-b", "sess-bob");
    let rows: &[(&str, &crate::Identity, &str, u16, Reason)] = &[
        ("server-a", &alice, "add", 200, Reason::Allowed),
        ("server-a", &alice, "upper", 403, Reason::ToolNotGranted),
        ("server-b", &alice, "add", 401, Reason::SessionNotFound),
        ("server-b", &bob, "upper", 200, Reason::Allowed),
        ("server-b", &bob, "add", 403, Reason::ToolNotGranted),
        ("server-a", &bob, "upper", 401, Reason::SessionNotFound),
        ("server-a", &who("", "", "", ""), "add", 401, Reason::MissingIdentity),
        ("server-a", &who("alice", "agent-a", "team-a", "bogus"), "add", 401, Reason::SessionNotFound),
    ];
    for (server, id, tool, status, reason) in rows {
        let d = w.call(server, id, tool, None);
        assert_eq!((d.http_status(), d.reason), (*status, *reason), "{id:?} → {server} {tool}");
    }
    // A session name alone is not an identity: mallory's same-named session does not lend
    // alice's grant, and alice's session does not match mallory.
    let mallory = who("mallory", "", "team-a", "sess-alice");
    let d = w.call("server-a", &mallory, "add", None);
    assert_eq!((d.http_status(), d.reason), (403, Reason::NoMatchingGrant));
    // Both same-named sessions are in server-a's policy, qualified by namespace.
    let doc = w.snapshot("server-a").document().clone();
    let names: Vec<(String, String)> =
        doc.sessions.iter().map(|s| (s.namespace.clone(), s.name.clone())).collect();
    assert_eq!(
        names,
        [("team-a".to_string(), "sess-alice".to_string()), ("team-b".to_string(), "sess-alice".to_string())]
    );
}

/// An empty grant subject becomes a team-wide grant on a team-owned server and matches nobody on
/// a server without a team.
#[test]
fn empty_subject_grants_are_team_wide_or_inert() {
    let mut w = World::workspace_assistant();
    let g = w.grant("ops-agent-grant");
    g.spec.subject = Default::default();
    assert_rows(&w, SERVER, &ops(), &[("echo", 200, Reason::Allowed)]);
    assert_rows(&w, SERVER, &who("someone", "", "team-b", ""), &[("echo", 401, Reason::MissingSession)]);
    w.server(SERVER).spec.team_id = None;
    assert_rows(&w, SERVER, &ops(), &[("echo", 403, Reason::NoMatchingGrant)]);
}

#[test]
fn discovery_shows_only_callable_tools() {
    let mut w = World::workspace_assistant();
    let now = super::now();
    let visible = w.snapshot(SERVER).visible_tools(&ops(), now);
    let expected: std::collections::BTreeSet<String> =
        ["aaa-ping", "echo", "lower"].iter().map(|s| s.to_string()).collect();
    assert_eq!(visible, ToolVisibility::Only(expected));
    assert!(!visible.allows("upper"), "upper needs medium trust; the session consented low");

    // Nobody sees anything; a revoked session sees nothing.
    let none = w.snapshot(SERVER).visible_tools(&who("", "", "", ""), now);
    assert_eq!(none, ToolVisibility::Only(Default::default()));
    w.session("sess-ops-agent").spec.revoked = Some(true);
    assert_eq!(w.snapshot(SERVER).visible_tools(&ops(), now), ToolVisibility::Only(Default::default()));

    // Filtering off → everything.
    w.server(SERVER).spec.policy.get_or_insert_with(Default::default).filter_discovery = Some(false);
    assert_eq!(w.snapshot(SERVER).visible_tools(&ops(), now), ToolVisibility::All);
}

#[test]
fn active_session_lookup_respects_subject_revocation_and_expiry() {
    let mut w = World::workspace_assistant();
    let now = super::now();
    let found = w.snapshot(SERVER).active_session(&ops(), now).map(|s| s.name.clone());
    assert_eq!(found.as_deref(), Some("sess-ops-agent"));
    let stranger = who("mallory", "ops-agent", "team-a", "sess-ops-agent");
    assert!(w.snapshot(SERVER).active_session(&stranger, now).is_none());
    w.session("sess-ops-agent").spec.revoked = Some(true);
    assert!(w.snapshot(SERVER).active_session(&ops(), now).is_none());
}
