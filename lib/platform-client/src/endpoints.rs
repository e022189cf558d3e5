//! Every route the client calls, in one table. Methods build their requests from these
//! constants only, and `tests::every_endpoint_is_in_the_openapi_document` checks each
//! (method, path template) against `docs/platform-openapi.json`, so the client and the API
//! cannot drift apart silently.

/// One route of the platform API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path template with `{param}` placeholders, exactly as in the OpenAPI document.
    pub path: &'static str,
}

const fn ep(method: &'static str, path: &'static str) -> Endpoint {
    Endpoint { method, path }
}

// Sign-in and accounts.
pub const LOGIN: Endpoint = ep("POST", "/api/v1/auth/login");
pub const REFRESH: Endpoint = ep("POST", "/api/v1/auth/refresh");
pub const LOGOUT: Endpoint = ep("POST", "/api/v1/auth/logout");
pub const OIDC_TOKEN: Endpoint = ep("POST", "/api/v1/auth/oidc/token");
pub const ME: Endpoint = ep("GET", "/api/v1/me");
pub const API_KEYS: Endpoint = ep("GET", "/api/v1/api-keys");
pub const API_KEY_CREATE: Endpoint = ep("POST", "/api/v1/api-keys");
pub const API_KEY_DELETE: Endpoint = ep("DELETE", "/api/v1/api-keys/{id}");
pub const USERS: Endpoint = ep("GET", "/api/v1/users");
pub const USER_CREATE: Endpoint = ep("POST", "/api/v1/users");

// Teams.
pub const TEAMS: Endpoint = ep("GET", "/api/v1/teams");
pub const TEAM_CREATE: Endpoint = ep("POST", "/api/v1/teams");
pub const TEAM_GET: Endpoint = ep("GET", "/api/v1/teams/{team}");
pub const TEAM_DELETE: Endpoint = ep("DELETE", "/api/v1/teams/{team}");
pub const MEMBERS: Endpoint = ep("GET", "/api/v1/teams/{team}/members");
pub const MEMBER_PUT: Endpoint = ep("PUT", "/api/v1/teams/{team}/members/{user_id}");
pub const MEMBER_DELETE: Endpoint = ep("DELETE", "/api/v1/teams/{team}/members/{user_id}");

// Runtime: servers.
pub const SERVERS: Endpoint = ep("GET", "/api/v1/runtime/servers");
pub const SERVER_PUBLISH: Endpoint = ep("POST", "/api/v1/runtime/servers");
pub const SERVER_GET: Endpoint = ep("GET", "/api/v1/runtime/servers/{team}/{name}");
pub const SERVER_DELETE: Endpoint = ep("DELETE", "/api/v1/runtime/servers/{team}/{name}");
pub const SERVER_POLICY: Endpoint = ep("GET", "/api/v1/runtime/servers/{team}/{name}/policy");

// Runtime: grants.
pub const GRANTS: Endpoint = ep("GET", "/api/v1/runtime/grants");
pub const GRANT_APPLY: Endpoint = ep("POST", "/api/v1/runtime/grants");
pub const GRANT_GET: Endpoint = ep("GET", "/api/v1/runtime/grants/{team}/{name}");
pub const GRANT_DELETE: Endpoint = ep("DELETE", "/api/v1/runtime/grants/{team}/{name}");
pub const GRANT_ENABLE: Endpoint = ep("POST", "/api/v1/runtime/grants/{team}/{name}/enable");
pub const GRANT_DISABLE: Endpoint = ep("POST", "/api/v1/runtime/grants/{team}/{name}/disable");
pub const GRANT_REVOKE_SESSIONS: Endpoint =
    ep("POST", "/api/v1/runtime/grants/{team}/{name}/revoke-sessions");

// Runtime: sessions.
pub const SESSIONS: Endpoint = ep("GET", "/api/v1/runtime/sessions");
pub const SESSION_APPLY: Endpoint = ep("POST", "/api/v1/runtime/sessions");
pub const SESSION_GET: Endpoint = ep("GET", "/api/v1/runtime/sessions/{team}/{name}");
pub const SESSION_DELETE: Endpoint = ep("DELETE", "/api/v1/runtime/sessions/{team}/{name}");
pub const SESSION_REVOKE: Endpoint = ep("POST", "/api/v1/runtime/sessions/{team}/{name}/revoke");
pub const SESSION_UNREVOKE: Endpoint = ep("POST", "/api/v1/runtime/sessions/{team}/{name}/unrevoke");

// Runtime: adapter sessions.
pub const ADAPTER_SESSION: Endpoint = ep("POST", "/api/v1/runtime/adapter/sessions");
pub const ADAPTER_TOKEN: Endpoint = ep("POST", "/api/v1/runtime/adapter/sessions/{team}/{name}/token");

