//! The runtime routes (`/api/v1/runtime/…`): servers, grants, sessions, adapter sessions with
//! their signed session tokens, and the managed agent directory. Registered by [`register`]
//! in the one route table ([`crate::api::routes`]).
//!
//! Authorization: every object lives in a team's namespace. Callers outside the team get 404
//! (existence is not revealed); team members read; writing a server needs the member role;
//! administering a server's grants and sessions needs the owner role (or a platform
//! administrator); creating sessions directly is for administrators (agents get theirs from
//! `POST /api/v1/runtime/adapter/sessions`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use mcp_api::{
    MCPAccessGrant, MCPAccessGrantSpec, MCPAgentSession, MCPAgentSessionSpec, MCPServer, MCPServerSpec,
    ServerRef, Subject, TrustLevel, parse_rfc3339,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::agents::{Agent, is_agent_id, new_agent_id};
use super::kube_meta::ObjectMeta;
use super::{ListFilter, RenderedPolicy, RuntimeError};
use crate::AppState;
use crate::api::{ApiQuery, AuditNote, Caller, List, Routes, noted, team_access};
use crate::auth::Principal;
use crate::error::{ApiError, ApiJson, ErrorBody, json_response};
use crate::store::{Role, Team, now};

type St = State<Arc<AppState>>;

/// Adds the runtime routes to the table (one contiguous block).
pub(crate) fn register(r: Routes) -> Routes {
    r.add(Method::GET, "/api/v1/runtime/servers", "runtime.server.list", list_servers)
        .add(Method::POST, "/api/v1/runtime/servers", "runtime.server.publish", publish_server)
        .add(Method::GET, "/api/v1/runtime/servers/{team}/{name}", "runtime.server.get", get_server)
        .add(Method::DELETE, "/api/v1/runtime/servers/{team}/{name}", "runtime.server.delete", delete_server)
        .add(
            Method::GET,
            "/api/v1/runtime/servers/{team}/{name}/policy",
            "runtime.server.policy",
            server_policy,
        )
        .add(Method::GET, "/api/v1/runtime/grants", "runtime.grant.list", list_grants)
        .add(Method::POST, "/api/v1/runtime/grants", "runtime.grant.apply", apply_grant)
        .add(Method::GET, "/api/v1/runtime/grants/{team}/{name}", "runtime.grant.get", get_grant)
        .add(Method::PATCH, "/api/v1/runtime/grants/{team}/{name}", "runtime.grant.patch", patch_grant)
        .add(Method::DELETE, "/api/v1/runtime/grants/{team}/{name}", "runtime.grant.delete", delete_grant)
        .add(
            Method::POST,
            "/api/v1/runtime/grants/{team}/{name}/enable",
            "runtime.grant.enable",
            enable_grant,
        )
        .add(
            Method::POST,
            "/api/v1/runtime/grants/{team}/{name}/disable",
            "runtime.grant.disable",
            disable_grant,
        )
        .add(
            Method::POST,
            "/api/v1/runtime/grants/{team}/{name}/revoke-sessions",
            "runtime.grant.revoke_sessions",
            revoke_grant_sessions,
        )
        .add(Method::GET, "/api/v1/runtime/sessions", "runtime.session.list", list_sessions)
        .add(Method::POST, "/api/v1/runtime/sessions", "runtime.session.apply", apply_session)
        .add(Method::GET, "/api/v1/runtime/sessions/{team}/{name}", "runtime.session.get", get_session)
        .add(Method::PATCH, "/api/v1/runtime/sessions/{team}/{name}", "runtime.session.patch", patch_session)
        .add(
            Method::DELETE,
            "/api/v1/runtime/sessions/{team}/{name}",
            "runtime.session.delete",
            delete_session,
        )
        .add(
            Method::POST,
            "/api/v1/runtime/sessions/{team}/{name}/revoke",
            "runtime.session.revoke",
            revoke_session,
        )
        .add(
            Method::POST,
            "/api/v1/runtime/sessions/{team}/{name}/unrevoke",
            "runtime.session.unrevoke",
            unrevoke_session,
        )
        .add(Method::POST, "/api/v1/runtime/adapter/sessions", "runtime.adapter.session", adapter_session)
        .add(
            Method::POST,
            "/api/v1/runtime/adapter/sessions/{team}/{name}/token",
            "runtime.adapter.token",
            refresh_session_token,
        )
        .add(Method::GET, "/api/v1/runtime/teams/{team}/agents", "runtime.agent.list", list_agents)
        .add(Method::POST, "/api/v1/runtime/teams/{team}/agents", "runtime.agent.register", register_agent)
        .add(Method::GET, "/api/v1/runtime/agents/{id}", "runtime.agent.get", get_agent)
        .add(Method::PATCH, "/api/v1/runtime/agents/{id}", "runtime.agent.rename", rename_agent)
        .add(
            Method::POST,
            "/api/v1/runtime/agents/{id}/deactivate",
            "runtime.agent.deactivate",
            deactivate_agent,
        )
        .add(
            Method::POST,
            "/api/v1/runtime/agents/{id}/reactivate",
            "runtime.agent.reactivate",
            reactivate_agent,
        )
}

// ---- shared --------------------------------------------------------------------------------

impl From<RuntimeError> for ApiError {
    fn from(err: RuntimeError) -> ApiError {
        match err {
            RuntimeError::NotFound(m) => ApiError::not_found(m),
            RuntimeError::Conflict(m) => ApiError::conflict(m),
            RuntimeError::Invalid { field, value, message } => ApiError {
                details: Some(json!({ "field": field, "value": value })),
                ..ApiError::invalid(format!("{field}: {message} (value {value})"))
            },
            RuntimeError::Unavailable(m) => ApiError::unavailable(m),
            RuntimeError::Other(m) => ApiError::internal(m),
        }
    }
}

fn invalid(field: &str, value: &str, message: &str) -> ApiError {
    ApiError::from(RuntimeError::invalid(field, serde_json::to_string(value).unwrap_or_default(), message))
}

/// Owner of the team or a platform administrator.
fn require_administer(p: &Principal, role: Option<Role>) -> Result<(), ApiError> {
    if p.user.is_admin || role == Some(Role::Owner) {
        Ok(())
    } else {
        Err(ApiError::forbidden("administering this server needs the team's owner role"))
    }
}

fn meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), ..ObjectMeta::default() }
}

fn object_note(kind: &'static str, team: &Team, name: &str, details: Option<Value>) -> AuditNote {
    AuditNote {
        object_type: kind,
        object: format!("{}/{name}", team.name),
        team: Some(team.name.clone()),
        details,
        ..AuditNote::default()
    }
}

