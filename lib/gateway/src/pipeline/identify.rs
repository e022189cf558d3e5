//! Identify: who is calling, from what the gateway can verify, in every auth mode.
//!
//! - `platform-session` (default): a platform-signed session token (EdDSA/ES256 JWT) verified
//!   offline against the keys in the policy: signature, `iss`, `aud` = the server's public URL,
//!   `exp` and `nbf` (30 s leeway), and the session settings' `maxLifetime` (a token whose
//!   lifetime or age exceeds it is refused).
//! - `oauth`: a bearer token of the external issuer (`mcp-jwks`: discovery, JWKS cache), with
//!   `auth.scopes` enforced (403 `insufficient_scope`). The session comes from the token's `sid`
//!   claim, never from a client header unless the server explicitly names one
//!   (`auth.sessionIdHeader`).
//! - `trusted-headers`: identity headers set by a proxy, believed only on connections from
//!   `TRUSTED_PROXY_CIDRS`, and refused when an identity header is repeated.
//!
//! In enforcing mode a request without a verified identity stops here: 401 `missing_identity`
//! (`missing_bearer_token` in OAuth mode) with the mode's challenge. A credential that fails
//! verification is refused in every mode. Observe mode lets anonymous requests through (audit
//! records what enforcement would have decided).

use std::collections::HashMap;

use http::HeaderMap;
use http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use mcp_api::AuthMode;
use mcp_jwks::{KeySource, Verifier, VerifyError};
use mcp_policy::{Document, Identity, Reason};
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest;

use super::Exchange;
use crate::error::{GatewayError, Refusal};
use crate::server::Gateway;

/// Accepted clock skew for `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

/// Establishes the caller's identity under the policy's auth mode.
pub async fn identify(gw: &Gateway, parts: &Parts, ex: &mut Exchange) -> Result<(), GatewayError> {
    let Some(active) = ex.active.clone() else {
        return Err(Reason::PolicyUnavailable.into());
    };
    let doc = active.snapshot.document();
    let identity = match doc.auth.mode {
        AuthMode::PlatformSession => match bearer(doc, &parts.headers).map_err(invalid)? {
            None => Identity::default(),
            Some(token) => verify_session_token(doc, &active.keys, token).map_err(invalid)?,
        },
        AuthMode::TrustedHeaders => trusted_headers(gw, doc, &parts.headers, ex)?,
        AuthMode::Oauth => match gw.oauth.identify(doc, &parts.headers).await {
            Ok(identity) => identity,
            Err(OAuthError::MissingToken) => Identity::default(),
            Err(err) => return Err(err.reason().into()),
        },
    };
    let anonymous = identity.human.is_empty() && identity.agent.is_empty() && identity.team.is_empty();
    if anonymous && !ex.observing() {
        let reason = if doc.auth.mode == AuthMode::Oauth {
            Reason::MissingBearerToken
        } else {
            Reason::MissingIdentity
        };
        return Err(reason.into());
    }
    ex.identity = identity;
    Ok(())
}

/// The platform-session identity of a request's headers (empty without a token); `Err` says why
/// a presented token is refused. The pipeline's own path, exposed for benchmarks.
pub fn platform_identity(doc: &Document, keys: &KeyRing, headers: &HeaderMap) -> Result<Identity, String> {
    match bearer(doc, headers)? {
        None => Ok(Identity::default()),
        Some(token) => verify_session_token(doc, keys, token),
    }
}

fn invalid(detail: String) -> GatewayError {
    tracing::debug!(%detail, "identity rejected");
    Reason::InvalidToken.into()
}

/// Identity headers from a trusted proxy.
fn trusted_headers(
    gw: &Gateway,
    doc: &Document,
    headers: &HeaderMap,
    ex: &Exchange,
) -> Result<Identity, GatewayError> {
    let names = [
        doc.auth.human_id_header.as_str(),
        doc.auth.agent_id_header.as_str(),
        doc.auth.team_id_header.as_str(),
        session_header(doc),
    ];
    let present = names.iter().filter(|n| !n.is_empty()).any(|n| headers.contains_key(*n));
    if !present {
        return Ok(Identity::default());
    }
    if !gw.config.trusted_proxies.iter().any(|net| net.contains(ex.peer.ip())) {
        return Err(Refusal::UntrustedProxy.into());
    }
    if names.iter().filter(|n| !n.is_empty()).any(|n| headers.get_all(*n).iter().count() > 1) {
        return Err(Refusal::IdentityHeaderRepeated.into());
    }
    Ok(Identity {
        human: header_text(headers, names[0]),
        agent: header_text(headers, names[1]),
        team: header_text(headers, names[2]),
        session: header_text(headers, names[3]),
    })
}

