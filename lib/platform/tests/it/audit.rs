//! Platform audit events reach ingest in the `lib/events` envelope, and are spooled and
//! replayed when ingest is down. The receiver here accepts what ingest accepts (it reads every
//! element with `mcp_events::Envelope::from_value`, as ingest does) and can be switched to
//! answer 503 like an ingest whose broker is down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Backend, Harness};

#[derive(Default)]
struct Ingest {
    up: AtomicBool,
    refused: Mutex<u32>,
    events: Mutex<Vec<Value>>,
}

async fn receive(
    State(ingest): State<Arc<Ingest>>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    if !ingest.up.load(Ordering::SeqCst) {
        *ingest.refused.lock().expect("lock") += 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("ingest-key") {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    for item in &items {
        if mcp_events::Envelope::from_value(item.clone()).is_err() {
            return StatusCode::BAD_REQUEST;
        }
    }
    ingest.events.lock().expect("lock").extend(items);
    StatusCode::ACCEPTED
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changes_are_audited_through_ingest_and_spooled_while_it_is_down() {
    let ingest = Arc::new(Ingest::default());
    let app = axum::Router::new().route("/events", axum::routing::post(receive)).with_state(ingest.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let h = Harness::start(
        Backend::Sqlite,
        &[("ANALYTICS_INGEST_URL", &url), ("ANALYTICS_API_KEY", "ingest-key")],
    )
    .await;
    let admin = h.admin_token().await;
    let (alice_id, _) = h.signed_in("alice@example.org").await;
    let bad = h
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "alice@example.org", "password": "wrong-one"})),
        )
        .await;
    assert_eq!(bad.status, 401);
    let team = h
        .call("POST", "/api/v1/teams", Some(&admin), Some(json!({"name": "audited", "owner_id": alice_id})))
        .await;
    assert_eq!(team.status, 201);
    let denied = h.call("POST", "/api/v1/teams", Some(&admin), Some(json!({"name": "Not Valid"}))).await;
    assert_eq!(denied.status, 400);
    // Reads are not audited.
    assert_eq!(h.call("GET", "/api/v1/teams", Some(&admin), None).await.status, 200);

    // Ingest is down: the batches wait in the spool.
    let spool = h.state.config.audit.spool_dir.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "nothing spooled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(*ingest.refused.lock().expect("lock") >= 1);
    assert!(ingest.events.lock().expect("lock").is_empty());

    // Ingest is back: everything arrives, once, in the envelope.
    ingest.up.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = ingest.events.lock().expect("lock").len();
        let spooled = std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0);
        if n >= 5 && spooled == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "not replayed: {n} events, {spooled} spool files");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = ingest.events.lock().expect("lock").clone();
    let mut ids: Vec<&str> = events.iter().filter_map(|e| e["event_id"].as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    for e in &events {
        assert_eq!(e["source"], "mcp-platform");
        assert_eq!(e["event_type"], "platform.audit");
    }
    let find = |action: &str, outcome: &str| {
        events
            .iter()
            .find(|e| e["payload"]["action"] == action && e["payload"]["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {action}/{outcome} event in {events:#?}"))
            .clone()
    };
    let login_fail = find("auth.login", "failure");
    assert_eq!(login_fail["payload"]["status"], 401);
    assert_eq!(login_fail["payload"]["actor"], "anonymous");
    assert_eq!(login_fail["payload"]["object"], "alice@example.org");
    assert_eq!(login_fail["payload"]["client_ip"], "127.0.0.1");
    let login_ok = find("auth.login", "success");
    assert_eq!(login_ok["payload"]["auth"], "password");
    let created = find("team.create", "success");
    let admin_id =
        h.state.store.user_by_email(crate::support::ADMIN_EMAIL).await.expect("lookup").expect("admin").id;
    assert_eq!(created["payload"]["actor"], json!(admin_id));
    assert_eq!(created["payload"]["auth"], "access_token");
    assert_eq!(created["payload"]["object_type"], "team");
    assert_eq!(created["payload"]["object"], "audited");
    assert_eq!(created["payload"]["details"]["owner"], json!(alice_id));
    let refused = find("team.create", "failure");
    assert_eq!(
        (refused["payload"]["status"].as_u64(), refused["payload"]["error_code"].as_str()),
        (Some(400), Some("invalid_request"))
    );
    assert_eq!(refused["payload"]["actor"], json!(admin_id));
    assert!(!events.iter().any(|e| e["payload"]["action"] == "team.list"));
    assert_eq!(h.state.audit.dropped(), 0);
}
