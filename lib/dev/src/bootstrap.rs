//! First start: an administrator, a demo team with the built-in example server published, an
//! agent and a grant — all made through the platform's own API (in-process), so they pass the
//! same validation as anything a user creates. Every start: a fresh session token for the demo
//! agent and the copy-paste call printed with it.

use std::path::Path;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The administrator `mcp-runtime dev` creates.
pub const ADMIN_EMAIL: &str = "admin@mcp-runtime.dev";
/// The demo team, server and agent.
pub const DEMO_TEAM: &str = "demo";
/// The demo server (the built-in example).
pub const DEMO_SERVER: &str = "demo";
/// The demo agent.
pub const DEMO_AGENT: &str = "demo-agent";
/// Marks a data directory whose first start finished.
const MARKER: &str = "bootstrapped";

/// Tools of the built-in example server as the demo declares them.
const DEMO_TOOLS: &[(&str, &str, Option<&str>)] = &[
    ("aaa-ping", "read", None),
    ("echo", "read", None),
    ("add", "read", None),
    ("upper", "read", Some("medium")),
    ("lower", "read", None),
    ("slugify", "read", None),
    ("create_task", "write", Some("medium")),
    ("draft_release_note", "write", Some("medium")),
];

/// What a failed bootstrap step said.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {status} {body}")]
pub struct BootstrapError {
    step: &'static str,
    status: StatusCode,
    body: Value,
}

/// One call to the platform's API, in-process.
pub async fn api(
    router: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path).header("host", "127.0.0.1");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    };
    let Ok(req) = req else { return (StatusCode::BAD_REQUEST, Value::Null) };
    // The platform's handlers read the peer address for audit and rate limits.
    let mut req = req;
    req.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 0))));
    match router.clone().oneshot(req).await {
        Ok(res) => {
            let status = res.status();
            let bytes = res.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
            (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
        }
        Err(never) => match never {},
    }
}

async fn step(
    router: &Router,
    name: &'static str,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> Result<Value, BootstrapError> {
    let (status, answer) = api(router, method, path, Some(token), Some(body)).await;
    // Already there (an earlier start stopped half-way): fine.
    if status.is_success() || status == StatusCode::CONFLICT {
        Ok(answer)
    } else {
        Err(BootstrapError { step: name, status, body: answer })
    }
}

/// Signs in as the administrator.
pub async fn sign_in(router: &Router, password: &str) -> Result<(String, String), BootstrapError> {
    let (status, answer) = api(
        router,
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"email": ADMIN_EMAIL, "password": password})),
    )
    .await;
    match (status, answer["access_token"].as_str(), answer["user"]["id"].as_str()) {
        (StatusCode::OK, Some(token), Some(id)) => Ok((token.to_string(), id.to_string())),
        _ => Err(BootstrapError { step: "sign in as the administrator", status, body: answer }),
    }
}

/// Whether the first start already finished in `data_dir`.
pub fn done(data_dir: &Path) -> bool {
    data_dir.join(MARKER).exists()
}

/// Creates the demo objects (idempotent: a conflict means it exists), then marks the data
/// directory.
pub async fn demo(
    router: &Router,
    data_dir: &Path,
    token: &str,
    admin_id: &str,
) -> Result<(), BootstrapError> {
    step(router, "create the demo team", Method::POST, "/api/v1/teams", token, json!({"name": DEMO_TEAM}))
        .await?;
    let tools: Vec<Value> = DEMO_TOOLS
        .iter()
        .map(|(name, effect, trust)| {
            let mut t = json!({"name": name, "sideEffect": effect});
            if let Some(trust) = trust {
                t["requiredTrust"] = json!(trust);
            }
            t
        })
        .collect();
    step(
        router,
        "publish the example server",
        Method::POST,
        "/api/v1/runtime/servers",
        token,
        json!({"team": DEMO_TEAM, "name": DEMO_SERVER, "spec": {"image": "mcp-example-server", "tools": tools}}),
    )
    .await?;
    let agent = demo_agent(router, token).await?;
    step(
        router,
        "grant the demo agent",
        Method::POST,
        "/api/v1/runtime/grants",
        token,
        json!({"team": DEMO_TEAM, "name": "demo-agent-reads", "spec": {
            "serverRef": {"name": DEMO_SERVER},
            "subject": {"humanID": admin_id, "agentID": agent},
            "maxTrust": "low", "allowedSideEffects": ["read"],
            "toolRules": [
                {"name": "aaa-ping", "decision": "allow"}, {"name": "echo", "decision": "allow"},
                {"name": "add", "decision": "allow"}, {"name": "lower", "decision": "allow"},
                {"name": "slugify", "decision": "allow"}
            ]
        }}),
    )
    .await?;
    std::fs::write(data_dir.join(MARKER), b"1\n").map_err(|e| BootstrapError {
        step: "mark the data directory",
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: json!(e.to_string()),
    })?;
    Ok(())
}

/// The demo agent's id (registered when missing).
pub async fn demo_agent(router: &Router, token: &str) -> Result<String, BootstrapError> {
    let path = format!("/api/v1/runtime/teams/{DEMO_TEAM}/agents");
    let (_, list) = api(router, Method::GET, &path, Some(token), None).await;
    let existing = list["items"]
        .as_array()
        .and_then(|items| items.iter().find(|a| a["name"] == DEMO_AGENT))
        .and_then(|a| a["id"].as_str())
        .map(String::from);
    if let Some(id) = existing {
        return Ok(id);
    }
    let created =
        step(router, "register the demo agent", Method::POST, &path, token, json!({"name": DEMO_AGENT}))
            .await?;
    created["id"].as_str().map(String::from).ok_or(BootstrapError {
        step: "register the demo agent",
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: created,
    })
}

/// A session token of the demo agent on the demo server (24 h).
pub async fn demo_token(router: &Router, token: &str) -> Result<String, BootstrapError> {
    let agent = demo_agent(router, token).await?;
    let issued = step(
        router,
        "issue the demo session token",
        Method::POST,
        "/api/v1/runtime/adapter/sessions",
        token,
        json!({"serverName": DEMO_SERVER, "team": DEMO_TEAM, "agentID": agent, "requestedTTL": "24h"}),
    )
    .await?;
    issued["token"].as_str().map(String::from).ok_or(BootstrapError {
        step: "issue the demo session token",
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: issued,
    })
}
