//! Admission webhooks, served over TLS by every operator replica: validation of the three
//! kinds and defaulting of MCPServer, with the very functions the reconciler and the CLI use
//! (`mcp_api::default_server`, `validate_server`, `validate_grant`, `validate_session`).
//!
//! [`review`] is pure (an `AdmissionReview` in, one out); [`serve`] puts it behind HTTPS.
//! Validation defaults an MCPServer in memory first, so it judges the effective spec even when
//! the mutating webhook (failure policy `Ignore`) did not run. Warnings (an empty grant
//! subject, a server without tools) travel as admission warnings.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mcp_api::{
    DefaultingOptions, Findings, MCPAccessGrantSpec, MCPAgentSessionSpec, MCPServerSpec, default_server,
    validate_grant, validate_server, validate_session,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::metrics::{Metrics, ReviewKind, ReviewLabels};

pub use mcp_operator_core::names::{
    MUTATE_SERVER_PATH, VALIDATE_GRANT_PATH, VALIDATE_SERVER_PATH, VALIDATE_SESSION_PATH,
};

/// Largest AdmissionReview body accepted (the API server sends at most ~3 MiB objects).
const MAX_BODY: usize = 4 << 20;

#[derive(Debug, Deserialize)]
struct Review {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    request: Option<ReviewRequest>,
}

#[derive(Debug, Deserialize)]
struct ReviewRequest {
    uid: String,
    #[serde(default)]
    operation: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    object: Option<Value>,
}

/// The answer to one review.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The `AdmissionReview` to send back.
    pub review: Value,
    /// Which review it was.
    pub kind: ReviewKind,
    /// Whether the object was admitted.
    pub allowed: bool,
}

fn kind_of(path: &str) -> ReviewKind {
    match path {
        VALIDATE_SERVER_PATH => ReviewKind::ValidateServer,
        MUTATE_SERVER_PATH => ReviewKind::MutateServer,
        VALIDATE_GRANT_PATH => ReviewKind::ValidateGrant,
        VALIDATE_SESSION_PATH => ReviewKind::ValidateSession,
        _ => ReviewKind::Unknown,
    }
}

fn response(
    api_version: &str,
    uid: &str,
    allowed: bool,
    message: Option<String>,
    warnings: Vec<String>,
) -> Value {
    let mut response = json!({"uid": uid, "allowed": allowed});
    if let Some(message) = message {
        response["status"] = json!({"code": 403, "reason": "Forbidden", "message": message});
    }
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    let api_version = if api_version.is_empty() { "admission.k8s.io/v1" } else { api_version };
    json!({"apiVersion": api_version, "kind": "AdmissionReview", "response": response})
}

fn verdict(findings: &Findings, what: &str) -> (bool, Option<String>, Vec<String>) {
    let warnings: Vec<String> = findings.warnings.iter().map(ToString::to_string).collect();
    if findings.is_valid() {
        (true, None, warnings)
    } else {
        let errors: Vec<String> = findings.errors.iter().map(ToString::to_string).collect();
        (false, Some(format!("invalid {what}: {}", errors.join("; "))), warnings)
    }
}

fn spec_of<T: serde::de::DeserializeOwned>(object: &Value) -> Result<T, String> {
    serde_json::from_value(object.get("spec").cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("spec: {e}"))
}

/// The object's name (or `generateName` prefix) for defaulting.
fn name_of(request: &ReviewRequest, object: &Value) -> String {
    object["metadata"]["name"]
        .as_str()
        .or(object["metadata"]["generateName"].as_str())
        .map(str::to_string)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| request.name.clone())
}

