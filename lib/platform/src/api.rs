//! The HTTP API: every route, its handler and its audit action, registered through one table
//! ([`routes`]) that the authorization-matrix test and the OpenAPI drift check read.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath, Path, Query, Request, State};
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::audit::PlatformEvent;
use crate::auth::{ClientIp, Credential, Principal, issue_access};
use crate::error::{ApiError, ApiJson, ErrorBody, json_response};
use crate::secrets::{
    API_KEY_PREFIX, REFRESH_PREFIX, SHOWN_PREFIX_LEN, check_password, dummy_hash, hash_password, new_token,
    verify_password,
};
use crate::store::{ApiKey, Member, RefreshUse, Role, Team, User, now};

type St = State<Arc<AppState>>;

/// One registered route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// HTTP method.
    pub method: Method,
    /// Path template (`{name}` parameters).
    pub path: &'static str,
    /// Audit action (state-changing routes) or a read name.
    pub action: &'static str,
}

pub(crate) struct Routes {
    router: Router<Arc<AppState>>,
    list: Vec<RouteInfo>,
}

impl Routes {
    pub(crate) fn add<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        action: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        self.router = self.router.route(path, on(filter, handler));
        self.list.push(RouteInfo { method, path, action });
        self
    }
}

/// Every route of the service and the router serving them.
pub fn routes() -> (Router<Arc<AppState>>, Vec<RouteInfo>) {
    let r = Routes { router: Router::new(), list: Vec::new() }
        .add(Method::GET, "/health", "health", health)
        .add(Method::GET, "/ready", "ready", ready)
        .add(Method::GET, "/.well-known/jwks.json", "jwks", jwks)
        .add(Method::GET, "/api/openapi.json", "openapi", openapi)
        .add(Method::POST, "/api/v1/auth/login", "auth.login", login)
        .add(Method::POST, "/api/v1/auth/refresh", "auth.refresh", refresh)
        .add(Method::POST, "/api/v1/auth/logout", "auth.logout", logout)
        .add(Method::GET, "/api/v1/auth/oidc/authorize", "auth.oidc.authorize", crate::oidc::authorize)
        .add(Method::GET, "/api/v1/auth/oidc/callback", "auth.oidc.callback", crate::oidc::callback)
        .add(Method::POST, "/api/v1/auth/oidc/token", "auth.oidc.token", crate::oidc::exchange)
        .add(Method::GET, "/api/v1/me", "me", me)
        .add(Method::GET, "/api/v1/users", "user.list", list_users)
        .add(Method::POST, "/api/v1/users", "user.create", create_user)
        .add(Method::GET, "/api/v1/api-keys", "api_key.list", list_keys)
        .add(Method::POST, "/api/v1/api-keys", "api_key.create", create_key)
        .add(Method::DELETE, "/api/v1/api-keys/{id}", "api_key.revoke", revoke_key)
        .add(Method::GET, "/api/v1/teams", "team.list", list_teams)
        .add(Method::POST, "/api/v1/teams", "team.create", create_team)
        .add(Method::GET, "/api/v1/teams/{team}", "team.get", get_team)
        .add(Method::PATCH, "/api/v1/teams/{team}", "team.rename", rename_team)
        .add(Method::DELETE, "/api/v1/teams/{team}", "team.delete", delete_team)
        .add(Method::GET, "/api/v1/teams/{team}/members", "member.list", list_members)
        .add(Method::PUT, "/api/v1/teams/{team}/members/{user_id}", "member.put", put_member)
        .add(Method::DELETE, "/api/v1/teams/{team}/members/{user_id}", "member.remove", remove_member);
    // The runtime (servers, grants, sessions, session tokens, agents): one block.
    let r = crate::runtime::api::register(r);
    let r = crate::registry_push::register(r);
    // Analytics, replay, registry, catalog (insight): one block.
    let r = r
        .add(Method::GET, "/api/v1/events", "event.list", crate::analytics::events)
        .add(Method::GET, "/api/v1/stats", "event.stats", crate::analytics::stats)
        .add(Method::GET, "/api/v1/sources", "event.sources", crate::analytics::sources)
        .add(Method::GET, "/api/v1/event-types", "event.types", crate::analytics::event_types)
        .add(Method::GET, "/api/v1/analytics/usage", "analytics.usage", crate::analytics::usage)
        .add(Method::GET, "/api/v1/analytics/latency", "analytics.latency", crate::analytics::latency)
        .add(
            Method::GET,
            "/api/v1/analytics/deny-reasons",
            "analytics.deny_reasons",
            crate::analytics::deny_reasons,
        )
        .add(
            Method::GET,
            "/api/v1/teams/{team}/analytics/events",
            "team.event.list",
            crate::analytics::team_events,
        )
        .add(
            Method::GET,
            "/api/v1/teams/{team}/analytics/stats",
            "team.event.stats",
            crate::analytics::team_stats,
        )
        .add(
            Method::GET,
            "/api/v1/teams/{team}/analytics/sources",
            "team.event.sources",
            crate::analytics::team_sources,
        )
        .add(
            Method::GET,
            "/api/v1/teams/{team}/analytics/event-types",
            "team.event.types",
            crate::analytics::team_event_types,
        )
        .add(
            Method::GET,
            "/api/v1/teams/{team}/analytics/usage",
            "team.analytics.usage",
            crate::analytics::team_usage,
        )
        .add(
            Method::GET,
            "/api/v1/teams/{team}/analytics/latency",
            "team.analytics.latency",
            crate::analytics::team_latency,
        )
        .add(
            Method::GET,
            "/api/v1/teams/{team}/analytics/deny-reasons",
            "team.analytics.deny_reasons",
            crate::analytics::team_deny_reasons,
        )
        .add(Method::POST, "/api/v1/runtime/policy/replay", "policy.replay", crate::replay::replay_route)
        .add(Method::GET, "/v0.1/servers", "registry.list", crate::registry::list)
        .add(Method::GET, "/v0.1/servers/{name}/versions", "registry.versions", crate::registry::versions)
        .add(
            Method::GET,
            "/v0.1/servers/{name}/versions/{version}",
            "registry.version",
            crate::registry::version,
        )
        .add(Method::GET, "/api/v1/catalog/servers", "catalog.servers", crate::catalog::servers)
        .add(Method::GET, "/api/v1/catalog/tools", "catalog.tools", crate::catalog::tools)
        .add(
            Method::GET,
            "/api/v1/catalog/servers/{team}/{name}/connect",
            "catalog.connect",
            crate::catalog::connect,
        )
        .add(Method::GET, "/api/v1/dashboard/summary", "dashboard.summary", crate::dashboard::summary)
        .add(Method::GET, "/api/v1/admin/components", "admin.components", crate::dashboard::components)
        .add(Method::GET, "/api/v1/admin/audit", "admin.audit", crate::dashboard::audit);
    // Registry access: credentials for `docker login` and the forward-auth decision (one block).
    let r = crate::registry_auth::register(r);
    (r.router, r.list)
}

