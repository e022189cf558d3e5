//! Who is calling: the client address (trusted-proxy aware), access tokens (EdDSA JWTs the
//! platform signs) and API keys (`mcpk_…`), resolved into a [`Principal`] on every request.
//!
//! Every request re-reads the account (a disabled account stops at once), an access token's
//! sign-in family (sign-out stops its access tokens at once, not after 15 minutes) and, in the
//! handlers, the caller's team membership (a member who left loses access on the next request;
//! tokens carry no team grants).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use http::{Method, header};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::config::IpNet;
use crate::error::ApiError;
use crate::secrets::API_KEY_PREFIX;
use crate::store::{User, now};

/// The client address: the peer, or — only when the peer is a trusted proxy — the nearest
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(parts: &Parts, trusted: &[IpNet]) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    for value in parts.headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else { return peer };
        for item in text.split(',') {
            match item.trim().parse::<IpAddr>() {
                Ok(ip) => chain.push(ip),
                // A malformed hop: believe nothing beyond the proxy.
                Err(_) => return peer,
            }
        }
    }
    chain.iter().rev().copied().find(|ip| !is_trusted(*ip)).or(chain.first().copied()).unwrap_or(peer)
}

/// The client address of a request, as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<Arc<AppState>> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, &state.config.trusted_proxies)))
    }
}

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A platform access token of sign-in family `sid`.
    AccessToken {
        /// The refresh family (sign-in session).
        sid: String,
    },
    /// An API key.
    ApiKey {
        /// Its id.
        id: String,
        /// Its scopes.
        scopes: Vec<String>,
    },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The account (re-read on this request).
    pub user: User,
    /// How it authenticated.
    pub credential: Credential,
    /// The client address.
    pub client_ip: IpAddr,
}

impl Principal {
    /// `access_token` or `api_key`.
    pub fn auth_kind(&self) -> &'static str {
        match self.credential {
            Credential::AccessToken { .. } => "access_token",
            Credential::ApiKey { .. } => "api_key",
        }
    }

    /// 403 unless a platform administrator.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.is_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("platform administrator role required"))
        }
    }
}

/// Claims of a platform access token.
#[derive(Debug, Deserialize)]
pub struct AccessClaims {
    /// The account id.
    pub sub: String,
    /// The sign-in family.
    pub sid: String,
    /// Token use (`access`).
    #[serde(default)]
    pub token_use: String,
}

/// Signs an access token for `user_id` in sign-in family `sid`; returns it and its lifetime.
pub fn issue_access(state: &AppState, user_id: &str, sid: &str) -> Result<(String, u64), ApiError> {
    let at = now();
    let ttl = state.config.access_ttl.as_secs();
    let claims = json!({
        "iss": state.config.issuer,
        "aud": state.config.audience,
        "sub": user_id,
        "sid": sid,
        "token_use": "access",
        "iat": at,
        "exp": at + i64::try_from(ttl).unwrap_or(900),
        "jti": uuid::Uuid::now_v7().to_string(),
    });
    let token = state.keys.ring().sign(&claims, at).map_err(ApiError::internal)?;
    Ok((token, ttl))
}

fn verify_access(state: &AppState, token: &str) -> Result<AccessClaims, ApiError> {
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| ApiError::invalid_token("malformed token"))?;
    if header.alg != Algorithm::EdDSA {
        return Err(ApiError::invalid_token("unsupported token algorithm"));
    }
    let kid = header.kid.ok_or_else(|| ApiError::invalid_token("token has no key id"))?;
    let ring = state.keys.ring();
    let key = ring
        .decoding(&kid, now())
        .ok_or_else(|| ApiError::invalid_token("token signed with an unknown key"))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[&state.config.audience]);
    validation.set_issuer(&[&state.config.issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 30;
    let data = jsonwebtoken::decode::<AccessClaims>(token, key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        ApiError::invalid_token(match e.kind() {
            ErrorKind::ExpiredSignature => "token expired",
            ErrorKind::InvalidAudience => "token is for another audience",
            ErrorKind::InvalidIssuer => "token is from another issuer",
            ErrorKind::InvalidSignature => "token signature is not valid",
            _ => "token is not valid",
        })
    })?;
    if data.claims.token_use != "access" {
        return Err(ApiError::invalid_token("not an access token"));
    }
    Ok(data.claims)
}

