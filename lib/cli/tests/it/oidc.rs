//! `auth login --oidc` end to end: the real `mcp-runtime` binary listens on a loopback port,
//! prints the issuer's sign-in URL; the test plays the browser (follows the real
//! `oidc-provider`'s redirects with cookies, then lands on the CLI's callback); the CLI redeems
//! the code with PKCE and exchanges the id_token at the real platform.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use mcp_testkit::oidc::Issuer;

use crate::stack::{Backend, Stack, User, runtime_bin};

const SCRIPT: &str = include_str!("oidc-issuer.mjs");

/// GETs `url`, following redirects by hand with cookies, until one points at the CLI's
/// loopback callback (`http://127.0.0.1:<port>/callback?…`, not the issuer); returns it.
async fn browse_to_callback(mut url: String, issuer: &str) -> String {
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let mut cookies: HashMap<String, String> = HashMap::new();
    for _ in 0..20 {
        if url.contains("/callback?") && !url.starts_with(issuer) {
            return url;
        }
        let cookie = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let resp = client.get(&url).header("cookie", cookie).send().await.expect("get");
        for c in resp.headers().get_all("set-cookie") {
            let text = c.to_str().expect("cookie");
            if let Some((k, v)) = text.split(';').next().and_then(|kv| kv.split_once('=')) {
                cookies.insert(k.trim().to_string(), v.to_string());
            }
        }
        let status = resp.status();
        let location = resp.headers().get("location").and_then(|l| l.to_str().ok()).map(String::from);
        let Some(location) = location.filter(|_| status.is_redirection()) else {
            panic!("{url}: {status} without a redirect: {}", resp.text().await.unwrap_or_default());
        };
        url = if location.starts_with("http") { location } else { format!("{issuer}{location}") };
    }
    panic!("too many redirects");
}

#[test]
fn oidc_sign_in_through_the_browser_flow() {
    let port = mcp_testkit::services::free_port().expect("port");
    let base = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("dir");
    let issuer = Issuer::start(
        SCRIPT,
        &[&format!("{base}/api/v1/auth/oidc/callback")],
        &dir.path().join("issuer.log"),
    )
    .unwrap_or_else(|e| panic!("start oidc-provider: {e}"));
    let issuer_url = issuer.url();
    let stack = Stack::start_on(
        Backend::Sqlite,
        port,
        &[
            ("PLATFORM_OIDC_ISSUER", issuer_url.clone()),
            ("PLATFORM_OIDC_CLIENT_ID", "platform".into()),
            ("PLATFORM_OIDC_CLIENT_SECRET", "platform-secret".into()),
            ("PLATFORM_OIDC_REDIRECT_URL", format!("{base}/api/v1/auth/oidc/callback")),
            ("PLATFORM_OIDC_AUDIENCES", "mcp-runtime".into()),
        ],
    );
    let user = User::new();
    let mut child = Command::new(runtime_bin())
        .args([
            "auth",
            "login",
            "--api-url",
            &stack.url,
            "--oidc",
            "--oidc-issuer",
            &issuer_url,
            "--no-browser",
        ])
        .current_dir(user.home.path())
        .env("MCP_RUNTIME_CONFIG_DIR", user.config_dir())
        .env_remove("MCP_PLATFORM_API_URL")
        .env_remove("MCP_PLATFORM_API_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mcp-runtime auth login --oidc");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut url = String::new();
    let mut seen = String::new();
    while url.is_empty() {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).expect("read stderr") > 0, "no sign-in URL:\n{seen}");
        seen.push_str(&line);
        if line.starts_with("http") {
            url = line.trim().to_string();
        }
    }
    assert!(url.contains("code_challenge_method=S256") && url.contains("client_id=mcp-runtime"), "{url}");
    assert!(url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"), "{url}");

    let rt = crate::stack::rt();
    let callback = rt.block_on(browse_to_callback(format!("{url}&login_hint=bob"), &issuer_url));
    let answer =
        rt.block_on(async { reqwest::get(&callback).await.expect("callback").text().await.expect("body") });
    assert!(answer.contains("Signed in"), "{answer}");

    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{seen}", out.status);
    assert!(stdout.contains("as bob@example.org"), "{stdout}");

    let status = user.run(&["auth", "status", "-o", "json"]).json();
    assert_eq!(
        (status["credential"].as_str(), status["user"]["email"].as_str()),
        (Some("oidc"), Some("bob@example.org"))
    );
    let config = user.config();
    assert_eq!(config["profiles"]["default"]["oidc_issuer"], issuer_url.as_str());
    drop(issuer);
}
