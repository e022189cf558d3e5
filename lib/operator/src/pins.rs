//! Tool pins as the gateways report them: every gateway serves its pins at
//! `GET /config/status` on its admin port (`tool_pins: {name: {pinned, current, drifted}}`);
//! the operator reads them from each running pod of a server and merges them for
//! `MCPServer.status`.

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;
use tracing::debug;

use crate::build::ServerView;
use crate::names::{ADMIN_PORT, APP_LABEL, MANAGED_BY, MANAGED_BY_LABEL};
use crate::status::Pins;

pub use mcp_operator_core::pins::{Report, merge, parse_report};

/// Where tool pins come from.
pub trait PinSource: Send + Sync {
    /// The merged pins of `view`'s gateways ([`Pins::Unknown`] when none answered).
    fn pins<'a>(&'a self, view: &'a ServerView) -> BoxFuture<'a, Pins>;
}

/// Reads pins from the server's running pods over HTTP (pod IP, the gateway's admin port).
#[derive(Clone)]
pub struct GatewayPins {
    client: kube::Client,
    http: HttpClient<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for GatewayPins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayPins").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl GatewayPins {
    /// Pins read through `client` (pod list) and plain HTTP to each pod, `timeout` per pod.
    pub fn new(client: kube::Client, timeout: Duration) -> GatewayPins {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        GatewayPins { client, http: HttpClient::builder(TokioExecutor::new()).build(connector), timeout }
    }

    async fn report(&self, ip: &str, port: i32) -> Option<Report> {
        let host = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
        let uri: http::Uri = format!("http://{host}:{port}/config/status").parse().ok()?;
        let fetch = async {
            let res = self.http.get(uri).await.ok()?;
            if !res.status().is_success() {
                return None;
            }
            let body = res.into_body().collect().await.ok()?.to_bytes();
            serde_json::from_slice::<Value>(&body).ok()
        };
        let body = tokio::time::timeout(self.timeout, fetch).await.ok().flatten()?;
        parse_report(&body)
    }
}

impl PinSource for GatewayPins {
    fn pins<'a>(&'a self, view: &'a ServerView) -> BoxFuture<'a, Pins> {
        Box::pin(async move {
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), &view.namespace);
            let selector = format!("{APP_LABEL}={},{MANAGED_BY_LABEL}={MANAGED_BY}", view.name);
            let list = match pods.list(&ListParams::default().labels(&selector)).await {
                Ok(list) => list,
                Err(err) => {
                    debug!(server = %view.name, error = %err, "cannot list pods for tool pins");
                    return Pins::Unknown;
                }
            };
            // The admin listener: the public one treats `/config/status` as MCP traffic.
            let port = ADMIN_PORT;
            let ips: Vec<String> = list
                .items
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .filter_map(|p| p.status.as_ref().and_then(|s| s.pod_ip.clone()))
                .collect();
            let reports = futures::future::join_all(ips.iter().map(|ip| self.report(ip, port))).await;
            merge(&reports.into_iter().flatten().collect::<Vec<_>>())
        })
    }
}

/// Pins that never change (tests, and clusters where the operator cannot reach pods).
#[derive(Clone, Debug, Default)]
pub struct FixedPins(pub Pins);

impl PinSource for FixedPins {
    fn pins<'a>(&'a self, _view: &'a ServerView) -> BoxFuture<'a, Pins> {
        let pins = self.0.clone();
        Box::pin(async move { pins })
    }
}

#[cfg(test)]
mod tests {
    use kube::Resource;
    use mcp_api::MCPServer;

    /// The core writes the owner reference out by hand (it has no kube dependency); it must be
    /// exactly what kube derives.
    #[test]
    fn core_owner_reference_matches_kube() {
        let mut server: MCPServer = serde_json::from_value(
            serde_json::json!({"metadata": {"name": "s", "uid": "u-1"}, "spec": {"image": "i"}}),
        )
        .expect("server");
        assert_eq!(mcp_operator_core::build::controller_owner_ref(&server), server.controller_owner_ref(&()));
        server.metadata.uid = None;
        assert_eq!(mcp_operator_core::build::controller_owner_ref(&server), None);
    }
}
