//! Defaulting: one function per resource, called by the webhook, the operator and the CLI, so
//! every path sees the same effective spec.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::enums::{AuthMode, PolicyDecision, PolicyMode, RolloutStrategy, ToolDriftAction, TrustLevel};
use crate::server::{
    AnalyticsConfig, AuthConfig, GatewayConfig, MCPServerSpec, PolicyConfig, ResourceList,
    ResourceRequirements, RolloutConfig, SessionConfig,
};

/// Default app container port.
pub const DEFAULT_PORT: i32 = 8088;
/// Default Service port.
pub const DEFAULT_SERVICE_PORT: i32 = 80;
/// Default gateway sidecar port.
pub const DEFAULT_GATEWAY_PORT: i32 = 8091;
/// The gateway sidecar's admin port (`/health`, `/ready`, `/config/status`, `/metrics`; its
/// `ADMIN_LISTEN_ADDR`). Never routed by the Ingress; the app and the gateway's public port must
/// not use it.
pub const GATEWAY_ADMIN_PORT: i32 = 9103;
/// Default ingress class.
pub const DEFAULT_INGRESS_CLASS: &str = "traefik";
/// Default image tag.
pub const DEFAULT_IMAGE_TAG: &str = "latest";
/// Default policy version.
pub const DEFAULT_POLICY_VERSION: &str = "v1";
/// What the gateway enforces.
pub const DEFAULT_ENFORCE_ON: &str = "call_tool";
/// Default human id header (`trusted-headers` mode).
pub const DEFAULT_HUMAN_ID_HEADER: &str = "X-MCP-Human-ID";
/// Default agent id header (`trusted-headers` mode).
pub const DEFAULT_AGENT_ID_HEADER: &str = "X-MCP-Agent-ID";
/// Default team id header (`trusted-headers` mode).
pub const DEFAULT_TEAM_ID_HEADER: &str = "X-MCP-Team-ID";
/// Default session header (`trusted-headers` mode).
pub const DEFAULT_SESSION_HEADER: &str = "X-MCP-Agent-Session";
/// Default bearer token header.
pub const DEFAULT_TOKEN_HEADER: &str = "Authorization";
/// Default analytics event type.
pub const DEFAULT_EVENT_TYPE: &str = "mcp.request";

/// Operator-level settings that defaulting falls back to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DefaultingOptions {
    /// `MCP_DEFAULT_INGRESS_HOST`: used only when a server sets neither host nor prefix.
    pub default_ingress_host: Option<String>,
    /// `DEFAULT_INGRESS_CLASS` (falls back to `traefik`).
    pub default_ingress_class: Option<String>,
}

fn set_if_none<T>(slot: &mut Option<T>, value: impl FnOnce() -> T) {
    if slot.is_none() {
        *slot = Some(value());
    }
}

fn set_if_blank(slot: &mut Option<String>, value: impl FnOnce() -> String) {
    if slot.as_deref().is_none_or(|v| v.trim().is_empty()) {
        *slot = Some(value());
    }
}

