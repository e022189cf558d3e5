//! Non-tool methods (identity-only and capability methods), observe mode, notifications that
//! must not charge budgets, and budgets keyed per grant and caller.

use mcp_api::{PolicyDecision, PolicyMode, SideEffect, TrustLevel};

use super::{World, now, ops, who};
use crate::{BudgetKey, Call, Decision, Identity, MemoryBudgets, Reason, Request, Snapshot};

const SERVER: &str = "policy-mcp-server";

fn eval(snapshot: &Snapshot, id: &Identity, call: Call<'_>, budgets: &MemoryBudgets) -> Decision {
    snapshot.evaluate(&Request { identity: id, call, now: now(), charge: true }, budgets)
}

fn reason(d: &Decision) -> (bool, Reason, u16) {
    (d.allowed, d.reason, d.http_status())
}

/// Before: every non-tool method was allowed without any identity.
#[test]
fn identity_only_methods_need_an_identity() {
    let snapshot = World::workspace_assistant().snapshot(SERVER);
    let budgets = MemoryBudgets::new();
    for method in ["initialize", "ping", "notifications/initialized", "tools/list", "server/discover", ""] {
        let d = eval(&snapshot, &who("", "", "", ""), Call::Method(method), &budgets);
        assert_eq!(reason(&d), (false, Reason::MissingIdentity, 401), "{method}");
        // Only an identity: no session needed even though this server requires sessions.
        let d = eval(&snapshot, &who("someone", "", "", ""), Call::Method(method), &budgets);
        assert_eq!(reason(&d), (true, Reason::Allowed, 200), "{method}");
    }
}

/// Before: `resources/read`, `prompts/get`, `tasks/*`… were allowed to anyone.
#[test]
fn capability_methods_need_identity_session_and_a_grant() {
    let w = World::workspace_assistant();
    let snapshot = w.snapshot(SERVER);
    let budgets = MemoryBudgets::new();
    for method in
        ["resources/read", "prompts/get", "completion/complete", "tasks/get", "logging/setLevel", "x/y"]
    {
        let call = Call::Capability(method);
        assert_eq!(reason(&eval(&snapshot, &who("", "", "", ""), call, &budgets)).1, Reason::MissingIdentity);
        let no_session = who("user-123", "ops-agent", "team-a", "");
        assert_eq!(reason(&eval(&snapshot, &no_session, call, &budgets)).1, Reason::MissingSession);
        let unknown = who("user-123", "ops-agent", "team-a", "nope");
        assert_eq!(reason(&eval(&snapshot, &unknown, call, &budgets)).1, Reason::SessionNotFound);
        let d = eval(&snapshot, &ops(), call, &budgets);
        assert_eq!(reason(&d), (true, Reason::Allowed, 200), "{method}");
        assert_eq!(d.matched_grant.as_ref().map(|g| g.name.as_str()), Some("ops-agent-grant"));
        assert_eq!(d.matched_session.as_ref().map(|s| s.name.as_str()), Some("sess-ops-agent"));
        // Another caller with a (non-required here) session but no grant.
        let stranger = who("user-999", "ops-agent", "team-b", "");
        let mut open = World::workspace_assistant();
        open.server(SERVER).spec.session.get_or_insert_with(Default::default).required = Some(false);
        let open = open.snapshot(SERVER);
        let d = eval(&open, &stranger, call, &budgets);
        assert_eq!(reason(&d), (false, Reason::MethodNotGranted, 403), "{method}");
        assert_eq!(Reason::MethodNotGranted.as_str(), "method_not_granted");
    }
}

#[test]
fn capability_methods_refuse_revoked_expired_disabled_and_expired_grants() {
    let call = Call::Capability("resources/read");
    let budgets = MemoryBudgets::new();
    let mut w = World::workspace_assistant();
    w.session("sess-ops-agent").spec.revoked = Some(true);
    assert_eq!(reason(&eval(&w.snapshot(SERVER), &ops(), call, &budgets)).1, Reason::SessionRevoked);

    let mut w = World::workspace_assistant();
    w.session("sess-ops-agent").spec.expires_at = Some("2020-01-01T00:00:00Z".into());
    assert_eq!(reason(&eval(&w.snapshot(SERVER), &ops(), call, &budgets)).1, Reason::SessionExpired);

    let mut w = World::workspace_assistant();
    w.grant("ops-agent-grant").spec.expires_at = Some("2020-01-01T00:00:00Z".into());
    assert_eq!(
        reason(&eval(&w.snapshot(SERVER), &ops(), call, &budgets)),
        (false, Reason::GrantExpired, 403)
    );

    let mut w = World::workspace_assistant();
    w.grant("ops-agent-grant").spec.disabled = Some(true);
    assert_eq!(
        reason(&eval(&w.snapshot(SERVER), &ops(), call, &budgets)),
        (false, Reason::MethodNotGranted, 403)
    );
    // `defaultDecision: allow` is an explicit admin choice: it opens capability methods too.
    w.server(SERVER).spec.policy.get_or_insert_with(Default::default).default_decision =
        Some(PolicyDecision::Allow);
    assert_eq!(
        reason(&eval(&w.snapshot(SERVER), &ops(), call, &budgets)),
        (true, Reason::MethodNotGranted, 200)
    );
}

