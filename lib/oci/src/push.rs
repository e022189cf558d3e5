//! A client of the OCI distribution API for what the platform does with its registry: push an
//! image ([`crate::read::Image`]: every blob the registry does not have, then the manifest
//! under a tag, then a check that the registry reports the image's digest for the tag), and
//! list repositories and tags.
//!
//! Written on hyper rather than taken from `oci-client`: that crate cannot be built without a
//! reqwest TLS backend, and in this workspace either backend is wrong (`rustls-no-provider`,
//! unified into every crate, makes each `reqwest::Client::new()` panic for want of a crypto
//! provider; `rustls` brings a second crypto library, aws-lc, built from C). The API used is
//! small and stable: the distribution specification's push (POST + monolithic PUT), HEAD and
//! `tags/list`, with Basic credentials or the registry token flow.

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;

use crate::read::Image;
use crate::{Error, Result};

/// Credentials for the registry.
#[derive(Clone)]
pub enum Auth {
    Anonymous,
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Anonymous => f.write_str("Anonymous"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
        }
    }
}

/// A registry at `base` (`http://registry.registry.svc:5000` or `https://…`).
#[derive(Clone)]
pub struct Registry {
    base: String,
    auth: Auth,
    http: HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// How a request is authorised after the first challenge.
#[derive(Clone, Debug)]
enum Authorization {
    None,
    Header(String),
}

fn registry_error(what: impl std::fmt::Display) -> Error {
    Error::Registry(what.to_string())
}

pub use crate::read::{valid_repository, valid_tag};

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("base", &self.base).field("auth", &self.auth).finish()
    }
}

