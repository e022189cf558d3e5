//! `auth login --oidc`: an id_token from the issuer through the authorization code flow with
//! PKCE (S256) and a loopback redirect (RFC 8252): the CLI listens on `127.0.0.1:<free port>`,
//! the browser signs in at the issuer and comes back with a code, the CLI redeems it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_platform_client::{Client, Credential};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::Ctx;
use crate::error::CliError;

/// How long the browser has to come back.
const WAIT: Duration = Duration::from_secs(300);

fn fail(msg: impl Into<String>) -> CliError {
    CliError::SignIn(msg.into())
}

fn random() -> Result<String, CliError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| fail(format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
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
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| decode(v))
}

async fn get_json(http: &Client, url: &str) -> Result<Value, CliError> {
    let (status, body) = http
        .external_json("GET", url, None)
        .await
        .map_err(|e| fail(format!("cannot reach the issuer: {e}")))?;
    if !(200..300).contains(&status) || body.is_null() {
        return Err(fail(format!("{url}: HTTP {status} without a JSON answer")));
    }
    Ok(body)
}

/// Signs in at `issuer` as client `client_id` and returns the id_token.
pub(crate) async fn id_token(
    ctx: &mut Ctx<'_>,
    issuer: &str,
    client_id: &str,
    open_browser: bool,
) -> Result<String, CliError> {
    let issuer = issuer.trim_end_matches('/');
    let http = Client::new(issuer, Credential::None).map_err(CliError::Platform)?;
    let discovery = get_json(&http, &format!("{issuer}/.well-known/openid-configuration")).await?;
    let authorize = discovery["authorization_endpoint"]
        .as_str()
        .ok_or_else(|| fail("the issuer's discovery document has no authorization_endpoint"))?
        .to_string();
    let token_endpoint = discovery["token_endpoint"]
        .as_str()
        .ok_or_else(|| fail("the issuer's discovery document has no token_endpoint"))?
        .to_string();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| fail(format!("cannot listen on a loopback port: {e}")))?;
    let port = listener.local_addr().map_err(|e| fail(e.to_string()))?.port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let verifier = random()?;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random()?;
    let nonce = random()?;
    let sep = if authorize.contains('?') { '&' } else { '?' };
    let url = format!(
        "{authorize}{sep}response_type=code&client_id={}&redirect_uri={}&scope=openid%20email%20profile&state={state}&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        encode(client_id),
        encode(&redirect)
    );
    writeln!(ctx.err, "Open this URL to sign in (waiting for the browser):\n{url}")?;
    ctx.err.flush()?;
    if open_browser {
        for opener in ["xdg-open", "open"] {
            let spawned = std::process::Command::new(opener)
                .arg(&url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            if spawned.is_ok() {
                break;
            }
        }
    }

    let code = tokio::time::timeout(WAIT, wait_for_code(&listener, &state))
        .await
        .map_err(|_| fail("the browser did not come back within 5 minutes"))??;

    let form = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&code_verifier={verifier}",
        encode(&code),
        encode(&redirect),
        encode(client_id)
    );
    let (status, body) = http
        .external_json("POST", &token_endpoint, Some(&form))
        .await
        .map_err(|e| fail(format!("cannot reach the issuer's token endpoint: {e}")))?;
    match body["id_token"].as_str() {
        Some(t) => Ok(t.to_string()),
        None => Err(fail(format!(
            "the issuer refused the code (HTTP {status}): {}",
            body["error_description"].as_str().or(body["error"].as_str()).unwrap_or("no id_token")
        ))),
    }
}

/// Accepts connections until one brings `/callback?code=…&state=<state>` (or an error).
async fn wait_for_code(listener: &tokio::net::TcpListener, state: &str) -> Result<String, CliError> {
    loop {
        let (mut sock, _) = listener.accept().await.map_err(|e| fail(format!("loopback accept: {e}")))?;
        let mut buf = vec![0u8; 8192];
        let mut n = 0;
        while n < buf.len() {
            let m = sock.read(&mut buf[n..]).await.unwrap_or(0);
            if m == 0 {
                break;
            }
            n += m;
            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        let target = head.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("").to_string();
        let Some(query) = target.strip_prefix("/callback?") else {
            let _ = sock
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
            continue;
        };
        let reply = |msg: &str| {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{msg}",
                msg.len()
            )
        };
        if let Some(error) = query_param(query, "error") {
            let detail = query_param(query, "error_description").unwrap_or_default();
            let _ = sock.write_all(reply("Sign-in failed; see the terminal.\n").as_bytes()).await;
            return Err(fail(
                format!("the issuer refused the sign-in: {error} {detail}").trim_end().to_string(),
            ));
        }
        if query_param(query, "state").as_deref() != Some(state) {
            let _ = sock.write_all(reply("Sign-in failed: unexpected state.\n").as_bytes()).await;
            return Err(fail("the browser came back with another sign-in's state"));
        }
        let Some(code) = query_param(query, "code") else {
            let _ = sock.write_all(reply("Sign-in failed: no code.\n").as_bytes()).await;
            return Err(fail("the browser came back without a code"));
        };
        let _ = sock.write_all(reply("Signed in to mcp-runtime; you can close this tab.\n").as_bytes()).await;
        let _ = sock.shutdown().await;
        return Ok(code);
    }
}
