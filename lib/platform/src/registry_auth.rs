//! Access control for the container registry: registry credentials (`mcpr_…`, for
//! `docker login`) and the forward-auth endpoint the registry's ingress (Traefik `forwardAuth`)
//! asks before every pull and push.
//!
//! - Registry credentials belong to an account and act with its roles (teams, administrator).
//!   They are stored like API keys: only the HMAC-SHA256 of the value under the platform's
//!   hashing secret; the value is shown once, at creation; a revoked credential stops at the
//!   next request. They authenticate only at the forward-auth endpoint, never the rest of the
//!   API.
//! - [`authz`] answers 200 (allow), 401 with `WWW-Authenticate: Basic realm="mcp-runtime-registry"`
//!   (no or bad credentials) or 403 (refused). The decision reads the forwarded method and URI
//!   ([`parse_uri`], [`Op`]) and the caller's team role from the store on every request; a path
//!   that a registry could read differently from us (`..`, `%2F`, empty segments, characters a
//!   registry path never has) is refused, never normalised.
//! - Every decision is one platform audit event (`registry.pull`, `registry.push`,
//!   `registry.delete`, `registry.check`, `registry.catalog`, `registry.other`;
//!   `registry.denied` for every 401 and 403), queued without blocking.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::AppState;
use crate::api::{AuditNote, Caller, List, Routes, noted};
use crate::audit::PlatformEvent;
use crate::auth::{ClientIp, Credential, Principal, access_token_principal, api_key_principal, scopes_allow};
use crate::error::{ApiError, ApiJson, ErrorBody, json_response};
use crate::secrets::{API_KEY_PREFIX, new_token};
use crate::store::{Role, Store, StoreError, Team, User, map_err, now};

/// Prefix of registry credentials.
pub const CREDENTIAL_PREFIX: &str = "mcpr_";
/// Characters of a credential shown in lists (the prefix and 8 more).
pub const SHOWN_PREFIX_LEN: usize = CREDENTIAL_PREFIX.len() + 8;
/// The forward-auth route.
pub const AUTHZ_PATH: &str = "/api/v1/registry/authz";
/// The realm of the Basic challenge.
pub const REALM: &str = "mcp-runtime-registry";
/// Characters of a forwarded path kept in an audit event.
const AUDIT_PATH_MAX: usize = 512;
/// The namespace prefix a team's repositories may also be addressed with.
pub const TEAM_NAMESPACE_PREFIX: &str = "mcp-team-";

// ---- store ---------------------------------------------------------------------------------

/// A registry credential as stored (the value itself is never stored).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegistryCredential {
    /// Id (UUIDv7).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Name given at creation.
    pub name: String,
    /// The first characters of the value, to recognise it.
    pub prefix: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last time it authenticated a registry request (updated at most once a minute).
    pub last_used_at: Option<i64>,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

const CREDENTIAL_COLUMNS: &str = "id, user_id, name, prefix, created_at, last_used_at, revoked_at";

