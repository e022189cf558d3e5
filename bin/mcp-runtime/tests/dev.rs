//! `mcp-runtime dev`, the real binary: the README's first command and its printed call; a
//! kill -9 in the middle of 1,000 calls, then a restart that has an audit event for every
//! answered call and every object intact; a stdio server started by command (the official
//! Python SDK) and a remote MCP URL, both governed end to end.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-runtime");
const README: &str = include_str!("../../../README.md");
const STDIO_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stdio_server.py");

/// A running `mcp-runtime dev` and what it printed.
struct Dev {
    child: Child,
    url: String,
    curl: String,
    password: Option<String>,
    key: String,
    stderr: Arc<Mutex<String>>,
}

impl Dev {
    /// Starts the binary on a free port with `data`, waiting for its welcome text.
    fn start(data: &Path, extra: &[&str]) -> Dev {
        let mut child = Command::new(BIN)
            .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(extra)
            .env("MCP_DEV_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mcp-runtime dev");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut text = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !text.contains("Data directory:") {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    text.push_str(&line);
                    text.push('\n');
                }
                Err(_) => {
                    panic!("no welcome from dev; stdout:\n{text}\nstderr:\n{}", stderr.lock().expect("lock"))
                }
            }
        }
        let field = |prefix: &str| {
            text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
        };
        let url = field("Dashboard and API:").expect("url").trim_end_matches('/').to_string();
        let curl = field("curl ").map(|rest| format!("curl {rest}")).expect("the copy-paste call");
        let password = field("password:")
            .and_then(|p| p.split_whitespace().next().map(String::from))
            .filter(|p| !p.starts_with("the"));
        let key =
            std::fs::read_to_string(data.join("admin-api-key")).expect("the dev API key").trim().to_string();
        Dev { child, url, curl, password, key, stderr }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let client = reqwest::Client::new();
        let mut req = client
            .request(method.parse().expect("method"), format!("{}{path}", self.url))
            .header("authorization", format!("Bearer {}", self.key));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let res = req.send().await.expect("platform request");
        let status = res.status().as_u16();
        let bytes = res.bytes().await.expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The JSON-RPC answer in a response body (plain JSON or one SSE `data:` event).
fn answer(body: &str) -> Value {
    // SSE: the first `data:` line carrying a JSON-RPC message (a priming event may be empty).
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("jsonrpc").is_some())
        .or_else(|| serde_json::from_str(body.trim()).ok())
        .unwrap_or(Value::Null)
}

/// One MCP client session through a governed route: initialize, then calls.
struct Mcp {
    client: reqwest::Client,
    url: String,
    token: String,
    session: Option<String>,
}

impl Mcp {
    async fn open(url: &str, token: &str) -> Mcp {
        let mut m =
            Mcp { client: reqwest::Client::new(), url: url.into(), token: token.into(), session: None };
        let (status, init, session) = m
            .post(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "dev-test", "version": "1"}}}))
            .await;
        assert_eq!(status, 200, "initialize: {init}");
        m.session = session;
        m.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        m
    }

    async fn post(&self, body: Value) -> (u16, Value, Option<String>) {
        self.try_post(body).await.expect("MCP request")
    }

    /// [`Mcp::post`], with a broken connection (the server was killed) as `None`.
    async fn try_post(&self, body: Value) -> Option<(u16, Value, Option<String>)> {
        let mut req = self
            .client
            .post(&self.url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18");
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        let res = req.body(body.to_string()).send().await.ok()?;
        let status = res.status().as_u16();
        let session = res.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(String::from);
        let text = res.text().await.ok()?;
        Some((status, answer(&text), session))
    }

    async fn call(&self, id: u64, tool: &str, args: Value) -> (u16, Value) {
        let (status, a, _) = self
            .post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}}))
            .await;
        (status, a)
    }
}

