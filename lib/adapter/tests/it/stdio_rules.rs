//! The rules of `adapter stdio` that a healthy gateway cannot provoke (502s, a session the
//! route forgot, list_changed), against a scripted route on loopback: the adapter's own
//! transport, in process, over an in-memory stdin/stdout.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mcp_adapter::stdio::{self, StdioOptions};
use mcp_adapter::{Identity, StaticIdentity, Upstream};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// What the scripted route saw: requests per method, and the last Authorization and session.
#[derive(Default)]
struct Seen {
    count: HashMap<String, usize>,
    headers: Vec<(String, Option<String>, Option<String>)>,
}

async fn route(req: Request<Incoming>, seen: Arc<Mutex<Seen>>) -> Response<Full<Bytes>> {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let session = req.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if req.method() != http::Method::POST {
        let mut res = Response::new(Full::new(Bytes::new()));
        *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return res;
    }
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let method = msg["method"].as_str().unwrap_or("response").to_owned();
    let n = {
        let mut s = seen.lock().expect("seen");
        s.headers.push((method.clone(), auth, session));
        let n = s.count.entry(method.clone()).or_default();
        *n += 1;
        *n
    };
    let id = msg["id"].clone();
    let json = |status: u16, v: Value| {
        let mut res = Response::new(Full::new(Bytes::from(v.to_string())));
        *res.status_mut() = StatusCode::from_u16(status).expect("status");
        res.headers_mut().insert("content-type", "application/json".parse().expect("ct"));
        res
    };
    match method.as_str() {
        "initialize" => {
            let mut res = json(
                200,
                json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": "2025-06-18", "capabilities": {"tools": {"listChanged": true}},
                "serverInfo": {"name": "scripted", "version": "1"}}}),
            );
            res.headers_mut().insert("mcp-session-id", "sess-1".parse().expect("sid"));
            res
        }
        "notifications/initialized" => json(202, Value::Null).map(|_| Full::new(Bytes::new())),
        // Two 502s, then an answer.
        "tools/list" if n % 3 != 0 => json(502, json!({"error": "bad_gateway"})),
        "tools/list" => json(
            200,
            json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [{"name": "t", "inputSchema": {"type": "object"}}]}}),
        ),
        "tools/call" if msg["params"]["name"] == "flaky" => json(502, json!({"error": "bad_gateway"})),
        "tools/call" => json(
            403,
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32001,
            "message": "the tool is not granted", "data": {"reason": "tool_not_granted"}}}),
        ),
        // An SSE answer: a list_changed notification, then the ping's result.
        "ping" => {
            let text = format!(
                "id: 1\ndata: {}\n\ndata: {}\n\n",
                json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                json!({"jsonrpc": "2.0", "id": id, "result": {}})
            );
            let mut res = Response::new(Full::new(Bytes::from(text)));
            res.headers_mut().insert("content-type", "text/event-stream".parse().expect("ct"));
            res
        }
        "resources/list" => json(404, Value::Null).map(|_| Full::new(Bytes::new())),
        _ => json(202, Value::Null).map(|_| Full::new(Bytes::new())),
    }
}

