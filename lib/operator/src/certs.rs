//! TLS for the admission webhooks: a self-signed CA and serving certificate generated at start
//! (shared by every replica through a Secret, so they all present the same chain), the CA
//! bundle patched into the webhook configurations, or a certificate mounted by cert-manager.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, PostParams};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::{info, warn};

use crate::error::{Error, is_not_found};
use crate::names::{MANAGED_BY, MANAGED_BY_LABEL};

/// How long a generated certificate is valid.
const VALIDITY_DAYS: i64 = 365;
/// A stored certificate with less than this left is replaced at start.
const RENEW_BEFORE_DAYS: i64 = 30;
/// Annotation on the Secret: when its certificate expires (RFC 3339).
const NOT_AFTER_ANNOTATION: &str = "mcpruntime.org/not-after";
/// Annotation on the Secret: the DNS names its certificate covers, comma-separated.
const DNS_NAMES_ANNOTATION: &str = "mcpruntime.org/dns-names";

/// Why certificates could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Generation failed.
    #[error("generate the webhook certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file or value could not be read.
    #[error("read {what}: {reason}")]
    Read {
        /// What was being read.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// A serving certificate, its key and the CA that signed it, all PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookCerts {
    /// CA certificate (the bundle the API server trusts).
    pub ca_pem: String,
    /// Serving certificate.
    pub cert_pem: String,
    /// Serving key (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for WebhookCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookCerts").field("ca_pem", &self.ca_pem).finish_non_exhaustive()
    }
}

/// The names the webhook Service answers to.
pub fn dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// (year, month, day) of `t` in UTC, as `rcgen::date_time_ymd` takes it.
fn ymd(t: Timestamp) -> (i32, u8, u8) {
    let d = t.to_zoned(jiff::tz::TimeZone::UTC).date();
    (i32::from(d.year()), d.month().unsigned_abs(), d.day().unsigned_abs())
}

fn set_validity(params: &mut CertificateParams, from: Timestamp, to: Timestamp) {
    let (y, m, d) = ymd(from);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = ymd(to);
    params.not_after = rcgen::date_time_ymd(y, m, d);
}

