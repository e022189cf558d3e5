//! Registry access: registry credentials (shown once, stored hashed, revoked at once) and the
//! forward-auth decision, checked cell by cell against `authz/registry-matrix.txt` on the
//! running service, and its audit events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mcp_platform::registry_auth::{AUTHZ_PATH, RegistryCredential};
use mcp_platform::store::{Role, Team, now};
use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Harness, Reply};

const MATRIX: &str = include_str!("../../authz/registry-matrix.txt");
const CALLERS: [&str; 11] = [
    "anonymous",
    "bad_password",
    "revoked",
    "no_team",
    "viewer",
    "member",
    "owner",
    "admin",
    "read_key",
    "basic_key",
    "bearer",
];
const CHALLENGE: &str = "Basic realm=\"mcp-runtime-registry\"";
const PASSWORD: &str = "password-123";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A registry credential of `user_id` stored directly (the authorization matrix's `{id}`).
pub async fn credential_fixture(h: &Harness, user_id: &str) -> String {
    let c = RegistryCredential {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_string(),
        name: "fixture".into(),
        prefix: "mcpr_fixture".into(),
        created_at: now(),
        last_used_at: None,
        revoked_at: None,
    };
    let hash = format!("hash-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    h.state.store.insert_registry_credential(&c, &hash).await.expect("credential");
    c.id
}

/// A service without ClickHouse (the embedded event store), with extra settings.
async fn start(backend: Backend, dir: &tempfile::TempDir, extra: &[(&str, &str)]) -> Harness {
    let events = dir.path().join("events.db").display().to_string();
    let mut settings = vec![("PLATFORM_EVENTS_DB", events.as_str())];
    settings.extend_from_slice(extra);
    Harness::start(backend, &settings).await
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// Asks the forward-auth endpoint as Traefik does (`GET`, the original method in
/// `X-Forwarded-Method`), or with the original method itself when `preserve` is set.
async fn ask(
    h: &Harness,
    credentials: &[(String, String)],
    method: Option<&str>,
    uri: Option<&str>,
    preserve: bool,
) -> Reply {
    let mut headers: Vec<(&str, &str)> = credentials.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if let Some(m) = method {
        headers.push(("x-forwarded-method", m));
    }
    if let Some(u) = uri {
        headers.push(("x-forwarded-uri", u));
    }
    headers.push(("x-forwarded-host", "registry.example"));
    let verb = if preserve { method.unwrap_or("GET") } else { "GET" };
    h.raw(verb, AUTHZ_PATH, None, None, &headers).await
}

async fn create_credential(h: &Harness, token: &str, name: &str) -> Value {
    let r =
        h.call("POST", "/api/v1/user/registry-credentials", Some(token), Some(json!({"name": name}))).await;
    assert_eq!(r.status, 201, "create credential: {:?}", r.body);
    r.body
}

async fn team(h: &Harness, name: &str, owner: &str) -> Team {
    let t = Team {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.into(),
        display_name: name.into(),
        namespace: format!("mcp-team-{name}"),
        created_at: now(),
    };
    h.state.store.create_team(&t, owner, owner).await.expect("team");
    t
}

struct Row {
    method: Option<String>,
    uri: Option<String>,
    expected: Vec<u16>,
    line: usize,
}

/// The matrix: its column order (every caller known, every known caller present) and rows.
fn parse() -> (Vec<usize>, Vec<Row>) {
    let mut columns: Option<Vec<usize>> = None;
    let mut rows = Vec::new();
    for (i, line) in MATRIX.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        let Some(order) = &columns else {
            assert_eq!(cols.get(..2), Some(&["method", "uri"][..]), "line {}: the column line first", i + 1);
            let order: Vec<usize> = cols[2..]
                .iter()
                .map(|c| {
                    CALLERS
                        .iter()
                        .position(|k| k == c)
                        .unwrap_or_else(|| panic!("line {}: unknown caller `{c}`", i + 1))
                })
                .collect();
            for (k, name) in CALLERS.iter().enumerate() {
                assert_eq!(
                    order.iter().filter(|o| **o == k).count(),
                    1,
                    "caller `{name}` must have exactly one column"
                );
            }
            columns = Some(order);
            continue;
        };
        assert_eq!(cols.len(), 2 + order.len(), "line {}: {line}", i + 1);
        let opt = |s: &str| (s != "-").then(|| s.to_string());
        let expected = cols[2..]
            .iter()
            .map(|c| c.parse::<u16>().unwrap_or_else(|_| panic!("line {}: status `{c}`", i + 1)))
            .collect();
        rows.push(Row { method: opt(cols[0]), uri: opt(cols[1]), expected, line: i + 1 });
    }
    (columns.expect("a column line"), rows)
}

#[test]
fn the_registry_matrix_names_every_caller_once() {
    let (columns, rows) = parse();
    assert_eq!(columns.len(), CALLERS.len());
    assert!(rows.len() >= 40, "{} rows", rows.len());
}

/// The callers of the matrix, as the headers each one sends.
async fn callers(h: &Harness) -> HashMap<&'static str, Vec<(String, String)>> {
    let store = &h.state.store;
    let (owner_id, owner) = h.signed_in("owner@example.org").await;
    let (member_id, member) = h.signed_in("member@example.org").await;
    let (viewer_id, viewer) = h.signed_in("viewer@example.org").await;
    let (_, no_team) = h.signed_in("loner@example.org").await;
    let stranger = h.user("stranger@example.org", PASSWORD).await;
    let admin = h.admin_token().await;
    let alpha = team(h, "alpha", &owner_id).await;
    store.put_member(&alpha.id, &member_id, Role::Member).await.expect("member");
    store.put_member(&alpha.id, &viewer_id, Role::Viewer).await.expect("viewer");
    team(h, "beta", &stranger).await;
    let gamma = team(h, "gamma", &stranger).await;
    store.put_member(&gamma.id, &member_id, Role::Member).await.expect("gamma member");
    team(h, "mcp-team-gamma", &stranger).await;

    let value = |body: Value| body["value"].as_str().expect("value").to_string();
    let auth = |v: String| vec![("authorization".to_string(), v)];
    let mut out = HashMap::new();
    out.insert("anonymous", vec![]);
    out.insert("bad_password", auth(basic("member@example.org", "mcpr_never-issued-value")));
    let revoked = create_credential(h, &owner, "old").await;
    let id = revoked["id"].as_str().expect("id");
    let r = h.call("DELETE", &format!("/api/v1/user/registry-credentials/{id}"), Some(&owner), None).await;
    assert_eq!(r.status, 204);
    out.insert("revoked", auth(basic("owner@example.org", &value(revoked))));
    for (name, email, token) in [
        ("no_team", "loner@example.org", &no_team),
        ("viewer", "viewer@example.org", &viewer),
        ("member", "member@example.org", &member),
        ("owner", "owner@example.org", &owner),
        ("admin", ADMIN_EMAIL, &admin),
    ] {
        let v = value(create_credential(h, token, "docker").await);
        out.insert(name, auth(basic(email, &v)));
    }
    let key = |token: &str, body: Value| {
        let token = token.to_string();
        async move {
            let r = h.call("POST", "/api/v1/api-keys", Some(&token), Some(body)).await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            r.body["key"].as_str().expect("key").to_string()
        }
    };
    let read_key = key(&owner, json!({"name": "ro", "scopes": ["read"]})).await;
    out.insert("read_key", vec![("x-api-key".to_string(), read_key)]);
    let rw_key = key(&member, json!({"name": "rw"})).await;
    out.insert("basic_key", auth(basic("member@example.org", &rw_key)));
    out.insert("bearer", auth(format!("Bearer {member}")));
    out
}

async fn every_cell_of_the_registry_matrix(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = start(backend, &dir, &[]).await;
    let callers = callers(&h).await;
    let (columns, rows) = parse();
    let mut wrong = Vec::new();
    let mut cells = 0;
    for row in &rows {
        for (col, caller) in columns.iter().map(|k| CALLERS[*k]).enumerate() {
            let expected = row.expected[col];
            let creds = &callers[caller];
            let preserved = row
                .method
                .as_deref()
                .is_some_and(|m| ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"].contains(&m));
            for preserve in [false, true] {
                if preserve && !preserved {
                    continue;
                }
                let r = ask(&h, creds, row.method.as_deref(), row.uri.as_deref(), preserve).await;
                cells += 1;
                let challenge = r.headers.get("www-authenticate").and_then(|v| v.to_str().ok());
                let bad_challenge = r.status == 401 && challenge != Some(CHALLENGE);
                if r.status != expected || bad_challenge {
                    wrong.push(format!(
                        "line {}: {} {} as {caller}{}: expected {expected}, got {} (WWW-Authenticate {challenge:?}) {}",
                        row.line,
                        row.method.as_deref().unwrap_or("-"),
                        row.uri.as_deref().unwrap_or("-"),
                        if preserve { " (method preserved)" } else { "" },
                        r.status,
                        r.body
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {cells} cells differ:\n{}", wrong.len(), wrong.join("\n"));
}

async fn credentials_are_shown_once_hashed_and_revoked_at_once(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let h = start(backend, &dir, &[]).await;
    let (member_id, member) = h.signed_in("member@example.org").await;
    let (_, other) = h.signed_in("other@example.org").await;
    let owner = h.user("owner@example.org", PASSWORD).await;
    let alpha = team(&h, "alpha", &owner).await;
    h.state.store.put_member(&alpha.id, &member_id, Role::Member).await.expect("member");

    // Created: the value is answered once, with its prefix and a username for docker login.
    let created = create_credential(&h, &member, " laptop ").await;
    let value = created["value"].as_str().expect("value").to_string();
    let id = created["id"].as_str().expect("id").to_string();
    assert!(value.starts_with("mcpr_") && value.len() == 5 + 43, "{value}");
    assert_eq!(created["prefix"].as_str(), Some(&value[..13]));
    assert_eq!(created["name"], "laptop");
    assert_eq!(created["username"], "member@example.org");
    assert!(created["created_at"].as_i64().is_some_and(|t| t > 0));

    // Stored under the same keyed hash as API keys; the value itself is nowhere.
    let stored =
        h.state.store.registry_credential_by_hash(&h.state.hasher.hash(&value)).await.expect("lookup");
    assert_eq!(stored.map(|c| c.id), Some(id.clone()));

    // Listed without the value, only to its owner.
    let list = h.call("GET", "/api/v1/user/registry-credentials", Some(&member), None).await;
    assert_eq!(list.status, 200);
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], json!(id));
    assert!(items[0].get("value").is_none() && !list.body.to_string().contains(&value));
    assert!(items[0]["revoked_at"].is_null() && items[0]["last_used_at"].is_null());
    let theirs = h.call("GET", "/api/v1/user/registry-credentials", Some(&other), None).await;
    assert_eq!(theirs.body["items"], json!([]));

    // It works as the Basic password at the forward-auth endpoint (any username)...
    let as_basic = vec![("authorization".to_string(), basic("whoever", &value))];
    let pull = Some("/v2/alpha/app/manifests/latest");
    assert_eq!(ask(&h, &as_basic, Some("GET"), Some("/v2/"), false).await.status, 200);
    assert_eq!(ask(&h, &as_basic, Some("PUT"), pull, false).await.status, 200);
    let used = h.call("GET", "/api/v1/user/registry-credentials", Some(&member), None).await;
    assert!(used.body["items"][0]["last_used_at"].as_i64().is_some(), "{:?}", used.body);
    // Exactly one credential, well formed, or 401 with the challenge.
    for extra in [
        vec![
            ("authorization".to_string(), basic("whoever", &value)),
            ("x-api-key".to_string(), value.clone()),
        ],
        vec![("authorization".to_string(), "Basic not-base64!".to_string())],
        vec![("authorization".to_string(), format!("Basic {}", STANDARD.encode(&value)))],
        vec![("authorization".to_string(), format!("Digest {value}"))],
        vec![("x-api-key".to_string(), "not-a-key".to_string())],
    ] {
        let r = ask(&h, &extra, Some("GET"), pull, false).await;
        assert_eq!(r.status, 401, "{extra:?}: {:?}", r.body);
        assert_eq!(r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()), Some(CHALLENGE));
    }
    let x_api_key = vec![("x-api-key".to_string(), value.clone())];
    assert_eq!(ask(&h, &x_api_key, Some("GET"), pull, false).await.status, 200);
    let two_uris = h
        .raw(
            "GET",
            AUTHZ_PATH,
            None,
            None,
            &[
                ("x-api-key", value.as_str()),
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/v2/alpha/app/manifests/latest"),
                ("x-forwarded-uri", "/v2/beta/app/manifests/latest"),
            ],
        )
        .await;
    assert_eq!(
        (two_uris.status, two_uris.body["error"]["details"]["reason"].as_str()),
        (403, Some("malformed_path"))
    );
    // ...and nowhere else in the API.
    let me = h.call("GET", "/api/v1/me", Some(&value), None).await;
    assert_eq!(me.status, 401);

    // Another account cannot revoke it (404, as if it did not exist); its owner can.
    let path = format!("/api/v1/user/registry-credentials/{id}");
    assert_eq!(h.call("DELETE", &path, Some(&other), None).await.status, 404);
    assert_eq!(ask(&h, &as_basic, Some("GET"), pull, false).await.status, 200);
    assert_eq!(h.call("DELETE", &path, Some(&member), None).await.status, 204);
    assert_eq!(h.call("DELETE", &path, Some(&member), None).await.status, 204, "idempotent");
    let after = ask(&h, &as_basic, Some("GET"), pull, false).await;
    assert_eq!(after.status, 401, "revoked at once: {:?}", after.body);
    assert_eq!(after.headers.get("www-authenticate").and_then(|v| v.to_str().ok()), Some(CHALLENGE));
    let list = h.call("GET", "/api/v1/user/registry-credentials", Some(&member), None).await;
    assert!(list.body["items"][0]["revoked_at"].as_i64().is_some());

    // A disabled account's credential stops too; bad bodies are refused.
    let second = create_credential(&h, &member, "ci").await;
    let second = vec![(
        "authorization".to_string(),
        basic("member@example.org", second["value"].as_str().expect("value")),
    )];
    assert_eq!(ask(&h, &second, Some("GET"), pull, false).await.status, 200);
    sqlx_disable(&h, &member_id).await;
    assert_eq!(ask(&h, &second, Some("GET"), pull, false).await.status, 401);
    let admin = h.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"].as_str().expect("t").to_string();
    for body in [json!({"name": ""}), json!({"name": "x".repeat(101)}), json!({"name": "a", "scope": "x"})] {
        let r = h.call("POST", "/api/v1/user/registry-credentials", Some(&admin), Some(body)).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{:?}", r.body);
    }
}

/// Disables an account (sets its `disabled_at`, what every request re-reads).
async fn sqlx_disable(h: &Harness, user_id: &str) {
    let pool = sqlx::AnyPool::connect(&h.database_url).await.expect("connect");
    sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
        .bind(now())
        .bind(user_id)
        .execute(&pool)
        .await
        .expect("disable");
    pool.close().await;
}

crate::both!(every_cell_of_the_registry_matrix, credentials_are_shown_once_hashed_and_revoked_at_once);

#[derive(Default)]
struct Ingest {
    events: Mutex<Vec<Value>>,
}

async fn receive(
    axum::extract::State(ingest): axum::extract::State<Arc<Ingest>>,
    body: axum::body::Bytes,
) -> http::StatusCode {
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body) else {
        return http::StatusCode::BAD_REQUEST;
    };
    ingest.events.lock().expect("lock").extend(items);
    http::StatusCode::ACCEPTED
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_is_one_audit_event() {
    let ingest = Arc::new(Ingest::default());
    let app = axum::Router::new().route("/events", axum::routing::post(receive)).with_state(ingest.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().expect("tempdir");
    let h = start(Backend::Sqlite, &dir, &[("ANALYTICS_INGEST_URL", &url)]).await;
    let (viewer_id, viewer) = h.signed_in("viewer@example.org").await;
    let owner = h.user("owner@example.org", PASSWORD).await;
    let alpha = team(&h, "alpha", &owner).await;
    h.state.store.put_member(&alpha.id, &viewer_id, Role::Viewer).await.expect("viewer");
    let value = create_credential(&h, &viewer, "docker").await["value"].as_str().expect("v").to_string();
    let creds = vec![("authorization".to_string(), basic("viewer@example.org", &value))];

    let uri = Some("/v2/mcp-team-alpha/app/manifests/latest");
    assert_eq!(ask(&h, &creds, Some("GET"), uri, false).await.status, 200);
    assert_eq!(ask(&h, &creds, Some("PUT"), uri, true).await.status, 403);
    assert_eq!(ask(&h, &[], Some("GET"), uri, false).await.status, 401);

    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let events: Vec<Value> = ingest
            .events
            .lock()
            .expect("lock")
            .iter()
            .filter(|e| e["payload"]["action"].as_str().is_some_and(|a| a.starts_with("registry.")))
            .map(|e| e["payload"].clone())
            .collect();
        if events.len() >= 3 || Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(events.len(), 3, "one event per decision, none from the generic audit layer: {events:#?}");
    let pull = &events[0];
    assert_eq!(pull["action"], "registry.pull");
    assert_eq!(pull["actor"], json!(viewer_id));
    assert_eq!(pull["auth"], "registry_credential");
    assert_eq!(pull["team"], "alpha");
    assert_eq!(pull["object_type"], "repository");
    assert_eq!(pull["object"], "mcp-team-alpha/app");
    assert_eq!((pull["status"].as_u64(), pull["outcome"].as_str()), (Some(200), Some("success")));
    assert_eq!(pull["details"]["decision"], "allow");
    assert_eq!(pull["details"]["reason"], "team_role");
    assert_eq!(pull["details"]["method"], "GET");
    assert_eq!(pull["details"]["host"], "registry.example");
    let push = &events[1];
    assert_eq!(push["action"], "registry.denied");
    assert_eq!(push["team"], "alpha");
    assert_eq!(
        (push["status"].as_u64(), push["details"]["reason"].as_str()),
        (Some(403), Some("role_too_low"))
    );
    assert_eq!(push["details"]["method"], "PUT");
    let anonymous = &events[2];
    assert_eq!(anonymous["action"], "registry.denied");
    assert_eq!(anonymous["actor"], "anonymous");
    assert_eq!(
        (anonymous["status"].as_u64(), anonymous["details"]["reason"].as_str()),
        (Some(401), Some("no_credentials"))
    );
}
