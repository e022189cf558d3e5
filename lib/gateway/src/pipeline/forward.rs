//! Forward: the request the app receives, rebuilt by the gateway.
//!
//! - Body: the canonical bytes of what was judged (`Content-Type: application/json`); for a
//!   batch with refused elements, only the allowed ones.
//! - Headers: hop-by-hop headers, `Host`, `Content-Length`, the caller's credential (no token
//!   passthrough) and every identity-shaped header are dropped — any case or `_`/`-` spelling of
//!   the gateway's identity headers and of the headers the policy names, and the proxy-identity
//!   family (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`, `Remote-User`, …). The gateway then sets
//!   its own identity headers from the verified identity, and the upstream credential.
//! - Limits: at most `MAX_UPSTREAM_CONNECTIONS` requests in flight to the app; the app's answer
//!   head must arrive within `UPSTREAM_TIMEOUT_MS`.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, Uri};
use http_body_util::Full;
use jiff::Timestamp;
use tracing::warn;

use super::Exchange;
use crate::error::{GatewayError, Refusal};
use crate::server::Gateway;
use crate::upstream::UpstreamBody;

/// Identity headers the gateway owns: stripped from every request and re-set from the verified
/// identity.
pub const HUMAN_HEADER: &str = "x-mcp-human-id";
/// See [`HUMAN_HEADER`].
pub const AGENT_HEADER: &str = "x-mcp-agent-id";
/// See [`HUMAN_HEADER`].
pub const TEAM_HEADER: &str = "x-mcp-team-id";
/// See [`HUMAN_HEADER`].
pub const SESSION_HEADER: &str = "x-mcp-agent-session";

/// Hop-by-hop headers never forwarded (RFC 9110 §7.6.1).
pub const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Request headers never forwarded besides [`HOP_BY_HOP`] and identity-shaped ones: the target
/// is the app, the length and type are the gateway's, the caller's credential is for the gateway
/// only.
const NOT_FORWARDED: [HeaderName; 4] =
    [header::HOST, header::CONTENT_LENGTH, header::CONTENT_TYPE, header::AUTHORIZATION];

/// Identity-shaped header names (lower case, `_` written as `-`) never forwarded.
const IDENTITY_SHAPED: [&str; 16] = [
    HUMAN_HEADER,
    AGENT_HEADER,
    TEAM_HEADER,
    SESSION_HEADER,
    "x-mcp-session-id",
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "remote-user",
    "x-remote-user",
    "x-user",
    "x-user-id",
    "x-authenticated-user",
    "x-auth-user",
    "x-email",
    "true-client-ip",
];

/// Prefixes of identity-shaped header families never forwarded.
const IDENTITY_PREFIXES: [&str; 4] = ["x-forwarded-", "x-auth-request-", "x-remote-", "x-original-"];

/// Whether a header name is identity-shaped, in any case or `_`/`-` spelling; `owned` holds the
/// normalized names the policy uses for identity, sessions and credentials.
pub fn identity_shaped(name: &str, owned: &[String]) -> bool {
    let plain = name.bytes().all(|b| b != b'_' && !b.is_ascii_uppercase());
    let normalized;
    let name = if plain {
        name
    } else {
        normalized = normalize(name);
        &normalized
    };
    IDENTITY_SHAPED.contains(&name)
        || IDENTITY_PREFIXES.iter().any(|p| name.starts_with(p))
        || owned.iter().any(|o| o == name)
}

/// Lower case, `_` as `-`.
pub fn normalize(name: &str) -> String {
    name.bytes().map(|b| if b == b'_' { '-' } else { b.to_ascii_lowercase() as char }).collect()
}

/// `headers` without the ones `drop` matches (every value of a repeated header), in one pass.
pub fn filtered(headers: HeaderMap, extra: usize, drop: impl Fn(&HeaderName) -> bool) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len() + extra);
    let mut keep = None;
    for (name, value) in headers {
        if let Some(name) = name {
            keep = (!drop(&name)).then_some(name);
        }
        if let Some(name) = &keep {
            out.append(name.clone(), value);
        }
    }
    out
}

/// The app's answer, head first.
pub type Upstream = Response<UpstreamBody>;

