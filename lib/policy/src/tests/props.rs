//! Property tests: evaluation never panics, revisions are a function of content, and every
//! rendered document validates.

use std::collections::BTreeMap;

use mcp_api::{
    ArgumentConstraint, MCPAccessGrant, MCPAccessGrantSpec, MCPAgentSession, MCPAgentSessionSpec, MCPServer,
    MCPServerSpec, PolicyDecision, ServerRef, SideEffect, Subject, ToolConfig, ToolRule, TrustLevel,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{Call, Identity, MemoryBudgets, RenderContext, Request, Snapshot, render};

const NAMES: &[&str] = &["", "alice", "bob", "agent-1", "team-a", "team-b", "sess-1", "echo", "add"];
const TOOLS: &[&str] = &["echo", "add", "upper", "ghost"];

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_string)
}

fn opt_name() -> impl Strategy<Value = Option<String>> {
    prop::option::of(name())
}

fn trust() -> impl Strategy<Value = TrustLevel> {
    prop::sample::select(TrustLevel::ALL)
}

fn side_effect() -> impl Strategy<Value = SideEffect> {
    prop::sample::select(SideEffect::ALL)
}

fn time() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(
        &["2020-01-01T00:00:00Z", "2026-11-26T12:00:00Z", "2030-01-01T00:00:00+02:00", "not a time"][..],
    ))
    .prop_map(|t| t.map(str::to_string))
}

fn constraint() -> impl Strategy<Value = ArgumentConstraint> {
    (
        prop::option::of(prop::sample::select(vec![json!(1), json!("EUR"), json!(true)])),
        prop::option::of(Just(vec![json!("EUR"), json!("USD"), json!(3)])),
        prop::option::of(prop::sample::select(&["^[a-z]+$", "x", "\\d{2}"][..]).prop_map(str::to_string)),
        prop::option::of(-10.0f64..10.0),
        prop::option::of(10.0f64..1000.0),
        prop::option::of(0u64..8),
    )
        .prop_map(|(c, e, p, min, max, len)| ArgumentConstraint {
            const_: c,
            enum_: e,
            pattern: p,
            minimum: min,
            maximum: max,
            max_length: len,
        })
        .prop_filter("at least one constraint", |c| !c.is_empty())
}

fn tool_rule() -> impl Strategy<Value = ToolRule> {
    (
        prop::sample::select(TOOLS),
        prop::sample::select(&[PolicyDecision::Allow, PolicyDecision::Deny][..]),
        prop::option::of(trust()),
        prop::collection::btree_map(prop::sample::select(&["a", "b", "currency"][..]), constraint(), 0..2),
    )
        .prop_map(|(n, decision, required_trust, args)| ToolRule {
            name: n.to_string(),
            decision: Some(decision),
            required_trust,
            arguments: if decision == PolicyDecision::Allow {
                args.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            } else {
                BTreeMap::new()
            },
        })
}

fn grant_spec() -> impl Strategy<Value = MCPAccessGrantSpec> {
    (
        (opt_name(), opt_name(), opt_name()),
        prop::option::of(trust()),
        prop::collection::btree_set(side_effect(), 0..3),
        prop::collection::vec(tool_rule(), 0..3),
        prop::option::of(any::<bool>()),
        time(),
        prop::option::of(1u64..3),
        prop::option::of(1u32..3),
    )
        .prop_map(|((h, a, t), max_trust, effects, mut rules, disabled, expires_at, max_calls, rate)| {
            let mut seen = std::collections::BTreeSet::new();
            rules.retain(|r| seen.insert(r.name.clone()));
            MCPAccessGrantSpec {
                server_ref: ServerRef { name: "srv".into(), namespace: None },
                subject: Subject { human_id: h, agent_id: a, team_id: t },
                max_trust,
                allowed_side_effects: effects.into_iter().collect(),
                tool_rules: rules,
                disabled,
                expires_at,
                max_calls,
                rate_per_minute: rate,
                policy_version: None,
            }
        })
}

fn session_spec() -> impl Strategy<Value = MCPAgentSessionSpec> {
    ((name(), opt_name(), opt_name()), prop::option::of(trust()), prop::option::of(any::<bool>()), time())
        .prop_map(|((h, a, t), consented_trust, revoked, expires_at)| MCPAgentSessionSpec {
            server_ref: ServerRef { name: "srv".into(), namespace: None },
            subject: Subject {
                human_id: Some(if h.is_empty() { "x".into() } else { h }),
                agent_id: a,
                team_id: t,
            },
            consented_trust,
            revoked,
            expires_at,
            ..Default::default()
        })
}

