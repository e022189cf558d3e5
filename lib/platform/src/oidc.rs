//! OpenID Connect sign-in against an external issuer.
//!
//! - Browsers: `GET /api/v1/auth/oidc/authorize` redirects to the issuer (authorization code,
//!   PKCE S256, `state` and `nonce` kept in the store for 10 minutes, single use); the issuer
//!   redirects back to `GET /api/v1/auth/oidc/callback`, which redeems the code at the token
//!   endpoint, verifies the id_token (issuer keys through `mcp_jwks`, audience = our client id,
//!   nonce) and answers with platform tokens.
//! - The CLI: `POST /api/v1/auth/oidc/token {id_token}` exchanges an id_token it obtained itself
//!   (audience: our client id or one of `PLATFORM_OIDC_AUDIENCES`) for platform tokens.
//!
//! The first sign-in of an identity (issuer, `sub`) links it to the account with the same
//! verified email, or — with `PLATFORM_OIDC_PROVISIONING=create` (the default) — creates one;
//! `link-only` refuses unknown people. Unverified emails never link or create anything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::api::{Actor, ApiQuery, AuditNote, CreateUser, TokenResponse, issue_tokens, new_user};
use crate::config::{OidcConfig, OidcProvisioning};
use crate::error::{ApiError, ApiJson, ErrorBody, json_response};
use crate::secrets::random_bytes;
use crate::store::{User, now};

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const METADATA_TTL: Duration = Duration::from_secs(600);
const LOGIN_TTL_SECS: i64 = 600;

#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

/// The configured issuer and what was learned about it.
pub struct Oidc {
    config: OidcConfig,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    verifier: mcp_jwks::Verifier,
    metadata: tokio::sync::Mutex<Option<(Instant, Metadata)>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc").field("issuer", &self.config.issuer).finish_non_exhaustive()
    }
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

impl Oidc {
    /// A client for this issuer (nothing is fetched yet).
    pub fn new(config: OidcConfig) -> Result<Oidc, String> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Oidc {
            config,
            client: Client::builder(TokioExecutor::new()).build(connector),
            verifier: mcp_jwks::Verifier::new(),
            metadata: tokio::sync::Mutex::new(None),
        })
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), String> {
        let resp = tokio::time::timeout(FETCH_TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| "timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = tokio::time::timeout(FETCH_TIMEOUT, resp.into_body().collect())
            .await
            .map_err(|_| "timed out reading the body".to_string())?
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    }

    async fn metadata(&self) -> Result<Metadata, ApiError> {
        let mut cached = self.metadata.lock().await;
        if let Some((at, m)) = cached.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
        let req = Request::get(&url).body(Full::new(Bytes::new())).map_err(ApiError::internal)?;
        let (status, body) =
            self.send(req).await.map_err(|e| ApiError::unavailable(format!("{url}: {e}")))?;
        if !status.is_success() {
            return Err(ApiError::unavailable(format!("{url}: {status}")));
        }
        let m: Metadata =
            serde_json::from_slice(&body).map_err(|e| ApiError::unavailable(format!("{url}: {e}")))?;
        if m.issuer.trim_end_matches('/') != self.config.issuer {
            return Err(ApiError::unavailable(format!(
                "{url}: names issuer {:?}, expected {:?}",
                m.issuer, self.config.issuer
            )));
        }
        *cached = Some((Instant::now(), m.clone()));
        Ok(m)
    }

    /// Verifies an id_token for one of `audiences`; its claims.
    async fn verify(&self, token: &str, audiences: &[&str]) -> Result<Value, ApiError> {
        let source = mcp_jwks::KeySource::Issuer(self.config.issuer.clone());
        let mut last = String::from("no audience configured");
        for aud in audiences {
            match self.verifier.verify(token, &source, &self.config.issuer, aud).await {
                Ok(claims) => return Ok(claims),
                Err(mcp_jwks::VerifyError::KeysUnavailable(e)) => return Err(ApiError::unavailable(e)),
                Err(mcp_jwks::VerifyError::Invalid(e)) => last = e,
            }
        }
        tracing::debug!(reason = %last, "id_token refused");
        Err(ApiError::invalid_token("id_token is not valid for this platform"))
    }
}

