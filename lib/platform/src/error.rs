//! The one error shape of the API: `{"error": {"code", "message", "details"?}}`, the stable
//! codes (listed in `docs/platform.md`), the JSON body extractor that turns malformed JSON,
//! unknown fields, oversized bodies and wrong content types into that shape, and the last-line
//! middleware that gives any other error response (unknown route, wrong method) the same shape.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Every error code the API answers with, and its HTTP status.
pub const CODES: &[(&str, u16, &str)] = &[
    ("invalid_request", 400, "the body or a parameter is malformed or fails validation"),
    ("unauthorized", 401, "no credentials, or credentials that are not valid (bad password, unknown key)"),
    ("invalid_token", 401, "a bearer token that is expired, forged, revoked or for another audience"),
    ("forbidden", 403, "signed in, but the role or the API key's scopes do not allow this"),
    ("not_found", 404, "no such route or object, or an object of a team the caller is not in"),
    ("method_not_allowed", 405, "the route exists but not with this method"),
    ("conflict", 409, "the object exists already, or the change would break an invariant"),
    (
        "payload_too_large",
        413,
        "the body is larger than PLATFORM_MAX_BODY_BYTES (an image push: PLATFORM_REGISTRY_PUSH_MAX_BYTES)",
    ),
    ("unsupported_media_type", 415, "a body that is not application/json"),
    (
        "too_many_requests",
        429,
        "sign-in lockout, or a team's active-server limit or push cooldown; see Retry-After",
    ),
    ("internal_error", 500, "a fault on our side (logged with its cause)"),
    ("registry_error", 502, "the container registry refused or failed an image push; the message says why"),
    ("service_unavailable", 503, "the store or another dependency cannot be reached"),
];

/// An error answered to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code (one of [`CODES`]).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Structured details (e.g. the field that failed).
    pub details: Option<Value>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

/// The JSON shape of an error, for the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inner object of [`ErrorBody`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code.
    pub code: String,
    /// Message.
    pub message: String,
    /// Details, when any (e.g. `{"field": "name"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: None, retry_after: None }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 400 `invalid_request` naming the offending field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError { details: Some(json!({ "field": field })), ..ApiError::invalid(message) }
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 401 `invalid_token`.
    pub fn invalid_token(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 429 `too_many_requests` with `Retry-After`.
    pub fn too_many(message: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
        }
    }

    /// 500 `internal_error`; the cause is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
    }

    /// 503 `service_unavailable`; the cause is logged, not sent.
    pub fn unavailable(cause: impl std::fmt::Display) -> ApiError {
        tracing::warn!(error = %cause, "dependency unavailable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "service unavailable, retry later",
        )
    }

    /// The error a status alone implies (for responses produced outside our handlers).
    pub fn from_status(status: StatusCode) -> ApiError {
        // `registry_error` is given only by the registry push handler, never implied by a 502.
        let code = CODES
            .iter()
            .filter(|(c, _, _)| *c != "registry_error")
            .find(|(_, s, _)| *s == status.as_u16())
            .map(|(c, _, _)| *c)
            .unwrap_or(if status.is_server_error() { "internal_error" } else { "invalid_request" });
        let message = match code {
            "not_found" => "no such route".to_string(),
            "method_not_allowed" => "method not allowed on this route".to_string(),
            _ => status.canonical_reason().unwrap_or("error").to_ascii_lowercase(),
        };
        ApiError::new(status, code, message)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> ApiError {
        use crate::store::StoreError;
        match err {
            StoreError::Conflict(what) => ApiError::conflict(what),
            StoreError::Unavailable(cause) => ApiError::unavailable(cause),
            StoreError::Other(cause) => ApiError::internal(cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_string(), message: self.message, details: self.details },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            let value = if self.code == "invalid_token" {
                HeaderValue::from_static("Bearer error=\"invalid_token\"")
            } else {
                HeaderValue::from_static("Bearer")
            };
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// A JSON request body: `application/json` only, at most the configured size, every field
/// known (types use `deny_unknown_fields`), read in one pass with the failing path reported.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// The body size limit, put into request extensions by the router.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().map(|l| l.0).unwrap_or(64 * 1024);
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().eq_ignore_ascii_case("application/json"))
            .unwrap_or(false);
        if !json_type {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json",
            ));
        }
        let bytes = match axum::body::to_bytes(req.into_body(), limit).await {
            Ok(b) => b,
            Err(_) => {
                return Err(ApiError {
                    details: Some(json!({ "limit_bytes": limit })),
                    ..ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "request body too large",
                    )
                });
            }
        };
        let value: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(err) => return Err(ApiError::invalid(format!("malformed JSON: {err}"))),
        };
        if let Some(path) = nul_in(&value, "") {
            let field = path.trim_start_matches('.').to_string();
            return Err(ApiError::invalid_field(&field, "text must not contain NUL characters"));
        }
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Ok(ApiJson(v)),
            Err(err) => {
                let path = err.path().to_string();
                let inner = err.into_inner();
                let details = (path != ".").then(|| json!({ "field": path }));
                Err(ApiError { details, ..ApiError::invalid(format!("invalid body: {inner}")) })
            }
        }
    }
}

/// The path of the first string (or key) holding a NUL character, which PostgreSQL cannot
/// store in text.
fn nul_in(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(s) if s.contains('\0') => Some(path.to_string()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| nul_in(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let here = format!("{path}.{k}");
            if k.contains('\0') { Some(here) } else { nul_in(v, &here) }
        }),
        _ => None,
    }
}

/// Refuses request targets carrying an encoded NUL (`%00`) in the path or query: no name, id
/// or cursor may hold one, and PostgreSQL cannot store it.
pub async fn refuse_nul(req: Request, next: axum::middleware::Next) -> Response {
    let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
    if target.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0') {
        return ApiError::invalid("the request target must not contain NUL characters").into_response();
    }
    next.run(req).await
}

/// Gives every error response that is not already our JSON envelope (unknown routes, wrong
/// methods, rejections of extractors we do not own) the envelope of its status.
pub async fn envelope_errors(req: Request, next: axum::middleware::Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut fresh = ApiError::from_status(status).into_response();
    if let Some(allow) = allow {
        fresh.headers_mut().insert(header::ALLOW, allow);
    }
    fresh
}

/// A JSON response with a status (helper for handlers).
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(bytes))
            .unwrap_or_else(|e| ApiError::internal(e).into_response()),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/platform.md lists every error code with its status, and nothing else.
    #[test]
    fn every_code_is_documented_with_its_status() {
        let all = include_str!("../../../docs/platform.md");
        let start = all.find("## Errors").expect("an Errors section");
        let doc = &all[start..];
        let doc = &doc[..doc[3..].find("\n## ").map(|i| i + 3).unwrap_or(doc.len())];
        for (code, status, _) in CODES {
            assert!(
                doc.contains(&format!("| `{code}` | {status} |")),
                "docs/platform.md lacks `{code}` ({status})"
            );
        }
        let documented = doc
            .lines()
            .filter(|l| {
                l.starts_with("| `") && l.split('|').nth(2).is_some_and(|s| s.trim().parse::<u16>().is_ok())
            })
            .count();
        assert_eq!(documented, CODES.len());
    }

    #[test]
    fn statuses_map_to_codes() {
        assert_eq!(ApiError::from_status(StatusCode::NOT_FOUND).code, "not_found");
        assert_eq!(ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED).code, "method_not_allowed");
        assert_eq!(ApiError::from_status(StatusCode::BAD_GATEWAY).code, "internal_error");
        assert_eq!(ApiError::from_status(StatusCode::IM_A_TEAPOT).code, "invalid_request");
    }
}
