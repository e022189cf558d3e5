//! The authorization matrix (`authz/matrix.txt`) against the router and the running service.

use std::sync::atomic::{AtomicU32, Ordering};

use mcp_platform::store::{ApiKey, Role, Team, User, now};
use serde_json::{Value, json};

use crate::support::{Backend, Harness};

const MATRIX: &str = include_str!("../../authz/matrix.txt");
const ROLES: [&str; 7] = ["anonymous", "user", "viewer", "member", "owner", "admin", "read_key"];

struct Row {
    method: String,
    path: String,
    expected: Vec<u16>,
    line: usize,
}

fn parse() -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, line) in MATRIX.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 2 + ROLES.len(), "matrix line {}: {line}", i + 1);
        let expected = cols[2..].iter().map(|c| c.parse::<u16>().expect("status")).collect();
        rows.push(Row { method: cols[0].to_string(), path: cols[1].to_string(), expected, line: i + 1 });
    }
    rows
}

#[test]
fn every_route_in_the_router_is_in_the_matrix_and_nothing_else() {
    let rows = parse();
    let (_, routes) = mcp_platform::api::routes();
    let mut missing = Vec::new();
    for r in &routes {
        if !rows.iter().any(|row| row.method == r.method.as_str() && row.path == r.path) {
            missing.push(format!("{} {}", r.method, r.path));
        }
    }
    assert!(missing.is_empty(), "routes missing from authz/matrix.txt: {missing:?}");
    let stale: Vec<String> = rows
        .iter()
        .filter(|row| !routes.iter().any(|r| row.method == r.method.as_str() && row.path == r.path))
        .map(|row| format!("line {}: {} {}", row.line, row.method, row.path))
        .collect();
    assert!(stale.is_empty(), "matrix rows that name no route: {stale:?}");
    let mut seen = std::collections::HashSet::new();
    for row in &rows {
        assert!(seen.insert((&row.method, &row.path)), "duplicate matrix row at line {}", row.line);
    }
}