/// Before: observe mode returned `allowed` without evaluating anything.
#[test]
fn observe_mode_records_what_enforcement_would_decide() {
    let mut w = World::workspace_assistant();
    w.server(SERVER).spec.policy.get_or_insert_with(Default::default).mode = Some(PolicyMode::Observe);
    let snapshot = w.snapshot(SERVER);
    let budgets = MemoryBudgets::new();

    let d = w.call(SERVER, &who("", "", "", ""), "create_task", None);
    assert_eq!(
        (d.allowed, d.observed, d.would_allow, d.reason),
        (true, true, false, Reason::MissingIdentity)
    );
    assert_eq!(d.http_status(), 200);
    assert_eq!(d.required_trust, Some(TrustLevel::Medium));
    assert_eq!(d.required_side_effect, Some(SideEffect::Write));
    let a = d.attribution();
    assert_eq!(a["decision"], "allow");
    assert_eq!(a["enforcement"], "observe");
    assert_eq!(a["would_decision"], "deny");
    assert_eq!(a["reason"], "missing_identity");

    let d = w.call(SERVER, &ops(), "echo", None);
    assert_eq!((d.allowed, d.observed, d.would_allow, d.reason), (true, true, true, Reason::Allowed));
    assert_eq!(d.attribution()["would_decision"], "allow");

    let d = w.call(SERVER, &ops(), "create_task", None);
    assert_eq!((d.allowed, d.would_allow, d.reason), (true, false, Reason::ToolNotGranted));

    let d = eval(&snapshot, &who("x", "", "", ""), Call::Capability("prompts/get"), &budgets);
    assert_eq!((d.allowed, d.observed, d.reason), (true, true, Reason::MissingSession));
    let d = eval(&snapshot, &who("", "", "", ""), Call::Method("initialize"), &budgets);
    assert_eq!((d.allowed, d.observed, d.reason), (true, true, Reason::MissingIdentity));
    // An unreadable request is denied in every mode.
    let d = eval(&snapshot, &ops(), Call::Indeterminate, &budgets);
    assert_eq!((d.allowed, d.observed, d.reason), (false, false, Reason::RpcInspectionFailed));

    // Enforcing decisions carry no observe fields.
    let d = World::workspace_assistant().call(SERVER, &ops(), "echo", None);
    assert!(!d.observed && d.would_allow && d.allowed);
    assert!(!d.attribution().contains_key("enforcement"));
}

/// Before: there was no way to evaluate a notification without charging the budget.
#[test]
fn notifications_are_checked_against_budgets_but_never_charged() {
    let mut w = World::workspace_assistant();
    w.grant("ops-agent-grant").spec.max_calls = Some(1);
    let snapshot = w.snapshot(SERVER);
    let budgets = MemoryBudgets::new();
    let id = ops();
    let call = Call::Tool { name: "echo", arguments: None, drifted: false };
    let notify =
        |b: &MemoryBudgets| snapshot.evaluate(&Request { identity: &id, call, now: now(), charge: false }, b);
    for _ in 0..5 {
        assert_eq!(reason(&notify(&budgets)).1, Reason::Allowed);
    }
    let key = BudgetKey::Grant {
        namespace: "mcp-servers".into(),
        name: "ops-agent-grant".into(),
        subject: BudgetKey::subject("user-123", "ops-agent", "team-a"),
    };
    assert_eq!(budgets.calls(&key), 0);
    assert_eq!(reason(&eval(&snapshot, &id, call, &budgets)).1, Reason::Allowed);
    assert_eq!(budgets.calls(&key), 1);
    assert_eq!(reason(&eval(&snapshot, &id, call, &budgets)).1, Reason::BudgetExhausted);
    // An exhausted budget still refuses a notification.
    assert_eq!(reason(&notify(&budgets)).1, Reason::BudgetExhausted);
}

/// Before: a team-wide grant's budget was one counter shared by every member of the team.
#[test]
fn grant_budgets_are_counted_per_caller() {
    let mut w = World::workspace_assistant();
    w.server(SERVER).spec.session.get_or_insert_with(Default::default).required = Some(false);
    let g = w.grant("ops-agent-grant");
    g.spec.subject.human_id = None;
    g.spec.subject.agent_id = None;
    g.spec.max_calls = Some(1);
    let snapshot = w.snapshot(SERVER);
    let budgets = MemoryBudgets::new();
    let call = Call::Tool { name: "echo", arguments: None, drifted: false };
    let alice = who("alice", "a1", "team-a", "");
    let bob = who("bob", "b1", "team-a", "");
    assert_eq!(reason(&eval(&snapshot, &alice, call, &budgets)).1, Reason::Allowed);
    assert_eq!(reason(&eval(&snapshot, &bob, call, &budgets)).1, Reason::Allowed);
    let d = eval(&snapshot, &alice, call, &budgets);
    assert_eq!(reason(&d).1, Reason::BudgetExhausted);
    assert_eq!(
        d.attribution()["budget"],
        "grant mcp-servers/ops-agent-grant for alice/a1/team-a: maxCalls 1"
    );
}
