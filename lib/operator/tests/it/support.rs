//! The operator's controller running against the in-memory Kubernetes API, and helpers to
//! seed objects, mark workloads ready and wait for outcomes.

use std::sync::Arc;
use std::time::Duration;

use mcp_api::MCPServerStatus;
use mcp_operator::config::OperatorConfig;
use mcp_operator::metrics::Metrics;
use mcp_operator::pins::FixedPins;
use mcp_operator::status::Pins;
use mcp_testkit::kube_api::{FakeApiServer, Recorded};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a test waits for the controller to reach an expected state.
pub const WAIT: Duration = Duration::from_secs(10);

pub const NS: &str = "mcp-servers";

pub fn config() -> OperatorConfig {
    OperatorConfig {
        default_ingress_host: Some("mcp.example.com".into()),
        gateway_image: Some("registry.local/mcp-gateway:test".into()),
        requeue_delay: Duration::from_millis(500),
        ..OperatorConfig::default()
    }
}

/// A fake API server with the controller running against it.
pub struct Harness {
    pub api: FakeApiServer,
    pub metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(config(), Pins::Unknown).await
    }

    pub async fn start_with(cfg: OperatorConfig, pins: Pins) -> Harness {
        let api = FakeApiServer::start().await.expect("fake API server");
        let metrics = Arc::new(Metrics::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(mcp_operator::controller::run(
            api.client(),
            cfg,
            metrics.clone(),
            Arc::new(FixedPins(pins)),
            async move {
                let _ = stopped.await;
            },
        ));
        Harness { api, metrics, stop: Some(stop), task: Some(task) }
    }

    /// Stops the controller and waits for it (reconciles in flight finish), then checks that
    /// every request it made is allowed by the RBAC rules shipped in deploy/base.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task).await.expect("the controller stops").expect("no panic");
        }
        assert_rbac_allows(&self.api.requests());
    }

    /// Waits until `check` holds, failing the test with `what` after [`WAIT`].
    pub async fn wait<T>(&self, what: &str, check: impl FnMut(&FakeApiServer) -> Option<T>) -> T {
        match self.api.eventually(WAIT, check).await {
            Some(value) => value,
            None => panic!("timed out waiting for {what}; objects: {:?}", self.api.keys()),
        }
    }

    pub fn get(&self, plural: &str, name: &str) -> Option<Value> {
        self.api.get(plural, NS, name)
    }

    /// Waits for the server's status to satisfy `check`.
    pub async fn wait_status(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&MCPServerStatus) -> bool,
    ) -> MCPServerStatus {
        self.wait(what, |api| {
            let server = api.get("mcpservers", NS, name)?;
            let status: MCPServerStatus = serde_json::from_value(server.get("status")?.clone()).ok()?;
            check(&status).then_some(status)
        })
        .await
    }

    /// The policy document in the server's ConfigMap, once it exists.
    pub async fn policy(&self, server: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        self.wait(what, |api| {
            let cm = api.get("configmaps", NS, &format!("{server}-gateway-policy"))?;
            let doc: Value = serde_json::from_str(cm["data"]["policy.json"].as_str()?).ok()?;
            check(&doc).then_some(doc)
        })
        .await
    }

    /// Plays the Deployment and ingress controllers: every replica ready, an address published.
    pub fn mark_ready(&self, name: &str) {
        for deployment in [name.to_string(), format!("{name}-canary")] {
            if let Some(d) = self.get("deployments", &deployment) {
                let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
                let status = json!({
                    "observedGeneration": d["metadata"]["generation"],
                    "replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                });
                self.api.set_status("deployments", NS, &deployment, status);
            }
        }
        self.api.set_status(
            "ingresses",
            NS,
            name,
            json!({"loadBalancer": {"ingress": [{"ip": "10.0.0.10"}]}}),
        );
    }

    /// Requests with this verb on this resource since the last [`FakeApiServer::clear_requests`].
    pub fn requests(&self, verb: &str, resource: &str) -> Vec<Recorded> {
        self.api.requests().into_iter().filter(|r| r.verb == verb && r.resource == resource).collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn server(name: &str, extra: Value) -> Value {
    let mut spec = json!({
        "teamID": "team-a",
        "image": "registry.local/workspace-assistant:1",
        "tools": [{"name": "echo", "sideEffect": "read"}, {"name": "create_task", "sideEffect": "write"}],
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    json!({
        "apiVersion": "mcpruntime.org/v1alpha1", "kind": "MCPServer",
        "metadata": {"name": name, "namespace": NS}, "spec": spec,
    })
}

pub fn grant(name: &str, namespace: &str, server_ref: Value, agent: &str) -> Value {
    json!({
        "apiVersion": "mcpruntime.org/v1alpha1", "kind": "MCPAccessGrant",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"serverRef": server_ref, "subject": {"agentID": agent}, "allowedSideEffects": ["read"]},
    })
}

pub fn session(name: &str, server: &str, revoked: bool) -> Value {
    json!({
        "apiVersion": "mcpruntime.org/v1alpha1", "kind": "MCPAgentSession",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"serverRef": {"name": server}, "subject": {"agentID": "ops-agent"}, "revoked": revoked,
                 "expiresAt": "2030-01-01T00:00:00Z"},
    })
}

/// The annotation carrying the revision of a policy ConfigMap.
pub fn revision(cm: &Value) -> String {
    cm["metadata"]["annotations"]["mcpruntime.org/policy-revision"].as_str().unwrap_or_default().to_string()
}

/// Fails unless the operator's ClusterRole (or, in its own namespace, its Role) allows every
/// request. The fake API records what was asked and tests ran as cluster-admin, so this is
/// what keeps the shipped RBAC in step with the code.
pub fn assert_rbac_allows(requests: &[Recorded]) {
    use mcp_operator::install::{
        OPERATOR_NAMESPACE, allows, cluster_rules, namespace_rules, operator_team_rules,
    };
    let (cluster, namespaced, team) = (cluster_rules(), namespace_rules(), operator_team_rules());
    for r in requests.iter().filter(|r| !r.resource.is_empty()) {
        let resource = match &r.subresource {
            Some(sub) => format!("{}/{sub}", r.resource),
            None => r.resource.clone(),
        };
        let selected =
            r.query_param("fieldSelector").and_then(|f| f.strip_prefix("metadata.name=").map(str::to_string));
        let name = r.name.clone().or(selected);
        let allowed = allows(&cluster, r.verb, &r.group, &resource, name.as_deref())
            || (r.namespace.as_deref() == Some(OPERATOR_NAMESPACE)
                && allows(&namespaced, r.verb, &r.group, &resource, name.as_deref()));
        assert!(
            allowed,
            "the shipped RBAC does not allow {} {}/{resource} {:?} in {:?}",
            r.verb, r.group, name, r.namespace
        );
        // What a team namespace's `mcp-runtime-operator-team` binding grants covers every
        // request the operator makes inside a server's namespace.
        if let Some(ns) = r.namespace.as_deref().filter(|ns| *ns != OPERATOR_NAMESPACE) {
            assert!(
                allows(&team, r.verb, &r.group, &resource, name.as_deref()),
                "the operator's team role does not allow {} {}/{resource} {name:?} in {ns}",
                r.verb,
                r.group
            );
        }
    }
}