/// Teams the caller reads: `team` (checked) or every team they are in (administrators: all).
async fn visible_teams(state: &AppState, p: &Principal, team: Option<&str>) -> Result<Vec<Team>, ApiError> {
    match team {
        Some(name) => Ok(vec![team_access(state, p, name, Role::Viewer).await?.0]),
        None => Ok(state
            .store
            .list_teams(if p.user.is_admin { None } else { Some(&p.user.id) })
            .await?
            .into_iter()
            .map(|(t, _)| t)
            .collect()),
    }
}

/// Team name by namespace.
fn by_namespace(teams: &[Team]) -> std::collections::HashMap<&str, &str> {
    teams.iter().map(|t| (t.namespace.as_str(), t.name.as_str())).collect()
}

/// One backend call serves every visible team: the namespace when there is one team, else all
/// (filtered to the visible teams afterwards).
fn single_namespace(teams: &[Team]) -> Option<String> {
    match teams {
        [one] => Some(one.namespace.clone()),
        _ => None,
    }
}

// ---- servers -------------------------------------------------------------------------------

/// A server with its team.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerItem {
    /// Team name.
    pub team: String,
    /// The `MCPServer` (spec and status: phase, conditions, `url`, `policyRevision`, `toolPins`).
    #[schema(value_type = Object)]
    pub server: MCPServer,
}

/// The team's publishing limits.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublishPolicy {
    /// `PLATFORM_MCP_ACTIVE_SERVER_LIMIT` (0 = none).
    pub active_server_limit: u32,
    /// Servers the team has.
    pub active_server_count: usize,
    /// Whether a limit applies.
    pub active_server_limit_enabled: bool,
    /// Whether a new server may be published now.
    pub can_publish: bool,
    /// Seconds between two publishes (`PLATFORM_MCP_PUSH_COOLDOWN`).
    pub push_cooldown_seconds: u64,
    /// Whether a cooldown applies.
    pub push_cooldown_enabled: bool,
    /// When the next publish is allowed (unix seconds), while cooling down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_allowed_at: Option<i64>,
}

/// `GET /api/v1/runtime/servers` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerList {
    /// The servers, by team then name.
    pub items: Vec<ServerItem>,
    /// The limits of the team named by `team` (absent without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_policy: Option<PublishPolicy>,
}

/// `?team=` filter.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TeamFilter {
    /// Only this team.
    pub team: Option<String>,
    /// Only objects of this server.
    pub server: Option<String>,
    /// Only sessions authorised by this grant.
    pub grant: Option<String>,
    /// Only objects of this agent.
    pub agent: Option<String>,
}

async fn publish_policy(state: &AppState, team: &Team, count: usize) -> Result<PublishPolicy, ApiError> {
    let rc = &state.config.runtime;
    let cooldown = rc.push_cooldown.as_secs();
    let next = match state.store.last_push(&team.id).await? {
        Some(last) if cooldown > 0 => Some(last + i64::try_from(cooldown).unwrap_or(i64::MAX / 4)),
        _ => None,
    }
    .filter(|n| *n > now());
    Ok(PublishPolicy {
        active_server_limit: rc.active_server_limit,
        active_server_count: count,
        active_server_limit_enabled: rc.active_server_limit > 0,
        can_publish: (rc.active_server_limit == 0 || count < rc.active_server_limit as usize)
            && next.is_none(),
        push_cooldown_seconds: cooldown,
        push_cooldown_enabled: cooldown > 0,
        next_allowed_at: next,
    })
}

#[utoipa::path(get, path = "/api/v1/runtime/servers", tag = "runtime", params(TeamFilter), responses((status = 200, description = "servers of the caller's teams (administrators: all)", body = ServerList), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_servers(
    State(state): St,
    Caller(p): Caller,
    ApiQuery(f): ApiQuery<TeamFilter>,
) -> Result<Response, ApiError> {
    let teams = visible_teams(&state, &p, f.team.as_deref()).await?;
    let names = by_namespace(&teams);
    let filter =
        ListFilter { namespace: single_namespace(&teams), server: f.server.clone(), ..ListFilter::default() };
    let servers = if teams.is_empty() { Vec::new() } else { state.runtime.list_servers(&filter).await? };
    let items: Vec<ServerItem> = servers
        .into_iter()
        .filter_map(|server| {
            let team = names.get(super::namespace_of(&server.metadata))?.to_string();
            Some(ServerItem { team, server })
        })
        .collect();
    let policy = match (f.team.as_deref(), teams.first()) {
        (Some(_), Some(team)) => {
            let count = if f.server.is_some() {
                state.runtime.list_servers(&ListFilter::namespace(&team.namespace)).await?.len()
            } else {
                items.len()
            };
            Some(publish_policy(&state, team, count).await?)
        }
        _ => None,
    };
    Ok(json_response(StatusCode::OK, &ServerList { items, publish_policy: policy }))
}

/// `POST /api/v1/runtime/servers` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishServer {
    /// Team name.
    pub team: String,
    /// Server name (DNS-1123).
    pub name: String,
    /// Replace an existing server (without it an existing server is a 409).
    #[serde(default)]
    pub update: bool,
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The `MCPServer` spec; `teamID` is the team's id (set when omitted).
    #[schema(value_type = Object)]
    pub spec: MCPServerSpec,
}