fn credential_from(row: &AnyRow) -> Result<RegistryCredential, sqlx::Error> {
    Ok(RegistryCredential {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    /// Stores a new registry credential under its hash.
    pub async fn insert_registry_credential(
        &self,
        c: &RegistryCredential,
        hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registry_credentials (id, user_id, name, prefix, key_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.id)
        .bind(&c.user_id)
        .bind(&c.name)
        .bind(&c.prefix)
        .bind(hash)
        .bind(c.created_at)
        .execute(self.pool())
        .await
        .map(|_| ())
        .map_err(map_err)
    }

    /// The registry credential stored under `hash`.
    pub async fn registry_credential_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<RegistryCredential>, StoreError> {
        let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM registry_credentials WHERE key_hash = $1");
        let row = sqlx::query(&sql).bind(hash).fetch_optional(self.pool()).await.map_err(map_err)?;
        row.as_ref().map(credential_from).transpose().map_err(map_err)
    }

    /// The registry credential with this id.
    pub async fn registry_credential(&self, id: &str) -> Result<Option<RegistryCredential>, StoreError> {
        let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM registry_credentials WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(self.pool()).await.map_err(map_err)?;
        row.as_ref().map(credential_from).transpose().map_err(map_err)
    }

    /// The registry credentials of an account, newest first.
    pub async fn list_registry_credentials(
        &self,
        user_id: &str,
    ) -> Result<Vec<RegistryCredential>, StoreError> {
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM registry_credentials WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC"
        );
        let rows = sqlx::query(&sql).bind(user_id).fetch_all(self.pool()).await.map_err(map_err)?;
        rows.iter().map(credential_from).collect::<Result<_, _>>().map_err(map_err)
    }

    /// Revokes a registry credential (idempotent).
    pub async fn revoke_registry_credential(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE registry_credentials SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(self.pool())
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    /// Records a use of a registry credential (callers throttle this).
    pub async fn touch_registry_credential(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE registry_credentials SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(self.pool())
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}

// ---- routes --------------------------------------------------------------------------------

type St = State<Arc<AppState>>;

/// The registry-access block of the route table: the credential routes and the forward-auth
/// route under every method an ingress may forward with (Traefik sends `GET` unless it
/// preserves the request's method).
pub(crate) fn register(r: Routes) -> Routes {
    let r = r
        .add(Method::GET, "/api/v1/user/registry-credentials", "registry_credential.list", list_credentials)
        .add(
            Method::POST,
            "/api/v1/user/registry-credentials",
            "registry_credential.create",
            create_credential,
        )
        .add(
            Method::DELETE,
            "/api/v1/user/registry-credentials/{id}",
            "registry_credential.revoke",
            revoke_credential,
        );
    [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE]
        .into_iter()
        .fold(r, |r, m| r.add(m, AUTHZ_PATH, "registry.authz", authz))
}

#[utoipa::path(get, path = "/api/v1/user/registry-credentials", tag = "registry-access", responses((status = 200, description = "the caller's registry credentials (never their values)", body = List<RegistryCredential>), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_credentials(State(state): St, Caller(p): Caller) -> Result<Response, ApiError> {
    let items = state.store.list_registry_credentials(&p.user.id).await?;
    Ok(json_response(StatusCode::OK, &List { items, next_cursor: None }))
}

/// `POST /api/v1/user/registry-credentials` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRegistryCredential {
    /// A name to recognise the credential by (1..=100 characters).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// A new registry credential: the value, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedRegistryCredential {
    /// Id (UUIDv7).
    pub id: String,
    /// Name given at creation.
    pub name: String,
    /// The first characters of the value, as lists show them.
    pub prefix: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// A username for `docker login` (the account's email; the registry ignores it, the value
    /// alone names the account).
    pub username: String,
    /// The credential (`mcpr_…`), the password for `docker login`; it cannot be shown again.
    pub value: String,
}

/// A new registry credential of `user_id`, stored under its hash; returns it and its value
/// (shown once).
pub(crate) async fn issue_credential(
    state: &AppState,
    user_id: &str,
    name: String,
) -> Result<(RegistryCredential, String), ApiError> {
    let value = new_token(CREDENTIAL_PREFIX).map_err(ApiError::internal)?;
    let credential = RegistryCredential {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_string(),
        name,
        prefix: value.chars().take(SHOWN_PREFIX_LEN).collect(),
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
    };
    state.store.insert_registry_credential(&credential, &state.hasher.hash(&value)).await?;
    Ok((credential, value))
}

#[utoipa::path(post, path = "/api/v1/user/registry-credentials", tag = "registry-access", request_body = CreateRegistryCredential, responses((status = 201, description = "created; the value is shown this once", body = CreatedRegistryCredential), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create_credential(
    State(state): St,
    Caller(p): Caller,
    ApiJson(req): ApiJson<CreateRegistryCredential>,
) -> Result<Response, ApiError> {
    let name = crate::api::check_name("name", &req.name)?;
    let (credential, value) = issue_credential(&state, &p.user.id, name).await?;
    let note = AuditNote {
        object_type: "registry_credential",
        object: credential.id.clone(),
        details: Some(json!({"owner": credential.user_id, "prefix": credential.prefix})),
        ..AuditNote::default()
    };
    let body = CreatedRegistryCredential {
        id: credential.id,
        name: credential.name,
        prefix: credential.prefix,
        created_at: credential.created_at,
        username: p.user.email,
        value,
    };
    Ok(noted(json_response(StatusCode::CREATED, &body), note))
}