// ---- audit ---------------------------------------------------------------------------------

/// Who acted, put into request extensions by the [`Principal`] extractor.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Account id.
    pub id: String,
    /// Email.
    pub email: String,
    /// How it authenticated.
    pub auth: &'static str,
}

/// What a handler changed, put into response extensions for the audit middleware.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    /// Actor when the handler established it (sign-in).
    pub actor: Option<Actor>,
    /// Object kind.
    pub object_type: &'static str,
    /// Object id or name.
    pub object: String,
    /// Team.
    pub team: Option<String>,
    /// Details.
    pub details: Option<Value>,
}

pub(crate) fn noted(mut response: Response, note: AuditNote) -> Response {
    response.extensions_mut().insert(note);
    response
}

/// Records one platform audit event for every state-changing request (anything but GET and
/// HEAD, plus the sign-in routes that are GETs), whatever its outcome.
pub async fn audit_layer(State(state): St, req: Request, next: axum::middleware::Next) -> Response {
    if !state.audit.enabled() {
        return next.run(req).await;
    }
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    // The registry's forward-auth decisions record their own events (pulls included).
    if matched.as_deref() == Some(crate::registry_auth::AUTHZ_PATH) {
        return next.run(req).await;
    }
    let reading = req.method() == Method::GET || req.method() == Method::HEAD;
    if reading && !matched.as_deref().is_some_and(|p| p.starts_with("/api/v1/auth/")) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let ip =
        ClientIp::from_request_parts(&mut parts, &state).await.map(|c| c.0.to_string()).unwrap_or_default();
    let method = parts.method.clone();
    let action = matched
        .as_deref()
        .and_then(|p| state.routes.iter().find(|r| r.path == p && r.method == method))
        .map(|r| r.action)
        .unwrap_or("unknown");
    let (actor_tx, actor_rx) = tokio::sync::oneshot::channel::<Actor>();
    parts.extensions.insert(ActorSlot(Arc::new(std::sync::Mutex::new(Some(actor_tx)))));
    let response = next.run(Request::from_parts(parts, body)).await;
    let note = response.extensions().get::<AuditNote>().cloned().unwrap_or_default();
    let mut actor_rx = actor_rx;
    let actor = note.actor.clone().or_else(|| actor_rx.try_recv().ok());
    let status = response.status();
    let error_code = (!status.is_success()).then(|| error_code_of(status));
    state.audit.record(PlatformEvent {
        actor: actor.as_ref().map(|a| a.id.clone()).unwrap_or_else(|| "anonymous".into()),
        actor_email: actor.as_ref().map(|a| a.email.clone()),
        auth: actor.as_ref().map(|a| a.auth).unwrap_or("none").to_string(),
        action: action.to_string(),
        object_type: note.object_type.to_string(),
        object: note.object,
        team: note.team,
        outcome: if status.is_success() { "success" } else { "failure" }.into(),
        status: status.as_u16(),
        error_code,
        client_ip: ip,
        details: note.details,
    });
    response
}