#[derive(Clone, Debug)]
struct Case {
    server: MCPServer,
    grants: Vec<MCPAccessGrant>,
    sessions: Vec<MCPAgentSession>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::option::of(prop::sample::select(&["team-a", "team-b"][..])),
        any::<bool>(),
        prop::collection::vec((side_effect(), prop::option::of(trust())), 0..4),
        prop::collection::vec((prop::sample::select(&["ns-1", "ns-2"][..]), grant_spec()), 0..6),
        prop::collection::vec((prop::sample::select(&["ns-1", "ns-2"][..]), session_spec()), 0..4),
    )
        .prop_map(|(team, required, tools, grants, sessions)| {
            let mut server = MCPServer::new(
                "srv",
                MCPServerSpec {
                    team_id: team.map(str::to_string),
                    image: "registry.local/srv".into(),
                    tools: tools
                        .into_iter()
                        .zip(TOOLS)
                        .map(|((se, t), n)| ToolConfig {
                            name: n.to_string(),
                            side_effect: Some(se),
                            required_trust: t,
                            ..Default::default()
                        })
                        .collect(),
                    session: Some(mcp_api::SessionConfig { required: Some(required), ..Default::default() }),
                    ..Default::default()
                },
            );
            server.metadata.namespace = Some("ns-1".into());
            let grants = grants
                .into_iter()
                .enumerate()
                .map(|(i, (ns, mut spec))| {
                    spec.server_ref.namespace = Some("ns-1".into());
                    let mut g = MCPAccessGrant::new(&format!("grant-{i}"), spec);
                    g.metadata.namespace = Some(ns.into());
                    g
                })
                .collect();
            let sessions = sessions
                .into_iter()
                .enumerate()
                .map(|(i, (ns, mut spec))| {
                    spec.server_ref.namespace = Some("ns-1".into());
                    let mut s = MCPAgentSession::new(&format!("sess-{}", i % 2), spec);
                    s.metadata.namespace = Some(ns.into());
                    s
                })
                .collect::<Vec<_>>();
            // Names are unique per namespace in a cluster.
            let mut seen = std::collections::BTreeSet::new();
            let sessions = sessions
                .into_iter()
                .filter(|s| seen.insert((s.metadata.namespace.clone(), s.metadata.name.clone())))
                .collect();
            Case { server, grants, sessions }
        })
}

fn identity() -> impl Strategy<Value = Identity> {
    (name(), name(), name(), name()).prop_map(|(human, agent, team, session)| Identity {
        human,
        agent,
        team,
        session,
    })
}

fn arguments() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(prop::sample::select(vec![
        json!({}),
        json!({"a": 5, "b": "x", "currency": "EUR"}),
        json!({"a": "five", "currency": 3}),
        json!({"a": 5000, "currency": "GBP"}),
        json!([1, 2]),
        json!(null),
    ]))
}

fn ctx() -> RenderContext {
    RenderContext { cluster: "prop".into(), ..RenderContext::default() }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_rendered_document_validates_and_round_trips(c in case()) {
        let doc = render(&c.server, &c.grants, &c.sessions, &ctx()).expect("render never fails on valid CRDs");
        doc.validate().expect("rendered documents validate");
        let parsed = crate::Document::from_json(doc.to_json_pretty().as_bytes()).expect("round trip");
        prop_assert_eq!(parsed, doc);
    }

    #[test]
    fn same_content_same_revision(c in case()) {
        let a = render(&c.server, &c.grants, &c.sessions, &ctx()).expect("render");
        let mut grants = c.grants.clone();
        grants.reverse();
        let mut sessions = c.sessions.clone();
        sessions.reverse();
        let b = render(&c.server, &grants, &sessions, &ctx()).expect("render");
        prop_assert_eq!(&a.revision, &b.revision);
        prop_assert_eq!(a.compute_revision(), a.revision.clone());
    }

    #[test]
    fn evaluation_never_panics_and_denials_have_error_statuses(
        c in case(),
        ids in prop::collection::vec(identity(), 1..4),
        tool in prop::sample::select(TOOLS),
        args in arguments(),
        drifted in any::<bool>(),
    ) {
        let doc = render(&c.server, &c.grants, &c.sessions, &ctx()).expect("render");
        let snapshot = Snapshot::new(doc).expect("snapshot");
        let budgets = MemoryBudgets::new();
        let now = super::now();
        for id in &ids {
            let call = Call::Tool { name: tool, arguments: args.as_ref(), drifted };
            let d = snapshot.evaluate(&Request { identity: id, call, now, charge: true }, &budgets);
            prop_assert_eq!(d.allowed, d.http_status() == 200);
            if !d.allowed {
                prop_assert!(d.http_status() >= 400);
            }
            let visible = snapshot.visible_tools(id, now);
            // A tool callable with these arguments is always listed.
            if d.allowed && d.reason == crate::Reason::Allowed {
                prop_assert!(visible.allows(tool), "{tool} allowed but hidden: {d:?}");
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_activate_or_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        prop_assert!(Snapshot::from_json(&bytes).is_err());
    }
}
