use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::*;

fn config_map(name: &str, value: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns", "labels": {"app": name}},
        "data": {"key": value},
    })
}

#[tokio::test]
async fn apply_creates_then_is_a_no_op_when_unchanged() {
    let server = FakeApiServer::start().await.expect("start");
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "ns");
    let pp = PatchParams::apply("test").force();
    let first = api.patch("a", &pp, &Patch::Apply(config_map("a", "1"))).await.expect("apply");
    let rv = first.metadata.resource_version.clone();
    let again = api.patch("a", &pp, &Patch::Apply(config_map("a", "1"))).await.expect("apply again");
    assert_eq!(again.metadata.resource_version, rv, "identical apply must not bump the version");
    let changed = api.patch("a", &pp, &Patch::Apply(config_map("a", "2"))).await.expect("apply change");
    assert_ne!(changed.metadata.resource_version, rv);
    assert_eq!(changed.data.expect("data")["key"], "2");
    let writes: Vec<_> = server.requests().into_iter().filter(Recorded::is_write).collect();
    assert_eq!(writes.len(), 3);
    assert_eq!(writes[0].query_param("fieldManager").as_deref(), Some("test"));
    assert_eq!(writes[0].content_type.as_deref(), Some("application/apply-patch+yaml"));
}

#[tokio::test]
async fn list_filters_by_label_and_field_selectors() {
    let server = FakeApiServer::start().await.expect("start");
    server.put(config_map("a", "1"));
    server.put(config_map("b", "1"));
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "ns");
    let all = api.list(&ListParams::default()).await.expect("list");
    assert_eq!(all.items.len(), 2);
    let labelled = api.list(&ListParams::default().labels("app=b")).await.expect("list");
    assert_eq!(labelled.items.len(), 1);
    let named = api.list(&ListParams::default().fields("metadata.name=a")).await.expect("list");
    assert_eq!(named.items[0].metadata.name.as_deref(), Some("a"));
    let other: Api<ConfigMap> = Api::namespaced(server.client(), "other");
    assert!(other.list(&ListParams::default()).await.expect("list").items.is_empty());
}

#[tokio::test]
async fn watch_streams_changes_after_a_version() {
    let server = FakeApiServer::start().await.expect("start");
    server.put(config_map("a", "1"));
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "ns");
    let rv = api.list(&ListParams::default()).await.expect("list").metadata.resource_version.expect("rv");
    let params = kube::api::WatchParams::default().fields("metadata.name=a").timeout(5);
    let mut events = api.watch(&params, &rv).await.expect("watch").boxed();
    server.put(config_map("b", "1"));
    server.put(config_map("a", "2"));
    let event = tokio::time::timeout(Duration::from_secs(5), events.next()).await.expect("in time");
    match event.expect("an event").expect("ok") {
        kube::api::WatchEvent::Modified(cm) => assert_eq!(cm.data.expect("data")["key"], "2"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn deleting_an_owner_collects_its_dependents() {
    let server = FakeApiServer::start().await.expect("start");
    let owner = server.put(config_map("owner", "1"));
    let mut child = config_map("child", "1");
    child["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}]);
    server.put(child);
    server.put(config_map("bystander", "1"));
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "ns");
    api.delete("owner", &DeleteParams::default()).await.expect("delete");
    let left: Vec<String> = server.keys().into_iter().map(|k| k.2).collect();
    assert_eq!(left, ["bystander"]);
}

#[tokio::test]
async fn create_conflicts_stale_updates_and_injected_faults_are_errors() {
    let server = FakeApiServer::start().await.expect("start");
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "ns");
    let cm: ConfigMap = serde_json::from_value(config_map("a", "1")).expect("cm");
    let created = api.create(&PostParams::default(), &cm).await.expect("create");
    let again = api.create(&PostParams::default(), &cm).await.expect_err("exists");
    assert!(matches!(again, kube::Error::Api(ref s) if s.code == 409), "{again:?}");
    let mut stale = created.clone();
    stale.metadata.resource_version = Some("1".into());
    server.put(config_map("a", "2"));
    let conflict = api.replace("a", &PostParams::default(), &stale).await.expect_err("stale");
    assert!(matches!(conflict, kube::Error::Api(ref s) if s.code == 409), "{conflict:?}");

    // kube retries 429, 503 and 504 by itself, so a 500 is what reaches the caller.
    server.fail(Fault::on("get", "configmaps").status(500).times(1));
    let failed = api.get("a").await.expect_err("injected");
    assert!(matches!(failed, kube::Error::Api(ref s) if s.code == 500), "{failed:?}");
    api.get("a").await.expect("the fault fired once");
}

#[tokio::test]
async fn status_is_separate_from_the_object() {
    let server = FakeApiServer::start().await.expect("start");
    let mut deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "ns"}, "spec": {"replicas": 1},
    });
    server.put(deployment.clone());
    let stored = server.set_status("deployments", "ns", "d", json!({"readyReplicas": 1})).expect("exists");
    assert_eq!(stored["metadata"]["generation"], 1, "status does not move the generation");
    deployment["spec"]["replicas"] = json!(2);
    deployment["status"] = json!({"readyReplicas": 0});
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(server.client(), "ns");
    let applied = api.patch("d", &PatchParams::apply("t"), &Patch::Apply(deployment)).await.expect("apply");
    assert_eq!(applied.metadata.generation, Some(2));
    assert_eq!(applied.status.expect("status").ready_replicas, Some(1), "apply never writes status");
}

#[test]
fn query_strings_are_decoded() {
    let q = parse_query("labelSelector=app%3Dx%2Ctier%21%3Dweb&watch=true&x");
    assert_eq!(q["labelSelector"], "app=x,tier!=web");
    assert_eq!(q["watch"], "true");
    assert_eq!(q["x"], "");
    let selector = Selector::parse(&q).expect("selector");
    assert!(selector.matches(&json!({"metadata": {"labels": {"app": "x", "tier": "db"}}})));
    assert!(!selector.matches(&json!({"metadata": {"labels": {"app": "x", "tier": "web"}}})));
}
