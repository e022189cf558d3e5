//! The web dashboard: server-rendered HTML pages over the platform's own API.
//!
//! Every page calls the API router in-process ([`tower::ServiceExt::oneshot`] on a clone of it)
//! with the signed-in person's bearer token and renders the JSON answer, so a page is exactly as
//! authorised as the API and needs no store access of its own.
//!
//! - Sessions: an opaque random id in the cookie `mcprt_ui` (`HttpOnly; SameSite=Strict;
//!   Path=/`, `Secure` when the request came over HTTPS through a trusted proxy) names a
//!   server-side entry holding the access token and refresh token (refreshed transparently) or
//!   the API key the person signed in with. Sign-out revokes the refresh token through the API.
//! - CSRF: every POST carries a synchronizer token (HMAC of the session id under a per-process
//!   key; before sign-in, of a pre-session cookie) and must come with an `Origin` (or `Referer`)
//!   of this host; anything else is refused with a 403 page.
//! - Headers: every UI response has a CSP without inline scripts (`script-src 'self'`),
//!   `frame-ancestors 'none'`, `X-Content-Type-Options: nosniff`, `Referrer-Policy`,
//!   `Cache-Control: no-store` (pages).
//! - No JavaScript is needed: state changes are plain forms (POST, then redirect); the one
//!   script only adds copy buttons.
//!
//! [`mount`] puts the pages in front of the API router (`Platform::router` calls it, so any
//! binary serving that router serves the dashboard).

// Handlers answer a finished page (a `Response`) on every early exit.
#![allow(clippy::result_large_err)]

mod html;
mod pages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::Sha256;
use tower::ServiceExt;

use crate::AppState;

/// The session cookie.
pub const SESSION_COOKIE: &str = "mcprt_ui";
/// The pre-sign-in CSRF cookie.
pub const PRE_COOKIE: &str = "mcprt_ui_pre";
/// The CSP of every UI response.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

/// What one signed-in browser holds (server side).
#[derive(Debug)]
struct Session {
    /// Bearer sent to the API (access token or API key).
    bearer: String,
    /// Refresh token (password and OpenID Connect sign-ins).
    refresh: Option<String>,
    /// When the access token needs refreshing.
    refresh_at: Option<Instant>,
    /// Last use (idle entries are dropped).
    last_used: Instant,
}

/// The dashboard's state.
pub struct Ui {
    api: Router,
    platform: Arc<AppState>,
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Session>>>>,
    key: [u8; 32],
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui").finish_non_exhaustive()
    }
}

/// The API router with the dashboard in front of it: the pages, their assets, and everything
/// else answered by `api`. `dev` and `serve` get the dashboard by serving this.
pub fn mount(api: Router, platform: Arc<AppState>) -> Router {
    let key = crate::secrets::random_bytes::<32>().unwrap_or_else(|_| {
        // No randomness: a key nobody can guess is still required; fall back to the hasher's.
        let mut k = [0u8; 32];
        let h = platform.hasher.hash("mcp-runtime dashboard csrf");
        for (i, b) in h.bytes().take(32).enumerate() {
            k[i] = b;
        }
        k
    });
    let ui = Arc::new(Ui { api: api.clone(), platform, sessions: Mutex::new(HashMap::new()), key });
    Router::new()
        .route("/ui/assets/app.css", get(|| async { asset(CSS, "text/css; charset=utf-8") }))
        .route("/ui/assets/app.js", get(|| async { asset(JS, "text/javascript; charset=utf-8") }))
        .route("/signin", get(pages::signin_page).post(pages::signin_password))
        .route("/signin/key", post(pages::signin_key))
        .route("/signin/oidc", get(pages::signin_oidc))
        .route("/signin/oidc/callback", get(pages::oidc_callback))
        .route("/signout", post(pages::signout))
        .route("/", get(pages::overview))
        .route("/catalog", get(pages::catalog).post(pages::publish))
        .route("/catalog/{team}/{name}", get(pages::connect))
        .route("/governance", get(pages::governance))
        .route("/governance/grants", post(pages::grant_apply))
        .route("/governance/grants/{team}/{name}", get(pages::grant_edit))
        .route("/governance/grants/{team}/{name}/{action}", post(pages::grant_action))
        .route("/governance/sessions", post(pages::session_apply))
        .route("/governance/sessions/{team}/{name}", get(pages::session_edit))
        .route("/governance/sessions/{team}/{name}/{action}", post(pages::session_action))
        .route("/agents", get(pages::agents).post(pages::agent_register))
        .route("/agents/{id}/{action}", post(pages::agent_action))
        .route("/analytics", get(pages::analytics))
        .route("/events", get(pages::events))
        .route("/events/detail", get(pages::event_detail))
        .route("/replay", get(pages::replay_page).post(pages::replay_run))
        .route("/keys", get(pages::keys).post(pages::key_create))
        .route("/keys/{id}/revoke", post(pages::key_revoke))
        .route("/teams", get(pages::teams).post(pages::team_create))
        .route("/teams/{team}", get(pages::team).post(pages::member_put))
        .route("/teams/{team}/members/{user}/remove", post(pages::member_remove))
        .route("/admin", get(pages::admin))
        .route("/admin/users", post(pages::user_create))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(ui)
        .fallback_service(api)
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    r
}

