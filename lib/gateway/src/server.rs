//! The HTTP front: admin endpoints, and the governed pipeline for everything else.
//!
//! Pipeline, in order, for every proxied request: origin check → inspect (POST bodies) → policy
//! snapshot (taken once) → identity → authorize each governed message → forward upstream, with
//! filtered discovery on the way back. Every exit before an explicit allow is a denial: the
//! exchange starts as `undecided`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use mcp_policy::{Call, Decision, Identity, MemoryBudgets, Reason, Request as PolicyRequest, ToolVisibility};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{Instrument, debug, info, warn};

use crate::audit::Auditor;
use crate::config::Config;
use crate::discovery::{FilteredSse, ListPolicy, SseFilter, filter_json_body};
use crate::identity::identify;
use crate::metrics::{DecisionLabels, Metrics, RequestLabels, method_label, status_label};
use crate::pins::ToolPins;
use crate::policy_store::{Active, PolicyStore, Reload};
use mcp_events::AuditPayload;

/// A response body: full, streamed from upstream, or filtered.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// Identity headers the gateway owns: stripped from every request and re-set from the verified
/// identity.
pub const HUMAN_HEADER: &str = "x-mcp-human-id";
/// See [`HUMAN_HEADER`].
pub const AGENT_HEADER: &str = "x-mcp-agent-id";
/// See [`HUMAN_HEADER`].
pub const TEAM_HEADER: &str = "x-mcp-team-id";
/// See [`HUMAN_HEADER`].
pub const SESSION_HEADER: &str = "x-mcp-agent-session";

/// Agent id of the platform's live-inventory probe, whose calls are not audited.
pub const LIVE_INVENTORY_AGENT: &str = "mcp-runtime-live-inventory";

/// Hop-by-hop headers never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Request headers never forwarded besides [`HOP_BY_HOP`]: the target is the app, the length
/// is re-computed, the caller's credential is for the gateway only (no token passthrough), and
/// identity headers are the gateway's to set.
const NOT_FORWARDED: [HeaderName; 7] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::AUTHORIZATION,
    HeaderName::from_static(HUMAN_HEADER),
    HeaderName::from_static(AGENT_HEADER),
    HeaderName::from_static(TEAM_HEADER),
    HeaderName::from_static(SESSION_HEADER),
];

/// `headers` without the ones `drop` matches (every value of a repeated header), in one pass.
fn filtered(headers: HeaderMap, extra: usize, drop: impl Fn(&HeaderName) -> bool) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len() + extra);
    let mut keep = None;
    for (name, value) in headers {
        if let Some(name) = name {
            keep = (!drop(&name)).then_some(name);
        }
        if let Some(name) = &keep {
            out.append(name.clone(), value);
        }
    }
    out
}

/// Shared state of a running gateway.
#[derive(Debug)]
pub struct Gateway {
    /// Settings.
    pub config: Config,
    /// The active policy.
    pub store: PolicyStore,
    /// Metrics.
    pub metrics: Metrics,
    budgets: MemoryBudgets,
    /// Tool definition pins.
    pub pins: Arc<ToolPins>,
    /// Audit event delivery.
    pub auditor: Auditor,
    /// How many times the policy file was checked (for tests and diagnostics).
    pub policy_checks: std::sync::atomic::AtomicU64,
    /// External issuer discovery and keys (`auth.mode: oauth`).
    oauth: crate::oauth::OAuth,
    upstreams: Arc<crate::upstream::Upstreams>,
    /// `Host` for the app: the authority of `UPSTREAM_URL`.
    upstream_host: Option<HeaderValue>,
    upstream_token: Option<String>,
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never: Infallible| match never {}).boxed()
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    let mut res = Response::new(full(serde_json::to_vec(value).unwrap_or_default()));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn text_response(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut res = Response::new(full(text));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    res
}