/// Sends the exchange to the app; `Ok(None)` when nothing is left to send (every batch element
/// was refused).
pub async fn forward(
    gw: &Gateway,
    parts: Parts,
    ex: &mut Exchange,
) -> Result<Option<Upstream>, GatewayError> {
    if ex.batch && !ex.refused.is_empty() {
        let kept: Vec<&[u8]> = ex
            .messages
            .iter()
            .enumerate()
            .filter(|(i, _)| !ex.refused.iter().any(|(r, _)| r == i))
            .map(|(_, m)| m.canonical.as_ref())
            .collect();
        if kept.is_empty() {
            return Ok(None);
        }
        ex.body = Bytes::from([b"[".as_slice(), &kept.join(b",".as_slice()), b"]"].concat());
    }
    let upstream_token = upstream_credential(gw, ex).await.map_err(|reason| {
        warn!(%reason, "upstream credential unavailable; not calling the app");
        GatewayError::from(Refusal::UpstreamCredentialUnavailable)
    })?;
    let uri = upstream_uri(gw, &parts.uri).ok_or(Refusal::UpstreamError)?;
    let active = ex.active.as_deref();
    let owned: &[String] = active.map_or(&[], |a| &a.owned_headers);
    let mut headers = filtered(parts.headers, 6, |name| {
        HOP_BY_HOP.contains(name) || NOT_FORWARDED.contains(name) || identity_shaped(name.as_str(), owned)
    });
    let identity = &ex.identity;
    for (name, value) in [
        (HUMAN_HEADER, &identity.human),
        (AGENT_HEADER, &identity.agent),
        (TEAM_HEADER, &identity.team),
        (SESSION_HEADER, &identity.session),
    ] {
        if let Ok(value) = HeaderValue::from_str(value)
            && !value.is_empty()
        {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let token_header = active.map_or(Some(header::AUTHORIZATION), |a| a.upstream_token_header.clone());
    if let (Some(token), Some(name)) = (&upstream_token, token_header)
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        headers.insert(name, value);
    }
    if let Some(host) = &gw.upstream_host {
        headers.insert(header::HOST, host.clone());
    }
    if parts.method == Method::POST {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let mut upstream = Request::new(Full::new(ex.body.clone()));
    *upstream.method_mut() = parts.method;
    *upstream.uri_mut() = uri;
    *upstream.headers_mut() = headers;

    let send = async {
        let _permit = gw.upstream_slots.acquire().await;
        gw.upstreams.send(upstream).await
    };
    match tokio::time::timeout(gw.config.upstream_timeout, send).await {
        Err(_) => Err(Refusal::UpstreamTimeout.into()),
        Ok(Err(err)) => {
            warn!(error = %err, "upstream request failed");
            Err(Refusal::UpstreamError.into())
        }
        Ok(Ok(res)) => Ok(Some(res)),
    }
}

fn upstream_uri(gw: &Gateway, uri: &Uri) -> Option<Uri> {
    let mut path = uri.path();
    if let Some(prefix) = &gw.config.strip_prefix
        && let Some(rest) = path.strip_prefix(prefix.as_str())
        && (rest.is_empty() || rest.starts_with('/'))
    {
        // The prefix itself is the base URL's own path (a full endpoint URL such as
        // `http://app/v1/mcp`), or the app's root.
        let base_path = gw.config.upstream.path().trim_end_matches('/');
        path = if !rest.is_empty() {
            rest
        } else if base_path.is_empty() {
            "/"
        } else {
            ""
        };
    }
    // Origin form (`/path?query`): the connection is to the app itself, which gets its own
    // authority in `Host`.
    let base = &gw.config.upstream;
    let mut target = String::with_capacity(base.path().len() + path.len() + 16);
    target.push_str(base.path().trim_end_matches('/'));
    target.push_str(path);
    if let Some(q) = uri.query() {
        target.push('?');
        target.push_str(q);
    }
    target.parse().ok()
}

/// The credential to send upstream: the presented session's own (`upstreamTokenSecretRef`,
/// mounted under `UPSTREAM_TOKEN_DIR`), else the gateway-wide one. `Err` when the session names
/// a credential that cannot be read (fail closed: never call the app without it).
async fn upstream_credential(gw: &Gateway, ex: &Exchange) -> Result<Option<String>, String> {
    let Some(dir) = &gw.config.upstream_token_dir else {
        return Ok(gw.upstream_token.clone());
    };
    let session_ref = ex
        .active
        .as_deref()
        .and_then(|a| a.snapshot.active_session(&ex.identity, Timestamp::now()))
        .and_then(|s| s.upstream_token_ref.clone());
    let Some(reference) = session_ref else {
        return Ok(gw.upstream_token.clone());
    };
    let safe = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    };
    let Some((secret, key)) = reference.split_once('/').filter(|(s, k)| safe(s) && safe(k)) else {
        return Err(format!("unusable upstream credential reference {reference:?}"));
    };
    match tokio::fs::read_to_string(dir.join(secret).join(key)).await {
        Ok(token) => Ok(Some(token.trim().to_string())),
        Err(e) => Err(format!("cannot read upstream credential {reference}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_shaped_headers_are_recognised_in_every_spelling() {
        let owned = vec![normalize("X-Custom-Human")];
        for name in [
            "x-mcp-human-id",
            "X_MCP_Human_Id",
            "x_mcp_agent_id",
            "X-MCP-TEAM-ID",
            "x-mcp-agent-session",
            "forwarded",
            "x-forwarded-for",
            "X-Forwarded-User",
            "x_forwarded_host",
            "x-real-ip",
            "remote-user",
            "Remote_User",
            "x-auth-request-email",
            "x_custom_human",
        ] {
            assert!(identity_shaped(name, &owned), "{name}");
        }
        for name in ["accept", "mcp-session-id", "mcp-protocol-version", "x-request-id", "traceparent"] {
            assert!(!identity_shaped(name, &owned), "{name}");
        }
    }
}
