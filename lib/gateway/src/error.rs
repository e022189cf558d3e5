//! `GatewayError`: every refusal the gateway makes, with its stable reason code, HTTP status and
//! the body the caller gets.
//!
//! Policy decisions (identity, sessions, grants, tools, budgets) carry the evaluator's
//! [`Decision`] for attribution; protocol errors are answered as the MCP specification requires;
//! everything else the gateway refuses on its own (Host, Origin, ownership, limits, upstream
//! failures) is a [`Refusal`]. Every body is a JSON-RPC error object (`id` = the request's, or
//! `null` when there is none) with `error.data.reason`, so MCP clients show a useful message.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_policy::{Decision, Document, Reason};
use mcp_protocol::{ErrorCode, InspectError};
use serde_json::{Map, Value, json};

/// A response body: full, streamed from upstream, or filtered.
pub type Body = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;

/// A body of bytes already in memory.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never: std::convert::Infallible| match never {}).boxed()
}

/// A JSON response.
pub fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut res = Response::new(full(mcp_protocol::to_bytes(value)));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// What the gateway refuses on its own, outside the policy evaluator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The `Host` is not one this gateway serves (DNS-rebinding protection).
    HostNotAllowed,
    /// The `Origin` is not allowed.
    OriginNotAllowed,
    /// An HTTP method the MCP endpoint does not serve (only POST, GET and DELETE).
    MethodNotAllowed,
    /// The request body did not arrive within `BODY_READ_TIMEOUT_MS`.
    BodyTimeout,
    /// The `Mcp-Session-Id` or task id belongs to another identity.
    NotOwner,
    /// Identity headers on a connection that is not from a trusted proxy.
    UntrustedProxy,
    /// An identity header appears more than once.
    IdentityHeaderRepeated,
    /// The app did not answer within `UPSTREAM_TIMEOUT_MS`.
    UpstreamTimeout,
    /// The app could not be reached or broke the connection.
    UpstreamError,
    /// The session's upstream credential cannot be read (the app is never called without it).
    UpstreamCredentialUnavailable,
    /// A discovery reply the gateway cannot read, so cannot filter.
    DiscoveryUnreadable,
}

impl Refusal {
    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::HostNotAllowed => "host_not_allowed",
            Refusal::OriginNotAllowed => "origin_not_allowed",
            Refusal::MethodNotAllowed => "method_not_allowed",
            Refusal::BodyTimeout => "body_timeout",
            Refusal::NotOwner => "not_owner",
            Refusal::UntrustedProxy => "untrusted_proxy",
            Refusal::IdentityHeaderRepeated => "identity_header_repeated",
            Refusal::UpstreamTimeout => "upstream_timeout",
            Refusal::UpstreamError => "upstream_error",
            Refusal::UpstreamCredentialUnavailable => "upstream_credential_unavailable",
            Refusal::DiscoveryUnreadable => "discovery_unreadable",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::HostNotAllowed | Refusal::OriginNotAllowed | Refusal::NotOwner => StatusCode::FORBIDDEN,
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Refusal::UntrustedProxy => StatusCode::UNAUTHORIZED,
            Refusal::IdentityHeaderRepeated => StatusCode::BAD_REQUEST,
            Refusal::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Refusal::UpstreamError
            | Refusal::UpstreamCredentialUnavailable
            | Refusal::DiscoveryUnreadable => StatusCode::BAD_GATEWAY,
        }
    }

    /// A sentence for people.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::HostNotAllowed => "the Host of this request is not served here",
            Refusal::OriginNotAllowed => "the Origin of this request is not allowed",
            Refusal::MethodNotAllowed => "the MCP endpoint serves POST, GET and DELETE only",
            Refusal::BodyTimeout => "the request body did not arrive in time",
            Refusal::NotOwner => "this MCP session or task belongs to another caller",
            Refusal::UntrustedProxy => "identity headers are accepted only from a trusted proxy",
            Refusal::IdentityHeaderRepeated => "an identity header appears more than once",
            Refusal::UpstreamTimeout => "the MCP server did not answer in time",
            Refusal::UpstreamError => "the MCP server could not be reached",
            Refusal::UpstreamCredentialUnavailable => "the session's upstream credential is unavailable",
            Refusal::DiscoveryUnreadable => {
                "the MCP server's tool list could not be read, so it is not shown"
            }
        }
    }
}

/// Every way a request can be refused.
#[derive(Clone, Debug)]
pub enum GatewayError {
    /// A denial with the evaluator's attribution (identity and policy reasons).
    Denied(Box<Decision>),
    /// A protocol error answered as the specification requires (400 with a JSON-RPC error), or an
    /// unreadable body (denied as `rpc_inspection_failed`).
    Inspection(Box<InspectError>),
    /// A refusal of the gateway's own.
    Refused(Refusal),
}

impl From<Decision> for GatewayError {
    fn from(d: Decision) -> GatewayError {
        GatewayError::Denied(Box::new(d))
    }
}

