//! Dashboard summary, component health and the platform audit timeline, on both stores, with
//! the real ClickHouse of the test binary.

use serde_json::json;

use crate::analytics::{Seed, insert, row};
use crate::runtime_contract::{grant, server, session, team};
use crate::support::{Backend, Harness};

async fn summary_components_and_audit_timeline(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let admin = h.admin_token().await;
    let (owner_id, owner) = h.signed_in("owner@example.org").await;
    let t = team("dash");
    h.state.store.create_team(&t, &owner_id, &owner_id).await.expect("team");
    let rt = &h.state.runtime;
    rt.provision_team(&t).await.expect("provision");
    rt.apply_server(server(&t, "a")).await.expect("server");
    rt.apply_server(server(&t, "b")).await.expect("server");
    rt.apply_grant(grant(&t, "g1", "a", "bot-1")).await.expect("grant");
    let mut off = grant(&t, "g2", "a", "bot-2");
    off.spec.disabled = Some(true);
    rt.apply_grant(off).await.expect("grant");
    rt.apply_session(session(&t, "s1", "a", "g1", "bot-1")).await.expect("session");
    let mut revoked = session(&t, "s2", "a", "g1", "bot-1");
    revoked.spec.revoked = Some(true);
    rt.apply_session(revoked).await.expect("session");

    let base = u64::try_from(jiff::Timestamp::now().as_millisecond()).expect("time") - 60_000;
    let gateway = |id: &str, ts: u64| Seed {
        id: id.into(),
        ts_ms: ts,
        namespace: "mcp-team-dash",
        server: "a",
        agent: "bot-1",
        tool: "echo",
        decision: "allow",
        reason: "allowed",
        latency_ms: 1.0,
    };
    let mut rows = vec![row(&gateway("g-1", base), json!({})), row(&gateway("g-2", base + 1), json!({}))];
    // Platform audit events as the platform's auditor sends them.
    for (i, action) in ["team.create", "api_key.create"].iter().enumerate() {
        let envelope = json!({
            "event_id": format!("p-{i}"),
            "timestamp": format!("{:.3}", jiff::Timestamp::from_millisecond((base + 10 + i as u64) as i64).expect("time")),
            "source": "mcp-platform", "event_type": "platform.audit",
            "payload": {"actor": owner_id, "auth": "access_token", "action": action, "object_type": "team",
                        "object": "dash", "outcome": "success", "status": 201, "client_ip": "127.0.0.1"},
        });
        rows.push(mcp_sentinel::row::extract(envelope.to_string().as_bytes()).expect("row"));
    }
    insert(&h, &rows).await;

    let r = h.call("GET", "/api/v1/dashboard/summary", Some(&admin), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (
            &r.body["total_events"],
            &r.body["active_servers"],
            &r.body["active_grants"],
            &r.body["active_sessions"]
        ),
        (&json!(4), &json!(2), &json!(1), &json!(1))
    );
    assert_eq!(
        (r.body["latest_source"].as_str(), r.body["last_event_type"].as_str()),
        (Some("mcp-platform"), Some("platform.audit"))
    );
    assert!(r.body["last_event_time"].as_str().is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()));

    let r = h.call("GET", "/api/v1/admin/components", Some(&admin), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let status = |name: &str| {
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["component"] == name)
            .map(|i| i["status"].clone())
    };
    assert_eq!(status("store"), Some(json!("ok")));
    assert_eq!(status("runtime"), Some(json!("ok")));
    assert_eq!(status("analytics"), Some(json!("ok")));
    assert_eq!(status("signing_keys"), Some(json!("ok")));
    assert_eq!(status("audit"), Some(json!("not_configured")));
    assert_eq!(r.body["status"], "ok");

    let r = h.call("GET", "/api/v1/admin/audit?limit=1", Some(&admin), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["items"][0]["action"], "api_key.create");
    assert_eq!(r.body["items"][0]["actor"], owner_id.as_str());
    let cursor = r.body["meta"]["next_cursor"].as_str().expect("more").to_string();
    let r = h.call("GET", &format!("/api/v1/admin/audit?cursor={cursor}"), Some(&admin), None).await;
    let actions: Vec<&str> =
        r.body["items"].as_array().expect("items").iter().map(|i| i["action"].as_str().expect("a")).collect();
    assert_eq!(actions, ["team.create"], "gateway events are not platform actions");
    let r = h.call("GET", "/api/v1/admin/audit?limit=0", Some(&admin), None).await;
    assert_eq!(r.status, 400);
    let r = h.call("GET", "/api/v1/dashboard/summary", Some(&owner), None).await;
    assert_eq!(r.status, 403);
}

async fn summary_without_analytics_still_counts_objects(backend: Backend) {
    let h = Harness::start(backend, &[("PLATFORM_CLICKHOUSE_URL", "")]).await;
    let admin = h.admin_token().await;
    let r = h.call("GET", "/api/v1/dashboard/summary", Some(&admin), None).await;
    assert_eq!(
        (r.status, &r.body["total_events"], &r.body["active_servers"]),
        (200, &json!(null), &json!(0))
    );
    let r = h.call("GET", "/api/v1/admin/components", Some(&admin), None).await;
    assert_eq!(r.body["status"], "ok", "{:?}", r.body);
}

crate::both!(summary_components_and_audit_timeline, summary_without_analytics_still_counts_objects);