/// The denial body: a JSON-RPC error carrying the request id and `error.data.reason`, or
/// `{"error": reason}` when the request has no id.
pub fn denial(decision: &Decision, id: Option<&Value>) -> Response<Body> {
    let status = StatusCode::from_u16(decision.http_status()).unwrap_or(StatusCode::FORBIDDEN);
    let reason = decision.reason;
    let mut res = match id {
        Some(id) => {
            let mut data = decision.attribution();
            data.remove("decision");
            json_response(
                status,
                &mcp_protocol::denial_body(Some(id), reason.message(), reason.as_str(), data),
            )
        }
        None => json_response(status, &json!({ "error": reason.as_str(), "message": reason.message() })),
    };
    if matches!(reason, Reason::InvalidToken | Reason::MissingBearerToken) {
        let challenge = if reason == Reason::InvalidToken {
            r#"Bearer realm="mcp-runtime", error="invalid_token""#
        } else {
            r#"Bearer realm="mcp-runtime""#
        };
        res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    res
}

impl Gateway {
    /// Builds the gateway from validated settings (no I/O besides reading the upstream
    /// credential file).
    pub fn new(config: Config) -> std::io::Result<Arc<Gateway>> {
        let upstream_token = match &config.upstream_token_file {
            Some(path) => Some(std::fs::read_to_string(path)?.trim().to_string()),
            None => None,
        };
        let authority = config.upstream.authority().map_or_else(
            || "127.0.0.1:80".to_string(),
            |a| if a.port().is_some() { a.as_str().to_string() } else { format!("{}:80", a.host()) },
        );
        let upstreams = crate::upstream::Upstreams::new(authority);
        let upstream_host = config.upstream.authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok());
        let metrics = Metrics::new();
        let auditor = Auditor::start(config.audit.clone(), metrics.audit.clone());
        Ok(Arc::new(Gateway {
            config,
            store: PolicyStore::new(),
            metrics,
            auditor,
            oauth: crate::oauth::OAuth::new(),
            policy_checks: std::sync::atomic::AtomicU64::new(0),
            budgets: MemoryBudgets::new(),
            pins: Arc::default(),
            upstreams,
            upstream_host,
            upstream_token,
        }))
    }

    /// Loads the policy file once, recording the outcome in metrics and logs.
    pub async fn reload(&self) -> Reload {
        self.policy_checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = self.store.load_file(&self.config.policy_file).await;
        let result = match &outcome {
            Reload::Activated(revision) => {
                info!(%revision, "policy activated");
                self.metrics.policy_synchronized.set(1);
                self.metrics.policy_last_success.set(Timestamp::now().as_millisecond() as f64 / 1000.0);
                "activated"
            }
            Reload::Unchanged => return outcome,
            Reload::Failed(reason) => {
                warn!(%reason, "policy reload failed; keeping the last good policy");
                self.metrics.policy_synchronized.set(0);
                "failed"
            }
        };
        self.metrics.reloads.get_or_create(&crate::metrics::ReloadLabels { result }).inc();
        outcome
    }

    /// Reloads the policy when its directory changes (inotify; a projected ConfigMap swaps a
    /// symlink there) and re-checks it every `policy_recheck` in any case, until `stop` fires.
    pub async fn watch_policy(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let changed = Arc::new(tokio::sync::Notify::new());
        let _watcher = self.watch_directory(changed.clone());
        let mut tick = tokio::time::interval(self.config.policy_recheck);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => { self.reload().await; }
                () = changed.notified() => { self.reload().await; }
                _ = stop.changed() => return,
            }
        }
    }

    /// A file-system watch on the policy file's directory; `None` (polling only) when the
    /// platform or directory does not allow one.
    fn watch_directory(&self, changed: Arc<tokio::sync::Notify>) -> Option<notify::RecommendedWatcher> {
        use notify::Watcher;
        let dir = self.config.policy_file.parent().filter(|d| !d.as_os_str().is_empty())?.to_path_buf();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Reading the file is an access event too: reacting to those would make every reload
            // trigger the next one. Only changes (create, write, rename, remove) count.
            if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
                changed.notify_one();
            }
        })
        .map_err(|e| warn!(error = %e, "cannot watch the policy directory; polling only"))
        .ok()?;
        match watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
            Ok(()) => Some(watcher),
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "cannot watch the policy directory; polling only");
                None
            }
        }
    }

    /// Answers one request; never fails (errors become responses).
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        self.metrics.inflight.inc();
        let method = req.method().clone();
        // Named and attributed after the OpenTelemetry MCP conventions once the message is read.
        // Debug level: at the shipped `info` level the span costs nothing per request.
        let span = tracing::debug_span!(
            "mcp.request",
            otel.name = tracing::field::Empty,
            http.request.method = %method,
            mcp.method.name = tracing::field::Empty,
            gen_ai.tool.name = tracing::field::Empty,
            jsonrpc.request.id = tracing::field::Empty,
            mcp.protocol.version = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        );
        let (res, rpc_method) = self.route(req).instrument(span.clone()).await;
        span.record("http.response.status_code", res.status().as_u16());
        self.metrics.inflight.dec();
        self.metrics.duration.observe(started.elapsed().as_secs_f64());
        let status = res.status().as_u16();
        let decision =
            if res.status().is_client_error() || res.status().is_server_error() { "deny" } else { "allow" };
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                method: method_label(&method),
                rpc_method,
                decision,
                status: status_label(status),
            })
            .inc();
        res
    }

    async fn route(&self, req: Request<Incoming>) -> (Response<Body>, &'static str) {
        let path = req.uri().path();
        match (req.method(), path) {
            (&Method::GET, "/health") => return (text_response(StatusCode::OK, "ok"), "none"),
            (&Method::GET, "/ready") => {
                let status = self.store.status();
                return if status.ready {
                    (text_response(StatusCode::OK, "ready"), "none")
                } else {
                    let body = json!({
                        "status": "not_ready",
                        "reason": "policy_not_loaded",
                        "last_reload_error": status.last_reload_error,
                    });
                    (json_response(StatusCode::SERVICE_UNAVAILABLE, &body), "none")
                };
            }
            (&Method::GET, "/config/status") => {
                let mut status = serde_json::to_value(self.store.status()).unwrap_or_default();
                let pins: serde_json::Map<String, Value> = self
                    .pins
                    .snapshot()
                    .into_iter()
                    .map(|(name, pin)| {
                        let drifted = pin.drifted();
                        (name, json!({"pinned": pin.pinned, "current": pin.current, "drifted": drifted}))
                    })
                    .collect();
                status["tool_pins"] = Value::Object(pins);
                return (json_response(StatusCode::OK, &status), "none");
            }
            (&Method::GET, "/metrics") => {
                let mut res = Response::new(full(self.metrics.encode()));
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                );
                return (res, "none");
            }
            _ => {}
        }
        if path.starts_with("/.well-known/oauth-protected-resource") {
            return (self.resource_metadata(req.method()), "none");
        }
        self.proxy(req).await
    }

    /// RFC 9728 protected-resource metadata (OAuth mode), else a pointer to the adapter.
    fn resource_metadata(&self, method: &Method) -> Response<Body> {
        let active = self.store.current();
        let doc = active.as_ref().map(|a| a.snapshot.document());
        let Some(doc) = doc.filter(|d| d.auth.mode == mcp_api::AuthMode::Oauth) else {
            let body = json!({
                "error": "oauth_not_enabled",
                "message": "this server does not use OAuth: connect through an MCP Runtime adapter",
                "adapter_required": true,
            });
            return json_response(StatusCode::NOT_FOUND, &body);
        };
        if method != Method::GET && method != Method::HEAD {
            return json_response(StatusCode::METHOD_NOT_ALLOWED, &json!({"error": "method_not_allowed"}));
        }
        let resource = if doc.auth.audience.is_empty() { &doc.server.url } else { &doc.auth.audience };
        let mut body = json!({
            "resource": resource,
            "authorization_servers": [doc.auth.issuer_url],
            "bearer_methods_supported": ["header"],
        });
        if !doc.auth.scopes.is_empty() {
            body["scopes_supported"] = json!(doc.auth.scopes);
        }
        json_response(StatusCode::OK, &body)
    }

    /// DNS-rebinding protection: the `Host` must be one this gateway serves.
    fn host_allowed(&self, req: &Request<Incoming>, active: Option<&Active>) -> bool {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        let Some(host) = host else {
            return false;
        };
        let (name, _port) = split_host(host);
        let matches = |entry: &str| {
            let (entry_name, entry_port) = split_host(entry);
            match entry_port {
                Some(_) => entry.eq_ignore_ascii_case(host),
                None => entry_name.eq_ignore_ascii_case(name),
            }
        };
        match &self.config.allowed_hosts {
            Some(list) => list.iter().any(|entry| matches(entry)),
            None => {
                let url = active.map(|a| a.snapshot.document().server.url.as_str()).unwrap_or_default();
                let Some(public) =
                    url.split_once("://").map(|(_, rest)| rest.split('/').next().unwrap_or_default())
                else {
                    // No public URL known: the route is hostless; any Host is served.
                    return true;
                };
                [public, "localhost", "127.0.0.1", "[::1]"].into_iter().any(matches)
            }
        }
    }

    fn origin_allowed(&self, req: &Request<Incoming>) -> bool {
        let Some(origin) = req.headers().get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim_end_matches('/');
        if self.config.allowed_origins.iter().any(|o| o == origin) {
            return true;
        }
        // Same host as the request: `http(s)://<Host>`.
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
        match (origin.split_once("://"), host) {
            (Some((scheme, rest)), Some(host)) => (scheme == "http" || scheme == "https") && rest == host,
            _ => false,
        }
    }

    async fn proxy(&self, req: Request<Incoming>) -> (Response<Body>, &'static str) {
        let mut ex = Exchange::new(&req);
        let active = self.store.current();
        ex.active = active.clone();
        if !self.host_allowed(&req, active.as_deref()) {
            let body = json!({"error": "host_not_allowed", "message": "the Host of this request is not served here"});
            return (json_response(StatusCode::FORBIDDEN, &body), "none");
        }
        if !self.origin_allowed(&req) {
            let body = json!({"error": "origin_not_allowed", "message": "the Origin of this request is not allowed"});
            return (json_response(StatusCode::FORBIDDEN, &body), "none");
        }
        let (parts, body) = req.into_parts();

        // Inspect POST bodies; other methods carry no JSON-RPC message to govern.
        let mut messages = Vec::new();
        let mut is_batch = false;
        let mut bytes = Bytes::new();
        if parts.method == Method::POST {
            // One byte over the limit is enough for `inspect` to say `body_too_large`.
            bytes = match Limited::new(body, self.config.max_body.saturating_add(1)).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    // Over the limit or unreadable: an RPC attempt that cannot be inspected.
                    ex.rpc_attempt = true;
                    let d = self.decide_indeterminate(active.as_deref());
                    self.count_decision(&d, "none");
                    return (self.finish(ex, denial(&d, None), Some(d)), "none");
                }
            };
            ex.bytes_in = bytes.len() as u64;
            // Non-ASCII header bytes are passed on (lossily) so `inspect` rejects them instead of
            // treating the header as absent.
            let header = |name: &str| parts.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()));
            let (content_type, version, mcp_method, mcp_name) = (
                header("content-type"),
                header(mcp_protocol::PROTOCOL_VERSION_HEADER),
                header(mcp_protocol::MCP_METHOD_HEADER),
                header(mcp_protocol::MCP_NAME_HEADER),
            );
            ex.protocol_version = version.as_deref().map(str::to_string);
            let headers = mcp_protocol::RequestHeaders {
                content_type: content_type.as_deref(),
                protocol_version: version.as_deref(),
                mcp_method: mcp_method.as_deref(),
                mcp_name: mcp_name.as_deref(),
            };
            // Batches exist only in 2025-03-26. From 2025-06-18 on, clients send
            // MCP-Protocol-Version on every request after initialize, so a session request
            // without it (or with 2025-03-26) belongs to a session negotiated at 2025-03-26.
            let legacy_session = parts.headers.contains_key("mcp-session-id")
                && version.as_deref().is_none_or(|v| v.trim() == "2025-03-26");
            let opts =
                mcp_protocol::InspectOptions { max_body: self.config.max_body, allow_batch: legacy_session };
            match mcp_protocol::inspect(&bytes, &headers, &opts) {
                Ok(inspected) => {
                    ex.protocol_version = Some(inspected.version.as_str().to_string());
                    is_batch = inspected.batch;
                    messages = inspected.messages;
                }
                Err(err) => {
                    ex.rpc_attempt = err.is_rpc_attempt();
                    ex.jsonrpc_id = err.request_id().cloned();
                    ex.failure = Some(err.code());
                    let (res, d) = self.inspection_failure(active.as_deref(), &err);
                    return (self.finish(ex, res, d), "none");
                }
            }
        } else {
            drop(body);
        }
        let rpc_method = messages
            .first()
            .map_or("none", |m| mcp_protocol::method_label(m.method.as_deref().unwrap_or_default()));
        if let Some(first) = messages.first() {
            let span = tracing::Span::current();
            let method_name = first.method.as_deref().unwrap_or_default();
            match &first.target {
                Some(target) => span.record("otel.name", format!("{method_name} {target}")),
                None => span.record("otel.name", method_name),
            };
            span.record("mcp.method.name", method_name);
            if let Some(tool) = &first.tool {
                span.record("gen_ai.tool.name", tool.as_str());
            }
            if let Some(id) = &first.id {
                span.record("jsonrpc.request.id", tracing::field::display(id));
            }
            if let Some(version) = &ex.protocol_version {
                span.record("mcp.protocol.version", version.as_str());
            }
            ex.rpc_attempt = true;
            ex.rpc_method = first.method.clone();
            ex.tool = first.tool.clone();
            ex.jsonrpc_id = first.id.clone();
        }

        // Identity (never from client headers in token modes).
        let verified = match &active {
            Some(active) => {
                let doc = active.snapshot.document();
                if doc.auth.mode == mcp_api::AuthMode::Oauth {
                    self.oauth.identify(doc, &parts.headers).await.map_err(|e| (e.reason(), e.to_string()))
                } else {
                    identify(doc, &active.keys, &parts.headers).map_err(|e| (e.reason(), e.to_string()))
                }
            }
            None => Ok(Identity::default()),
        };
        let identity = match verified {
            Ok(identity) => identity,
            Err((reason, detail)) => {
                debug!(%detail, "identity rejected");
                let d = Decision::deny(reason);
                self.count_decision(&d, rpc_method);
                let mut res = denial(&d, messages.first().and_then(|m| m.id.as_ref()));
                if let Some(active) = &active {
                    challenge(&mut res, active.snapshot.document(), reason);
                }
                return (self.finish(ex, res, Some(d)), rpc_method);
            }
        };
        ex.identity = identity.clone();
        if is_batch {
            let res = self.proxy_batch(ex, parts, bytes, &messages, &identity, active.as_deref()).await;
            return (res, rpc_method);
        }

        // Authorize every governed message; remember tools/list requests to filter.
        let now = Timestamp::now();
        let mut list_ids = Vec::new();
        let mut decisive = None;
        for message in &messages {
            let method = message.method.as_deref().unwrap_or_default();
            if method == "tools/list"
                && let Some(id) = &message.id
            {
                list_ids.push(id.clone());
            }
            if !message.is_tool_call() {
                continue;
            }
            let Some(active) = &active else {
                let d = Decision::deny(Reason::PolicyUnavailable);
                self.count_decision(&d, rpc_method);
                let res = denial(&d, message.id.as_ref());
                return (self.finish(ex, res, Some(d)), rpc_method);
            };
            let call = Call::Tool {
                name: message.tool.as_deref().unwrap_or_default(),
                arguments: message.arguments.as_ref(),
                drifted: message.tool.as_deref().is_some_and(|t| self.pins.is_drifted(t)),
            };
            let d =
                active.snapshot.evaluate(&PolicyRequest { identity: &identity, call, now }, &self.budgets);
            self.count_decision(&d, rpc_method);
            if !d.allowed {
                let res = denial(&d, message.id.as_ref());
                return (self.finish(ex, res, Some(d)), rpc_method);
            }
            decisive = Some(d);
        }
        let visibility = match (&active, list_ids.is_empty()) {
            (Some(active), false) => Some(active.snapshot.visible_tools(&identity, now)),
            (None, false) => Some(ToolVisibility::Only(Default::default())),
            _ => None,
        };
        let res = self.forward(parts, bytes, &identity, active.as_deref()).await;
        let res = match visibility {
            Some(visible) => {
                let res = filter_response(res, list_ids, visible, self.pins.clone()).await;
                self.metrics.tools_drifted.set(self.pins.drifted_count() as i64);
                res
            }
            None => res,
        };
        if let Some(active) = &active {
            ex.policy_version = active.snapshot.document().policy.policy_version.clone();
        }
        (self.finish(ex, res, decisive), rpc_method)
    }

    /// A JSON-RPC batch (2025-03-26 sessions only): every element is authorized and audited on
    /// its own. Allowed elements go upstream as a (smaller) batch; denied ones are answered by
    /// the gateway with their JSON-RPC errors, merged into the upstream's answer (appended to a
    /// JSON array, or sent first as SSE events). A batch answer is HTTP 200 unless nothing at
    /// all could be forwarded and no element has an id.
    async fn proxy_batch(
        &self,
        ex: Exchange,
        parts: http::request::Parts,
        bytes: Bytes,
        messages: &[mcp_protocol::Message],
        identity: &Identity,
        active: Option<&Active>,
    ) -> Response<Body> {
        let now = Timestamp::now();
        let raw: Vec<Value> = serde_json::from_slice(&bytes).unwrap_or_default();
        let mut kept: Vec<(usize, Option<Decision>)> = Vec::new();
        let mut denied: Vec<(usize, Decision)> = Vec::new();
        let mut list_ids = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let label = mcp_protocol::method_label(message.method.as_deref().unwrap_or_default());
            if message.method.as_deref() == Some("tools/list")
                && let Some(id) = &message.id
            {
                list_ids.push(id.clone());
            }
            if !message.is_tool_call() {
                kept.push((i, None));
                continue;
            }
            let d = match active {
                None => Decision::deny(Reason::PolicyUnavailable),
                Some(active) => {
                    let call = Call::Tool {
                        name: message.tool.as_deref().unwrap_or_default(),
                        arguments: message.arguments.as_ref(),
                        drifted: message.tool.as_deref().is_some_and(|t| self.pins.is_drifted(t)),
                    };
                    active.snapshot.evaluate(&PolicyRequest { identity, call, now }, &self.budgets)
                }
            };
            self.count_decision(&d, label);
            if d.allowed { kept.push((i, Some(d))) } else { denied.push((i, d)) }
        }
        let element = |i: usize| {
            let mut e = ex.clone();
            let m = &messages[i];
            e.rpc_method = m.method.clone();
            e.tool = m.tool.clone();
            e.jsonrpc_id = m.id.clone();
            e
        };
        let mut errors = Vec::new();
        for (i, d) in &denied {
            if self.auditor.enabled() && ex.identity.agent != LIVE_INVENTORY_AGENT {
                let mut payload = self.payload(element(*i), d.http_status(), Some(d.clone()));
                payload.batch = Some(true);
                self.auditor.record(payload);
            }
            if let Some(id) = &messages[*i].id {
                let mut data = d.attribution();
                data.remove("decision");
                errors.push(mcp_protocol::denial_body(Some(id), d.reason.message(), d.reason.as_str(), data));
            }
        }
        if kept.is_empty() {
            return json_response(StatusCode::OK, &Value::Array(errors));
        }
        let body = if denied.is_empty() {
            bytes
        } else {
            let subset: Vec<Value> = kept.iter().filter_map(|(i, _)| raw.get(*i).cloned()).collect();
            Bytes::from(serde_json::to_vec(&Value::Array(subset)).unwrap_or_default())
        };
        let res = self.forward(parts, body, identity, active).await;
        let res = if list_ids.is_empty() {
            res
        } else {
            let visible = match active {
                Some(active) => active.snapshot.visible_tools(identity, now),
                None => ToolVisibility::Only(Default::default()),
            };
            filter_response(res, list_ids, visible, self.pins.clone()).await
        };
        let res = merge_errors(res, errors).await;
        if !self.auditor.enabled() || ex.identity.agent == LIVE_INVENTORY_AGENT {
            return res;
        }
        let status = res.status().as_u16();
        let records = kept
            .into_iter()
            .map(|(i, d)| {
                let mut payload = self.payload(element(i), status, d);
                payload.batch = Some(true);
                Record { gateway_payload: payload, auditor: self.auditor.clone() }
            })
            .collect();
        let (parts, body) = res.into_parts();
        Response::from_parts(parts, AuditedBody::new(body, records, false).boxed())
    }

    /// Attaches the audit event of this exchange to the response: it is recorded once, when
    /// the response body ends (so `bytes_out` and `is_error` are known) or is dropped.
    fn finish(&self, ex: Exchange, res: Response<Body>, decision: Option<Decision>) -> Response<Body> {
        // The runtime API's live-inventory probe is bookkeeping, not agent traffic.
        if !self.auditor.enabled() || !ex.rpc_attempt || ex.identity.agent == LIVE_INVENTORY_AGENT {
            return res;
        }
        let status = res.status().as_u16();
        let watch_errors = ex.tool.is_some() && status == 200;
        let record =
            Record { gateway_payload: self.payload(ex, status, decision), auditor: self.auditor.clone() };
        let (parts, body) = res.into_parts();
        Response::from_parts(parts, AuditedBody::new(body, vec![record], watch_errors).boxed())
    }

    /// The audit payload of an exchange (consumed: its strings move into the event).
    fn payload(&self, ex: Exchange, status: u16, decision: Option<Decision>) -> AuditPayload {
        let mut p = match &decision {
            Some(d) => crate::audit::decision_payload(d),
            None => {
                let allowed = status < 400;
                let reason = match (allowed, ex.failure) {
                    (true, _) => "allowed",
                    (false, Some(code)) => code,
                    (false, None) => "undecided",
                };
                AuditPayload {
                    decision: if allowed { "allow" } else { "deny" }.into(),
                    reason: reason.into(),
                    ..AuditPayload::default()
                }
            }
        };
        // The server block of the snapshot this request was decided with, not a newer one.
        if let Some(active) = &ex.active {
            let server = &active.snapshot.document().server;
            p.server.clone_from(&server.name);
            p.namespace.clone_from(&server.namespace);
            p.team_id.clone_from(&server.team_id);
            p.cluster.clone_from(&server.cluster);
        }
        if p.policy_version.is_empty() {
            p.policy_version = ex.policy_version;
        }
        p.method = ex.method.as_str().to_string();
        p.path = ex.path;
        p.status = status;
        p.latency_ms = ex.started.elapsed().as_secs_f64() * 1000.0;
        p.bytes_in = ex.bytes_in;
        p.human_id = ex.identity.human;
        p.agent_id = ex.identity.agent;
        p.subject_team_id = ex.identity.team;
        p.session_id = ex.identity.session;
        p.rpc_method = ex.rpc_method;
        p.tool_name = ex.tool;
        p.protocol_version = ex.protocol_version;
        p.jsonrpc_id = ex.jsonrpc_id;
        p.inspection_error = ex.failure.map(str::to_string);
        p
    }

    fn count_decision(&self, d: &Decision, rpc_method: &'static str) {
        self.metrics
            .decisions
            .get_or_create(&DecisionLabels {
                decision: if d.allowed { "allow" } else { "deny" },
                reason: d.reason.as_str(),
                rpc_method,
            })
            .inc();
    }

    fn decide_indeterminate(&self, active: Option<&Active>) -> Decision {
        match active {
            None => Decision::deny(Reason::PolicyUnavailable),
            Some(_) => Decision::deny(Reason::RpcInspectionFailed),
        }
    }

    fn inspection_failure(
        &self,
        active: Option<&Active>,
        err: &mcp_protocol::InspectError,
    ) -> (Response<Body>, Option<Decision>) {
        if err.http_status() == 400
            && let Some(body) = err.to_jsonrpc_error()
        {
            // Protocol errors (header mismatch, unsupported version) are answered as the spec
            // requires, whatever the policy.
            return (json_response(StatusCode::BAD_REQUEST, &body), None);
        }
        let d = self.decide_indeterminate(active);
        self.count_decision(&d, "none");
        (denial(&d, err.request_id()), Some(d))
    }

    fn upstream_uri(&self, uri: &Uri) -> Option<Uri> {
        let mut path = uri.path();
        if let Some(prefix) = &self.config.strip_prefix
            && let Some(rest) = path.strip_prefix(prefix.as_str())
            && (rest.is_empty() || rest.starts_with('/'))
        {
            path = if rest.is_empty() { "/" } else { rest };
        }
        // Origin form (`/path?query`): the connection is to the app itself, which gets its own
        // authority in `Host`.
        let base = &self.config.upstream;
        let mut target = String::with_capacity(base.path().len() + path.len() + 16);
        target.push_str(base.path().trim_end_matches('/'));
        target.push_str(path);
        if let Some(q) = uri.query() {
            target.push('?');
            target.push_str(q);
        }
        target.parse().ok()
    }

    /// The credential to send upstream: the presented session's own (`upstreamTokenSecretRef`,
    /// mounted under `UPSTREAM_TOKEN_DIR`), else the gateway-wide one. `Err` when the session
    /// names a credential that cannot be read (fail closed: never call the app without it).
    async fn upstream_credential(
        &self,
        identity: &Identity,
        active: Option<&Active>,
    ) -> Result<Option<String>, String> {
        let Some(dir) = &self.config.upstream_token_dir else {
            return Ok(self.upstream_token.clone());
        };
        let session_ref = active
            .and_then(|a| a.snapshot.active_session(identity, Timestamp::now()))
            .and_then(|s| s.upstream_token_ref.clone());
        let Some(reference) = session_ref else {
            return Ok(self.upstream_token.clone());
        };
        let safe = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        };
        let Some((secret, key)) = reference.split_once('/').filter(|(s, k)| safe(s) && safe(k)) else {
            return Err(format!("unusable upstream credential reference {reference:?}"));
        };
        match tokio::fs::read_to_string(dir.join(secret).join(key)).await {
            Ok(token) => Ok(Some(token.trim().to_string())),
            Err(e) => Err(format!("cannot read upstream credential {reference}: {e}")),
        }
    }

    async fn forward(
        &self,
        parts: http::request::Parts,
        body: Bytes,
        identity: &Identity,
        active: Option<&Active>,
    ) -> Response<Body> {
        let upstream_token = match self.upstream_credential(identity, active).await {
            Ok(token) => token,
            Err(reason) => {
                warn!(%reason, "upstream credential unavailable; not calling the app");
                return upstream_error(StatusCode::BAD_GATEWAY, "upstream_credential_unavailable");
            }
        };
        let Some(uri) = self.upstream_uri(&parts.uri) else {
            let d = Decision::deny(Reason::RpcInspectionFailed);
            return denial(&d, None);
        };
        let owned: &[HeaderName] = active.map_or(&[], |a| &a.owned_headers);
        let mut headers = filtered(parts.headers, 5, |name| {
            HOP_BY_HOP.contains(name) || NOT_FORWARDED.contains(name) || owned.contains(name)
        });
        for (name, value) in [
            (HUMAN_HEADER, &identity.human),
            (AGENT_HEADER, &identity.agent),
            (TEAM_HEADER, &identity.team),
            (SESSION_HEADER, &identity.session),
        ] {
            if let Ok(value) = HeaderValue::from_str(value)
                && !value.is_empty()
            {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        let token_header = active.map_or(Some(header::AUTHORIZATION), |a| a.upstream_token_header.clone());
        if let (Some(token), Some(name)) = (&upstream_token, token_header)
            && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            headers.insert(name, value);
        }
        if let Some(host) = &self.upstream_host {
            headers.insert(header::HOST, host.clone());
        }
        let head = parts.method == Method::HEAD;
        let mut upstream = Request::new(Full::new(body));
        *upstream.method_mut() = parts.method;
        *upstream.uri_mut() = uri;
        *upstream.headers_mut() = headers;

        match tokio::time::timeout(self.config.upstream_timeout, self.upstreams.send(upstream)).await {
            Err(_) => upstream_error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
            Ok(Err(err)) => {
                warn!(error = %err, "upstream request failed");
                upstream_error(StatusCode::BAD_GATEWAY, "upstream_error")
            }
            Ok(Ok(res)) => {
                let (mut parts, body) = res.into_parts();
                if parts.headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
                    parts.headers =
                        filtered(std::mem::take(&mut parts.headers), 1, |name| HOP_BY_HOP.contains(name));
                }
                let body = match crate::gather::gather(body).await {
                    crate::gather::Gathered::Complete(bytes) => {
                        // The whole reply is here: sent with its length, in one write.
                        let bodiless = head || matches!(parts.status.as_u16(), 204 | 304);
                        if !bodiless && !parts.headers.contains_key(header::CONTENT_LENGTH) {
                            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                        }
                        full(bytes)
                    }
                    crate::gather::Gathered::Streaming(body) => body.boxed(),
                };
                Response::from_parts(parts, body)
            }
        }
    }
}

