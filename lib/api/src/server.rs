//! The `MCPServer` resource: one MCP server, its governance metadata and how it is exposed.
// The kube derive repeats `type_ = ...` across printcolumns; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::SecretKeyRef;
use crate::enums::{
    AuthMode, Phase, PolicyDecision, PolicyMode, RiskLevel, RolloutStrategy, SideEffect, ToolDriftAction,
    TrustLevel,
};

/// Desired state of an MCP server: the app image, how it is routed, and the governance
/// metadata (tools, auth, policy, sessions) its `mcp-gateway` sidecar enforces.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mcpruntime.org",
    version = "v1alpha1",
    kind = "MCPServer",
    plural = "mcpservers",
    singular = "mcpserver",
    shortname = "mcps",
    category = "mcp",
    namespaced,
    status = "MCPServerStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "An MCP server published, governed and observed by MCP Runtime.",
    printcolumn(name = "Team", type_ = "string", json_path = ".spec.teamID"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Policy", type_ = "boolean", json_path = ".status.policyReady"),
    printcolumn(name = "Gateway", type_ = "boolean", json_path = ".status.gatewayReady"),
    printcolumn(name = "Ready", type_ = "boolean", json_path = ".status.deploymentReady"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url", priority = 1)
)]
#[serde(rename_all = "camelCase")]
pub struct MCPServerSpec {
    /// Owning platform team (a UUID is recommended); at most 128 characters, no whitespace.
    #[serde(rename = "teamID", default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// What the server is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Container image of the MCP server; required unless `upstream` is set, and refused with it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// An MCP server that already runs elsewhere: the pod runs only the gateway, which governs
    /// calls and forwards them to this URL. Excludes `image` and the app container's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamConfig>,
    /// Image tag; `latest` unless `image` already carries a tag or digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    /// Replaces the registry host part of `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_override: Option<String>,
    /// Rewrites the image to the operator's provisioned registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_provisioned_registry: Option<bool>,
    /// Image pull secrets; when empty the operator attaches its provisioned pull secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<String>,
    /// Number of pods (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    /// Port the app container listens on (default 8088).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Port of the Service (default 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub service_port: Option<i32>,
    /// Ingress path; defaults to `/<name>/mcp`. `publicPathPrefix` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_path: Option<String>,
    /// Ingress host; taken from the operator's default host only when neither host nor
    /// `publicPathPrefix` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_host: Option<String>,
    /// Public path prefix (default: the server name); the route becomes `/<prefix>/mcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_path_prefix: Option<String>,
    /// Ingress class (default `traefik`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_class: Option<String>,
    /// Extra Ingress annotations; they win over the operator's class defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ingress_annotations: BTreeMap<String, String>,
    /// CPU and memory for both containers (defaults: requests 50m/64Mi, limits 500m/256Mi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Plain environment variables of the app container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_vars: Vec<EnvVar>,
    /// Environment variables of the app container taken from Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env_vars: Vec<SecretEnvVar>,
    /// The tools the server offers, with the trust and side effect each requires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolConfig>,
    /// Prompts the server offers (governance metadata only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<InventoryItem>,
    /// Resources the server offers (governance metadata only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_resources: Vec<InventoryItem>,
    /// Tasks the server offers (governance metadata only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<InventoryItem>,
    /// How callers are identified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    /// How calls are decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyConfig>,
    /// Agent-session requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionConfig>,
    /// The `mcp-gateway` sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayConfig>,
    /// Audit events sent by the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<AnalyticsConfig>,
    /// How new versions roll out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutConfig>,
}

/// A remote MCP server governed by the gateway (`spec.upstream`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamConfig {
    /// The server's MCP endpoint: an `http://` or `https://` URL with a host, without userinfo
    /// or fragment, e.g. `https://mcp.example.com/mcp`. The public route maps onto its path.
    pub url: String,
    /// The Secret key holding the credential the gateway sends upstream (in the session's
    /// upstream token header, `Authorization` by default); the caller's token is never forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_secret_ref: Option<SecretKeyRef>,
}

/// CPU and memory requests and limits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceRequirements {
    /// Guaranteed resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceList>,
    /// Maximum resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ResourceList>,
}

/// A CPU and memory quantity pair, in Kubernetes quantity notation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceList {
    /// CPU, e.g. `50m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory, e.g. `64Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

/// A plain environment variable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Variable value.
    #[serde(default)]
    pub value: String,
}

/// An environment variable read from a Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretEnvVar {
    /// Variable name.
    pub name: String,
    /// The Secret key holding the value.
    pub secret_key_ref: SecretKeyRef,
}