#[utoipa::path(post, path = "/api/v1/runtime/servers", tag = "runtime", request_body = PublishServer, responses((status = 201, description = "published", body = ServerItem), (status = 200, description = "updated", body = ServerItem), (status = 429, description = "active-server limit or push cooldown; see Retry-After", body = ErrorBody), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn publish_server(
    State(state): St,
    Caller(p): Caller,
    ApiJson(req): ApiJson<PublishServer>,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &req.team, Role::Member).await?;
    let mut spec = req.spec;
    match spec.team_id.as_deref() {
        None | Some("") => spec.team_id = Some(team.id.clone()),
        Some(id) if id == team.id => {}
        Some(id) => return Err(invalid("spec.teamID", id, "must be the id of the publishing team")),
    }
    let existing = state.runtime.get_server(&team.namespace, &req.name).await?;
    if existing.is_some() && !req.update {
        return Err(ApiError::conflict(format!(
            "server {} exists in team {}; send `update: true` to replace it",
            req.name, team.name
        )));
    }
    let rc = &state.config.runtime;
    let at = now();
    if let Some(last) = state.store.last_push(&team.id).await? {
        let cooldown = i64::try_from(rc.push_cooldown.as_secs()).unwrap_or(i64::MAX / 4);
        if cooldown > 0 && at < last + cooldown {
            let next = last + cooldown;
            return Err(ApiError {
                details: Some(json!({"next_allowed_at": next, "push_cooldown_seconds": cooldown})),
                ..ApiError::too_many(
                    format!("team {} published less than {cooldown} s ago", team.name),
                    u64::try_from(next - at).unwrap_or(1),
                )
            });
        }
    }
    if existing.is_none() && rc.active_server_limit > 0 {
        let count = state.runtime.list_servers(&ListFilter::namespace(&team.namespace)).await?.len();
        if count >= rc.active_server_limit as usize {
            return Err(ApiError {
                details: Some(
                    json!({"active_server_limit": rc.active_server_limit, "active_server_count": count}),
                ),
                ..ApiError::too_many(
                    format!(
                        "team {} has {count} active servers, the limit is {}; delete one first",
                        team.name, rc.active_server_limit
                    ),
                    60,
                )
            });
        }
    }
    state.runtime.provision_team(&team).await?;
    if let Err(err) = crate::registry_push::ensure_pull_secret(&state, &team).await {
        // The server can still be published; its pods pull once the secret is there.
        tracing::warn!(team = %team.name, error = %err.message, "writing the team's registry pull secret failed");
    }
    let mut labels = req.labels;
    labels.insert("platform.mcpruntime.org/managed".into(), "true".into());
    labels.insert("platform.mcpruntime.org/user-id".into(), p.user.id.clone());
    labels.insert("platform.mcpruntime.org/team".into(), team.name.clone());
    let mut metadata = meta(&team.namespace, &req.name);
    metadata.labels = Some(labels);
    metadata.annotations = Some(BTreeMap::from([
        ("platform.mcpruntime.org/last-push-by".to_string(), p.user.email.clone()),
        (
            "platform.mcpruntime.org/last-push-at".to_string(),
            jiff::Timestamp::from_second(at).map(|t| t.to_string()).unwrap_or_default(),
        ),
    ]));
    let server = state.runtime.apply_server(MCPServer { metadata, spec, status: None }).await?;
    state.store.record_push(&team.id, at).await?;
    let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    let note = object_note("server", &team, &req.name, Some(json!({"update": existing.is_some()})));
    Ok(noted(json_response(status, &ServerItem { team: team.name.clone(), server }), note))
}

#[utoipa::path(get, path = "/api/v1/runtime/servers/{team}/{name}", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "server name")), responses((status = 200, description = "the server with its status", body = ServerItem), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_server(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &team, Role::Viewer).await?;
    let server = state
        .runtime
        .get_server(&team.namespace, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("no such server"))?;
    Ok(json_response(StatusCode::OK, &ServerItem { team: team.name, server }))
}

#[utoipa::path(delete, path = "/api/v1/runtime/servers/{team}/{name}", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "server name")), responses((status = 204, description = "deleted (frees a slot of the active-server limit)"), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_server(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &team, Role::Member).await?;
    if !state.runtime.delete_server(&team.namespace, &name).await? {
        return Err(ApiError::not_found("no such server"));
    }
    Ok(noted(StatusCode::NO_CONTENT.into_response(), object_note("server", &team, &name, None)))
}

#[utoipa::path(get, path = "/api/v1/runtime/servers/{team}/{name}/policy", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "server name")), responses((status = 200, description = "the policy gateways enforce and its revision", body = RenderedPolicy), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn server_policy(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (team, role) = team_access(&state, &p, &team, Role::Viewer).await?;
    require_administer(&p, role)?;
    let policy = state
        .runtime
        .server_policy(&team.namespace, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("no such server, or no policy rendered for it yet"))?;
    Ok(json_response(StatusCode::OK, &policy))
}

// ---- grants --------------------------------------------------------------------------------

/// A grant with its team.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantItem {
    /// Team name.
    pub team: String,
    /// The `MCPAccessGrant`.
    #[schema(value_type = Object)]
    pub grant: MCPAccessGrant,
}

/// A session with its team.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionItem {
    /// Team name.
    pub team: String,
    /// The `MCPAgentSession`.
    #[schema(value_type = Object)]
    pub session: MCPAgentSession,
}

/// `POST /api/v1/runtime/grants` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyGrant {
    /// Team name (the grant lives in the team's namespace, beside its server).
    pub team: String,
    /// Grant name (DNS-1123).
    pub name: String,
    /// The `MCPAccessGrant` spec.
    #[schema(value_type = Object)]
    pub spec: MCPAccessGrantSpec,
}

/// `POST /api/v1/runtime/sessions` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplySession {
    /// Team name.
    pub team: String,
    /// Session name (DNS-1123).
    pub name: String,
    /// The `MCPAgentSession` spec.
    #[schema(value_type = Object)]
    pub spec: MCPAgentSessionSpec,
}

/// Checks that `agent` (when set) is a well-formed, known, active agent of `team_id`.
async fn check_agent(
    state: &AppState,
    field: &str,
    agent: Option<&str>,
    team_id: &str,
) -> Result<(), ApiError> {
    let Some(agent) = agent.map(str::trim).filter(|a| !a.is_empty()) else { return Ok(()) };
    if !is_agent_id(agent) {
        return Err(invalid(field, agent, "is not an agent id (agt_ and 26 lower-case ULID characters)"));
    }
    let found = state.store.agent(agent).await?;
    match found {
        None => Err(invalid(field, agent, "no such agent")),
        Some(a) if a.team_id != team_id => Err(invalid(field, agent, "the agent belongs to another team")),
        Some(a) if !a.is_active() => Err(invalid(field, agent, "the agent is deactivated")),
        Some(_) => Ok(()),
    }
}

/// The team of a subject: its `teamID`, else the server's team.
fn subject_team<'a>(subject: &'a Subject, server_team: &'a str) -> &'a str {
    subject.team_id.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or(server_team)
}

/// A grant for another team's subjects (delegation): that team exists and the grant expires
/// within `PLATFORM_CROSS_TEAM_GRANT_MAX_TTL`.
async fn check_delegation(
    state: &AppState,
    spec: &MCPAccessGrantSpec,
    grant_team: &str,
) -> Result<(), ApiError> {
    let known = state.store.list_teams(None).await?.into_iter().any(|(t, _)| t.id == grant_team);
    if !known {
        return Err(invalid("spec.subject.teamID", grant_team, "no such team"));
    }
    let max = state.config.runtime.cross_team_grant_max_ttl.as_secs();
    let limit = now() + i64::try_from(max).unwrap_or(i64::MAX / 4);
    match spec.expires_at.as_deref() {
        None => {
            Err(invalid("spec.expiresAt", "", &format!("a cross-team grant must expire (within {max} s)")))
        }
        Some(text) => match parse_rfc3339(text) {
            Ok(t) if t.as_second() <= limit => Ok(()),
            Ok(_) => Err(invalid(
                "spec.expiresAt",
                text,
                &format!("a cross-team grant must expire within {max} s"),
            )),
            Err(_) => Err(invalid("spec.expiresAt", text, "is not an RFC 3339 timestamp")),
        },
    }
}

