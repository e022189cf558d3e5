//! Secrets the platform hands out and how they are stored: random bearer secrets (API keys
//! `mcpk_…`, refresh tokens `mcprt_…`) are stored only as an HMAC-SHA256 under a server secret
//! (fast to check on every request, useless to someone who reads the database without the
//! secret), and passwords as argon2id PHC strings.
//!
//! Password parameters (OWASP's first recommendation for argon2id): memory 19 MiB
//! (19,456 KiB), 2 passes, 1 lane, 16-byte random salt, 32-byte hash. The parameters travel in
//! each PHC string, so raising them later keeps old hashes verifiable.

use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Prefix of API keys.
pub const API_KEY_PREFIX: &str = "mcpk_";
/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "mcprt_";
/// Characters of an API key shown in lists (the prefix and 8 more).
pub const SHOWN_PREFIX_LEN: usize = API_KEY_PREFIX.len() + 8;

/// argon2id memory cost in KiB.
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// argon2id passes.
pub const ARGON2_PASSES: u32 = 2;
/// argon2id lanes.
pub const ARGON2_LANES: u32 = 1;

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| format!("random source: {e}"))?;
    Ok(buf)
}

/// A new bearer secret: `prefix` and 32 random bytes in base64url.
pub fn new_token(prefix: &str) -> Result<String, String> {
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)))
}

/// The server secret that stored bearer secrets are keyed with.
#[derive(Clone)]
pub struct SecretHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHasher(..)")
    }
}

impl SecretHasher {
    /// A hasher with this key (at least 32 bytes).
    pub fn new(key: Vec<u8>) -> Result<SecretHasher, String> {
        if key.len() < 32 {
            return Err(format!("the hashing secret has {} bytes; at least 32 are needed", key.len()));
        }
        Ok(SecretHasher { key })
    }

    /// Reads the secret from `path`, creating it (32 random bytes, mode 0600) when missing.
    pub fn load_or_create(path: &Path) -> Result<SecretHasher, String> {
        match std::fs::read(path) {
            Ok(bytes) => {
                SecretHasher::new(trim_newline(bytes)).map_err(|e| format!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = URL_SAFE_NO_PAD.encode(random_bytes::<32>()?).into_bytes();
                write_private(path, &key)?;
                SecretHasher::new(key)
            }
            Err(e) => Err(format!("read {}: {e}", path.display())),
        }
    }

    /// HMAC-SHA256 of `secret`, hex.
    pub fn hash(&self, secret: &str) -> String {
        match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mut mac) => {
                mac.update(secret.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            // HMAC takes keys of any length; this branch cannot be reached.
            Err(_) => String::new(),
        }
    }
}

fn trim_newline(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    bytes
}

/// Writes `bytes` to `path` atomically (temporary file, then rename) with mode 0600, creating
/// the parent directory.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(|e| format!("write {}: {e}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("rename to {}: {e}", path.display()))
}

fn argon2() -> Result<Argon2<'static>, String> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, Some(32))
        .map_err(|e| format!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The argon2id PHC string of `password`.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?).map_err(|e| format!("salt: {e}"))?;
    argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("argon2: {e}"))
}

/// Whether `password` matches the PHC string `hash`; a malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let Ok(a) = argon2() else { return false };
    a.verify_password(password.as_bytes(), &parsed).is_ok()
}

/// A PHC string to verify against when the account does not exist, so a sign-in takes as long
/// for an unknown email as for a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

/// Rules for a new password: 8 to 256 characters.
pub fn check_password(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 8 {
        Err("the password must have at least 8 characters")
    } else if n > 256 {
        Err("the password must have at most 256 characters")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip_with_the_documented_parameters() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a phc string"));
    }

    #[test]
    fn tokens_are_prefixed_random_and_hashed_with_the_key() {
        let a = new_token(API_KEY_PREFIX).expect("token");
        let b = new_token(API_KEY_PREFIX).expect("token");
        assert!(a.starts_with("mcpk_") && a.len() == 5 + 43 && a != b);
        let h1 = SecretHasher::new(vec![1; 32]).expect("key");
        let h2 = SecretHasher::new(vec![2; 32]).expect("key");
        assert_eq!(h1.hash(&a), h1.hash(&a));
        assert_ne!(h1.hash(&a), h2.hash(&a));
        assert!(SecretHasher::new(vec![1; 31]).is_err());
    }

    #[test]
    fn the_secret_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/secret");
        let a = SecretHasher::load_or_create(&path).expect("created");
        let b = SecretHasher::load_or_create(&path).expect("read");
        assert_eq!(a.hash("x"), b.hash("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
