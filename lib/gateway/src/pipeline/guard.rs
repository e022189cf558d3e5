//! Guard: what is checked before a byte of the body is read — the `Host` (DNS-rebinding
//! protection), the `Origin` and the HTTP method. The policy snapshot is taken here, once per
//! request; without one the request is refused after its body is read ("closed before ready":
//! 503 `policy_unavailable` carrying the request's id, nothing forwarded).

use http::header::{self, HeaderMap};
use http::{Method, Request};

use super::Exchange;
use crate::error::{GatewayError, Refusal};
use crate::policy_source::Active;
use crate::server::Gateway;

/// Runs the guard; on success the exchange holds the policy snapshot.
pub fn check<B>(gw: &Gateway, req: &Request<B>, ex: &mut Exchange) -> Result<(), GatewayError> {
    let active = gw.policy.store.current();
    if !host_allowed(gw, req, active.as_deref()) {
        return Err(Refusal::HostNotAllowed.into());
    }
    if !origin_allowed(gw, req.headers()) {
        return Err(Refusal::OriginNotAllowed.into());
    }
    if !matches!(*req.method(), Method::POST | Method::GET | Method::DELETE) {
        return Err(Refusal::MethodNotAllowed.into());
    }
    // Without a policy the request is refused once its body is read (see `pipeline::run`).
    ex.active = active;
    ex.mcp_session = req
        .headers()
        .get("mcp-session-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .filter(|s| !s.is_empty());
    Ok(())
}

/// DNS-rebinding protection: the `Host` must be one this gateway serves.
fn host_allowed<B>(gw: &Gateway, req: &Request<B>, active: Option<&Active>) -> bool {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return false;
    };
    let (name, _port) = split_host(host);
    let matches = |entry: &str| {
        let (entry_name, entry_port) = split_host(entry);
        match entry_port {
            Some(_) => entry.eq_ignore_ascii_case(host),
            None => entry_name.eq_ignore_ascii_case(name),
        }
    };
    match &gw.config.allowed_hosts {
        Some(list) => list.iter().any(|entry| matches(entry)),
        None => {
            let url = active.map(|a| a.snapshot.document().server.url.as_str()).unwrap_or_default();
            let Some(public) =
                url.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or_default())
            else {
                // No public URL known: the route is hostless; any Host is served.
                return true;
            };
            [public, "localhost", "127.0.0.1", "[::1]"].into_iter().any(matches)
        }
    }
}

fn origin_allowed(gw: &Gateway, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if gw.config.allowed_origins.iter().any(|o| o == origin) {
        return true;
    }
    // Same host as the request: `http(s)://<Host>`.
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin.split_once("://"), host) {
        (Some((scheme, rest)), Some(host)) => (scheme == "http" || scheme == "https") && rest == host,
        _ => false,
    }
}

/// `host[:port]` (with `[v6]` literals) into its name and port.
fn split_host(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((_, tail)) => (&host[..host.len() - tail.len()], tail.strip_prefix(':')),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (name, Some(port)),
        _ => (host, None),
    }
}