async fn server_team_id(state: &AppState, team: &Team, server: &ServerRef) -> Result<String, ApiError> {
    let found = state.runtime.get_server(&team.namespace, &server.name).await?;
    let Some(found) = found else {
        return Err(invalid("spec.serverRef.name", &server.name, "no such server in this team"));
    };
    Ok(found.spec.team_id.unwrap_or_else(|| team.id.clone()))
}

#[utoipa::path(get, path = "/api/v1/runtime/grants", tag = "runtime", params(TeamFilter), responses((status = 200, description = "grants of the caller's teams", body = List<GrantItem>), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_grants(
    State(state): St,
    Caller(p): Caller,
    ApiQuery(f): ApiQuery<TeamFilter>,
) -> Result<Response, ApiError> {
    let teams = visible_teams(&state, &p, f.team.as_deref()).await?;
    let names = by_namespace(&teams);
    let filter = ListFilter {
        namespace: single_namespace(&teams),
        server: f.server.clone(),
        agent_id: f.agent.clone(),
        grant_name: None,
    };
    let grants = if teams.is_empty() { Vec::new() } else { state.runtime.list_grants(&filter).await? };
    let items: Vec<GrantItem> = grants
        .into_iter()
        .filter_map(|grant| {
            let team = names.get(super::namespace_of(&grant.metadata))?.to_string();
            Some(GrantItem { team, grant })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &List { items, next_cursor: None }))
}

#[utoipa::path(post, path = "/api/v1/runtime/grants", tag = "runtime", request_body = ApplyGrant, responses((status = 201, description = "created", body = GrantItem), (status = 200, description = "replaced", body = GrantItem), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn apply_grant(
    State(state): St,
    Caller(p): Caller,
    ApiJson(req): ApiJson<ApplyGrant>,
) -> Result<Response, ApiError> {
    let (team, role) = team_access(&state, &p, &req.team, Role::Viewer).await?;
    require_administer(&p, role)?;
    let mut spec = req.spec;
    if spec.subject.is_empty() {
        return Err(invalid("spec.subject", "", "needs at least one of humanID, agentID or teamID"));
    }
    if spec.allowed_side_effects.is_empty() {
        return Err(invalid("spec.allowedSideEffects", "", "must list at least one side effect"));
    }
    let server_team = server_team_id(&state, &team, &spec.server_ref).await?;
    let grant_team = subject_team(&spec.subject, &server_team).to_string();
    if grant_team != server_team {
        check_delegation(&state, &spec, &grant_team).await?;
    }
    check_agent(&state, "spec.subject.agentID", spec.subject.agent_id.as_deref(), &grant_team).await?;
    let existing = state.runtime.get_grant(&team.namespace, &req.name).await?;
    if spec.disabled.is_none() {
        spec.disabled = existing.as_ref().and_then(|g| g.spec.disabled);
    }
    let grant = state
        .runtime
        .apply_grant(MCPAccessGrant { metadata: meta(&team.namespace, &req.name), spec, status: None })
        .await?;
    let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    let note = object_note("grant", &team, &req.name, None);
    Ok(noted(json_response(status, &GrantItem { team: team.name.clone(), grant }), note))
}

async fn grant_for(
    state: &AppState,
    p: &Principal,
    team: &str,
    name: &str,
    administer: bool,
) -> Result<(Team, MCPAccessGrant), ApiError> {
    let (team, role) = team_access(state, p, team, Role::Viewer).await?;
    let grant = state
        .runtime
        .get_grant(&team.namespace, name)
        .await?
        .ok_or_else(|| ApiError::not_found("no such grant"))?;
    if administer {
        require_administer(p, role)?;
    }
    Ok((team, grant))
}

#[utoipa::path(get, path = "/api/v1/runtime/grants/{team}/{name}", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "grant name")), responses((status = 200, description = "the grant", body = GrantItem), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_grant(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (team, grant) = grant_for(&state, &p, &team, &name, false).await?;
    Ok(json_response(StatusCode::OK, &GrantItem { team: team.name, grant }))
}

/// `PATCH /api/v1/runtime/grants/{team}/{name}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchGrant {
    /// Disable (true) or enable (false) the grant.
    pub disabled: bool,
}

async fn set_grant_disabled(
    state: &AppState,
    p: &Principal,
    team: &str,
    name: &str,
    disabled: bool,
) -> Result<Response, ApiError> {
    let (team, mut grant) = grant_for(state, p, team, name, true).await?;
    grant.spec.disabled = Some(disabled);
    let grant = state.runtime.apply_grant(grant).await?;
    let note = object_note("grant", &team, name, Some(json!({"disabled": disabled})));
    Ok(noted(json_response(StatusCode::OK, &GrantItem { team: team.name.clone(), grant }), note))
}

#[utoipa::path(patch, path = "/api/v1/runtime/grants/{team}/{name}", tag = "runtime", request_body = PatchGrant, params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "grant name")), responses((status = 200, description = "the grant", body = GrantItem), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn patch_grant(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<PatchGrant>,
) -> Result<Response, ApiError> {
    set_grant_disabled(&state, &p, &team, &name, req.disabled).await
}

#[utoipa::path(post, path = "/api/v1/runtime/grants/{team}/{name}/enable", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "grant name")), responses((status = 200, description = "enabled", body = GrantItem), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn enable_grant(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    set_grant_disabled(&state, &p, &team, &name, false).await
}

#[utoipa::path(post, path = "/api/v1/runtime/grants/{team}/{name}/disable", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "grant name")), responses((status = 200, description = "disabled", body = GrantItem), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn disable_grant(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    set_grant_disabled(&state, &p, &team, &name, true).await
}

#[utoipa::path(delete, path = "/api/v1/runtime/grants/{team}/{name}", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "grant name")), responses((status = 204, description = "deleted"), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_grant(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (team, _) = grant_for(&state, &p, &team, &name, true).await?;
    state.runtime.delete_grant(&team.namespace, &name).await?;
    Ok(noted(StatusCode::NO_CONTENT.into_response(), object_note("grant", &team, &name, None)))
}

/// How many sessions an action revoked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revoked {
    /// Sessions newly revoked.
    pub revoked: usize,
    /// Their names (`<team namespace>/<name>`).
    pub sessions: Vec<String>,
}

/// Revokes every session matching `filter` that is not revoked yet.
async fn revoke_matching(state: &AppState, filter: &ListFilter) -> Result<Revoked, ApiError> {
    let mut names = Vec::new();
    for mut s in state.runtime.list_sessions(filter).await? {
        if s.spec.revoked == Some(true) {
            continue;
        }
        names.push(format!(
            "{}/{}",
            s.metadata.namespace.clone().unwrap_or_default(),
            s.metadata.name.clone().unwrap_or_default()
        ));
        s.spec.revoked = Some(true);
        state.runtime.apply_session(s).await?;
    }
    Ok(Revoked { revoked: names.len(), sessions: names })
}