#[utoipa::path(delete, path = "/api/v1/user/registry-credentials/{id}", tag = "registry-access", params(("id" = String, Path, description = "credential id")), responses((status = 204, description = "revoked (at once: the next registry request with it is refused)"), (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn revoke_credential(
    State(state): St,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found =
        state.store.registry_credential(&id).await?.filter(|c| c.user_id == p.user.id || p.user.is_admin);
    let Some(credential) = found else { return Err(ApiError::not_found("no such registry credential")) };
    state.store.revoke_registry_credential(&credential.id).await?;
    Ok(noted(
        StatusCode::NO_CONTENT.into_response(),
        AuditNote { object_type: "registry_credential", object: credential.id, ..AuditNote::default() },
    ))
}

// ---- the decision's pure parts -------------------------------------------------------------

/// What a registry request does, from its method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET`, `HEAD`: read manifests, blobs, tags.
    Pull,
    /// `POST`, `PUT`, `PATCH`: upload blobs, write manifests.
    Push,
    /// `DELETE`.
    Delete,
    /// Any other method (administrators only).
    Other,
}

impl Op {
    /// The operation of `method`.
    pub fn of(method: &Method) -> Op {
        match *method {
            Method::GET | Method::HEAD => Op::Pull,
            Method::POST | Method::PUT | Method::PATCH => Op::Push,
            Method::DELETE => Op::Delete,
            _ => Op::Other,
        }
    }

    /// The audit action of an allowed request on a repository.
    pub fn action(self) -> &'static str {
        match self {
            Op::Pull => "registry.pull",
            Op::Push => "registry.push",
            Op::Delete => "registry.delete",
            Op::Other => "registry.other",
        }
    }

    /// The lowest team role that may do it (`None`: no team role may).
    pub fn needs(self) -> Option<Role> {
        match self {
            Op::Pull => Some(Role::Viewer),
            Op::Push => Some(Role::Member),
            Op::Delete => Some(Role::Owner),
            Op::Other => None,
        }
    }
}

/// What a forwarded URI addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/v2` or `/v2/`: the API version check every login does.
    VersionCheck,
    /// `/v2/_catalog`: every repository's name.
    Catalog,
    /// A repository whose name has a single segment (`/v2/<name>/…`): no team in it
    /// (administrators only).
    Unscoped {
        /// The repository name.
        repository: String,
    },
    /// `/v2/<first>/<rest…>`: a repository whose name starts with `first`.
    Repository {
        /// The first name segment (a team name, or `mcp-team-<team name>`).
        first: String,
        /// The repository name (the segments before `manifests`, `blobs`, `tags` or
        /// `referrers`; the whole path when none is present).
        repository: String,
    },
}

/// Why a request is refused: a stable code (audit) and whether it may be told to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal(pub &'static str);

impl Refusal {
    /// The message answered (the same for an unknown team and a team the caller is not in).
    fn message(self) -> &'static str {
        match self.0 {
            "missing_uri" => "X-Forwarded-Uri is missing",
            "not_registry_path" => "not a registry API path (/v2/…)",
            "malformed_path" => {
                "the path is ambiguous (dot segments, encoded characters, empty segments or characters a registry path never has)"
            }
            "no_repository" => "the path names no repository under a team",
            "missing_method" => "X-Forwarded-Method is missing or not a method",
            "method_mismatch" => "the request method differs from X-Forwarded-Method",
            "method_not_allowed" => "this method is not allowed on this registry path",
            "catalog_admin_only" => "the catalog is for platform administrators",
            "read_only_key" => "a read-scoped API key may pull but never push or delete",
            "role_too_low" => "your team role does not allow this",
            _ => "no access to this repository",
        }
    }
}