/// Decoded platform verification keys, by key id.
pub struct KeyRing {
    issuer: String,
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    /// Tokens already verified under these keys: SHA-256 of the token → identity, expiry and
    /// not-before. Lives and dies with the policy snapshot, so a key rotation or revocation starts
    /// afresh.
    verified: std::sync::Mutex<HashMap<[u8; 32], (Identity, i64, i64)>>,
}

/// Most verified tokens remembered per policy snapshot; the cache is emptied when full.
const VERIFIED_CAPACITY: usize = 8_192;

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("KeyRing").field("issuer", &self.issuer).field("kids", &kids).finish()
    }
}

/// A key in the policy that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("platform key {kid:?}: {reason}")]
pub struct KeyError {
    kid: String,
    reason: String,
}

impl KeyRing {
    /// Decodes the platform keys of a (validated) policy document.
    pub fn from_document(doc: &Document) -> Result<KeyRing, KeyError> {
        let mut keys = HashMap::new();
        let Some(platform) = &doc.auth.platform else {
            return Ok(KeyRing { issuer: String::new(), keys, verified: Default::default() });
        };
        for jwk in &platform.jwks.keys {
            let err = |reason: String| KeyError { kid: jwk.kid.clone(), reason };
            let value = serde_json::to_value(jwk).map_err(|e| err(e.to_string()))?;
            let parsed: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
            let key = DecodingKey::from_jwk(&parsed).map_err(|e| err(e.to_string()))?;
            let alg = match jwk.kty.as_str() {
                "OKP" => Algorithm::EdDSA,
                _ => Algorithm::ES256,
            };
            keys.insert(jwk.kid.clone(), (key, alg));
        }
        Ok(KeyRing { issuer: platform.issuer.clone(), keys, verified: Default::default() })
    }
}

/// The claims of a platform session token.
#[derive(Debug, Deserialize)]
struct SessionClaims {
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    sid: String,
}

/// The bearer token the policy's token header carries (`Authorization` unless configured), if
/// the request has one; `Err` says why a present header is not a usable bearer token.
pub(crate) fn bearer<'a>(doc: &Document, headers: &'a HeaderMap) -> Result<Option<&'a str>, String> {
    let header = if doc.auth.token_header.is_empty() { "authorization" } else { &doc.auth.token_header };
    let mut values = headers.get_all(header).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("more than one authorization header".into());
    }
    let value = value.to_str().map_err(|_| "authorization header is not text".to_string())?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| "authorization is not a bearer token".to_string())?
        .trim();
    if token.is_empty() {
        return Err("empty bearer token".into());
    }
    Ok(Some(token))
}

/// The header carrying the session name in header-based identity (`auth.session_id_header`,
/// else `session.header_name`).
pub(crate) fn session_header(doc: &Document) -> &str {
    if doc.auth.session_id_header.is_empty() { &doc.session.header_name } else { &doc.auth.session_id_header }
}

/// The trimmed text of header `name` (empty when absent, unreadable or unnamed).
pub(crate) fn header_text(headers: &HeaderMap, name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or_default().to_string()
}

/// A duration such as `24h`, `90m`, `1h30m`, `3600s` or `2d` in seconds
/// ([`mcp_api::parse_duration_secs`]); `None` when unreadable or empty.
pub fn parse_duration(text: &str) -> Option<i64> {
    mcp_api::parse_duration_secs(text).and_then(|secs| i64::try_from(secs).ok())
}

