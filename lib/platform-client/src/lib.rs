//! A typed async client of the MCP Runtime platform API, shared by the `mcp-runtime` command
//! line, the agent adapters and the end-to-end harness.
//!
//! - Every route it calls is a constant of [`endpoints`]; a test checks each against
//!   `docs/platform-openapi.json`, and checks every field the response types read against the
//!   schema they name.
//! - Errors are typed ([`ClientError`]): the platform's stable `code`, its HTTP status and
//!   message, or a transport failure naming the URL.
//! - With [`Credential::Session`] an expired access token (401 `invalid_token`) is refreshed
//!   once with the refresh token, the request retried, and the new pair handed to the
//!   [`Client::on_refresh`] hook (the CLI saves it); a refresh that fails is
//!   [`ClientError::LoginExpired`].
//! - It does not depend on `mcp-platform` (its store and server stack are heavy): the types
//!   are its own, lenient about unknown and missing fields.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub mod endpoints;
mod methods;
pub mod types;

pub use endpoints::Endpoint;
pub use types::*;

/// How the client authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Anonymous (sign-in, health).
    None,
    /// A bearer token: an access token or an API key (`mcpk_…`), sent as is.
    Bearer(String),
    /// A signed-in session: the access token, and the refresh token used when it expires.
    Session {
        /// The access token (`Authorization: Bearer`).
        access_token: String,
        /// The single-use refresh token (`mcprt_…`).
        refresh_token: String,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets.
        match self {
            Credential::None => f.write_str("None"),
            Credential::Bearer(_) => f.write_str("Bearer(…)"),
            Credential::Session { .. } => f.write_str("Session { … }"),
        }
    }
}

/// Everything a call can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The platform answered with an error body (`{"error": {"code", "message", "details"}}`).
    #[error("{message} ({code})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The platform's stable error code (`forbidden`, `not_found`, …).
        code: String,
        /// Its message.
        message: String,
        /// Structured details, e.g. `{"field": "name"}`.
        details: Option<Value>,
        /// `Retry-After` seconds, on 429.
        retry_after: Option<u64>,
    },
    /// No connection could be made (refused, DNS, TLS, timeout).
    #[error("platform unreachable at {0}: {1}")]
    Unreachable(String, String),
    /// The sign-in expired and the refresh token was refused (or there is none).
    #[error("login expired: {0}")]
    LoginExpired(String),
    /// The answer was not the JSON expected.
    #[error("unexpected answer from {url} (HTTP {status}): {message}")]
    Decode {
        /// The request URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// What did not parse.
        message: String,
    },
    /// The base URL is not an http(s) URL.
    #[error("invalid platform URL {0:?}: {1}")]
    InvalidUrl(String, String),
    /// Anything else on the transport (a body that could not be read, a request that could
    /// not be built).
    #[error("request to {0} failed: {1}")]
    Transport(String, String),
}

impl ClientError {
    /// The HTTP status, for answers from the platform.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            ClientError::LoginExpired(_) => Some(401),
            _ => None,
        }
    }

    /// The platform's stable error code, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether this is an API error with `status`.
    pub fn is_status(&self, status: u16) -> bool {
        matches!(self, ClientError::Api { status: s, .. } if *s == status)
    }
}

/// Called with the new token pair after a transparent refresh.
pub type RefreshHook = Arc<dyn Fn(&TokenResponse) + Send + Sync>;

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
type Http = hyper_util::client::legacy::Client<Connector, http_body_util::Full<bytes::Bytes>>;

/// The platform API client. Cheap to clone (clones share the connection pool and the
/// credential, so a refresh made by one is seen by all).
#[derive(Clone)]
pub struct Client {
    http: Http,
    timeout: Duration,
    base: String,
    credential: Arc<Mutex<Credential>>,
    refresh_lock: Arc<tokio::sync::Mutex<()>>,
    on_refresh: Option<RefreshHook>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish_non_exhaustive()
    }
}

/// Default time for one request (connect included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest answer read (bigger ones are a [`ClientError::Transport`]).
pub const MAX_BODY: usize = 32 << 20;

impl Client {
    /// A client of the platform at `base_url` (`http(s)://host[:port]`, with or without a
    /// trailing `/`; a path prefix is kept).
    pub fn new(base_url: &str, credential: Credential) -> Result<Client, ClientError> {
        Client::with_timeout(base_url, credential, DEFAULT_TIMEOUT)
    }