/// Whether `seg` is a path segment every reader reads the same way: not empty, not `.`/`..`,
/// only characters of repository names, tags, digests and upload ids.
fn plain_segment(seg: &str) -> bool {
    !seg.is_empty()
        && seg != "."
        && seg != ".."
        && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// Parses a forwarded request URI (origin form: path and optional query). Nothing is decoded
/// or normalised: anything a registry could read differently is refused.
pub fn parse_uri(raw: Option<&str>) -> Result<Target, Refusal> {
    let raw = raw.ok_or(Refusal("missing_uri"))?;
    if raw.contains('#') {
        return Err(Refusal("malformed_path"));
    }
    let path = raw.split_once('?').map(|(p, _)| p).unwrap_or(raw);
    if path == "/v2" || path == "/v2/" {
        return Ok(Target::VersionCheck);
    }
    let Some(rest) = path.strip_prefix("/v2/") else { return Err(Refusal("not_registry_path")) };
    // A trailing slash is part of the protocol (`POST …/blobs/uploads/`); every other empty
    // segment is refused.
    let trimmed = rest.strip_suffix('/').unwrap_or(rest);
    let segments: Vec<&str> = trimmed.split('/').collect();
    if !segments.iter().all(|s| plain_segment(s)) {
        return Err(Refusal("malformed_path"));
    }
    if segments == ["_catalog"] && !rest.ends_with('/') {
        return Ok(Target::Catalog);
    }
    let end = segments
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, s)| matches!(**s, "manifests" | "blobs" | "tags" | "referrers"))
        .map(|(i, _)| i)
        .unwrap_or(segments.len());
    if end < 2 {
        return Ok(Target::Unscoped { repository: segments[0].to_string() });
    }
    Ok(Target::Repository { first: segments[0].to_string(), repository: segments[..end].join("/") })
}

/// The registry request's URI: exactly one `X-Forwarded-Uri` of visible ASCII.
pub fn forwarded_uri(headers: &HeaderMap) -> Result<&str, Refusal> {
    let mut values = headers.get_all("x-forwarded-uri").iter();
    match (values.next(), values.next()) {
        (None, _) => Err(Refusal("missing_uri")),
        (Some(v), None) => v.to_str().map_err(|_| Refusal("malformed_path")),
        (Some(_), Some(_)) => Err(Refusal("malformed_path")),
    }
}

/// The method the registry request used: `X-Forwarded-Method` (Traefik always sends it). When
/// the ingress preserves the method (`preserveRequestMethod`), the two must agree.
pub fn forwarded_method(request: &Method, headers: &HeaderMap) -> Result<Method, Refusal> {
    let mut values = headers.get_all("x-forwarded-method").iter();
    let (Some(value), None) = (values.next(), values.next()) else { return Err(Refusal("missing_method")) };
    let text = value.to_str().map_err(|_| Refusal("missing_method"))?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Refusal("missing_method"));
    }
    let method = Method::from_bytes(text.as_bytes()).map_err(|_| Refusal("missing_method"))?;
    if *request != Method::GET && *request != method {
        return Err(Refusal("method_mismatch"));
    }
    Ok(method)
}

// ---- the caller ----------------------------------------------------------------------------

/// How a registry caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    /// An `mcpr_` credential.
    RegistryCredential,
    /// An API key (read-only when it lacks the `write` scope).
    ApiKey {
        /// Whether it may only pull.
        read_only: bool,
    },
    /// A platform access token.
    AccessToken,
}

impl AuthKind {
    fn as_str(self) -> &'static str {
        match self {
            AuthKind::RegistryCredential => "registry_credential",
            AuthKind::ApiKey { .. } => "api_key",
            AuthKind::AccessToken => "access_token",
        }
    }
}

