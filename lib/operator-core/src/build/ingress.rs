//! The Ingress and the public route: host, path and URL of a server.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend,
    IngressSpec, IngressTLS, ServiceBackendPort,
};
use mcp_api::AuthMode;

use super::ServerView;
use crate::config::OperatorConfig;
use crate::names::HTTP_PORT_NAME;

/// The host of the server's public URL: its own `ingressHost`, else the operator's default
/// host (a hostless route is still served on the platform's MCP host).
pub fn public_host(view: &ServerView, cfg: &OperatorConfig) -> Option<String> {
    view.spec
        .ingress_host
        .as_deref()
        .or(cfg.default_ingress_host.as_deref())
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

/// The public MCP endpoint (`status.url`), when a host is known.
pub fn public_url(view: &ServerView, cfg: &OperatorConfig) -> Option<String> {
    public_host(view, cfg)
        .map(|host| format!("{}://{host}{}", cfg.scheme(), view.spec.effective_path(&view.name)))
}

/// The route an Ingress rule claims: (host, or `""` for a hostless rule; path). Two servers
/// with the same route conflict.
pub fn route(view: &ServerView) -> (String, String) {
    let host = view.spec.ingress_host.as_deref().map(str::trim).unwrap_or_default().to_string();
    (host, view.spec.effective_path(&view.name))
}

fn class_annotations(class: &str, cfg: &OperatorConfig) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    match class {
        "traefik" => {
            a.insert(
                "traefik.ingress.kubernetes.io/router.entrypoints".to_string(),
                cfg.ingress_entrypoints.clone(),
            );
            if cfg.ingress_tls {
                a.insert("traefik.ingress.kubernetes.io/router.tls".to_string(), "true".to_string());
            }
        }
        "nginx" if !cfg.ingress_tls => {
            a.insert("nginx.ingress.kubernetes.io/ssl-redirect".to_string(), "false".to_string());
        }
        "istio" => {
            a.insert("kubernetes.io/ingress.class".to_string(), "istio".to_string());
        }
        // Other controllers get no guessed annotations: a path rewrite would break both the
        // MCP route the app expects and the OAuth metadata path.
        _ => {}
    }
    a
}

fn prefix_path(path: String, service: &str) -> HTTPIngressPath {
    HTTPIngressPath {
        path: Some(path),
        path_type: "Prefix".to_string(),
        backend: IngressBackend {
            service: Some(IngressServiceBackend {
                name: service.to_string(),
                port: Some(ServiceBackendPort { name: Some(HTTP_PORT_NAME.to_string()), number: None }),
            }),
            resource: None,
        },
    }
}

/// The Ingress `<name>`: one rule (the server's host, or hostless) routing the MCP path, plus
/// the RFC 9728 metadata path for OAuth servers, to the Service's `http` port. Class-specific
/// annotations first, the server's own annotations win.
pub fn ingress(view: &ServerView, cfg: &OperatorConfig) -> Ingress {
    let class = view.spec.ingress_class.clone().unwrap_or_else(|| cfg.default_ingress_class.clone());
    let (host, path) = route(view);
    let mut paths = vec![prefix_path(path.clone(), &view.name)];
    if view.spec.gateway_enabled() && view.spec.auth_mode() == AuthMode::Oauth {
        paths.push(prefix_path(format!("/.well-known/oauth-protected-resource{path}"), &view.name));
    }
    let mut annotations = class_annotations(&class, cfg);
    annotations.extend(view.spec.ingress_annotations.clone());
    let tls = (cfg.ingress_tls && !host.is_empty()).then(|| {
        vec![IngressTLS { hosts: Some(vec![host.clone()]), secret_name: cfg.ingress_tls_secret.clone() }]
    });
    let mut meta = view.child_meta(view.name.clone());
    meta.annotations = (!annotations.is_empty()).then_some(annotations);
    Ingress {
        metadata: meta,
        spec: Some(IngressSpec {
            ingress_class_name: Some(class),
            rules: Some(vec![IngressRule {
                host: (!host.is_empty()).then_some(host),
                http: Some(HTTPIngressRuleValue { paths }),
            }]),
            tls,
            ..IngressSpec::default()
        }),
        status: None,
    }
}
