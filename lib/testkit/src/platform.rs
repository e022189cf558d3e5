//! Platform session tokens for tests and benchmarks: an Ed25519 key from a fixed seed, its
//! public JWK (what the platform publishes into every policy), and signed tokens.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mcp_policy::Jwk;
use serde_json::Value;

/// base64url without padding (RFC 7515).
pub fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// An Ed25519 signing key for platform session tokens.
pub struct SigningKey {
    /// Key id, put in the JWK and in every token header.
    pub kid: String,
    encoding: EncodingKey,
    /// The raw public key.
    pub public: [u8; 32],
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key whose private half is `seed` (deterministic, for tests only).
    pub fn from_seed(kid: &str, seed: [u8; 32]) -> SigningKey {
        // PKCS#8 v1 wrapping of an Ed25519 private key: a fixed prefix, then the seed.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
        ];
        der.extend_from_slice(&seed);
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        SigningKey { kid: kid.into(), encoding: EncodingKey::from_ed_der(&der), public }
    }

    /// The public key as published in the policy's JWKS.
    pub fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: b64url(&self.public),
            y: None,
            kid: self.kid.clone(),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }
    }

    /// A signed token carrying exactly `claims`.
    pub fn token(&self, claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}