struct Callers {
    tokens: Vec<Option<String>>,
    owner: String,
    member: User,
    viewer: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn callers(h: &Harness) -> Callers {
    let (_, user) = h.signed_in("user@example.org").await;
    let (viewer_id, viewer) = h.signed_in("viewer@example.org").await;
    let (member_id, member) = h.signed_in("member@example.org").await;
    let (owner_id, owner) = h.signed_in("owner@example.org").await;
    let admin = h.admin_token().await;
    let key = h
        .call("POST", "/api/v1/api-keys", Some(&member), Some(json!({"name": "ro", "scopes": ["read"]})))
        .await;
    let read_key = key.body["key"].as_str().expect("key").to_string();
    let _ = viewer_id;
    Callers {
        tokens: vec![None, Some(user), Some(viewer), Some(member), Some(owner), Some(admin), Some(read_key)],
        owner: owner_id,
        member: h.state.store.user(&member_id).await.expect("user").expect("member"),
        viewer: h.state.store.user_by_email("viewer@example.org").await.expect("user").expect("viewer").id,
    }
}

/// Fresh objects for one cell; the path with its parameters filled in and a valid body.
async fn fixture(h: &Harness, c: &Callers, method: &str, path: &str) -> (String, Option<Value>) {
    let store = &h.state.store;
    let team = Team {
        id: uuid::Uuid::now_v7().to_string(),
        name: unique("m"),
        display_name: "Matrix".into(),
        namespace: unique("ns-"),
        created_at: now(),
    };
    store.create_team(&team, &c.owner, &c.owner).await.expect("team");
    store.put_member(&team.id, &c.member.id, Role::Member).await.expect("member");
    store.put_member(&team.id, &c.viewer, Role::Viewer).await.expect("viewer");
    let target = User {
        id: uuid::Uuid::now_v7().to_string(),
        email: format!("{}@services.local", unique("t")),
        display_name: "target".into(),
        kind: "service".into(),
        is_admin: false,
        created_at: now(),
        disabled_at: None,
        password_hash: None,
    };
    store.create_user(&target).await.expect("target");
    store.put_member(&team.id, &target.id, Role::Member).await.expect("target member");
    let key = ApiKey {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: c.member.id.clone(),
        name: "fixture".into(),
        prefix: "mcpk_fixture".into(),
        scopes: vec!["read".into()],
        created_at: now(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    store.insert_api_key(&key, &unique("hash-")).await.expect("key");
    // Runtime fixtures (one block): server, agent, grant and session in the team.
    let mut path = path.to_string();
    let mut runtime_body = None;
    if path.starts_with("/api/v1/runtime/") {
        let (p, body) = crate::runtime_api::matrix_fixture(h, &team, &c.member.id, method, &path).await;
        path = p;
        runtime_body = body;
    }
    // Registry fixtures (one block): server `srv` of the team, named as the registry names it.
    if path.starts_with("/v0.1/") || path.starts_with("/api/v1/catalog/") {
        h.state.runtime.provision_team(&team).await.expect("provision");
        h.state.runtime.apply_server(crate::runtime_contract::server(&team, "srv")).await.expect("server");
        let name = mcp_platform::registry::server_name(&h.state.config.runtime.mcp_host, &team.name, "srv");
        let name = if path.starts_with("/v0.1/") { name.replace('/', "%2F") } else { "srv".into() };
        path = path.replace("{name}", &name).replace("{version}", "latest");
    }
    // Registry access fixtures (one block): {id} is a registry credential of the member.
    if path == "/api/v1/user/registry-credentials/{id}" {
        let id = crate::registry_authz::credential_fixture(h, &c.member.id).await;
        path = path.replace("{id}", &id);
    }
    let filled = path.replace("{team}", &team.name).replace("{user_id}", &target.id).replace("{id}", &key.id);
    let refresh = || async {
        mcp_platform::api::issue_tokens(&h.state, c.member.clone(), None).await.expect("tokens").refresh_token
    };
    let body = match (method, path.as_str()) {
        ("POST", "/api/v1/auth/login") => Some(json!({"email": c.member.email, "password": "password-123"})),
        ("POST", "/api/v1/auth/refresh") | ("POST", "/api/v1/auth/logout") => {
            Some(json!({"refresh_token": refresh().await}))
        }
        ("POST", "/api/v1/users") => {
            Some(json!({"email": format!("{}@services.local", unique("u")), "kind": "service"}))
        }
        ("POST", "/api/v1/api-keys") => Some(json!({"name": "k"})),
        ("POST", "/api/v1/user/registry-credentials") => Some(json!({"name": "ci"})),
        ("POST", "/api/v1/auth/oidc/token") => Some(json!({"id_token": "x"})),
        ("POST", "/api/v1/teams") => Some(json!({"name": unique("n"), "owner_id": c.owner})),
        ("PATCH", "/api/v1/teams/{team}") => Some(json!({"display_name": "Renamed"})),
        ("PUT", "/api/v1/teams/{team}/members/{user_id}") => Some(json!({"role": "viewer"})),
        ("POST", "/api/v1/runtime/policy/replay") => Some(json!({
            "team": team.name, "server": "s",
            "policy": {"schema_version": "v1", "server": {"name": "s"}},
        })),
        _ => runtime_body,
    };
    (filled, body)
}

async fn every_cell_matches_the_running_service(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let c = callers(&h).await;
    let mut wrong = Vec::new();
    let mut cells = 0;
    for row in parse() {
        for (i, role) in ROLES.iter().enumerate() {
            let (path, body) = fixture(&h, &c, &row.method, &row.path).await;
            let r = h.call(&row.method, &path, c.tokens[i].as_deref(), body).await;
            cells += 1;
            assert!(r.status < 500, "{} {} as {role}: {} {:?}", row.method, row.path, r.status, r.body);
            if r.status != row.expected[i] {
                wrong.push(format!(
                    "line {}: {} {} as {role}: expected {}, got {} {}",
                    row.line, row.method, row.path, row.expected[i], r.status, r.body
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {cells} cells differ:\n{}", wrong.len(), wrong.join("\n"));
}

crate::both!(every_cell_matches_the_running_service);
