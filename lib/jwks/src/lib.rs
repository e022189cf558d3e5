//! Verifies JWTs against the keys an issuer publishes.
//!
//! Keys come from a JWKS, found either through the issuer's metadata (RFC 8414 path insertion,
//! then OpenID Connect discovery with path insertion, then appended; the metadata must echo the
//! issuer) or at a configured URL. Each key set is cached, refreshed every ten minutes and, when
//! a token names an unknown key id, at most once per thirty seconds; refreshes happen one at a
//! time, and a failed refresh keeps serving the keys already trusted. A token must name a cached
//! key (or carry no key id when there is exactly one key), use that key's algorithm, be signed by
//! it, carry the expected issuer and audience, and be unexpired (30 s leeway).
//!
//! Used by the gateway (`auth.mode: oauth`) and by the sentinel's ingest (bearer tokens).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use tracing::{debug, warn};

/// How long keys are trusted before a refresh.
const KEYS_TTL: Duration = Duration::from_secs(600);
/// Least time between refreshes forced by an unknown key id.
const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(30);
/// Time allowed for one metadata or JWKS fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Accepted clock skew for `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;

/// Where an issuer's keys are published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Discovered from the issuer's metadata (`jwks_uri`).
    Issuer(String),
    /// A JWKS at this URL.
    JwksUrl(String),
}

impl KeySource {
    fn cache_key(&self) -> String {
        match self {
            KeySource::Issuer(issuer) => format!("issuer {issuer}"),
            KeySource::JwksUrl(url) => format!("jwks {url}"),
        }
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token is malformed, names no usable key, or fails a signature or claim check.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// No keys could be loaded from the issuer (and none were cached).
    #[error("issuer keys unavailable: {0}")]
    KeysUnavailable(String),
}

/// One issuer's usable keys, by key id (`#<index>` for keys without one).
struct KeySet {
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Instant,
}

/// The key sets of every source seen, and an HTTPS client (webpki roots) to fetch them.
pub struct Verifier {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    cache: Mutex<HashMap<String, Arc<KeySet>>>,
    refresh_guard: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sources: Vec<String> = self.cache.lock().map(|c| c.keys().cloned().collect()).unwrap_or_default();
        f.debug_struct("Verifier").field("sources", &sources).finish_non_exhaustive()
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

/// Where RFC 8414 / OpenID metadata may live for `issuer`, in the order tried.
pub fn discovery_urls(issuer: &str) -> Vec<String> {
    let issuer = issuer.trim_end_matches('/');
    let Some((scheme, rest)) = issuer.split_once("://") else {
        return Vec::new();
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let base = format!("{scheme}://{host}");
    if path.is_empty() {
        return vec![
            format!("{base}/.well-known/oauth-authorization-server"),
            format!("{base}/.well-known/openid-configuration"),
        ];
    }
    vec![
        format!("{base}/.well-known/oauth-authorization-server{path}"),
        format!("{base}/.well-known/openid-configuration{path}"),
        format!("{issuer}/.well-known/openid-configuration"),
    ]
}

/// The signing algorithm of a key: its `alg`, else the usual one for its type.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
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

impl Verifier {
    /// An empty cache.
    pub fn new() -> Verifier {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        Verifier {
            client: Client::builder(TokioExecutor::new()).build(connector),
            cache: Mutex::new(HashMap::new()),
            refresh_guard: tokio::sync::Mutex::new(()),
        }
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let uri: Uri = url.parse().map_err(|_| format!("bad URL {url}"))?;
        let req = Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
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
        serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON: {e}"))
    }

    /// The JWKS URL of `issuer`, from its metadata.
    async fn discover(&self, issuer: &str) -> Result<String, String> {
        let mut errors = Vec::new();
        for url in discovery_urls(issuer) {
            match self.get_json(&url).await {
                Ok(metadata) => {
                    let advertised = metadata.get("issuer").and_then(Value::as_str).unwrap_or_default();
                    if advertised.trim_end_matches('/') != issuer.trim_end_matches('/') {
                        return Err(format!("metadata names issuer {advertised:?}, expected {issuer:?}"));
                    }
                    return metadata
                        .get("jwks_uri")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| "metadata has no jwks_uri".to_string());
                }
                Err(e) => errors.push(e),
            }
        }
        Err(format!("no authorization server metadata ({})", errors.join("; ")))
    }

    async fn fetch(&self, source: &KeySource) -> Result<KeySet, String> {
        let url = match source {
            KeySource::Issuer(issuer) => self.discover(issuer).await?,
            KeySource::JwksUrl(url) => url.clone(),
        };
        let set: JwkSet = serde_json::from_value(self.get_json(&url).await?)
            .map_err(|e| format!("{url}: not a JWK set: {e}"))?;
        let mut by_kid = HashMap::new();
        for (i, jwk) in set.keys.iter().enumerate() {
            let Some(alg) = algorithm_of(jwk) else { continue };
            let kid = jwk.common.key_id.clone().unwrap_or_else(|| format!("#{i}"));
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    by_kid.insert(kid, (key, alg));
                }
                Err(e) => debug!(%kid, error = %e, "skipping an unusable issuer key"),
            }
        }
        if by_kid.is_empty() {
            return Err(format!("{url}: no usable signing keys"));
        }
        Ok(KeySet { by_kid, fetched: Instant::now() })
    }

