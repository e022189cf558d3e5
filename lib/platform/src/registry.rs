//! A read-only MCP Registry (API v0.1) of the servers a caller may see, so IDEs and allow-list
//! features (GitHub Copilot's private registry) can read the governed catalog:
//! `GET /v0.1/servers` (`limit`, `cursor`, `search`, `updated_since`, `version=latest`),
//! `GET /v0.1/servers/{serverName}/versions`, `GET /v0.1/servers/{serverName}/versions/{version}`
//! (`latest` or the version). Answers carry CORS headers; preflights are answered by [`cors`].
//!
//! Each server is a `server.json` document of schema 2025-12-11: `name` is reverse-DNS —
//! the platform's MCP host reversed, then the team, a slash, the server (`localhost.payments/
//! ledger`, `com.example.mcp.payments/ledger` for `mcp.example.com`); `remotes[]` holds the
//! governed URL (through the gateway); `version` is the image tag when it is a version
//! (`1.2.0`, `v1.2.0`), else `0.0.<generation>`. Platform facts — team, namespace, phase,
//! policy revision, governed tools with required trust, side effect, risk and pin — are under
//! `_meta["io.modelcontextprotocol.registry/publisher-provided"]["io.mcpruntime/platform"]`.
//! Each list entry's `_meta["io.modelcontextprotocol.registry/official"]` holds `status`,
//! `publishedAt`, `updatedAt` and `isLatest` as a registry writes them.
//!
//! Visibility: servers of the teams the caller belongs to (administrators: all); a server the
//! caller may not see answers 404 like one that does not exist. Anonymous callers get 401.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Method, StatusCode, header};
use mcp_api::MCPServer;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::analytics::parse_time;
use crate::api::Caller;
use crate::auth::Principal;
use crate::error::{ApiError, json_response};
use crate::runtime::ListFilter;
use crate::store::Team;

/// The `$schema` of every document.
pub const SCHEMA_URL: &str = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";
/// Key of the publisher-provided block in `_meta`.
pub const PUBLISHER_META: &str = "io.modelcontextprotocol.registry/publisher-provided";
/// Key of the registry's own block in a list entry's `_meta`.
pub const OFFICIAL_META: &str = "io.modelcontextprotocol.registry/official";
/// Key of our facts inside the publisher-provided block.
pub const PLATFORM_META: &str = "io.mcpruntime/platform";
/// Page size: default and largest.
pub const LIMIT_DEFAULT: usize = 30;
/// Largest page.
pub const LIMIT_MAX: usize = 100;

/// `host` reversed label by label (`mcp.example.com` → `com.example.mcp`), port dropped.
pub fn reverse_dns(host: &str) -> String {
    let host = host.trim().trim_end_matches('.');
    let host =
        host.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
    let mut labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
    labels.reverse();
    let out = labels.join(".").to_ascii_lowercase();
    if out.is_empty() { "localhost".into() } else { out }
}

/// The registry name of `server` of `team`.
pub fn server_name(host: &str, team: &str, server: &str) -> String {
    format!("{}.{team}/{server}", reverse_dns(host))
}

