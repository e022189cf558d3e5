//! Who is calling. The identity comes only from what the gateway can verify: a platform-signed
//! session token (the default), or, when a server explicitly opts in, identity headers set by a
//! trusted proxy. Client-supplied identity headers are never believed in token mode and are
//! always stripped before forwarding.

use std::collections::HashMap;

use http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use mcp_api::AuthMode;
use mcp_policy::{Document, Identity, Reason};
use serde::Deserialize;
use sha2::Digest;

/// Accepted clock skew for `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

/// Decoded platform verification keys, by key id.
pub struct KeyRing {
    issuer: String,
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    /// Tokens already verified under these keys: SHA-256 of the token → identity and expiry.
    /// Lives and dies with the policy snapshot, so a key rotation or revocation starts afresh.
    verified: std::sync::Mutex<HashMap<[u8; 32], (Identity, i64)>>,
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
    sub: String,
    #[serde(default)]
    agent: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    sid: String,
}

/// Why a request has no usable identity; each maps to a reason code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// A token was presented and failed verification.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The server's auth mode is not available in this gateway.
    #[error("auth mode {0} is not available")]
    Unavailable(&'static str),
}

impl IdentityError {
    /// The reason code of the denial.
    pub fn reason(&self) -> Reason {
        match self {
            IdentityError::InvalidToken(_) => Reason::InvalidToken,
            IdentityError::Unavailable(_) => Reason::OauthProviderUnavailable,
        }
    }
}

/// The bearer token the policy's token header carries (`Authorization` unless configured), if
/// the request has one; `Err` says why a present header is not a usable bearer token.
pub(crate) fn bearer<'a>(doc: &Document, headers: &'a HeaderMap) -> Result<Option<&'a str>, String> {
    let header = if doc.auth.token_header.is_empty() { "authorization" } else { &doc.auth.token_header };
    let Some(value) = headers.get(header) else {
        return Ok(None);
    };
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

/// Establishes the caller's identity under the policy's auth mode. No credential at all yields
/// an empty identity (the evaluator then denies tool calls with `missing_identity`); a credential
/// that fails verification is an error for every request.
pub fn identify(doc: &Document, keys: &KeyRing, headers: &HeaderMap) -> Result<Identity, IdentityError> {
    match doc.auth.mode {
        AuthMode::PlatformSession => match bearer(doc, headers).map_err(IdentityError::InvalidToken)? {
            None => Ok(Identity::default()),
            Some(token) => verify_session_token(doc, keys, token),
        },
        AuthMode::TrustedHeaders => Ok(Identity {
            human: header_text(headers, &doc.auth.human_id_header),
            agent: header_text(headers, &doc.auth.agent_id_header),
            team: header_text(headers, &doc.auth.team_id_header),
            session: header_text(headers, session_header(doc)),
        }),
        // OAuth needs network access to the issuer; the server calls `oauth::OAuth` instead.
        AuthMode::Oauth => Err(IdentityError::Unavailable("oauth")),
    }
}

fn verify_session_token(doc: &Document, keys: &KeyRing, token: &str) -> Result<Identity, IdentityError> {
    let invalid = |m: String| IdentityError::InvalidToken(m);
    // A token verified before under this snapshot's keys (same key ring, same audience) is
    // accepted until its expiry without decoding or checking it again: the signature is the
    // expensive part (~50 µs), and the header and claims were checked when it was first seen.
    let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
    let now = jiff::Timestamp::now().as_second();
    let lock = || keys.verified.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((identity, exp)) = lock().get(&digest)
        && now < exp + LEEWAY_SECONDS as i64
    {
        return Ok(identity.clone());
    }
    let header = decode_header(token).map_err(|e| invalid(format!("malformed token: {e}")))?;
    let (key, alg) = match &header.kid {
        Some(kid) => keys.keys.get(kid).ok_or_else(|| invalid(format!("unknown key id {kid:?}")))?,
        None if keys.keys.len() == 1 => keys.keys.values().next().ok_or_else(|| invalid("no keys".into()))?,
        None => return Err(invalid("token has no key id".into())),
    };
    if header.alg != *alg {
        return Err(invalid(format!("algorithm {:?} does not match the key", header.alg)));
    }
    let audience = if doc.server.url.is_empty() { &doc.auth.audience } else { &doc.server.url };
    if audience.is_empty() {
        return Err(invalid("the policy has no audience (public URL) to check tokens against".into()));
    }
    let mut validation = Validation::new(*alg);
    validation.leeway = LEEWAY_SECONDS;
    validation.set_issuer(&[&keys.issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let data = decode::<SessionClaims>(token, key, &validation).map_err(|e| invalid(e.to_string()))?;
    let c = data.claims;
    let identity = Identity { human: c.sub, agent: c.agent, team: c.team, session: c.sid };
    let mut cache = lock();
    if cache.len() >= VERIFIED_CAPACITY {
        cache.clear();
    }
    cache.insert(digest, (identity.clone(), c.exp));
    Ok(identity)
}