    fn cached(&self, key: &str) -> Option<Arc<KeySet>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    /// Fetches the keys of `source` now (e.g. at start, so the first request does not wait).
    pub async fn refresh(&self, source: &KeySource) -> Result<(), String> {
        let _one_at_a_time = self.refresh_guard.lock().await;
        let keys = Arc::new(self.fetch(source).await?);
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(source.cache_key(), keys);
        Ok(())
    }

    /// Keys of `source`, refreshed when stale or when `kid` is unknown (rate-limited).
    async fn keys_for(&self, source: &KeySource, kid: Option<&str>) -> Result<Arc<KeySet>, VerifyError> {
        let key = source.cache_key();
        let fresh = |k: &KeySet| {
            let stale = k.fetched.elapsed() > KEYS_TTL;
            let unknown = kid.is_some_and(|kid| !k.by_kid.contains_key(kid))
                && k.fetched.elapsed() > UNKNOWN_KID_REFRESH;
            !(stale || unknown)
        };
        if let Some(keys) = self.cached(&key).filter(|k| fresh(k)) {
            return Ok(keys);
        }
        let _one_at_a_time = self.refresh_guard.lock().await;
        if let Some(keys) = self.cached(&key).filter(|k| fresh(k)) {
            return Ok(keys);
        }
        match self.fetch(source).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(key, keys.clone());
                Ok(keys)
            }
            Err(reason) => {
                warn!(source = ?source, %reason, "cannot refresh issuer keys");
                // Keep serving with keys already trusted rather than failing every call.
                self.cached(&key).ok_or(VerifyError::KeysUnavailable(reason))
            }
        }
    }

    /// Verifies `token` with the keys of `source`, for `issuer` and `audience`; its claims.
    pub async fn verify(
        &self,
        token: &str,
        source: &KeySource,
        issuer: &str,
        audience: &str,
    ) -> Result<Value, VerifyError> {
        let invalid = VerifyError::Invalid;
        let header = decode_header(token).map_err(|e| invalid(format!("malformed token: {e}")))?;
        let keys = self.keys_for(source, header.kid.as_deref()).await?;
        let (key, alg) = match &header.kid {
            Some(kid) => keys.by_kid.get(kid).ok_or_else(|| invalid(format!("unknown key id {kid:?}")))?,
            None if keys.by_kid.len() == 1 => {
                keys.by_kid.values().next().ok_or_else(|| invalid("no keys".into()))?
            }
            None => return Err(invalid("token has no key id".into())),
        };
        if header.alg != *alg {
            return Err(invalid(format!("algorithm {:?} does not match the key", header.alg)));
        }
        let mut validation = Validation::new(*alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        decode::<Value>(token, key, &validation).map(|data| data.claims).map_err(|e| invalid(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_tries_rfc8414_then_oidc_with_path_insertion() {
        assert_eq!(
            discovery_urls("https://auth.example.com"),
            vec![
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            discovery_urls("https://auth.example.com/tenant1/"),
            vec![
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
        assert!(discovery_urls("not a url").is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_unreachable_issuer_is_keys_unavailable_and_garbage_is_invalid() {
        let verifier = Verifier::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
        drop(listener);
        let source = KeySource::JwksUrl(url);
        let err = verifier.verify("not.a.jwt", &source, "iss", "aud").await.expect_err("garbage");
        assert!(matches!(err, VerifyError::Invalid(_)), "{err}");
        let header = r#"{"alg":"ES256","kid":"k1"}"#;
        let b64 = |s: &str| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
        };
        let token = format!("{}.{}.sig", b64(header), b64("{}"));
        let err = verifier.verify(&token, &source, "iss", "aud").await.expect_err("no keys");
        assert!(matches!(err, VerifyError::KeysUnavailable(_)), "{err}");
    }
}