#[utoipa::path(post, path = "/api/v1/runtime/grants/{team}/{name}/revoke-sessions", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "grant name")), responses((status = 200, description = "the sessions the grant authorised are revoked", body = Revoked), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn revoke_grant_sessions(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (team, _) = grant_for(&state, &p, &team, &name, true).await?;
    let filter = ListFilter {
        namespace: Some(team.namespace.clone()),
        grant_name: Some(name.clone()),
        ..ListFilter::default()
    };
    let revoked = revoke_matching(&state, &filter).await?;
    let note = object_note("grant", &team, &name, Some(json!({"revoked": revoked.revoked})));
    Ok(noted(json_response(StatusCode::OK, &revoked), note))
}

// ---- sessions ------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/runtime/sessions", tag = "runtime", params(TeamFilter), responses((status = 200, description = "sessions of the caller's teams", body = List<SessionItem>), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_sessions(
    State(state): St,
    Caller(p): Caller,
    ApiQuery(f): ApiQuery<TeamFilter>,
) -> Result<Response, ApiError> {
    let teams = visible_teams(&state, &p, f.team.as_deref()).await?;
    let names = by_namespace(&teams);
    let filter = ListFilter {
        namespace: single_namespace(&teams),
        server: f.server.clone(),
        grant_name: f.grant.clone(),
        agent_id: f.agent.clone(),
    };
    let sessions = if teams.is_empty() { Vec::new() } else { state.runtime.list_sessions(&filter).await? };
    let items: Vec<SessionItem> = sessions
        .into_iter()
        .filter_map(|session| {
            let team = names.get(super::namespace_of(&session.metadata))?.to_string();
            Some(SessionItem { team, session })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &List { items, next_cursor: None }))
}

#[utoipa::path(post, path = "/api/v1/runtime/sessions", tag = "runtime", request_body = ApplySession, responses((status = 201, description = "created", body = SessionItem), (status = 200, description = "replaced", body = SessionItem), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn apply_session(
    State(state): St,
    Caller(p): Caller,
    ApiJson(req): ApiJson<ApplySession>,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &req.team, Role::Viewer).await?;
    p.require_admin()?;
    let spec = req.spec;
    let server_team = server_team_id(&state, &team, &spec.server_ref).await?;
    check_agent(
        &state,
        "spec.subject.agentID",
        spec.subject.agent_id.as_deref(),
        subject_team(&spec.subject, &server_team),
    )
    .await?;
    if let Some(g) = spec.grant_name.as_deref().filter(|g| !g.is_empty())
        && state.runtime.get_grant(&team.namespace, g).await?.is_none()
    {
        return Err(invalid("spec.grantName", g, "no such grant in this team"));
    }
    let existing = state.runtime.get_session(&team.namespace, &req.name).await?;
    let session = state
        .runtime
        .apply_session(MCPAgentSession { metadata: meta(&team.namespace, &req.name), spec, status: None })
        .await?;
    let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
    let note = object_note("agent_session", &team, &req.name, None);
    Ok(noted(json_response(status, &SessionItem { team: team.name.clone(), session }), note))
}

async fn session_for(
    state: &AppState,
    p: &Principal,
    team: &str,
    name: &str,
    administer: bool,
) -> Result<(Team, MCPAgentSession), ApiError> {
    let (team, role) = team_access(state, p, team, Role::Viewer).await?;
    let session = state
        .runtime
        .get_session(&team.namespace, name)
        .await?
        .ok_or_else(|| ApiError::not_found("no such session"))?;
    if administer {
        require_administer(p, role)?;
    }
    Ok((team, session))
}

#[utoipa::path(get, path = "/api/v1/runtime/sessions/{team}/{name}", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "session name")), responses((status = 200, description = "the session", body = SessionItem), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_session(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (team, session) = session_for(&state, &p, &team, &name, false).await?;
    Ok(json_response(StatusCode::OK, &SessionItem { team: team.name, session }))
}

/// `PATCH /api/v1/runtime/sessions/{team}/{name}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSession {
    /// Revoke (true) or reinstate (false) the session.
    pub revoked: bool,
}

async fn set_revoked(
    state: &AppState,
    p: &Principal,
    team: &str,
    name: &str,
    revoked: bool,
) -> Result<Response, ApiError> {
    let (team, mut session) = session_for(state, p, team, name, true).await?;
    if !revoked
        && let Some(agent) = session.spec.subject.agent_id.as_deref().filter(|a| !a.is_empty())
        && state.store.agent(agent).await?.is_some_and(|a| !a.is_active())
    {
        return Err(ApiError::conflict("the session's agent is deactivated; reactivate it first"));
    }
    session.spec.revoked = Some(revoked);
    let session = state.runtime.apply_session(session).await?;
    let note = object_note("agent_session", &team, name, Some(json!({"revoked": revoked})));
    Ok(noted(json_response(StatusCode::OK, &SessionItem { team: team.name.clone(), session }), note))
}

#[utoipa::path(patch, path = "/api/v1/runtime/sessions/{team}/{name}", tag = "runtime", request_body = PatchSession, params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "session name")), responses((status = 200, description = "the session", body = SessionItem), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn patch_session(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
    ApiJson(req): ApiJson<PatchSession>,
) -> Result<Response, ApiError> {
    set_revoked(&state, &p, &team, &name, req.revoked).await
}

#[utoipa::path(post, path = "/api/v1/runtime/sessions/{team}/{name}/revoke", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "session name")), responses((status = 200, description = "revoked: gateways refuse its token from the next policy reload", body = SessionItem), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn revoke_session(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    set_revoked(&state, &p, &team, &name, true).await
}

#[utoipa::path(post, path = "/api/v1/runtime/sessions/{team}/{name}/unrevoke", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "session name")), responses((status = 200, description = "reinstated", body = SessionItem), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn unrevoke_session(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    set_revoked(&state, &p, &team, &name, false).await
}

#[utoipa::path(delete, path = "/api/v1/runtime/sessions/{team}/{name}", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "session name")), responses((status = 204, description = "deleted"), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_session(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (team, _) = session_for(&state, &p, &team, &name, true).await?;
    state.runtime.delete_session(&team.namespace, &name).await?;
    Ok(noted(StatusCode::NO_CONTENT.into_response(), object_note("agent_session", &team, &name, None)))
}

// ---- adapter sessions and session tokens ---------------------------------------------------

/// `POST /api/v1/runtime/adapter/sessions` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AdapterSessionRequest {
    /// The server.
    pub server_name: String,
    /// Team owning the server (default: the caller's only team).
    #[serde(default)]
    pub team: Option<String>,
    /// The managed agent (`agt_…`).
    #[serde(rename = "agentID")]
    pub agent_id: String,
    /// `low` (default), `medium` or `high`; capped by the grant.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub requested_trust: Option<TrustLevel>,
    /// Lifetime (`30m`, `1h`; default 1 h, at most 24 h).
    #[serde(default, rename = "requestedTTL")]
    pub requested_ttl: Option<String>,
}

