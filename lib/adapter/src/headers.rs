//! Which request headers of a local client reach the gateway.
//!
//! The adapter is the only identity on its route: every credential or identity header a local
//! client sends is dropped before the adapter adds its own `Authorization`, so no client (and no
//! web page that can reach the loopback port) can present another identity or smuggle a token
//! to the app. Hop-by-hop headers are dropped too (HTTP/1.1 §7.6.1), with any the client's
//! `Connection` header names. The MCP headers (`Mcp-Session-Id`, `Mcp-Protocol-Version`,
//! `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`), `Content-Type`, `Accept` and `Last-Event-ID` pass
//! unchanged.

use http::HeaderMap;
use http::header::{self, HeaderName};

/// Headers dropped by exact (lower-case) name.
const DROPPED: &[&str] = &[
    // Credentials and identities.
    "authorization",
    "proxy-authorization",
    "cookie",
    "cookie2",
    "forwarded",
    "remote-user",
    "x-remote-user",
    "x-user",
    "x-user-id",
    "x-email",
    "x-real-ip",
    "x-client-cert",
    "x-ssl-client-cert",
    "x-client-certificate",
    "ssl-client-cert",
    // The browser's origin is the local page's, never the route's (checked locally instead).
    "origin",
    // Rewritten by the adapter.
    "host",
    "content-length",
    // Hop-by-hop.
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers dropped by (lower-case) prefix: `X-MCP-Human-ID` and friends, `X-Forwarded-*`
/// (`-For`, `-Host`, `-User`, `-Email`, …), `X-Auth-*` and `X-Authenticated-*` as set by
/// authenticating proxies.
const DROPPED_PREFIXES: &[&str] =
    &["x-mcp-", "x-forwarded-", "x-auth", "x-remote-", "x-amzn-oidc-", "x-goog-authenticated-"];

/// Whether a client header named `name` is dropped.
pub fn is_dropped(name: &HeaderName) -> bool {
    let name = name.as_str();
    DROPPED.contains(&name) || DROPPED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The client's headers the gateway may see: everything but credentials, identities,
/// hop-by-hop headers and the headers `Connection` names.
pub fn forwarded_request_headers(from: &HeaderMap) -> HeaderMap {
    let named_by_connection: Vec<String> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        if is_dropped(name) || named_by_connection.iter().any(|n| n == name.as_str()) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The gateway's response headers a local client sees: all but hop-by-hop ones.
pub fn forwarded_response_headers(from: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        if matches!(
            name.as_str(),
            "connection"
                | "keep-alive"
                | "proxy-connection"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
        ) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        m
    }

    #[test]
    fn identity_and_credential_headers_never_pass() {
        let sent = map(&[
            ("Authorization", "Bearer stolen"),
            ("authorization", "Basic eA=="),
            ("Proxy-Authorization", "Basic eA=="),
            ("X-MCP-Human-ID", "admin"),
            ("X-MCP-Agent-ID", "agt"),
            ("X-MCP-Team-ID", "t"),
            ("X-MCP-Agent-Session", "s"),
            ("Forwarded", "for=1.2.3.4"),
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Forwarded-User", "root"),
            ("X-Forwarded-Email", "a@b"),
            ("X-Forwarded-Host", "evil"),
            ("Remote-User", "root"),
            ("X-Remote-User", "root"),
            ("X-Auth-Request-User", "root"),
            ("X-Authenticated-User", "root"),
            ("X-Real-IP", "1.2.3.4"),
            ("Cookie", "session=1"),
            ("Origin", "https://evil.example"),
            ("Host", "127.0.0.1:8099"),
            ("Content-Length", "10"),
        ]);
        let kept = forwarded_request_headers(&sent);
        assert!(kept.is_empty(), "{kept:?}");
    }

    #[test]
    fn mcp_and_content_headers_pass_unchanged() {
        let sent = map(&[
            ("Mcp-Session-Id", "abc"),
            ("MCP-Protocol-Version", "2025-06-18"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "echo"),
            ("Mcp-Param-Region", "eu"),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("Last-Event-ID", "42"),
            ("User-Agent", "claude"),
        ]);
        let kept = forwarded_request_headers(&sent);
        assert_eq!(kept.len(), sent.len());
        assert_eq!(kept["mcp-session-id"], "abc");
        assert_eq!(kept["mcp-protocol-version"], "2025-06-18");
        assert_eq!(kept["last-event-id"], "42");
        assert_eq!(kept["accept"], "application/json, text/event-stream");
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let sent = map(&[
            ("Connection", "keep-alive, X-Secret"),
            ("Keep-Alive", "timeout=5"),
            ("X-Secret", "1"),
            ("Transfer-Encoding", "chunked"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Accept", "*/*"),
        ]);
        let kept = forwarded_request_headers(&sent);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(kept.contains_key("accept"));
        let back = forwarded_response_headers(&map(&[("Connection", "close"), ("Mcp-Session-Id", "x")]));
        assert_eq!(back.len(), 1);
    }
}
