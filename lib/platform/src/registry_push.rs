//! The platform's container registry, seen from the API: pushing a team's image into it and
//! reporting what it holds.
//!
//! - `POST /api/v1/runtime/registry/push?team=T&name=N[&tag=X]`: the body is an image archive
//!   (an OCI image layout tar as `mcp-runtime server build` and `skopeo copy … oci-archive:`
//!   write it, or a `docker save` tar), streamed to a temporary file up to
//!   `PLATFORM_REGISTRY_PUSH_MAX_BYTES` (default 512 MiB; more is refused with 413 and nothing is
//!   kept). The archive is read with every blob checked against its digest ([`mcp_oci::read`]),
//!   then pushed to `<registry>/<team>/<name>:<tag>` — the team's path, the one the registry's
//!   forward-auth lets the team's members pull — and the digest the registry reports for the tag
//!   must be the image's. The answer (201) holds the digest and the reference to deploy
//!   (`<host>/<team>/<name>@sha256:…`). Needs the team's member role. The push runs to its end
//!   even when the client goes away, and pushing the same archive again is harmless (blobs the
//!   registry has are skipped), so a failed upload is restarted by sending it again.
//! - `GET /api/v1/runtime/registry[?team=T]`: the registry's pull host and, for each team the
//!   caller is in (administrators: every team), its repositories and their tags.
//!
//! Configuration: `PLATFORM_REGISTRY_URL` (where the platform pushes, e.g. the registry's
//! in-cluster Service `http://registry.registry.svc.cluster.local:5000`), `PLATFORM_REGISTRY_HOST`
//! (the host image references name, the one nodes pull from; default: the URL's host),
//! `PLATFORM_REGISTRY_USERNAME` + `PLATFORM_REGISTRY_PASSWORD_FILE` (when the URL is behind
//! authentication). Without `PLATFORM_REGISTRY_URL` both routes answer 404 (signed-in callers) with
//! a message naming the setting.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{Method, StatusCode, header};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::AppState;
use crate::api::{ApiQuery, AuditNote, Caller, Routes, dns_label, noted, team_access};
use crate::config::{ConfigError, Source};
use crate::error::{ApiError, ErrorBody, json_response};
use crate::store::{Role, Team};

type St = State<Arc<AppState>>;

/// Default largest archive a push takes.
pub const DEFAULT_MAX_PUSH_BYTES: u64 = 512 << 20;

/// Where the platform's registry is.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `PLATFORM_REGISTRY_URL`.
    pub url: String,
    /// `PLATFORM_REGISTRY_HOST`.
    pub host: String,
    /// `PLATFORM_REGISTRY_USERNAME` and the content of `PLATFORM_REGISTRY_PASSWORD_FILE`.
    pub credentials: Option<(String, String)>,
    /// `PLATFORM_REGISTRY_PUSH_MAX_BYTES`.
    pub max_push_bytes: u64,
}

