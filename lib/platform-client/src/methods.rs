//! One method per route, each built from its [`endpoints`] constant.

use serde_json::{Value, json};

use crate::endpoints as ep;
use crate::types::*;
use crate::{Client, ClientError, NO_BODY};

fn opt(pairs: &mut Vec<(&'static str, String)>, key: &'static str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        pairs.push((key, v.to_string()));
    }
}

impl Client {
    // ---- sign-in and accounts ------------------------------------------------------------

    /// `POST /api/v1/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> Result<TokenResponse, ClientError> {
        self.call(&ep::LOGIN, &[], &[], Some(&json!({ "email": email, "password": password }))).await
    }

    /// `POST /api/v1/auth/refresh`: a new token pair for a refresh token (single use).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, ClientError> {
        self.call(&ep::REFRESH, &[], &[], Some(&json!({ "refresh_token": refresh_token }))).await
    }

    /// `POST /api/v1/auth/logout`: revokes the refresh token (and its session).
    pub async fn logout(&self, refresh_token: &str) -> Result<(), ClientError> {
        self.call_empty(&ep::LOGOUT, &[], Some(&json!({ "refresh_token": refresh_token }))).await
    }

    /// `POST /api/v1/auth/oidc/token`: exchanges an id_token of the configured issuer.
    pub async fn oidc_token(&self, id_token: &str) -> Result<TokenResponse, ClientError> {
        self.call(&ep::OIDC_TOKEN, &[], &[], Some(&json!({ "id_token": id_token }))).await
    }

    /// `GET /api/v1/me`.
    pub async fn me(&self) -> Result<Me, ClientError> {
        self.call(&ep::ME, &[], &[], NO_BODY).await
    }

    /// `GET /api/v1/api-keys`.
    pub async fn api_keys(&self) -> Result<Page<ApiKey>, ClientError> {
        self.call(&ep::API_KEYS, &[], &[], NO_BODY).await
    }

    /// `POST /api/v1/api-keys`.
    pub async fn create_api_key(&self, req: &CreateKey) -> Result<CreatedKey, ClientError> {
        self.call(&ep::API_KEY_CREATE, &[], &[], Some(req)).await
    }

    /// `DELETE /api/v1/api-keys/{id}`.
    pub async fn delete_api_key(&self, id: &str) -> Result<(), ClientError> {
        self.call_empty(&ep::API_KEY_DELETE, &[id], NO_BODY).await
    }

    /// `GET /api/v1/users` (administrators).
    pub async fn users(&self, cursor: Option<&str>) -> Result<Page<User>, ClientError> {
        let mut q = Vec::new();
        opt(&mut q, "cursor", cursor);
        self.call(&ep::USERS, &[], &q, NO_BODY).await
    }

    /// `POST /api/v1/users` (administrators).
    pub async fn create_user(&self, req: &CreateUser) -> Result<User, ClientError> {
        self.call(&ep::USER_CREATE, &[], &[], Some(req)).await
    }

    // ---- teams ---------------------------------------------------------------------------

    /// `GET /api/v1/teams`.
    pub async fn teams(&self) -> Result<Page<TeamView>, ClientError> {
        self.call(&ep::TEAMS, &[], &[], NO_BODY).await
    }

    /// `POST /api/v1/teams` (administrators).
    pub async fn create_team(&self, req: &CreateTeam) -> Result<TeamView, ClientError> {
        self.call(&ep::TEAM_CREATE, &[], &[], Some(req)).await
    }

    /// `GET /api/v1/teams/{team}`.
    pub async fn team(&self, team: &str) -> Result<TeamView, ClientError> {
        self.call(&ep::TEAM_GET, &[team], &[], NO_BODY).await
    }

    /// `DELETE /api/v1/teams/{team}`.
    pub async fn delete_team(&self, team: &str) -> Result<(), ClientError> {
        self.call_empty(&ep::TEAM_DELETE, &[team], NO_BODY).await
    }

    /// `GET /api/v1/teams/{team}/members`.
    pub async fn members(&self, team: &str) -> Result<Page<Member>, ClientError> {
        self.call(&ep::MEMBERS, &[team], &[], NO_BODY).await
    }

    /// `PUT /api/v1/teams/{team}/members/{user_id}`: adds a member or changes their role.
    pub async fn put_member(&self, team: &str, user_id: &str, role: &str) -> Result<Member, ClientError> {
        self.call(&ep::MEMBER_PUT, &[team, user_id], &[], Some(&json!({ "role": role }))).await
    }

    /// `DELETE /api/v1/teams/{team}/members/{user_id}`.
    pub async fn remove_member(&self, team: &str, user_id: &str) -> Result<(), ClientError> {
        self.call_empty(&ep::MEMBER_DELETE, &[team, user_id], NO_BODY).await
    }

    // ---- runtime: the image registry ------------------------------------------------------

    /// `POST /api/v1/runtime/registry/push?team=&name=[&tag=]`: uploads an image archive (OCI
    /// layout or docker save tar); the platform pushes it under the team's path.
    pub async fn registry_push(
        &self,
        team: &str,
        name: &str,
        tag: Option<&str>,
        archive: bytes::Bytes,
    ) -> Result<Pushed, ClientError> {
        let mut q = vec![("team", team.to_string()), ("name", name.to_string())];
        opt(&mut q, "tag", tag);
        self.call_raw(
            &ep::REGISTRY_PUSH,
            &q,
            archive,
            "application/x-tar",
            std::time::Duration::from_secs(900),
        )
        .await
    }

    /// `GET /api/v1/runtime/registry[?team=]`.
    pub async fn registry_info(&self, team: Option<&str>) -> Result<RegistryInfo, ClientError> {
        let mut q = Vec::new();
        opt(&mut q, "team", team);
        self.call(&ep::REGISTRY_INFO, &[], &q, NO_BODY).await
    }

    /// `GET /api/v1/user/registry-credentials`.
    pub async fn registry_credentials(&self) -> Result<Page<RegistryCredential>, ClientError> {
        self.call(&ep::REGISTRY_CREDENTIALS, &[], &[], NO_BODY).await
    }

    /// `POST /api/v1/user/registry-credentials`.
    pub async fn create_registry_credential(
        &self,
        req: &CreateRegistryCredential,
    ) -> Result<CreatedRegistryCredential, ClientError> {
        self.call(&ep::REGISTRY_CREDENTIAL_CREATE, &[], &[], Some(req)).await
    }

    /// `DELETE /api/v1/user/registry-credentials/{id}`.
    pub async fn delete_registry_credential(&self, id: &str) -> Result<(), ClientError> {
        self.call_empty(&ep::REGISTRY_CREDENTIAL_DELETE, &[id], NO_BODY).await
    }

    // ---- runtime: servers ----------------------------------------------------------------

    /// `GET /api/v1/runtime/servers[?team=]`.
    pub async fn servers(&self, team: Option<&str>) -> Result<ServerList, ClientError> {
        let mut q = Vec::new();
        opt(&mut q, "team", team);
        self.call(&ep::SERVERS, &[], &q, NO_BODY).await
    }

    /// `POST /api/v1/runtime/servers`: publishes (or, with `update`, replaces) a server.
    pub async fn publish_server(&self, req: &PublishServer) -> Result<ServerItem, ClientError> {
        self.call(&ep::SERVER_PUBLISH, &[], &[], Some(req)).await
    }

    /// `GET /api/v1/runtime/servers/{team}/{name}`.
    pub async fn server(&self, team: &str, name: &str) -> Result<ServerItem, ClientError> {
        self.call(&ep::SERVER_GET, &[team, name], &[], NO_BODY).await
    }

    /// `DELETE /api/v1/runtime/servers/{team}/{name}`.
    pub async fn delete_server(&self, team: &str, name: &str) -> Result<(), ClientError> {
        self.call_empty(&ep::SERVER_DELETE, &[team, name], NO_BODY).await
    }

    /// `GET /api/v1/runtime/servers/{team}/{name}/policy`.
    pub async fn server_policy(&self, team: &str, name: &str) -> Result<RenderedPolicy, ClientError> {
        self.call(&ep::SERVER_POLICY, &[team, name], &[], NO_BODY).await
    }

    // ---- runtime: grants -----------------------------------------------------------------

    /// `GET /api/v1/runtime/grants[?team=&server=]`.
    pub async fn grants(
        &self,
        team: Option<&str>,
        server: Option<&str>,
    ) -> Result<Page<GrantItem>, ClientError> {
        let mut q = Vec::new();
        opt(&mut q, "team", team);
        opt(&mut q, "server", server);
        self.call(&ep::GRANTS, &[], &q, NO_BODY).await
    }

    /// `POST /api/v1/runtime/grants`: creates or replaces a grant (`spec` is an
    /// `MCPAccessGrant` spec).
    pub async fn apply_grant(&self, team: &str, name: &str, spec: &Value) -> Result<GrantItem, ClientError> {
        let body = json!({ "team": team, "name": name, "spec": spec });
        self.call(&ep::GRANT_APPLY, &[], &[], Some(&body)).await
    }

    /// `GET /api/v1/runtime/grants/{team}/{name}`.
    pub async fn grant(&self, team: &str, name: &str) -> Result<GrantItem, ClientError> {
        self.call(&ep::GRANT_GET, &[team, name], &[], NO_BODY).await
    }

    /// `DELETE /api/v1/runtime/grants/{team}/{name}`.
    pub async fn delete_grant(&self, team: &str, name: &str) -> Result<(), ClientError> {
        self.call_empty(&ep::GRANT_DELETE, &[team, name], NO_BODY).await
    }

    /// `POST /api/v1/runtime/grants/{team}/{name}/enable`.
    pub async fn enable_grant(&self, team: &str, name: &str) -> Result<GrantItem, ClientError> {
        self.call(&ep::GRANT_ENABLE, &[team, name], &[], NO_BODY).await
    }

    /// `POST /api/v1/runtime/grants/{team}/{name}/disable`.
    pub async fn disable_grant(&self, team: &str, name: &str) -> Result<GrantItem, ClientError> {
        self.call(&ep::GRANT_DISABLE, &[team, name], &[], NO_BODY).await
    }

    /// `POST /api/v1/runtime/grants/{team}/{name}/revoke-sessions`.
    pub async fn revoke_grant_sessions(&self, team: &str, name: &str) -> Result<Revoked, ClientError> {
        self.call(&ep::GRANT_REVOKE_SESSIONS, &[team, name], &[], NO_BODY).await
    }

    // ---- runtime: sessions ---------------------------------------------------------------

    /// `GET /api/v1/runtime/sessions[?team=&server=]`.
    pub async fn sessions(
        &self,
        team: Option<&str>,
        server: Option<&str>,
    ) -> Result<Page<SessionItem>, ClientError> {
        let mut q = Vec::new();
        opt(&mut q, "team", team);
        opt(&mut q, "server", server);
        self.call(&ep::SESSIONS, &[], &q, NO_BODY).await
    }

    /// `POST /api/v1/runtime/sessions`: creates or replaces a session (`spec` is an
    /// `MCPAgentSession` spec).
    pub async fn apply_session(
        &self,
        team: &str,
        name: &str,
        spec: &Value,
    ) -> Result<SessionItem, ClientError> {
        let body = json!({ "team": team, "name": name, "spec": spec });
        self.call(&ep::SESSION_APPLY, &[], &[], Some(&body)).await
    }

    /// `GET /api/v1/runtime/sessions/{team}/{name}`.
    pub async fn session(&self, team: &str, name: &str) -> Result<SessionItem, ClientError> {
        self.call(&ep::SESSION_GET, &[team, name], &[], NO_BODY).await
    }

    /// `DELETE /api/v1/runtime/sessions/{team}/{name}`.
    pub async fn delete_session(&self, team: &str, name: &str) -> Result<(), ClientError> {
        self.call_empty(&ep::SESSION_DELETE, &[team, name], NO_BODY).await
    }

    /// `POST /api/v1/runtime/sessions/{team}/{name}/revoke`.
    pub async fn revoke_session(&self, team: &str, name: &str) -> Result<SessionItem, ClientError> {
        self.call(&ep::SESSION_REVOKE, &[team, name], &[], NO_BODY).await
    }

    /// `POST /api/v1/runtime/sessions/{team}/{name}/unrevoke`.
    pub async fn unrevoke_session(&self, team: &str, name: &str) -> Result<SessionItem, ClientError> {
        self.call(&ep::SESSION_UNREVOKE, &[team, name], &[], NO_BODY).await
    }

    // ---- runtime: adapter sessions -------------------------------------------------------

    /// `POST /api/v1/runtime/adapter/sessions`: issues (or reuses) the caller's session for an
    /// agent on a server, with its session token.
    pub async fn issue_adapter_session(
        &self,
        req: &AdapterSessionRequest,
    ) -> Result<AdapterSession, ClientError> {
        self.call(&ep::ADAPTER_SESSION, &[], &[], Some(req)).await
    }

    /// `POST /api/v1/runtime/adapter/sessions/{team}/{name}/token`: a fresh session token for
    /// a live session of the caller.
    pub async fn refresh_adapter_token(&self, team: &str, name: &str) -> Result<AdapterToken, ClientError> {
        self.call(&ep::ADAPTER_TOKEN, &[team, name], &[], NO_BODY).await
    }

    // ---- runtime: agents -----------------------------------------------------------------

    /// `GET /api/v1/runtime/teams/{team}/agents[?status=&q=]`.
    pub async fn agents(
        &self,
        team: &str,
        status: Option<&str>,
        query: Option<&str>,
    ) -> Result<Page<Agent>, ClientError> {
        let mut q = Vec::new();
        opt(&mut q, "status", status);
        opt(&mut q, "q", query);
        self.call(&ep::AGENTS, &[team], &q, NO_BODY).await
    }

    /// `POST /api/v1/runtime/teams/{team}/agents`.
    pub async fn create_agent(
        &self,
        team: &str,
        name: &str,
        description: Option<&str>,
    ) -> Result<Agent, ClientError> {
        let mut body = json!({ "name": name });
        if let Some(d) = description {
            body["description"] = json!(d);
        }
        self.call(&ep::AGENT_CREATE, &[team], &[], Some(&body)).await
    }

    /// `GET /api/v1/runtime/agents/{id}`.
    pub async fn agent(&self, id: &str) -> Result<Agent, ClientError> {
        self.call(&ep::AGENT_GET, &[id], &[], NO_BODY).await
    }

    /// `PATCH /api/v1/runtime/agents/{id}`: renames and/or redescribes.
    pub async fn update_agent(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Agent, ClientError> {
        let mut body = serde_json::Map::new();
        if let Some(n) = name {
            body.insert("name".into(), json!(n));
        }
        if let Some(d) = description {
            body.insert("description".into(), json!(d));
        }
        self.call(&ep::AGENT_UPDATE, &[id], &[], Some(&Value::Object(body))).await
    }

    /// `POST /api/v1/runtime/agents/{id}/deactivate` (revokes its sessions).
    pub async fn deactivate_agent(&self, id: &str) -> Result<AgentState, ClientError> {
        self.call(&ep::AGENT_DEACTIVATE, &[id], &[], NO_BODY).await
    }

    /// `POST /api/v1/runtime/agents/{id}/reactivate`.
    pub async fn reactivate_agent(&self, id: &str) -> Result<AgentState, ClientError> {
        self.call(&ep::AGENT_REACTIVATE, &[id], &[], NO_BODY).await
    }

    // ---- policy replay -------------------------------------------------------------------

    /// `POST /api/v1/runtime/policy/replay`.
    pub async fn replay(&self, req: &ReplayRequest) -> Result<ReplayReport, ClientError> {
        self.call(&ep::POLICY_REPLAY, &[], &[], Some(req)).await
    }

    // ---- catalog -------------------------------------------------------------------------

    /// `GET /api/v1/catalog/tools`: tool rows (`{items: [...]}`).
    pub async fn catalog_tools(&self, filter: &CatalogFilter) -> Result<Page<Value>, ClientError> {
        self.call(&ep::CATALOG_TOOLS, &[], &filter.pairs(), NO_BODY).await
    }

    /// `GET /api/v1/catalog/servers`.
    pub async fn catalog_servers(&self, filter: &CatalogFilter) -> Result<Page<Value>, ClientError> {
        self.call(&ep::CATALOG_SERVERS, &[], &filter.pairs(), NO_BODY).await
    }

    /// `GET /api/v1/catalog/servers/{team}/{name}/connect[?agent=]`: client configs
    /// (`{claude_desktop, cursor, vscode, json}`).
    pub async fn connect_config(
        &self,
        team: &str,
        name: &str,
        agent: Option<&str>,
    ) -> Result<Value, ClientError> {
        let mut q = Vec::new();
        opt(&mut q, "agent", agent);
        self.call(&ep::CATALOG_CONNECT, &[team, name], &q, NO_BODY).await
    }

    // ---- analytics -----------------------------------------------------------------------

    /// `GET /api/v1/events` (administrators) or, with `team`,
    /// `GET /api/v1/teams/{team}/analytics/events`; `filters` are the API's query parameters
    /// (`server`, `decision`, `since`, `limit`, `cursor`, …).
    pub async fn events(
        &self,
        team: Option<&str>,
        filters: &[(&str, String)],
    ) -> Result<EventPage, ClientError> {
        match team {
            Some(t) => self.call(&ep::TEAM_EVENTS, &[t], filters, NO_BODY).await,
            None => self.call(&ep::EVENTS, &[], filters, NO_BODY).await,
        }
    }

    /// `GET /api/v1/analytics/usage` (administrators) or `GET /api/v1/teams/{team}/analytics/usage`.
    pub async fn usage(&self, team: Option<&str>, filters: &[(&str, String)]) -> Result<Value, ClientError> {
        match team {
            Some(t) => self.call(&ep::TEAM_USAGE, &[t], filters, NO_BODY).await,
            None => self.call(&ep::USAGE, &[], filters, NO_BODY).await,
        }
    }

    // ---- service -------------------------------------------------------------------------

    /// `GET /ready`.
    pub async fn ready(&self) -> Result<Value, ClientError> {
        self.call(&ep::READY, &[], &[], NO_BODY).await
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Value, ClientError> {
        self.call(&ep::HEALTH, &[], &[], NO_BODY).await
    }

    /// `GET /api/v1/admin/components` (administrators): `{status, items: [{component, status,
    /// detail}]}` for the store, runtime backend, analytics, audit and signing keys.
    pub async fn components(&self) -> Result<Value, ClientError> {
        self.call(&ep::COMPONENTS, &[], &[], NO_BODY).await
    }
}