/// An issued (or reused) session and its signed token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
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

const MAX_TTL: i64 = 24 * 3600;
const REUSE_MARGIN: i64 = 30;

/// `adapter-` + the first 16 hex characters of SHA-256(human NUL agent NUL team NUL server).
pub fn adapter_session_name(human: &str, agent: &str, team: &str, server: &str) -> String {
    let mut h = Sha256::new();
    for (i, part) in [human, agent, team, server].iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(part.as_bytes());
    }
    format!("adapter-{}", &hex::encode(h.finalize())[..16])
}

fn rfc3339(at: i64) -> String {
    jiff::Timestamp::from_second(at).map(|t| t.to_string()).unwrap_or_default()
}

fn expiry_of(s: &Option<String>) -> Option<i64> {
    s.as_deref().and_then(|t| parse_rfc3339(t).ok()).map(|t| t.as_second())
}

/// Signs a session token for `session` on a server whose public URL is `audience`.
fn sign_session_token(
    state: &AppState,
    session: &MCPAgentSession,
    audience: &str,
) -> Result<(String, i64), ApiError> {
    let at = now();
    let expires = expiry_of(&session.spec.expires_at).unwrap_or(at);
    let ttl = i64::try_from(state.config.access_ttl.as_secs()).unwrap_or(900);
    let exp = expires.min(at + ttl);
    let s = &session.spec.subject;
    let claims = json!({
        "iss": state.config.issuer,
        "aud": audience,
        "sub": s.human_id.clone().unwrap_or_default(),
        "agent": s.agent_id.clone().unwrap_or_default(),
        "team": s.team_id.clone().unwrap_or_default(),
        "sid": session.metadata.name.clone().unwrap_or_default(),
        "iat": at,
        "nbf": at,
        "exp": exp,
    });
    let token = state.keys.ring().sign(&claims, at).map_err(ApiError::internal)?;
    Ok((token, exp))
}

fn server_url(server: &MCPServer) -> Result<String, ApiError> {
    server
        .status
        .as_ref()
        .and_then(|s| s.url.clone())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::conflict("the server has no public MCP URL yet (no token audience)"))
}