fn error_code_of(status: StatusCode) -> String {
    ApiError::from_status(status).code.to_string()
}

/// Where the principal extractor reports the actor to the audit middleware.
#[derive(Debug, Clone)]
pub struct ActorSlot(pub Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<Actor>>>>);

/// The principal, also reported to the audit middleware.
#[derive(Debug)]
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        if let Some(slot) = parts.extensions.get::<ActorSlot>()
            && let Some(tx) = slot.0.lock().unwrap_or_else(|p| p.into_inner()).take()
        {
            let _ = tx.send(Actor {
                id: principal.user.id.clone(),
                email: principal.user.email.clone(),
                auth: principal.auth_kind(),
            });
        }
        Ok(Caller(principal))
    }
}

/// A query string, its errors in the API's envelope.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::invalid(format!("invalid query: {}", e.body_text())))
    }
}

// ---- meta ----------------------------------------------------------------------------------

#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, description = "alive", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)))]
async fn health() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

/// `/ready` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// `postgresql` or `sqlite`.
    pub backend: &'static str,
    /// Applied schema version.
    pub schema_version: i64,
    /// Version this binary needs.
    pub schema_expected: i64,
    /// The runtime backend (`local` or `kubernetes`).
    pub runtime: &'static str,
    /// Why not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[utoipa::path(get, path = "/ready", tag = "meta", responses((status = 200, description = "store reachable, schema current, runtime backend reachable", body = Readiness), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)))]
async fn ready(State(state): St) -> Response {
    let expected = crate::store::latest_version();
    let (status, version, reason) = match state.store.schema_version().await {
        Ok(v) if v == expected => (StatusCode::OK, v, None),
        Ok(v) => (
            StatusCode::SERVICE_UNAVAILABLE,
            v,
            Some(format!("schema version {v}, expected {expected}: run `mcp-platform migrate`")),
        ),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, 0, Some(format!("store: {e}"))),
    };
    let (status, reason) = match (status, state.runtime.ready().await) {
        (StatusCode::OK, Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, Some(format!("runtime: {e}"))),
        (s, _) => (s, reason),
    };
    let body = Readiness {
        status: if status == StatusCode::OK { "ready" } else { "not_ready" },
        backend: state.store.backend(),
        schema_version: version,
        schema_expected: expected,
        runtime: state.runtime.kind(),
        reason,
    };
    if status == StatusCode::OK {
        json_response(status, &body)
    } else {
        ApiError {
            details: serde_json::to_value(&body).ok(),
            ..ApiError::unavailable(body.reason.clone().unwrap_or_default())
        }
        .into_response()
    }
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta", responses((status = 200, description = "public signing keys (JWKS)", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)))]
async fn jwks(State(state): St) -> Response {
    let mut r = json_response(StatusCode::OK, &state.keys.ring().jwks(now()));
    r.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("public, max-age=60"));
    r
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", responses((status = 200, description = "this document", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)))]
async fn openapi() -> Response {
    let mut r = Response::new(axum::body::Body::from(crate::openapi::document()));
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

// ---- sign-in -------------------------------------------------------------------------------

/// `POST /api/v1/auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// Tokens answered by sign-in and refresh.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// EdDSA JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single-use refresh token (`mcprt_…`).
    pub refresh_token: String,
    /// The account.
    pub user: User,
}

