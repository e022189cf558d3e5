//! The cluster half of `mcp-runtime doctor`: named checks of what `setup` installs and what
//! the operator builds, each with pass/warn/fail and a hint that says what to do. The platform
//! half (health, readiness, its components: store, runtime backend, ClickHouse, ingest) is
//! asked through the platform API by the CLI.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use mcp_operator_core::team::{DEFAULT_DENY_POLICY, SCOPE_LABEL, SCOPE_TEAM, TEAM_SLUG_LABEL};
use serde::Serialize;

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Pass,
    /// Works, but something is off or could not be checked.
    Warn,
    /// Broken: `doctor` exits 1.
    Fail,
}

impl Status {
    /// `pass`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One named check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable dotted name (`cluster.crds`, `sentinel.ingest`, …).
    pub name: String,
    /// Verdict.
    pub status: Status,
    /// What was seen.
    pub detail: String,
    /// What to do about a warn or fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Check {
    /// A passing check.
    pub fn pass(name: &str, detail: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Pass, detail: detail.into(), hint: None }
    }

    /// A warning with its hint.
    pub fn warn(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Warn, detail: detail.into(), hint: Some(hint.into()) }
    }

    /// A failure with its hint.
    pub fn fail(name: &str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Fail, detail: detail.into(), hint: Some(hint.into()) }
    }
}

/// The CRDs the operator serves.
pub const CRDS: [&str; 3] =
    ["mcpservers.mcpruntime.org", "mcpaccessgrants.mcpruntime.org", "mcpagentsessions.mcpruntime.org"];

/// The workloads of an installation: check name, kind, namespace, name, and whether missing
/// is a failure (false: optional, e.g. replaced by a managed service).
const WORKLOADS: &[(&str, &str, &str, &str, bool)] = &[
    ("operator", "Deployment", "mcp-runtime", "mcp-runtime-operator", true),
    ("platform.deployment", "Deployment", "mcp-platform", "mcp-platform", true),
    ("platform.database", "StatefulSet", "mcp-platform", "postgres", false),
    ("ingress.traefik", "Deployment", "mcp-ingress", "traefik", false),
    ("sentinel.ingest", "Deployment", "mcp-sentinel", "mcp-sentinel-ingest", true),
    ("sentinel.processor", "Deployment", "mcp-sentinel", "mcp-sentinel-processor", true),
    ("sentinel.kafka", "StatefulSet", "mcp-sentinel", "kafka", false),
    ("sentinel.clickhouse", "StatefulSet", "mcp-sentinel", "clickhouse", false),
];

/// Every cluster check. When the API server cannot be reached, that is the only (failed) check.
pub async fn cluster_checks(client: &kube::Client) -> Vec<Check> {
    let mut checks = Vec::new();
    match client.apiserver_version().await {
        Ok(v) => checks.push(Check::pass("cluster.api", format!("Kubernetes {}", v.git_version))),
        Err(e) => {
            checks.push(Check::fail(
                "cluster.api",
                format!("the API server does not answer: {}", one_line(&e)),
                "check the kubeconfig context (--context, KUBECONFIG) and that the cluster runs",
            ));
            return checks;
        }
    }
    checks.push(crds(client).await);
    for &(name, kind, ns, object, required) in WORKLOADS {
        checks.push(workload(client, name, kind, ns, object, required).await);
    }
    checks.push(servers(client).await);
    checks.push(team_networks(client).await);
    checks
}

fn one_line(e: &kube::Error) -> String {
    let text = match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    };
    text.lines().next().unwrap_or_default().to_string()
}

async fn crds(client: &kube::Client) -> Check {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let mut missing = Vec::new();
    let mut not_established = Vec::new();
    for name in CRDS {
        match api.get_opt(name).await {
            Ok(Some(crd)) => {
                let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
                // A real API server sets Established; a CRD without any condition yet is young.
                if conditions.iter().any(|c| c.type_ == "Established" && c.status != "True") {
                    not_established.push(name);
                }
            }
            Ok(None) => missing.push(name),
            Err(e) => {
                return Check::fail("cluster.crds", format!("cannot read CRDs: {}", one_line(&e)), RBAC_HINT);
            }
        }
    }
    if !missing.is_empty() {
        return Check::fail(
            "cluster.crds",
            format!("missing: {}", missing.join(", ")),
            "install the platform: mcp-runtime setup --target <kind|k3s|eks>",
        );
    }
    if !not_established.is_empty() {
        return Check::warn(
            "cluster.crds",
            format!("not established yet: {}", not_established.join(", ")),
            "wait a moment; if it stays, kubectl describe crd <name>",
        );
    }
    Check::pass("cluster.crds", format!("{} CRDs installed", CRDS.len()))
}

const RBAC_HINT: &str =
    "your kubeconfig user needs read access to the platform's namespaces (cluster-admin for doctor)";

