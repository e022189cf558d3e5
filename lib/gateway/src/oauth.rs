//! `auth.mode: oauth`: bearer tokens from an external OAuth 2.1 / OpenID issuer.
//!
//! The issuer's metadata is discovered (RFC 8414 path insertion, then OpenID Connect discovery
//! with path insertion, then appended), must echo the configured issuer, and names the JWKS. Keys
//! are cached per issuer, refreshed every ten minutes and, when a token names an unknown key id,
//! at most once per thirty seconds. Tokens must be signed by a cached key, carry the configured
//! issuer and audience, and be unexpired. Claims map to the identity as in the reference: human =
//! `sub`, agent = `azp` or `client_id`, team = `team_id`, `tenant_id` or `tid`, session = `sid`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use mcp_policy::{Document, Identity, Reason};
use serde_json::Value;
use tracing::{debug, warn};

/// How long keys are trusted before a refresh.
const KEYS_TTL: Duration = Duration::from_secs(600);
/// Least time between refreshes forced by an unknown key id.
const UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(30);
/// Time allowed for one metadata or JWKS fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Accepted clock skew.
const LEEWAY_SECONDS: u64 = 30;

/// Why an OAuth request has no identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// No bearer token.
    #[error("no bearer token")]
    MissingToken,
    /// The token failed verification.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The issuer's metadata or keys could not be fetched.
    #[error("oauth provider unavailable: {0}")]
    ProviderUnavailable(String),
    /// The policy names no issuer.
    #[error("oauth issuer missing")]
    IssuerMissing,
    /// The policy names no audience to check tokens against.
    #[error("oauth audience missing")]
    ConfigMissing,
}

impl OAuthError {
    /// The reason code of the denial.
    pub fn reason(&self) -> Reason {
        match self {
            OAuthError::MissingToken => Reason::MissingBearerToken,
            OAuthError::InvalidToken(_) => Reason::InvalidToken,
            OAuthError::ProviderUnavailable(_) => Reason::OauthProviderUnavailable,
            OAuthError::IssuerMissing => Reason::OauthIssuerMissing,
            OAuthError::ConfigMissing => Reason::OauthConfigMissing,
        }
    }
}

struct IssuerKeys {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Instant,
}

/// Discovery and key cache shared by all requests.
pub struct OAuth {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    cache: Mutex<HashMap<String, std::sync::Arc<IssuerKeys>>>,
    refresh_guard: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth").finish_non_exhaustive()
    }
}

impl Default for OAuth {
    fn default() -> Self {
        OAuth::new()
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

fn algorithm_of(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve};
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

impl OAuth {
    /// A cache with an HTTPS-capable client (webpki roots).
    pub fn new() -> OAuth {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        OAuth {
            client: Client::builder(TokioExecutor::new()).build(connector),
            cache: Mutex::new(HashMap::new()),
            refresh_guard: tokio::sync::Mutex::new(()),
        }
    }

    async fn get_json(&self, url: &str) -> Result<Value, String> {
        let uri: Uri = url.parse().map_err(|_| format!("bad URL {url}"))?;
        let req = Request::get(uri)
            .header("accept", "application/json")
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

    async fn fetch_keys(&self, issuer: &str) -> Result<IssuerKeys, String> {
        let mut errors = Vec::new();
        let mut metadata = None;
        for url in discovery_urls(issuer) {
            match self.get_json(&url).await {
                Ok(doc) => {
                    metadata = Some(doc);
                    break;
                }
                Err(e) => errors.push(e),
            }
        }
        let metadata =
            metadata.ok_or_else(|| format!("no authorization server metadata ({})", errors.join("; ")))?;
        let advertised = metadata.get("issuer").and_then(Value::as_str).unwrap_or_default();
        if advertised.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(format!("metadata names issuer {advertised:?}, expected {issuer:?}"));
        }
        let jwks_uri = metadata.get("jwks_uri").and_then(Value::as_str).ok_or("metadata has no jwks_uri")?;
        let jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(self.get_json(jwks_uri).await?).map_err(|e| format!("{jwks_uri}: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), algorithm_of(jwk)) else { continue };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, (key, alg));
                }
                Err(e) => debug!(%kid, error = %e, "skipping an unusable issuer key"),
            }
        }
        if keys.is_empty() {
            return Err(format!("{jwks_uri}: no usable signing keys"));
        }
        Ok(IssuerKeys { keys, fetched: Instant::now() })
    }

    fn cached(&self, issuer: &str) -> Option<std::sync::Arc<IssuerKeys>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(issuer).cloned()
    }

