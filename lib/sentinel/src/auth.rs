//! Who may post events: an API key (`x-api-key`) from the configured set, or a bearer JWT signed
//! by the configured issuer's JWKS with the configured `iss` and `aud`. With neither configured,
//! ingest is open (a warning is logged at start).
//!
//! Keys of the JWKS are fetched at start, refreshed every ten minutes and, when a token names an
//! unknown key id, at most once per thirty seconds; a failed refresh keeps the keys already
//! trusted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Uri, header};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use tracing::{debug, warn};

use crate::config::OidcConfig;

const KEYS_TTL: Duration = Duration::from_secs(600);
const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const LEEWAY_SECONDS: u64 = 30;

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential, or an API key that is not in the set.
    #[error("authentication required: a valid x-api-key or bearer token")]
    Unauthorized,
    /// A bearer token that failed verification (bad signature, expired, wrong issuer/audience).
    #[error("invalid token: {0}")]
    InvalidToken(String),
}

impl AuthError {
    /// Stable error code of the answer.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Unauthorized => "unauthorized",
            AuthError::InvalidToken(_) => "invalid_token",
        }
    }
}

/// The request authenticator.
pub struct Authenticator {
    api_keys: Vec<Vec<u8>>,
    oidc: Option<Jwks>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("api_keys", &self.api_keys.len())
            .field("oidc", &self.oidc.as_ref().map(|o| &o.config))
            .finish()
    }
}

impl Authenticator {
    /// An authenticator for these keys and this issuer.
    pub fn new(api_keys: &[String], oidc: Option<OidcConfig>) -> Authenticator {
        Authenticator {
            api_keys: api_keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
            oidc: oidc.map(Jwks::new),
        }
    }

    /// Whether every request is accepted (no keys, no issuer).
    pub fn is_open(&self) -> bool {
        self.api_keys.is_empty() && self.oidc.is_none()
    }

    /// Fetches the issuer's keys now (at start), so the first request does not wait for them.
    pub async fn warm_up(&self) {
        if let Some(jwks) = &self.oidc
            && let Err(reason) = jwks.refresh().await
        {
            warn!(%reason, "cannot fetch the OIDC keys yet; bearer tokens fail until they load");
        }
    }