    /// [`Client::new`] with a per-request timeout.
    pub fn with_timeout(
        base_url: &str,
        credential: Credential,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let base = base_url.trim().trim_end_matches('/').to_string();
        let uri: http::Uri = base.parse().map_err(|e: http::uri::InvalidUri| {
            ClientError::InvalidUrl(base_url.to_string(), e.to_string())
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(ClientError::InvalidUrl(
                base_url.to_string(),
                "expected http(s)://host[:port]".into(),
            ));
        }
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(timeout.min(Duration::from_secs(10))));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| ClientError::Transport(base.clone(), e.to_string()))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        Ok(Client {
            http,
            timeout,
            base,
            credential: Arc::new(Mutex::new(credential)),
            refresh_lock: Arc::new(tokio::sync::Mutex::new(())),
            on_refresh: None,
        })
    }

    /// Calls `hook` with the new tokens after each transparent refresh.
    pub fn on_refresh(mut self, hook: RefreshHook) -> Client {
        self.on_refresh = Some(hook);
        self
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The current credential (after any refresh).
    pub fn credential(&self) -> Credential {
        self.credential.lock().map(|c| c.clone()).unwrap_or(Credential::None)
    }

    /// Replaces the credential.
    pub fn set_credential(&self, credential: Credential) {
        if let Ok(mut c) = self.credential.lock() {
            *c = credential;
        }
    }

    fn url(
        &self,
        endpoint: &Endpoint,
        params: &[&str],
        query: &[(&str, String)],
    ) -> Result<String, ClientError> {
        let path = endpoint.fill(params).ok_or_else(|| {
            ClientError::Transport(endpoint.path.to_string(), "path parameters do not match".into())
        })?;
        let mut url = format!("{}{}", self.base, path);
        let mut sep = '?';
        for (k, v) in query {
            url.push(sep);
            url.push_str(&endpoints::encode_segment(k));
            url.push('=');
            url.push_str(&endpoints::encode_segment(v));
            sep = '&';
        }
        Ok(url)
    }

    /// Sends one request; on 401 `invalid_token` with a refresh token, refreshes once and
    /// retries. Returns the status and the body.
    async fn send(
        &self,
        endpoint: &Endpoint,
        params: &[&str],
        query: &[(&str, String)],
        body: Option<Body>,
    ) -> Result<(u16, Vec<u8>, String), ClientError> {
        let url = self.url(endpoint, params, query)?;
        let credential = self.credential();
        let (status, bytes, retry_after) = self.send_once(endpoint, &url, &credential, body.clone()).await?;
        if status == 401
            && let Credential::Session { refresh_token, .. } = &credential
            && endpoint != &endpoints::REFRESH
            && endpoint != &endpoints::LOGOUT
            && error_code(&bytes).as_deref() == Some("invalid_token")
        {
            // One refresh at a time: refresh tokens are single-use, so concurrent calls that
            // all met the expiry wait for the first refresh and reuse its pair.
            let _guard = self.refresh_lock.lock().await;
            let current = self.credential();
            let credential = if current != credential {
                current
            } else {
                let tokens = self.refresh_with(refresh_token).await.map_err(|e| match e {
                    ClientError::Api { message, .. } => ClientError::LoginExpired(message),
                    other => other,
                })?;
                let credential = Credential::Session {
                    access_token: tokens.access_token.clone(),
                    refresh_token: tokens.refresh_token.clone(),
                };
                self.set_credential(credential.clone());
                if let Some(hook) = &self.on_refresh {
                    hook(&tokens);
                }
                credential
            };
            drop(_guard);
            let (status, bytes, retry_after) = self.send_once(endpoint, &url, &credential, body).await?;
            return check(status, bytes, retry_after, &url);
        }
        check(status, bytes, retry_after, &url)
    }

    async fn send_once(
        &self,
        endpoint: &Endpoint,
        url: &str,
        credential: &Credential,
        body: Option<Body>,
    ) -> Result<(u16, Vec<u8>, Option<u64>), ClientError> {
        let mut req = http::Request::builder()
            .method(endpoint.method)
            .uri(url)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, concat!("mcp-platform-client/", env!("CARGO_PKG_VERSION")));
        match credential {
            Credential::None => {}
            Credential::Bearer(token) | Credential::Session { access_token: token, .. } => {
                req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
            }
        }
        let timeout = body.as_ref().and_then(|b| b.timeout).unwrap_or(self.timeout);
        if let Some(body) = &body {
            req = req.header(http::header::CONTENT_TYPE, body.content_type);
        }
        self.exchange(url, req, body.map(|b| b.data).unwrap_or_default(), timeout).await
    }

    /// Sends one request and reads the whole answer (bounded by the timeout and [`MAX_BODY`]).
    async fn exchange(
        &self,
        url: &str,
        req: http::request::Builder,
        body: bytes::Bytes,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>, Option<u64>), ClientError> {
        use http_body_util::BodyExt;
        let req = req
            .body(http_body_util::Full::new(body))
            .map_err(|e| ClientError::Transport(url.to_string(), e.to_string()))?;
        let work = async {
            let resp = self.http.request(req).await.map_err(|e| {
                let cause = error_chain(&e);
                if e.is_connect() {
                    ClientError::Unreachable(url.to_string(), cause)
                } else {
                    ClientError::Transport(url.to_string(), cause)
                }
            })?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| ClientError::Transport(url.to_string(), format!("reading the answer: {e}")))?;
            Ok((status, body.to_bytes().to_vec(), retry_after))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Unreachable(
                url.to_string(),
                format!("no answer within {} s", timeout.as_secs()),
            )),
        }
    }

    /// A request to a URL outside the platform (the OpenID Connect issuer of `auth login
    /// --oidc`): `GET` without a body, or `POST` of a form. Returns the status and the JSON
    /// answer (`null` when it is not JSON).
    pub async fn external_json(
        &self,
        method: &str,
        url: &str,
        form: Option<&str>,
    ) -> Result<(u16, Value), ClientError> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(url)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, concat!("mcp-platform-client/", env!("CARGO_PKG_VERSION")));
        if form.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let (status, bytes, _) = self
            .exchange(
                url,
                req,
                bytes::Bytes::from(form.unwrap_or_default().as_bytes().to_vec()),
                self.timeout,
            )
            .await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    async fn refresh_with(&self, refresh_token: &str) -> Result<TokenResponse, ClientError> {
        let body = serde_json::to_vec(&serde_json::json!({ "refresh_token": refresh_token }))
            .map_err(|e| ClientError::Transport(endpoints::REFRESH.path.into(), e.to_string()))?;
        let url = self.url(&endpoints::REFRESH, &[], &[])?;
        let (status, bytes, retry_after) =
            self.send_once(&endpoints::REFRESH, &url, &Credential::None, Some(Body::json(body))).await?;
        let (status, bytes, url) = check(status, bytes, retry_after, &url)?;
        decode(status, &bytes, &url)
    }

    /// A JSON call returning `T`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        params: &[&str],
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = match body {
            Some(b) => Some(
                serde_json::to_vec(b)
                    .map_err(|e| ClientError::Transport(endpoint.path.into(), e.to_string()))?,
            ),
            None => None,
        };
        let (status, bytes, url) = self.send(endpoint, params, query, body.map(Body::json)).await?;
        decode(status, &bytes, &url)
    }

    /// A call whose answer has no body worth reading (204).
    pub(crate) async fn call_empty(
        &self,
        endpoint: &Endpoint,
        params: &[&str],
        body: Option<&impl Serialize>,
    ) -> Result<(), ClientError> {
        let body = match body {
            Some(b) => Some(
                serde_json::to_vec(b)
                    .map_err(|e| ClientError::Transport(endpoint.path.into(), e.to_string()))?,
            ),
            None => None,
        };
        self.send(endpoint, params, &[], body.map(Body::json)).await.map(|_| ())
    }

    /// A request whose body is `data` of `content_type` (an image archive), answered in JSON,
    /// with its own timeout.
    pub(crate) async fn call_raw<T: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        query: &[(&str, String)],
        data: bytes::Bytes,
        content_type: &'static str,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let body = Body { data, content_type, timeout: Some(timeout) };
        let (status, bytes, url) = self.send(endpoint, &[], query, Some(body)).await?;
        decode(status, &bytes, &url)
    }
}

