//! The `MCPAccessGrant` resource: what a subject may call on one server.
// The kube derive repeats `type_ = ...` across printcolumns; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{ServerRef, Subject};
use crate::enums::{PolicyDecision, SideEffect, TrustLevel};

/// Grants a subject (human, agent, team, or a combination) access to tools of one MCPServer,
/// up to a trust level and for the side effects listed.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mcpruntime.org",
    version = "v1alpha1",
    kind = "MCPAccessGrant",
    plural = "mcpaccessgrants",
    singular = "mcpaccessgrant",
    shortname = "mcpgrant",
    category = "mcp",
    namespaced,
    status = "AccessStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "Access to the tools of one MCPServer for a human, agent or team.",
    printcolumn(name = "Server", type_ = "string", json_path = ".spec.serverRef.name"),
    printcolumn(name = "Human", type_ = "string", json_path = ".spec.subject.humanID"),
    printcolumn(name = "Agent", type_ = "string", json_path = ".spec.subject.agentID"),
    printcolumn(name = "Team", type_ = "string", json_path = ".spec.subject.teamID"),
    printcolumn(name = "Trust", type_ = "string", json_path = ".spec.maxTrust"),
    printcolumn(name = "Disabled", type_ = "boolean", json_path = ".spec.disabled"),
    printcolumn(name = "Expires", type_ = "string", json_path = ".spec.expiresAt", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct MCPAccessGrantSpec {
    /// The server this grant applies to.
    pub server_ref: ServerRef,
    /// Who the grant is for. An empty `teamID` is filled with the server's team when the
    /// policy is rendered; a completely empty subject therefore grants the owning team.
    #[serde(default)]
    pub subject: Subject,
    /// Highest trust this grant confers (default `low`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_trust: Option<TrustLevel>,
    /// Side effects the grant permits; empty permits none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_side_effects: Vec<SideEffect>,
    /// Policy version recorded in decisions made under this grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// A disabled grant allows nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Per-tool rules. Without rules every tool is allowed by name; with rules only the tools
    /// named by an `allow` rule are, and a `deny` rule wins over any other grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_rules: Vec<ToolRule>,
    /// RFC 3339 time at and after which the grant no longer allows anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expires_at: Option<String>,
    /// Total tool calls this grant allows (counted by the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_calls: Option<u64>,
    /// Tool calls per minute this grant allows (counted by the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub rate_per_minute: Option<u32>,
}

/// A rule for one tool inside a grant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolRule {
    /// Tool name (unique within the grant).
    pub name: String,
    /// `allow` or `deny` (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<PolicyDecision>,
    /// Raises the trust the tool requires under this grant (default `low`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_trust: Option<TrustLevel>,
    /// Constraints on the call's arguments, by argument name (`allow` rules only). A
    /// constrained argument must be present and satisfy every constraint given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub arguments: BTreeMap<String, ArgumentConstraint>,
}

/// A JSON-Schema subset constraint on one tool argument.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArgumentConstraint {
    /// The argument must equal this value.
    #[serde(rename = "const", default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::any_value")]
    pub const_: Option<serde_json::Value>,
    /// The argument must equal one of these values.
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::any_value_list")]
    pub enum_: Option<Vec<serde_json::Value>>,
    /// The argument must be a string matching this regular expression (unanchored, as in JSON
    /// Schema; use `^…$` to match the whole value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The argument must be a number no less than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// The argument must be a number no greater than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// The argument must be a string of at most this many characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
}

impl ArgumentConstraint {
    /// True when no constraint is set.
    pub fn is_empty(&self) -> bool {
        self.const_.is_none()
            && self.enum_.is_none()
            && self.pattern.is_none()
            && self.minimum.is_none()
            && self.maximum.is_none()
            && self.max_length.is_none()
    }
}

/// Status of a grant or session (reserved; the operator reports through the MCPServer).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccessStatus {
    /// Current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Detail of the phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