impl From<Reason> for GatewayError {
    fn from(r: Reason) -> GatewayError {
        GatewayError::Denied(Box::new(Decision::deny(r)))
    }
}

impl From<Refusal> for GatewayError {
    fn from(r: Refusal) -> GatewayError {
        GatewayError::Refused(r)
    }
}

impl GatewayError {
    /// The stable reason code (audit, metrics, `error.data.reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            GatewayError::Denied(d) => d.reason.as_str(),
            GatewayError::Inspection(e) if e.http_status() == 400 && e.to_jsonrpc_error().is_some() => {
                e.code()
            }
            GatewayError::Inspection(_) => Reason::RpcInspectionFailed.as_str(),
            GatewayError::Refused(r) => r.code(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::Denied(d) => {
                StatusCode::from_u16(d.reason.http_status()).unwrap_or(StatusCode::FORBIDDEN)
            }
            GatewayError::Inspection(e) => {
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            GatewayError::Refused(r) => r.status(),
        }
    }

    /// The policy decision, when the evaluator (or identity) made this refusal.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            GatewayError::Denied(d) => Some(d),
            _ => None,
        }
    }

    /// The response: a JSON-RPC error carrying `id` (or `null`) and `error.data.reason`, with
    /// the mode's `WWW-Authenticate` challenge on 401 and 403 `insufficient_scope`.
    pub fn response(&self, id: Option<&Value>, doc: Option<&Document>) -> Response<Body> {
        let status = self.status();
        let body = match self {
            GatewayError::Denied(d) => {
                let mut data = d.attribution();
                data.remove("decision");
                data.insert("reason".into(), json!(d.reason.as_str()));
                mcp_protocol::error_response(
                    id,
                    ErrorCode::PolicyDenied,
                    d.reason.message(),
                    Some(Value::Object(data)),
                )
            }
            GatewayError::Inspection(e) => match e.to_jsonrpc_error().filter(|_| e.http_status() == 400) {
                Some(body) => body,
                None => {
                    let reason = Reason::RpcInspectionFailed;
                    let mut data = e.data();
                    data.insert("reason".into(), json!(reason.as_str()));
                    mcp_protocol::error_response(
                        e.request_id().or(id),
                        ErrorCode::PolicyDenied,
                        reason.message(),
                        Some(Value::Object(data)),
                    )
                }
            },
            GatewayError::Refused(r) => {
                let mut data = Map::new();
                data.insert("reason".into(), json!(r.code()));
                let code = match status.as_u16() {
                    500..=599 => ErrorCode::InternalError,
                    _ => ErrorCode::PolicyDenied,
                };
                mcp_protocol::error_response(id, code, r.message(), Some(Value::Object(data)))
            }
        };
        let mut res = json_response(status, &body);
        if let Some(challenge) = self.challenge(doc) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        res
    }

    /// `WWW-Authenticate` for 401s (RFC 6750, with the RFC 9728 `resource_metadata` hint in OAuth
    /// mode) and for `insufficient_scope` (403 with the required scopes).
    fn challenge(&self, doc: Option<&Document>) -> Option<HeaderValue> {
        let reason = self.decision().map(|d| d.reason);
        let status = self.status();
        if status != StatusCode::UNAUTHORIZED && reason != Some(Reason::InsufficientScope) {
            return None;
        }
        let mut value = String::from(r#"Bearer realm="mcp-runtime""#);
        if let Some(doc) = doc.filter(|d| d.auth.mode == mcp_api::AuthMode::Oauth) {
            let resource = if doc.server.url.is_empty() { &doc.auth.audience } else { &doc.server.url };
            if let Some(metadata) = crate::pipeline::identify::resource_metadata_url(resource) {
                value.push_str(&format!(r#", resource_metadata="{metadata}""#));
            }
            if reason == Some(Reason::InsufficientScope) {
                value.push_str(&format!(
                    r#", error="insufficient_scope", scope="{}""#,
                    doc.auth.scopes.join(" ")
                ));
            }
        }
        if reason == Some(Reason::InvalidToken) {
            value.push_str(r#", error="invalid_token""#);
        }
        HeaderValue::from_str(&value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_a_json_rpc_error_with_its_reason() {
        for r in [
            Refusal::HostNotAllowed,
            Refusal::OriginNotAllowed,
            Refusal::MethodNotAllowed,
            Refusal::BodyTimeout,
            Refusal::NotOwner,
            Refusal::UntrustedProxy,
            Refusal::IdentityHeaderRepeated,
            Refusal::UpstreamTimeout,
            Refusal::UpstreamError,
            Refusal::UpstreamCredentialUnavailable,
            Refusal::DiscoveryUnreadable,
        ] {
            let err = GatewayError::from(r);
            let res = err.response(Some(&json!(7)), None);
            assert_eq!(res.status(), r.status());
            assert_eq!(err.reason(), r.code());
        }
        let unready = GatewayError::from(Reason::PolicyUnavailable);
        assert_eq!(unready.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unready.reason(), "policy_unavailable");
        let missing = GatewayError::from(Reason::MissingIdentity).response(None, None);
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert!(missing.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
