//! Reconcile flows against the in-memory API: the objects written, the policy revisions, the
//! writes that must not happen, and status.

use std::time::Duration;

use mcp_api::Phase;
use mcp_testkit::kube_api::Fault;
use serde_json::json;

use crate::support::{Harness, NS, grant, revision, server, session};

#[tokio::test]
async fn a_new_server_gets_its_objects_and_becomes_ready() {
    let h = Harness::start().await;
    let created = h.api.put(server("notes", json!({})));
    let uid = created["metadata"]["uid"].as_str().expect("uid").to_string();

    let deployment = h.wait("the Deployment", |api| api.get("deployments", NS, "notes")).await;
    for (plural, name) in [
        ("services", "notes"),
        ("ingresses", "notes"),
        ("configmaps", "notes-gateway-policy"),
        ("roles", "notes-gateway-policy"),
        ("rolebindings", "notes-gateway-policy"),
    ] {
        let object = h.wait(plural, |api| api.get(plural, NS, name)).await;
        assert_eq!(object["metadata"]["ownerReferences"][0]["uid"], uid.as_str(), "{plural} is owned");
    }
    assert!(h.get("serviceaccounts", "mcp-workload").is_some());
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().expect("containers");
    assert_eq!(containers[1]["name"], "mcp-gateway");
    assert_eq!(containers[1]["args"], json!(["--policy-configmap", "mcp-servers/notes-gateway-policy"]));

    // Every write is a server-side apply under one field manager.
    for write in h.api.requests().iter().filter(|r| r.is_write() && r.verb == "patch") {
        assert_eq!(write.content_type.as_deref(), Some("application/apply-patch+yaml"), "{write:?}");
        assert_eq!(write.query_param("fieldManager").as_deref(), Some("mcp-operator"));
        assert_eq!(write.query_param("force").as_deref(), Some("true"));
    }

    let pending = h.wait_status("notes", "a status", |s| s.phase.is_some()).await;
    assert_ne!(pending.phase, Some(Phase::Ready));
    assert_eq!(pending.url.as_deref(), Some("http://mcp.example.com/notes/mcp"));
    assert!(pending.service_ready && pending.policy_ready && !pending.deployment_ready);
    assert_eq!(pending.observed_generation, Some(1));

    h.mark_ready("notes");
    let ready = h.wait_status("notes", "phase Ready", |s| s.phase == Some(Phase::Ready)).await;
    assert!(ready.deployment_ready && ready.ingress_ready && ready.gateway_ready);
    let types: Vec<&str> = ready.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(
        types,
        ["DeploymentReady", "ServiceReady", "IngressReady", "GatewayReady", "PolicyReady", "ToolsPinned"]
    );
    assert!(ready.policy_revision.as_deref().is_some_and(|r| r.starts_with("sha256:")));
    h.stop().await;
}