/// What one exchange was about, for its audit event.
#[derive(Debug, Clone)]
struct Exchange {
    started: Instant,
    method: Method,
    path: String,
    bytes_in: u64,
    /// A JSON-RPC message (or a JSON body that failed to parse as one): audited.
    rpc_attempt: bool,
    rpc_method: Option<String>,
    tool: Option<String>,
    jsonrpc_id: Option<Value>,
    protocol_version: Option<String>,
    policy_version: String,
    /// The policy snapshot taken for this request.
    active: Option<Arc<Active>>,
    identity: Identity,
    /// The inspection failure code, when the request was refused before any decision.
    failure: Option<&'static str>,
}

impl Exchange {
    fn new(req: &Request<Incoming>) -> Exchange {
        Exchange {
            started: Instant::now(),
            method: req.method().clone(),
            path: req.uri().path().to_string(),
            bytes_in: 0,
            rpc_attempt: false,
            rpc_method: None,
            tool: None,
            jsonrpc_id: None,
            protocol_version: None,
            policy_version: String::new(),
            active: None,
            identity: Identity::default(),
            failure: None,
        }
    }
}

/// An audit event waiting for its response to finish.
#[derive(Debug)]
struct Record {
    gateway_payload: AuditPayload,
    auditor: Auditor,
}