struct RegistryCaller {
    user: User,
    auth: AuthKind,
}

/// The single secret presented, with the schemes that may carry it.
enum Presented {
    None,
    Basic(String),
    Bearer(String),
    ApiKeyHeader(String),
}

fn presented(headers: &HeaderMap) -> Result<Presented, ApiError> {
    let auth: Vec<&HeaderValue> = headers.get_all(header::AUTHORIZATION).iter().collect();
    let keys: Vec<&HeaderValue> = headers.get_all("x-api-key").iter().collect();
    if auth.len() + keys.len() > 1 {
        return Err(ApiError::unauthorized("present exactly one credential"));
    }
    if let Some(value) = keys.first() {
        let text = value.to_str().map_err(|_| ApiError::unauthorized("malformed x-api-key header"))?;
        return Ok(Presented::ApiKeyHeader(text.trim().to_string()));
    }
    let Some(value) = auth.first() else { return Ok(Presented::None) };
    let text = value.to_str().map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let Some((scheme, rest)) = text.split_once(' ') else {
        return Err(ApiError::unauthorized("Authorization must be `Basic …` or `Bearer …`"));
    };
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::unauthorized("malformed Basic credentials"))?;
        // The username is ignored: the secret alone names the account.
        let (_, password) =
            decoded.split_once(':').ok_or_else(|| ApiError::unauthorized("malformed Basic credentials"))?;
        Ok(Presented::Basic(password.to_string()))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Presented::Bearer(rest.to_string()))
    } else {
        Err(ApiError::unauthorized("Authorization must be `Basic …` or `Bearer …`"))
    }
}

async fn credential_principal(state: &AppState, value: &str) -> Result<RegistryCaller, ApiError> {
    let credential = state
        .store
        .registry_credential_by_hash(&state.hasher.hash(value))
        .await?
        .ok_or_else(|| ApiError::invalid_token("unknown registry credential"))?;
    if credential.revoked_at.is_some() {
        return Err(ApiError::invalid_token("registry credential revoked"));
    }
    let user = state
        .store
        .user(&credential.user_id)
        .await?
        .ok_or_else(|| ApiError::invalid_token("unknown account"))?;
    if user.disabled_at.is_some() {
        return Err(ApiError::invalid_token("account disabled"));
    }
    let at = now();
    if credential.last_used_at.is_none_or(|t| at - t >= 60) {
        state.store.touch_registry_credential(&credential.id, at).await?;
    }
    Ok(RegistryCaller { user, auth: AuthKind::RegistryCredential })
}

fn from_principal(p: Principal) -> RegistryCaller {
    let auth = match &p.credential {
        Credential::ApiKey { scopes, .. } => AuthKind::ApiKey { read_only: !scopes_allow(scopes, false) },
        Credential::AccessToken { .. } => AuthKind::AccessToken,
    };
    RegistryCaller { user: p.user, auth }
}

/// The caller: `mcpr_` credentials and API keys in any of the three places, access tokens as
/// `Bearer` only.
async fn identify(state: &AppState, presented: Presented, ip: IpAddr) -> Result<RegistryCaller, ApiError> {
    let (secret, bearer) = match presented {
        Presented::None => return Err(ApiError::unauthorized("authentication required")),
        Presented::Basic(s) | Presented::ApiKeyHeader(s) => (s, false),
        Presented::Bearer(s) => (s, true),
    };
    if secret.starts_with(CREDENTIAL_PREFIX) {
        credential_principal(state, &secret).await
    } else if secret.starts_with(API_KEY_PREFIX) {
        api_key_principal(state, &secret, ip).await.map(from_principal)
    } else if bearer && !secret.is_empty() {
        access_token_principal(state, &secret, ip).await.map(from_principal)
    } else {
        Err(ApiError::invalid_token("not a registry credential or API key"))
    }
}

// ---- the decision --------------------------------------------------------------------------

/// An allowed request: the audit action, the team and the reason.
struct Allowed {
    action: &'static str,
    team: Option<String>,
    reason: &'static str,
}