impl RegistryConfig {
    /// Reads the settings; `None` without `PLATFORM_REGISTRY_URL`.
    pub fn from_source(src: &dyn Source) -> Result<Option<RegistryConfig>, ConfigError> {
        let Some(url) = src.get("PLATFORM_REGISTRY_URL").map(|u| u.trim().trim_end_matches('/').to_string())
        else {
            return Ok(None);
        };
        let bad = |key: &'static str, value: &str, reason: &str| ConfigError {
            key,
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let authority = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .filter(|rest| !rest.is_empty() && !rest.contains('/') && !rest.contains('@'))
            .ok_or_else(|| bad("PLATFORM_REGISTRY_URL", &url, "expected http(s)://host[:port] (no path)"))?
            .to_string();
        let host = match src.get("PLATFORM_REGISTRY_HOST") {
            Some(h) if h.trim().is_empty() || h.contains('/') || h.contains("://") => {
                return Err(bad("PLATFORM_REGISTRY_HOST", &h, "expected host[:port]"));
            }
            Some(h) => h.trim().to_string(),
            None => authority,
        };
        let credentials =
            match (src.get("PLATFORM_REGISTRY_USERNAME"), src.get("PLATFORM_REGISTRY_PASSWORD_FILE")) {
                (None, None) => None,
                (Some(user), Some(file)) => {
                    let password = std::fs::read_to_string(file.trim()).map_err(|e| {
                        bad("PLATFORM_REGISTRY_PASSWORD_FILE", &file, &format!("cannot read it: {e}"))
                    })?;
                    Some((user.trim().to_string(), password.trim_end_matches(['\n', '\r']).to_string()))
                }
                (Some(user), None) => {
                    return Err(bad(
                        "PLATFORM_REGISTRY_USERNAME",
                        &user,
                        "needs PLATFORM_REGISTRY_PASSWORD_FILE",
                    ));
                }
                (None, Some(file)) => {
                    return Err(bad(
                        "PLATFORM_REGISTRY_PASSWORD_FILE",
                        &file,
                        "needs PLATFORM_REGISTRY_USERNAME",
                    ));
                }
            };
        let max_push_bytes = match src.get("PLATFORM_REGISTRY_PUSH_MAX_BYTES") {
            None => DEFAULT_MAX_PUSH_BYTES,
            Some(v) => {
                v.trim().parse::<u64>().ok().filter(|n| (1024..=(64u64 << 30)).contains(n)).ok_or_else(
                    || bad("PLATFORM_REGISTRY_PUSH_MAX_BYTES", &v, "a byte count from 1024 to 64 GiB"),
                )?
            }
        };
        Ok(Some(RegistryConfig { url, host, credentials, max_push_bytes }))
    }

    fn client(&self) -> Result<mcp_oci::push::Registry, ApiError> {
        let auth = match &self.credentials {
            None => mcp_oci::push::Auth::Anonymous,
            Some((username, password)) => {
                mcp_oci::push::Auth::Basic { username: username.clone(), password: password.clone() }
            }
        };
        mcp_oci::push::Registry::new(&self.url, auth).map_err(ApiError::internal)
    }
}

/// Adds the registry routes to the table.
pub(crate) fn register(r: Routes) -> Routes {
    r.add(Method::POST, "/api/v1/runtime/registry/push", "runtime.registry.push", push).add(
        Method::GET,
        "/api/v1/runtime/registry",
        "runtime.registry.info",
        info,
    )
}

fn not_configured() -> ApiError {
    ApiError::not_found("this platform has no registry (PLATFORM_REGISTRY_URL is not set)")
}

fn registry_error(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_GATEWAY,
        code: "registry_error",
        message: message.into(),
        details: None,
        retry_after: None,
    }
}

/// `POST /api/v1/runtime/registry/push` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PushQuery {
    /// The team whose repository receives the image.
    pub team: String,
    /// The repository name under the team (a DNS label: the server's name).
    pub name: String,
    /// The tag (default: the tag the archive names, else `latest`).
    pub tag: Option<String>,
}

/// A pushed image.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pushed {
    pub team: String,
    pub name: String,
    /// `<team>/<name>`.
    pub repository: String,
    pub tag: String,
    /// `sha256:<hex>` of the manifest, as the registry reports it for the tag.
    pub digest: String,
    /// What to deploy: `<host>/<team>/<name>@<digest>`.
    pub image: String,
    /// `<host>/<team>/<name>:<tag>`.
    pub tagged: String,
    /// `os/architecture`.
    pub platform: String,
    /// Bytes of the image's blobs.
    pub size: u64,
}