/// Answers one `AdmissionReview` sent to `path`. Never fails: an unreadable review is denied
/// (and answered with an empty uid, as the API server expects for garbage).
pub fn review(path: &str, body: &[u8], defaults: &DefaultingOptions) -> Answer {
    let kind = kind_of(path);
    let parsed: Result<Review, String> = serde_json::from_slice(body).map_err(|e| e.to_string());
    let (api_version, request) = match parsed {
        Ok(Review { api_version, request: Some(request) }) => (api_version, request),
        Ok(Review { api_version, request: None }) => {
            let review =
                response(&api_version, "", false, Some("the AdmissionReview has no request".into()), vec![]);
            return Answer { review, kind, allowed: false };
        }
        Err(e) => {
            let review = response("", "", false, Some(format!("not an AdmissionReview: {e}")), vec![]);
            return Answer { review, kind, allowed: false };
        }
    };
    let answer = |allowed: bool, message: Option<String>, warnings: Vec<String>| Answer {
        review: response(&api_version, &request.uid, allowed, message, warnings),
        kind,
        allowed,
    };
    // Deletions (and anything without an object) are always admitted.
    let Some(object) = request.object.as_ref().filter(|_| request.operation != "DELETE") else {
        return answer(true, None, vec![]);
    };
    match kind {
        ReviewKind::ValidateServer => match spec_of::<MCPServerSpec>(object) {
            Ok(spec) => {
                let defaulted = default_server(&name_of(&request, object), &spec, defaults);
                let (allowed, message, warnings) = verdict(&validate_server(&defaulted, "spec"), "MCPServer");
                answer(allowed, message, warnings)
            }
            Err(e) => answer(false, Some(format!("invalid MCPServer: {e}")), vec![]),
        },
        ReviewKind::ValidateGrant => match spec_of::<MCPAccessGrantSpec>(object) {
            Ok(spec) => {
                let (allowed, message, warnings) = verdict(&validate_grant(&spec, "spec"), "MCPAccessGrant");
                answer(allowed, message, warnings)
            }
            Err(e) => answer(false, Some(format!("invalid MCPAccessGrant: {e}")), vec![]),
        },
        ReviewKind::ValidateSession => match spec_of::<MCPAgentSessionSpec>(object) {
            Ok(spec) => {
                let (allowed, message, warnings) =
                    verdict(&validate_session(&spec, "spec"), "MCPAgentSession");
                answer(allowed, message, warnings)
            }
            Err(e) => answer(false, Some(format!("invalid MCPAgentSession: {e}")), vec![]),
        },
        ReviewKind::MutateServer => {
            // Defaulting never blocks: an unreadable spec is left to validation.
            let Ok(spec) = spec_of::<MCPServerSpec>(object) else { return answer(true, None, vec![]) };
            let defaulted = default_server(&name_of(&request, object), &spec, defaults);
            let defaulted = serde_json::to_value(&defaulted).unwrap_or(Value::Null);
            let mut a = answer(true, None, vec![]);
            if !defaulted.is_null() && object.get("spec") != Some(&defaulted) {
                let patch = json!([{"op": "replace", "path": "/spec", "value": defaulted}]);
                let encoded = base64::engine::general_purpose::STANDARD.encode(patch.to_string());
                a.review["response"]["patchType"] = json!("JSONPatch");
                a.review["response"]["patch"] = json!(encoded);
            }
            a
        }
        ReviewKind::Unknown => answer(false, Some(format!("no webhook is served at {path}")), vec![]),
    }
}

fn reply(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    res
}

async fn handle(
    req: Request<Incoming>,
    defaults: Arc<DefaultingOptions>,
    metrics: Arc<Metrics>,
) -> Response<Full<Bytes>> {
    if req.method() == Method::GET && req.uri().path() == "/healthz" {
        return reply(StatusCode::OK, b"{\"status\":\"ok\"}".to_vec());
    }
    if req.method() != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, b"{}".to_vec());
    }
    let path = req.uri().path().to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, b"{}".to_vec()),
    };
    let answer = review(&path, &body, &defaults);
    metrics.reviews.get_or_create(&ReviewLabels { kind: answer.kind, allowed: answer.allowed }).inc();
    debug!(path, allowed = answer.allowed, "admission review");
    reply(StatusCode::OK, answer.review.to_string().into_bytes())
}

/// Serves the webhooks over TLS on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    defaults: DefaultingOptions,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let defaults = Arc::new(defaults);
    info!(addr = %listener.local_addr().map_or_else(|_| "?".into(), |a: SocketAddr| a.to_string()), "admission webhooks listening (TLS)");
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    warn!(error = %err, "webhook accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = crate::until(&mut stop, true) => return,
        };
        let (acceptor, defaults, metrics) = (acceptor.clone(), defaults.clone(), metrics.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream))
                .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    debug!(%peer, error = %err, "webhook TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper::service::service_fn(move |req| {
                let (defaults, metrics) = (defaults.clone(), metrics.clone());
                async move { Ok::<_, Infallible>(handle(req, defaults, metrics).await) }
            });
            if let Err(err) =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await
            {
                debug!(%peer, error = %err, "webhook connection closed with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests;
