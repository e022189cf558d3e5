//! Every reason code, produced by a real evaluation where the evaluator owns it, with its HTTP
//! status.

use serde_json::json;

use super::{World, now, ops, who};
use crate::{Call, Decision, MemoryBudgets, Reason, Request};
use mcp_api::{ArgumentConstraint, PolicyDecision, SideEffect, ToolDriftAction, ToolRule};

const SERVER: &str = "policy-mcp-server";

fn rule(name: &str, decision: PolicyDecision) -> ToolRule {
    ToolRule { name: name.into(), decision: Some(decision), ..ToolRule::default() }
}

/// Builds a world, applies `edit`, then calls `tool` as the E2E identity.
fn case(edit: impl FnOnce(&mut World), tool: &str, args: Option<serde_json::Value>) -> Decision {
    let mut w = World::workspace_assistant();
    edit(&mut w);
    w.call(SERVER, &ops(), tool, args)
}

#[test]
fn every_reason_has_a_stable_code_and_status() {
    let table: &[(Reason, &str, u16)] = &[
        (Reason::Allowed, "allowed", 200),
        (Reason::MissingIdentity, "missing_identity", 401),
        (Reason::MissingSession, "missing_session", 401),
        (Reason::SessionNotFound, "session_not_found", 401),
        (Reason::SessionRevoked, "session_revoked", 401),
        (Reason::SessionExpired, "session_expired", 401),
        (Reason::MissingBearerToken, "missing_bearer_token", 401),
        (Reason::InvalidToken, "invalid_token", 401),
        (Reason::OauthProviderUnavailable, "oauth_provider_unavailable", 503),
        (Reason::OauthIssuerMissing, "oauth_issuer_missing", 503),
        (Reason::OauthConfigMissing, "oauth_config_missing", 503),
        (Reason::PolicyUnavailable, "policy_unavailable", 503),
        (Reason::ToolDenied, "tool_denied", 403),
        (Reason::SideEffectNotAllowed, "side_effect_not_allowed", 403),
        (Reason::ToolSideEffectUnknown, "tool_side_effect_unknown", 403),
        (Reason::TrustTooLow, "trust_too_low", 403),
        (Reason::RpcInspectionFailed, "rpc_inspection_failed", 403),
        (Reason::Undecided, "undecided", 403),
        (Reason::NoMatchingGrant, "no_matching_grant", 403),
        (Reason::ToolNotGranted, "tool_not_granted", 403),
        (Reason::GrantExpired, "grant_expired", 403),
        (Reason::ArgumentNotAllowed, "argument_not_allowed", 403),
        (Reason::BudgetExhausted, "budget_exhausted", 403),
        (Reason::RateLimited, "rate_limited", 429),
        (Reason::ToolDefinitionChanged, "tool_definition_changed", 403),
        (Reason::MethodNotGranted, "method_not_granted", 403),
        (Reason::InsufficientScope, "insufficient_scope", 403),
    ];
    assert_eq!(table.len(), Reason::ALL.len(), "the table covers every reason");
    for (reason, code, status) in table {
        assert_eq!(reason.as_str(), *code);
        assert_eq!(reason.http_status(), *status, "{code}");
        assert!(!reason.message().is_empty());
    }
}

/// Identity and gateway-stage failures are decided before evaluation; their decisions carry the
/// reference statuses.
#[test]
fn gateway_stage_denials_carry_their_status() {
    for (reason, status) in [
        (Reason::MissingBearerToken, 401),
        (Reason::InvalidToken, 401),
        (Reason::OauthProviderUnavailable, 503),
        (Reason::OauthIssuerMissing, 503),
        (Reason::OauthConfigMissing, 503),
        (Reason::PolicyUnavailable, 503),
    ] {
        let d = Decision::deny(reason);
        assert!(!d.allowed);
        assert_eq!((d.reason, d.http_status()), (reason, status));
    }
    let d = Decision::undecided();
    assert_eq!((d.allowed, d.reason.as_str(), d.http_status()), (false, "undecided", 403));
}

