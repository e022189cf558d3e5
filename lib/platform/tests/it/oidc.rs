//! OpenID Connect sign-in against the real npm `oidc-provider`: the browser flow
//! (authorization code + PKCE through the platform) and the CLI's id_token exchange; linking,
//! provisioning, link-only, unverified emails, replayed states, foreign tokens.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_testkit::oidc::Issuer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Backend, Harness};

const SCRIPT: &str = mcp_testkit::oidc::TEST_ISSUER_SCRIPT;

fn issuer(dir: &std::path::Path, redirect_uris: &str) -> Issuer {
    Issuer::start(SCRIPT, &[redirect_uris], &dir.join("issuer.log"))
        .unwrap_or_else(|e| panic!("start oidc-provider: {e}"))
}

/// A browser: follows redirects by hand, keeping cookies (one host, so every cookie goes back).
struct Browser {
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new() -> Browser {
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Browser { client, cookies: HashMap::new() }
    }

    /// GETs `url` and follows redirects until one points at a URL starting with `stop`;
    /// returns that URL.
    async fn follow_until(&mut self, mut url: String, stop: &str) -> String {
        for _ in 0..20 {
            if url.starts_with(stop) {
                return url;
            }
            let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            let resp = self.client.get(&url).header("cookie", cookie).send().await.expect("get");
            for c in resp.headers().get_all("set-cookie") {
                let text = c.to_str().expect("cookie");
                if let Some((name, value)) = text.split(';').next().and_then(|kv| kv.split_once('=')) {
                    self.cookies.insert(name.trim().to_string(), value.to_string());
                }
            }
            let status = resp.status();
            let location = resp.headers().get("location").and_then(|l| l.to_str().ok()).map(String::from);
            let Some(location) = location.filter(|_| status.is_redirection()) else {
                let body = resp.text().await.unwrap_or_default();
                panic!("{url}: {status} without a redirect: {body}");
            };
            url = if location.starts_with("http") {
                location
            } else {
                let origin: String = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
                format!("{origin}{location}")
            };
        }
        panic!("too many redirects");
    }
}

fn query(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("utf8")
}

/// The platform's browser sign-in for `account`: the final answer of the callback.
async fn browser_sign_in(h: &Harness, account: &str) -> (crate::support::Reply, String) {
    let start = h.call("GET", "/api/v1/auth/oidc/authorize", None, None).await;
    assert_eq!(start.status, 302, "{:?}", start.body);
    let location = start.headers.get("location").and_then(|l| l.to_str().ok()).expect("location").to_string();
    let q = query(&location);
    assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
    assert!(q.contains_key("state") && q.contains_key("nonce") && q.contains_key("code_challenge"));
    let mut browser = Browser::new();
    let callback = browser.follow_until(format!("{location}&login_hint={account}"), &h.base).await;
    let path = callback.strip_prefix(&h.base).expect("platform url").to_string();
    (h.call("GET", &path, None, None).await, path)
}

/// The CLI's own sign-in at the issuer (public client, PKCE): its id_token.
async fn cli_id_token(issuer: &str, account: &str) -> String {
    let verifier = URL_SAFE_NO_PAD.encode([7u8; 32]);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1/cli-callback";
    let url = format!(
        "{issuer}/auth?client_id=cli&response_type=code&scope=openid%20email%20profile&redirect_uri={}&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256&login_hint={account}",
        "http%3A%2F%2F127.0.0.1%2Fcli-callback"
    );
    let done = Browser::new().follow_until(url, redirect).await;
    let code = query(&done).remove("code").expect("code");
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcli-callback&client_id=cli&code_verifier={verifier}"
    );
    let resp = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("token");
    let body: Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
    body["id_token"].as_str().unwrap_or_else(|| panic!("no id_token: {body}")).to_string()
}

fn settings(issuer: &str, provisioning: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("PLATFORM_OIDC_ISSUER", issuer.to_string()),
        ("PLATFORM_OIDC_CLIENT_ID", "platform".into()),
        ("PLATFORM_OIDC_CLIENT_SECRET", "platform-secret".into()),
        ("PLATFORM_OIDC_REDIRECT_URL", "{base}/api/v1/auth/oidc/callback".into()),
        ("PLATFORM_OIDC_AUDIENCES", "cli".into()),
        ("PLATFORM_OIDC_PROVISIONING", provisioning.into()),
    ]
}

