//! Rendering, revision and document validation.

use super::World;
use crate::{Document, Jwk, Jwks, PlatformTrust, RenderContext, RenderError, Snapshot, render};

fn ctx() -> RenderContext {
    RenderContext { cluster: "local".into(), ..RenderContext::default() }
}

fn render_world(w: &World, server: &str, ctx: &RenderContext) -> Result<Document, RenderError> {
    let server = w.servers.iter().find(|s| s.metadata.name.as_deref() == Some(server)).expect("server");
    render(server, &w.grants, &w.sessions, ctx)
}

fn platform() -> PlatformTrust {
    PlatformTrust {
        issuer: "https://platform.example.test".into(),
        jwks: Jwks {
            keys: vec![Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
                kid: "platform-2026-11".into(),
                alg: Some("EdDSA".into()),
                use_: Some("sig".into()),
                y: None,
            }],
        },
    }
}

#[test]
fn workspace_assistant_policy_snapshot() {
    let w = World::workspace_assistant();
    let ctx = RenderContext { platform: Some(platform()), ..ctx() };
    let doc = render_world(&w, "policy-mcp-server", &ctx).expect("render");
    insta::assert_snapshot!("workspace_assistant_policy", doc.to_json_pretty());
}

#[test]
fn multitenant_policy_snapshot() {
    let w = World::from_yaml(super::scenarios_fixture());
    let doc = render_world(&w, "server-a", &ctx()).expect("render");
    insta::assert_snapshot!("server_a_policy", doc.to_json_pretty());
}

#[test]
fn only_grants_and_sessions_for_this_server_are_rendered() {
    let w = World::workspace_assistant();
    let doc = render_world(&w, "policy-mcp-server", &ctx()).expect("render");
    let grants: Vec<&str> = doc.grants.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(grants, ["ops-agent-grant"]);
    assert_eq!(doc.grants[0].team_id, "team-a", "an empty subject team defaults to the server's team");
    assert_eq!(doc.server.url, "http://mcp.example.test/policy-mcp-server/mcp");
    assert_eq!(doc.auth.audience, doc.server.url);
}

#[test]
fn hostless_routes_use_the_default_host_for_their_public_url() {
    let mut w = World::workspace_assistant();
    w.server("policy-mcp-server").spec.ingress_host = None;
    let doc = render_world(&w, "policy-mcp-server", &ctx()).expect("render");
    assert_eq!(doc.server.url, "", "no host known: no URL");
    let ctx = RenderContext {
        tls: true,
        defaults: mcp_api::DefaultingOptions {
            default_ingress_host: Some("mcp.example.com".into()),
            ..Default::default()
        },
        ..ctx()
    };
    let doc = render_world(&w, "policy-mcp-server", &ctx).expect("render");
    assert_eq!(doc.server.url, "https://mcp.example.com/policy-mcp-server/mcp");
    assert_eq!(doc.auth.audience, doc.server.url);
}

#[test]
fn revision_depends_on_content_only() {
    let w = World::workspace_assistant();
    let a = render_world(&w, "policy-mcp-server", &ctx()).expect("render");
    let stamped = RenderContext { generated_at: Some("2026-11-26T12:00:00Z".into()), ..ctx() };
    let b = render_world(&w, "policy-mcp-server", &stamped).expect("render");
    assert_eq!(a.revision, b.revision, "generated_at is not part of the revision");
    assert!(a.revision.starts_with("sha256:") && a.revision.len() == 7 + 64);

    let mut reordered = w.clone();
    reordered.grants.reverse();
    reordered.sessions.reverse();
    assert_eq!(render_world(&reordered, "policy-mcp-server", &ctx()).expect("render").revision, a.revision);

    let mut changed = w.clone();
    changed.session("sess-ops-agent").spec.revoked = Some(true);
    assert_ne!(render_world(&changed, "policy-mcp-server", &ctx()).expect("render").revision, a.revision);
}