/// The team `first` names: the team of that name, or of the name after `mcp-team-`; both
/// existing is ambiguous and refused.
async fn team_of(state: &AppState, first: &str) -> Result<Team, Refusal> {
    let exact = state.store.team(first).await.map_err(|_| Refusal("store_unavailable"))?;
    let stripped = match first.strip_prefix(TEAM_NAMESPACE_PREFIX) {
        Some(name) if !name.is_empty() => {
            state.store.team(name).await.map_err(|_| Refusal("store_unavailable"))?
        }
        _ => None,
    };
    match (exact, stripped) {
        (Some(_), Some(_)) => Err(Refusal("ambiguous_team")),
        (Some(t), None) | (None, Some(t)) => Ok(t),
        (None, None) => Err(Refusal("unknown_team")),
    }
}

async fn decide(
    state: &AppState,
    caller: &RegistryCaller,
    method: &Method,
    target: &Target,
) -> Result<Allowed, (Refusal, Option<String>)> {
    let op = Op::of(method);
    if matches!(caller.auth, AuthKind::ApiKey { read_only: true }) && op != Op::Pull {
        return Err((Refusal("read_only_key"), None));
    }
    if caller.user.is_admin {
        let action = match target {
            Target::VersionCheck => "registry.check",
            Target::Catalog => "registry.catalog",
            Target::Repository { .. } | Target::Unscoped { .. } => op.action(),
        };
        return Ok(Allowed { action, team: None, reason: "admin" });
    }
    match target {
        Target::VersionCheck if op == Op::Pull => {
            Ok(Allowed { action: "registry.check", team: None, reason: "version_check" })
        }
        Target::VersionCheck => Err((Refusal("method_not_allowed"), None)),
        Target::Catalog => Err((Refusal("catalog_admin_only"), None)),
        Target::Unscoped { .. } => Err((Refusal("no_repository"), None)),
        Target::Repository { first, .. } => {
            let team = team_of(state, first).await.map_err(|r| (r, None))?;
            let role = state
                .store
                .role(&team.id, &caller.user.id)
                .await
                .map_err(|_| (Refusal("store_unavailable"), Some(team.name.clone())))?;
            let Some(role) = role else { return Err((Refusal("not_member"), Some(team.name))) };
            match op.needs() {
                None => Err((Refusal("method_not_allowed"), Some(team.name))),
                Some(need) if role < need => Err((Refusal("role_too_low"), Some(team.name))),
                Some(_) => Ok(Allowed { action: op.action(), team: Some(team.name), reason: "team_role" }),
            }
        }
    }
}

fn challenge(err: ApiError) -> Response {
    let mut response = err.into_response();
    let value = format!("Basic realm=\"{REALM}\"");
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

struct Record<'a> {
    caller: Option<&'a RegistryCaller>,
    method: Option<&'a Method>,
    target: Option<&'a Target>,
    uri: Option<&'a str>,
    host: Option<&'a str>,
    ip: IpAddr,
}

impl Record<'_> {
    fn emit(&self, state: &AppState, action: &str, status: StatusCode, team: Option<String>, reason: &str) {
        if !state.audit.enabled() {
            return;
        }
        let repository = match self.target {
            Some(Target::Repository { repository, .. } | Target::Unscoped { repository }) => {
                repository.clone()
            }
            Some(Target::Catalog) => "_catalog".into(),
            _ => String::new(),
        };
        // The path as sent (query left out), bounded: anyone may send a long one.
        let path = self.uri.map(|u| {
            let p = u.split_once('?').map(|(p, _)| p).unwrap_or(u);
            p.chars().take(AUDIT_PATH_MAX).collect::<String>()
        });
        state.audit.record(PlatformEvent {
            actor: self.caller.map(|c| c.user.id.clone()).unwrap_or_else(|| "anonymous".into()),
            actor_email: self.caller.map(|c| c.user.email.clone()),
            auth: self.caller.map(|c| c.auth.as_str()).unwrap_or("none").to_string(),
            action: action.to_string(),
            object_type: "repository".into(),
            object: repository,
            team,
            outcome: if status.is_success() { "success" } else { "failure" }.into(),
            status: status.as_u16(),
            error_code: (!status.is_success()).then(|| ApiError::from_status(status).code.to_string()),
            client_ip: self.ip.to_string(),
            details: Some(json!({
                "decision": if status.is_success() { "allow" } else { "deny" },
                "reason": reason,
                "method": self.method.map(Method::as_str),
                "path": path,
                "host": self.host,
            })),
        });
    }
}

