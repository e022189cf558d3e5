//! The gateway's guarantee, attacked from outside: nothing reaches the app that the policy did
//! not judge, and no identity reaches it that a signature did not prove. Each test names the
//! hole it closes (each failed before the pipeline was reshaped).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

fn key() -> SigningKey {
    SigningKey::from_seed("platform-1", [7; 32])
}

/// The fixture plus a second granted caller (user-456's other-agent, session sess-other), and
/// `edit` applied to the YAML first.
fn two_callers(edit: impl Fn(String) -> String) -> Resources {
    let extra = r#"
---
apiVersion: mcpruntime.org/v1alpha1
kind: MCPAccessGrant
metadata: {name: other-agent-grant, namespace: mcp-servers}
spec:
  serverRef: {name: policy-mcp-server}
  subject: {humanID: user-456, agentID: other-agent}
  maxTrust: high
  allowedSideEffects: [read]
  toolRules:
    - {name: echo, decision: allow}
---
apiVersion: mcpruntime.org/v1alpha1
kind: MCPAgentSession
metadata: {name: sess-other, namespace: mcp-servers}
spec:
  serverRef: {name: policy-mcp-server}
  subject: {humanID: user-456, agentID: other-agent}
  consentedTrust: low
  expiresAt: "2099-01-01T00:00:00Z"
"#;
    resources_from(&edit(format!("{FIXTURE}{extra}")))
}

fn other_claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 300, "iat": now(),
        "sub": "user-456", "agent": "other-agent", "team": "team-a", "sid": "sess-other",
    })
}

fn stranger_claims() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 300, "iat": now(),
        "sub": "nobody", "agent": "stranger", "team": "team-z", "sid": "sess-stranger",
    })
}

fn msg(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// Every kind of request an agent can make, as (HTTP method, JSON-RPC body).
fn every_request() -> Vec<(&'static str, Option<Value>)> {
    vec![
        (
            "POST",
            Some(msg(
                1,
                "initialize",
                json!({"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
            )),
        ),
        ("POST", Some(msg(2, "ping", json!({})))),
        ("POST", Some(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))),
        ("POST", Some(msg(3, "resources/list", json!({})))),
        ("POST", Some(msg(4, "resources/read", json!({"uri": "file:///etc/passwd"})))),
        ("POST", Some(msg(5, "prompts/list", json!({})))),
        ("POST", Some(msg(6, "prompts/get", json!({"name": "p"})))),
        (
            "POST",
            Some(msg(
                7,
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": "p"}, "argument": {"name": "a", "value": "b"}}),
            )),
        ),
        ("POST", Some(msg(8, "tasks/get", json!({"taskId": "t-1"})))),
        ("POST", Some(msg(9, "logging/setLevel", json!({"level": "debug"})))),
        ("POST", Some(msg(10, "tools/list", json!({})))),
        ("POST", Some(call(11, "echo", json!({})))),
        ("GET", None),
        ("DELETE", None),
    ]
}

async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> =
        vec![("content-type", "application/json"), ("accept", "application/json, text/event-stream")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth));
    }
    headers.extend_from_slice(extra);
    let body = body.map(Value::to_string).unwrap_or_default();
    send(addr, method, "/policy-mcp-server/mcp", &headers, &body).await
}