    /// Keys for `issuer`, refreshed when stale or when `kid` is unknown (rate-limited).
    async fn keys_for(
        &self,
        issuer: &str,
        kid: Option<&str>,
    ) -> Result<std::sync::Arc<IssuerKeys>, OAuthError> {
        let needs_refresh = |k: &IssuerKeys| {
            let stale = k.fetched.elapsed() > KEYS_TTL;
            let unknown =
                kid.is_some_and(|kid| !k.keys.contains_key(kid)) && k.fetched.elapsed() > UNKNOWN_KID_REFRESH;
            stale || unknown
        };
        if let Some(keys) = self.cached(issuer).filter(|k| !needs_refresh(k)) {
            return Ok(keys);
        }
        let _one_at_a_time = self.refresh_guard.lock().await;
        if let Some(keys) = self.cached(issuer).filter(|k| !needs_refresh(k)) {
            return Ok(keys);
        }
        match self.fetch_keys(issuer).await {
            Ok(keys) => {
                let keys = std::sync::Arc::new(keys);
                self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(issuer.to_string(), keys.clone());
                Ok(keys)
            }
            Err(reason) => {
                warn!(%issuer, %reason, "cannot refresh issuer keys");
                // Keep serving with keys we already trust rather than failing every call.
                self.cached(issuer).ok_or(OAuthError::ProviderUnavailable(reason))
            }
        }
    }

    /// Verifies the bearer token of a request under the policy's OAuth settings.
    pub async fn identify(&self, doc: &Document, headers: &HeaderMap) -> Result<Identity, OAuthError> {
        let issuer = doc.auth.issuer_url.trim();
        if issuer.is_empty() {
            return Err(OAuthError::IssuerMissing);
        }
        let audience = doc.auth.audience.trim();
        if audience.is_empty() {
            return Err(OAuthError::ConfigMissing);
        }
        let token = crate::identity::bearer(doc, headers)
            .map_err(OAuthError::InvalidToken)?
            .ok_or(OAuthError::MissingToken)?;
        let header =
            decode_header(token).map_err(|e| OAuthError::InvalidToken(format!("malformed token: {e}")))?;
        let keys = self.keys_for(issuer, header.kid.as_deref()).await?;
        let (key, alg) = match &header.kid {
            Some(kid) => keys
                .keys
                .get(kid)
                .ok_or_else(|| OAuthError::InvalidToken(format!("unknown key id {kid:?}")))?,
            None if keys.keys.len() == 1 => {
                keys.keys.values().next().ok_or_else(|| OAuthError::InvalidToken("no keys".into()))?
            }
            None => return Err(OAuthError::InvalidToken("token has no key id".into())),
        };
        if header.alg != *alg {
            return Err(OAuthError::InvalidToken(format!(
                "algorithm {:?} does not match the key",
                header.alg
            )));
        }
        let mut validation = Validation::new(*alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = decode::<Value>(token, key, &validation)
            .map_err(|e| OAuthError::InvalidToken(e.to_string()))?
            .claims;
        let text = |names: &[&str]| {
            names.iter().find_map(|n| claims.get(*n).and_then(Value::as_str)).unwrap_or_default().to_string()
        };
        let mut session = text(&["sid"]);
        if session.is_empty() {
            session = crate::identity::header_text(headers, crate::identity::session_header(doc));
        }
        Ok(Identity {
            human: text(&["sub"]),
            agent: text(&["azp", "client_id"]),
            team: text(&["team_id", "tenant_id", "tid"]),
            session,
        })
    }
}

/// The RFC 9728 metadata URL of the resource at `public_url` (`https://host/path` →
/// `https://host/.well-known/oauth-protected-resource/path`).
pub fn resource_metadata_url(public_url: &str) -> Option<String> {
    let (scheme, rest) = public_url.split_once("://")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    Some(format!("{scheme}://{host}/.well-known/oauth-protected-resource{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_tries_rfc8414_then_oidc_with_path_insertion() {
        assert_eq!(
            discovery_urls("https://id.example.com/tenant/a/"),
            [
                "https://id.example.com/.well-known/oauth-authorization-server/tenant/a",
                "https://id.example.com/.well-known/openid-configuration/tenant/a",
                "https://id.example.com/tenant/a/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            discovery_urls("https://id.example.com"),
            [
                "https://id.example.com/.well-known/oauth-authorization-server",
                "https://id.example.com/.well-known/openid-configuration",
            ]
        );
        assert!(discovery_urls("not a url").is_empty());
    }

    #[test]
    fn resource_metadata_urls_insert_the_well_known_path() {
        assert_eq!(
            resource_metadata_url("https://mcp.example.com/payments/mcp").as_deref(),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/payments/mcp")
        );
    }
}