fn verify_session_token(doc: &Document, keys: &KeyRing, token: &str) -> Result<Identity, String> {
    // A token verified before under this snapshot's keys (same key ring, same audience) is
    // accepted within its validity window without decoding or checking it again: the signature
    // is the expensive part (~50 µs), and the header and claims were checked when first seen.
    let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
    let now = jiff::Timestamp::now().as_second();
    let leeway = LEEWAY_SECONDS as i64;
    let lock = || keys.verified.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((identity, exp, nbf)) = lock().get(&digest)
        && now < exp + leeway
        && now + leeway >= *nbf
    {
        return Ok(identity.clone());
    }
    let header = decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
    let (key, alg) = match &header.kid {
        Some(kid) => keys.keys.get(kid).ok_or_else(|| format!("unknown key id {kid:?}"))?,
        None if keys.keys.len() == 1 => keys.keys.values().next().ok_or_else(|| "no keys".to_string())?,
        None => return Err("token has no key id".into()),
    };
    if header.alg != *alg {
        return Err(format!("algorithm {:?} does not match the key", header.alg));
    }
    let audience = if doc.server.url.is_empty() { &doc.auth.audience } else { &doc.server.url };
    if audience.is_empty() {
        return Err("the policy has no audience (public URL) to check tokens against".into());
    }
    let mut validation = Validation::new(*alg);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_issuer(&[&keys.issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let data = decode::<SessionClaims>(token, key, &validation).map_err(|e| e.to_string())?;
    let c = data.claims;
    if let Some(max) = parse_duration(&doc.session.max_lifetime) {
        let issued = c.iat.or(c.nbf).unwrap_or(now);
        if c.exp - issued > max + leeway {
            return Err(format!(
                "token lifetime exceeds the session maxLifetime {}",
                doc.session.max_lifetime
            ));
        }
        if now - issued > max + leeway {
            return Err(format!("token is older than the session maxLifetime {}", doc.session.max_lifetime));
        }
    }
    let identity = Identity { human: c.sub, agent: c.agent, team: c.team, session: c.sid };
    let mut cache = lock();
    if cache.len() >= VERIFIED_CAPACITY {
        cache.clear();
    }
    cache.insert(digest, (identity.clone(), c.exp, c.nbf.unwrap_or(i64::MIN)));
    Ok(identity)
}

/// Why an OAuth request has no identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// No bearer token.
    #[error("no bearer token")]
    MissingToken,
    /// The token failed verification.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token lacks a scope the server requires.
    #[error("insufficient scope: {0}")]
    InsufficientScope(String),
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
            OAuthError::InsufficientScope(_) => Reason::InsufficientScope,
            OAuthError::ProviderUnavailable(_) => Reason::OauthProviderUnavailable,
            OAuthError::IssuerMissing => Reason::OauthIssuerMissing,
            OAuthError::ConfigMissing => Reason::OauthConfigMissing,
        }
    }
}

/// Issuer discovery and key cache shared by all requests (`mcp-jwks`, shared with the sentinel's
/// ingest). Claims map to the identity as in the reference: human = `sub`, agent = `azp` or
/// `client_id`, team = `team_id`, `tenant_id` or `tid`, session = `sid`.
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
        let token =
            bearer(doc, headers).map_err(OAuthError::InvalidToken)?.ok_or(OAuthError::MissingToken)?;
        let source = KeySource::Issuer(issuer.to_string());
        let claims = self.verifier.verify(token, &source, issuer, audience).await.map_err(|e| match e {
            VerifyError::Invalid(detail) => OAuthError::InvalidToken(detail),
            VerifyError::KeysUnavailable(detail) => OAuthError::ProviderUnavailable(detail),
        })?;
        check_scopes(&doc.auth.scopes, &claims)?;
        let text = |names: &[&str]| {
            names.iter().find_map(|n| claims.get(*n).and_then(Value::as_str)).unwrap_or_default().to_string()
        };
        let mut session = text(&["sid"]);
        if session.is_empty() && !doc.auth.session_id_header.is_empty() {
            // Only a header the server explicitly maps; never the default session header.
            session = header_text(headers, &doc.auth.session_id_header);
        }
        Ok(Identity {
            human: text(&["sub"]),
            agent: text(&["azp", "client_id"]),
            team: text(&["team_id", "tenant_id", "tid"]),
            session,
        })
    }
}

/// Every required scope must be granted: `scope` (space-separated, RFC 8693/9068) or `scp`
/// (a list or a string).
fn check_scopes(required: &[String], claims: &Value) -> Result<(), OAuthError> {
    if required.is_empty() {
        return Ok(());
    }
    let mut granted: Vec<&str> = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => granted.extend(s.split_ascii_whitespace()),
            Some(Value::Array(items)) => granted.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    let missing: Vec<&str> = required.iter().map(String::as_str).filter(|s| !granted.contains(s)).collect();
    if missing.is_empty() { Ok(()) } else { Err(OAuthError::InsufficientScope(missing.join(" "))) }
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

    #[test]
    fn durations_read_like_the_crds_write_them() {
        assert_eq!(parse_duration("24h"), Some(86_400));
        assert_eq!(parse_duration("1h30m"), Some(5_400));
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("2d"), Some(172_800));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("24"), None);
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("1hm"), None);
        assert_eq!(parse_duration("99999999999999999999s"), None);
    }

    #[test]
    fn every_required_scope_must_be_granted() {
        let claims = |v: Value| v;
        let need = vec!["mcp:tools".to_string(), "mcp:read".to_string()];
        assert!(
            check_scopes(&need, &claims(serde_json::json!({"scope": "mcp:read mcp:tools other"}))).is_ok()
        );
        assert!(check_scopes(&need, &claims(serde_json::json!({"scp": ["mcp:read", "mcp:tools"]}))).is_ok());
        let err =
            check_scopes(&need, &claims(serde_json::json!({"scope": "mcp:read"}))).expect_err("missing");
        assert_eq!(err, OAuthError::InsufficientScope("mcp:tools".into()));
        assert!(check_scopes(&[], &claims(serde_json::json!({}))).is_ok());
    }
}