/// One tool of the server and what calling it requires.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// Tool name as the server reports it in `tools/list` (unique).
    pub name: String,
    /// What the tool does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Trust a caller needs (default `low`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_trust: Option<TrustLevel>,
    /// What the tool does to the world (required); grants list the side effects they permit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side_effect: Option<SideEffect>,
    /// Informational risk; derived from side effect and trust when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_level: Option<RiskLevel>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A prompt, resource or task the server offers (governance metadata only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryItem {
    /// Item name.
    pub name: String,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// How the gateway identifies callers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    /// `platform-session` (default): platform-signed session tokens; `oauth`: an external
    /// issuer; `trusted-headers`: identity headers set by a trusted proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<AuthMode>,
    /// Header carrying the human id (`trusted-headers` mode; default `X-MCP-Human-ID`).
    #[serde(rename = "humanIDHeader", default, skip_serializing_if = "Option::is_none")]
    pub human_id_header: Option<String>,
    /// Header carrying the agent id (`trusted-headers` mode; default `X-MCP-Agent-ID`).
    #[serde(rename = "agentIDHeader", default, skip_serializing_if = "Option::is_none")]
    pub agent_id_header: Option<String>,
    /// Header carrying the team id (`trusted-headers` mode; default `X-MCP-Team-ID`).
    #[serde(rename = "teamIDHeader", default, skip_serializing_if = "Option::is_none")]
    pub team_id_header: Option<String>,
    /// Header carrying the session name (`trusted-headers` mode; default `X-MCP-Agent-Session`).
    #[serde(rename = "sessionIDHeader", default, skip_serializing_if = "Option::is_none")]
    pub session_id_header: Option<String>,
    /// Header carrying the bearer token (default `Authorization`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_header: Option<String>,
    /// External issuer URL (required for `oauth`).
    #[serde(rename = "issuerURL", default, skip_serializing_if = "Option::is_none")]
    pub issuer_url: Option<String>,
    /// Expected token audience; defaults to the server's public MCP URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Scopes advertised in the protected-resource metadata.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// How calls are decided.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyConfig {
    /// `allow-list` (default) enforces grants; `observe` allows everything and audits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PolicyMode>,
    /// Decision when no grant matches or allows the tool (default `deny`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_decision: Option<PolicyDecision>,
    /// What is enforced (default `call_tool`; informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_on: Option<String>,
    /// Policy version stamped into decisions (default `v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// Filter `tools/list` to the tools the caller may call (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_discovery: Option<bool>,
    /// What to do when a tool definition drifts from its pinned hash (default `report`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_tool_drift: Option<ToolDriftAction>,
}

/// Agent-session requirements.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionConfig {
    /// Whether every tool call must present a valid session (default false). A presented
    /// session that is revoked or expired is denied either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Where sessions live (default `kubernetes`; informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Header carrying the session name in `trusted-headers` mode (default `X-MCP-Agent-Session`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    /// Longest session lifetime (default `24h`; informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime: Option<String>,
    /// Idle timeout (default `1h`; informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<String>,
    /// Header the upstream credential is sent in (default `Authorization`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_token_header: Option<String>,
}

/// The `mcp-gateway` sidecar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayConfig {
    /// Whether the sidecar runs (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Sidecar image (default: the operator's gateway image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Port the sidecar listens on (default 8091); must differ from `spec.port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Where the sidecar forwards (default `http://127.0.0.1:<spec.port>`).
    #[serde(rename = "upstreamURL", default, skip_serializing_if = "Option::is_none")]
    pub upstream_url: Option<String>,
    /// Path prefix removed before forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strip_prefix: Option<String>,
    /// Sidecar CPU and memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// Audit events sent by the gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyticsConfig {
    /// Turn audit events off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Ingest endpoint (default: the operator's).
    #[serde(rename = "ingestURL", default, skip_serializing_if = "Option::is_none")]
    pub ingest_url: Option<String>,
    /// Event source (default `<name>-gateway`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Event type (default `mcp.request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Secret key holding the ingest API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyRef>,
}

/// How new versions roll out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutConfig {
    /// `RollingUpdate` (default), `Recreate` or `Canary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<RolloutStrategy>,
    /// Pods that may be unavailable during an update: an integer or a percentage (default 25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Extra pods allowed during an update: an integer or a percentage (default 25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Pods running the canary version (`Canary` only; less than `replicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_replicas: Option<i32>,
}

/// Observed state of an MCPServer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MCPServerStatus {
    /// `Pending`, `PartiallyReady`, `Ready` or `Error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Human-readable detail of the phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Public MCP endpoint of the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Revision of the rendered policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_revision: Option<String>,
    /// Conditions: DeploymentReady, ServiceReady, IngressReady, GatewayReady, PolicyReady,
    /// CanaryReady, ToolsPinned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The Deployment has all replicas ready.
    #[serde(default)]
    pub deployment_ready: bool,
    /// The Service has a cluster IP.
    #[serde(default)]
    pub service_ready: bool,
    /// The Ingress is admitted.
    #[serde(default)]
    pub ingress_ready: bool,
    /// The gateway sidecar is ready.
    #[serde(default)]
    pub gateway_ready: bool,
    /// The policy ConfigMap holds a valid policy.
    #[serde(default)]
    pub policy_ready: bool,
    /// The canary Deployment is ready.
    #[serde(default)]
    pub canary_ready: bool,
    /// Pinned definition hashes of the tools seen in `tools/list`, by tool name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_pins: BTreeMap<String, String>,
}
