//! `auth.mode: oauth`: bearer tokens from an external OAuth 2.1 / OpenID issuer, verified with
//! `mcp-jwks` (shared with the sentinel's ingest).
//!
//! The issuer's metadata is discovered (RFC 8414 path insertion, then OpenID Connect discovery
//! with path insertion, then appended), must echo the configured issuer, and names the JWKS. Keys
//! are cached per issuer, refreshed every ten minutes and, when a token names an unknown key id,
//! at most once per thirty seconds. Tokens must be signed by a cached key, carry the configured
//! issuer and audience, and be unexpired. Claims map to the identity as in the reference: human =
//! `sub`, agent = `azp` or `client_id`, team = `team_id`, `tenant_id` or `tid`, session = `sid`.

use http::HeaderMap;
use mcp_jwks::{KeySource, Verifier, VerifyError};
use mcp_policy::{Document, Identity, Reason};
use serde_json::Value;

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

/// Issuer discovery and key cache shared by all requests (`mcp-jwks`).
#[derive(Debug, Default)]
pub struct OAuth {
    verifier: Verifier,
}

impl OAuth {
    /// An empty cache with an HTTPS-capable client.
    pub fn new() -> OAuth {
        OAuth { verifier: Verifier::new() }
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
        let source = KeySource::Issuer(issuer.to_string());
        let claims = self.verifier.verify(token, &source, issuer, audience).await.map_err(|e| match e {
            VerifyError::Invalid(detail) => OAuthError::InvalidToken(detail),
            VerifyError::KeysUnavailable(detail) => OAuthError::ProviderUnavailable(detail),
        })?;
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
    fn resource_metadata_urls_insert_the_well_known_path() {
        assert_eq!(
            resource_metadata_url("https://mcp.example.com/payments/mcp").as_deref(),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/payments/mcp")
        );
    }
}