/// The README starts with the embedded platform; what it prints is a call that works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_first_command_serves_and_its_printed_call_works() {
    let first = README
        .split("```sh")
        .nth(1)
        .and_then(|block| block.lines().map(str::trim).find(|l| !l.is_empty()))
        .expect("a first sh block");
    assert_eq!(first, "cargo run --release -p mcp-runtime -- dev", "the README's first command");
    let data = tempfile::tempdir().expect("tempdir");
    let dev = Dev::start(data.path(), &[]);
    assert!(dev.password.as_deref().is_some_and(|p| p.len() >= 16), "a generated password is printed once");

    // The printed call, run as a user would paste it.
    let out = Command::new("sh").arg("-c").arg(&dev.curl).output().expect("run the printed curl");
    let body = String::from_utf8_lossy(&out.stdout);
    let a = answer(&body);
    assert_eq!(a["result"]["content"][0]["text"], "5", "the governed call answers: {body}");

    // The administrator signs in with the printed password; the dashboard answers.
    let client = reqwest::Client::new();
    let login = client
        .post(format!("{}/api/v1/auth/login", dev.url))
        .header("content-type", "application/json")
        .body(json!({"email": "admin@mcp-runtime.dev", "password": dev.password}).to_string())
        .send()
        .await
        .expect("login");
    assert_eq!(login.status().as_u16(), 200);
    // The call is in analytics, attributed to the demo agent.
    let (status, events) = dev.api("GET", "/api/v1/events?tool_name=add&server=demo", None).await;
    assert_eq!(status, 200, "{events}");
    let e = &events["events"][0];
    assert_eq!((e["decision"].as_str(), e["reason"].as_str()), (Some("allow"), Some("allowed")), "{e}");

    // The in-process ingest endpoint takes events only with this process's own key.
    for key in [None, Some("guess")] {
        let mut req =
            client.post(format!("{}/internal/ingest", dev.url)).header("content-type", "application/json");
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let r = req
            .body(json!({"source": "x", "event_type": "mcp.request", "payload": {}}).to_string())
            .send()
            .await
            .expect("ingest");
        assert_eq!(r.status().as_u16(), 401, "a forged audit event is refused ({key:?})");
    }

    // A second start on the same directory: no new password, the same objects.
    drop(dev);
    let again = Dev::start(data.path(), &[]);
    assert!(again.password.is_none(), "the password is shown on the first start only");
    let out = Command::new("sh").arg("-c").arg(&again.curl).output().expect("run the printed curl");
    assert_eq!(answer(&String::from_utf8_lossy(&out.stdout))["result"]["content"][0]["text"], "5");
}

/// kill -9 during 1,000 calls, then a restart: every answered call has exactly one audit event,
/// and grants, sessions, keys and teams are intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_calls_loses_no_answered_call_and_no_object() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut dev = Dev::start(data.path(), &[]);
    let token =
        dev.curl.split("Bearer ").nth(1).and_then(|r| r.split('\'').next()).expect("token").to_string();
    let route = format!("{}/demo/mcp", dev.url);
    let before = snapshot(&dev).await;

    let answered = Arc::new(Mutex::new(Vec::<u64>::new()));
    let next = Arc::new(AtomicU64::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (answered, next, stop, route, token) =
            (answered.clone(), next.clone(), stop.clone(), route.clone(), token.clone());
        workers.push(tokio::spawn(async move {
            let m = Mcp { client: reqwest::Client::new(), url: route, token, session: None };
            loop {
                let id = next.fetch_add(1, Ordering::SeqCst);
                if id > 1000 || stop.load(Ordering::SeqCst) {
                    return;
                }
                let req = m.try_post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": "add", "arguments": {"a": id, "b": 1}}}));
                // A call is answered when its whole body arrived with its result.
                if let Ok(Some((200, a, _))) = tokio::time::timeout(Duration::from_secs(10), req).await
                    && a["result"]["content"][0]["text"].as_str() == Some((id + 1).to_string().as_str())
                {
                    answered.lock().expect("lock").push(id);
                }
            }
        }));
    }
    // Kill once a few hundred calls were answered.
    let started = Instant::now();
    while answered.lock().expect("lock").len() < 300 && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = Command::new("kill").args(["-9", &dev.child.id().to_string()]).status();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.await;
    }
    dev.kill();
    let answered = answered.lock().expect("lock").clone();
    assert!(answered.len() >= 300, "only {} calls answered before the kill", answered.len());
    drop(dev);

    let dev = Dev::start(data.path(), &[]);
    // Every event of a call to `add` through the demo route, by JSON-RPC id.
    let mut seen: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/events?tool_name=add&limit=1000&cursor={c}"),
            None => "/api/v1/events?tool_name=add&limit=1000".to_string(),
        };
        let (status, page) = dev.api("GET", &path, None).await;
        assert_eq!(status, 200, "{page}");
        for e in page["events"].as_array().expect("events") {
            if let Some(id) = e["payload"]["jsonrpc_id"].as_u64() {
                *seen.entry(id).or_default() += 1;
            }
        }
        cursor = page["meta"]["next_cursor"].as_str().map(String::from);
        if cursor.is_none() {
            break;
        }
    }
    let missing: Vec<u64> = answered.iter().copied().filter(|id| !seen.contains_key(id)).collect();
    assert!(missing.is_empty(), "answered calls without an event: {missing:?}");
    let doubled: Vec<(u64, u32)> = seen.iter().filter(|(_, n)| **n > 1).map(|(i, n)| (*i, *n)).collect();
    assert!(doubled.is_empty(), "calls with more than one event: {doubled:?}");
    assert_eq!(snapshot(&dev).await, before, "teams, grants, sessions and keys survive the kill");
    eprintln!(
        "kill -9 after {} answered calls; {} events found after the restart",
        answered.len(),
        seen.len()
    );
}