/// True when the image reference already names a tag or digest (a `:` after the last `/`,
/// or an `@`).
pub fn image_has_tag_or_digest(image: &str) -> bool {
    if image.contains('@') {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.contains(':')
}

/// Returns `spec` with every default applied for a server called `name`.
///
/// Idempotent: defaulting a defaulted spec changes nothing.
pub fn default_server(name: &str, spec: &MCPServerSpec, opts: &DefaultingOptions) -> MCPServerSpec {
    let mut s = spec.clone();
    // A remote server (`upstream`) has no app container: no image, port or app resources are
    // invented for it (validation refuses them when they are set).
    let has_app = s.upstream.is_none();
    if has_app
        && s.image_tag.as_deref().is_none_or(|t| t.trim().is_empty())
        && !image_has_tag_or_digest(&s.image)
    {
        s.image_tag = Some(DEFAULT_IMAGE_TAG.to_string());
    }
    set_if_none(&mut s.replicas, || 1);
    if has_app {
        set_if_none(&mut s.port, || DEFAULT_PORT);
    }
    set_if_none(&mut s.service_port, || DEFAULT_SERVICE_PORT);

    let has_prefix = s.public_path_prefix.as_deref().is_some_and(|p| !p.trim().is_empty());
    let has_host = s.ingress_host.as_deref().is_some_and(|h| !h.trim().is_empty());
    let has_path = s.ingress_path.as_deref().is_some_and(|p| !p.trim().is_empty());
    if !has_prefix
        && !has_host
        && let Some(host) = opts.default_ingress_host.as_deref().filter(|h| !h.trim().is_empty())
    {
        s.ingress_host = Some(host.to_string());
    }
    if !has_prefix && !has_path {
        s.public_path_prefix = Some(name.to_string());
    }
    if let Some(prefix) = s.public_path_prefix.as_deref().filter(|p| !p.trim().is_empty()) {
        s.ingress_path = Some(route_for_prefix(prefix));
    }
    set_if_blank(&mut s.ingress_class, || {
        opts.default_ingress_class
            .clone()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_INGRESS_CLASS.to_string())
    });
    if has_app {
        s.resources = Some(default_resources(s.resources.take()));
    }

    for tool in &mut s.tools {
        set_if_none(&mut tool.required_trust, TrustLevel::default);
    }

    let gateway = s.gateway.get_or_insert_with(GatewayConfig::default);
    set_if_none(&mut gateway.enabled, || true);
    let gateway_enabled = gateway.enabled == Some(true);
    if gateway_enabled {
        set_if_none(&mut gateway.port, || DEFAULT_GATEWAY_PORT);
        if has_app {
            let port = s.port.unwrap_or(DEFAULT_PORT);
            set_if_blank(&mut gateway.upstream_url, || format!("http://127.0.0.1:{port}"));
        }
        gateway.resources = Some(default_resources(gateway.resources.take()));

        let auth = s.auth.get_or_insert_with(AuthConfig::default);
        set_if_none(&mut auth.mode, AuthMode::default);
        set_if_blank(&mut auth.token_header, || DEFAULT_TOKEN_HEADER.to_string());
        if auth.mode == Some(AuthMode::TrustedHeaders) {
            set_if_blank(&mut auth.human_id_header, || DEFAULT_HUMAN_ID_HEADER.to_string());
            set_if_blank(&mut auth.agent_id_header, || DEFAULT_AGENT_ID_HEADER.to_string());
            set_if_blank(&mut auth.team_id_header, || DEFAULT_TEAM_ID_HEADER.to_string());
            set_if_blank(&mut auth.session_id_header, || DEFAULT_SESSION_HEADER.to_string());
        }

        let policy = s.policy.get_or_insert_with(PolicyConfig::default);
        set_if_none(&mut policy.mode, || PolicyMode::AllowList);
        set_if_none(&mut policy.default_decision, || PolicyDecision::Deny);
        set_if_blank(&mut policy.enforce_on, || DEFAULT_ENFORCE_ON.to_string());
        set_if_blank(&mut policy.policy_version, || DEFAULT_POLICY_VERSION.to_string());
        set_if_none(&mut policy.filter_discovery, || true);
        set_if_none(&mut policy.on_tool_drift, || ToolDriftAction::Report);

        let session = s.session.get_or_insert_with(SessionConfig::default);
        set_if_none(&mut session.required, || false);
        set_if_blank(&mut session.store, || "kubernetes".to_string());
        set_if_blank(&mut session.header_name, || DEFAULT_SESSION_HEADER.to_string());
        set_if_blank(&mut session.max_lifetime, || "24h".to_string());
        set_if_blank(&mut session.idle_timeout, || "1h".to_string());
        set_if_blank(&mut session.upstream_token_header, || DEFAULT_TOKEN_HEADER.to_string());

        let analytics = s.analytics.get_or_insert_with(AnalyticsConfig::default);
        set_if_none(&mut analytics.disabled, || false);
        set_if_blank(&mut analytics.source, || format!("{name}-gateway"));
        set_if_blank(&mut analytics.event_type, || DEFAULT_EVENT_TYPE.to_string());
    }

    let rollout = s.rollout.get_or_insert_with(RolloutConfig::default);
    set_if_none(&mut rollout.strategy, || RolloutStrategy::RollingUpdate);
    set_if_none(&mut rollout.max_unavailable, || IntOrString::String("25%".to_string()));
    set_if_none(&mut rollout.max_surge, || IntOrString::String("25%".to_string()));
    s
}

/// The route served for a public path prefix: `/<prefix>/mcp`, without doubled slashes.
pub fn route_for_prefix(prefix: &str) -> String {
    format!("/{}/mcp", prefix.trim().trim_matches('/'))
}

fn default_resources(given: Option<ResourceRequirements>) -> ResourceRequirements {
    let mut r = given.unwrap_or_default();
    let requests = r.requests.get_or_insert_with(ResourceList::default);
    set_if_blank(&mut requests.cpu, || "50m".to_string());
    set_if_blank(&mut requests.memory, || "64Mi".to_string());
    let limits = r.limits.get_or_insert_with(ResourceList::default);
    set_if_blank(&mut limits.cpu, || "500m".to_string());
    set_if_blank(&mut limits.memory, || "256Mi".to_string());
    r
}

impl MCPServerSpec {
    /// True for a remote server (`spec.upstream`): the pod runs only the gateway.
    pub fn is_upstream(&self) -> bool {
        self.upstream.is_some()
    }

    /// Whether the gateway sidecar runs (it does unless `gateway.enabled` is false).
    pub fn gateway_enabled(&self) -> bool {
        self.gateway.as_ref().and_then(|g| g.enabled) != Some(false)
    }

    /// The route this server is served on: `/<publicPathPrefix>/mcp`, else `ingressPath`, else
    /// `/<name>/mcp`.
    pub fn effective_path(&self, name: &str) -> String {
        if let Some(prefix) = self.public_path_prefix.as_deref().filter(|p| !p.trim().is_empty()) {
            return route_for_prefix(prefix);
        }
        match self.ingress_path.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(path) => path.to_string(),
            None => route_for_prefix(name),
        }
    }

    /// The auth mode in force (`platform-session` unless set).
    pub fn auth_mode(&self) -> AuthMode {
        self.auth.as_ref().and_then(|a| a.mode).unwrap_or_default()
    }
}