#[utoipa::path(method(get, head, post, put, patch, delete), path = "/api/v1/registry/authz", tag = "registry-access",
    params(
        ("X-Forwarded-Method" = String, Header, description = "the registry request's method"),
        ("X-Forwarded-Uri" = String, Header, description = "the registry request's path and query (`/v2/…`)"),
        ("X-Forwarded-Host" = Option<String>, Header, description = "the registry host (recorded, not judged)"),
    ),
    responses(
        (status = 200, description = "allowed (Traefik treats any 2xx as allow)", body = Object),
        (status = 401, description = "no or bad credentials; `WWW-Authenticate: Basic realm=\"mcp-runtime-registry\"`", body = ErrorBody),
        (status = 403, description = "refused (role, scope, or an ambiguous or non-registry path)", body = ErrorBody),
        (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody),
    ),
    security((), ("bearer" = []), ("registry_basic" = [])))]
pub(crate) async fn authz(
    State(state): St,
    ClientIp(ip): ClientIp,
    request_method: Method,
    headers: HeaderMap,
) -> Response {
    let uri = forwarded_uri(&headers);
    let mut record = Record {
        caller: None,
        method: None,
        target: None,
        uri: uri.ok(),
        host: headers.get("x-forwarded-host").and_then(|v| v.to_str().ok()),
        ip,
    };
    let identified = match presented(&headers) {
        Ok(Presented::None) => Err((ApiError::unauthorized("authentication required"), "no_credentials")),
        Ok(p) => identify(&state, p, ip).await.map_err(|e| (e, "bad_credentials")),
        Err(e) => Err((e, "bad_credentials")),
    };
    let caller = match identified {
        Ok(c) => c,
        Err((err, reason)) if err.status == StatusCode::UNAUTHORIZED => {
            record.emit(&state, "registry.denied", StatusCode::UNAUTHORIZED, None, reason);
            return challenge(err);
        }
        Err((err, _)) => {
            record.emit(&state, "registry.denied", err.status, None, "error");
            return err.into_response();
        }
    };
    record.caller = Some(&caller);
    let refuse = |record: &Record<'_>, refusal: Refusal, team: Option<String>| {
        if refusal.0 == "store_unavailable" {
            record.emit(&state, "registry.denied", StatusCode::SERVICE_UNAVAILABLE, team, refusal.0);
            return ApiError::unavailable("store unavailable during a registry decision").into_response();
        }
        record.emit(&state, "registry.denied", StatusCode::FORBIDDEN, team, refusal.0);
        ApiError {
            details: Some(json!({"reason": public_reason(refusal)})),
            ..ApiError::forbidden(refusal.message())
        }
        .into_response()
    };
    let method = match forwarded_method(&request_method, &headers) {
        Ok(m) => m,
        Err(r) => return refuse(&record, r, None),
    };
    record.method = Some(&method);
    let target = match uri.and_then(|u| parse_uri(Some(u))) {
        Ok(t) => t,
        Err(r) => return refuse(&record, r, None),
    };
    record.target = Some(&target);
    match decide(&state, &caller, &method, &target).await {
        Ok(allowed) => {
            record.emit(&state, allowed.action, StatusCode::OK, allowed.team, allowed.reason);
            json_response(StatusCode::OK, &json!({"allowed": true, "action": allowed.action}))
        }
        Err((refusal, team)) => refuse(&record, refusal, team),
    }
}