#[utoipa::path(post, path = "/api/v1/runtime/registry/push", tag = "runtime", params(PushQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "an image archive: OCI image layout tar or docker save tar (any content type is taken; `mcp-runtime` sends application/x-tar)"),
    responses((status = 201, description = "pushed; the registry holds the digest for the tag", body = Pushed),
        (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn push(
    State(state): St,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<PushQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let (team, _) = team_access(&state, &p, &q.team, Role::Member).await?;
    if !dns_label(&q.name, 63) {
        return Err(ApiError::invalid_field("name", "a lowercase DNS label (the server's name)"));
    }
    if let Some(tag) = &q.tag
        && !mcp_oci::push::valid_tag(tag)
    {
        return Err(ApiError::invalid_field("tag", "letters, digits, `_`, `.`, `-`; at most 128"));
    }
    let config = state.config.registry.clone().ok_or_else(not_configured)?;
    let limit = config.max_push_bytes;
    let too_large = || ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "payload_too_large",
        message: format!("the image archive is larger than {limit} bytes (PLATFORM_REGISTRY_PUSH_MAX_BYTES)"),
        details: Some(json!({ "limit_bytes": limit })),
        retry_after: None,
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    // Under the data directory when it is writable, else the system's temporary directory.
    let tmp = state.config.data_dir.join("tmp");
    let file = std::fs::create_dir_all(&tmp)
        .and_then(|()| tempfile::NamedTempFile::new_in(&tmp))
        .or_else(|_| tempfile::NamedTempFile::new())
        .map_err(ApiError::internal)?;
    let mut out = tokio::fs::File::from_std(file.reopen().map_err(ApiError::internal)?);
    let mut body: Body = request.into_body();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::invalid(format!("the upload broke off: {e}")))?;
        if let Ok(data) = frame.into_data() {
            received += data.len() as u64;
            if received > limit {
                return Err(too_large());
            }
            out.write_all(&data).await.map_err(ApiError::internal)?;
        }
    }
    out.flush().await.map_err(ApiError::internal)?;
    drop(out);
    if received == 0 {
        return Err(ApiError::invalid(
            "the body is empty: send an image archive (OCI layout or docker save tar)",
        ));
    }
    let image = tokio::task::spawn_blocking(move || {
        let reader = std::io::BufReader::new(file.reopen()?);
        let image = mcp_oci::read::read(reader);
        drop(file);
        Ok::<_, std::io::Error>(image)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::invalid(format!("not a usable image archive: {e}")))?;
    let tag = q.tag.clone().or_else(|| image.tag.clone().filter(|t| mcp_oci::push::valid_tag(t)));
    let tag = tag.unwrap_or_else(|| "latest".to_string());
    let repository = format!("{}/{}", team.name, q.name);
    let client = config.client()?;
    // The push finishes even if the client goes away: it runs on its own task.
    let task = {
        let repository = repository.clone();
        let tag = tag.clone();
        tokio::spawn(async move {
            let digest = client.push(&image, &repository, &tag).await;
            (digest, image.platform.clone(), image.size())
        })
    };
    let (digest, platform, size) = task.await.map_err(ApiError::internal)?;
    let digest = digest.map_err(|e| {
        tracing::warn!(error = %e, %repository, "registry push failed");
        registry_error(format!("the registry did not take the image: {e}"))
    })?;
    tracing::info!(%repository, %tag, %digest, size, "image pushed");
    let pushed = Pushed {
        team: team.name.clone(),
        name: q.name.clone(),
        image: format!("{}/{repository}@{digest}", config.host),
        tagged: format!("{}/{repository}:{tag}", config.host),
        repository: repository.clone(),
        tag,
        digest: digest.clone(),
        platform,
        size,
    };
    Ok(noted(
        json_response(StatusCode::CREATED, &pushed),
        AuditNote {
            actor: None,
            object_type: "image",
            object: repository,
            team: Some(team.name),
            details: Some(json!({ "digest": digest, "tag": pushed.tag, "size": size })),
        },
    ))
}

/// The account a team's pull secret signs in as: a service account, the team's viewer (pull
/// under the team's path, nothing else).
pub fn pull_account_email(team: &str) -> String {
    format!("registry-pull@{team}.teams.mcp-runtime.internal")
}

/// Name of the registry credential behind a team's pull secret.
const PULL_CREDENTIAL_NAME: &str = "team pull secret";

/// A fresh pull-only registry credential for `team`: its service account (created once, a
/// viewer of the team), a new `mcpr_` credential (earlier ones of the pull secret revoked);
/// returns the `.dockerconfigjson` for the registry host.
pub async fn pull_config(state: &AppState, team: &Team) -> Result<Vec<u8>, ApiError> {
    let config = state.config.registry.clone().ok_or_else(not_configured)?;
    let email = pull_account_email(&team.name);
    let account = match state.store.user_by_email(&email).await? {
        Some(user) => user,
        None => {
            crate::api::new_user(
                state,
                crate::api::CreateUser {
                    email: email.clone(),
                    password: None,
                    display_name: Some(format!("Registry pulls of team {}", team.name)),
                    kind: Some("service".into()),
                    admin: Some(false),
                },
            )
            .await?
        }
    };
    if state.store.role(&team.id, &account.id).await?.is_none() {
        state.store.put_member(&team.id, &account.id, Role::Viewer).await?;
    }
    for old in state.store.list_registry_credentials(&account.id).await? {
        if old.name == PULL_CREDENTIAL_NAME && old.revoked_at.is_none() {
            state.store.revoke_registry_credential(&old.id).await?;
        }
    }
    let (_, value) =
        crate::registry_auth::issue_credential(state, &account.id, PULL_CREDENTIAL_NAME.to_string()).await?;
    Ok(mcp_operator_core::team::docker_config(&config.host, &email, &value))
}

/// Writes `team`'s pull secret into its namespace (when a registry is configured).
pub async fn provision_pull_secret(state: &AppState, team: &Team) -> Result<(), ApiError> {
    if state.config.registry.is_none() {
        return Ok(());
    }
    let docker_config = pull_config(state, team).await?;
    state.runtime.apply_pull_secret(team, &docker_config).await?;
    Ok(())
}

/// [`provision_pull_secret`] unless the team already has a pull credential: publishing a
/// server calls it, so teams created before the registry was configured (or whose first
/// provisioning failed) get their pull secret too.
pub async fn ensure_pull_secret(state: &AppState, team: &Team) -> Result<(), ApiError> {
    if state.config.registry.is_none() {
        return Ok(());
    }
    if let Some(account) = state.store.user_by_email(&pull_account_email(&team.name)).await? {
        let credentials = state.store.list_registry_credentials(&account.id).await?;
        if credentials.iter().any(|c| c.name == PULL_CREDENTIAL_NAME && c.revoked_at.is_none()) {
            return Ok(());
        }
    }
    provision_pull_secret(state, team).await
}

/// `GET /api/v1/runtime/registry` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InfoQuery {
    /// Only this team.
    pub team: Option<String>,
}