/// A response body that counts what it sends, notices a tool result flagged `isError: true`,
/// and records the exchange's audit event exactly once: at the end of the body, or when the
/// body is dropped unfinished (client gone).
struct AuditedBody {
    inner: Body,
    records: Vec<Record>,
    bytes_out: u64,
    watch_errors: bool,
    is_error: bool,
    /// Bytes of `IS_ERROR` matched so far.
    matched: usize,
}

impl std::fmt::Debug for AuditedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditedBody").field("bytes_out", &self.bytes_out).finish_non_exhaustive()
    }
}

const IS_ERROR: &[u8] = b"\"isError\":true";
const IS_ERROR_KEY: &[u8] = b"\"isError\"";

impl AuditedBody {
    fn new(inner: Body, records: Vec<Record>, watch_errors: bool) -> AuditedBody {
        AuditedBody { inner, records, bytes_out: 0, watch_errors, is_error: false, matched: 0 }
    }

    /// Looks for `"isError":true` (whitespace between tokens ignored) in the response stream:
    /// `memmem` finds the key, a byte-wise matcher checks what follows it, and a partial match
    /// is carried across chunk boundaries. No copies.
    fn scan(&mut self, data: &[u8]) {
        if !self.watch_errors || self.is_error {
            return;
        }
        let mut rest = data;
        loop {
            if self.matched > 0 {
                match self.continue_match(rest) {
                    Some(at) => rest = &rest[at..],
                    None => return,
                }
            }
            match memchr::memmem::find(rest, IS_ERROR_KEY) {
                Some(pos) => {
                    self.matched = IS_ERROR_KEY.len();
                    rest = &rest[pos + IS_ERROR_KEY.len()..];
                }
                None => {
                    // The chunk may end inside the key (which holds no whitespace).
                    let tail = &rest[rest.len().saturating_sub(IS_ERROR_KEY.len() - 1)..];
                    self.matched = (1..=tail.len())
                        .rev()
                        .find(|&n| IS_ERROR_KEY.starts_with(&tail[tail.len() - n..]))
                        .unwrap_or(0);
                    return;
                }
            }
        }
    }