/// Issues a new sign-in (or the next token of `family`).
pub async fn issue_tokens(
    state: &AppState,
    user: User,
    family: Option<String>,
) -> Result<TokenResponse, ApiError> {
    let family = family.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let refresh = new_token(REFRESH_PREFIX).map_err(ApiError::internal)?;
    let expires = now() + i64::try_from(state.config.refresh_ttl.as_secs()).unwrap_or(86_400);
    state.store.insert_refresh(&state.hasher.hash(&refresh), &family, &user.id, expires).await?;
    let (access_token, expires_in) = issue_access(state, &user.id, &family)?;
    Ok(TokenResponse { access_token, token_type: "Bearer", expires_in, refresh_token: refresh, user })
}

fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, responses((status = 200, description = "signed in", body = TokenResponse), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)))]
async fn login(
    State(state): St,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let email = normalize_email(&req.email);
    let started = Instant::now();
    if let Some(wait) = state.lockout.locked(&email, ip, started) {
        return Err(ApiError::too_many("too many failed sign-ins; try again later", wait.as_secs() + 1));
    }
    let user = state.store.user_by_email(&email).await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let password = req.password;
    let check_hash = hash.clone().unwrap_or_else(|| dummy_hash().to_string());
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &check_hash))
        .await
        .map_err(ApiError::internal)?;
    let ok = matches && hash.is_some() && user.as_ref().is_some_and(|u| u.disabled_at.is_none());
    let Some(user) = user.filter(|_| ok) else {
        state.lockout.fail(&email, ip, Instant::now());
        let response = ApiError::unauthorized("email or password is not correct").into_response();
        return Ok(noted(response, AuditNote { object_type: "user", object: email, ..AuditNote::default() }));
    };
    state.lockout.succeed(&email, ip);
    let actor = Actor { id: user.id.clone(), email: user.email.clone(), auth: "password" };
    let tokens = issue_tokens(&state, user, None).await?;
    let note = AuditNote {
        actor: Some(actor),
        object_type: "user",
        object: tokens.user.id.clone(),
        ..AuditNote::default()
    };
    Ok(noted(json_response(StatusCode::OK, &tokens), note))
}

/// A refresh token in a body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token.
    pub refresh_token: String,
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, responses((status = 200, description = "the next tokens of the sign-in", body = TokenResponse), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)))]
async fn refresh(State(state): St, ApiJson(req): ApiJson<RefreshRequest>) -> Result<Response, ApiError> {
    let hash = state.hasher.hash(req.refresh_token.trim());
    match state.store.use_refresh(&hash).await? {
        RefreshUse::Rotated { family, user_id } => {
            let user = state.store.user(&user_id).await?.filter(|u| u.disabled_at.is_none());
            let Some(user) = user else {
                state.store.revoke_family(&family).await?;
                return Err(ApiError::invalid_token("account disabled"));
            };
            let actor = Actor { id: user.id.clone(), email: user.email.clone(), auth: "refresh_token" };
            let tokens = issue_tokens(&state, user, Some(family.clone())).await?;
            let note = AuditNote {
                actor: Some(actor),
                object_type: "session",
                object: family,
                ..AuditNote::default()
            };
            Ok(noted(json_response(StatusCode::OK, &tokens), note))
        }
        RefreshUse::Reused => {
            tracing::warn!("refresh token reuse: sign-in family revoked");
            let response = ApiError::invalid_token("refresh token was already used; the sign-in is revoked")
                .into_response();
            Ok(noted(
                response,
                AuditNote {
                    object_type: "session",
                    details: Some(json!({"reuse_detected": true})),
                    ..AuditNote::default()
                },
            ))
        }
        RefreshUse::Invalid => Err(ApiError::invalid_token("refresh token is not valid")),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest, responses((status = 204, description = "signed out (the refresh family is revoked)"), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)))]
async fn logout(State(state): St, ApiJson(req): ApiJson<RefreshRequest>) -> Result<Response, ApiError> {
    let hash = state.hasher.hash(req.refresh_token.trim());
    let family = state.store.refresh_family(&hash).await?;
    if let Some(family) = &family {
        state.store.revoke_family(family).await?;
    }
    let note =
        AuditNote { object_type: "session", object: family.unwrap_or_default(), ..AuditNote::default() };
    Ok(noted(StatusCode::NO_CONTENT.into_response(), note))
}