/// The reason told to the client: an unknown team and a team the caller is not in (or that
/// is ambiguous) read the same, so the answer never reveals which teams exist.
fn public_reason(r: Refusal) -> &'static str {
    match r.0 {
        "unknown_team" | "not_member" | "ambiguous_team" => "no_access",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(first: &str, repository: &str) -> Result<Target, Refusal> {
        Ok(Target::Repository { first: first.into(), repository: repository.into() })
    }

    #[test]
    fn uris_are_parsed_without_normalising() {
        assert_eq!(parse_uri(Some("/v2/")), Ok(Target::VersionCheck));
        assert_eq!(parse_uri(Some("/v2")), Ok(Target::VersionCheck));
        assert_eq!(parse_uri(Some("/v2/_catalog?n=10")), Ok(Target::Catalog));
        assert_eq!(parse_uri(Some("/v2/a/app/manifests/latest")), repo("a", "a/app"));
        assert_eq!(parse_uri(Some("/v2/a/x/y/blobs/uploads/")), repo("a", "a/x/y"));
        assert_eq!(parse_uri(Some("/v2/a/app/blobs/sha256:ab?digest=sha256%3Aab")), repo("a", "a/app"));
        assert_eq!(parse_uri(Some("/v2/a/app")), repo("a", "a/app"));
        for bad in [
            "/v2/a/../b/app/manifests/x",
            "/v2/a/./app/manifests/x",
            "/v2/a%2Fapp/manifests/x",
            "/v2//a/app/manifests/x",
            "/v2/a//app/manifests/x",
            "/v2/a/app/manifests/x#f",
            "/v2/a/app;x=1/manifests/x",
            "/v2/a/app\\..\\b/manifests/x",
            "/v2/a/app/manifests/x//",
        ] {
            assert_eq!(parse_uri(Some(bad)), Err(Refusal("malformed_path")), "{bad}");
        }
        assert_eq!(parse_uri(None), Err(Refusal("missing_uri")));
        for other in ["/", "/v3/a/b", "http://h/v2/a/b", "v2/a/b", "/v2x/a/b", ""] {
            assert_eq!(parse_uri(Some(other)), Err(Refusal("not_registry_path")), "{other}");
        }
        for (none, name) in
            [("/v2/a", "a"), ("/v2/a/", "a"), ("/v2/a/manifests/x", "a"), ("/v2/_catalog/", "_catalog")]
        {
            assert_eq!(parse_uri(Some(none)), Ok(Target::Unscoped { repository: name.into() }), "{none}");
        }
    }

    #[test]
    fn the_forwarded_method_is_required_and_must_agree() {
        let h = |m: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-method", HeaderValue::from_str(m).expect("value"));
            h
        };
        assert_eq!(forwarded_method(&Method::GET, &h("PUT")), Ok(Method::PUT));
        assert_eq!(forwarded_method(&Method::PUT, &h("PUT")), Ok(Method::PUT));
        assert_eq!(forwarded_method(&Method::HEAD, &h("PUT")), Err(Refusal("method_mismatch")));
        assert_eq!(forwarded_method(&Method::GET, &h("put")), Err(Refusal("missing_method")));
        assert_eq!(forwarded_method(&Method::GET, &HeaderMap::new()), Err(Refusal("missing_method")));
        let mut two = h("GET");
        two.append("x-forwarded-method", HeaderValue::from_static("PUT"));
        assert_eq!(forwarded_method(&Method::GET, &two), Err(Refusal("missing_method")));
    }

    #[test]
    fn operations_need_rising_roles() {
        assert_eq!(Op::of(&Method::HEAD).needs(), Some(Role::Viewer));
        assert_eq!(Op::of(&Method::PATCH).needs(), Some(Role::Member));
        assert_eq!(Op::of(&Method::DELETE).needs(), Some(Role::Owner));
        assert_eq!(Op::of(&Method::OPTIONS).needs(), None);
    }
}
