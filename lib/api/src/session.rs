//! The `MCPAgentSession` resource: one agent's consented, revocable session on one server.
// The kube derive repeats `type_ = ...` across printcolumns; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{SecretKeyRef, ServerRef, Subject};
use crate::enums::TrustLevel;
use crate::grant::AccessStatus;

/// A session an agent presents on every call: the trust its human consented to, when it
/// expires, and whether it was revoked.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "mcpruntime.org",
    version = "v1alpha1",
    kind = "MCPAgentSession",
    plural = "mcpagentsessions",
    singular = "mcpagentsession",
    shortname = "mcpsession",
    category = "mcp",
    namespaced,
    status = "AccessStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "A revocable agent session on one MCPServer.",
    printcolumn(name = "Server", type_ = "string", json_path = ".spec.serverRef.name"),
    printcolumn(name = "Human", type_ = "string", json_path = ".spec.subject.humanID"),
    printcolumn(name = "Agent", type_ = "string", json_path = ".spec.subject.agentID"),
    printcolumn(name = "Team", type_ = "string", json_path = ".spec.subject.teamID"),
    printcolumn(name = "Trust", type_ = "string", json_path = ".spec.consentedTrust"),
    printcolumn(name = "Revoked", type_ = "boolean", json_path = ".spec.revoked"),
    printcolumn(name = "Expires", type_ = "string", json_path = ".spec.expiresAt"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct MCPAgentSessionSpec {
    /// The server this session is for.
    pub server_ref: ServerRef,
    /// Who the session belongs to (at least one field required).
    #[serde(default)]
    pub subject: Subject,
    /// Trust the human consented to for this session (default `low`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consented_trust: Option<TrustLevel>,
    /// RFC 3339 time at and after which the session is expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expires_at: Option<String>,
    /// A revoked session is denied on every call that presents it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<bool>,
    /// Secret key holding the credential the gateway sends upstream for this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_token_secret_ref: Option<SecretKeyRef>,
    /// Policy version recorded in decisions made under this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// The grant that authorised this session (lets a grant revoke its sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_name: Option<String>,
    /// Total tool calls this session allows (counted by the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_calls: Option<u64>,
    /// Tool calls per minute this session allows (counted by the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub rate_per_minute: Option<u32>,
}