/// A team as seen by the caller.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeamView {
    /// The team.
    #[serde(flatten)]
    pub team: Team,
    /// The caller's role (none for administrators who are not members).
    pub role: Option<Role>,
}

/// `GET /api/v1/me`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The account.
    pub user: User,
    /// Its teams and roles.
    pub teams: Vec<TeamView>,
    /// `access_token` or `api_key`.
    pub auth: &'static str,
    /// The API key's scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, description = "the caller", body = Me), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn me(State(state): St, Caller(p): Caller) -> Result<Response, ApiError> {
    let teams = state.store.list_teams(Some(&p.user.id)).await?;
    let scopes = match &p.credential {
        Credential::ApiKey { scopes, .. } => Some(scopes.clone()),
        Credential::AccessToken { .. } => None,
    };
    let auth = p.auth_kind();
    let body = Me {
        user: p.user,
        teams: teams.into_iter().map(|(team, role)| TeamView { team, role }).collect(),
        auth,
        scopes,
    };
    Ok(json_response(StatusCode::OK, &body))
}

// ---- users ---------------------------------------------------------------------------------

/// Paging of lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// At most this many items (1..=200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Opaque cursor from `next_cursor`.
    pub cursor: Option<String>,
}

/// A page of items.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct List<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(Page), responses((status = 200, description = "accounts by email", body = List<User>), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn list_users(
    State(state): St,
    Caller(p): Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Response, ApiError> {
    p.require_admin()?;
    let limit = page.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "limit must be between 1 and 200"));
    }
    let after = match page.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            hex::decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|c| !c.contains('\0'))
                .ok_or_else(|| ApiError::invalid_field("cursor", "cursor is not valid"))?,
        ),
    };
    let mut items = state.store.list_users(after.as_deref(), limit + 1).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|u| hex::encode(&u.email))
    } else {
        None
    };
    Ok(json_response(StatusCode::OK, &List { items, next_cursor }))
}

/// `POST /api/v1/users` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Email (lower-cased); for service accounts any `name@domain` identifier.
    #[schema(min_length = 3, max_length = 254)]
    pub email: String,
    /// Password (people; 8..=256 characters). Service accounts have none.
    #[schema(min_length = 8, max_length = 256)]
    pub password: Option<String>,
    /// Name shown (default: the email).
    pub display_name: Option<String>,
    /// `human` (default) or `service`.
    #[schema(pattern = "^(human|service)$")]
    pub kind: Option<String>,
    /// Platform administrator (default false).
    pub admin: Option<bool>,
}

/// Checks an email-like identifier.
pub fn check_email(email: &str) -> Result<(), ApiError> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(()) } else { Err(ApiError::invalid_field("email", "not an email address")) }
}

/// Creates an account (shared by the API and `mcp-platform admin create`).
pub async fn new_user(state: &AppState, req: CreateUser) -> Result<User, ApiError> {
    let email = normalize_email(&req.email);
    check_email(&email)?;
    let kind = req.kind.unwrap_or_else(|| "human".into());
    if kind != "human" && kind != "service" {
        return Err(ApiError::invalid_field("kind", "kind must be `human` or `service`"));
    }
    let password_hash = match (&req.password, kind.as_str()) {
        (Some(_), "service") => {
            return Err(ApiError::invalid_field(
                "password",
                "service accounts have no password; give them API keys",
            ));
        }
        (Some(pw), _) => {
            check_password(pw).map_err(|m| ApiError::invalid_field("password", m))?;
            let pw = pw.clone();
            Some(
                tokio::task::spawn_blocking(move || hash_password(&pw))
                    .await
                    .map_err(ApiError::internal)?
                    .map_err(ApiError::internal)?,
            )
        }
        (None, _) => None,
    };
    let display_name = req
        .display_name
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| email.clone());
    if display_name.chars().count() > 200 {
        return Err(ApiError::invalid_field("display_name", "at most 200 characters"));
    }
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        email,
        display_name,
        kind,
        is_admin: req.admin.unwrap_or(false),
        created_at: now(),
        disabled_at: None,
        password_hash,
    };
    state.store.create_user(&user).await?;
    Ok(user)
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser, responses((status = 201, description = "created", body = User), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn create_user(
    State(state): St,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<Response, ApiError> {
    p.require_admin()?;
    let user = new_user(&state, req).await?;
    let note = AuditNote {
        object_type: "user",
        object: user.id.clone(),
        details: Some(json!({"email": user.email, "admin": user.is_admin, "kind": user.kind})),
        ..AuditNote::default()
    };
    Ok(noted(json_response(StatusCode::CREATED, &user), note))
}

// ---- API keys ------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", responses((status = 200, description = "the caller's keys", body = List<ApiKey>), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn list_keys(State(state): St, Caller(p): Caller) -> Result<Response, ApiError> {
    let items = state.store.list_api_keys(&p.user.id).await?;
    Ok(json_response(StatusCode::OK, &List { items, next_cursor: None }))
}

/// `POST /api/v1/api-keys` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name to recognise the key by (1..=100 characters).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `read` and/or `write` (default both).
    pub scopes: Option<Vec<String>>,
    /// Days until the key expires (1..=730; default: never).
    #[schema(minimum = 1, maximum = 730)]
    pub expires_in_days: Option<i64>,
    /// Create the key for this account (administrators only; e.g. a service account).
    pub user_id: Option<String>,
}

