//! `setup` and `doctor` against the in-memory Kubernetes API server (the only stand-in we
//! allow: no API server installs here), with the real `deploy/kind` overlay.

use std::path::PathBuf;
use std::time::Duration;

use mcp_cluster::{Status, apply, cluster_checks, order, render, wait_ready};
use mcp_testkit::kube_api::{FakeApiServer, Fault};
use serde_json::{Value, json};

fn overlay() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kind");
    order(render(&dir).expect("kubectl kustomize deploy/kind"))
}

fn ready_everything(api: &FakeApiServer, objects: &[Value]) {
    for o in objects {
        let (Some(ns), Some(name)) = (o["metadata"]["namespace"].as_str(), o["metadata"]["name"].as_str())
        else {
            continue;
        };
        let replicas = o["spec"]["replicas"].as_i64().unwrap_or(1);
        let plural = match o["kind"].as_str() {
            Some("Deployment") => "deployments",
            Some("StatefulSet") => "statefulsets",
            _ => continue,
        };
        let generation =
            api.get(plural, ns, name).and_then(|v| v["metadata"]["generation"].as_i64()).unwrap_or(1);
        api.set_status(
            plural,
            ns,
            name,
            json!({"readyReplicas": replicas, "observedGeneration": generation}),
        );
    }
}

fn check<'a>(checks: &'a [mcp_cluster::Check], name: &str) -> &'a mcp_cluster::Check {
    checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

#[tokio::test]
async fn setup_applies_the_kind_overlay_in_dependency_order_and_again_changes_nothing() {
    let api = FakeApiServer::start().await.expect("fake API");
    let client = api.client();
    let objects = overlay();
    let applied = apply(&client, &objects, "mcp-runtime").await.expect("apply");
    assert_eq!(applied.len(), objects.len());
    assert!(applied.iter().all(|a| a.outcome == "created"), "{applied:?}");
    // Every write was a server-side apply by our field manager, CRDs and namespaces first.
    let writes: Vec<_> = api.requests().into_iter().filter(|r| r.is_write()).collect();
    assert!(
        writes
            .iter()
            .all(|w| w.verb == "patch" && w.query_param("fieldManager").as_deref() == Some("mcp-runtime"))
    );
    assert!(writes.iter().all(|w| w.query_param("force").as_deref() == Some("true")));
    let first_deployment = writes.iter().position(|w| w.resource == "deployments").expect("deployments");
    let last_namespace = writes.iter().rposition(|w| w.resource == "namespaces").expect("namespaces");
    let last_crd = writes.iter().rposition(|w| w.resource == "customresourcedefinitions").expect("crds");
    assert!(last_crd < last_namespace && last_namespace < first_deployment);
    assert!(api.get("deployments", "mcp-runtime", "mcp-runtime-operator").is_some());
    // Idempotent: the second run changes nothing.
    let again = apply(&client, &objects, "mcp-runtime").await.expect("apply again");
    let changed: Vec<_> = again.iter().filter(|a| a.outcome != "unchanged").collect();
    assert!(changed.is_empty(), "{changed:?}");
}

#[tokio::test]
async fn a_refused_object_stops_setup_and_names_it() {
    let api = FakeApiServer::start().await.expect("fake API");
    api.fail(Fault::on("patch", "deployments").status(422));
    let err = apply(&api.client(), &overlay(), "mcp-runtime").await.expect_err("refused");
    let text = err.to_string();
    assert!(text.starts_with("Deployment "), "{text}");
    assert!(text.contains("object(s) before it were applied; fix and run again"), "{text}");
    assert!(api.list("deployments").is_empty());
}

#[tokio::test]
async fn waiting_reports_the_workloads_that_are_not_ready() {
    let api = FakeApiServer::start().await.expect("fake API");
    let client = api.client();
    let objects = overlay();
    apply(&client, &objects, "mcp-runtime").await.expect("apply");
    let waiting = wait_ready(&client, &objects, Duration::ZERO).await.expect("wait");
    assert!(waiting.iter().any(|w| w.object == "Deployment mcp-platform/mcp-platform"), "{waiting:?}");
    assert!(waiting.iter().any(|w| w.object == "StatefulSet mcp-sentinel/clickhouse"), "{waiting:?}");
    ready_everything(&api, &objects);
    let waiting = wait_ready(&client, &objects, Duration::from_secs(5)).await.expect("wait");
    assert!(waiting.is_empty(), "{waiting:?}");
}

#[tokio::test]
async fn doctor_fails_an_empty_cluster_and_passes_an_installed_one() {
    let api = FakeApiServer::start().await.expect("fake API");
    let client = api.client();
    let checks = cluster_checks(&client).await;
    assert_eq!(check(&checks, "cluster.api").status, Status::Pass);
    let crds = check(&checks, "cluster.crds");
    assert_eq!(crds.status, Status::Fail);
    assert!(crds.hint.as_deref().is_some_and(|h| h.contains("mcp-runtime setup")));
    assert_eq!(check(&checks, "operator").status, Status::Fail);
    // Optional pieces (an external database, say) only warn.
    assert_eq!(check(&checks, "platform.database").status, Status::Warn);

    let objects = overlay();
    apply(&client, &objects, "mcp-runtime").await.expect("apply");
    let checks = cluster_checks(&client).await;
    let operator = check(&checks, "operator");
    assert_eq!(operator.status, Status::Fail, "{operator:?}");
    assert!(operator.detail.contains("0/1 replicas ready"), "{operator:?}");
    assert!(operator.hint.as_deref().is_some_and(|h| h.contains("kubectl -n mcp-runtime")));

    ready_everything(&api, &objects);
    let checks = cluster_checks(&client).await;
    let bad: Vec<_> = checks.iter().filter(|c| c.status != Status::Pass).collect();
    assert!(bad.is_empty(), "{bad:?}");

    // A team namespace without its default-deny policy fails; a server not Ready warns.
    api.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mcp-team-demo",
        "labels": {"mcpruntime.org/scope": "team", "mcpruntime.org/team-slug": "demo"}}}));
    api.put(json!({"apiVersion": "mcpruntime.org/v1alpha1", "kind": "MCPServer",
        "metadata": {"name": "tools", "namespace": "mcp-team-demo"}, "spec": {"image": "x"}}));
    api.set_status(
        "mcpservers",
        "mcp-team-demo",
        "tools",
        json!({"phase": "Error", "message": "image pull failed"}),
    );
    let checks = cluster_checks(&client).await;
    let network = check(&checks, "teams.network");
    assert_eq!(network.status, Status::Fail);
    assert!(network.detail.contains("demo"), "{network:?}");
    let servers = check(&checks, "servers.ready");
    assert_eq!(servers.status, Status::Warn);
    assert!(servers.detail.contains("mcp-team-demo/tools Error: image pull failed"), "{servers:?}");
}

#[tokio::test]
async fn doctor_on_an_unreachable_cluster_is_one_clear_failure() {
    let port = mcp_testkit::services::free_port().expect("port");
    let client =
        kube::Client::try_from(kube::Config::new(format!("http://127.0.0.1:{port}").parse().expect("uri")))
            .expect("client");
    let checks = cluster_checks(&client).await;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].name, "cluster.api");
    assert_eq!(checks[0].status, Status::Fail);
}