#[tokio::test]
async fn closed_before_ready_nothing_is_forwarded() {
    // Hole: before the first policy the gateway forwarded everything but tool calls, with no
    // identity check at all.
    let upstream = Upstream::start().await;
    let gw = Running::start(upstream.addr, None, &[]).await;
    for (method, body) in every_request() {
        let r = request(gw.addr, method, None, &[], body.as_ref()).await;
        assert_eq!(
            (r.status, r.reason().as_str()),
            (503, "policy_unavailable"),
            "{method} {body:?}: {}",
            r.body
        );
    }
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn every_request_needs_a_verified_identity() {
    // Hole: anonymous initialize, resources/*, prompts/*, completion, tasks/*, the GET stream
    // and DELETE were answered by the app.
    let upstream = Upstream::start().await;
    let gw = Running::start(upstream.addr, Some(&policy_json(&resources(), &[&key()])), &[]).await;
    for (method, body) in every_request() {
        let r = request(gw.addr, method, None, &[], body.as_ref()).await;
        assert_eq!(
            (r.status, r.reason().as_str()),
            (401, "missing_identity"),
            "{method} {body:?}: {}",
            r.body
        );
        assert!(r.headers.contains_key("www-authenticate"), "{method} {body:?}");
    }
    assert_eq!(upstream.hits(), 0);
    // Only /health and the RFC 9728 metadata are public.
    assert_eq!(send(gw.addr, "GET", "/health", &[], "").await.status, 200);
    assert_eq!(
        send(gw.addr, "GET", "/.well-known/oauth-protected-resource/policy-mcp-server/mcp", &[], "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn capability_methods_need_a_grant_and_a_live_session() {
    // Hole: any verified caller (or none) reached resources, prompts, completion and tasks.
    let upstream = Upstream::start().await;
    let key = key();
    let mut r = two_callers(|t| t);
    r.sessions[1].spec.revoked = Some(true);
    // The stranger has a live session but no grant.
    let mut stranger_session = r.sessions[0].clone();
    stranger_session.metadata.name = Some("sess-stranger".into());
    stranger_session.spec.subject.human_id = Some("nobody".into());
    stranger_session.spec.subject.agent_id = Some("stranger".into());
    r.sessions.push(stranger_session);
    let gw = Running::start(upstream.addr, Some(&policy_json(&r, &[&key])), &[]).await;
    let ops = key.token(ops_claims());
    let stranger = key.token(stranger_claims());
    let revoked = key.token(other_claims());
    for (id, method) in
        [(1, "resources/list"), (2, "prompts/get"), (3, "completion/complete"), (4, "logging/setLevel")]
    {
        let body = msg(id, method, json!({"name": "p"}));
        let allowed = request(gw.addr, "POST", Some(&ops), &[], Some(&body)).await;
        assert_eq!(allowed.status, 200, "{method}: {}", allowed.body);
        let denied = request(gw.addr, "POST", Some(&stranger), &[], Some(&body)).await;
        assert_eq!((denied.status, denied.reason().as_str()), (403, "method_not_granted"), "{method}");
        let revoked = request(gw.addr, "POST", Some(&revoked), &[], Some(&body)).await;
        assert_eq!((revoked.status, revoked.reason().as_str()), (401, "session_revoked"), "{method}");
    }
    // initialize, ping and tools/list need only the identity.
    for body in [msg(5, "ping", json!({})), msg(6, "tools/list", json!({}))] {
        assert_eq!(request(gw.addr, "POST", Some(&stranger), &[], Some(&body)).await.status, 200);
    }
}

#[tokio::test]
async fn sessions_and_tasks_belong_to_their_creator() {
    // Hole: any caller could use, stream from or DELETE another caller's MCP session, and read
    // or cancel another caller's task.
    let upstream = Upstream::start().await;
    let key = key();
    let gw = Running::start(upstream.addr, Some(&policy_json(&two_callers(|t| t), &[&key])), &[]).await;
    let (ops, other) = (key.token(ops_claims()), key.token(other_claims()));
    let session = [("mcp-session-id", "session-of-ops")];
    assert_eq!(
        request(gw.addr, "POST", Some(&ops), &session, Some(&msg(1, "ping", json!({})))).await.status,
        200
    );
    for method in ["POST", "GET", "DELETE"] {
        let body = (method == "POST").then(|| msg(2, "ping", json!({})));
        let r = request(gw.addr, method, Some(&other), &session, body.as_ref()).await;
        assert_eq!((r.status, r.reason().as_str()), (403, "not_owner"), "{method}");
    }
    // Its owner may end it; then it is free.
    let hits = upstream.hits();
    assert_eq!(request(gw.addr, "DELETE", Some(&ops), &session, None).await.status, 200);
    assert_eq!(upstream.hits(), hits + 1);
    assert_eq!(upstream.last().method, "DELETE");

    let task = |id: i64, method: &str| msg(id, method, json!({"taskId": "task-of-ops"}));
    assert_eq!(request(gw.addr, "POST", Some(&ops), &[], Some(&task(3, "tasks/get"))).await.status, 200);
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let r = request(gw.addr, "POST", Some(&other), &[], Some(&task(4, method))).await;
        assert_eq!((r.status, r.reason().as_str()), (403, "not_owner"), "{method}");
    }
}

#[tokio::test]
async fn the_app_sees_exactly_what_was_judged_and_only_the_gateways_identity() {
    // Holes: the app received the caller's bytes and Content-Type (so a reader that differs
    // from ours could run another call), and identity-shaped headers passed through.
    let upstream = Upstream::start().await;
    let key = key();
    let gw = Running::start(upstream.addr, Some(&policy_json(&resources(), &[&key])), &[]).await;
    let auth = format!("Bearer {}", key.token(ops_claims()));
    let body = "{ \"jsonrpc\" : \"2.0\",\n \"id\": 7, \"method\": \"tools/call\", \"params\": {\"name\": \"add\", \"arguments\": {\"a\": 1.0e2, \"b\": 2}} }";
    let headers = [
        ("content-type", "application/json; charset=utf-8"),
        ("authorization", auth.as_str()),
        ("remote-user", "admin"),
        ("x-forwarded-user", "admin"),
        ("X_MCP_Human_Id", "admin"),
        ("x-mcp-human-id", "admin"),
        ("forwarded", "for=1.2.3.4;user=admin"),
        ("x-forwarded-for", "1.2.3.4"),
        ("x-real-ip", "1.2.3.4"),
        ("x-auth-request-email", "admin@example.com"),
        ("x-request-id", "keep-me"),
    ];
    let r = send(gw.addr, "POST", "/policy-mcp-server/mcp", &headers, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = upstream.last();
    assert_eq!(seen.headers.get("content-type").map(String::as_str), Some("application/json"));
    let canonical: Value = serde_json::from_str(body).expect("json");
    assert_eq!(seen.raw, canonical.to_string(), "the canonical bytes of what was judged");
    for name in [
        "remote-user",
        "x-forwarded-user",
        "x_mcp_human_id",
        "forwarded",
        "x-forwarded-for",
        "x-real-ip",
        "x-auth-request-email",
        "authorization",
    ] {
        assert!(!seen.headers.contains_key(name), "{name} reached the app: {:?}", seen.headers);
    }
    assert_eq!(seen.headers.get("x-mcp-human-id").map(String::as_str), Some("user-123"));
    assert_eq!(seen.headers.get("x-request-id").map(String::as_str), Some("keep-me"));
}

#[tokio::test]
async fn admin_endpoints_are_not_on_the_public_listener() {
    // Hole: /config/status and /metrics answered anyone on the public port.
    let upstream = Upstream::start().await;
    let gw = Running::start(upstream.addr, Some(&policy_json(&resources(), &[&key()])), &[]).await;
    for path in ["/config/status", "/metrics", "/ready"] {
        let public = send(gw.addr, "GET", path, &[], "").await;
        assert_eq!((public.status, public.reason().as_str()), (401, "missing_identity"), "{path}");
        assert_eq!(send(gw.admin, "GET", path, &[], "").await.status, 200, "{path}");
    }
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn tokens_must_be_valid_now_and_within_the_session_lifetime() {
    // Hole: a token whose `nbf` is an hour ahead was accepted; maxLifetime was informational.
    let upstream = Upstream::start().await;
    let key = key();
    let gw = Running::start(upstream.addr, Some(&policy_json(&resources(), &[&key])), &[]).await;
    let mut early = ops_claims();
    early["nbf"] = json!(now() + 3_600);
    let mut long = ops_claims();
    long["exp"] = json!(now() + 48 * 3_600);
    let mut old = ops_claims();
    old["iat"] = json!(now() - 25 * 3_600);
    for claims in [early, long, old] {
        let r = rpc(gw.addr, Some(&key.token(claims.clone())), &[], call(1, "echo", json!({}))).await;
        assert_eq!((r.status, r.reason().as_str()), (401, "invalid_token"), "{claims}");
    }
    assert_eq!(upstream.hits(), 0);
    assert_eq!(
        rpc(gw.addr, Some(&key.token(ops_claims())), &[], call(2, "echo", json!({}))).await.status,
        200
    );
}

fn trusted_headers_policy() -> String {
    let mut r = resources();
    r.server.spec.auth = Some(mcp_api::AuthConfig {
        mode: Some(mcp_api::AuthMode::TrustedHeaders),
        human_id_header: Some("X-MCP-Human-ID".into()),
        agent_id_header: Some("X-MCP-Agent-ID".into()),
        team_id_header: Some("X-MCP-Team-ID".into()),
        ..Default::default()
    });
    policy_json(&r, &[])
}

#[tokio::test]
async fn trusted_headers_only_from_trusted_proxies_and_never_repeated() {
    let upstream = Upstream::start().await;
    let who = [
        ("x-mcp-human-id", "user-123"),
        ("x-mcp-agent-id", "ops-agent"),
        ("x-mcp-team-id", "team-a"),
        ("x-mcp-agent-session", "sess-ops-agent"),
    ];
    // Loopback is not a trusted proxy here: the headers are refused.
    let gw = Running::start(
        upstream.addr,
        Some(&trusted_headers_policy()),
        &[("TRUSTED_PROXY_CIDRS", "10.0.0.0/8")],
    )
    .await;
    let r = rpc(gw.addr, None, &who, call(1, "echo", json!({}))).await;
    assert_eq!((r.status, r.reason().as_str()), (401, "untrusted_proxy"));
    // From a trusted proxy they are believed, once each.
    let gw = Running::start(upstream.addr, Some(&trusted_headers_policy()), &[]).await;
    let r = rpc(gw.addr, None, &who, call(2, "echo", json!({}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut twice = who.to_vec();
    twice.push(("x-mcp-human-id", "admin"));
    let r = rpc(gw.addr, None, &twice, call(3, "echo", json!({}))).await;
    assert_eq!((r.status, r.reason().as_str()), (400, "identity_header_repeated"));
}

#[tokio::test]
async fn notifications_never_charge_a_budget() {
    let upstream = Upstream::start().await;
    let key = key();
    let r = two_callers(|t| {
        t.replace(
            "  maxTrust: high\n  allowedSideEffects: [read, write]",
            "  maxTrust: high\n  maxCalls: 1\n  allowedSideEffects: [read, write]",
        )
    });
    let gw = Running::start(upstream.addr, Some(&policy_json(&r, &[&key])), &[]).await;
    let token = key.token(ops_claims());
    let notification =
        json!({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "echo", "arguments": {}}});
    for _ in 0..3 {
        let r = rpc(gw.addr, Some(&token), &[], notification.clone()).await;
        assert!(r.status < 300, "{}", r.body);
    }
    assert_eq!(rpc(gw.addr, Some(&token), &[], call(1, "echo", json!({}))).await.status, 200);
    let r = rpc(gw.addr, Some(&token), &[], call(2, "echo", json!({}))).await;
    assert_eq!((r.status, r.reason().as_str()), (403, "budget_exhausted"));
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_refused() {
    let upstream = Upstream::start().await;
    let key = key();
    let gw = Running::start(
        upstream.addr,
        Some(&policy_json(&resources(), &[&key])),
        &[("BODY_READ_TIMEOUT_MS", "300")],
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.expect("connect");
    let head = format!(
        "POST /policy-mcp-server/mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"jsonrpc\"",
        gw.addr
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut reply = Vec::new();
    let started = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("body_timeout"), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test]
async fn a_slow_client_holding_2000_connections_does_not_stop_a_caller() {
    let upstream = Upstream::start().await;
    let key = key();
    let limits = [("MAX_CONNECTIONS", "1000"), ("HEADER_READ_TIMEOUT_MS", "500")];
    let gw = Running::start(upstream.addr, Some(&policy_json(&resources(), &[&key])), &limits).await;
    // 2,000 connections that send half a request head and then nothing.
    let mut slow = Vec::new();
    for _ in 0..2_000 {
        let mut s = tokio::net::TcpStream::connect(gw.addr).await.expect("connect");
        let _ = s.write_all(b"POST /policy-mcp-server/mcp HTTP/1.1\r\nHost: x\r\n").await;
        slow.push(s);
    }
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        rpc(gw.addr, Some(&key.token(ops_claims())), &[], call(1, "echo", json!({}))),
    )
    .await
    .expect("a well-behaved caller is served while the slow client holds its connections");
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < Duration::from_secs(10));
    // The slow connections were cut by the header timeout.
    let mut closed = 0;
    for s in slow.iter_mut().take(50) {
        let mut buf = [0u8; 256];
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 50);
    let metrics = send(gw.admin, "GET", "/metrics", &[], "").await.body;
    assert!(metrics.contains("mcp_gateway_limit_hits_total{limit=\"header_read_timeout\"}"), "{metrics}");
}

#[tokio::test]
async fn observe_mode_lets_calls_through_and_records_what_enforcement_would_do() {
    let upstream = Upstream::start().await;
    let mut r = resources();
    r.server.spec.policy =
        Some(mcp_api::PolicyConfig { mode: Some(mcp_api::PolicyMode::Observe), ..Default::default() });
    let gw = Running::start(upstream.addr, Some(&policy_json(&r, &[&key()])), &[]).await;
    let reply = rpc(gw.addr, None, &[], call(1, "upper", json!({}))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(upstream.hits(), 1);
    let metrics = send(gw.admin, "GET", "/metrics", &[], "").await.body;
    assert!(
        metrics.contains("mcp_gateway_policy_decisions_total{decision=\"allow\",reason=\"missing_identity\",rpc_method=\"tools/call\"} 1"),
        "{metrics}"
    );
    // A presented token that fails verification is refused in every mode.
    let bad = rpc(gw.addr, Some("not-a-token"), &[], call(2, "echo", json!({}))).await;
    assert_eq!((bad.status, bad.reason().as_str()), (401, "invalid_token"));
}

/// An app whose GET stream sends a tool list (all tools) and a notification, then stays open.
async fn streaming_app() -> std::net::SocketAddr {
    use http_body_util::StreamBody;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |_req: http::Request<hyper::body::Incoming>| async {
                        let (tx, rx) = tokio::sync::mpsc::channel::<
                            Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>,
                        >(4);
                        tokio::spawn(async move {
                            let list = json!({"jsonrpc": "2.0", "id": 1.0, "result": {"tools": [{"name": "echo"}, {"name": "secret-admin-tool"}]}});
                            let events = format!(
                                "id: 1\ndata: {list}\n\nid: 2\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}}\n\n"
                            );
                            let _ = tx.send(Ok(http_body::Frame::data(bytes::Bytes::from(events)))).await;
                            // Then nothing, for a long time.
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        });
                        let body = StreamBody::new(tokio_stream_shim(rx));
                        let mut res = http::Response::new(body);
                        res.headers_mut()
                            .insert("content-type", http::HeaderValue::from_static("text/event-stream"));
                        Ok::<_, std::convert::Infallible>(res)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A receiver as a stream of frames.
fn tokio_stream_shim<T>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn the_get_stream_is_filtered_and_anonymous_streams_end_when_idle() {
    // Holes: server-initiated messages and Last-Event-ID replays on the GET stream carried
    // unfiltered tool lists; an anonymous stream could be held open forever.
    let app = streaming_app().await;
    let key = key();
    let gw = Running::start(app, Some(&policy_json(&resources(), &[&key])), &[]).await;
    let auth = format!("Bearer {}", key.token(ops_claims()));
    let headers = [("accept", "text/event-stream"), ("authorization", auth.as_str()), ("last-event-id", "0")];
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.expect("connect");
    let head = format!(
        "GET /policy-mcp-server/mcp HTTP/1.1\r\nHost: {}\r\n{}\r\n",
        gw.addr,
        headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect::<String>()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("notifications/message") && Instant::now() < deadline {
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => {}
        }
    }
    assert!(seen.contains("\"echo\""), "{seen}");
    assert!(!seen.contains("secret-admin-tool"), "{seen}");
    assert!(seen.contains("notifications/message"), "{seen}");

    // Observe mode: an anonymous stream ends after the idle timeout.
    let mut r = resources();
    r.server.spec.policy =
        Some(mcp_api::PolicyConfig { mode: Some(mcp_api::PolicyMode::Observe), ..Default::default() });
    let gw =
        Running::start(app, Some(&policy_json(&r, &[&key])), &[("ANONYMOUS_STREAM_IDLE_TIMEOUT_MS", "300")])
            .await;
    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        send(gw.addr, "GET", "/policy-mcp-server/mcp", &[("accept", "text/event-stream")], ""),
    )
    .await
    .expect("the anonymous stream ended");
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("notifications/message"), "{}", reply.body);
    assert!(started.elapsed() < Duration::from_secs(5));
}
