//! The MCP Registry v0.1 endpoints: documents checked against the published `server.json`
//! schema (2025-12-11) rules, written out here from the specification text (no network at
//! test time), and a Copilot-style client that gets only what its caller may see.

use mcp_platform::store::Role;
use serde_json::Value;

use crate::runtime_contract::{server, team};
use crate::support::{Backend, Harness};

/// The rules of `server.json` (schema 2025-12-11) a document must keep: required `name`
/// (3–200 characters, reverse-DNS namespace, exactly one slash), `description` (1–100),
/// `version` (1–255, a specific version, not a range or `latest`); optional `title` (1–100),
/// `$schema` (the schema URL); `remotes[]` of `type` `streamable-http` or `sse` with an
/// `http(s)://` `url`; `_meta` an object whose publisher block is an object.
fn check_server_json(doc: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let text = |key: &str| doc.get(key).and_then(Value::as_str);
    let len_in = |v: &str, min: usize, max: usize| (min..=max).contains(&v.chars().count());
    match text("name") {
        Some(n) if len_in(n, 3, 200) => {
            let parts: Vec<&str> = n.split('/').collect();
            let ns_ok = |s: &str| {
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            };
            let name_ok = |s: &str| {
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            };
            if parts.len() != 2 || !ns_ok(parts[0]) || !name_ok(parts[1]) || !parts[0].contains('.') {
                bad.push(format!("name {n:?} is not reverse-DNS/name"));
            }
        }
        other => bad.push(format!("name {other:?}")),
    }
    match text("description") {
        Some(d) if len_in(d, 1, 100) => {}
        other => bad.push(format!("description {other:?}")),
    }
    match text("version") {
        Some(v) if len_in(v, 1, 255) && v != "latest" && !v.contains(['^', '~', '>', '<', '*', ' ']) => {}
        other => bad.push(format!("version {other:?}")),
    }
    if let Some(t) = doc.get("title")
        && !t.as_str().is_some_and(|t| len_in(t, 1, 100))
    {
        bad.push(format!("title {t}"));
    }
    if doc["$schema"] != "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json" {
        bad.push(format!("$schema {}", doc["$schema"]));
    }
    match doc.get("remotes").and_then(Value::as_array) {
        Some(remotes) if !remotes.is_empty() => {
            for r in remotes {
                let t = r["type"].as_str().unwrap_or_default();
                let url = r["url"].as_str().unwrap_or_default();
                if t != "streamable-http" && t != "sse" {
                    bad.push(format!("remote type {t:?}"));
                }
                let ok = (url.starts_with("http://") || url.starts_with("https://"))
                    && !url.contains(char::is_whitespace)
                    && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
                if !ok {
                    bad.push(format!("remote url {url:?}"));
                }
            }
        }
        other => bad.push(format!("remotes {other:?}")),
    }
    match doc.get("_meta") {
        Some(Value::Object(m)) => {
            if !m.get("io.modelcontextprotocol.registry/publisher-provided").is_some_and(Value::is_object) {
                bad.push("publisher-provided block missing".into());
            }
        }
        other => bad.push(format!("_meta {other:?}")),
    }
    bad
}

#[test]
fn the_checks_refuse_what_the_schema_refuses() {
    let good = serde_json::json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "com.example.team/server", "description": "d", "version": "1.0.0",
        "remotes": [{"type": "streamable-http", "url": "https://mcp.example.com/x/mcp"}],
        "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {}},
    });
    assert!(check_server_json(&good).is_empty());
    for (key, value) in [
        ("name", serde_json::json!("noslash")),
        ("name", serde_json::json!("a/b/c")),
        ("name", serde_json::json!("nodots/x")),
        ("description", serde_json::json!("x".repeat(101))),
        ("version", serde_json::json!("latest")),
        ("version", serde_json::json!("^1.0")),
        ("remotes", serde_json::json!([{"type": "stdio", "url": "https://x"}])),
        ("remotes", serde_json::json!([{"type": "sse", "url": "ftp://x"}])),
    ] {
        let mut doc = good.clone();
        doc[key] = value.clone();
        assert!(!check_server_json(&doc).is_empty(), "{key} = {value}");
    }
}

fn names(body: &Value) -> Vec<String> {
    body["servers"]
        .as_array()
        .unwrap_or_else(|| panic!("no servers: {body}"))
        .iter()
        .map(|e| e["server"]["name"].as_str().expect("name").to_string())
        .collect()
}

