//! Who may post events: an API key (`x-api-key`) from the configured set, or a bearer JWT signed
//! by the configured issuer's JWKS with the configured `iss` and `aud`. With neither configured,
//! ingest is open (a warning is logged at start).
//!
//! Keys of the JWKS are fetched at start, refreshed every ten minutes and, when a token names an
//! unknown key id, at most once per thirty seconds; a failed refresh keeps the keys already
//! trusted (`mcp-jwks`, shared with the gateway).

use http::{HeaderMap, header};
use mcp_jwks::{KeySource, Verifier, VerifyError};
use tracing::warn;

use crate::config::OidcConfig;

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
    oidc: Option<Oidc>,
}

/// Bearer tokens from one issuer, verified with `mcp-jwks`.
struct Oidc {
    config: OidcConfig,
    source: KeySource,
    verifier: Verifier,
}

impl Oidc {
    fn new(config: OidcConfig) -> Oidc {
        let source = KeySource::JwksUrl(config.jwks_url.clone());
        Oidc { config, source, verifier: Verifier::new() }
    }

    async fn verify(&self, token: &str) -> Result<(), AuthError> {
        match self.verifier.verify(token, &self.source, &self.config.issuer, &self.config.audience).await {
            Ok(_) => Ok(()),
            Err(VerifyError::Invalid(detail)) => Err(AuthError::InvalidToken(detail)),
            Err(VerifyError::KeysUnavailable(_)) => {
                Err(AuthError::InvalidToken("issuer keys unavailable".into()))
            }
        }
    }
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
            oidc: oidc.map(Oidc::new),
        }
    }

    /// Whether every request is accepted (no keys, no issuer).
    pub fn is_open(&self) -> bool {
        self.api_keys.is_empty() && self.oidc.is_none()
    }

    /// Fetches the issuer's keys now (at start), so the first request does not wait for them.
    pub async fn warm_up(&self) {
        if let Some(oidc) = &self.oidc
            && let Err(reason) = oidc.verifier.refresh(&oidc.source).await
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
            (Some(token), Some(oidc)) => oidc.verify(token).await,
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