/// Names of the teams, grants, sessions and API keys.
async fn snapshot(dev: &Dev) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (path, field, key) in [
        ("/api/v1/teams", "items", "name"),
        ("/api/v1/runtime/grants", "items", "name"),
        ("/api/v1/runtime/sessions", "items", "name"),
        ("/api/v1/api-keys", "items", "name"),
    ] {
        let (status, body) = dev.api("GET", path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        let list = body[field].as_array().or(body.as_array()).cloned().unwrap_or_default();
        let mut names: Vec<String> = list
            .iter()
            .map(|i| {
                // Teams and keys carry `name`; grants and sessions `{team, grant|session: {metadata}}`.
                i[key]
                    .as_str()
                    .or(i["grant"]["metadata"]["name"].as_str())
                    .or(i["session"]["metadata"]["name"].as_str())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        names.sort();
        assert!(
            !names.is_empty() && names.iter().all(|n| !n.is_empty()),
            "{path} lists named objects: {body}"
        );
        out.push(names);
    }
    out
}

/// A stdio server started by command (the Python SDK) and a remote MCP URL (an rmcp server on
/// another port) are governed like the built-in one: granted tools answer, others are denied
/// with their reason, and both are audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_command_and_a_remote_url_are_governed() {
    let python = tokio::task::spawn_blocking(mcp_testkit::python::python).await.expect("venv");
    let remote = mcp_testkit::ExampleServer::start("/mcp").await.expect("remote example server");
    let data = tempfile::tempdir().expect("tempdir");
    let stdio = format!("py={} {STDIO_SERVER}", python.display());
    let remote_url = format!("rem=http://{}/mcp", remote.addr);
    let dev = Dev::start(data.path(), &["--stdio", &stdio, "--remote", &remote_url]);

    let (_, agents) = dev.api("GET", "/api/v1/runtime/teams/demo/agents", None).await;
    let agent = agents["items"][0]["id"].as_str().expect("the demo agent").to_string();
    let (_, me) = dev.api("GET", "/api/v1/me", None).await;
    let human = me["id"].as_str().or(me["user"]["id"].as_str()).expect("me").to_string();
    // `up` names no flag: its spec's `upstream.url` is the same remote server.
    let up_url = format!("http://{}/mcp", remote.addr);
    for (server, tools, granted) in [
        ("py", ["shout", "secret"], "shout"),
        ("rem", ["add", "upper"], "add"),
        ("up", ["add", "upper"], "add"),
    ] {
        let tools: Vec<Value> = tools.iter().map(|t| json!({"name": t, "sideEffect": "read"})).collect();
        let spec = if server == "up" {
            json!({"upstream": {"url": up_url}, "tools": tools})
        } else {
            json!({"image": "external", "tools": tools})
        };
        let (status, body) = dev
            .api(
                "POST",
                "/api/v1/runtime/servers",
                Some(json!({"team": "demo", "name": server, "spec": spec})),
            )
            .await;
        assert_eq!(status, 201, "publish {server}: {body}");
        let (status, body) = dev
            .api(
                "POST",
                "/api/v1/runtime/grants",
                Some(json!({"team": "demo", "name": format!("{server}-grant"), "spec": {
                "serverRef": {"name": server}, "subject": {"humanID": human, "agentID": agent},
                "maxTrust": "low", "allowedSideEffects": ["read"],
                "toolRules": [{"name": granted, "decision": "allow"}]}})),
            )
            .await;
        assert_eq!(status, 201, "grant {server}: {body}");
    }
    let token = |server: &'static str| {
        let dev = &dev;
        let agent = agent.clone();
        async move {
            let (status, issued) = dev
                .api(
                    "POST",
                    "/api/v1/runtime/adapter/sessions",
                    Some(json!({"serverName": server, "team": "demo", "agentID": agent})),
                )
                .await;
            assert!(status == 200 || status == 201, "{issued}");
            issued["token"].as_str().expect("token").to_string()
        }
    };
    // The gateways follow the published servers within a sync period.
    let route = |s: &str| format!("{}/{s}/mcp", dev.url);
    let wait_routed = |s: &'static str| {
        let url = route(s);
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let r = reqwest::Client::new().post(&url).body("{}").send().await.expect("route");
                if r.status().as_u16() != 404 || Instant::now() > deadline {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_routed("py").await;
    wait_routed("rem").await;

    let py = Mcp::open(&route("py"), &token("py").await).await;
    let (status, a) = py.call(1, "shout", json!({"text": "governed"})).await;
    assert_eq!(status, 200, "{a}");
    assert!(a["result"]["content"][0]["text"].as_str().is_some_and(|t| t.contains("GOVERNED!")), "{a}");
    let (status, a) = py.call(2, "secret", json!({})).await;
    assert_eq!((status, a["error"]["data"]["reason"].as_str()), (403, Some("tool_not_granted")), "{a}");

    let rem = Mcp::open(&route("rem"), &token("rem").await).await;
    let (status, a) = rem.call(1, "add", json!({"a": 40, "b": 2})).await;
    assert_eq!((status, a["result"]["content"][0]["text"].as_str()), (200, Some("42")), "{a}");
    let (status, a) = rem.call(2, "upper", json!({"text": "x"})).await;
    assert_eq!((status, a["error"]["data"]["reason"].as_str()), (403, Some("tool_not_granted")), "{a}");

    wait_routed("up").await;
    let up = Mcp::open(&route("up"), &token("up").await).await;
    let (status, a) = up.call(1, "add", json!({"a": 1, "b": 2})).await;
    assert_eq!((status, a["result"]["content"][0]["text"].as_str()), (200, Some("3")), "spec.upstream: {a}");

    for (server, allowed, denied) in [("py", "shout", "secret"), ("rem", "add", "upper")] {
        let (_, page) =
            dev.api("GET", &format!("/api/v1/events?server={server}&rpc_method=tools/call"), None).await;
        let decisions: Vec<(String, String)> = page["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| {
                (e["tool_name"].as_str().unwrap_or("").into(), e["decision"].as_str().unwrap_or("").into())
            })
            .collect();
        assert!(decisions.contains(&(allowed.into(), "allow".into())), "{server}: {decisions:?}");
        assert!(decisions.contains(&(denied.into(), "deny".into())), "{server}: {decisions:?}");
    }
    // The supervised process is reported, for administrators only.
    let (status, servers) = dev.api("GET", "/api/v1/dev/servers", None).await;
    assert_eq!(status, 200, "{servers}");
    let py = servers["processes"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "py"))
        .cloned()
        .unwrap_or_default();
    assert_eq!((py["kind"].as_str(), py["state"].as_str()), (Some("stdio"), Some("running")), "{servers}");
    assert!(servers["routed"].as_array().is_some_and(|r| r.iter().any(|n| n == "rem")), "{servers}");
    let anonymous = reqwest::get(format!("{}/api/v1/dev/servers", dev.url)).await.expect("get");
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(dev.stderr.lock().map(|s| !s.contains("panicked")).unwrap_or(true));
}