    /// Matches `data` against the rest of `IS_ERROR` from `self.matched`. `None`: the chunk was
    /// used up (or the flag found); `Some(i)`: the match failed at byte `i`, search again there.
    fn continue_match(&mut self, data: &[u8]) -> Option<usize> {
        for (i, &b) in data.iter().enumerate() {
            if b.is_ascii_whitespace() && self.matched >= IS_ERROR_KEY.len() {
                continue;
            }
            if b == IS_ERROR[self.matched] {
                self.matched += 1;
                if self.matched == IS_ERROR.len() {
                    self.is_error = true;
                    return None;
                }
            } else {
                self.matched = 0;
                return Some(i);
            }
        }
        None
    }

    fn emit(&mut self) {
        for mut record in std::mem::take(&mut self.records) {
            record.gateway_payload.bytes_out = self.bytes_out;
            if self.watch_errors {
                record.gateway_payload.is_error = Some(self.is_error);
            }
            record.auditor.record(record.gateway_payload);
        }
    }
}

impl http_body::Body for AuditedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            std::task::Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let data = data.clone();
                    self.bytes_out += data.len() as u64;
                    self.scan(&data);
                }
            }
            std::task::Poll::Ready(None) | std::task::Poll::Ready(Some(Err(_))) => self.emit(),
            std::task::Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AuditedBody {
    fn drop(&mut self) {
        self.emit();
    }
}