/// Each evaluator-owned reason, produced by evaluating a rendered document.
#[test]
fn evaluator_produces_every_reason_it_owns() {
    let expect = |d: Decision, reason: Reason, status: u16| {
        assert_eq!((d.reason, d.http_status()), (reason, status), "{d:#?}");
        assert_eq!(d.allowed, status == 200);
    };

    expect(case(|_| {}, "echo", None), Reason::Allowed, 200);

    let w = World::workspace_assistant();
    expect(w.call(SERVER, &who("", "", "", ""), "echo", None), Reason::MissingIdentity, 401);
    expect(
        w.call(SERVER, &who("user-123", "ops-agent", "team-a", ""), "echo", None),
        Reason::MissingSession,
        401,
    );
    expect(
        w.call(SERVER, &who("user-123", "ops-agent", "team-a", "sess-does-not-exist"), "echo", None),
        Reason::SessionNotFound,
        401,
    );
    expect(
        case(|w| w.session("sess-ops-agent").spec.revoked = Some(true), "echo", None),
        Reason::SessionRevoked,
        401,
    );
    expect(
        case(
            |w| w.session("sess-ops-agent").spec.expires_at = Some("2026-01-01T00:00:00Z".into()),
            "echo",
            None,
        ),
        Reason::SessionExpired,
        401,
    );
    expect(
        case(
            |w| w.grant("ops-agent-grant").spec.tool_rules.push(rule("add", PolicyDecision::Deny)),
            "add",
            None,
        ),
        Reason::ToolDenied,
        403,
    );
    expect(
        case(
            |w| w.grant("ops-agent-grant").spec.allowed_side_effects = vec![SideEffect::Write],
            "echo",
            None,
        ),
        Reason::SideEffectNotAllowed,
        403,
    );
    expect(
        case(
            |w| w.grant("ops-agent-grant").spec.tool_rules.push(rule("undeclared", PolicyDecision::Allow)),
            "undeclared",
            None,
        ),
        Reason::ToolSideEffectUnknown,
        403,
    );
    expect(case(|_| {}, "upper", None), Reason::TrustTooLow, 403);
    expect(
        case(
            |w| w.grant("ops-agent-grant").spec.subject.human_id = Some("someone-else".into()),
            "echo",
            None,
        ),
        Reason::NoMatchingGrant,
        403,
    );
    expect(case(|_| {}, "add", None), Reason::ToolNotGranted, 403);
    expect(
        case(
            |w| w.grant("ops-agent-grant").spec.expires_at = Some("2026-11-01T00:00:00Z".into()),
            "echo",
            None,
        ),
        Reason::GrantExpired,
        403,
    );

    // Argument constraints: the decision names the argument and the rule.
    let with_limits = |w: &mut World| {
        let mut r = rule("add", PolicyDecision::Allow);
        r.arguments.insert("a".into(), ArgumentConstraint { maximum: Some(1000.0), ..Default::default() });
        w.grant("ops-agent-grant").spec.tool_rules.push(r);
    };
    expect(case(with_limits, "add", Some(json!({"a": 7, "b": 5}))), Reason::Allowed, 200);
    let d = case(with_limits, "add", Some(json!({"a": 5000, "b": 5})));
    let v = d.argument.clone().expect("violation");
    assert_eq!((v.argument.as_str(), v.rule.as_str()), ("a", "maximum: 1000"));
    assert_eq!(v.grant.name, "ops-agent-grant");
    expect(d, Reason::ArgumentNotAllowed, 403);

    // Budgets: the third call over a two-call budget; the rate limit on the session.
    let mut w = World::workspace_assistant();
    w.grant("ops-agent-grant").spec.max_calls = Some(2);
    expect(w.call(SERVER, &ops(), "echo", None), Reason::Allowed, 200);
    expect(w.call(SERVER, &ops(), "aaa-ping", None), Reason::Allowed, 200);
    let d = w.call(SERVER, &ops(), "echo", None);
    assert!(matches!(d.budget, Some(crate::BudgetRefusal::Exhausted { max_calls: 2, .. })), "{d:#?}");
    expect(d, Reason::BudgetExhausted, 403);

    let mut w = World::workspace_assistant();
    w.session("sess-ops-agent").spec.rate_per_minute = Some(1);
    expect(w.call(SERVER, &ops(), "echo", None), Reason::Allowed, 200);
    expect(w.call(SERVER, &ops(), "echo", None), Reason::RateLimited, 429);

    // Tool drift under `onToolDrift: deny`; reported only under the default `report`.
    let mut w = World::workspace_assistant();
    let snapshot = w.snapshot(SERVER);
    let drifted = Call::Tool { name: "echo", arguments: None, drifted: true };
    let budgets = MemoryBudgets::new();
    let id = ops();
    let d = snapshot.evaluate(&Request { identity: &id, call: drifted, now: now(), charge: true }, &budgets);
    expect(d, Reason::Allowed, 200);
    w.server(SERVER).spec.policy.get_or_insert_with(Default::default).on_tool_drift =
        Some(ToolDriftAction::Deny);
    let snapshot = w.snapshot(SERVER);
    let d = snapshot.evaluate(&Request { identity: &id, call: drifted, now: now(), charge: true }, &budgets);
    expect(d, Reason::ToolDefinitionChanged, 403);

    // Unreadable requests.
    let d = snapshot
        .evaluate(&Request { identity: &id, call: Call::Indeterminate, now: now(), charge: true }, &budgets);
    expect(d, Reason::RpcInspectionFailed, 403);
}

/// Under `defaultDecision: allow`, an unmatched caller or ungranted tool passes with its reason.
#[test]
fn default_allow_passes_unmatched_calls_with_their_reason() {
    let mut w = World::workspace_assistant();
    w.server(SERVER).spec.policy.get_or_insert_with(Default::default).default_decision =
        Some(PolicyDecision::Allow);
    let d = w.call(SERVER, &ops(), "add", None);
    assert_eq!((d.allowed, d.reason, d.http_status()), (true, Reason::ToolNotGranted, 200));
    w.grant("ops-agent-grant").spec.subject.agent_id = Some("other-agent".into());
    let d = w.call(SERVER, &ops(), "add", None);
    assert_eq!((d.allowed, d.reason), (true, Reason::NoMatchingGrant));
}