/// The dashboard flow in headless Chromium (the platform's own browser script,
/// `lib/platform/tests/browser/dashboard.mjs`, with axe-core on every page) against
/// `mcp-runtime dev`: sign in with the printed password → publish the example → grant → a
/// governed call through the dev route → analytics → revoke → the denial with its reason →
/// replay → sign out → a viewer cannot reach admin pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_flow_in_chromium_against_dev() {
    const SCRIPT: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../lib/platform/tests/browser/dashboard.mjs");
    let tools = tokio::task::spawn_blocking(mcp_testkit::browser::install)
        .await
        .expect("install")
        .unwrap_or_else(|e| panic!("browser tools: {e}"));
    let data = tempfile::tempdir().expect("tempdir");
    let dev = Dev::start(data.path(), &[]);
    let password = dev.password.clone().expect("the first start prints the password");
    let (status, user) = dev
        .api(
            "POST",
            "/api/v1/users",
            Some(json!({"email": "viewer@example.org", "password": "password-123"})),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let viewer = user["id"].as_str().or(user["user"]["id"].as_str()).expect("viewer id").to_string();
    let (status, body) = dev
        .api("PUT", &format!("/api/v1/teams/demo/members/{viewer}"), Some(json!({"role": "viewer"})))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, agents) = dev.api("GET", "/api/v1/runtime/teams/demo/agents", None).await;
    let agent = agents["items"][0]["id"].as_str().expect("the demo agent").to_string();

    // GET /call?tool=… makes one governed call through the dev route of `example` (published
    // by the script), as the demo agent.
    #[derive(Clone)]
    struct Caller {
        url: String,
        key: String,
        agent: String,
        token: Arc<tokio::sync::Mutex<Option<String>>>,
        next: Arc<AtomicU64>,
    }
    async fn call(
        axum::extract::State(c): axum::extract::State<Caller>,
        axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
    ) -> axum::Json<Value> {
        let client = reqwest::Client::new();
        let mut slot = c.token.lock().await;
        if slot.is_none() {
            let issued = client
                .post(format!("{}/api/v1/runtime/adapter/sessions", c.url))
                .header("authorization", format!("Bearer {}", c.key))
                .header("content-type", "application/json")
                .body(json!({"serverName": "example", "team": "demo", "agentID": c.agent}).to_string())
                .send()
                .await
                .expect("issue");
            let issued: Value =
                serde_json::from_slice(&issued.bytes().await.expect("body")).unwrap_or_default();
            *slot = issued["token"].as_str().map(String::from);
        }
        let token = slot.clone().unwrap_or_default();
        drop(slot);
        let m = Mcp { client, url: format!("{}/example/mcp", c.url), token, session: None };
        let id = c.next.fetch_add(1, Ordering::SeqCst);
        let tool = q.get("tool").cloned().unwrap_or_else(|| "echo".into());
        // The gateway follows a new server within a sync period: a 404 right after publishing
        // is retried.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (status, a, _) = m
                .post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": tool, "arguments": {"text": "hello"}}}))
                .await;
            if status != 404 || Instant::now() > deadline {
                return axum::Json(json!({"status": status, "body": a.to_string()}));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let caller = Caller {
        url: dev.url.clone(),
        key: dev.key.clone(),
        agent: agent.clone(),
        token: Arc::default(),
        next: Arc::new(AtomicU64::new(1)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let helper = listener.local_addr().expect("addr");
    let app = axum::Router::new().route("/call", axum::routing::get(call)).with_state(caller);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let out = tempfile::Builder::new().prefix("mcp-dev-dashboard-").tempdir().expect("out");
    let mut cmd = Command::new(&tools.node);
    cmd.arg(SCRIPT)
        .env("BASE_URL", &dev.url)
        .env("ADMIN_EMAIL", "admin@mcp-runtime.dev")
        .env("ADMIN_PASSWORD", &password)
        .env("USER_EMAIL", "viewer@example.org")
        .env("USER_PASSWORD", "password-123")
        .env("TEAM", "demo")
        .env("AGENT_ID", &agent)
        .env("CALL_URL", format!("http://{helper}/call"))
        .env("OUT_DIR", out.path())
        .env("CHROMIUM", &tools.chromium)
        .env("PLAYWRIGHT_MODULES", &tools.playwright)
        .env("AXE_MODULES", &tools.axe);
    let output = tokio::task::spawn_blocking(move || {
        mcp_testkit::python::run(&mut cmd, Duration::from_secs(300)).unwrap_or_else(|e| panic!("node: {e}"))
    })
    .await
    .expect("browser script");
    let text =
        format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the browser flow against dev failed:\n{text}\ndev stderr:\n{}",
        dev.stderr.lock().expect("lock")
    );
    let shots = std::fs::read_dir(out.path())
        .expect("shots")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .count();
    assert!(shots >= 10, "screenshots of every page ({shots})");
}