/// Adds the OAuth `resource_metadata` hint to a 401 challenge (RFC 9728 §5.1), so MCP clients
/// can discover the authorization server.
fn challenge(res: &mut Response<Body>, doc: &mcp_policy::Document, reason: Reason) {
    if doc.auth.mode != mcp_api::AuthMode::Oauth || res.status() != StatusCode::UNAUTHORIZED {
        return;
    }
    let resource = if doc.server.url.is_empty() { &doc.auth.audience } else { &doc.server.url };
    let Some(metadata) = crate::oauth::resource_metadata_url(resource) else { return };
    let mut value = format!(r#"Bearer realm="mcp-runtime", resource_metadata="{metadata}""#);
    if reason == Reason::InvalidToken {
        value.push_str(r#", error="invalid_token""#);
    }
    if let Ok(value) = HeaderValue::from_str(&value) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
}

/// `host[:port]` (with `[v6]` literals) into its name and port.
fn split_host(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((_, tail)) => (&host[..host.len() - tail.len()], tail.strip_prefix(':')),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (name, Some(port)),
        _ => (host, None),
    }
}

fn upstream_error(status: StatusCode, code: &'static str) -> Response<Body> {
    json_response(status, &json!({ "error": code }))
}

/// Pins the tool definitions of `tools/list` responses and filters them to `visible`, in JSON
/// bodies and SSE streams.
async fn filter_response(
    res: Response<Body>,
    ids: Vec<Value>,
    visible: ToolVisibility,
    pins: Arc<ToolPins>,
) -> Response<Body> {
    if !res.status().is_success() {
        return res;
    }
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("text/event-stream") {
        let (mut parts, body) = res.into_parts();
        // Rewritten events change the length; the stream is sent chunked.
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(
            parts,
            FilteredSse::new(body, SseFilter::new(ids, visible, pins)).boxed(),
        );
    }
    if content_type.starts_with("application/json") {
        let (mut parts, body) = res.into_parts();
        let bytes = match body.collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => return upstream_error(StatusCode::BAD_GATEWAY, "upstream_error"),
        };
        let list = ListPolicy { ids: &ids, visible: &visible, pins: &pins };
        let out = filter_json_body(&bytes, &list).unwrap_or(bytes);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, full(out));
    }
    res
}

