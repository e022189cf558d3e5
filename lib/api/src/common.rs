//! Small types shared by several resources.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Points a grant or session at the MCPServer it governs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerRef {
    /// Name of the MCPServer.
    pub name: String,
    /// Namespace of the MCPServer; defaults to the namespace of the referring object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl ServerRef {
    /// The server's namespace, falling back to `own_namespace` (the referring object's).
    pub fn namespace_or<'a>(&'a self, own_namespace: &'a str) -> &'a str {
        match self.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => ns,
            _ => own_namespace,
        }
    }
}

/// Who a grant or session is for. Every non-empty field must equal the caller's identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Subject {
    /// The human the agent acts for (platform user id or email).
    #[serde(rename = "humanID", default, skip_serializing_if = "Option::is_none")]
    pub human_id: Option<String>,
    /// The agent (platform agent id, e.g. `agt_…`).
    #[serde(rename = "agentID", default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The caller's team.
    #[serde(rename = "teamID", default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
}

impl Subject {
    /// True when no field is set (after trimming): such a subject names nobody in particular.
    pub fn is_empty(&self) -> bool {
        [&self.human_id, &self.agent_id, &self.team_id]
            .iter()
            .all(|field| field.as_deref().is_none_or(|v| v.trim().is_empty()))
    }
}

/// A key inside a Kubernetes Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeyRef {
    /// Name of the Secret, in the object's namespace.
    pub name: String,
    /// Key within the Secret.
    pub key: String,
}

/// Returns the value when it is set and not blank.
pub(crate) fn non_blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}