#[utoipa::path(post, path = "/api/v1/runtime/adapter/sessions", tag = "runtime", request_body = AdapterSessionRequest, responses((status = 200, description = "a live session (new or reused) and its session token", body = AdapterSession), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn adapter_session(
    State(state): St,
    Caller(p): Caller,
    ApiJson(req): ApiJson<AdapterSessionRequest>,
) -> Result<Response, ApiError> {
    let mine: Vec<Team> =
        state.store.list_teams(Some(&p.user.id)).await?.into_iter().map(|(t, _)| t).collect();
    let team = match req.team.as_deref() {
        Some(name) => {
            let t = state.store.team(name).await?.ok_or_else(|| ApiError::not_found("no such team"))?;
            // Outsiders may still hold a delegated grant (subject.teamID = one of theirs); the
            // candidate filter below decides. Without any team they see nothing.
            if mine.is_empty() && !p.user.is_admin {
                return Err(ApiError::not_found("no such team"));
            }
            t
        }
        None => match mine.as_slice() {
            [only] => only.clone(),
            _ => {
                return Err(ApiError::invalid_field(
                    "team",
                    "team is required (the caller is in several teams or none)",
                ));
            }
        },
    };
    let member = mine.iter().any(|t| t.id == team.id);
    let requested_trust = req.requested_trust.unwrap_or(TrustLevel::Low);
    let ttl = match req.requested_ttl.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => 3600,
        Some(text) => {
            let d = crate::config::parse_duration(text)
                .ok_or_else(|| invalid("requestedTTL", text, "is not a duration such as 30m or 1h"))?;
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if secs <= 0 {
                return Err(invalid("requestedTTL", text, "must be positive"));
            }
            secs.min(MAX_TTL)
        }
    };
    let agent_id = req.agent_id.trim().to_string();
    if !is_agent_id(&agent_id) {
        return Err(invalid(
            "agentID",
            &agent_id,
            "is not an agent id (agt_ and 26 lower-case ULID characters)",
        ));
    }
    let server = state
        .runtime
        .get_server(&team.namespace, &req.server_name)
        .await?
        .ok_or_else(|| ApiError::not_found("no such server"))?;
    let server_team = server.spec.team_id.clone().unwrap_or_else(|| team.id.clone());
    let at = now();
    let humans = [p.user.id.as_str(), p.user.email.as_str()];
    let filter = ListFilter::server(&team.namespace, &req.server_name);
    let mut candidates: Vec<(MCPAccessGrant, String)> = Vec::new();
    for g in state.runtime.list_grants(&filter).await? {
        let s = &g.spec;
        if s.disabled == Some(true) || expiry_of(&s.expires_at).is_some_and(|e| e <= at) {
            continue;
        }
        let human = s.subject.human_id.as_deref().unwrap_or_default().trim();
        if !human.is_empty() && !humans.contains(&human) {
            continue;
        }
        let agent = s.subject.agent_id.as_deref().unwrap_or_default().trim();
        if !agent.is_empty() && agent != agent_id {
            continue;
        }
        let grant_team = s.subject.team_id.as_deref().unwrap_or_default().trim();
        let session_team = if grant_team.is_empty() {
            if !member && !p.user.is_admin {
                continue;
            }
            server_team.clone()
        } else {
            if !p.user.is_admin && !mine.iter().any(|t| t.id == grant_team) {
                continue;
            }
            grant_team.to_string()
        };
        candidates.push((g, session_team));
    }
    if !member && !p.user.is_admin && candidates.is_empty() {
        return Err(ApiError::not_found("no such server"));
    }
    candidates.sort_by(|(a, _), (b, _)| {
        b.spec
            .max_trust
            .unwrap_or_default()
            .cmp(&a.spec.max_trust.unwrap_or_default())
            .then_with(|| {
                a.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let Some((grant, session_team)) = candidates.into_iter().next() else {
        return Err(ApiError::forbidden(format!(
            "no enabled grant lets agent {agent_id} act for you on server {} of team {}",
            req.server_name, team.name
        )));
    };
    let agent = state.store.agent(&agent_id).await?;
    match &agent {
        None => return Err(invalid("agentID", &agent_id, "no such agent")),
        Some(a) if a.team_id != session_team => {
            return Err(invalid("agentID", &agent_id, "the agent belongs to another team"));
        }
        Some(a) if !a.is_active() => return Err(ApiError::forbidden("the agent is deactivated")),
        Some(_) => {}
    }
    let audience = server_url(&server)?;
    let human = grant
        .spec
        .subject
        .human_id
        .clone()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| p.user.id.clone());
    let consented = requested_trust.min(grant.spec.max_trust.unwrap_or_default());
    let policy_version =
        grant.spec.policy_version.clone().filter(|v| !v.is_empty()).unwrap_or_else(|| "v1".into());
    let grant_name = grant.metadata.name.clone().unwrap_or_default();
    let name = adapter_session_name(&human, &agent_id, &session_team, &req.server_name);
    let existing = state.runtime.get_session(&team.namespace, &name).await?;
    let reusable = existing.filter(|s| {
        s.spec.revoked != Some(true)
            && s.spec.policy_version.as_deref().unwrap_or("v1") == policy_version
            && s.spec.consented_trust.unwrap_or_default() == consented
            && expiry_of(&s.spec.expires_at).is_some_and(|e| e > at + REUSE_MARGIN)
    });
    let (session, reused) = match reusable {
        Some(s) => (s, true),
        None => {
            let mut expires = at + ttl;
            if let Some(limit) = expiry_of(&grant.spec.expires_at) {
                expires = expires.min(limit);
            }
            let session = MCPAgentSession {
                metadata: meta(&team.namespace, &name),
                spec: MCPAgentSessionSpec {
                    server_ref: ServerRef { name: req.server_name.clone(), namespace: None },
                    subject: Subject {
                        human_id: Some(human.clone()),
                        agent_id: Some(agent_id.clone()),
                        team_id: Some(session_team.clone()),
                    },
                    consented_trust: Some(consented),
                    expires_at: Some(rfc3339(expires)),
                    revoked: None,
                    policy_version: Some(policy_version.clone()),
                    grant_name: Some(grant_name.clone()),
                    ..MCPAgentSessionSpec::default()
                },
                status: None,
            };
            (state.runtime.apply_session(session).await?, false)
        }
    };
    let (token, token_exp) = sign_session_token(&state, &session, &audience)?;
    let body = AdapterSession {
        name: name.clone(),
        team: team.name.clone(),
        namespace: team.namespace.clone(),
        human_id: human,
        agent_id,
        team_id: session_team,
        server_name: req.server_name.clone(),
        grant_name,
        consented_trust: consented.as_str().to_string(),
        policy_version,
        expires_at: session.spec.expires_at.clone().unwrap_or_default(),
        reused,
        token,
        token_expires_at: rfc3339(token_exp),
        audience,
    };
    let note = object_note(
        "agent_session",
        &team,
        &name,
        Some(json!({"reused": reused, "server": req.server_name})),
    );
    Ok(noted(json_response(StatusCode::OK, &body), note))
}

#[utoipa::path(post, path = "/api/v1/runtime/adapter/sessions/{team}/{name}/token", tag = "runtime", params(("team" = String, Path, description = "team name"), ("name" = String, Path, description = "session name")), responses((status = 200, description = "a fresh token for a live session of the caller", body = AdapterSession), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn refresh_session_token(
    State(state): St,
    Caller(p): Caller,
    Path((team, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let team = state.store.team(&team).await?.ok_or_else(|| ApiError::not_found("no such session"))?;
    let session = state.runtime.get_session(&team.namespace, &name).await?;
    let humans = [p.user.id.as_str(), p.user.email.as_str()];
    let session = session
        .filter(|s| s.spec.subject.human_id.as_deref().is_some_and(|h| humans.contains(&h)))
        .ok_or_else(|| ApiError::not_found("no such session"))?;
    let at = now();
    if session.spec.revoked == Some(true) {
        return Err(ApiError::forbidden("the session is revoked"));
    }
    if expiry_of(&session.spec.expires_at).is_none_or(|e| e <= at) {
        return Err(ApiError::forbidden("the session has expired"));
    }
    let agent_id = session.spec.subject.agent_id.clone().unwrap_or_default();
    if !agent_id.is_empty() && !state.store.agent(&agent_id).await?.is_some_and(|a| a.is_active()) {
        return Err(ApiError::forbidden("the agent is unknown or deactivated"));
    }
    let server = state
        .runtime
        .get_server(&team.namespace, &session.spec.server_ref.name)
        .await?
        .ok_or_else(|| ApiError::not_found("the session's server is gone"))?;
    let audience = server_url(&server)?;
    let (token, token_exp) = sign_session_token(&state, &session, &audience)?;
    let s = &session.spec;
    let body = AdapterSession {
        name: name.clone(),
        team: team.name.clone(),
        namespace: team.namespace.clone(),
        human_id: s.subject.human_id.clone().unwrap_or_default(),
        agent_id,
        team_id: s.subject.team_id.clone().unwrap_or_default(),
        server_name: s.server_ref.name.clone(),
        grant_name: s.grant_name.clone().unwrap_or_default(),
        consented_trust: s.consented_trust.unwrap_or_default().as_str().to_string(),
        policy_version: s.policy_version.clone().unwrap_or_else(|| "v1".into()),
        expires_at: s.expires_at.clone().unwrap_or_default(),
        reused: true,
        token,
        token_expires_at: rfc3339(token_exp),
        audience,
    };
    Ok(noted(json_response(StatusCode::OK, &body), object_note("agent_session", &team, &name, None)))
}

// ---- managed agents ------------------------------------------------------------------------

/// `GET /api/v1/runtime/teams/{team}/agents` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AgentQuery {
    /// `active` or `inactive`.
    pub status: Option<String>,
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
    /// From `next_cursor`.
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// `POST /api/v1/runtime/teams/{team}/agents` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    /// Name, 1–100 characters, unique in the team (case-insensitively).
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
}

/// `PATCH /api/v1/runtime/agents/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameAgent {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
}

fn check_agent_name(name: &str) -> Result<String, ApiError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(invalid("name", name, "must have 1 to 100 printable characters"));
    }
    Ok(n.to_string())
}

#[utoipa::path(get, path = "/api/v1/runtime/teams/{team}/agents", tag = "runtime", params(("team" = String, Path, description = "team name"), AgentQuery), responses((status = 200, description = "the team's agents by name", body = List<Agent>), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_agents(
    State(state): St,
    Caller(p): Caller,
    Path(team): Path<String>,
    ApiQuery(q): ApiQuery<AgentQuery>,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &team, Role::Viewer).await?;
    let active = match q.status.as_deref() {
        None => None,
        Some("active") => Some(true),
        Some("inactive") => Some(false),
        Some(other) => return Err(invalid("status", other, "must be `active` or `inactive`")),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(invalid("limit", &limit.to_string(), "must be between 1 and 200"));
    }
    let items = state.store.list_agents(&team.id, active, q.q.as_deref(), q.cursor.as_deref(), limit).await?;
    let next_cursor =
        (items.len() as i64 == limit).then(|| items.last().map(|a| a.name.to_lowercase())).flatten();
    Ok(json_response(StatusCode::OK, &List { items, next_cursor }))
}