/// Adds gateway-made JSON-RPC errors to an upstream batch answer: appended to a JSON array, or
/// sent as SSE events ahead of the upstream stream. An empty answer (202, only notifications
/// forwarded) becomes the array of errors.
async fn merge_errors(res: Response<Body>, errors: Vec<Value>) -> Response<Body> {
    if errors.is_empty() {
        return res;
    }
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("text/event-stream") {
        let mut prefix = String::new();
        for e in &errors {
            prefix.push_str("event: message\ndata: ");
            prefix.push_str(&e.to_string());
            prefix.push_str("\n\n");
        }
        let (mut parts, body) = res.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        let first =
            http_body_util::Full::new(Bytes::from(prefix)).map_err(|never: Infallible| match never {});
        return Response::from_parts(parts, crate::discovery::Chain::new(first.boxed(), body).boxed());
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => return upstream_error(StatusCode::BAD_GATEWAY, "upstream_error"),
    };
    let mut answers = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Array(items)) => items,
        Ok(single) => vec![single],
        Err(_) => Vec::new(),
    };
    answers.extend(errors);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if parts.status == StatusCode::ACCEPTED {
        parts.status = StatusCode::OK;
    }
    Response::from_parts(parts, full(serde_json::to_vec(&Value::Array(answers)).unwrap_or_default()))
}