// Runtime: agents.
pub const AGENTS: Endpoint = ep("GET", "/api/v1/runtime/teams/{team}/agents");
pub const AGENT_CREATE: Endpoint = ep("POST", "/api/v1/runtime/teams/{team}/agents");
pub const AGENT_GET: Endpoint = ep("GET", "/api/v1/runtime/agents/{id}");
pub const AGENT_UPDATE: Endpoint = ep("PATCH", "/api/v1/runtime/agents/{id}");
pub const AGENT_DEACTIVATE: Endpoint = ep("POST", "/api/v1/runtime/agents/{id}/deactivate");
pub const AGENT_REACTIVATE: Endpoint = ep("POST", "/api/v1/runtime/agents/{id}/reactivate");

// Runtime: policy replay.
pub const POLICY_REPLAY: Endpoint = ep("POST", "/api/v1/runtime/policy/replay");

// Runtime: the image registry.
pub const REGISTRY_PUSH: Endpoint = ep("POST", "/api/v1/runtime/registry/push");
pub const REGISTRY_INFO: Endpoint = ep("GET", "/api/v1/runtime/registry");
pub const REGISTRY_CREDENTIALS: Endpoint = ep("GET", "/api/v1/user/registry-credentials");
pub const REGISTRY_CREDENTIAL_CREATE: Endpoint = ep("POST", "/api/v1/user/registry-credentials");
pub const REGISTRY_CREDENTIAL_DELETE: Endpoint = ep("DELETE", "/api/v1/user/registry-credentials/{id}");

// Catalog.
pub const CATALOG_SERVERS: Endpoint = ep("GET", "/api/v1/catalog/servers");
pub const CATALOG_TOOLS: Endpoint = ep("GET", "/api/v1/catalog/tools");
pub const CATALOG_CONNECT: Endpoint = ep("GET", "/api/v1/catalog/servers/{team}/{name}/connect");

// Analytics.
pub const EVENTS: Endpoint = ep("GET", "/api/v1/events");
pub const TEAM_EVENTS: Endpoint = ep("GET", "/api/v1/teams/{team}/analytics/events");
pub const USAGE: Endpoint = ep("GET", "/api/v1/analytics/usage");
pub const TEAM_USAGE: Endpoint = ep("GET", "/api/v1/teams/{team}/analytics/usage");

// Service.
pub const READY: Endpoint = ep("GET", "/ready");
pub const HEALTH: Endpoint = ep("GET", "/health");
pub const COMPONENTS: Endpoint = ep("GET", "/api/v1/admin/components");

/// Every endpoint above.
pub const ALL: &[Endpoint] = &[
    LOGIN,
    REFRESH,
    LOGOUT,
    OIDC_TOKEN,
    ME,
    API_KEYS,
    API_KEY_CREATE,
    API_KEY_DELETE,
    USERS,
    USER_CREATE,
    TEAMS,
    TEAM_CREATE,
    TEAM_GET,
    TEAM_DELETE,
    MEMBERS,
    MEMBER_PUT,
    MEMBER_DELETE,
    SERVERS,
    SERVER_PUBLISH,
    SERVER_GET,
    SERVER_DELETE,
    SERVER_POLICY,
    GRANTS,
    GRANT_APPLY,
    GRANT_GET,
    GRANT_DELETE,
    GRANT_ENABLE,
    GRANT_DISABLE,
    GRANT_REVOKE_SESSIONS,
    SESSIONS,
    SESSION_APPLY,
    SESSION_GET,
    SESSION_DELETE,
    SESSION_REVOKE,
    SESSION_UNREVOKE,
    ADAPTER_SESSION,
    ADAPTER_TOKEN,
    AGENTS,
    AGENT_CREATE,
    AGENT_GET,
    AGENT_UPDATE,
    AGENT_DEACTIVATE,
    AGENT_REACTIVATE,
    REGISTRY_PUSH,
    REGISTRY_INFO,
    REGISTRY_CREDENTIALS,
    REGISTRY_CREDENTIAL_CREATE,
    REGISTRY_CREDENTIAL_DELETE,
    POLICY_REPLAY,
    CATALOG_SERVERS,
    CATALOG_TOOLS,
    CATALOG_CONNECT,
    EVENTS,
    TEAM_EVENTS,
    USAGE,
    TEAM_USAGE,
    READY,
    HEALTH,
    COMPONENTS,
];

impl Endpoint {
    /// The path with each `{param}` replaced, in order, by the percent-encoded `params`.
    /// Returns `None` when the counts differ (a bug in the caller).
    pub fn fill(&self, params: &[&str]) -> Option<String> {
        let mut out = String::with_capacity(self.path.len() + 16);
        let mut rest = self.path;
        let mut params = params.iter();
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}')? + open;
            out.push_str(&rest[..open]);
            out.push_str(&encode_segment(params.next()?));
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        params.next().is_none().then_some(out)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