/// A fresh CA and a serving certificate for `names` (DNS names or IP addresses), valid from
/// a day before `now` for a year.
pub fn generate(names: &[String], now: Timestamp) -> Result<(WebhookCerts, Timestamp), CertError> {
    let not_before = now - SignedDuration::from_hours(24);
    let not_after = now + SignedDuration::from_hours(24 * VALIDITY_DAYS);

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::CommonName, "mcp-runtime operator webhook CA");
    ca.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    set_validity(&mut ca, not_before, not_after);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(names.to_vec())?;
    leaf.distinguished_name.push(DnType::CommonName, names.first().cloned().unwrap_or_default());
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    set_validity(&mut leaf, not_before, not_after);
    let cert = leaf.signed_by(&key, &issuer)?;
    let certs = WebhookCerts { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() };
    Ok((certs, not_after))
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3) serving `certs`.
pub fn server_config(certs: &WebhookCerts) -> Result<Arc<rustls::ServerConfig>, CertError> {
    let read = |what: &str, e: rustls::pki_types::pem::Error| CertError::Read {
        what: what.into(),
        reason: e.to_string(),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(certs.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| read("the serving certificate", e))?;
    if chain.is_empty() {
        return Err(CertError::Read {
            what: "the serving certificate".into(),
            reason: "no certificate in it".into(),
        });
    }
    let key =
        PrivateKeyDer::from_pem_slice(certs.key_pem.as_bytes()).map_err(|e| read("the serving key", e))?;
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// Certificates mounted from a Secret (cert-manager's `tls.crt`, `tls.key`, `ca.crt`). The
/// CA bundle is then injected by cert-manager's cainjector, not by the operator.
pub fn load_dir(dir: &Path) -> Result<WebhookCerts, CertError> {
    let read = |file: &str| {
        std::fs::read_to_string(dir.join(file)).map_err(|e| CertError::Read {
            what: dir.join(file).display().to_string(),
            reason: e.to_string(),
        })
    };
    Ok(WebhookCerts {
        cert_pem: read("tls.crt")?,
        key_pem: read("tls.key")?,
        ca_pem: read("ca.crt").unwrap_or_default(),
    })
}

fn text(secret: &Secret, key: &str) -> Option<String> {
    secret.data.as_ref()?.get(key).and_then(|b| String::from_utf8(b.0.clone()).ok())
}

/// The certificates stored in `secret` when they are complete, cover `names` and are valid
/// for at least 30 more days.
fn usable(secret: &Secret, names: &[String], now: Timestamp) -> Option<WebhookCerts> {
    let annotations = secret.metadata.annotations.as_ref()?;
    let not_after: Timestamp = annotations.get(NOT_AFTER_ANNOTATION)?.parse().ok()?;
    if not_after < now + SignedDuration::from_hours(24 * RENEW_BEFORE_DAYS) {
        return None;
    }
    if annotations.get(DNS_NAMES_ANNOTATION)? != &names.join(",") {
        return None;
    }
    Some(WebhookCerts {
        ca_pem: text(secret, "ca.crt")?,
        cert_pem: text(secret, "tls.crt")?,
        key_pem: text(secret, "tls.key")?,
    })
}

fn secret_of(
    name: &str,
    namespace: &str,
    certs: &WebhookCerts,
    names: &[String],
    not_after: Timestamp,
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())])),
            annotations: Some(BTreeMap::from([
                (NOT_AFTER_ANNOTATION.to_string(), not_after.to_string()),
                (DNS_NAMES_ANNOTATION.to_string(), names.join(",")),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(BTreeMap::from([
            ("ca.crt".to_string(), ByteString(certs.ca_pem.clone().into_bytes())),
            ("tls.crt".to_string(), ByteString(certs.cert_pem.clone().into_bytes())),
            ("tls.key".to_string(), ByteString(certs.key_pem.clone().into_bytes())),
        ])),
        ..Secret::default()
    }
}

/// The webhook certificates every replica shares: the ones in `namespace/name` when still
/// good, else freshly generated and stored there (a replica that loses the race to write them
/// uses the winner's).
pub async fn ensure_secret(
    client: &Client,
    namespace: &str,
    name: &str,
    names: &[String],
) -> Result<WebhookCerts, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let action = |what: &str| format!("{what} Secret {namespace}/{name}");
    for _ in 0..3 {
        let now = Timestamp::now();
        let existing = api.get_opt(name).await.map_err(|e| Error::api(action("get"), e))?;
        if let Some(certs) = existing.as_ref().and_then(|s| usable(s, names, now)) {
            info!(secret = %format!("{namespace}/{name}"), "using the stored webhook certificate");
            return Ok(certs);
        }
        let (certs, not_after) = generate(names, now).map_err(|e| Error::Webhook(e.to_string()))?;
        let mut secret = secret_of(name, namespace, &certs, names, not_after);
        let written = match existing {
            None => api.create(&PostParams::default(), &secret).await,
            Some(old) => {
                secret.metadata.resource_version = old.metadata.resource_version;
                api.replace(name, &PostParams::default(), &secret).await
            }
        };
        match written {
            Ok(_) => {
                info!(secret = %format!("{namespace}/{name}"), not_after = %not_after, "generated a webhook certificate");
                return Ok(certs);
            }
            // Another replica wrote first: read theirs.
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(e) => return Err(Error::api(action("write"), e)),
        }
    }
    Err(Error::Webhook(format!("the webhook Secret {namespace}/{name} kept changing while it was written")))
}

/// Puts `ca_pem` into every webhook of the validating and mutating configurations called
/// `name`. A missing configuration is logged (the webhooks are then simply not called).
pub async fn patch_ca_bundles(client: &Client, name: &str, ca_pem: &str) -> Result<(), Error> {
    let bundle = ByteString(ca_pem.as_bytes().to_vec());
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    for _ in 0..3 {
        let Some(mut config) = validating
            .get_opt(name)
            .await
            .map_err(|e| Error::api(format!("get ValidatingWebhookConfiguration {name}"), e))?
        else {
            warn!(
                name,
                "ValidatingWebhookConfiguration not found; install deploy/base to enable the webhooks"
            );
            break;
        };
        let mut changed = false;
        for hook in config.webhooks.iter_mut().flatten() {
            if hook.client_config.ca_bundle.as_ref() != Some(&bundle) {
                hook.client_config.ca_bundle = Some(bundle.clone());
                changed = true;
            }
        }
        if !changed {
            break;
        }
        match validating.replace(name, &PostParams::default(), &config).await {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(Error::api(format!("update ValidatingWebhookConfiguration {name}"), e)),
        }
    }
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    for _ in 0..3 {
        let Some(mut config) = mutating
            .get_opt(name)
            .await
            .map_err(|e| Error::api(format!("get MutatingWebhookConfiguration {name}"), e))?
        else {
            warn!(name, "MutatingWebhookConfiguration not found; install deploy/base to enable defaulting");
            break;
        };
        let mut changed = false;
        for hook in config.webhooks.iter_mut().flatten() {
            if hook.client_config.ca_bundle.as_ref() != Some(&bundle) {
                hook.client_config.ca_bundle = Some(bundle.clone());
                changed = true;
            }
        }
        if !changed {
            break;
        }
        match mutating.replace(name, &PostParams::default(), &config).await {
            Ok(_) => break,
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) if is_not_found(&e) => break,
            Err(e) => return Err(Error::api(format!("update MutatingWebhookConfiguration {name}"), e)),
        }
    }
    info!(name, "webhook CA bundle in place");
    Ok(())
}
