//! Rendering: MCPServer + the grants and sessions that reference it → a policy [`Document`].

use mcp_api::{
    DefaultingOptions, MCPAccessGrant, MCPAgentSession, MCPServer, PolicyDecision, PolicyMode, RiskLevel,
    ToolDriftAction, TrustLevel, default_server, parse_rfc3339, validate_server,
};

use crate::document::{
    AuthSettings, Document, Grant, PlatformTrust, PolicySettings, SCHEMA_VERSION, ServerInfo, Session,
    SessionSettings, Tool, ToolRule,
};
use crate::error::RenderError;

/// Cluster-level inputs to rendering.
#[derive(Clone, Debug, Default)]
pub struct RenderContext {
    /// Cluster name stamped into the document (`MCP_CLUSTER_NAME`, default `local`).
    pub cluster: String,
    /// Operator defaults (ingress host and class).
    pub defaults: DefaultingOptions,
    /// Whether public URLs use `https`.
    pub tls: bool,
    /// Issuer and public keys of platform session tokens, copied into every policy.
    pub platform: Option<PlatformTrust>,
    /// `generated_at` to stamp (not covered by the revision); `None` leaves it out.
    pub generated_at: Option<String>,
}

fn text(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or_default().to_string()
}

/// Renders the policy for `server` from every grant and session given; those that do not
/// reference this server (by name and namespace, the namespace defaulting to the referring
/// object's) are ignored. The result is stamped and validated.
pub fn render(
    server: &MCPServer,
    grants: &[MCPAccessGrant],
    sessions: &[MCPAgentSession],
    ctx: &RenderContext,
) -> Result<Document, RenderError> {
    let name = server.metadata.name.clone().filter(|n| !n.is_empty()).ok_or(RenderError::MissingName)?;
    let namespace = server.metadata.namespace.clone().unwrap_or_default();
    let spec = default_server(&name, &server.spec, &ctx.defaults);
    let findings = validate_server(&spec, "spec");
    if !findings.is_valid() {
        let errors: Vec<String> = findings.errors.iter().map(ToString::to_string).collect();
        return Err(RenderError::InvalidServer { name, errors: errors.join("; ") });
    }
    let team_id = text(&spec.team_id);
    // A hostless route is still served on the platform's MCP host, so the public URL (the
    // audience of session tokens) falls back to the operator's default host.
    let host = spec.ingress_host.as_deref().or(ctx.defaults.default_ingress_host.as_deref());
    let url = match host.map(str::trim).filter(|h| !h.is_empty()) {
        Some(host) => {
            format!("{}://{host}{}", if ctx.tls { "https" } else { "http" }, spec.effective_path(&name))
        }
        None => String::new(),
    };

    let auth_spec = spec.auth.clone().unwrap_or_default();
    let mut platform = ctx.platform.clone();
    if let Some(p) = &mut platform {
        p.jwks.keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    }
    let auth = AuthSettings {
        mode: auth_spec.mode.unwrap_or_default(),
        human_id_header: text(&auth_spec.human_id_header),
        agent_id_header: text(&auth_spec.agent_id_header),
        team_id_header: text(&auth_spec.team_id_header),
        session_id_header: text(&auth_spec.session_id_header),
        token_header: text(&auth_spec.token_header),
        issuer_url: text(&auth_spec.issuer_url),
        audience: auth_spec.audience.clone().map(|a| a.trim().to_string()).unwrap_or_else(|| url.clone()),
        scopes: auth_spec.scopes.clone(),
        platform,
    };

    let policy_spec = spec.policy.clone().unwrap_or_default();
    let policy = PolicySettings {
        mode: policy_spec.mode.unwrap_or(PolicyMode::AllowList),
        default_decision: policy_spec.default_decision.unwrap_or(PolicyDecision::Deny),
        enforce_on: text(&policy_spec.enforce_on),
        policy_version: text(&policy_spec.policy_version),
        filter_discovery: policy_spec.filter_discovery.unwrap_or(true),
        on_tool_drift: policy_spec.on_tool_drift.unwrap_or(ToolDriftAction::Report),
    };

    let session_spec = spec.session.clone().unwrap_or_default();
    let session = SessionSettings {
        required: session_spec.required.unwrap_or(false),
        store: text(&session_spec.store),
        header_name: text(&session_spec.header_name),
        max_lifetime: text(&session_spec.max_lifetime),
        idle_timeout: text(&session_spec.idle_timeout),
        upstream_token_header: text(&session_spec.upstream_token_header),
    };

    let tools = spec
        .tools
        .iter()
        .map(|t| {
            let required_trust = t.required_trust.unwrap_or_default();
            Tool {
                name: t.name.clone(),
                description: text(&t.description),
                required_trust,
                side_effect: t.side_effect,
                risk_level: Some(
                    t.risk_level.unwrap_or_else(|| RiskLevel::derive(t.side_effect, required_trust)),
                ),
                labels: t.labels.clone(),
            }
        })
        .collect();

    let refers_here = |server_ref: &mcp_api::ServerRef, own_ns: &Option<String>| {
        server_ref.name == name && server_ref.namespace_or(own_ns.as_deref().unwrap_or_default()) == namespace
    };

    let mut rendered_grants: Vec<Grant> = grants
        .iter()
        .filter(|g| refers_here(&g.spec.server_ref, &g.metadata.namespace))
        .map(|g| {
            let s = &g.spec;
            let mut team = text(&s.subject.team_id);
            if team.is_empty() {
                team = team_id.clone();
            }
            Grant {
                name: g.metadata.name.clone().unwrap_or_default(),
                namespace: g.metadata.namespace.clone().unwrap_or_default(),
                human_id: text(&s.subject.human_id),
                agent_id: text(&s.subject.agent_id),
                team_id: team,
                max_trust: s.max_trust.unwrap_or_default(),
                allowed_side_effects: s.allowed_side_effects.clone(),
                policy_version: text(&s.policy_version),
                disabled: s.disabled.unwrap_or(false),
                expires_at: s.expires_at.as_deref().map(normalize_time),
                max_calls: s.max_calls,
                rate_per_minute: s.rate_per_minute,
                tool_rules: s
                    .tool_rules
                    .iter()
                    .map(|r| ToolRule {
                        name: r.name.clone(),
                        decision: r.decision.unwrap_or(PolicyDecision::Allow),
                        required_trust: r.required_trust.unwrap_or(TrustLevel::Low),
                        arguments: r.arguments.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    rendered_grants.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

    let mut rendered_sessions: Vec<Session> = sessions
        .iter()
        .filter(|s| refers_here(&s.spec.server_ref, &s.metadata.namespace))
        .map(|s| {
            let sp = &s.spec;
            Session {
                name: s.metadata.name.clone().unwrap_or_default(),
                namespace: s.metadata.namespace.clone().unwrap_or_default(),
                human_id: text(&sp.subject.human_id),
                agent_id: text(&sp.subject.agent_id),
                team_id: text(&sp.subject.team_id),
                consented_trust: sp.consented_trust.unwrap_or_default(),
                revoked: sp.revoked.unwrap_or(false),
                expires_at: sp.expires_at.as_deref().map(normalize_time),
                policy_version: text(&sp.policy_version),
                upstream_token_ref: sp
                    .upstream_token_secret_ref
                    .as_ref()
                    .map(|r| format!("{}/{}", r.name, r.key)),
                grant_name: sp.grant_name.clone().filter(|g| !g.trim().is_empty()),
                max_calls: sp.max_calls,
                rate_per_minute: sp.rate_per_minute,
            }
        })
        .collect();
    rendered_sessions.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

    let mut doc = Document {
        schema_version: SCHEMA_VERSION.to_string(),
        revision: String::new(),
        generated_at: ctx.generated_at.clone(),
        server: ServerInfo { name, namespace, team_id, cluster: ctx.cluster.clone(), url },
        auth,
        policy,
        session,
        tools,
        grants: rendered_grants,
        sessions: rendered_sessions,
    };
    doc.stamp();
    doc.validate()?;
    Ok(doc)
}

/// RFC 3339 in UTC (`2026-12-01T12:00:00Z`); an unreadable value is kept as written so the
/// evaluator treats it as expired (fail closed) instead of the whole render failing.
fn normalize_time(value: &str) -> String {
    match parse_rfc3339(value) {
        Ok(ts) => ts.to_string(),
        Err(_) => value.to_string(),
    }
}
