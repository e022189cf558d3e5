//! The platform trust ConfigMap: where the platform publishes its token issuer and public keys
//! (`issuer`, `jwks.json`), and the operator copies them into every policy it renders. The
//! platform builds it with [`trust_config_map`], the operator reads it with
//! [`parse_platform_trust`]; both sides use these two functions, so the format cannot drift.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use mcp_policy::{Jwks, PlatformTrust};

use crate::names::MANAGED_BY_LABEL;

/// Key holding the token issuer (`iss`).
pub const ISSUER_KEY: &str = "issuer";
/// Key holding the JWKS (JSON).
pub const JWKS_KEY: &str = "jwks.json";

/// The trust ConfigMap `namespace/name` carrying `trust`.
pub fn trust_config_map(namespace: &str, name: &str, trust: &PlatformTrust) -> ConfigMap {
    let jwks = serde_json::to_string(&trust.jwks).unwrap_or_else(|_| "{\"keys\":[]}".to_string());
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(MANAGED_BY_LABEL.to_string(), "mcp-platform".to_string())])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([
            (ISSUER_KEY.to_string(), trust.issuer.clone()),
            (JWKS_KEY.to_string(), jwks),
        ])),
        ..ConfigMap::default()
    }
}

/// Parses the platform trust ConfigMap: `issuer` and `jwks.json`.
pub fn parse_platform_trust(cm: &ConfigMap) -> Result<PlatformTrust, String> {
    let data = cm.data.clone().unwrap_or_default();
    let issuer = data.get(ISSUER_KEY).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let issuer = issuer.ok_or_else(|| format!("missing key {ISSUER_KEY:?}"))?;
    let jwks_text = data.get(JWKS_KEY).ok_or_else(|| format!("missing key {JWKS_KEY:?}"))?;
    let jwks: Jwks = serde_json::from_str(jwks_text).map_err(|e| format!("{JWKS_KEY} is not a JWKS: {e}"))?;
    Ok(PlatformTrust { issuer, jwks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_platform_writes_the_operator_reads() {
        let trust = PlatformTrust { issuer: "https://platform.example".to_string(), jwks: Jwks::default() };
        let cm = trust_config_map("mcp-runtime", "platform-trust", &trust);
        assert_eq!(parse_platform_trust(&cm), Ok(trust));
        assert!(parse_platform_trust(&ConfigMap::default()).expect_err("empty").contains("issuer"));
    }
}