async fn security_headers(req: Request, next: axum::middleware::Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// One request as the dashboard sees it.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    headers: HeaderMap,
    peer: Option<ConnectInfo<SocketAddr>>,
    sid: Option<String>,
    https: bool,
}

impl FromRequestParts<Arc<Ui>> for Req {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        ui: &Arc<Ui>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned();
        let trusted_peer = peer
            .as_ref()
            .is_some_and(|p| ui.platform.config.trusted_proxies.iter().any(|n| n.contains(p.0.ip())));
        let https = parts.uri.scheme_str() == Some("https")
            || (trusted_peer
                && parts
                    .headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")));
        Ok(Req { headers: parts.headers.clone(), peer, sid: cookie(&parts.headers, SESSION_COOKIE), https })
    }
}

/// A cookie's value.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A `Set-Cookie` value (empty `value`: clears it).
fn set_cookie(name: &str, value: &str, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if value.is_empty() {
        c.push_str("; Max-Age=0");
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// An answer of the API.
#[derive(Debug)]
pub(crate) struct Reply {
    status: StatusCode,
    body: Value,
    headers: HeaderMap,
}

impl Reply {
    fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The API's error message (or the status).
    fn message(&self) -> String {
        let m = self.body["error"]["message"].as_str().unwrap_or("").to_string();
        let code = self.body["error"]["code"].as_str().unwrap_or("");
        if m.is_empty() { format!("{} {}", self.status.as_u16(), code) } else { format!("{m} ({code})") }
    }
}

/// The signed-in person on one request.
pub(crate) struct Signed {
    req: Req,
    sid: String,
    csrf: String,
    me: Value,
    /// Every team's name for administrators (the API's team list), else empty.
    all_teams: Vec<String>,
}

impl Signed {
    fn admin(&self) -> bool {
        self.me["user"]["is_admin"].as_bool() == Some(true)
    }

    fn email(&self) -> String {
        self.me["user"]["email"].as_str().unwrap_or("").to_string()
    }

    /// The names of the teams the person is in (administrators: every team, from the API).
    fn teams(&self) -> Vec<String> {
        if !self.all_teams.is_empty() {
            return self.all_teams.clone();
        }
        self.me["teams"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t["name"].as_str().map(String::from)).collect())
            .unwrap_or_default()
    }
}

impl Ui {
    fn mac(&self, what: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else { return String::new() };
        mac.update(what.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The CSRF token of a sign-in.
    fn csrf_for(&self, sid: &str) -> String {
        self.mac(&format!("csrf:{sid}"))
    }

    /// Whether `given` is the token for `sid` (constant time).
    fn csrf_ok(&self, sid: &str, given: &str) -> bool {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else { return false };
        mac.update(format!("csrf:{sid}").as_bytes());
        let Ok(given) = URL_SAFE_NO_PAD.decode(given.trim()) else { return false };
        mac.verify_slice(&given).is_ok()
    }

    fn new_id() -> Result<String, Response> {
        crate::secrets::random_bytes::<32>()
            .map(|b| URL_SAFE_NO_PAD.encode(b))
            .map_err(|_| error_page(None, StatusCode::INTERNAL_SERVER_ERROR, "no randomness available"))
    }

    fn session(&self, sid: &str) -> Option<Arc<tokio::sync::Mutex<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).get(sid).cloned()
    }

    fn forget(&self, sid: &str) -> Option<Arc<tokio::sync::Mutex<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(sid)
    }

    /// Stores a new sign-in; its id.
    fn remember(
        &self,
        bearer: String,
        refresh: Option<String>,
        expires_in: Option<u64>,
    ) -> Result<String, Response> {
        let sid = Ui::new_id()?;
        let idle = self.platform.config.refresh_ttl.max(Duration::from_secs(3600));
        let now = Instant::now();
        let refresh_at = expires_in.map(|s| now + Duration::from_secs(s.saturating_sub(30).max(1)));
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| s.try_lock().map(|s| s.last_used.elapsed() < idle).unwrap_or(true));
        map.insert(
            sid.clone(),
            Arc::new(tokio::sync::Mutex::new(Session { bearer, refresh, refresh_at, last_used: now })),
        );
        Ok(sid)
    }

    /// Calls the API in-process.
    async fn raw(
        &self,
        req: &Req,
        method: Method,
        uri: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut builder = http::Request::builder().method(method).uri(uri);
        if let Some(b) = bearer {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {b}"));
        }
        for name in ["host", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "user-agent"] {
            for v in req.headers.get_all(name) {
                builder = builder.header(name, v.clone());
            }
        }
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let mut request = match builder.body(body) {
            Ok(r) => r,
            Err(e) => {
                return Reply {
                    status: StatusCode::BAD_REQUEST,
                    body: json!({"error": {"code": "invalid_request", "message": e.to_string()}}),
                    headers: HeaderMap::new(),
                };
            }
        };
        if let Some(peer) = &req.peer {
            request.extensions_mut().insert(*peer);
        }
        let response = match self.api.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Reply { status: parts.status, body, headers: parts.headers }
    }

    /// Calls the API as the signed-in person (refreshing the access token when due or refused).
    async fn call(&self, s: &Signed, method: Method, uri: &str, body: Option<&Value>) -> Reply {
        self.call_as(&s.req, &s.sid, method, uri, body).await.unwrap_or_else(|| Reply {
            status: StatusCode::UNAUTHORIZED,
            body: json!({"error": {"code": "unauthorized", "message": "signed out"}}),
            headers: HeaderMap::new(),
        })
    }

    async fn call_as(
        &self,
        req: &Req,
        sid: &str,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> Option<Reply> {
        let entry = self.session(sid)?;
        let mut session = entry.lock().await;
        session.last_used = Instant::now();
        if session.refresh_at.is_some_and(|t| Instant::now() >= t) {
            self.refresh(req, &mut session).await;
        }
        let reply = self.raw(req, method.clone(), uri, Some(&session.bearer), body).await;
        if reply.status == StatusCode::UNAUTHORIZED
            && session.refresh.is_some()
            && self.refresh(req, &mut session).await
        {
            return Some(self.raw(req, method, uri, Some(&session.bearer), body).await);
        }
        Some(reply)
    }

    async fn refresh(&self, req: &Req, session: &mut Session) -> bool {
        let Some(token) = session.refresh.clone() else { return false };
        let reply = self
            .raw(req, Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": token})))
            .await;
        match (reply.body["access_token"].as_str(), reply.body["refresh_token"].as_str()) {
            (Some(access), Some(refresh)) if reply.ok() => {
                session.bearer = access.to_string();
                session.refresh = Some(refresh.to_string());
                session.refresh_at = reply.body["expires_in"]
                    .as_u64()
                    .map(|s| Instant::now() + Duration::from_secs(s.saturating_sub(30).max(1)));
                true
            }
            _ => {
                session.refresh = None;
                false
            }
        }
    }

    /// The signed-in person, or a redirect to the sign-in page.
    async fn signed(&self, req: Req) -> Result<Signed, Response> {
        let Some(sid) = req.sid.clone() else { return Err(to_signin()) };
        let Some(me) = self.call_as(&req, &sid, Method::GET, "/api/v1/me", None).await else {
            return Err(to_signin());
        };
        if !me.ok() {
            if me.status == StatusCode::UNAUTHORIZED {
                self.forget(&sid);
                return Err(to_signin());
            }
            return Err(error_page(None, me.status, &me.message()));
        }
        let csrf = self.csrf_for(&sid);
        let mut all_teams = Vec::new();
        if me.body["user"]["is_admin"].as_bool() == Some(true)
            && let Some(list) = self.call_as(&req, &sid, Method::GET, "/api/v1/teams", None).await
            && list.ok()
        {
            all_teams = list.body["items"]
                .as_array()
                .map(|t| t.iter().filter_map(|t| t["name"].as_str().map(String::from)).collect())
                .unwrap_or_default();
        }
        Ok(Signed { req, sid, csrf, me: me.body, all_teams })
    }

    /// The signed-in person of a POST whose CSRF token and origin check out.
    async fn signed_post(&self, req: Req, csrf: Option<&str>) -> Result<Signed, Response> {
        if !same_origin(&req) {
            return Err(csrf_refused("the request did not come from this site (Origin/Referer)"));
        }
        let s = self.signed(req).await?;
        if !csrf.is_some_and(|t| self.csrf_ok(&s.sid, t)) {
            return Err(csrf_refused("the form's security token is missing or wrong"));
        }
        Ok(s)
    }
}

/// Whether a POST's `Origin` (or, without one, `Referer`) names this host.
fn same_origin(req: &Req) -> bool {
    let Some(host) = req.headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let origin = req
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .or_else(|| req.headers.get(header::REFERER).and_then(|v| v.to_str().ok()).map(String::from));
    let Some(origin) = origin else { return false };
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|r| r.split('/').next() == Some(host))
}

