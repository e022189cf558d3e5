//! `cargo bench -p mcp-platform --bench api` (run by `cargo xtask bench platform`): the
//! platform on its embedded store with 10,000 accounts, measured over loopback HTTP:
//! - latency of an authenticated list (`GET /api/v1/users?limit=50`, 10,000 objects behind it);
//! - requests/s of `GET /api/v1/me` with an access token and with an API key, against the
//!   unauthenticated `GET /health` in the same run (8 concurrent clients, keep-alive);
//! - the cost of one password sign-in (argon2id at the documented parameters).
//!
//! Writes JSON to `$MCP_BENCH_OUT` (default: stdout).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mcp_platform::store::{User, now};
use mcp_platform::{Config, Platform};
use serde_json::{Value, json};

const ACCOUNTS: usize = 10_000;
const LIST_SAMPLES: usize = 2_000;
const LOGIN_SAMPLES: usize = 30;
const CLIENTS: usize = 8;
const THROUGHPUT_TIME: Duration = Duration::from_secs(4);

fn stats(mut samples: Vec<Duration>) -> Value {
    samples.sort();
    let pick = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_nanos() as f64
    };
    json!({"samples": samples.len(), "median_ns": pick(0.5), "p99_ns": pick(0.99), "max_ns": pick(1.0)})
}

async fn throughput(client: &reqwest::Client, url: &str, token: Option<&str>) -> Value {
    let deadline = Instant::now() + THROUGHPUT_TIME;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = client.clone();
        let url = url.to_string();
        let token = token.map(String::from);
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let mut req = client.get(&url);
                if let Some(t) = &token {
                    req = req.header("authorization", format!("Bearer {t}"));
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        n += 1;
                    }
                    _ => errors += 1,
                }
            }
            (n, errors)
        }));
    }
    let (mut n, mut errors) = (0, 0);
    for t in tasks {
        let (a, b) = t.await.expect("client task");
        n += a;
        errors += b;
    }
    json!({"requests_per_s": n as f64 / THROUGHPUT_TIME.as_secs_f64(), "errors": errors})
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let report = runtime.block_on(run());
    let text = serde_json::to_string_pretty(&report).expect("json");
    match std::env::var_os("MCP_BENCH_OUT") {
        Some(path) => std::fs::write(path, text).expect("write results"),
        None => println!("{text}"),
    }
}

async fn run() -> Value {
    let dir = tempfile::tempdir().expect("dir");
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("PLATFORM_DATA_DIR".into(), dir.path().display().to_string());
    env.insert("RUST_LOG".into(), "warn".into());
    let config = Config::from_source(&env).expect("config");
    let platform = Platform::open(config).await.expect("open");
    let state = platform.state().clone();
    let admin = mcp_platform::api::CreateUser {
        email: "admin@bench.local".into(),
        password: Some("bench-password-1".into()),
        display_name: None,
        kind: None,
        admin: Some(true),
    };
    mcp_platform::api::new_user(&state, admin).await.expect("admin");
    for i in 0..ACCOUNTS {
        let user = User {
            id: uuid::Uuid::now_v7().to_string(),
            email: format!("user{i:05}@bench.local"),
            display_name: format!("User {i}"),
            kind: "human".into(),
            is_admin: false,
            created_at: now(),
            disabled_at: None,
            password_hash: None,
        };
        state.store.create_user(&user).await.expect("seed");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(platform.serve(listener, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS * 2).build().expect("client");
    let login_body = json!({"email": "admin@bench.local", "password": "bench-password-1"}).to_string();

    let mut logins = Vec::new();
    let mut token = String::new();
    for _ in 0..LOGIN_SAMPLES {
        let t = Instant::now();
        let r = client
            .post(format!("{base}/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body(login_body.clone())
            .send()
            .await
            .expect("login");
        let body: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
        logins.push(t.elapsed());
        token = body["access_token"].as_str().expect("token").to_string();
    }
    let key: Value = serde_json::from_slice(
        &client
            .post(format!("{base}/api/v1/api-keys"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(json!({"name": "bench"}).to_string())
            .send()
            .await
            .expect("key")
            .bytes()
            .await
            .expect("body"),
    )
    .expect("json");
    let api_key = key["key"].as_str().expect("api key").to_string();

    // Warm-up, then the list latency.
    let list_url = format!("{base}/api/v1/users?limit=50");
    let mut list = Vec::new();
    for i in 0..(LIST_SAMPLES + 200) {
        let t = Instant::now();
        let r = client
            .get(&list_url)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .expect("list");
        assert!(r.status().is_success());
        let _ = r.bytes().await;
        if i >= 200 {
            list.push(t.elapsed());
        }
    }
    let health = throughput(&client, &format!("{base}/health"), None).await;
    let me_token = throughput(&client, &format!("{base}/api/v1/me"), Some(&token)).await;
    let me_key = throughput(&client, &format!("{base}/api/v1/me"), Some(&api_key)).await;
    let _ = stop.send(());
    let _ = server.await;
    json!({
        "accounts": ACCOUNTS,
        "clients": CLIENTS,
        "throughput_seconds": THROUGHPUT_TIME.as_secs(),
        "backend": "sqlite",
        "list": stats(list),
        "login": stats(logins),
        "health": health,
        "me_access_token": me_token,
        "me_api_key": me_key,
    })
}