/// A new key: the secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// The key (`mcpk_…`); it cannot be shown again.
    pub key: String,
    /// The stored record.
    pub api_key: ApiKey,
}

#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateKey, responses((status = 201, description = "created; the key is shown this once", body = CreatedKey), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn create_key(
    State(state): St,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreateKey>,
) -> Result<Response, ApiError> {
    let name = check_name("name", &req.name)?;
    let mut scopes = req.scopes.unwrap_or_else(|| vec!["read".into(), "write".into()]);
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() || scopes.iter().any(|s| s != "read" && s != "write") {
        return Err(ApiError::invalid_field(
            "scopes",
            "scopes must be a non-empty list of `read` and `write`",
        ));
    }
    if let Some(d) = req.expires_in_days
        && !(1..=730).contains(&d)
    {
        return Err(ApiError::invalid_field("expires_in_days", "expires_in_days must be between 1 and 730"));
    }
    let owner = match req.user_id {
        Some(id) if id != p.user.id => {
            p.require_admin()?;
            state
                .store
                .user(&id)
                .await?
                .ok_or_else(|| ApiError::invalid_field("user_id", "no such account"))?
                .id
        }
        _ => p.user.id.clone(),
    };
    let secret = new_token(API_KEY_PREFIX).map_err(ApiError::internal)?;
    let at = now();
    let key = ApiKey {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: owner,
        name,
        prefix: secret.chars().take(SHOWN_PREFIX_LEN).collect(),
        scopes,
        created_at: at,
        expires_at: req.expires_in_days.map(|d| at + d * 86_400),
        last_used_at: None,
        revoked_at: None,
    };
    state.store.insert_api_key(&key, &state.hasher.hash(&secret)).await?;
    let note = AuditNote {
        object_type: "api_key",
        object: key.id.clone(),
        details: Some(json!({"owner": key.user_id, "scopes": key.scopes, "prefix": key.prefix})),
        ..AuditNote::default()
    };
    Ok(noted(json_response(StatusCode::CREATED, &CreatedKey { key: secret, api_key: key }), note))
}

#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", params(("id" = String, Path, description = "key id")), responses((status = 204, description = "revoked"), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn revoke_key(
    State(state): St,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let key = state.store.api_key(&id).await?.filter(|k| k.user_id == p.user.id || p.user.is_admin);
    let Some(key) = key else { return Err(ApiError::not_found("no such API key")) };
    state.store.revoke_api_key(&key.id).await?;
    Ok(noted(
        StatusCode::NO_CONTENT.into_response(),
        AuditNote { object_type: "api_key", object: key.id, ..AuditNote::default() },
    ))
}

// ---- teams ---------------------------------------------------------------------------------

/// Whether `s` is a DNS-1123 label of at most `max` characters.
pub fn dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Loads a team the caller may see with at least `need`; a team the caller is not in is 404
/// (its existence is not revealed). Administrators see every team.
pub(crate) async fn team_access(
    state: &AppState,
    p: &Principal,
    name: &str,
    need: Role,
) -> Result<(Team, Option<Role>), ApiError> {
    let team = state.store.team(name).await?.ok_or_else(|| ApiError::not_found("no such team"))?;
    let role = state.store.role(&team.id, &p.user.id).await?;
    if p.user.is_admin {
        return Ok((team, role));
    }
    match role {
        None => Err(ApiError::not_found("no such team")),
        Some(r) if r < need => {
            Err(ApiError::forbidden(format!("team role `{}` or higher required", need.as_str())))
        }
        Some(_) => Ok((team, role)),
    }
}