async fn harness(
    issuer: &Issuer,
    listener: tokio::net::TcpListener,
    provisioning: &'static str,
    backend: Backend,
) -> Harness {
    let s = settings(&issuer.url(), provisioning);
    let refs: Vec<(&str, &str)> = s.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Harness::start_bound(backend, listener, &refs).await
}

async fn browser_and_cli_sign_in_link_or_provision_accounts(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    // The issuer must know the platform's callbacks (two services, one after the other).
    let first_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let second_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let callbacks = [&first_listener, &second_listener]
        .map(|l| format!("http://{}/api/v1/auth/oidc/callback", l.local_addr().expect("addr")))
        .join(",");
    let issuer = tokio::task::spawn_blocking({
        let path = dir.path().to_path_buf();
        move || issuer(&path, &callbacks)
    })
    .await
    .expect("issuer");
    let h = harness(&issuer, first_listener, "create", backend).await;
    let bob_id = h.user("bob@example.org", "bob-password").await;

    // Browser flow, first time: an account is provisioned.
    let (first, callback_path) = browser_sign_in(&h, "alice").await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["user"]["email"], "alice@example.org");
    assert_eq!(first.body["user"]["display_name"], "Alice");
    let alice_id = first.body["user"]["id"].clone();
    let me = h.call("GET", "/api/v1/me", first.body["access_token"].as_str(), None).await;
    assert_eq!(me.body["user"]["id"], alice_id);
    assert!(first.body["refresh_token"].as_str().is_some_and(|t| t.starts_with("mcprt_")));
    // The callback cannot be replayed.
    let replay = h.call("GET", &callback_path, None, None).await;
    assert_eq!((replay.status, replay.code()), (400, "invalid_request"), "{:?}", replay.body);
    // Second time: the same account (the identity is linked).
    let (second, _) = browser_sign_in(&h, "alice").await;
    assert_eq!(second.body["user"]["id"], alice_id);
    // Unknown or missing state.
    let r = h.call("GET", "/api/v1/auth/oidc/callback?code=x&state=forged", None, None).await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"));
    let r = h.call("GET", "/api/v1/auth/oidc/callback", None, None).await;
    assert_eq!(r.status, 400);
    let r = h
        .call("GET", "/api/v1/auth/oidc/callback?error=access_denied&error_description=no", None, None)
        .await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));

    // CLI: an id_token it obtained itself (audience `cli`) links bob's existing account.
    let token = cli_id_token(&issuer.url(), "bob").await;
    let r = h.call("POST", "/api/v1/auth/oidc/token", None, Some(json!({"id_token": token}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["user"]["id"], json!(bob_id));
    // The password still works too.
    assert_eq!(h.login("bob@example.org", "bob-password").await["user"]["id"], json!(bob_id));
    // An unverified email neither links nor provisions.
    let eve = cli_id_token(&issuer.url(), "eve").await;
    let r = h.call("POST", "/api/v1/auth/oidc/token", None, Some(json!({"id_token": eve}))).await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    // Tampered and foreign tokens.
    let (head, rest) = token.split_once('.').expect("jwt");
    let (_, sig) = rest.split_once('.').expect("jwt");
    let forged_payload = URL_SAFE_NO_PAD.encode(
        json!({"sub": "alice", "iss": issuer.url(), "aud": "cli", "exp": 4_000_000_000u64}).to_string(),
    );
    for bad in [format!("{head}.{forged_payload}.{sig}"), "garbage".to_string(), h.admin_token().await] {
        let r = h.call("POST", "/api/v1/auth/oidc/token", None, Some(json!({"id_token": bad}))).await;
        assert_eq!((r.status, r.code()), (401, "invalid_token"), "{:?}", r.body);
    }

    // link-only: known people sign in, strangers are refused.
    let dir2 = h.stop().await;
    drop(dir2);
    let strict = harness(&issuer, second_listener, "link-only", backend).await;
    strict.user("bob@example.org", "bob-password").await;
    let carol = cli_id_token(&issuer.url(), "carol").await;
    let r = strict.call("POST", "/api/v1/auth/oidc/token", None, Some(json!({"id_token": carol}))).await;
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{:?}", r.body);
    let bob = cli_id_token(&issuer.url(), "bob").await;
    let r = strict.call("POST", "/api/v1/auth/oidc/token", None, Some(json!({"id_token": bob}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

crate::both!(browser_and_cli_sign_in_link_or_provision_accounts);
