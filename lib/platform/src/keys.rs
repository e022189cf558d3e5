//! The platform's Ed25519 signing keys: kept in one JSON file (the data directory when
//! embedded, a mounted Secret in a cluster), published as a JWKS, rotated with overlap.
//!
//! Each key has a `sign_from` time and, once superseded, a `retire_at` time. At any moment:
//! - the JWKS holds every key not yet retired (so verifiers learn a new key before any token
//!   is signed with it, and keep an old key while tokens signed with it can still be live);
//! - tokens are signed with the newest key whose `sign_from` has passed.
//!
//! `mcp-platform keys rotate` adds a key that signs from `now + publish delay` and gives the
//! keys it supersedes `retire_at = that time + the longest token lifetime`; keys past their
//! `retire_at` are dropped from the file. A running service re-reads the file when it changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::secrets::{random_bytes, write_private};

/// One key as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredKey {
    /// Key id (in the JWK and every token header).
    pub kid: String,
    /// The 32-byte Ed25519 seed, base64url.
    pub seed: String,
    /// When the key was made (unix seconds).
    pub created_at: i64,
    /// From when tokens are signed with it.
    pub sign_from: i64,
    /// When it leaves the JWKS (set once superseded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_at: Option<i64>,
}

/// The key file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// The keys, oldest first.
    pub keys: Vec<StoredKey>,
}

/// A usable key.
struct LoadedKey {
    kid: String,
    signing: ed25519_dalek::SigningKey,
    decoding: DecodingKey,
    public_b64: String,
    sign_from: i64,
    retire_at: Option<i64>,
}

impl LoadedKey {
    fn live(&self, now: i64) -> bool {
        self.retire_at.is_none_or(|t| t > now)
    }
}

/// The keys in force, as loaded from the file.
pub struct KeyRing {
    keys: Vec<LoadedKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|k| &k.kid)).finish()
    }
}

/// A token could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("no signing key is in force (check the key file's sign_from/retire_at times)")]
pub struct NoSigningKey;

impl KeyRing {
    /// Loads the keys of a parsed file.
    pub fn from_file(file: &KeyFile) -> Result<KeyRing, String> {
        let mut keys = Vec::new();
        for k in &file.keys {
            let seed = URL_SAFE_NO_PAD
                .decode(k.seed.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| format!("key {}: seed is not 32 bytes of base64url", k.kid))?;
            let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
            let public = signing.verifying_key().to_bytes();
            keys.push(LoadedKey {
                kid: k.kid.clone(),
                signing,
                decoding: DecodingKey::from_ed_der(&public),
                public_b64: URL_SAFE_NO_PAD.encode(public),
                sign_from: k.sign_from,
                retire_at: k.retire_at,
            });
        }
        if keys.is_empty() {
            return Err("the key file holds no keys".into());
        }
        Ok(KeyRing { keys })
    }

    /// The public keys as a JWKS (every key not retired at `now`).
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|k| k.live(now))
            .map(|k| json!({"kty": "OKP", "crv": "Ed25519", "x": k.public_b64, "kid": k.kid, "alg": "EdDSA", "use": "sig"}))
            .collect();
        json!({ "keys": keys })
    }

    /// The key to verify a token whose header names `kid` (not retired at `now`).
    pub fn decoding(&self, kid: &str, now: i64) -> Option<&DecodingKey> {
        self.keys.iter().find(|k| k.kid == kid && k.live(now)).map(|k| &k.decoding)
    }

    /// The kid tokens are signed with at `now`.
    pub fn signer_kid(&self, now: i64) -> Option<&str> {
        self.signer(now).map(|k| k.kid.as_str())
    }

    fn signer(&self, now: i64) -> Option<&LoadedKey> {
        self.keys.iter().filter(|k| k.live(now) && k.sign_from <= now).max_by_key(|k| k.sign_from)
    }

    /// A compact JWS (EdDSA) of `claims`, signed with the key in force at `now`.
    pub fn sign(&self, claims: &Value, now: i64) -> Result<String, NoSigningKey> {
        let key = self.signer(now).ok_or(NoSigningKey)?;
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": key.kid});
        let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = key.signing.sign(out.as_bytes());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        Ok(out)
    }
}

fn new_key(now: i64, sign_from: i64) -> Result<StoredKey, String> {
    let seed = random_bytes::<32>()?;
    let tag = hex::encode(random_bytes::<4>()?);
    let date =
        jiff::Timestamp::from_second(now).map(|t| t.strftime("%Y%m%d").to_string()).unwrap_or_default();
    Ok(StoredKey {
        kid: format!("mcp-{date}-{tag}"),
        seed: URL_SAFE_NO_PAD.encode(seed),
        created_at: now,
        sign_from,
        retire_at: None,
    })
}

/// Reads the key file.
pub fn read_file(path: &Path) -> Result<KeyFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes the key file (atomically, mode 0600).
pub fn write_file(path: &Path, file: &KeyFile) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(file).map_err(|e| e.to_string())?;
    text.push('\n');
    write_private(path, text.as_bytes())
}

