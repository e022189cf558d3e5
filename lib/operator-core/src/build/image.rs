//! Image resolution: registry rewrite (`registryOverride`, `useProvisionedRegistry`) and the
//! default tag.

use mcp_api::{MCPServerSpec, image_has_tag_or_digest};

use crate::config::OperatorConfig;

/// True when the first path segment of an image names a registry host: it contains `.` or
/// `:`, or is `localhost`.
fn looks_like_registry(segment: &str) -> bool {
    segment.contains('.') || segment.contains(':') || segment == "localhost"
}

/// Replaces (or adds) the registry host of `image`.
fn with_registry(image: &str, registry: &str) -> String {
    let registry = registry.trim().trim_end_matches('/');
    let registry =
        registry.strip_prefix("https://").or_else(|| registry.strip_prefix("http://")).unwrap_or(registry);
    match image.split_once('/') {
        Some((first, rest)) if looks_like_registry(first) => format!("{registry}/{rest}"),
        _ => format!("{registry}/{image}"),
    }
}

/// The image reference the app container runs.
///
/// `registryOverride` wins; otherwise `useProvisionedRegistry` rewrites to the operator's
/// provisioned registry (`PROVISIONED_REGISTRY_URL`, falling back to `MCP_REGISTRY_PULL_HOST`).
/// The tag (default `latest`) is appended unless the image already has a tag or digest.
pub fn resolve_image(spec: &MCPServerSpec, cfg: &OperatorConfig) -> String {
    let mut image = spec.image.trim().to_string();
    let override_registry = spec.registry_override.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let provisioned = (spec.use_provisioned_registry == Some(true))
        .then(|| cfg.provisioned_registry.as_deref().or(cfg.registry_pull_host.as_deref()))
        .flatten()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if let Some(registry) = override_registry.or(provisioned) {
        image = with_registry(&image, registry);
    }
    if !image_has_tag_or_digest(&image) {
        let tag = spec.image_tag.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or("latest");
        image = format!("{image}:{tag}");
    }
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(image: &str) -> MCPServerSpec {
        MCPServerSpec { image: image.into(), ..MCPServerSpec::default() }
    }

    #[test]
    fn tags_are_added_only_when_missing() {
        let cfg = OperatorConfig::default();
        assert_eq!(resolve_image(&spec("ghcr.io/acme/gh"), &cfg), "ghcr.io/acme/gh:latest");
        assert_eq!(resolve_image(&spec("localhost:5000/gh:1.2"), &cfg), "localhost:5000/gh:1.2");
        assert_eq!(resolve_image(&spec("gh@sha256:abc"), &cfg), "gh@sha256:abc");
        let tagged = MCPServerSpec { image_tag: Some("v2".into()), ..spec("acme/gh") };
        assert_eq!(resolve_image(&tagged, &cfg), "acme/gh:v2");
    }

    #[test]
    fn registries_are_rewritten() {
        let cfg = OperatorConfig {
            provisioned_registry: Some("registry.registry.svc.cluster.local:5000".into()),
            ..OperatorConfig::default()
        };
        let provisioned = MCPServerSpec { use_provisioned_registry: Some(true), ..spec("ghcr.io/acme/gh:1") };
        assert_eq!(resolve_image(&provisioned, &cfg), "registry.registry.svc.cluster.local:5000/acme/gh:1");
        let plain = MCPServerSpec { use_provisioned_registry: Some(true), ..spec("acme/gh") };
        assert_eq!(resolve_image(&plain, &cfg), "registry.registry.svc.cluster.local:5000/acme/gh:latest");
        let overridden =
            MCPServerSpec { registry_override: Some("https://mirror.local/".into()), ..provisioned.clone() };
        assert_eq!(resolve_image(&overridden, &cfg), "mirror.local/acme/gh:1");
        let no_registry = MCPServerSpec { use_provisioned_registry: Some(true), ..spec("gh") };
        assert_eq!(resolve_image(&no_registry, &OperatorConfig::default()), "gh:latest");
    }
}