impl Registry {
    /// A client of the registry at `base` (`http(s)://host[:port]`).
    pub fn new(base: &str, auth: Auth) -> Result<Registry> {
        let base = base.trim().trim_end_matches('/').to_string();
        let uri: http::Uri =
            base.parse().map_err(|e| Error::Invalid(format!("registry URL {base:?}: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::Invalid(format!("registry URL {base:?}: expected http(s)://host[:port]")));
        }
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| Error::Invalid(format!("TLS: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = HyperClient::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        Ok(Registry { base, auth, http, timeout: Duration::from_secs(600) })
    }

    /// `host[:port]` of the registry (what image references start with).
    pub fn host(&self) -> &str {
        self.base.split_once("://").map_or(self.base.as_str(), |(_, rest)| rest)
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        auth: &Authorization,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<(StatusCode, http::HeaderMap, Bytes)> {
        let mut request = Request::builder().method(method.clone()).uri(url);
        if let Authorization::Header(value) = auth {
            request = request.header(header::AUTHORIZATION, value);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .header(header::CONTENT_LENGTH, body.len())
            .body(Full::new(body))
            .map_err(|e| Error::Invalid(format!("{method} {url}: {e}")))?;
        let response = tokio::time::timeout(self.timeout, self.http.request(request))
            .await
            .map_err(|_| registry_error(format!("{method} {url}: timed out")))?
            .map_err(|e| registry_error(format!("{method} {url}: {e}")))?;
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(self.timeout, body.collect())
            .await
            .map_err(|_| registry_error(format!("{method} {url}: timed out")))?
            .map_err(|e| registry_error(format!("{method} {url}: {e}")))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    /// The authorization for `scope` (`repository:team/name:pull,push`): none when the
    /// registry is open, Basic when it asks for Basic, a token from its realm when it asks for
    /// Bearer.
    async fn authorize(&self, scope: &str) -> Result<Authorization> {
        let url = format!("{}/v2/", self.base);
        let basic = match &self.auth {
            Auth::Anonymous => None,
            Auth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
        };
        let (status, headers, _) =
            self.send(Method::GET, &url, &Authorization::None, &[], Bytes::new()).await?;
        if status.is_success() {
            return Ok(Authorization::None);
        }
        if status != StatusCode::UNAUTHORIZED {
            return Err(registry_error(format!("GET {url}: {status}")));
        }
        let challenge = headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let Some(basic) = basic else {
            return Err(registry_error(format!("{url} needs credentials ({challenge})")));
        };
        if challenge.to_ascii_lowercase().starts_with("bearer") {
            let param = |name: &str| {
                challenge.split(',').find_map(|part| {
                    let (key, value) = part.trim().trim_start_matches("Bearer ").split_once('=')?;
                    (key.trim().eq_ignore_ascii_case(name))
                        .then(|| value.trim().trim_matches('"').to_string())
                })
            };
            let realm =
                param("realm").ok_or_else(|| registry_error("the Bearer challenge names no realm"))?;
            let mut token_url = format!("{realm}?scope={}", percent(scope));
            if let Some(service) = param("service") {
                token_url.push_str(&format!("&service={}", percent(&service)));
            }
            let (status, _, body) =
                self.send(Method::GET, &token_url, &Authorization::Header(basic), &[], Bytes::new()).await?;
            if !status.is_success() {
                return Err(registry_error(format!("the registry's token service answered {status}")));
            }
            let value: Value = serde_json::from_slice(&body).map_err(registry_error)?;
            let token = value["token"]
                .as_str()
                .or_else(|| value["access_token"].as_str())
                .ok_or_else(|| registry_error("the token service answered without a token"))?;
            return Ok(Authorization::Header(format!("Bearer {token}")));
        }
        Ok(Authorization::Header(basic))
    }

    /// Pushes `image` as `repository:tag`; returns the digest the registry holds for the tag,
    /// which must be the image's.
    pub async fn push(&self, image: &Image, repository: &str, tag: &str) -> Result<String> {
        if !valid_repository(repository) {
            return Err(Error::Invalid(format!("{repository:?} is not a valid repository name")));
        }
        if !valid_tag(tag) {
            return Err(Error::Invalid(format!("{tag:?} is not a valid tag")));
        }
        let auth = self.authorize(&format!("repository:{repository}:pull,push")).await?;
        for blob in &image.blobs {
            let url = format!("{}/v2/{repository}/blobs/{}", self.base, blob.digest);
            let (status, _, _) = self.send(Method::HEAD, &url, &auth, &[], Bytes::new()).await?;
            if status.is_success() {
                continue;
            }
            let start = format!("{}/v2/{repository}/blobs/uploads/", self.base);
            let (status, headers, body) = self.send(Method::POST, &start, &auth, &[], Bytes::new()).await?;
            if status != StatusCode::ACCEPTED {
                return Err(registry_error(format!(
                    "start the upload of {}: {status} {}",
                    blob.digest,
                    String::from_utf8_lossy(&body)
                )));
            }
            let location = headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| registry_error("the registry started an upload without a Location"))?;
            let location = self.absolute(location);
            let separator = if location.contains('?') { '&' } else { '?' };
            let url = format!("{location}{separator}digest={}", percent(&blob.digest));
            let (status, _, body) = self
                .send(
                    Method::PUT,
                    &url,
                    &auth,
                    &[("content-type", "application/octet-stream".into())],
                    Bytes::from(blob.data.clone()),
                )
                .await?;
            if status != StatusCode::CREATED {
                return Err(registry_error(format!(
                    "upload {}: {status} {}",
                    blob.digest,
                    String::from_utf8_lossy(&body)
                )));
            }
        }
        let url = format!("{}/v2/{repository}/manifests/{tag}", self.base);
        let (status, _, body) = self
            .send(
                Method::PUT,
                &url,
                &auth,
                &[("content-type", image.media_type.clone())],
                Bytes::from(image.manifest.clone()),
            )
            .await?;
        if status != StatusCode::CREATED {
            return Err(registry_error(format!(
                "put the manifest of {repository}:{tag}: {status} {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let stored = self.digest_of(repository, tag, &auth, &image.media_type).await?;
        if stored != image.digest {
            return Err(registry_error(format!(
                "the registry holds {stored} for {repository}:{tag}, not the pushed {}",
                image.digest
            )));
        }
        Ok(stored)
    }

    async fn digest_of(
        &self,
        repository: &str,
        reference: &str,
        auth: &Authorization,
        accept: &str,
    ) -> Result<String> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let (status, headers, _) =
            self.send(Method::HEAD, &url, auth, &[("accept", accept.to_string())], Bytes::new()).await?;
        if !status.is_success() {
            return Err(registry_error(format!("HEAD {repository}:{reference}: {status}")));
        }
        headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| registry_error("the registry answered without Docker-Content-Digest"))
    }

    /// The digest of `repository:reference` (a tag or a digest), `None` when it does not exist.
    pub async fn manifest_digest(&self, repository: &str, reference: &str) -> Result<Option<String>> {
        let auth = self.authorize(&format!("repository:{repository}:pull")).await?;
        let accept =
            [crate::read::OCI_MANIFEST, crate::read::DOCKER_MANIFEST, crate::read::OCI_INDEX].join(", ");
        match self.digest_of(repository, reference, &auth, &accept).await {
            Ok(digest) => Ok(Some(digest)),
            Err(Error::Registry(message)) if message.contains("404") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The tags of `repository` (empty when it does not exist).
    pub async fn tags(&self, repository: &str) -> Result<Vec<String>> {
        let auth = self.authorize(&format!("repository:{repository}:pull")).await?;
        let url = format!("{}/v2/{repository}/tags/list", self.base);
        let (status, _, body) = self.send(Method::GET, &url, &auth, &[], Bytes::new()).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !status.is_success() {
            return Err(registry_error(format!("GET {url}: {status}")));
        }
        let value: Value = serde_json::from_slice(&body).map_err(registry_error)?;
        let mut tags: Vec<String> = value["tags"]
            .as_array()
            .map(|t| t.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        tags.sort();
        Ok(tags)
    }

    /// Every repository of the registry (`/v2/_catalog`, followed page by page).
    pub async fn repositories(&self) -> Result<Vec<String>> {
        let auth = self.authorize("registry:catalog:*").await?;
        let mut out = Vec::new();
        let mut url = format!("{}/v2/_catalog?n=1000", self.base);
        for _ in 0..1000 {
            let (status, headers, body) = self.send(Method::GET, &url, &auth, &[], Bytes::new()).await?;
            if !status.is_success() {
                return Err(registry_error(format!("GET {url}: {status}")));
            }
            let value: Value = serde_json::from_slice(&body).map_err(registry_error)?;
            if let Some(list) = value["repositories"].as_array() {
                out.extend(list.iter().filter_map(|v| v.as_str().map(str::to_string)));
            }
            // `Link: </v2/_catalog?last=x&n=1000>; rel="next"`
            let next = headers.get(header::LINK).and_then(|v| v.to_str().ok()).and_then(|link| {
                link.split_once('<').and_then(|(_, rest)| rest.split_once('>')).map(|(u, _)| u)
            });
            match next {
                Some(next) => url = self.absolute(next),
                None => break,
            }
        }
        out.sort();
        Ok(out)
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}/{}", self.base, location.trim_start_matches('/'))
        }
    }
}

/// Percent-encodes a query value.
fn percent(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_distribution_grammar() {
        assert!(valid_repository("payments/ledger"));
        assert!(valid_repository("mcp-team-a/x.y_z"));
        for bad in ["", "Payments/x", "a//b", "a/../b", "-a/b", "a/b-", "a b"] {
            assert!(!valid_repository(bad), "{bad}");
        }
        assert!(valid_tag("v1.2.3") && valid_tag("_x") && valid_tag("latest"));
        for bad in ["", ".x", "-x", "a/b", "a:b", &"x".repeat(129)] {
            assert!(!valid_tag(bad), "{bad}");
        }
        assert_eq!(percent("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
    }
}