    /// Checks the credentials of one request.
    pub async fn check(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        if self.is_open() {
            return Ok(());
        }
        if let Some(key) = headers.get("x-api-key") {
            let key = key.as_bytes();
            // Compare with every key, in constant time per key, so timing says nothing.
            let found = self.api_keys.iter().fold(false, |found, k| found | constant_time_eq(k, key));
            return if found { Ok(()) } else { Err(AuthError::Unauthorized) };
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        match (bearer, &self.oidc) {
            (Some(token), Some(jwks)) => jwks.verify(token).await,
            _ => Err(AuthError::Unauthorized),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct Keys {
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Instant,
}

struct Jwks {
    config: OidcConfig,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    keys: Mutex<Option<Arc<Keys>>>,
    refresh_guard: tokio::sync::Mutex<()>,
}

fn algorithm_of(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    if let Some(alg) = jwk.common.key_algorithm {
        return alg.to_string().parse().ok();
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Some(Algorithm::ES256),
            EllipticCurve::P384 => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
        _ => None,
    }
}

impl Jwks {
    fn new(config: OidcConfig) -> Jwks {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        Jwks {
            config,
            client: Client::builder(TokioExecutor::new()).build(connector),
            keys: Mutex::new(None),
            refresh_guard: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self) -> Option<Arc<Keys>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    async fn fetch(&self) -> Result<Keys, String> {
        let url = &self.config.jwks_url;
        let uri: Uri = url.parse().map_err(|_| format!("bad URL {url}"))?;
        let req = Request::get(uri)
            .header(header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let res = tokio::time::timeout(FETCH_TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| format!("{url}: timed out"))?
            .map_err(|e| format!("{url}: {e}"))?;
        let status = res.status();
        let body = res.into_body().collect().await.map_err(|e| format!("{url}: {e}"))?.to_bytes();
        if !status.is_success() {
            return Err(format!("{url}: HTTP {status}"));
        }
        let value: Value = serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))?;
        let set: JwkSet = serde_json::from_value(value).map_err(|e| format!("{url}: not a JWK set: {e}"))?;
        let mut by_kid = HashMap::new();
        for (i, jwk) in set.keys.iter().enumerate() {
            let Some(alg) = algorithm_of(jwk) else { continue };
            let kid = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    by_kid.insert(kid, (key, alg));
                }
                Err(e) => debug!(%kid, error = %e, "skipping an unusable key"),
            }
        }
        if by_kid.is_empty() {
            return Err(format!("{url}: no usable signing keys"));
        }
        Ok(Keys { by_kid, fetched: Instant::now() })
    }

    async fn refresh(&self) -> Result<Arc<Keys>, String> {
        let keys = Arc::new(self.fetch().await?);
        *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = Some(keys.clone());
        Ok(keys)
    }

    async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<Keys>, AuthError> {
        let fresh = |k: &Keys| {
            let stale = k.fetched.elapsed() > KEYS_TTL;
            let unknown = kid.is_some_and(|kid| !k.by_kid.contains_key(kid))
                && k.fetched.elapsed() > UNKNOWN_KID_REFRESH;
            !(stale || unknown)
        };
        if let Some(keys) = self.cached().filter(|k| fresh(k)) {
            return Ok(keys);
        }
        let _one_at_a_time = self.refresh_guard.lock().await;
        if let Some(keys) = self.cached().filter(|k| fresh(k)) {
            return Ok(keys);
        }
        match self.refresh().await {
            Ok(keys) => Ok(keys),
            Err(reason) => {
                warn!(%reason, "cannot refresh the OIDC keys");
                self.cached().ok_or(AuthError::InvalidToken("issuer keys unavailable".into()))
            }
        }
    }

    async fn verify(&self, token: &str) -> Result<(), AuthError> {
        let header =
            decode_header(token).map_err(|e| AuthError::InvalidToken(format!("malformed token: {e}")))?;
        let keys = self.keys_for(header.kid.as_deref()).await?;
        let (key, alg) = match &header.kid {
            Some(kid) => keys
                .by_kid
                .get(kid)
                .ok_or_else(|| AuthError::InvalidToken(format!("unknown key id {kid:?}")))?,
            None if keys.by_kid.len() == 1 => keys.by_kid.values().next().ok_or(AuthError::Unauthorized)?,
            None => return Err(AuthError::InvalidToken("token has no key id".into())),
        };
        if header.alg != *alg {
            return Err(AuthError::InvalidToken(format!(
                "algorithm {:?} does not match the key",
                header.alg
            )));
        }
        let mut validation = Validation::new(*alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        decode::<Value>(token, key, &validation)
            .map(|_| ())
            .map_err(|e| AuthError::InvalidToken(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn api_keys_are_checked_and_open_mode_accepts_all() {
        let open = Authenticator::new(&[], None);
        assert!(open.is_open());
        assert_eq!(open.check(&HeaderMap::new()).await, Ok(()));

        let auth = Authenticator::new(&["k1".into(), "key-two".into()], None);
        let mut h = HeaderMap::new();
        assert_eq!(auth.check(&h).await, Err(AuthError::Unauthorized));
        h.insert("x-api-key", "key-two".parse().expect("header value"));
        assert_eq!(auth.check(&h).await, Ok(()));
        h.insert("x-api-key", "key-tw".parse().expect("header value"));
        assert_eq!(auth.check(&h).await, Err(AuthError::Unauthorized));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().expect("header value"));
        assert_eq!(auth.check(&h).await, Err(AuthError::Unauthorized), "no issuer configured");
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