fn oidc(state: &AppState) -> Result<&Oidc, ApiError> {
    state.oidc.as_ref().ok_or_else(|| ApiError::not_found("OpenID Connect sign-in is not configured"))
}

/// The account of a verified identity: linked before, or linked / created now.
async fn account_for(state: &AppState, config: &OidcConfig, claims: &Value) -> Result<User, ApiError> {
    let sub = claims["sub"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_token("id_token has no subject"))?;
    let provider = config.issuer.as_str();
    if let Some(id) = state.store.identity_user(provider, sub).await? {
        let user = state.store.user(&id).await?.ok_or_else(|| ApiError::invalid_token("unknown account"))?;
        if user.disabled_at.is_some() {
            return Err(ApiError::invalid_token("account disabled"));
        }
        return Ok(user);
    }
    let email = claims["email"].as_str().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty());
    let verified = claims["email_verified"].as_bool() == Some(true);
    let Some(email) = email.filter(|_| verified) else {
        return Err(ApiError::forbidden("the issuer did not provide a verified email for this identity"));
    };
    let user = match state.store.user_by_email(&email).await? {
        Some(user) => user,
        None if config.provisioning == OidcProvisioning::Create => {
            let display_name = claims["name"].as_str().map(String::from);
            let request = CreateUser {
                email: email.clone(),
                password: None,
                display_name,
                kind: None,
                admin: Some(false),
            };
            match new_user(state, request).await {
                Ok(user) => user,
                // Created concurrently by another sign-in.
                Err(e) if e.code == "conflict" => state.store.user_by_email(&email).await?.ok_or(e)?,
                Err(e) => return Err(e),
            }
        }
        None => {
            return Err(ApiError::forbidden(
                "no account for this identity; ask an administrator to create one",
            ));
        }
    };
    if user.disabled_at.is_some() || user.kind != "human" {
        return Err(ApiError::forbidden("this account cannot sign in with OpenID Connect"));
    }
    match state.store.link_identity(provider, sub, &user.id).await {
        Ok(()) => Ok(user),
        Err(crate::store::StoreError::Conflict(_)) => Ok(user),
        Err(e) => Err(e.into()),
    }
}

fn signed_in(tokens: TokenResponse, how: &'static str) -> Response {
    let note = AuditNote {
        actor: Some(Actor { id: tokens.user.id.clone(), email: tokens.user.email.clone(), auth: how }),
        object_type: "user",
        object: tokens.user.id.clone(),
        ..AuditNote::default()
    };
    let mut response = json_response(StatusCode::OK, &tokens);
    response.extensions_mut().insert(note);
    response
}

/// Starts a browser sign-in: redirects to the issuer.
#[utoipa::path(get, path = "/api/v1/auth/oidc/authorize", tag = "auth",
    responses((status = 302, description = "redirect to the issuer's authorization endpoint"),
              (status = "default", description = "error (404 when OpenID Connect is not configured)", body = ErrorBody)))]