async fn workload(
    client: &kube::Client,
    check: &str,
    kind: &str,
    ns: &str,
    name: &str,
    required: bool,
) -> Check {
    let state = match kind {
        "Deployment" => Api::<Deployment>::namespaced(client.clone(), ns).get_opt(name).await.map(|d| {
            d.map(|d| {
                let r = mcp_operator_core::status::deployment_readiness(Some(&d));
                if r.ready { Ok(r.message) } else { Err(r.message) }
            })
        }),
        _ => Api::<StatefulSet>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map(|s| s.map(|s| crate::apply::statefulset_readiness(Some(&s)))),
    };
    let logs = format!(
        "kubectl -n {ns} describe {} {name}; kubectl -n {ns} logs {}/{name}",
        kind.to_lowercase(),
        kind.to_lowercase()
    );
    match state {
        Err(e) => Check::fail(check, format!("cannot read {kind} {ns}/{name}: {}", one_line(&e)), RBAC_HINT),
        Ok(None) if required => Check::fail(
            check,
            format!("{kind} {ns}/{name} does not exist"),
            "install the platform: mcp-runtime setup --target <kind|k3s|eks>",
        ),
        Ok(None) => Check::warn(
            check,
            format!("{kind} {ns}/{name} does not exist"),
            "fine if this installation uses an external service instead; otherwise run mcp-runtime setup",
        ),
        Ok(Some(Ok(ready))) => Check::pass(check, format!("{kind} {ns}/{name}: {ready}")),
        Ok(Some(Err(not_ready))) => Check::fail(check, format!("{kind} {ns}/{name}: {not_ready}"), logs),
    }
}

async fn servers(client: &kube::Client) -> Check {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("mcpruntime.org", "v1alpha1", "MCPServer"));
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let list = match api.list(&ListParams::default()).await {
        Ok(list) => list,
        Err(e) => {
            return Check::warn(
                "servers.ready",
                format!("cannot list MCPServers: {}", one_line(&e)),
                "install the CRDs first (mcp-runtime setup)",
            );
        }
    };
    let mut not_ready = Vec::new();
    for s in &list.items {
        let phase = s.data["status"]["phase"].as_str().unwrap_or("Pending");
        if phase != "Ready" {
            let ns = s.metadata.namespace.as_deref().unwrap_or_default();
            let name = s.metadata.name.as_deref().unwrap_or_default();
            let message = s.data["status"]["message"].as_str().unwrap_or("no status yet");
            not_ready.push(format!("{ns}/{name} {phase}: {message}"));
        }
    }
    if not_ready.is_empty() {
        return Check::pass("servers.ready", format!("{} MCPServer(s), every one Ready", list.items.len()));
    }
    let detail = format!(
        "{} of {} MCPServer(s) not Ready: {}",
        not_ready.len(),
        list.items.len(),
        not_ready.join("; ")
    );
    Check::warn(
        "servers.ready",
        detail,
        "mcp-runtime server status <name> --team <team>; kubectl -n <ns> describe mcpserver <name>",
    )
}

async fn team_networks(client: &kube::Client) -> Check {
    let selector = format!("{SCOPE_LABEL}={SCOPE_TEAM}");
    let namespaces =
        match Api::<Namespace>::all(client.clone()).list(&ListParams::default().labels(&selector)).await {
            Ok(list) => list.items,
            Err(e) => {
                return Check::fail(
                    "teams.network",
                    format!("cannot list namespaces: {}", one_line(&e)),
                    RBAC_HINT,
                );
            }
        };
    let mut unguarded = BTreeSet::new();
    for ns in &namespaces {
        let name = ns.metadata.name.clone().unwrap_or_default();
        match Api::<NetworkPolicy>::namespaced(client.clone(), &name).get_opt(DEFAULT_DENY_POLICY).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                let slug =
                    ns.metadata.labels.as_ref().and_then(|l| l.get(TEAM_SLUG_LABEL)).cloned().unwrap_or(name);
                unguarded.insert(slug);
            }
            Err(e) => {
                return Check::fail(
                    "teams.network",
                    format!("cannot read NetworkPolicies: {}", one_line(&e)),
                    RBAC_HINT,
                );
            }
        }
    }
    if unguarded.is_empty() {
        return Check::pass(
            "teams.network",
            format!("{} team namespace(s), each with {DEFAULT_DENY_POLICY}", namespaces.len()),
        );
    }
    Check::fail(
        "teams.network",
        format!(
            "team(s) without the {DEFAULT_DENY_POLICY} NetworkPolicy: {}",
            unguarded.into_iter().collect::<Vec<_>>().join(", ")
        ),
        "the platform provisions it on team create; re-provision with mcp-runtime team create <slug> (idempotent)",
    )
}