#[test]
fn documents_round_trip_through_json_and_reject_tampering() {
    let w = World::workspace_assistant();
    let doc = render_world(&w, "policy-mcp-server", &ctx()).expect("render");
    let text = doc.to_json_pretty();
    let parsed = Document::from_json(text.as_bytes()).expect("round trip");
    assert_eq!(parsed, doc);
    Snapshot::from_json(text.as_bytes()).expect("snapshot from JSON");

    let tampered = text.replacen("\"consented_trust\": \"low\"", "\"consented_trust\": \"high\"", 1);
    assert_ne!(tampered, text);
    let err = Document::from_json(tampered.as_bytes()).expect_err("tampered");
    assert!(err.to_string().contains("revision"), "{err}");

    let unsupported = text.replacen("\"schema_version\": \"v1\"", "\"schema_version\": \"v9\"", 1);
    let err = Document::from_json(unsupported.as_bytes()).expect_err("schema");
    assert!(err.to_string().contains("unsupported schema version"), "{err}");

    for bad in ["", "{", "[]", "{\"schema_version\":\"v1\"}"] {
        assert!(Document::from_json(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn validation_rejects_duplicates_per_namespace_only() {
    let w = World::workspace_assistant();
    let base = render_world(&w, "policy-mcp-server", &ctx()).expect("render");

    let mut doc = base.clone();
    let mut twin = doc.grants[0].clone();
    twin.namespace = "elsewhere".into();
    doc.grants.push(twin.clone());
    doc.stamp();
    doc.validate().expect("same name in another namespace is fine");

    twin.namespace = doc.grants[0].namespace.clone();
    doc.grants.push(twin);
    doc.stamp();
    let err = doc.validate().expect_err("duplicate in one namespace");
    assert!(err.to_string().contains("duplicate grant mcp-servers/ops-agent-grant"), "{err}");

    let mut doc = base.clone();
    doc.tools.push(doc.tools[0].clone());
    doc.stamp();
    assert!(doc.validate().expect_err("dup tool").to_string().contains("duplicate tool"));

    let mut doc = base.clone();
    let first = doc.grants[0].tool_rules[0].clone();
    doc.grants[0].tool_rules.push(first);
    doc.stamp();
    assert!(doc.validate().expect_err("dup rule").to_string().contains("duplicate tool rule"));

    let mut doc = base.clone();
    doc.grants[0].tool_rules[0]
        .arguments
        .insert("x".into(), mcp_api::ArgumentConstraint { pattern: Some("(".into()), ..Default::default() });
    doc.stamp();
    assert!(doc.validate().expect_err("bad regex").to_string().contains("not a valid regular expression"));

    let mut doc = base.clone();
    doc.auth.mode = mcp_api::AuthMode::Oauth;
    doc.stamp();
    assert!(doc.validate().expect_err("oauth").to_string().contains("auth.issuer_url"));

    let mut doc = base.clone();
    doc.server.name.clear();
    doc.stamp();
    assert!(doc.validate().is_err());

    let mut doc = base;
    doc.auth.platform = Some(platform());
    if let Some(p) = &mut doc.auth.platform {
        p.jwks.keys[0].kty = "RSA".into();
    }
    doc.stamp();
    assert!(doc.validate().expect_err("rsa").to_string().contains("unsupported key"));
}

#[test]
fn invalid_servers_do_not_render() {
    let mut w = World::workspace_assistant();
    w.server("policy-mcp-server")
        .spec
        .tools
        .push(mcp_api::ToolConfig { name: "echo".into(), ..Default::default() });
    let err = render_world(&w, "policy-mcp-server", &ctx()).expect_err("duplicate tool");
    let text = err.to_string();
    assert!(text.contains("spec.tools[8].name: duplicate tool name: \"echo\""), "{text}");
    assert!(text.contains("spec.tools[8].sideEffect"), "{text}");
}
