//! The Service: the governed route (through the gateway when it runs) and the metrics port
//! Prometheus scrapes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use mcp_api::DEFAULT_SERVICE_PORT;

use super::ServerView;
use crate::names::{
    ADMIN_PORT_NAME, APP_LABEL, GATEWAY_PORT_NAME, HTTP_PORT_NAME, METRICS_PORT, METRICS_PORT_NAME,
};

/// The Service `<name>`. It selects `app=<name>`, so stable and canary pods both get traffic.
/// With the gateway, port `http` reaches the gateway's public listener (never the app directly)
/// and port `metrics` its admin listener (`/metrics`), with Prometheus scrape annotations.
pub fn service(view: &ServerView) -> Service {
    let gateway = view.spec.gateway_enabled();
    let target = if gateway { GATEWAY_PORT_NAME } else { HTTP_PORT_NAME };
    let mut ports = vec![ServicePort {
        name: Some(HTTP_PORT_NAME.to_string()),
        port: view.spec.service_port.unwrap_or(DEFAULT_SERVICE_PORT),
        target_port: Some(IntOrString::String(target.to_string())),
        protocol: Some("TCP".to_string()),
        ..ServicePort::default()
    }];
    let mut meta = view.child_meta(view.name.clone());
    if gateway {
        ports.push(ServicePort {
            name: Some(METRICS_PORT_NAME.to_string()),
            port: METRICS_PORT,
            target_port: Some(IntOrString::String(ADMIN_PORT_NAME.to_string())),
            protocol: Some("TCP".to_string()),
            ..ServicePort::default()
        });
        meta.annotations = Some(BTreeMap::from([
            ("prometheus.io/scrape".to_string(), "true".to_string()),
            ("prometheus.io/port".to_string(), METRICS_PORT.to_string()),
            ("prometheus.io/path".to_string(), "/metrics".to_string()),
        ]));
    }
    Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(BTreeMap::from([(APP_LABEL.to_string(), view.name.clone())])),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}