/// The bearer value of `Authorization`, if any; `Err` for a malformed header.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let text = value.to_str().map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::unauthorized("Authorization must be `Bearer <token>`")),
    }
}

/// The account of an API key (`mcpk_…`): known, not revoked or expired, its account enabled.
/// Scopes are not checked here (the caller judges them against what is asked).
pub(crate) async fn api_key_principal(
    state: &AppState,
    token: &str,
    client_ip: IpAddr,
) -> Result<Principal, ApiError> {
    let hash = state.hasher.hash(token);
    let key = state
        .store
        .api_key_by_hash(&hash)
        .await?
        .ok_or_else(|| ApiError::invalid_token("unknown API key"))?;
    let at = now();
    if key.revoked_at.is_some() {
        return Err(ApiError::invalid_token("API key revoked"));
    }
    if key.expires_at.is_some_and(|e| e <= at) {
        return Err(ApiError::invalid_token("API key expired"));
    }
    let user =
        state.store.user(&key.user_id).await?.ok_or_else(|| ApiError::invalid_token("unknown account"))?;
    if user.disabled_at.is_some() {
        return Err(ApiError::invalid_token("account disabled"));
    }
    if key.last_used_at.is_none_or(|t| at - t >= 60) {
        state.store.touch_api_key(&key.id, at).await?;
    }
    Ok(Principal { user, credential: Credential::ApiKey { id: key.id, scopes: key.scopes }, client_ip })
}

/// The account of a platform access token: valid signature and claims, account enabled,
/// sign-in not ended.
pub(crate) async fn access_token_principal(
    state: &AppState,
    token: &str,
    client_ip: IpAddr,
) -> Result<Principal, ApiError> {
    let claims = verify_access(state, token)?;
    let user =
        state.store.user(&claims.sub).await?.ok_or_else(|| ApiError::invalid_token("unknown account"))?;
    if user.disabled_at.is_some() {
        return Err(ApiError::invalid_token("account disabled"));
    }
    if state.store.family_revoked(&claims.sid).await? {
        return Err(ApiError::invalid_token("signed out"));
    }
    Ok(Principal { user, credential: Credential::AccessToken { sid: claims.sid }, client_ip })
}

/// Whether API key `scopes` allow a reading (`GET`/`HEAD`) or a writing request; `write`
/// implies `read`.
pub(crate) fn scopes_allow(scopes: &[String], reading: bool) -> bool {
    let write = scopes.iter().any(|s| s == "write");
    let read = write || scopes.iter().any(|s| s == "read");
    if reading { read } else { write }
}

async fn resolve(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let client_ip = client_ip(parts, &state.config.trusted_proxies);
    let token = bearer(parts)?.ok_or_else(|| ApiError::unauthorized("authentication required"))?;
    if token.starts_with(API_KEY_PREFIX) {
        let principal = api_key_principal(state, token, client_ip).await?;
        let reading = parts.method == Method::GET || parts.method == Method::HEAD;
        if let Credential::ApiKey { scopes, .. } = &principal.credential
            && !scopes_allow(scopes, reading)
        {
            return Err(ApiError::forbidden(if reading {
                "the API key lacks the read scope"
            } else {
                "the API key lacks the write scope"
            }));
        }
        return Ok(principal);
    }
    access_token_principal(state, token, client_ip).await
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        resolve(parts, state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(peer: &str, xff: Option<&str>) -> Parts {
        let mut req = http::Request::builder().uri("/");
        if let Some(x) = xff {
            req = req.header("x-forwarded-for", x);
        }
        let (mut parts, ()) = req.body(()).expect("request").into_parts();
        parts.extensions.insert(ConnectInfo(peer.parse::<SocketAddr>().expect("addr")));
        parts
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(client_ip(&parts("1.2.3.4:5", Some("9.9.9.9")), &trusted), ip("1.2.3.4"));
        assert_eq!(client_ip(&parts("10.0.0.1:5", Some("9.9.9.9")), &trusted), ip("9.9.9.9"));
        // A client cannot prepend a fake hop: the nearest untrusted one wins.
        assert_eq!(
            client_ip(&parts("10.0.0.1:5", Some("6.6.6.6, 9.9.9.9, 10.0.0.7")), &trusted),
            ip("9.9.9.9")
        );
        assert_eq!(client_ip(&parts("10.0.0.1:5", Some("junk")), &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(&parts("10.0.0.1:5", None), &trusted), ip("10.0.0.1"));
    }
}
