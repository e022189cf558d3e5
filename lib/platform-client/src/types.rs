//! Request and response bodies, owned by the client (it does not depend on `mcp-platform`).
//!
//! Responses are lenient: unknown fields are ignored and missing ones take their default, so a
//! newer platform does not break an older client. Objects the platform passes through from
//! Kubernetes (servers, grants, sessions, policies) stay `serde_json::Value`. Every field name
//! a response type reads is checked against the OpenAPI schema it names (see the tests).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `TokenResponse`: tokens answered by sign-in and refresh.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: User,
}

/// `User`: a person or a service account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub kind: String,
    pub is_admin: bool,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<i64>,
}

/// `Me`: the caller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Me {
    pub user: User,
    pub teams: Vec<TeamView>,
    /// `access_token` or `api_key`.
    pub auth: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// `TeamView`: a team as seen by the caller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamView {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub namespace: String,
    pub created_at: i64,
    /// The caller's role (none for administrators who are not members).
    pub role: Option<String>,
}

/// `Member`: a member of a team.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub joined_at: i64,
}

/// `ApiKey`: an API key as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// `CreatedKey`: a new key and its secret (shown once).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreatedKey {
    pub key: String,
    pub api_key: ApiKey,
}

/// `List_*`: a page of items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page { items: Vec::new(), next_cursor: None }
    }
}

/// `ServerItem`: a server with its team.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerItem {
    pub team: String,
    /// The `MCPServer` object (metadata, spec, status).
    pub server: Value,
}

/// `ServerList`: `GET /api/v1/runtime/servers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerList {
    pub items: Vec<ServerItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_policy: Option<Value>,
}

/// `GrantItem`: a grant with its team.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrantItem {
    pub team: String,
    /// The `MCPAccessGrant` object.
    pub grant: Value,
}

/// `SessionItem`: a session with its team.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionItem {
    pub team: String,
    /// The `MCPAgentSession` object.
    pub session: Value,
}

/// `RenderedPolicy`: a server's policy document as gateways get it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RenderedPolicy {
    pub revision: String,
    pub document: Value,
}

/// `Revoked`: how many sessions an action revoked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Revoked {
    pub revoked: u64,
    pub sessions: Vec<String>,
}

/// `Agent`: a managed agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Agent {
    pub id: String,
    pub team_id: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deactivated_at: Option<i64>,
}

/// `AgentState`: an agent after (de)activation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentState {
    pub agent: Agent,
    pub revoked: Revoked,
}

/// `AdapterSessionRequest`: `POST /api/v1/runtime/adapter/sessions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdapterSessionRequest {
    /// The server.
    pub server_name: String,
    /// Team owning the server (default: the caller's only team).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The managed agent (`agt_…`).
    #[serde(rename = "agentID")]
    pub agent_id: String,
    /// `low` (default), `medium` or `high`; capped by the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_trust: Option<String>,
    /// Lifetime (`30m`, `1h`; default 1 h, at most 24 h).
    #[serde(default, rename = "requestedTTL", skip_serializing_if = "Option::is_none")]
    pub requested_ttl: Option<String>,
}

/// `AdapterSession`: an issued (or reused) session and its session token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AdapterSession {
    /// Session name (`adapter-<16 hex>`).
    pub name: String,
    /// Team name.
    pub team: String,
    /// Namespace of the session.
    pub namespace: String,
    /// The human (`sub` of the token).
    #[serde(rename = "humanID")]
    pub human_id: String,
    /// The agent.
    #[serde(rename = "agentID")]
    pub agent_id: String,
    /// The team id (`team` of the token).
    #[serde(rename = "teamID")]
    pub team_id: String,
    /// The server.
    pub server_name: String,
    /// The grant that authorised it.
    pub grant_name: String,
    /// Consented trust.
    pub consented_trust: String,
    /// Policy version.
    pub policy_version: String,
    /// Session expiry (RFC 3339).
    pub expires_at: String,
    /// Whether a live session was reused.
    pub reused: bool,
    /// The session token (EdDSA JWT) for `Authorization: Bearer` at the server's gateway.
    pub token: String,
    /// When the token expires (RFC 3339; never after the session).
    pub token_expires_at: String,
    /// The token's audience: the server's public MCP URL.
    pub audience: String,
}

