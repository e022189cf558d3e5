//! Tool pins as the gateways report them: every gateway serves its pins at
//! `GET /config/status` on its admin port (`tool_pins: {name: {pinned, current, drifted}}`);
//! the operator reads them from each running pod of a server and merges them for
//! `MCPServer.status`.

use std::collections::BTreeMap;
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

/// Where tool pins come from.
pub trait PinSource: Send + Sync {
    /// The merged pins of `view`'s gateways ([`Pins::Unknown`] when none answered).
    fn pins<'a>(&'a self, view: &'a ServerView) -> BoxFuture<'a, Pins>;
}

/// One gateway's report: (pinned hash, drifted) by tool name.
pub type Report = BTreeMap<String, (String, bool)>;

/// Parses the `tool_pins` of a gateway's `/config/status` body.
pub fn parse_report(body: &Value) -> Option<Report> {
    let pins = body.get("tool_pins")?.as_object()?;
    Some(
        pins.iter()
            .filter_map(|(name, pin)| {
                let pinned = pin.get("pinned")?.as_str()?.to_string();
                let drifted = pin.get("drifted").and_then(Value::as_bool).unwrap_or(false);
                Some((name.clone(), (pinned, drifted)))
            })
            .collect(),
    )
}

/// Merges the reports of several gateways: a tool is drifted when any gateway says so, or when
/// gateways pinned different definitions (the replicas serve different tools).
pub fn merge(reports: &[Report]) -> Pins {
    if reports.is_empty() {
        return Pins::Unknown;
    }
    let mut pinned: BTreeMap<String, String> = BTreeMap::new();
    let mut drifted = std::collections::BTreeSet::new();
    for report in reports {
        for (name, (hash, drift)) in report {
            match pinned.get(name) {
                Some(existing) if existing != hash => {
                    drifted.insert(name.clone());
                }
                Some(_) => {}
                None => {
                    pinned.insert(name.clone(), hash.clone());
                }
            }
            if *drift {
                drifted.insert(name.clone());
            }
        }
    }
    Pins::Reported { pinned, drifted: drifted.into_iter().collect() }
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
    use serde_json::json;

    use super::*;

    #[test]
    fn reports_merge_into_pins_and_drift() {
        let a = parse_report(&json!({"tool_pins": {
            "echo": {"pinned": "sha256:e", "current": "sha256:e", "drifted": false},
            "add": {"pinned": "sha256:a", "current": "sha256:b", "drifted": true},
        }}))
        .expect("report");
        let b = parse_report(&json!({"tool_pins": {"echo": {"pinned": "sha256:other", "drifted": false}}}))
            .expect("report");
        assert_eq!(merge(&[]), Pins::Unknown);
        assert_eq!(
            merge(std::slice::from_ref(&a)),
            Pins::Reported {
                pinned: [("add".into(), "sha256:a".into()), ("echo".into(), "sha256:e".into())].into(),
                drifted: vec!["add".into()],
            }
        );
        let Pins::Reported { drifted, .. } = merge(&[a, b]) else { panic!("reported") };
        assert_eq!(drifted, ["add", "echo"], "replicas disagreeing on a definition is drift");
        assert_eq!(parse_report(&json!({"ready": true})), None);
    }
}