#[tokio::test]
async fn grants_and_sessions_rerender_the_policy_and_only_when_it_changes() {
    let h = Harness::start().await;
    h.api.put(server("notes", json!({})));
    let first = h.wait("the policy", |api| api.get("configmaps", NS, "notes-gateway-policy")).await;
    let first_revision = revision(&first);

    // A grant in another namespace names the server explicitly (cross-namespace serverRef).
    h.api.put(grant("ops", "team-b", json!({"name": "notes", "namespace": NS}), "ops-agent"));
    let doc = h
        .policy("notes", "the grant in the policy", |d| d["grants"].as_array().is_some_and(|g| g.len() == 1))
        .await;
    assert_eq!(doc["grants"][0]["namespace"], "team-b");
    let granted = h.get("configmaps", "notes-gateway-policy").expect("policy");
    assert_ne!(revision(&granted), first_revision, "a new grant is a new revision");
    // A grant for a server of the same name in its own namespace does not apply here.
    h.api.put(grant("elsewhere", "team-b", json!({"name": "notes"}), "other-agent"));

    // The same grant applied again (only a label differs): reconciled, nothing written.
    h.api.clear_requests();
    let mut relabelled = grant("ops", "team-b", json!({"name": "notes", "namespace": NS}), "ops-agent");
    relabelled["metadata"]["labels"] = json!({"touched": "yes"});
    h.api.put(relabelled);
    h.wait("a reconcile after the relabel", |api| {
        api.requests().iter().any(|r| r.verb == "get" && r.resource == "configmaps").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.requests("patch", "configmaps").is_empty(), "an unchanged revision is never rewritten");
    assert_eq!(revision(&h.get("configmaps", "notes-gateway-policy").expect("policy")), revision(&granted));

    // A session, then its revocation: each a new revision, the last with revoked: true.
    h.api.put(session("sess-1", "notes", false));
    let doc = h.policy("notes", "the session", |d| d["sessions"][0]["name"] == "sess-1").await;
    assert_eq!(doc["sessions"][0].get("revoked"), None, "not revoked (false is left out)");
    let before = doc["revision"].clone();
    h.api.put(session("sess-1", "notes", true));
    let doc = h.policy("notes", "the revocation", |d| d["sessions"][0]["revoked"] == true).await;
    assert_ne!(doc["revision"], before);

    // Deleting the grant removes it from the policy.
    h.api.delete("mcpaccessgrants", "team-b", "ops");
    h.policy("notes", "the grant gone", |d| d["grants"].as_array().is_some_and(Vec::is_empty)).await;
    h.stop().await;
}

#[tokio::test]
async fn an_invalid_spec_is_an_error_with_the_validation_message() {
    let h = Harness::start().await;
    h.api.put(server("broken", json!({"image": "", "port": 8091})));
    let status = h.wait_status("broken", "phase Error", |s| s.phase == Some(Phase::Error)).await;
    let message = status.message.unwrap_or_default();
    assert!(message.contains("spec.image: is required"), "{message}");
    assert!(message.contains("spec.gateway.port: must differ from spec.port"), "{message}");
    assert!(h.get("deployments", "broken").is_none(), "nothing is applied for an invalid spec");

    // Fixing the spec heals it.
    h.api.put(server("broken", json!({})));
    h.wait("the Deployment after the fix", |api| api.get("deployments", NS, "broken")).await;
    h.wait_status("broken", "no error", |s| s.phase != Some(Phase::Error)).await;
    h.stop().await;
}

#[tokio::test]
async fn deleting_a_server_leaves_nothing_behind() {
    let h = Harness::start().await;
    h.api
        .put(server("notes", json!({"rollout": {"strategy": "Canary", "canaryReplicas": 1}, "replicas": 2})));
    h.wait("the canary", |api| api.get("deployments", NS, "notes-canary")).await;
    h.wait("the Ingress", |api| api.get("ingresses", NS, "notes")).await;
    h.api.delete("mcpservers", NS, "notes");
    let left: Vec<(String, String, String)> = h.api.keys();
    // Only the namespace's shared workload service account stays (no server owns it).
    assert_eq!(
        left,
        [("serviceaccounts".to_string(), NS.to_string(), "mcp-workload".to_string())],
        "{left:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn turning_the_gateway_off_removes_its_objects() {
    let h = Harness::start().await;
    h.api.put(server("notes", json!({})));
    h.wait("the policy", |api| api.get("configmaps", NS, "notes-gateway-policy")).await;
    h.api.put(server("notes", json!({"gateway": {"enabled": false}})));
    h.wait("the policy removed", |api| {
        api.get("configmaps", NS, "notes-gateway-policy").is_none().then_some(())
    })
    .await;
    h.wait("the Role removed", |api| api.get("roles", NS, "notes-gateway-policy").is_none().then_some(()))
        .await;
    let d = h
        .wait("a Deployment without sidecar", |api| {
            let d = api.get("deployments", NS, "notes")?;
            (d["spec"]["template"]["spec"]["containers"].as_array()?.len() == 1).then_some(d)
        })
        .await;
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["name"], "notes");
    h.stop().await;
}

#[tokio::test]
async fn the_newer_of_two_servers_on_one_route_is_an_error() {
    let h = Harness::start().await;
    h.api.put(server(
        "a-first",
        json!({"ingressHost": "mcp.example.com", "ingressPath": "/shared/mcp", "publicPathPrefix": null}),
    ));
    h.wait("the first Ingress", |api| api.get("ingresses", NS, "a-first")).await;
    h.api.put(server("b-second", json!({"ingressHost": "mcp.example.com", "publicPathPrefix": "shared"})));
    let status = h.wait_status("b-second", "phase Error", |s| s.phase == Some(Phase::Error)).await;
    let message = status.message.unwrap_or_default();
    assert!(message.contains("already owned by MCPServer mcp-servers/a-first"), "{message}");
    assert!(h.get("ingresses", "b-second").is_none());
    assert!(h.get("deployments", "b-second").is_some(), "the rest of the server still runs");

    // Once the owner is gone, the route is free.
    h.api.delete("mcpservers", NS, "a-first");
    h.wait("the second Ingress", |api| api.get("ingresses", NS, "b-second")).await;
    h.stop().await;
}

#[tokio::test]
async fn api_errors_back_off_and_recover() {
    let h = Harness::start().await;
    h.api.fail(Fault::on("patch", "deployments").status(500).times(3));
    h.api.put(server("notes", json!({})));
    let status = h.wait_status("notes", "the failure in status", |s| s.phase == Some(Phase::Error)).await;
    assert!(status.message.unwrap_or_default().contains("apply Deployment mcp-servers/notes"));
    h.wait("the Deployment after the retries", |api| api.get("deployments", NS, "notes")).await;
    h.wait_status("notes", "the error cleared", |s| s.phase != Some(Phase::Error)).await;

    let attempts: Vec<_> = h.requests("patch", "deployments");
    assert!(attempts.len() >= 4, "{} attempts", attempts.len());
    let metrics = h.metrics.encode();
    assert!(metrics.contains("mcp_operator_reconcile_errors_total{error=\"Api\"} 3"), "{metrics}");

    // A broken API for everything: the controller keeps running and does not panic.
    h.api.fail(Fault::on("*", "*").status(500));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    h.api.clear_faults();
    h.api.put(server("later", json!({})));
    h.wait("a server created after the outage", |api| api.get("deployments", NS, "later")).await;
    h.stop().await;
}

#[tokio::test]
async fn a_policy_too_big_for_a_configmap_is_an_error_not_a_write() {
    let h = Harness::start().await;
    h.api.put(server("notes", json!({})));
    let first = h.wait("the policy", |api| api.get("configmaps", NS, "notes-gateway-policy")).await;
    let rules: Vec<_> =
        (0..8).map(|i| json!({"name": format!("tool-with-a-long-name-{i}"), "decision": "allow"})).collect();
    for i in 0..1200 {
        let mut g = grant(&format!("grant-{i:04}"), NS, json!({"name": "notes"}), &format!("agent-{i:04}"));
        g["spec"]["toolRules"] = json!(rules);
        h.api.put(g);
    }
    let status = h.wait_status("notes", "the size error", |s| s.phase == Some(Phase::Error)).await;
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains("a ConfigMap holds at most 1000000 bytes") && message.contains("1200 grants"),
        "{message}"
    );
    let kept = h.get("configmaps", "notes-gateway-policy").expect("policy");
    assert_eq!(revision(&kept), revision(&first), "the last policy that fit stays");
    h.stop().await;
}