async fn each_caller_sees_its_teams_servers_as_valid_documents(backend: Backend) {
    let h = Harness::start(backend, &[("PLATFORM_MCP_HOST", "mcp.example.com")]).await;
    let admin = h.admin_token().await;
    let (owner_id, _) = h.signed_in("owner@example.org").await;
    let (viewer_id, viewer) = h.signed_in("copilot@example.org").await;
    let runtime = &h.state.runtime;
    let (a, b) = (team("pay"), team("ops"));
    for t in [&a, &b] {
        h.state.store.create_team(t, &owner_id, &owner_id).await.expect("team");
        runtime.provision_team(t).await.expect("provision");
    }
    h.state.store.put_member(&a.id, &viewer_id, Role::Viewer).await.expect("viewer");
    for n in ["ledger", "fx", "cards"] {
        let mut s = server(&a, n);
        if n == "ledger" {
            s.spec.image = "registry.local/ledger:v2.1.0".into();
            s.spec.description = Some("Ledger tools for the payments team".into());
        }
        runtime.apply_server(s).await.expect("server");
    }
    runtime.apply_server(server(&b, "secret")).await.expect("server");

    // A Copilot-style client with the viewer's token: only team `pay`, valid documents.
    let r = h.call("GET", "/v0.1/servers", Some(&viewer), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.headers.get("access-control-allow-origin").map(|v| v.to_str().expect("ascii")), Some("*"));
    assert_eq!(
        names(&r.body),
        ["com.example.mcp.pay/cards", "com.example.mcp.pay/fx", "com.example.mcp.pay/ledger"]
    );
    assert_eq!(r.body["metadata"]["count"], 3);
    for e in r.body["servers"].as_array().expect("servers") {
        let problems = check_server_json(&e["server"]);
        assert!(problems.is_empty(), "{problems:?} in {}", e["server"]);
        let official = &e["_meta"]["io.modelcontextprotocol.registry/official"];
        assert_eq!(
            (official["status"].as_str(), official["isLatest"].as_bool()),
            (Some("active"), Some(true))
        );
        assert!(official["updatedAt"].as_str().is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()));
    }
    let ledger = &r.body["servers"][2]["server"];
    assert_eq!(ledger["version"], "2.1.0");
    assert_eq!(ledger["description"], "Ledger tools for the payments team");
    assert_eq!(ledger["remotes"][0]["url"], "http://mcp.example.test/ledger/mcp");
    let facts =
        &ledger["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]["io.mcpruntime/platform"];
    assert_eq!((facts["team"].as_str(), facts["namespace"].as_str()), (Some("pay"), Some("mcp-team-pay")));
    let tools = facts["tools"].as_array().expect("tools");
    assert_eq!(tools[1]["name"], "create_task");
    assert_eq!(
        (tools[1]["requiredTrust"].as_str(), tools[1]["sideEffect"].as_str()),
        (Some("medium"), Some("write"))
    );

    // The administrator sees everything; search, limit and cursor page through it.
    let r = h.call("GET", "/v0.1/servers?limit=2", Some(&admin), None).await;
    assert_eq!(names(&r.body), ["com.example.mcp.ops/secret", "com.example.mcp.pay/cards"]);
    let cursor = r.body["metadata"]["nextCursor"].as_str().expect("more").to_string();
    let r = h.call("GET", &format!("/v0.1/servers?limit=2&cursor={cursor}"), Some(&admin), None).await;
    assert_eq!(names(&r.body), ["com.example.mcp.pay/fx", "com.example.mcp.pay/ledger"]);
    assert!(r.body["metadata"].get("nextCursor").is_none());
    let r = h.call("GET", "/v0.1/servers?search=LEDG&version=latest", Some(&admin), None).await;
    assert_eq!(names(&r.body), ["com.example.mcp.pay/ledger"]);
    let r = h.call("GET", "/v0.1/servers?updated_since=2100-01-01T00:00:00Z", Some(&admin), None).await;
    assert!(names(&r.body).is_empty());
    let r = h.call("GET", "/v0.1/servers?updated_since=2000-01-01T00:00:00Z", Some(&admin), None).await;
    assert_eq!(names(&r.body).len(), 4);

    // One server's versions.
    let path = "/v0.1/servers/com.example.mcp.pay%2Fledger/versions";
    let r = h.call("GET", path, Some(&viewer), None).await;
    assert_eq!((r.status, r.body["metadata"]["count"].as_u64()), (200, Some(1)), "{:?}", r.body);
    for v in ["latest", "2.1.0"] {
        let r = h.call("GET", &format!("{path}/{v}"), Some(&viewer), None).await;
        assert_eq!(r.status, 200, "{v}: {:?}", r.body);
        assert!(check_server_json(&r.body["server"]).is_empty());
    }
    let r = h.call("GET", &format!("{path}/9.9.9"), Some(&viewer), None).await;
    assert_eq!(r.status, 404);
    // Another team's server does not exist for this caller.
    let r = h.call("GET", "/v0.1/servers/com.example.mcp.ops%2Fsecret/versions", Some(&viewer), None).await;
    assert_eq!(r.status, 404);

    // CORS: the preflight needs no credentials; refusals carry the headers too.
    let r = h
        .raw(
            "OPTIONS",
            "/v0.1/servers",
            None,
            None,
            &[("origin", "vscode-webview://x"), ("access-control-request-headers", "authorization")],
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.headers["access-control-allow-headers"].to_str().expect("ascii").contains("authorization"));
    let r = h.call("GET", "/v0.1/servers", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.headers.get("access-control-allow-origin").map(|v| v.to_str().expect("ascii")), Some("*"));
    for bad in [
        "/v0.1/servers?limit=0",
        "/v0.1/servers?cursor=%%",
        "/v0.1/servers?version=1.0.0",
        "/v0.1/servers?colour=red",
    ] {
        let r = h.call("GET", bad, Some(&admin), None).await;
        assert_eq!(r.status, 400, "{bad}");
    }
}

crate::both!(each_caller_sees_its_teams_servers_as_valid_documents);