/// A request body.
#[derive(Clone)]
struct Body {
    data: bytes::Bytes,
    content_type: &'static str,
    /// Longer than the client's usual timeout (an upload).
    timeout: Option<Duration>,
}

impl Body {
    fn json(data: Vec<u8>) -> Body {
        Body { data: bytes::Bytes::from(data), content_type: "application/json", timeout: None }
    }
}

/// No body, for [`Client::call`].
pub(crate) const NO_BODY: Option<&()> = None;

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut cause = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    cause
}

fn error_code(bytes: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    match v.get("error")? {
        Value::Object(o) => o.get("code")?.as_str().map(str::to_string),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Turns a non-2xx answer into [`ClientError::Api`].
fn check(
    status: u16,
    bytes: Vec<u8>,
    retry_after: Option<u64>,
    url: &str,
) -> Result<(u16, Vec<u8>, String), ClientError> {
    if (200..300).contains(&status) {
        return Ok((status, bytes, url.to_string()));
    }
    let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let (code, message, details) = match error {
        // `{"error": {"code", "message", "details"?}}`, the platform's shape.
        Some(Value::Object(o)) => (
            o.get("code").and_then(Value::as_str).unwrap_or("unknown").to_string(),
            o.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
            o.get("details").cloned().filter(|d| !d.is_null()),
        ),
        // `{"error": "<code>", "message": "…"}`, the older shape.
        Some(Value::String(code)) => (
            code.clone(),
            parsed.as_ref().and_then(|v| v.get("message")).and_then(Value::as_str).unwrap_or("").to_string(),
            None,
        ),
        _ => (
            format!("http_{status}"),
            String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>().trim().to_string(),
            None,
        ),
    };
    let message = if message.is_empty() { format!("HTTP {status}") } else { message };
    Err(ClientError::Api { status, code, message, details, retry_after })
}

fn decode<T: DeserializeOwned>(status: u16, bytes: &[u8], url: &str) -> Result<T, ClientError> {
    let bytes = if bytes.is_empty() { b"null".as_slice() } else { bytes };
    serde_json::from_slice(bytes).map_err(|e| ClientError::Decode {
        url: url.to_string(),
        status,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests;