/// Serves until `shutdown` resolves, then drains in-flight requests for up to the grace period.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(crate::configmap::watch_policy_source(gateway.clone(), stop_rx.clone()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(err) => { warn!(error = %err, "accept failed"); continue; }
                };
                // Streamed replies are written in small pieces: never let Nagle hold them back.
                let _ = stream.set_nodelay(true);
                let gateway = gateway.clone();
                let service = hyper::service::service_fn(move |req| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, Infallible>(gateway.handle(req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(err) = conn.await {
                        debug!(%peer, error = %err, "connection closed with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    let _ = stop_tx.send(true);
    drop(listener);
    info!("shutting down: draining in-flight requests");
    if tokio::time::timeout(gateway.config.shutdown_grace, graceful.shutdown()).await.is_err() {
        warn!("grace period over; closing remaining connections");
    }
    gateway.auditor.shutdown().await;
    Ok(())
}

/// Binds the configured address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(chunks: &[&str]) -> bool {
        let empty: Body = Full::new(Bytes::new()).map_err(|never| match never {}).boxed();
        let mut body = AuditedBody::new(empty, Vec::new(), true);
        for chunk in chunks {
            body.scan(chunk.as_bytes());
        }
        body.is_error
    }

    #[test]
    fn is_error_is_found_across_chunks_and_whitespace() {
        assert!(scanned(&[r#"{"result":{"content":[],"isError":true}}"#]));
        assert!(scanned(&[r#"{"result":{"isErr"#, r#"or" :  "#, "\n tr", "ue}}"]));
        assert!(scanned(&["data: {\"result\":{\"isError\":\n", "true}}\n\n"]));
        assert!(!scanned(&[r#"{"result":{"isError":false}}"#]));
        assert!(!scanned(&[r#"{"result":{"text":"isError true"}}"#]));
        assert!(!scanned(&[r#"{"result":{"isError""#, r#":false,"x":true}}"#]));
        assert!(scanned(&[r#"{"a":"isErr", "#, r#""b":1,"isE"#, r#"rror":"#, "true}"]));
        assert!(scanned(&["\"", "i", "s", "E", "r", "r", "o", "r", "\"", ":", " ", "t", "r", "u", "e"]));
        assert!(!scanned(&[r#"{"isErr"#, r#" or":true}"#]));
        assert!(scanned(&[r#"{"isError":fals, "isError":true}"#]));
    }
}