/// The version a registry shows for a server.
pub fn version_of(server: &MCPServer) -> String {
    let tag = server.spec.image_tag.clone().or_else(|| {
        let image = server.spec.image.split('@').next().unwrap_or_default();
        let last = image.rsplit('/').next().unwrap_or_default();
        last.split_once(':').map(|(_, t)| t.to_string())
    });
    let semver_like = |t: &str| {
        let t = t.strip_prefix('v').unwrap_or(t);
        let core = t.split(['-', '+']).next().unwrap_or_default();
        let parts: Vec<&str> = core.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match tag {
        Some(t) if semver_like(&t) => t.strip_prefix('v').unwrap_or(&t).to_string(),
        _ => format!("0.0.{}", server.metadata.generation.unwrap_or(0).max(0)),
    }
}

fn rfc3339(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> String {
    t.0.to_string()
}

/// When the server last changed: the latest of its creation and its conditions' transitions.
pub fn updated_at(server: &MCPServer) -> Option<String> {
    let mut times: Vec<jiff::Timestamp> = Vec::new();
    if let Some(t) = &server.metadata.creation_timestamp {
        times.extend(rfc3339(t).parse::<jiff::Timestamp>().ok());
    }
    if let Some(status) = &server.status {
        for c in &status.conditions {
            times.extend(rfc3339(&c.last_transition_time).parse::<jiff::Timestamp>().ok());
        }
    }
    times.into_iter().max().map(|t| format!("{t:.0}"))
}

/// The governed URL of a server: its status URL, else the platform's MCP host and its path.
pub fn governed_url(state: &AppState, server: &MCPServer) -> String {
    if let Some(url) = server.status.as_ref().and_then(|s| s.url.clone()).filter(|u| !u.is_empty()) {
        return url;
    }
    let name = server.metadata.name.clone().unwrap_or_default();
    let host = server.spec.ingress_host.clone().unwrap_or_else(|| state.config.runtime.mcp_host.clone());
    let scheme = if state.config.runtime.mcp_tls { "https" } else { "http" };
    format!("{scheme}://{host}{}", server.spec.effective_path(&name))
}

/// The first `max` characters of `text` (by character, never splitting one).
fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The `server.json` document of one server.
pub fn document(state: &AppState, team: &Team, server: &MCPServer) -> Value {
    let name = server.metadata.name.clone().unwrap_or_default();
    let status = server.status.clone().unwrap_or_default();
    let tools: Vec<Value> = server
        .spec
        .tools
        .iter()
        .map(|t| {
            let mut m = Map::new();
            m.insert("name".into(), json!(t.name));
            if let Some(d) = &t.description {
                m.insert("description".into(), json!(d));
            }
            m.insert(
                "requiredTrust".into(),
                json!(t.required_trust.map(|v| v.to_string()).unwrap_or_else(|| "low".into())),
            );
            if let Some(s) = t.side_effect {
                m.insert("sideEffect".into(), json!(s.to_string()));
            }
            if let Some(r) = t.risk_level {
                m.insert("riskLevel".into(), json!(r.to_string()));
            }
            if let Some(pin) = status.tool_pins.get(&t.name) {
                m.insert("pin".into(), json!(pin));
            }
            Value::Object(m)
        })
        .collect();
    let description = server
        .spec
        .description
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| format!("{name} of team {}, governed by MCP Runtime", team.name));
    json!({
        "$schema": SCHEMA_URL,
        "name": server_name(&state.config.runtime.mcp_host, &team.name, &name),
        "title": name,
        "description": clip(description.trim(), 100),
        "version": version_of(server),
        "remotes": [{"type": "streamable-http", "url": governed_url(state, server)}],
        "_meta": {
            PUBLISHER_META: {
                PLATFORM_META: {
                    "team": team.name,
                    "namespace": team.namespace,
                    "server": name,
                    "phase": status.phase.map(|p| p.to_string()),
                    "policyRevision": status.policy_revision,
                    "tools": tools,
                }
            }
        }
    })
}

/// One list entry: the document and the registry's block.
fn entry(state: &AppState, team: &Team, server: &MCPServer) -> Value {
    let published = server.metadata.creation_timestamp.as_ref().map(rfc3339);
    json!({
        "server": document(state, team, server),
        "_meta": {
            OFFICIAL_META: {
                "status": "active",
                "publishedAt": published.as_ref().and_then(|t| t.parse::<jiff::Timestamp>().ok()).map(|t| format!("{t:.0}")),
                "updatedAt": updated_at(server),
                "isLatest": true,
            }
        }
    })
}

/// The teams a caller sees servers of: its own (administrators: every team).
pub async fn visible_teams(state: &AppState, p: &Principal) -> Result<Vec<Team>, ApiError> {
    let teams = state.store.list_teams(if p.user.is_admin { None } else { Some(&p.user.id) }).await?;
    Ok(teams.into_iter().map(|(t, _)| t).collect())
}

/// Every server the caller may see, with its team, ordered by (team, server).
pub async fn visible_servers(state: &AppState, p: &Principal) -> Result<Vec<(Team, MCPServer)>, ApiError> {
    let mut out = Vec::new();
    for team in visible_teams(state, p).await? {
        let servers = state.runtime.list_servers(&ListFilter::namespace(team.namespace.clone())).await?;
        out.extend(servers.into_iter().map(|s| (team.clone(), s)));
    }
    Ok(out)
}

/// `GET /v0.1/servers` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ListParams {
    /// At most this many servers (1..=100, default 30).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// `metadata.nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only servers whose name contains this (case-insensitive).
    pub search: Option<String>,
    /// Only servers updated at or after this time (RFC 3339).
    pub updated_since: Option<String>,
    /// `latest` (every server has one version here, so it filters nothing).
    pub version: Option<String>,
    /// Accepted for compatibility; no deleted servers are kept.
    pub include_deleted: Option<bool>,
}

fn cors_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
}

/// CORS for the registry paths: preflights (`OPTIONS /v0.1/…`) are answered 204 here, and
/// every registry answer (errors too) carries the CORS headers, so browser-based IDE clients
/// can read the catalog with an `Authorization` header.
pub async fn cors(req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/v0.1/") {
        return next.run(req).await;
    }
    let mut response = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    cors_headers(&mut response);
    response
}

