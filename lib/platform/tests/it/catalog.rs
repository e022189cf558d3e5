//! The catalog through the API (Local backend), on both stores: what a caller sees, the
//! filters, and the connect configs. Drift from live reports is covered by the unit tests of
//! `catalog::tool_rows`.

use mcp_platform::store::Role;
use serde_json::Value;

use crate::runtime_contract::{server, team};
use crate::support::{Backend, Harness};

fn names(body: &Value, key: &str) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i[key].as_str().expect("name").to_string())
        .collect()
}

async fn catalog_lists_what_the_caller_may_see(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let admin = h.admin_token().await;
    let (owner_id, _) = h.signed_in("owner@example.org").await;
    let (viewer_id, viewer) = h.signed_in("viewer@example.org").await;
    let (a, b) = (team("pay"), team("ops"));
    for t in [&a, &b] {
        h.state.store.create_team(t, &owner_id, &owner_id).await.expect("team");
        h.state.runtime.provision_team(t).await.expect("provision");
    }
    h.state.store.put_member(&a.id, &viewer_id, Role::Viewer).await.expect("viewer");
    h.state.runtime.apply_server(server(&a, "ledger")).await.expect("server");
    h.state.runtime.apply_server(server(&b, "secret")).await.expect("server");

    let r = h.call("GET", "/api/v1/catalog/servers", Some(&viewer), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(names(&r.body, "name"), ["ledger"]);
    let s = &r.body["items"][0];
    assert_eq!(s["registry_name"], "localhost.pay/ledger");
    assert_eq!(s["live_inventory"], Value::Null, "no gateway report yet");
    assert!(s["live_inventory_error"].as_str().is_some());
    assert_eq!(s["drift"]["declared"], 2);
    assert_eq!(s["connect"]["claude_desktop"]["mcpServers"]["ledger"]["command"], "mcp-runtime");
    let r = h.call("GET", "/api/v1/catalog/servers", Some(&admin), None).await;
    assert_eq!(names(&r.body, "name"), ["secret", "ledger"]);

    let r = h.call("GET", "/api/v1/catalog/tools", Some(&viewer), None).await;
    assert_eq!(names(&r.body, "tool_name"), ["echo", "create_task"]);
    let t = &r.body["items"][1];
    assert_eq!((t["required_trust"].as_str(), t["side_effect"].as_str()), (Some("medium"), Some("write")));
    assert_eq!((t["declared"].as_bool(), t["drift_status"].as_str()), (Some(true), Some("declared")));
    for (query, want) in [
        ("side_effect=read", vec!["echo"]),
        ("trust=medium", vec!["create_task"]),
        ("q=TASK", vec!["create_task"]),
        ("query=mcp-team-pay", vec!["echo", "create_task"]),
        ("drift=missing", vec![]),
        ("team=ops", vec![]),
    ] {
        let r = h.call("GET", &format!("/api/v1/catalog/tools?{query}"), Some(&viewer), None).await;
        assert_eq!(names(&r.body, "tool_name"), want, "{query}");
    }
    let r = h.call("GET", "/api/v1/catalog/servers?side_effect=write", Some(&viewer), None).await;
    assert_eq!(names(&r.body, "name"), ["ledger"]);
    let r = h.call("GET", "/api/v1/catalog/tools?drift=sideways", Some(&viewer), None).await;
    assert_eq!(r.status, 400);

    let r = h
        .raw(
            "GET",
            "/api/v1/catalog/servers/pay/ledger/connect?agent=agt_9",
            Some(&viewer),
            None,
            &[("x-forwarded-proto", "https"), ("x-forwarded-host", "platform.example.com")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let args: Vec<&str> = r.body["vscode"]["servers"]["ledger"]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("arg"))
        .collect();
    assert_eq!(
        args,
        [
            "adapter",
            "stdio",
            "--platform",
            "https://platform.example.com",
            "--team",
            "pay",
            "--server",
            "ledger",
            "--agent",
            "agt_9"
        ]
    );
    let r = h.call("GET", "/api/v1/catalog/servers/ops/secret/connect", Some(&viewer), None).await;
    assert_eq!(r.status, 404, "another team's server does not exist for this caller");
    let r = h.call("GET", "/api/v1/catalog/servers/pay/nope/connect", Some(&viewer), None).await;
    assert_eq!(r.status, 404);
}

crate::both!(catalog_lists_what_the_caller_may_see);
