//! A test platform issuer for xtask commands that drive a gateway in enforcing mode
//! (`conformance`'s enforcing leg, `bench gateway`'s oha phase): an Ed25519 key made and used
//! with the `openssl` command line (no signing crate in xtask), its JWKS for
//! `mcp-runtime policy render --platform-jwks`, and EdDSA session tokens.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use duct::cmd;
use serde_json::{Value, json};

/// `iss` of the tokens (and `--platform-issuer` of the render).
pub const ISSUER: &str = "https://platform.xtask.local";
const KID: &str = "xtask-1";

/// An Ed25519 signing key in a PEM file.
#[derive(Debug)]
pub struct TestIssuer {
    key: PathBuf,
    public: Vec<u8>,
}

impl TestIssuer {
    /// Makes a fresh key under `dir`.
    pub fn new(dir: &Path) -> Result<TestIssuer> {
        ensure_openssl()?;
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let key = dir.join("platform-key.pem");
        cmd!("openssl", "genpkey", "-algorithm", "ed25519", "-out", &key)
            .stderr_null()
            .run()
            .context("openssl genpkey -algorithm ed25519 (is openssl installed?)")?;
        let der = cmd!("openssl", "pkey", "-in", &key, "-pubout", "-outform", "DER")
            .stdout_capture()
            .stderr_null()
            .run()
            .context("openssl pkey -pubout")?
            .stdout;
        // SubjectPublicKeyInfo of Ed25519: a 12-byte prefix, then the 32-byte key.
        let Some(public) = der.len().checked_sub(32).map(|at| der[at..].to_vec()) else {
            bail!("openssl printed a {}-byte public key", der.len());
        };
        Ok(TestIssuer { key, public })
    }

    /// The JWKS with the public half.
    pub fn jwks(&self) -> Value {
        json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64url(&self.public), "kid": KID,
                          "alg": "EdDSA", "use": "sig"}]})
    }

    /// Writes [`TestIssuer::jwks`] to `path`.
    pub fn write_jwks(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.jwks().to_string()).with_context(|| format!("write {}", path.display()))
    }

    /// A token for `audience` (the policy's `server.url`) carrying `claims` (sub, agent, team,
    /// sid, …), valid for `ttl_seconds`.
    pub fn token(&self, audience: &str, claims: &Value, ttl_seconds: i64) -> Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        let mut body = json!({"iss": ISSUER, "aud": audience, "iat": now, "exp": now + ttl_seconds});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), claims.as_object()) {
            body.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": KID});
        let input =
            format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(body.to_string().as_bytes()));
        // Ed25519 signs in one shot: openssl 3.0 wants the input as a file, not a pipe.
        let message = self.key.with_extension(format!("input-{}", std::process::id()));
        std::fs::write(&message, &input).with_context(|| format!("write {}", message.display()))?;
        let signed = cmd!("openssl", "pkeyutl", "-sign", "-inkey", &self.key, "-rawin", "-in", &message)
            .stdout_capture()
            .stderr_null()
            .run()
            .context("openssl pkeyutl -sign -rawin");
        let _ = std::fs::remove_file(&message);
        let signature = signed?.stdout;
        if signature.len() != 64 {
            bail!("openssl printed a {}-byte Ed25519 signature", signature.len());
        }
        Ok(format!("{input}.{}", b64url(&signature)))
    }
}

/// Installs the `openssl` command line (Debian package `openssl`) when it is missing.
fn ensure_openssl() -> Result<()> {
    if cmd!("openssl", "version")
        .stdout_null()
        .stderr_null()
        .unchecked()
        .run()
        .is_ok_and(|o| o.status.success())
    {
        return Ok(());
    }
    let uid = cmd!("id", "-u").read().unwrap_or_default();
    if uid.trim() != "0" {
        bail!("the openssl command line is missing: sudo apt-get install -y openssl");
    }
    eprintln!("apt-get install openssl");
    cmd!("apt-get", "update", "-qq").run().context("apt-get update")?;
    cmd!("apt-get", "install", "-y", "-qq", "--no-install-recommends", "openssl")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
        .context("apt-get install openssl")?;
    Ok(())
}

/// Base64url without padding (RFC 7515).
pub fn b64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// `GET path` on 127.0.0.1:`port` with plain HTTP/1.1 (`Connection: close`): the status and
/// body, or `None` when nothing answered within 2 s.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http(port, "GET", path, None)
}

/// `POST path` of a JSON body, as an MCP client without credentials would send it.
pub fn http_post_json(port: u16, path: &str, body: &str) -> Option<(u16, String)> {
    http(port, "POST", path, Some(body))
}

/// `method path` with an optional bearer token and JSON body (the platform API).
pub fn http_json(
    port: u16,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    http_with(port, method, path, bearer, body)
}

fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    http_with(port, method, path, None, body)
}

fn http_with(
    port: u16,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&str>,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let timeout = std::time::Duration::from_secs(2);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(token) = bearer {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(body.unwrap_or_default());
    stream.write_all(head.as_bytes()).ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_has_no_padding() {
        assert_eq!(b64url(b""), "");
        assert_eq!(b64url(b"f"), "Zg");
        assert_eq!(b64url(b"fo"), "Zm8");
        assert_eq!(b64url(b"foo"), "Zm9v");
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn tokens_are_three_base64url_parts_with_a_64_byte_signature() {
        let dir = tempfile::tempdir().expect("tempdir");
        let issuer = TestIssuer::new(dir.path()).expect("openssl makes a key");
        assert_eq!(issuer.jwks()["keys"][0]["x"].as_str().map(str::len), Some(43));
        let token = issuer.token("http://x/mcp", &json!({"sub": "h"}), 60).expect("token");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2].len(), 86, "64 bytes");
    }
}
