//! The test harness: a real `mcp-platform` service on a loopback port, on a fresh SQLite file
//! or a fresh database of the one PostgreSQL server this test binary starts (on first use,
//! stopped by PID when the binary exits), plus a small HTTP client.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use mcp_platform::{AppState, Config, Platform};
use mcp_testkit::postgres::Postgres;
use serde_json::{Value, json};

/// Which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

struct SharedPg {
    server: Postgres,
}

fn postgres() -> &'static Postgres {
    static PG: OnceLock<SharedPg> = OnceLock::new();
    &PG.get_or_init(|| {
        // Kept past the end of the binary's tests (statics are not dropped): the watchdog
        // stops the server and removes the directory once this process has exited.
        let dir = tempfile::Builder::new().prefix("mcp-platform-pg-").tempdir().expect("tempdir").keep();
        let server = Postgres::start(&dir).unwrap_or_else(|e| panic!("start PostgreSQL: {e}"));
        server.stop_and_remove_when_process_exits(std::process::id()).expect("watchdog");
        SharedPg { server }
    })
    .server
}

struct SharedClickHouse {
    server: mcp_testkit::services::ClickHouse,
}

/// The one ClickHouse server of this test binary (started on first use, stopped by a watchdog
/// when the binary exits).
pub fn clickhouse() -> &'static mcp_testkit::services::ClickHouse {
    static CH: OnceLock<SharedClickHouse> = OnceLock::new();
    &CH.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("mcp-platform-ch-").tempdir().expect("tempdir").keep();
        let server = mcp_testkit::services::ClickHouse::start(&dir)
            .unwrap_or_else(|e| panic!("start ClickHouse: {e}"));
        server.stop_and_remove_when_process_exits(std::process::id()).expect("watchdog");
        SharedClickHouse { server }
    })
    .server
}

/// A fresh, migrated events database on the shared ClickHouse: its config.
pub async fn fresh_events_database() -> mcp_sentinel::ClickHouseConfig {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let url = tokio::task::spawn_blocking(|| clickhouse().url()).await.expect("start ClickHouse");
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut config = mcp_sentinel::ClickHouseConfig::new(url);
    config.database =
        mcp_sentinel::Database::new(&format!("platform_{}_{n}", std::process::id())).expect("database name");
    mcp_sentinel::schema::migrate(&config.client(), &config.database).await.expect("migrate ClickHouse");
    config
}

/// The URL of a fresh PostgreSQL database (for tests outside the harness).
pub fn fresh_postgres_database() -> String {
    postgres().create_database("platform").expect("create database")
}

/// A running service.
pub struct Harness {
    pub base: String,
    pub state: Arc<AppState>,
    pub database_url: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The error code of an error envelope.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub const ADMIN_EMAIL: &str = "admin@example.org";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

impl Harness {
    /// A service on `backend` with extra settings.
    pub async fn start(backend: Backend, settings: &[(&str, &str)]) -> Harness {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Harness::start_bound(backend, listener, settings).await
    }

    /// A service on `backend` serving on `listener` (bound by the caller, who needed the URL
    /// first).
    pub async fn start_bound(
        backend: Backend,
        listener: tokio::net::TcpListener,
        settings: &[(&str, &str)],
    ) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("platform.db").display()),
            Backend::Postgres => {
                tokio::task::spawn_blocking(fresh_postgres_database).await.expect("create db")
            }
        };
        Harness::start_on(backend, &database_url, dir, listener, settings).await
    }

    /// A service on an existing database. `{base}` in a setting's value becomes the service's
    /// base URL (e.g. its OpenID Connect redirect URI).
    pub async fn start_on(
        _backend: Backend,
        database_url: &str,
        dir: tempfile::TempDir,
        listener: tokio::net::TcpListener,
        settings: &[(&str, &str)],
    ) -> Harness {
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("PLATFORM_DATA_DIR".into(), dir.path().display().to_string());
        env.insert("PLATFORM_DATABASE_URL".into(), database_url.to_string());
        env.insert("PLATFORM_LISTEN_ADDR".into(), "127.0.0.1:0".into());
        env.insert("PLATFORM_SHUTDOWN_GRACE_MS".into(), "1000".into());
        if !settings.iter().any(|(k, _)| *k == "PLATFORM_CLICKHOUSE_URL" || *k == "PLATFORM_EVENTS_DB") {
            let events = fresh_events_database().await;
            env.insert("PLATFORM_CLICKHOUSE_URL".into(), events.url.clone());
            env.insert("PLATFORM_CLICKHOUSE_DB".into(), events.database.as_str().to_string());
        }
        for (k, v) in settings {
            env.insert((*k).into(), v.replace("{base}", &base));
        }
        let config = Config::from_source(&env).expect("config");
        let platform = Platform::open(config).await.expect("open platform");
        let state = platform.state().clone();
        if state.store.user_by_email(ADMIN_EMAIL).await.expect("lookup").is_none() {
            mcp_platform::api::new_user(&state, create_user(ADMIN_EMAIL, Some(ADMIN_PASSWORD), true))
                .await
                .expect("seed admin");
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(platform.serve(listener, async move {
            let _ = stopped.await;
        }));
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Harness {
            base,
            state,
            database_url: database_url.to_string(),
            client,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Stops the service and waits for it (audit drained).
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self._dir, dir)
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        self.raw(
            method,
            path,
            token,
            body.map(|b| ("application/json".to_string(), b.to_string().into_bytes())),
            &[],
        )
        .await
    }

    /// Sends a request with a raw body and extra headers.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(String, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some((ct, bytes)) = body {
            req = req.header("content-type", ct).body(bytes);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply { status, body, headers }
    }

    /// Signs in; the token response (panics unless 200).
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let r = self
            .call("POST", "/api/v1/auth/login", None, Some(json!({"email": email, "password": password})))
            .await;
        assert_eq!(r.status, 200, "login {email}: {:?}", r.body);
        r.body
    }

    /// The administrator's access token.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"].as_str().expect("token").to_string()
    }

    /// Creates a password account directly through the library; returns its id.
    pub async fn user(&self, email: &str, password: &str) -> String {
        mcp_platform::api::new_user(&self.state, create_user(email, Some(password), false))
            .await
            .expect("create user")
            .id
    }

    /// Creates a user and signs them in; (id, access token).
    pub async fn signed_in(&self, email: &str) -> (String, String) {
        let id = self.user(email, "password-123").await;
        let t = self.login(email, "password-123").await;
        (id, t["access_token"].as_str().expect("token").to_string())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn create_user(email: &str, password: Option<&str>, admin: bool) -> mcp_platform::api::CreateUser {
    mcp_platform::api::CreateUser {
        email: email.into(),
        password: password.map(String::from),
        display_name: None,
        kind: None,
        admin: Some(admin),
    }
}

/// Runs a suite case on both backends: `both!(name)` defines `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::support::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::support::Backend::Postgres).await;
                }
            )*
        }
    };
}