#[tokio::test]
async fn an_upstream_server_runs_the_gateway_alone_and_becomes_ready() {
    let h = Harness::start().await;
    let mut remote = server(
        "remote",
        json!({
            "upstream": {"url": "https://mcp.example.net/v1/mcp", "credentialSecretRef": {"name": "remote-mcp", "key": "token"}},
        }),
    );
    remote["spec"].as_object_mut().expect("spec").remove("image");
    h.api.put(remote);

    let deployment = h.wait("the Deployment", |api| api.get("deployments", NS, "remote")).await;
    let pod = &deployment["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "only the gateway: {containers:#?}");
    assert_eq!(containers[0]["name"], "mcp-gateway");
    let env: std::collections::BTreeMap<&str, &str> = containers[0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
        .collect();
    assert_eq!(env["UPSTREAM_URL"], "https://mcp.example.net/v1/mcp");
    assert_eq!(env["STRIP_PREFIX"], "/remote/mcp");
    assert_eq!(env["UPSTREAM_TOKEN_FILE"], "/var/run/mcp-runtime/upstream/token");
    let volumes = pod["volumes"].as_array().expect("volumes");
    assert!(
        volumes
            .iter()
            .any(|v| v["secret"]["secretName"] == "remote-mcp" && v["secret"]["items"][0]["key"] == "token"),
        "{volumes:#?}"
    );
    let egress =
        h.wait("the egress policy", |api| api.get("networkpolicies", NS, "remote-upstream-egress")).await;
    assert_eq!(egress["spec"]["egress"][0]["ports"][0]["port"], 443);
    let service = h.wait("the Service", |api| api.get("services", NS, "remote")).await;
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "gateway");
    h.wait("the policy", |api| api.get("configmaps", NS, "remote-gateway-policy")).await;

    h.wait("the Ingress", |api| api.get("ingresses", NS, "remote")).await;
    h.mark_ready("remote");
    let ready = h.wait_status("remote", "phase Ready", |s| s.phase == Some(Phase::Ready)).await;
    assert!(ready.deployment_ready && ready.gateway_ready && ready.policy_ready);
    assert_eq!(ready.url.as_deref(), Some("http://mcp.example.com/remote/mcp"));

    // Back to an image: the app container returns and the egress policy goes.
    h.api.put(server("remote", json!({})));
    h.wait("the app container back", |api| {
        let d = api.get("deployments", NS, "remote")?;
        (d["spec"]["template"]["spec"]["containers"].as_array()?.len() == 2).then_some(())
    })
    .await;
    h.wait("the egress policy gone", |api| {
        api.get("networkpolicies", NS, "remote-upstream-egress").is_none().then_some(())
    })
    .await;

    // An image next to upstream is refused with the field named, and nothing more is applied.
    h.api.put(server("both", json!({"upstream": {"url": "https://mcp.example.net/mcp"}, "port": 9000})));
    let status = h.wait_status("both", "phase Error", |s| s.phase == Some(Phase::Error)).await;
    let message = status.message.unwrap_or_default();
    assert!(message.contains("spec.upstream: cannot be combined with spec.image"), "{message}");
    assert!(message.contains("spec.port: cannot be combined with spec.upstream"), "{message}");
    assert!(h.get("deployments", "both").is_none());
    h.stop().await;
}
