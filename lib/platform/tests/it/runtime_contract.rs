//! The contract every runtime backend keeps (see `mcp_platform::runtime`), as one generic
//! suite: [`contract`] takes any `Arc<dyn RuntimeBackend>` and two teams it may provision.
//! Local runs it on SQLite and PostgreSQL here; the Kubernetes backend runs it against the
//! in-memory API server.

use std::sync::Arc;

use mcp_api::{
    MCPAccessGrant, MCPAccessGrantSpec, MCPAgentSession, MCPAgentSessionSpec, MCPServer, MCPServerSpec,
    ServerRef, SideEffect, Subject, ToolConfig, TrustLevel,
};
use mcp_platform::runtime::kube_meta::ObjectMeta;
use mcp_platform::runtime::{ListFilter, RuntimeBackend, RuntimeError};
use mcp_platform::store::Team;
use mcp_policy::{Jwk, Jwks, PlatformTrust};

/// What a backend does beyond the common contract.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// The backend renders the policy itself when objects change (Local); otherwise a
    /// controller does it later (Kubernetes: the operator) and `server_policy` is not checked.
    pub renders_policy: bool,
}

/// A team to provision (no store row is needed).
pub fn team(name: &str) -> Team {
    Team {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_string(),
        display_name: name.to_string(),
        namespace: format!("mcp-team-{name}"),
        created_at: 0,
    }
}

fn meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), ..ObjectMeta::default() }
}

/// A valid server with two tools.
pub fn server(team: &Team, name: &str) -> MCPServer {
    MCPServer {
        metadata: meta(&team.namespace, name),
        spec: MCPServerSpec {
            team_id: Some(team.id.clone()),
            image: "registry.local/example-mcp".into(),
            ingress_host: Some("mcp.example.test".into()),
            tools: vec![
                ToolConfig {
                    name: "echo".into(),
                    side_effect: Some(SideEffect::Read),
                    ..ToolConfig::default()
                },
                ToolConfig {
                    name: "create_task".into(),
                    side_effect: Some(SideEffect::Write),
                    required_trust: Some(TrustLevel::Medium),
                    ..ToolConfig::default()
                },
            ],
            ..MCPServerSpec::default()
        },
        status: None,
    }
}

/// A grant of `server` to `agent`.
pub fn grant(team: &Team, name: &str, server: &str, agent: &str) -> MCPAccessGrant {
    MCPAccessGrant {
        metadata: meta(&team.namespace, name),
        spec: MCPAccessGrantSpec {
            server_ref: ServerRef { name: server.into(), namespace: None },
            subject: Subject {
                human_id: Some("human-1".into()),
                agent_id: Some(agent.into()),
                team_id: None,
            },
            max_trust: Some(TrustLevel::Medium),
            allowed_side_effects: vec![SideEffect::Read, SideEffect::Write],
            ..MCPAccessGrantSpec::default()
        },
        status: None,
    }
}

/// A session of `agent` on `server` authorised by `grant_name`.
pub fn session(team: &Team, name: &str, server: &str, grant_name: &str, agent: &str) -> MCPAgentSession {
    MCPAgentSession {
        metadata: meta(&team.namespace, name),
        spec: MCPAgentSessionSpec {
            server_ref: ServerRef { name: server.into(), namespace: None },
            subject: Subject {
                human_id: Some("human-1".into()),
                agent_id: Some(agent.into()),
                team_id: Some(team.id.clone()),
            },
            consented_trust: Some(TrustLevel::Low),
            expires_at: Some("2099-01-01T00:00:00Z".into()),
            grant_name: Some(grant_name.into()),
            ..MCPAgentSessionSpec::default()
        },
        status: None,
    }
}

fn trust(kids: &[&str]) -> PlatformTrust {
    PlatformTrust {
        issuer: "https://platform.test".into(),
        jwks: Jwks {
            keys: kids
                .iter()
                .map(|kid| Jwk {
                    kty: "OKP".into(),
                    crv: "Ed25519".into(),
                    x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
                    y: None,
                    kid: (*kid).into(),
                    alg: Some("EdDSA".into()),
                    use_: Some("sig".into()),
                })
                .collect(),
        },
    }
}