#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", responses((status = 200, description = "the caller's teams (administrators: all)", body = List<TeamView>), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn list_teams(State(state): St, Caller(p): Caller) -> Result<Response, ApiError> {
    let teams = if p.user.is_admin {
        let mine: std::collections::HashMap<String, Role> = state
            .store
            .list_teams(Some(&p.user.id))
            .await?
            .into_iter()
            .filter_map(|(t, r)| r.map(|r| (t.id, r)))
            .collect();
        state
            .store
            .list_teams(None)
            .await?
            .into_iter()
            .map(|(t, _)| {
                let role = mine.get(&t.id).copied();
                (t, role)
            })
            .collect()
    } else {
        state.store.list_teams(Some(&p.user.id)).await?
    };
    let items: Vec<TeamView> = teams.into_iter().map(|(team, role)| TeamView { team, role }).collect();
    Ok(json_response(StatusCode::OK, &List { items, next_cursor: None }))
}

/// `POST /api/v1/teams` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    /// DNS-1123 label, at most 54 characters (the default namespace is `mcp-team-<name>`).
    #[schema(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", min_length = 1, max_length = 54)]
    pub name: String,
    /// Name shown (default: `name`).
    pub display_name: Option<String>,
    /// Kubernetes namespace (DNS-1123 label; default `mcp-team-<name>`).
    #[schema(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", min_length = 1, max_length = 63)]
    pub namespace: Option<String>,
    /// First owner (default: the caller).
    pub owner_id: Option<String>,
}

/// `value` trimmed, when it has 1 to 100 characters: the rule of every human-given name (API
/// keys, registry credentials, team display names); else `invalid_field` naming `field`.
pub(crate) fn check_name(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 {
        return Err(ApiError::invalid_field(field, format!("{field} must have 1 to 100 characters")));
    }
    Ok(value.to_string())
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = CreateTeam, responses((status = 201, description = "created", body = TeamView), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn create_team(
    State(state): St,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreateTeam>,
) -> Result<Response, ApiError> {
    p.require_admin()?;
    if !dns_label(&req.name, 54) {
        return Err(ApiError::invalid_field(
            "name",
            "name must be a DNS-1123 label (a-z, 0-9, '-') of at most 54 characters",
        ));
    }
    let namespace = req.namespace.unwrap_or_else(|| format!("mcp-team-{}", req.name));
    if !dns_label(&namespace, 63) {
        return Err(ApiError::invalid_field(
            "namespace",
            "namespace must be a DNS-1123 label of at most 63 characters",
        ));
    }
    let display_name = check_name("display_name", req.display_name.as_deref().unwrap_or(&req.name))?;
    let owner = match req.owner_id {
        Some(id) => {
            state
                .store
                .user(&id)
                .await?
                .ok_or_else(|| ApiError::invalid_field("owner_id", "no such account"))?
                .id
        }
        None => p.user.id.clone(),
    };
    let team = Team {
        id: uuid::Uuid::now_v7().to_string(),
        name: req.name,
        display_name,
        namespace,
        created_at: now(),
    };
    state.store.create_team(&team, &p.user.id, &owner).await?;
    if let Err(err) = state.runtime.provision_team(&team).await {
        // The team exists; provisioning is idempotent and retried on the first publish.
        tracing::warn!(team = %team.name, error = %err, "provisioning the team's namespace failed");
    } else if let Err(err) = crate::registry_push::provision_pull_secret(&state, &team).await {
        tracing::warn!(team = %team.name, error = %err.message, "writing the team's registry pull secret failed");
    }
    let note = AuditNote {
        object_type: "team",
        object: team.name.clone(),
        team: Some(team.name.clone()),
        details: Some(json!({"namespace": team.namespace, "owner": owner})),
        ..AuditNote::default()
    };
    Ok(noted(
        json_response(
            StatusCode::CREATED,
            &TeamView { team, role: Some(Role::Owner).filter(|_| owner == p.user.id) },
        ),
        note,
    ))
}

#[utoipa::path(get, path = "/api/v1/teams/{team}", tag = "teams", params(("team" = String, Path, description = "team name")), responses((status = 200, description = "the team", body = TeamView), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn get_team(
    State(state): St,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (team, role) = team_access(&state, &p, &name, Role::Viewer).await?;
    Ok(json_response(StatusCode::OK, &TeamView { team, role }))
}

/// `PATCH /api/v1/teams/{team}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameTeam {
    /// The new name shown.
    pub display_name: String,
}