/// Reads the key file, creating it with one key that signs from now when it is missing.
pub fn load_or_create(path: &Path, now: i64) -> Result<KeyFile, String> {
    if path.exists() {
        return read_file(path);
    }
    let file = KeyFile { keys: vec![new_key(now, now)?] };
    write_file(path, &file)?;
    Ok(file)
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The new key.
    pub kid: String,
    /// When it starts signing.
    pub sign_from: i64,
    /// Keys retired (with their retire time).
    pub retiring: Vec<(String, i64)>,
    /// Keys dropped from the file (past their retire time).
    pub dropped: Vec<String>,
}

/// Adds a key that signs from `now + publish_delay`; the keys it supersedes retire
/// `max_token_lifetime` after that; keys already retired are dropped.
pub fn rotate(
    file: &mut KeyFile,
    now: i64,
    publish_delay: Duration,
    max_token_lifetime: Duration,
) -> Result<Rotation, String> {
    let delay = i64::try_from(publish_delay.as_secs()).unwrap_or(i64::MAX / 4);
    let lifetime = i64::try_from(max_token_lifetime.as_secs()).unwrap_or(i64::MAX / 4);
    let key = new_key(now, now + delay)?;
    let retire = key.sign_from + lifetime;
    let mut retiring = Vec::new();
    for k in &mut file.keys {
        if k.retire_at.is_none() {
            k.retire_at = Some(retire);
            retiring.push((k.kid.clone(), retire));
        }
    }
    let dropped: Vec<String> =
        file.keys.iter().filter(|k| k.retire_at.is_some_and(|t| t <= now)).map(|k| k.kid.clone()).collect();
    file.keys.retain(|k| k.retire_at.is_none_or(|t| t > now));
    let rotation = Rotation { kid: key.kid.clone(), sign_from: key.sign_from, retiring, dropped };
    file.keys.push(key);
    Ok(rotation)
}

/// The key ring of a running service, re-read when the file changes.
#[derive(Debug, Clone)]
pub struct Keys {
    path: PathBuf,
    ring: Arc<RwLock<(Option<SystemTime>, Arc<KeyRing>)>>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Keys {
    /// Loads (or creates) the key file at `path`.
    pub fn open(path: &Path, now: i64) -> Result<Keys, String> {
        let file = load_or_create(path, now)?;
        let ring = KeyRing::from_file(&file)?;
        Ok(Keys { path: path.to_path_buf(), ring: Arc::new(RwLock::new((modified(path), Arc::new(ring)))) })
    }

    /// The keys in force.
    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().map(|g| g.1.clone()).unwrap_or_else(|p| p.into_inner().1.clone())
    }

    /// Re-reads the file when its modification time changed; a file that does not parse is
    /// logged and the keys in force are kept.
    pub fn reload_if_changed(&self) {
        let now_mtime = modified(&self.path);
        let known = self.ring.read().map(|g| g.0).unwrap_or(None);
        if now_mtime == known {
            return;
        }
        match read_file(&self.path).and_then(|f| KeyRing::from_file(&f)) {
            Ok(ring) => {
                tracing::info!(keys = ?ring, "signing keys reloaded");
                if let Ok(mut g) = self.ring.write() {
                    *g = (now_mtime, Arc::new(ring));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "signing key file changed but cannot be used; keeping the keys in force")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_publishes_first_then_signs_then_drops() {
        let t0 = 1_000_000;
        let mut file = KeyFile { keys: vec![new_key(t0, t0).expect("key")] };
        let old = file.keys[0].kid.clone();
        let rot =
            rotate(&mut file, t0 + 100, Duration::from_secs(600), Duration::from_secs(900)).expect("rotate");
        let ring = KeyRing::from_file(&file).expect("ring");
        // Published at once, not signing yet.
        let jwks = ring.jwks(t0 + 101);
        assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
        assert_eq!(ring.signer_kid(t0 + 101), Some(old.as_str()));
        // Signing once the delay has passed; the old key still verifies.
        assert_eq!(ring.signer_kid(rot.sign_from), Some(rot.kid.as_str()));
        assert!(ring.decoding(&old, rot.sign_from + 899).is_some());
        // Gone after the longest token lifetime.
        assert!(ring.decoding(&old, rot.sign_from + 900).is_none());
        assert_eq!(ring.jwks(rot.sign_from + 900)["keys"].as_array().map(Vec::len), Some(1));
        // The next rotation drops it from the file.
        let rot2 = rotate(&mut file, rot.sign_from + 1000, Duration::ZERO, Duration::from_secs(900))
            .expect("rotate");
        assert_eq!(rot2.dropped, vec![old]);
        assert_eq!(file.keys.len(), 2);
    }

    #[test]
    fn signed_tokens_verify_with_the_published_key() {
        let file = KeyFile { keys: vec![new_key(10, 10).expect("key")] };
        let ring = KeyRing::from_file(&file).expect("ring");
        let token = ring
            .sign(&json!({"sub": "u", "exp": 4_000_000_000i64, "aud": "a", "iss": "i"}), 20)
            .expect("sign");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        let kid = header.kid.expect("kid");
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        v.set_audience(&["a"]);
        v.set_issuer(&["i"]);
        let key = ring.decoding(&kid, 20).expect("key");
        let data = jsonwebtoken::decode::<Value>(&token, key, &v).expect("valid");
        assert_eq!(data.claims["sub"], "u");
        assert!(ring.sign(&json!({}), 5).is_err(), "no key signs before its sign_from");
    }
}