/// What `POST …/adapter/sessions/{team}/{name}/token` answers: the same shape as an issued
/// session, with a fresh token.
pub type AdapterToken = AdapterSession;

/// `Changes`: counts of changed calls in one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Changes {
    pub allow_to_deny: u64,
    pub deny_to_allow: u64,
}

/// `Sample`: one changed call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sample {
    pub event_id: String,
    pub timestamp: String,
    pub tool: String,
    pub human_id: String,
    pub agent_id: String,
    pub session_id: String,
    pub before: String,
    pub before_reason: String,
    pub after: String,
    pub after_reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_grant: Option<String>,
}

/// `Report`: a policy replay report (one page of the scan).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayReport {
    pub scanned: u64,
    pub evaluated: u64,
    pub unchanged: u64,
    pub changed: Changes,
    pub not_rejudged: BTreeMap<String, u64>,
    pub by_tool: BTreeMap<String, Changes>,
    pub by_agent: BTreeMap<String, Changes>,
    pub by_reason: BTreeMap<String, u64>,
    pub samples: Vec<Sample>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// `ReplayRequest`: `POST /api/v1/runtime/policy/replay`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayRequest {
    pub team: String,
    pub server: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// `MCPAccessGrant` objects (YAML) applied over the server's current grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<String>,
    /// `MCPAgentSession` objects (YAML) applied over the server's current sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `PublishServer`: `POST /api/v1/runtime/servers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PublishServer {
    pub team: String,
    pub name: String,
    /// The `MCPServer` spec.
    pub spec: Value,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub update: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `CreateTeam`: `POST /api/v1/teams`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateTeam {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `CreateUser`: `POST /api/v1/users`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateUser {
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `CreateKey`: `POST /api/v1/api-keys`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateKey {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Filters of the catalog lists (`GET /api/v1/catalog/tools|servers`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogFilter {
    pub query: Option<String>,
    pub team: Option<String>,
    pub server: Option<String>,
    pub trust: Option<String>,
    pub side_effect: Option<String>,
    pub risk: Option<String>,
    pub drift: Option<String>,
}

impl CatalogFilter {
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("query", &self.query),
            ("team", &self.team),
            ("server", &self.server),
            ("trust", &self.trust),
            ("side_effect", &self.side_effect),
            ("risk", &self.risk),
            ("drift", &self.drift),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// A page of audit events: `{events: [...], meta: {limit, next_cursor, has_more}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventPage {
    /// Events, newest first.
    pub events: Vec<Value>,
    pub meta: EventMeta,
}

/// Paging of [`EventPage`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMeta {
    pub limit: u64,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// `Pushed`: an image the platform pushed into its registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pushed {
    pub team: String,
    pub name: String,
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// `<host>/<team>/<name>@<digest>`: what to deploy.
    pub image: String,
    pub tagged: String,
    pub platform: String,
    pub size: u64,
}

/// `RegistryInfo`: what the platform's registry holds for the caller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryInfo {
    pub host: String,
    pub repositories: Vec<RegistryRepository>,
}

/// `Repository`: one repository of the registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryRepository {
    pub team: String,
    pub repository: String,
    pub image: String,
    pub tags: Vec<String>,
}

/// `RegistryCredential`: a registry credential (never its value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryCredential {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// `CreateRegistryCredential`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateRegistryCredential {
    pub name: String,
}

/// `CreatedRegistryCredential`: the value is shown this once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreatedRegistryCredential {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub username: String,
    pub value: String,
}
