//! `auth.mode: oauth` against an issuer on loopback: discovery, JWKS, claim mapping, challenges
//! and the protected-resource metadata document.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::support::*;

/// An OpenID issuer serving discovery metadata and a JWKS.
struct Issuer {
    addr: SocketAddr,
    down: Arc<AtomicBool>,
}

impl Issuer {
    async fn start(key: &SigningKey) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind issuer");
        let addr = listener.local_addr().expect("addr");
        let down = Arc::new(AtomicBool::new(false));
        let jwks = json!({ "keys": [key.jwk()] });
        let issuer = format!("http://{addr}");
        let d = down.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (d, jwks, issuer) = (d.clone(), jwks.clone(), issuer.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (d, jwks, issuer) = (d.clone(), jwks.clone(), issuer.clone());
                        async move {
                            let (status, body) = if d.load(Ordering::SeqCst) {
                                (StatusCode::SERVICE_UNAVAILABLE, Value::Null)
                            } else {
                                match req.uri().path() {
                                    "/.well-known/openid-configuration" => (
                                        StatusCode::OK,
                                        json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}),
                                    ),
                                    "/jwks" => (StatusCode::OK, jwks),
                                    _ => (StatusCode::NOT_FOUND, Value::Null),
                                }
                            };
                            let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
                            *res.status_mut() = status;
                            Ok::<_, Infallible>(res)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Issuer { addr, down }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn oauth_policy(issuer: &str) -> String {
    let mut r = resources();
    r.server.spec.auth = Some(mcp_api::AuthConfig {
        mode: Some(mcp_api::AuthMode::Oauth),
        issuer_url: Some(issuer.to_string()),
        audience: Some(AUDIENCE.to_string()),
        scopes: vec!["mcp:tools".into()],
        ..Default::default()
    });
    policy_json(&r, &[])
}

fn claims(issuer: &str) -> Value {
    json!({
        "iss": issuer, "aud": AUDIENCE, "exp": now() + 300, "iat": now(),
        "sub": "user-123", "azp": "ops-agent", "team_id": "team-a", "sid": "sess-ops-agent",
        "scope": "openid mcp:tools",
    })
}

const METADATA: &str = "http://mcp.test/.well-known/oauth-protected-resource/policy-mcp-server/mcp";

#[tokio::test]
async fn oauth_tokens_are_verified_against_the_discovered_issuer() {
    let key = SigningKey::from_seed("issuer-1", [3; 32]);
    let issuer = Issuer::start(&key).await;
    let upstream = Upstream::start().await;
    let gw = Running::start(upstream.addr, Some(&oauth_policy(&issuer.url())), &[]).await;

    // No token: 401 with a challenge that points at the resource metadata.
    let r = rpc(gw.addr, None, &[], call(1, "echo", json!({}))).await;
    assert_eq!((r.status, r.reason().as_str()), (401, "missing_bearer_token"), "{}", r.body);
    let challenge =
        r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(challenge.contains(&format!("resource_metadata=\"{METADATA}\"")), "{challenge}");

    // A valid token maps sub/azp/team_id/sid to the identity the app sees.
    let r = rpc(gw.addr, Some(&key.token(claims(&issuer.url()))), &[], call(2, "echo", json!({}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = upstream.last();
    assert_eq!(seen.headers.get("x-mcp-human-id").map(String::as_str), Some("user-123"));
    assert_eq!(seen.headers.get("x-mcp-agent-id").map(String::as_str), Some("ops-agent"));
    assert_eq!(seen.headers.get("x-mcp-team-id").map(String::as_str), Some("team-a"));
    assert!(!seen.headers.contains_key("authorization"), "no token passthrough");

    // Regression: the session came from a client header when the token had no `sid`.
    let mut no_sid = claims(&issuer.url());
    no_sid.as_object_mut().expect("claims").remove("sid");
    let forged = [("x-mcp-agent-session", "sess-someone-else")];
    let r = rpc(
        gw.addr,
        Some(&key.token(no_sid)),
        &forged,
        json!({"jsonrpc": "2.0", "id": 20, "method": "tools/list"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!upstream.last().headers.contains_key("x-mcp-agent-session"), "{:?}", upstream.last().headers);

    // Regression: `auth.scopes` were not enforced.
    let mut narrow = claims(&issuer.url());
    narrow["scope"] = json!("openid");
    let r = rpc(gw.addr, Some(&key.token(narrow)), &[], call(21, "echo", json!({}))).await;
    assert_eq!((r.status, r.reason().as_str()), (403, "insufficient_scope"), "{}", r.body);
    let challenge =
        r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"mcp:tools\""),
        "{challenge}"
    );

    // Policy still applies on top of OAuth identity.
    let r = rpc(gw.addr, Some(&key.token(claims(&issuer.url()))), &[], call(3, "upper", json!({}))).await;
    assert_eq!(r.reason(), "trust_too_low");

    let hits = upstream.hits();
    let other = SigningKey::from_seed("issuer-1", [4; 32]);
    let mut wrong_aud = claims(&issuer.url());
    wrong_aud["aud"] = json!("http://mcp.test/other/mcp");
    let mut wrong_iss = claims(&issuer.url());
    wrong_iss["iss"] = json!("http://evil.test");
    for (name, token) in [
        ("wrong audience", key.token(wrong_aud)),
        ("wrong issuer", key.token(wrong_iss)),
        ("foreign key", other.token(claims(&issuer.url()))),
    ] {
        let r = rpc(gw.addr, Some(&token), &[], call(4, "echo", json!({}))).await;
        assert_eq!((r.status, r.reason().as_str()), (401, "invalid_token"), "{name}");
        let challenge = r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(
            challenge.contains("error=\"invalid_token\"") && challenge.contains("resource_metadata"),
            "{name}: {challenge}"
        );
    }
    assert_eq!(upstream.hits(), hits, "rejected tokens never reach the app");

    // RFC 9728 metadata, at the path-suffixed and root locations.
    for path in [
        "/.well-known/oauth-protected-resource/policy-mcp-server/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let r = send(gw.addr, "GET", path, &[], "").await;
        assert_eq!(r.status, 200, "{path}");
        let v = r.json();
        assert_eq!(v["resource"], AUDIENCE);
        assert_eq!(v["authorization_servers"], json!([issuer.url()]));
        assert_eq!(v["scopes_supported"], json!(["mcp:tools"]));
    }
    assert_eq!(send(gw.addr, "POST", "/.well-known/oauth-protected-resource", &[], "").await.status, 405);

    // Once keys are cached, a brief issuer outage does not fail calls.
    issuer.down.store(true, Ordering::SeqCst);
    let r = rpc(gw.addr, Some(&key.token(claims(&issuer.url()))), &[], call(5, "echo", json!({}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn an_unreachable_issuer_fails_closed_with_503() {
    let key = SigningKey::from_seed("issuer-1", [3; 32]);
    let issuer = Issuer::start(&key).await;
    issuer.down.store(true, Ordering::SeqCst);
    let upstream = Upstream::start().await;
    let gw = Running::start(upstream.addr, Some(&oauth_policy(&issuer.url())), &[]).await;
    let r = rpc(gw.addr, Some(&key.token(claims(&issuer.url()))), &[], call(1, "echo", json!({}))).await;
    assert_eq!((r.status, r.reason().as_str()), (503, "oauth_provider_unavailable"), "{}", r.body);
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn non_oauth_servers_point_clients_at_the_adapter() {
    let upstream = Upstream::start().await;
    let key = SigningKey::from_seed("platform-1", [7; 32]);
    let gw = Running::start(upstream.addr, Some(&policy_json(&resources(), &[&key])), &[]).await;
    let r = send(gw.addr, "GET", "/.well-known/oauth-protected-resource", &[], "").await;
    assert_eq!((r.status, r.json()["error"].as_str()), (404, Some("oauth_not_enabled")));
}