pub async fn authorize(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let oidc = oidc(&state)?;
    let meta = oidc.metadata().await?;
    let verifier = URL_SAFE_NO_PAD.encode(random_bytes::<32>().map_err(ApiError::internal)?);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let login_state = URL_SAFE_NO_PAD.encode(random_bytes::<16>().map_err(ApiError::internal)?);
    let nonce = URL_SAFE_NO_PAD.encode(random_bytes::<16>().map_err(ApiError::internal)?);
    state.store.insert_oidc_login(&login_state, &verifier, &nonce, now() + LOGIN_TTL_SECS).await?;
    let query = form_encode(&[
        ("response_type", "code"),
        ("client_id", &oidc.config.client_id),
        ("redirect_uri", &oidc.config.redirect_url),
        ("scope", "openid email profile"),
        ("state", &login_state),
        ("nonce", &nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let sep = if meta.authorization_endpoint.contains('?') { '&' } else { '?' };
    let location = format!("{}{sep}{query}", meta.authorization_endpoint);
    Ok((StatusCode::FOUND, [(header::LOCATION, location), (header::CACHE_CONTROL, "no-store".into())])
        .into_response())
}

/// The issuer's redirect back.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Callback {
    /// Authorization code.
    pub code: Option<String>,
    /// The state sent with the authorization request.
    pub state: Option<String>,
    /// Error code from the issuer.
    pub error: Option<String>,
    /// Error text from the issuer.
    pub error_description: Option<String>,
    /// Issuer identifier (RFC 9207), checked when present.
    pub iss: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenEndpointResponse {
    id_token: Option<String>,
}

/// Finishes a browser sign-in: answers with platform tokens.
#[utoipa::path(get, path = "/api/v1/auth/oidc/callback", tag = "auth", params(Callback),
    responses((status = 200, description = "signed in", body = TokenResponse),
              (status = "default", description = "error", body = ErrorBody)))]
pub async fn callback(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<Callback>,
) -> Result<Response, ApiError> {
    let oidc = oidc(&state)?;
    if let Some(error) = q.error {
        let text = q.error_description.unwrap_or_default();
        return Err(ApiError::unauthorized(
            format!("the issuer refused the sign-in: {error} {text}").trim().to_string(),
        ));
    }
    let (Some(code), Some(login_state)) = (q.code, q.state) else {
        return Err(ApiError::invalid("code and state are required"));
    };
    if let Some(iss) = &q.iss
        && iss.trim_end_matches('/') != oidc.config.issuer
    {
        return Err(ApiError::invalid_field("iss", "the response comes from another issuer"));
    }
    let (verifier, nonce) = state
        .store
        .take_oidc_login(&login_state)
        .await?
        .ok_or_else(|| ApiError::invalid_field("state", "unknown, used or expired sign-in state"))?;
    let meta = oidc.metadata().await?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", oidc.config.redirect_url.as_str()),
        ("client_id", oidc.config.client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    if let Some(secret) = &oidc.config.client_secret {
        form.push(("client_secret", secret.as_str()));
    }
    let req = Request::post(&meta.token_endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(form_encode(&form))))
        .map_err(ApiError::internal)?;
    let (status, body) =
        oidc.send(req).await.map_err(|e| ApiError::unavailable(format!("token endpoint: {e}")))?;
    if !status.is_success() {
        tracing::info!(%status, body = %String::from_utf8_lossy(&body), "the token endpoint refused the code");
        return Err(ApiError::unauthorized("the issuer refused the authorization code"));
    }
    let tokens: TokenEndpointResponse =
        serde_json::from_slice(&body).map_err(|e| ApiError::unavailable(format!("token endpoint: {e}")))?;
    let id_token =
        tokens.id_token.ok_or_else(|| ApiError::unavailable("token endpoint returned no id_token"))?;
    let claims = oidc.verify(&id_token, &[&oidc.config.client_id]).await?;
    if claims["nonce"].as_str() != Some(nonce.as_str()) {
        return Err(ApiError::invalid_token("id_token nonce does not match the sign-in"));
    }
    let user = account_for(&state, &oidc.config, &claims).await?;
    Ok(signed_in(issue_tokens(&state, user, None).await?, "oidc"))
}

/// `POST /api/v1/auth/oidc/token` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdTokenExchange {
    /// An id_token from the configured issuer.
    pub id_token: String,
}

/// Exchanges an id_token (the CLI's sign-in) for platform tokens.
#[utoipa::path(post, path = "/api/v1/auth/oidc/token", tag = "auth", request_body = IdTokenExchange,
    responses((status = 200, description = "signed in", body = TokenResponse),
              (status = "default", description = "error", body = ErrorBody)))]
pub async fn exchange(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<IdTokenExchange>,
) -> Result<Response, ApiError> {
    let oidc = oidc(&state)?;
    let mut audiences: Vec<&str> = vec![oidc.config.client_id.as_str()];
    audiences.extend(oidc.config.extra_audiences.iter().map(String::as_str));
    let claims = oidc.verify(req.id_token.trim(), &audiences).await?;
    let user = account_for(&state, &oidc.config, &claims).await?;
    Ok(signed_in(issue_tokens(&state, user, None).await?, "oidc"))
}