fn to_signin() -> Response {
    redirect("/signin")
}

/// A 303 to `to`.
fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// An HTML answer.
fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

fn csrf_refused(why: &str) -> Response {
    error_page(None, StatusCode::FORBIDDEN, &format!("Refused: {why}. Reload the page and try again."))
}

/// An error page.
fn error_page(s: Option<&Signed>, status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "Not found",
        s if s.is_client_error() => "Request refused",
        _ => "Something went wrong",
    };
    let email = s.map(Signed::email).unwrap_or_default();
    let viewer = s.map(|s| html::Viewer { email: &email, admin: s.admin(), csrf: &s.csrf });
    let body = format!("{}<p><a href=\"/\">Back to the overview</a></p>", html::notice("error", message));
    html(status, html::page(title, "", viewer.as_ref(), &body))
}

/// An API refusal as a page (401: back to sign-in).
fn refused(s: &Signed, reply: &Reply) -> Response {
    if reply.status == StatusCode::UNAUTHORIZED {
        return to_signin();
    }
    error_page(Some(s), reply.status, &reply.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Req {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        Req { sid: cookie(&map, SESSION_COOKIE), headers: map, peer: None, https: false }
    }

    #[test]
    fn a_post_must_name_this_host_in_origin_or_referer() {
        assert!(same_origin(&req(&[("host", "p.example:8090"), ("origin", "http://p.example:8090")])));
        assert!(same_origin(&req(&[("host", "p.example"), ("origin", "https://p.example")])));
        assert!(same_origin(&req(&[("host", "p.example"), ("referer", "https://p.example/governance?x=1")])));
        for bad in [
            vec![("host", "p.example"), ("origin", "https://evil.example")],
            vec![("host", "p.example"), ("origin", "https://p.example.evil.example")],
            vec![("host", "p.example"), ("origin", "null")],
            vec![("host", "p.example"), ("referer", "https://evil.example/p.example")],
            vec![("host", "p.example")],
            vec![("origin", "https://p.example")],
        ] {
            assert!(!same_origin(&req(&bad)), "{bad:?}");
        }
    }

    #[test]
    fn cookies_are_read_by_exact_name_and_set_strict() {
        let r = req(&[("cookie", "a=1; mcprt_ui_pre=x; mcprt_ui=abc")]);
        assert_eq!(r.sid.as_deref(), Some("abc"));
        assert_eq!(cookie(&r.headers, PRE_COOKIE).as_deref(), Some("x"));
        assert_eq!(req(&[("cookie", "mcprt_ui=")]).sid, None);
        assert_eq!(set_cookie("n", "v", false), "n=v; Path=/; HttpOnly; SameSite=Strict");
        assert_eq!(set_cookie("n", "", true), "n=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure");
    }
}