#[utoipa::path(get, path = "/v0.1/servers", tag = "registry", params(ListParams), responses((status = 200, description = "`{servers: [{server: <server.json>, _meta}], metadata: {count, nextCursor?}}`, by name", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
    q: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::invalid(format!("invalid query: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(LIMIT_DEFAULT);
    if !(1..=LIMIT_MAX).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "limit must be between 1 and 100"));
    }
    if q.version.as_deref().is_some_and(|v| v != "latest") {
        return Err(ApiError::invalid_field("version", "only `version=latest` is supported"));
    }
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            URL_SAFE_NO_PAD
                .decode(c.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::invalid_field("cursor", "cursor is not valid"))?,
        ),
    };
    let since = q.updated_since.as_deref().map(|v| parse_time("updated_since", v)).transpose()?;
    let search = q.search.as_deref().map(str::to_lowercase).filter(|s| !s.is_empty());
    let host = state.config.runtime.mcp_host.clone();
    let mut rows: Vec<(String, Team, MCPServer)> = visible_servers(&state, &p)
        .await?
        .into_iter()
        .map(|(team, server)| {
            let name = server_name(&host, &team.name, server.metadata.name.as_deref().unwrap_or_default());
            (name, team, server)
        })
        .filter(|(name, _, _)| search.as_ref().is_none_or(|s| name.to_lowercase().contains(s)))
        .filter(|(_, _, server)| {
            since.is_none_or(|since| {
                updated_at(server)
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .and_then(|t| u64::try_from(t.as_millisecond()).ok())
                    .is_some_and(|t| t >= since)
            })
        })
        .filter(|(name, _, _)| after.as_ref().is_none_or(|a| name > a))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(|(name, _, _)| URL_SAFE_NO_PAD.encode(name)) } else { None };
    let servers: Vec<Value> = rows.iter().map(|(_, team, server)| entry(&state, team, server)).collect();
    let mut metadata = json!({"count": servers.len()});
    if let Some(c) = next_cursor {
        metadata["nextCursor"] = json!(c);
    }
    Ok(json_response(StatusCode::OK, &json!({"servers": servers, "metadata": metadata})))
}

async fn find(state: &AppState, p: &Principal, name: &str) -> Result<(Team, MCPServer), ApiError> {
    let host = &state.config.runtime.mcp_host;
    visible_servers(state, p)
        .await?
        .into_iter()
        .find(|(team, server)| {
            server_name(host, &team.name, server.metadata.name.as_deref().unwrap_or_default()) == name
        })
        .ok_or_else(|| ApiError::not_found("no such server"))
}

#[utoipa::path(get, path = "/v0.1/servers/{name}/versions", tag = "registry", params(("name" = String, Path, description = "server name, URL-encoded (it contains a slash)")), responses((status = 200, description = "`{servers: [entry], metadata: {count}}`: every version (one here)", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn versions(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (team, server) = find(&state, &p, &name).await?;
    let servers = vec![entry(&state, &team, &server)];
    Ok(json_response(StatusCode::OK, &json!({"servers": servers, "metadata": {"count": 1}})))
}

#[utoipa::path(get, path = "/v0.1/servers/{name}/versions/{version}", tag = "registry", params(("name" = String, Path, description = "server name, URL-encoded (it contains a slash)"), ("version" = String, Path, description = "a version or `latest`")), responses((status = 200, description = "one entry: `{server: <server.json>, _meta}`", body = Object), (status = "default", description = "error (see the code list in docs/platform.md)", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn version(
    State(state): State<Arc<AppState>>,
    Caller(p): Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (team, server) = find(&state, &p, &name).await?;
    if version != "latest" && version != version_of(&server) {
        return Err(ApiError::not_found("no such version"));
    }
    Ok(json_response(StatusCode::OK, &entry(&state, &team, &server)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_reverse_dns_with_one_slash() {
        assert_eq!(reverse_dns("mcp.example.com"), "com.example.mcp");
        assert_eq!(reverse_dns("MCP.Example.com:8443"), "com.example.mcp");
        assert_eq!(reverse_dns("localhost"), "localhost");
        assert_eq!(reverse_dns(""), "localhost");
        assert_eq!(server_name("mcp.example.com", "payments", "ledger"), "com.example.mcp.payments/ledger");
    }

    #[test]
    fn versions_come_from_the_image_tag_or_the_generation() {
        let mut s = MCPServer::new(
            "x",
            mcp_api::MCPServerSpec { image: "r.io/a/b:v1.2.3".into(), ..Default::default() },
        );
        assert_eq!(version_of(&s), "1.2.3");
        s.spec.image = "r.io:5000/a/b:latest".into();
        s.metadata.generation = Some(4);
        assert_eq!(version_of(&s), "0.0.4");
        s.spec.image_tag = Some("2.0.0-rc.1".into());
        assert_eq!(version_of(&s), "2.0.0-rc.1");
        s.spec.image_tag = None;
        s.spec.image = "r.io:5000/a/b".into();
        assert_eq!(version_of(&s), "0.0.4");
    }
}
