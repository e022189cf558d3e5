//! MCP Runtime's custom resources: `MCPServer`, `MCPAccessGrant` and `MCPAgentSession`
//! (group `mcpruntime.org`, version `v1alpha1`, all namespaced, all with a status subresource).
//!
//! This crate owns the types, their enums, defaulting ([`default_server`]) and validation
//! ([`validate_server`], [`validate_grant`], [`validate_session`]). The admission webhook, the
//! operator and the CLI all call these same functions, so a spec means the same thing wherever it
//! is read.
//!
//! Invariants:
//! - No I/O and no async: this crate must never depend on tokio, hyper, or kube's `client` and
//!   `runtime` features (only the `derive` feature).
//! - Every field carries a doc comment: it becomes the description in the generated CRD.
//! - Defaulting is idempotent and validation reports every problem, not just the first.

mod common;
mod defaults;
mod enums;
mod grant;
mod schema;
mod server;
mod session;
mod validate;
pub mod yaml;

pub use common::{SecretKeyRef, ServerRef, Subject};
pub use defaults::*;
pub use enums::{
    AuthMode, Phase, PolicyDecision, PolicyMode, RiskLevel, RolloutStrategy, Scope, SideEffect,
    ToolDriftAction, TrustLevel, UnknownValue,
};
pub use grant::{AccessStatus, ArgumentConstraint, MCPAccessGrant, MCPAccessGrantSpec, ToolRule};
pub use server::{
    AnalyticsConfig, AuthConfig, EnvVar, GatewayConfig, InventoryItem, MCPServer, MCPServerSpec,
    MCPServerStatus, PolicyConfig, ResourceList, ResourceRequirements, RolloutConfig, SecretEnvVar,
    SessionConfig, ToolConfig, UpstreamConfig,
};
pub use session::{MCPAgentSession, MCPAgentSessionSpec};
pub use validate::{
    FieldError, Findings, MAX_TEAM_ID_LEN, UpstreamUrl, parse_duration_secs, parse_rfc3339,
    parse_upstream_url, validate_grant, validate_server, validate_session,
};

/// API group of every MCP Runtime resource.
pub const GROUP: &str = "mcpruntime.org";
/// API version of every MCP Runtime resource.
pub const VERSION: &str = "v1alpha1";

#[cfg(test)]
mod tests;