/// What the registry holds for the caller.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegistryInfo {
    /// The host image references name (`PLATFORM_REGISTRY_HOST`).
    pub host: String,
    /// Repositories of the caller's teams.
    pub repositories: Vec<Repository>,
}

/// One repository.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Repository {
    pub team: String,
    /// `<team>/<name>`.
    pub repository: String,
    /// `<host>/<team>/<name>`.
    pub image: String,
    pub tags: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/runtime/registry", tag = "runtime", params(InfoQuery),
    responses((status = 200, description = "the registry host and the repositories of the caller's teams", body = RegistryInfo),
        (status = "default", description = "error (see the code list in docs/platform.md)", body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn info(
    State(state): St,
    Caller(p): Caller,
    ApiQuery(q): ApiQuery<InfoQuery>,
) -> Result<Response, ApiError> {
    let teams: Vec<Team> = match &q.team {
        Some(name) => vec![team_access(&state, &p, name, Role::Viewer).await?.0],
        None => state
            .store
            .list_teams((!p.user.is_admin).then_some(p.user.id.as_str()))
            .await?
            .into_iter()
            .map(|(t, _)| t)
            .collect(),
    };
    let config = state.config.registry.clone().ok_or_else(not_configured)?;
    let client = config.client()?;
    let all =
        client.repositories().await.map_err(|e| registry_error(format!("list the repositories: {e}")))?;
    let mut repositories = Vec::new();
    for repository in all {
        let Some((owner, _)) = repository.split_once('/') else { continue };
        let Some(team) = teams.iter().find(|t| t.name == owner) else { continue };
        let tags =
            client.tags(&repository).await.map_err(|e| registry_error(format!("{repository}: {e}")))?;
        repositories.push(Repository {
            team: team.name.clone(),
            image: format!("{}/{repository}", config.host),
            repository,
            tags,
        });
    }
    Ok(json_response(StatusCode::OK, &RegistryInfo { host: config.host, repositories }))
}