#[utoipa::path(patch, path = "/api/v1/teams/{team}", tag = "teams", request_body = RenameTeam, params(("team" = String, Path, description = "team name")), responses((status = 200, description = "renamed", body = TeamView), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn rename_team(
    State(state): St,
    Caller(p): Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<RenameTeam>,
) -> Result<Response, ApiError> {
    let (mut team, role) = team_access(&state, &p, &name, Role::Owner).await?;
    let display_name = check_name("display_name", &req.display_name)?;
    state.store.rename_team(&team.id, &display_name).await?;
    team.display_name = display_name;
    let note = AuditNote {
        object_type: "team",
        object: team.name.clone(),
        team: Some(team.name.clone()),
        details: Some(json!({"display_name": team.display_name})),
        ..AuditNote::default()
    };
    Ok(noted(json_response(StatusCode::OK, &TeamView { team, role }), note))
}

#[utoipa::path(delete, path = "/api/v1/teams/{team}", tag = "teams", params(("team" = String, Path, description = "team name")), responses((status = 204, description = "deleted"), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn delete_team(
    State(state): St,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &name, Role::Owner).await?;
    state.runtime.deprovision_team(&team).await?;
    state.store.delete_team(&team.id).await?;
    Ok(noted(
        StatusCode::NO_CONTENT.into_response(),
        AuditNote {
            object_type: "team",
            object: team.name.clone(),
            team: Some(team.name),
            ..AuditNote::default()
        },
    ))
}

#[utoipa::path(get, path = "/api/v1/teams/{team}/members", tag = "teams", params(("team" = String, Path, description = "team name")), responses((status = 200, description = "members by email", body = List<Member>), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn list_members(
    State(state): St,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &name, Role::Viewer).await?;
    let items: Vec<Member> = state.store.members(&team.id).await?;
    Ok(json_response(StatusCode::OK, &List { items, next_cursor: None }))
}

/// `PUT /api/v1/teams/{team}/members/{user_id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutMember {
    /// `owner`, `member` or `viewer`.
    #[schema(pattern = "^(owner|member|viewer)$")]
    pub role: String,
}

#[utoipa::path(put, path = "/api/v1/teams/{team}/members/{user_id}", tag = "teams", request_body = PutMember, params(("team" = String, Path, description = "team name"), ("user_id" = String, Path, description = "account id")), responses((status = 200, description = "the membership", body = Member), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn put_member(
    State(state): St,
    Caller(p): Caller,
    Path((name, user_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<PutMember>,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &name, Role::Owner).await?;
    let role = Role::parse(&req.role)
        .ok_or_else(|| ApiError::invalid_field("role", "role must be `owner`, `member` or `viewer`"))?;
    let user = state.store.user(&user_id).await?.ok_or_else(|| ApiError::not_found("no such account"))?;
    state.store.put_member(&team.id, &user.id, role).await?;
    let member = Member {
        user_id: user.id.clone(),
        email: user.email,
        display_name: user.display_name,
        role,
        joined_at: now(),
    };
    let note = AuditNote {
        object_type: "member",
        object: user.id,
        team: Some(team.name),
        details: Some(json!({"role": role.as_str()})),
        ..AuditNote::default()
    };
    Ok(noted(json_response(StatusCode::OK, &member), note))
}

#[utoipa::path(delete, path = "/api/v1/teams/{team}/members/{user_id}", tag = "teams", params(("team" = String, Path, description = "team name"), ("user_id" = String, Path, description = "account id")), responses((status = 204, description = "removed"), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
async fn remove_member(
    State(state): St,
    Caller(p): Caller,
    Path((name, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &name, Role::Owner).await?;
    if !state.store.remove_member(&team.id, &user_id).await? {
        return Err(ApiError::not_found("not a member of this team"));
    }
    Ok(noted(
        StatusCode::NO_CONTENT.into_response(),
        AuditNote { object_type: "member", object: user_id, team: Some(team.name), ..AuditNote::default() },
    ))
}
