//! Operator configuration: the cluster-level defaults every desired object is built from.
//!
//! The binary fills this from flags and environment variables (see `mcp-operator --help`);
//! everything here is plain data, validated before the operator starts.

use std::fmt;
use std::time::Duration;

use mcp_api::DefaultingOptions;
use mcp_policy::{PlatformTrust, RenderContext};

/// How Ingress readiness is judged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IngressReadiness {
    /// Ready once the ingress controller published a load-balancer address (the default).
    #[default]
    Strict,
    /// Ready once the Ingress exists with its rules (controllers that never publish status).
    Permissive,
}

impl std::str::FromStr for IngressReadiness {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "strict" => Ok(IngressReadiness::Strict),
            "permissive" => Ok(IngressReadiness::Permissive),
            other => Err(format!("unknown ingress readiness mode {other:?} (expected strict or permissive)")),
        }
    }
}

/// A namespaced object name, written `<namespace>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectName {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectName {
    /// Parses `<namespace>/<name>` (both parts non-empty DNS labels or subdomains).
    pub fn parse(value: &str) -> Result<ObjectName, String> {
        let (namespace, name) =
            value.trim().split_once('/').ok_or_else(|| format!("{value:?} is not <namespace>/<name>"))?;
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
                && !s.starts_with(['-', '.'])
                && !s.ends_with(['-', '.'])
        };
        if !valid(namespace) || !valid(name) {
            return Err(format!("{value:?} is not <namespace>/<name> with lower-case DNS names"));
        }
        Ok(ObjectName { namespace: namespace.to_string(), name: name.to_string() })
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Cluster-level settings of the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorConfig {
    /// `MCP_DEFAULT_INGRESS_HOST`: host of servers that set neither host nor path prefix, and
    /// the public host of hostless routes.
    pub default_ingress_host: Option<String>,
    /// `DEFAULT_INGRESS_CLASS` (default `traefik`).
    pub default_ingress_class: String,
    /// `MCP_DEFAULT_INGRESS_ENTRYPOINTS`: Traefik entrypoints of every route (default `web`).
    pub ingress_entrypoints: String,
    /// `MCP_DEFAULT_INGRESS_TLS`: public URLs are `https`, Traefik routes get `router.tls`.
    pub ingress_tls: bool,
    /// `MCP_DEFAULT_INGRESS_TLS_SECRET`: certificate Secret put in the Ingress `tls` block (with
    /// TLS on and a host); without it the ingress controller's default certificate is used.
    pub ingress_tls_secret: Option<String>,
    /// `MCP_INGRESS_READINESS_MODE`.
    pub ingress_readiness: IngressReadiness,
    /// `MCP_GATEWAY_PROXY_IMAGE`: the `mcp-gateway` sidecar image (a server may override it).
    pub gateway_image: Option<String>,
    /// `MCP_CLUSTER_NAME` (default `local`), stamped into every policy.
    pub cluster_name: String,
    /// `MCP_SENTINEL_INGEST_URL`: where gateways send audit events unless a server says
    /// otherwise. Without one (and none in the spec) audit is off.
    pub ingest_url: Option<String>,
    /// `PROVISIONED_REGISTRY_URL`: registry host that `useProvisionedRegistry` rewrites images to.
    pub provisioned_registry: Option<String>,
    /// `MCP_REGISTRY_PULL_HOST`: host nodes pull the provisioned registry through (falls back to
    /// `PROVISIONED_REGISTRY_URL`).
    pub registry_pull_host: Option<String>,
    /// `PROVISIONED_REGISTRY_SECRET_NAME`: pull secret attached to servers that list none.
    pub provisioned_pull_secret: Option<String>,
    /// `MCP_PLATFORM_TRUST_CONFIGMAP`: the ConfigMap (`<namespace>/<name>`) where the platform
    /// publishes its token issuer (`issuer`) and public keys (`jwks.json`), copied into every
    /// policy.
    pub platform_trust: Option<ObjectName>,
    /// `REQUEUE_DELAY_SECONDS` (default 10): how soon a server that is not ready is looked at
    /// again.
    pub requeue_delay: Duration,
    /// How often a ready server is re-checked anyway (default 5 minutes).
    pub resync: Duration,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            default_ingress_host: None,
            default_ingress_class: mcp_api::DEFAULT_INGRESS_CLASS.to_string(),
            ingress_entrypoints: "web".to_string(),
            ingress_tls: false,
            ingress_tls_secret: None,
            ingress_readiness: IngressReadiness::Strict,
            gateway_image: None,
            cluster_name: "local".to_string(),
            ingest_url: None,
            provisioned_registry: None,
            registry_pull_host: None,
            provisioned_pull_secret: None,
            platform_trust: None,
            requeue_delay: Duration::from_secs(10),
            resync: Duration::from_secs(300),
        }
    }
}

impl OperatorConfig {
    /// The defaulting options `mcp_api::default_server` needs.
    pub fn defaulting(&self) -> DefaultingOptions {
        DefaultingOptions {
            default_ingress_host: self.default_ingress_host.clone(),
            default_ingress_class: Some(self.default_ingress_class.clone()),
        }
    }

    /// The rendering context `mcp_policy::render` needs. `generated_at` is not covered by the
    /// revision.
    pub fn render_context(
        &self,
        platform: Option<PlatformTrust>,
        generated_at: Option<String>,
    ) -> RenderContext {
        RenderContext {
            cluster: self.cluster_name.clone(),
            defaults: self.defaulting(),
            tls: self.ingress_tls,
            platform,
            generated_at,
        }
    }

    /// `https` with TLS on, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.ingress_tls { "https" } else { "http" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_parse_and_print() {
        let n = ObjectName::parse("mcp-platform/platform-trust").expect("valid");
        assert_eq!(n.to_string(), "mcp-platform/platform-trust");
        for bad in ["", "a", "/b", "a/", "A/b", "a/b/c", "-a/b"] {
            assert!(ObjectName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn readiness_modes_parse() {
        assert_eq!("permissive".parse::<IngressReadiness>(), Ok(IngressReadiness::Permissive));
        assert!("lenient".parse::<IngressReadiness>().is_err());
    }
}