async fn start_route() -> (SocketAddr, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(route(req, state).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

struct Client {
    input: tokio::io::DuplexStream,
    output: tokio::io::Lines<BufReader<tokio::io::DuplexStream>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Client {
    async fn send(&mut self, line: &str) {
        self.input.write_all(format!("{line}\n").as_bytes()).await.expect("write");
    }

    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(10), self.output.next_line())
            .await
            .expect("an answer within 10 s")
            .expect("read")
            .expect("a line");
        serde_json::from_str(&line).expect("JSON line")
    }
}

fn start_adapter(addr: SocketAddr, options: StdioOptions) -> Client {
    let upstream = Upstream::new(&format!("http://{addr}/mcp"), &Default::default()).expect("route");
    let identity = Arc::new(StaticIdentity::new(Identity::fixed("tok-1")));
    let (input, adapter_in) = tokio::io::duplex(1 << 16);
    let (adapter_out, output) = tokio::io::duplex(1 << 16);
    let task =
        tokio::spawn(stdio::run(upstream, identity, options, adapter_in, adapter_out, Arc::new(|_| {})));
    Client { input, output: BufReader::new(output).lines(), task }
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

#[tokio::test]
async fn lines_before_initialize_and_unparsable_lines_get_errors() {
    let (addr, seen) = start_route().await;
    let mut c = start_adapter(addr, StdioOptions::default());
    c.send("{not json").await;
    let e = c.recv().await;
    assert_eq!(e["error"]["code"], -32700, "{e}");
    c.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#).await;
    let e = c.recv().await;
    assert_eq!((e["id"].clone(), e["error"]["code"].clone()), (json!(1), json!(-32000)), "{e}");
    assert_eq!(e["error"]["message"], "session not established");
    assert!(seen.lock().expect("seen").count.is_empty(), "nothing reached the route");
}

#[tokio::test]
async fn reads_are_retried_calls_never_and_denials_carry_the_reason() {
    let (addr, seen) = start_route().await;
    let mut c = start_adapter(addr, StdioOptions { open_get_stream: false, ..StdioOptions::default() });
    c.send(INIT).await;
    assert_eq!(c.recv().await["result"]["protocolVersion"], "2025-06-18");
    c.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).await;
    c.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#).await;
    let list = c.recv().await;
    assert_eq!(list["result"]["tools"][0]["name"], "t", "answered after two 502s: {list}");
    c.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"flaky"}}"#).await;
    let e = c.recv().await;
    assert_eq!(e["error"]["message"], "bad_gateway", "the reason of the body: {e}");
    assert_eq!(e["error"]["data"]["http_status"], 502);
    c.send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"secret"}}"#).await;
    let e = c.recv().await;
    assert_eq!(e["id"], 4);
    assert_eq!(e["error"]["code"], -32000);
    assert_eq!(e["error"]["message"], "tool_not_granted");
    assert_eq!(e["error"]["data"]["reason"], "tool_not_granted");
    assert_eq!(e["error"]["data"]["http_status"], 403);
    let s = seen.lock().expect("seen");
    assert_eq!(s.count["tools/list"], 3, "two retries");
    assert_eq!(s.count["tools/call"], 2, "a tools/call is sent once, even after a 502");
    for (method, auth, session) in &s.headers {
        assert_eq!(auth.as_deref(), Some("Bearer tok-1"), "{method}");
        if method != "initialize" {
            assert_eq!(session.as_deref(), Some("sess-1"), "{method}");
        }
    }
}

#[tokio::test]
async fn the_tools_cache_is_emptied_by_list_changed_and_sse_frames_flow_through() {
    let (addr, seen) = start_route().await;
    let mut c = start_adapter(addr, StdioOptions { open_get_stream: false, ..StdioOptions::default() });
    c.send(INIT).await;
    c.recv().await;
    c.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#).await;
    c.recv().await;
    c.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).await;
    let cached = c.recv().await;
    assert_eq!((cached["id"].clone(), cached["result"]["tools"][0]["name"].clone()), (json!(3), json!("t")));
    assert_eq!(seen.lock().expect("seen").count["tools/list"], 3, "the second list came from the cache");
    c.send(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#).await;
    assert_eq!(c.recv().await["method"], "notifications/tools/list_changed", "SSE frames are written");
    assert_eq!(c.recv().await["id"], 4);
    c.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#).await;
    c.recv().await;
    assert_eq!(
        seen.lock().expect("seen").count["tools/list"],
        6,
        "after list_changed the route is asked again"
    );
    // A forgotten MCP session (404) is "session expired".
    c.send(r#"{"jsonrpc":"2.0","id":6,"method":"resources/list"}"#).await;
    let e = c.recv().await;
    assert_eq!(e["error"]["message"], "session expired", "{e}");
    assert_eq!(e["error"]["data"]["runtime_status"], "session_expired");
    drop(c.input);
    tokio::time::timeout(Duration::from_secs(10), c.task)
        .await
        .expect("ends with stdin")
        .expect("join")
        .expect("ok");
}
