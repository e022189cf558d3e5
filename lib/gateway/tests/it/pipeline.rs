//! The governed pipeline: readiness, identity, spoofing, denials, reload, discovery, upstream.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

fn key() -> SigningKey {
    SigningKey::from_seed("platform-1", [7; 32])
}

async fn setup() -> (Upstream, Running, SigningKey) {
    let upstream = Upstream::start().await;
    let key = key();
    let policy = policy_json(&resources(), &[&key]);
    let gw = Running::start(upstream.addr, Some(&policy), &[]).await;
    (upstream, gw, key)
}

#[tokio::test]
async fn not_ready_until_a_valid_policy_then_ready() {
    let upstream = Upstream::start().await;
    let gw = Running::start(upstream.addr, None, &[]).await;
    assert_eq!(send(gw.addr, "GET", "/health", &[], "").await.status, 200);
    let ready = send(gw.admin, "GET", "/ready", &[], "").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["reason"], "policy_not_loaded");

    // Tool calls fail closed with 503 and the request id; discovery still passes.
    let key = key();
    let r = rpc(gw.addr, Some(&key.token(ops_claims())), &[], call(5, "echo", json!({}))).await;
    assert_eq!((r.status, r.reason()), (503, "policy_unavailable".to_string()));
    assert_eq!(r.json()["id"], 5);
    assert_eq!(upstream.hits(), 0);

    gw.write_policy(&policy_json(&resources(), &[&key]));
    let deadline = Instant::now() + Duration::from_secs(3);
    while send(gw.admin, "GET", "/ready", &[], "").await.status != 200 {
        assert!(Instant::now() < deadline, "the gateway never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = send(gw.admin, "GET", "/config/status", &[], "").await.json();
    assert_eq!(status["ready"], true);
    assert!(status["revision"].as_str().is_some_and(|r| r.starts_with("sha256:")));
    assert!(status.get("grants").is_none(), "the status never shows the policy body");
}

#[tokio::test]
async fn a_valid_session_token_reaches_the_app_with_gateway_set_identity() {
    let (upstream, gw, key) = setup().await;
    let token = key.token(ops_claims());
    let forged = [("x-mcp-human-id", "admin"), ("x-mcp-agent-id", "root-agent"), ("x-mcp-team-id", "team-z")];
    let r = rpc(gw.addr, Some(&token), &forged, call(1, "echo", json!({"text": "hello"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = upstream.last();
    assert_eq!(seen.path, "/mcp", "the public prefix is stripped");
    assert_eq!(seen.headers.get("x-mcp-human-id").map(String::as_str), Some("user-123"));
    assert_eq!(seen.headers.get("x-mcp-agent-id").map(String::as_str), Some("ops-agent"));
    assert_eq!(seen.headers.get("x-mcp-team-id").map(String::as_str), Some("team-a"));
    assert_eq!(seen.headers.get("x-mcp-agent-session").map(String::as_str), Some("sess-ops-agent"));
    assert!(!seen.headers.contains_key("authorization"), "the caller's token never reaches the app");
}

#[tokio::test]
async fn spoofed_and_bad_credentials_never_reach_the_app() {
    let (upstream, gw, key) = setup().await;
    let other_key = SigningKey::from_seed("platform-1", [9; 32]);
    let mut claims = ops_claims();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = ops_claims();
        c[k] = v;
        c
    };
    let header_none = {
        // An unsigned token: header {"alg":"none"}.
        let header = b64url(br#"{"alg":"none","typ":"JWT","kid":"platform-1"}"#);
        let payload = b64url(ops_claims().to_string().as_bytes());
        format!("{header}.{payload}.")
    };
    claims["exp"] = json!(now() - 3600);
    type Case<'a> = (&'a str, Option<String>, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "forged identity headers, no token",
            None,
            vec![
                ("x-mcp-human-id", "user-123"),
                ("x-mcp-agent-id", "ops-agent"),
                ("x-mcp-team-id", "team-a"),
                ("x-mcp-agent-session", "sess-ops-agent"),
            ],
            401,
            "missing_identity",
        ),
        ("expired token", Some(key.token(claims)), vec![], 401, "invalid_token"),
        (
            "wrong audience",
            Some(key.token(with("aud", json!("http://mcp.test/other-server/mcp")))),
            vec![],
            401,
            "invalid_token",
        ),
        (
            "wrong issuer",
            Some(key.token(with("iss", json!("https://evil.test")))),
            vec![],
            401,
            "invalid_token",
        ),
        ("signed by another key", Some(other_key.token(ops_claims())), vec![], 401, "invalid_token"),
        ("alg none", Some(header_none), vec![], 401, "invalid_token"),
        ("garbage", Some("not.a.token".into()), vec![], 401, "invalid_token"),
    ];
    for (name, token, headers, status, reason) in cases {
        let r = rpc(gw.addr, token.as_deref(), &headers, call(9, "echo", json!({"text": "x"}))).await;
        assert_eq!((r.status, r.reason().as_str()), (status, reason), "{name}: {}", r.body);
        assert_eq!(r.json()["id"], 9, "{name}: denials carry the request id");
        if reason == "invalid_token" {
            let challenge =
                r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert!(challenge.contains("invalid_token"), "{name}: {challenge}");
        }
    }
    assert_eq!(upstream.hits(), 0, "no denied request reached the app");
}

#[tokio::test]
async fn policy_denials_are_json_rpc_errors_with_reason_and_hints() {
    let (upstream, gw, key) = setup().await;
    let token = key.token(ops_claims());
    let r = rpc(gw.addr, Some(&token), &[], call(42, "upper", json!({"text": "x"}))).await;
    assert_eq!(r.status, 403);
    let v = r.json();
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], 42);
    assert_eq!(v["error"]["data"]["reason"], "trust_too_low");
    assert_eq!(v["error"]["data"]["required_trust"], "medium");
    assert_eq!(v["error"]["data"]["effective_trust"], "low");
    assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));

    let r = rpc(gw.addr, Some(&token), &[], call(43, "add", json!({"a": 5000, "b": 1}))).await;
    assert_eq!((r.status, r.reason().as_str()), (403, "argument_not_allowed"));
    assert_eq!(r.json()["error"]["data"]["argument"], "a");
    assert_eq!(r.json()["error"]["data"]["argument_rule"], "maximum: 1000");

    let r = rpc(gw.addr, Some(&token), &[], call(44, "create_task", json!({}))).await;
    assert_eq!((r.status, r.reason().as_str()), (403, "tool_not_granted"));
    assert_eq!(upstream.hits(), 0);

    let r = rpc(gw.addr, Some(&token), &[], call(45, "add", json!({"a": 7, "b": 5}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn revoking_a_session_denies_the_next_call_within_a_second() {
    let (_upstream, gw, key) = setup().await;
    let token = key.token(ops_claims());
    assert_eq!(rpc(gw.addr, Some(&token), &[], call(1, "echo", json!({}))).await.status, 200);

    let mut r = resources();
    r.sessions[0].spec.revoked = Some(true);
    let revoked_at = Instant::now();
    gw.write_policy(&policy_json(&r, &[&key]));
    loop {
        let reply = rpc(gw.addr, Some(&token), &[], call(2, "echo", json!({}))).await;
        if reply.status == 401 {
            assert_eq!(reply.reason(), "session_revoked");
            break;
        }
        assert!(revoked_at.elapsed() < Duration::from_secs(5), "revocation did not bite within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(revoked_at.elapsed() < Duration::from_secs(1), "took {:?}", revoked_at.elapsed());
}

#[tokio::test]
async fn an_invalid_policy_never_replaces_the_last_good_one() {
    let (_upstream, gw, key) = setup().await;
    let token = key.token(ops_claims());
    let good = send(gw.admin, "GET", "/config/status", &[], "").await.json()["revision"].clone();

    let tampered = policy_json(&resources(), &[&key]).replacen(
        "\"consented_trust\": \"low\"",
        "\"consented_trust\": \"high\"",
        1,
    );
    for bad in ["{ not json", "{\"schema_version\":\"v9\"}", tampered.as_str()] {
        gw.write_policy(bad);
        gw.gateway.reload().await;
        let status = send(gw.admin, "GET", "/config/status", &[], "").await.json();
        assert_eq!(status["revision"], good, "{bad}");
        assert!(status["last_reload_error"].as_str().is_some_and(|e| !e.is_empty()), "{bad}");
        assert_eq!(send(gw.admin, "GET", "/ready", &[], "").await.status, 200);
        // Still the old policy: upper needs medium, the session has low.
        let r = rpc(gw.addr, Some(&token), &[], call(1, "upper", json!({}))).await;
        assert_eq!(r.reason(), "trust_too_low", "{bad}");
    }
    let metrics = send(gw.admin, "GET", "/metrics", &[], "").await.body;
    assert!(metrics.contains("mcp_gateway_policy_synchronized 0"), "{metrics}");
    assert!(metrics.contains("mcp_gateway_policy_reloads_total{result=\"failed\"}"), "{metrics}");
}

#[tokio::test]
async fn tools_list_is_filtered_in_json_and_sse() {
    let (_upstream, gw, key) = setup().await;
    let token = key.token(ops_claims());
    let list = json!({"jsonrpc": "2.0", "id": "l1", "method": "tools/list"});
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["result"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|t| t["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let r = rpc(gw.addr, Some(&token), &[], list.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        names(&r.json()),
        ["aaa-ping", "echo", "add"],
        "upper needs medium trust; the rest is not granted"
    );

    let r = rpc(gw.addr, Some(&token), &[("x-test-sse", "1")], list.clone()).await;
    let data = r.body.lines().find_map(|l| l.strip_prefix("data: ")).expect("an SSE data line");
    assert_eq!(names(&serde_json::from_str(data).expect("json")), ["aaa-ping", "echo", "add"]);

    // Regression: an id written `1.0` (or `1e0`) used to dodge the filter and list every tool.
    for id in ["1.0", "1e0", "1"] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#);
        let auth = format!("Bearer {token}");
        let headers = [("content-type", "application/json"), ("authorization", auth.as_str())];
        let r = send(gw.addr, "POST", "/policy-mcp-server/mcp", &headers, &body).await;
        assert_eq!(names(&r.json()), ["aaa-ping", "echo", "add"], "id {id}");
    }

    // Regression: anonymous discovery used to reach the app; now it is refused.
    let r = rpc(gw.addr, None, &[], list).await;
    assert_eq!((r.status, r.reason().as_str()), (401, "missing_identity"));
}

#[tokio::test]
async fn unreadable_requests_are_denied_without_reaching_the_app() {
    let (upstream, gw, key) = setup().await;
    let auth = format!("Bearer {}", key.token(ops_claims()));
    for (content_type, body) in [
        ("text/plain", "hello"),
        ("application/json", ""),
        ("application/json", "{\"jsonrpc\":"),
        ("application/json", "{\"jsonrpc\":\"2.0\",\"id\":1}"),
    ] {
        let r = send(
            gw.addr,
            "POST",
            "/policy-mcp-server/mcp",
            &[("content-type", content_type), ("authorization", &auth)],
            body,
        )
        .await;
        assert_eq!(
            (r.status, r.reason().as_str()),
            (403, "rpc_inspection_failed"),
            "{content_type} {body:?}: {}",
            r.body
        );
    }
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"echo\",\"arguments\":{{\"text\":\"{}\"}}}}}}",
        "x".repeat(1 << 20)
    );
    let r = send(
        gw.addr,
        "POST",
        "/policy-mcp-server/mcp",
        &[("content-type", "application/json"), ("authorization", &auth)],
        &big,
    )
    .await;
    assert_eq!((r.status, r.reason().as_str()), (403, "rpc_inspection_failed"));
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn foreign_origins_are_refused() {
    let (upstream, gw, key) = setup().await;
    let auth = format!("Bearer {}", key.token(ops_claims()));
    let body = call(1, "echo", json!({})).to_string();
    let headers = [
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
        ("origin", "https://evil.example"),
    ];
    let r = send(gw.addr, "POST", "/policy-mcp-server/mcp", &headers, &body).await;
    assert_eq!(r.status, 403);
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn upstream_failures_map_to_502() {
    // Nothing listens on the upstream port.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let key = key();
    let gw = Running::start(unused, Some(&policy_json(&resources(), &[&key])), &[]).await;
    let r = rpc(gw.addr, Some(&key.token(ops_claims())), &[], call(1, "echo", json!({}))).await;
    assert_eq!((r.status, r.reason().as_str()), (502, "upstream_error"));
}

#[tokio::test]
async fn a_changed_tool_definition_is_reported_and_denied_under_drift_deny() {
    let upstream = Upstream::start().await;
    let key = key();
    let mut r = resources();
    r.server.spec.policy = Some(mcp_api::PolicyConfig {
        on_tool_drift: Some(mcp_api::ToolDriftAction::Deny),
        ..Default::default()
    });
    let gw = Running::start(upstream.addr, Some(&policy_json(&r, &[&key])), &[]).await;
    let token = key.token(ops_claims());
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});

    assert_eq!(rpc(gw.addr, Some(&token), &[], list.clone()).await.status, 200);
    assert_eq!(rpc(gw.addr, Some(&token), &[], call(2, "echo", json!({}))).await.status, 200);

    upstream.echo_version.store(2, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(rpc(gw.addr, Some(&token), &[], list).await.status, 200);
    let r = rpc(gw.addr, Some(&token), &[], call(3, "echo", json!({}))).await;
    assert_eq!((r.status, r.reason().as_str()), (403, "tool_definition_changed"), "{}", r.body);
    // Other tools are unaffected.
    assert_eq!(rpc(gw.addr, Some(&token), &[], call(4, "aaa-ping", json!({}))).await.status, 200);

    let status = send(gw.admin, "GET", "/config/status", &[], "").await.json();
    assert_eq!(status["tool_pins"]["echo"]["drifted"], true);
    assert_eq!(status["tool_pins"]["aaa-ping"]["drifted"], false);
    assert!(send(gw.admin, "GET", "/metrics", &[], "").await.body.contains("mcp_gateway_tools_drifted 1"));
}

#[tokio::test]
async fn forged_hosts_are_refused_dns_rebinding_protection() {
    let (upstream, gw, key) = setup().await;
    let auth = format!("Bearer {}", key.token(ops_claims()));
    let body = call(1, "echo", json!({})).to_string();
    for (host, status) in [
        ("evil.example", 403),
        ("evil.example:8091", 403),
        ("mcp.test", 200),
        ("MCP.test:443", 200),
        ("localhost:9", 200),
    ] {
        let headers =
            [("content-type", "application/json"), ("authorization", auth.as_str()), ("host", host)];
        let r = send(gw.addr, "POST", "/policy-mcp-server/mcp", &headers, &body).await;
        assert_eq!(r.status, status, "{host}: {}", r.body);
    }
    // A forged Host with a matching forged Origin is still refused.
    let headers =
        [("content-type", "application/json"), ("host", "evil.example"), ("origin", "http://evil.example")];
    assert_eq!(send(gw.addr, "POST", "/policy-mcp-server/mcp", &headers, &body).await.status, 403);
    assert_eq!(upstream.hits(), 3);
    // Health probes carry the pod IP as Host and are not subject to the check.
    assert_eq!(send(gw.addr, "GET", "/health", &[("host", "10.1.2.3:8091")], "").await.status, 200);
}

#[tokio::test]
async fn the_app_gets_the_sessions_own_upstream_credential_never_the_callers() {
    let upstream = Upstream::start().await;
    let key = key();
    let mut r = resources();
    r.sessions[0].spec.upstream_token_secret_ref =
        Some(mcp_api::SecretKeyRef { name: "sess-ops-agent-upstream".into(), key: "token".into() });
    let creds = tempfile::tempdir().expect("creds");
    std::fs::create_dir_all(creds.path().join("sess-ops-agent-upstream")).expect("mkdir");
    std::fs::write(creds.path().join("sess-ops-agent-upstream/token"), "upstream-secret-1\n").expect("write");
    let global = creds.path().join("global-token");
    std::fs::write(&global, "gateway-wide").expect("write");
    let dir = creds.path().display().to_string();
    let global = global.display().to_string();
    let gw = Running::start(
        upstream.addr,
        Some(&policy_json(&r, &[&key])),
        &[("UPSTREAM_TOKEN_DIR", &dir), ("UPSTREAM_TOKEN_FILE", &global)],
    )
    .await;
    let token = key.token(ops_claims());
    assert_eq!(rpc(gw.addr, Some(&token), &[], call(1, "echo", json!({}))).await.status, 200);
    assert_eq!(
        upstream.last().headers.get("authorization").map(String::as_str),
        Some("Bearer upstream-secret-1")
    );

    // Without a session credential the gateway-wide one is used; the caller's token never is.
    let mut sessionless = ops_claims();
    sessionless.as_object_mut().expect("claims").remove("sid");
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(rpc(gw.addr, Some(&key.token(sessionless)), &[], list).await.status, 200);
    assert_eq!(upstream.last().headers.get("authorization").map(String::as_str), Some("Bearer gateway-wide"));

    // A session credential that cannot be read stops the call instead of sending none.
    std::fs::remove_file(creds.path().join("sess-ops-agent-upstream/token")).expect("remove");
    let hits = upstream.hits();
    let r = rpc(gw.addr, Some(&token), &[], call(3, "echo", json!({}))).await;
    assert_eq!((r.status, r.reason().as_str()), (502, "upstream_credential_unavailable"));
    assert_eq!(upstream.hits(), hits);
}

/// With the slowest re-check (1 s), a change is still picked up at once: the directory is
/// watched.
#[tokio::test]
async fn policy_changes_are_seen_through_the_directory_watch() {
    let upstream = Upstream::start().await;
    let key = key();
    let gw = Running::start(
        upstream.addr,
        Some(&policy_json(&resources(), &[&key])),
        &[("POLICY_RECHECK_MS", "1000")],
    )
    .await;
    let token = key.token(ops_claims());
    for round in 0..5 {
        let mut r = resources();
        r.sessions[0].spec.revoked = Some(round % 2 == 0);
        let want = if round % 2 == 0 { 401 } else { 200 };
        tokio::time::sleep(Duration::from_millis(137)).await;
        let written = Instant::now();
        gw.write_policy(&policy_json(&r, &[&key]));
        loop {
            let status = rpc(gw.addr, Some(&token), &[], call(round, "echo", json!({}))).await.status;
            if status == want {
                break;
            }
            assert!(
                written.elapsed() < Duration::from_millis(700),
                "round {round}: not seen after {:?}",
                written.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Reading the policy must not count as a change: an idle gateway does not reload in a loop.
#[tokio::test]
async fn an_idle_gateway_does_not_reload_in_a_loop() {
    let upstream = Upstream::start().await;
    let key = key();
    let gw = Running::start(
        upstream.addr,
        Some(&policy_json(&resources(), &[&key])),
        &[("POLICY_RECHECK_MS", "1000")],
    )
    .await;
    let checks = || gw.gateway.policy.checks.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = checks();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = checks() - before;
    assert!(during <= 3, "an idle gateway checked its policy {during} times in 1.5 s (re-check every 1 s)");
    let status = gw.gateway.policy.store.status();
    assert!(status.ready);
}