fn invalid_field(err: RuntimeError) -> String {
    match err {
        RuntimeError::Invalid { field, .. } => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// The contract. `a` and `b` are two distinct teams not provisioned yet.
pub async fn contract(backend: Arc<dyn RuntimeBackend>, a: Team, b: Team, expect: Expect) {
    backend.ready().await.expect("ready");
    // Provisioning is idempotent; writes into a namespace that is not provisioned are refused.
    let unprovisioned = backend.apply_server(server(&a, "early")).await.expect_err("not provisioned");
    assert!(matches!(unprovisioned, RuntimeError::NotFound(_)), "{unprovisioned:?}");
    for t in [&a, &a, &b] {
        backend.provision_team(t).await.expect("provision");
    }

    // Validation names the field.
    let mut bad = server(&a, "bad");
    bad.spec.image = String::new();
    assert_eq!(invalid_field(backend.apply_server(bad).await.expect_err("invalid")), "spec.image");
    let mut bad = server(&a, "Bad_Name");
    bad.spec.image = "x".into();
    assert_eq!(invalid_field(backend.apply_server(bad).await.expect_err("invalid")), "metadata.name");

    // Servers: create, re-apply (same generation), change (next generation), list per namespace.
    let created = backend.apply_server(server(&a, "tools")).await.expect("apply");
    assert_eq!(created.metadata.namespace.as_deref(), Some(a.namespace.as_str()));
    let generation = created.metadata.generation;
    let again = backend.apply_server(server(&a, "tools")).await.expect("re-apply");
    assert_eq!(again.metadata.generation, generation, "identical spec keeps the generation");
    let mut changed = server(&a, "tools");
    changed.spec.description = Some("changed".into());
    let changed = backend.apply_server(changed).await.expect("change");
    assert!(changed.metadata.generation > generation || generation.is_none());
    let got = backend.get_server(&a.namespace, "tools").await.expect("get").expect("exists");
    assert_eq!(got.spec.description.as_deref(), Some("changed"));
    backend.apply_server(server(&b, "other")).await.expect("apply b");
    let in_a = backend.list_servers(&ListFilter::namespace(&a.namespace)).await.expect("list");
    assert_eq!(
        in_a.iter().map(|s| s.metadata.name.clone().unwrap_or_default()).collect::<Vec<_>>(),
        ["tools"]
    );
    assert_eq!(backend.list_servers(&ListFilter::default()).await.expect("all").len(), 2);
    assert!(
        backend.get_server(&b.namespace, "tools").await.expect("get").is_none(),
        "namespaces are separate"
    );

    // Grants must reference a server of their namespace.
    let orphan = grant(&a, "orphan", "missing", "agt_1");
    assert_eq!(invalid_field(backend.apply_grant(orphan).await.expect_err("orphan")), "spec.serverRef.name");
    let foreign = grant(&a, "foreign", "other", "agt_1");
    assert_eq!(
        invalid_field(backend.apply_grant(foreign).await.expect_err("server of b")),
        "spec.serverRef.name"
    );
    let mut cross = grant(&a, "cross", "tools", "agt_1");
    cross.spec.server_ref.namespace = Some(b.namespace.clone());
    assert_eq!(
        invalid_field(backend.apply_grant(cross).await.expect_err("cross")),
        "spec.serverRef.namespace"
    );
    let mut bad_rule = grant(&a, "bad", "tools", "agt_1");
    bad_rule.spec.tool_rules =
        vec![mcp_api::ToolRule { name: String::new(), ..mcp_api::ToolRule::default() }];
    assert!(
        invalid_field(backend.apply_grant(bad_rule).await.expect_err("rule"))
            .starts_with("spec.toolRules[0]")
    );

    let g = backend.apply_grant(grant(&a, "g1", "tools", "agt_1")).await.expect("grant");
    assert_eq!(g.metadata.namespace.as_deref(), Some(a.namespace.as_str()));
    backend.apply_grant(grant(&a, "g2", "tools", "agt_2")).await.expect("grant 2");
    backend.apply_grant(grant(&b, "gb", "other", "agt_1")).await.expect("grant b");
    let by_server = backend.list_grants(&ListFilter::server(&a.namespace, "tools")).await.expect("list");
    assert_eq!(by_server.len(), 2);
    let by_agent = backend
        .list_grants(&ListFilter { agent_id: Some("agt_1".into()), ..ListFilter::default() })
        .await
        .expect("by agent");
    assert_eq!(by_agent.len(), 2, "agent filter spans namespaces");

    // Sessions, linked to grants by grantName.
    let mut no_subject = session(&a, "s0", "tools", "g1", "agt_1");
    no_subject.spec.subject = Subject::default();
    assert!(
        invalid_field(backend.apply_session(no_subject).await.expect_err("subject"))
            .starts_with("spec.subject")
    );
    backend.apply_session(session(&a, "s1", "tools", "g1", "agt_1")).await.expect("s1");
    backend.apply_session(session(&a, "s2", "tools", "g1", "agt_2")).await.expect("s2");
    backend.apply_session(session(&a, "s3", "tools", "g2", "agt_2")).await.expect("s3");
    backend.apply_session(session(&b, "sb", "other", "gb", "agt_1")).await.expect("sb");
    let of_g1 = backend
        .list_sessions(&ListFilter {
            namespace: Some(a.namespace.clone()),
            grant_name: Some("g1".into()),
            ..ListFilter::default()
        })
        .await
        .expect("by grant");
    assert_eq!(
        of_g1.iter().map(|s| s.metadata.name.clone().unwrap_or_default()).collect::<Vec<_>>(),
        ["s1", "s2"]
    );
    let of_agent = backend
        .list_sessions(&ListFilter { agent_id: Some("agt_1".into()), ..ListFilter::default() })
        .await
        .expect("by agent");
    assert_eq!(of_agent.len(), 2, "s1 in a, sb in b");

    // Revoking = re-applying with `revoked: true`.
    let mut s1 = backend.get_session(&a.namespace, "s1").await.expect("get").expect("s1");
    let before = if expect.renders_policy {
        Some(backend.server_policy(&a.namespace, "tools").await.expect("policy").expect("rendered"))
    } else {
        None
    };
    s1.spec.revoked = Some(true);
    backend.apply_session(s1).await.expect("revoke");
    let s1 = backend.get_session(&a.namespace, "s1").await.expect("get").expect("s1");
    assert_eq!(s1.spec.revoked, Some(true));

    if let Some(before) = before {
        let after = backend.server_policy(&a.namespace, "tools").await.expect("policy").expect("rendered");
        assert!(after.revision.starts_with("sha256:"));
        assert_ne!(before.revision, after.revision, "a revoke changes the policy");
        assert_eq!(after.document.grants.len(), 2);
        assert_eq!(after.document.sessions.len(), 3);
        assert!(after.document.sessions.iter().any(|s| s.name == "s1" && s.revoked));
        assert_eq!(after.document.server.url, "http://mcp.example.test/tools/mcp");
        let status = backend.get_server(&a.namespace, "tools").await.expect("get").expect("server");
        let status = status.status.expect("status");
        assert_eq!(status.policy_revision.as_deref(), Some(after.revision.as_str()));
        assert_eq!(status.url.as_deref(), Some("http://mcp.example.test/tools/mcp"));
        assert!(status.conditions.iter().any(|c| c.type_ == "PolicyReady" && c.status == "True"));

        // The JWKS reaches every policy; publishing the same keys again changes nothing.
        backend.publish_jwks(&trust(&["k2", "k1"])).await.expect("publish");
        let keyed = backend.server_policy(&a.namespace, "tools").await.expect("policy").expect("rendered");
        let platform = keyed.document.auth.platform.clone().expect("platform trust");
        assert_eq!(platform.jwks.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["k1", "k2"]);
        let other = backend.server_policy(&b.namespace, "other").await.expect("policy").expect("rendered");
        assert!(other.document.auth.platform.is_some(), "every server's policy carries the keys");
        backend.publish_jwks(&trust(&["k1", "k2"])).await.expect("publish again");
        let same = backend.server_policy(&a.namespace, "tools").await.expect("policy").expect("rendered");
        assert_eq!(same.revision, keyed.revision);
        assert!(backend.server_policy(&a.namespace, "missing").await.expect("policy").is_none());
    } else {
        backend.publish_jwks(&trust(&["k1"])).await.expect("publish");
    }

    // Teams with servers cannot be deprovisioned.
    let refused = backend.deprovision_team(&a).await.expect_err("has servers");
    assert!(matches!(refused, RuntimeError::Conflict(_)), "{refused:?}");

    // Deletes answer whether something went.
    assert!(backend.delete_session(&a.namespace, "s2").await.expect("delete"));
    assert!(!backend.delete_session(&a.namespace, "s2").await.expect("delete again"));
    assert!(backend.delete_grant(&a.namespace, "g2").await.expect("delete grant"));
    assert!(backend.get_grant(&a.namespace, "g2").await.expect("get").is_none());
    assert!(backend.delete_server(&a.namespace, "tools").await.expect("delete server"));
    assert!(!backend.delete_server(&a.namespace, "tools").await.expect("again"));
    assert!(backend.get_server(&a.namespace, "tools").await.expect("get").is_none());
    if expect.renders_policy {
        assert!(backend.server_policy(&a.namespace, "tools").await.expect("policy").is_none());
    }
    backend.deprovision_team(&a).await.expect("deprovision empty team");
    assert!(backend.list_grants(&ListFilter::namespace(&a.namespace)).await.expect("list").is_empty());
    // b is untouched.
    assert_eq!(backend.list_sessions(&ListFilter::namespace(&b.namespace)).await.expect("b").len(), 1);
}