#[utoipa::path(post, path = "/api/v1/runtime/teams/{team}/agents", tag = "runtime", request_body = RegisterAgent, params(("team" = String, Path, description = "team name")), responses((status = 201, description = "registered", body = Agent), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn register_agent(
    State(state): St,
    Caller(p): Caller,
    Path(team): Path<String>,
    ApiJson(req): ApiJson<RegisterAgent>,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &team, Role::Member).await?;
    let at = now();
    let agent = Agent {
        id: new_agent_id().map_err(ApiError::internal)?,
        team_id: team.id.clone(),
        name: check_agent_name(&req.name)?,
        description: req.description.unwrap_or_default().trim().to_string(),
        status: "active".into(),
        created_by: p.user.id.clone(),
        created_at: at,
        updated_at: at,
        deactivated_at: None,
    };
    state.store.insert_agent(&agent).await?;
    let note = AuditNote {
        object_type: "agent",
        object: agent.id.clone(),
        team: Some(team.name.clone()),
        details: Some(json!({"name": agent.name})),
        ..AuditNote::default()
    };
    Ok(noted(json_response(StatusCode::CREATED, &agent), note))
}

/// The agent and its team, when the caller may see it (else 404) with at least `need`.
async fn agent_access(
    state: &AppState,
    p: &Principal,
    id: &str,
    need: Role,
) -> Result<(Agent, Team), ApiError> {
    let agent = state.store.agent(id).await?.ok_or_else(|| ApiError::not_found("no such agent"))?;
    let team = state
        .store
        .list_teams(None)
        .await?
        .into_iter()
        .map(|(t, _)| t)
        .find(|t| t.id == agent.team_id)
        .ok_or_else(|| ApiError::not_found("no such agent"))?;
    let (team, _) = team_access(state, p, &team.name, need).await.map_err(|e| {
        if e.status == StatusCode::NOT_FOUND { ApiError::not_found("no such agent") } else { e }
    })?;
    Ok((agent, team))
}

#[utoipa::path(get, path = "/api/v1/runtime/agents/{id}", tag = "runtime", params(("id" = String, Path, description = "agent id")), responses((status = 200, description = "the agent", body = Agent), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_agent(
    State(state): St,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (agent, _) = agent_access(&state, &p, &id, Role::Viewer).await?;
    Ok(json_response(StatusCode::OK, &agent))
}

#[utoipa::path(patch, path = "/api/v1/runtime/agents/{id}", tag = "runtime", request_body = RenameAgent, params(("id" = String, Path, description = "agent id")), responses((status = 200, description = "renamed", body = Agent), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn rename_agent(
    State(state): St,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RenameAgent>,
) -> Result<Response, ApiError> {
    let (agent, team) = agent_access(&state, &p, &id, Role::Member).await?;
    let name = match req.name.as_deref() {
        Some(n) => check_agent_name(n)?,
        None => agent.name.clone(),
    };
    let description =
        req.description.map(|d| d.trim().to_string()).unwrap_or_else(|| agent.description.clone());
    state.store.update_agent(&agent.id, &name, &description).await?;
    let agent = state.store.agent(&id).await?.ok_or_else(|| ApiError::not_found("no such agent"))?;
    let note = AuditNote {
        object_type: "agent",
        object: agent.id.clone(),
        team: Some(team.name),
        details: Some(json!({"name": agent.name})),
        ..AuditNote::default()
    };
    Ok(noted(json_response(StatusCode::OK, &agent), note))
}

/// The agent after (de)activation, with the sessions revoked on the way.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentState {
    /// The agent.
    pub agent: Agent,
    /// Sessions revoked by this call (deactivation; a repeated call finishes a partial one).
    pub revoked: Revoked,
}

#[utoipa::path(post, path = "/api/v1/runtime/agents/{id}/deactivate", tag = "runtime", params(("id" = String, Path, description = "agent id")), responses((status = 200, description = "deactivated; its sessions are revoked in every team", body = AgentState), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn deactivate_agent(
    State(state): St,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (agent, team) = agent_access(&state, &p, &id, Role::Owner).await?;
    // Inactive first, so no new session or token is issued while revoking.
    state.store.set_agent_active(&agent.id, false).await?;
    let filter = ListFilter { agent_id: Some(agent.id.clone()), ..ListFilter::default() };
    let revoked = revoke_matching(&state, &filter).await?;
    let agent = state.store.agent(&id).await?.ok_or_else(|| ApiError::not_found("no such agent"))?;
    let note = AuditNote {
        object_type: "agent",
        object: agent.id.clone(),
        team: Some(team.name),
        details: Some(json!({"revoked": revoked.sessions})),
        ..AuditNote::default()
    };
    Ok(noted(json_response(StatusCode::OK, &AgentState { agent, revoked }), note))
}

#[utoipa::path(post, path = "/api/v1/runtime/agents/{id}/reactivate", tag = "runtime", params(("id" = String, Path, description = "agent id")), responses((status = 200, description = "active again (revoked sessions stay revoked)", body = AgentState), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn reactivate_agent(
    State(state): St,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (agent, team) = agent_access(&state, &p, &id, Role::Owner).await?;
    state.store.set_agent_active(&agent.id, true).await?;
    let agent = state.store.agent(&id).await?.ok_or_else(|| ApiError::not_found("no such agent"))?;
    let note = AuditNote {
        object_type: "agent",
        object: agent.id.clone(),
        team: Some(team.name),
        ..AuditNote::default()
    };
    Ok(noted(
        json_response(
            StatusCode::OK,
            &AgentState { agent, revoked: Revoked { revoked: 0, sessions: vec![] } },
        ),
        note,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_session_names_are_deterministic_and_nul_separated() {
        // SHA-256("human-1\0agt_x\0team-1\0srv"), first 16 hex digits.
        assert_eq!(adapter_session_name("human-1", "agt_x", "team-1", "srv"), "adapter-252b5e5785608689");
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(adapter_session_name("ab", "c", "t", "s"), adapter_session_name("a", "bc", "t", "s"));
    }

    #[test]
    fn runtime_errors_become_one_envelope_naming_field_and_value() {
        let e = ApiError::from(RuntimeError::invalid("spec.image", "\"\"", "is required"));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.details, Some(json!({"field": "spec.image", "value": "\"\""})));
        assert_eq!(ApiError::from(RuntimeError::NotFound("x".into())).status, StatusCode::NOT_FOUND);
        assert_eq!(ApiError::from(RuntimeError::Conflict("x".into())).status, StatusCode::CONFLICT);
        assert_eq!(
            ApiError::from(RuntimeError::Unavailable("x".into())).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
