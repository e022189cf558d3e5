//! The pages: each handler asks the API (as the signed-in person) and renders the answer.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::html::{
    self, Viewer, badge, bars, button_form, csrf_field, enc, esc, input, notice, select, stacked_columns,
    table, text, textarea, time,
};
use super::{
    PRE_COOKIE, Req, SESSION_COOKIE, Signed, Ui, cookie, error_page, html as respond, redirect, refused,
    same_origin, set_cookie,
};

type UiState = State<Arc<Ui>>;
type Fields = Form<HashMap<String, String>>;
type Params = Query<HashMap<String, String>>;

const OIDC_COOKIE: &str = "mcprt_ui_oidc";

fn field<'a>(f: &'a HashMap<String, String>, name: &str) -> &'a str {
    f.get(name).map(|s| s.trim()).unwrap_or("")
}

fn render(s: &Signed, title: &str, active: &str, body: &str) -> Response {
    let email = s.email();
    let v = Viewer { email: &email, admin: s.admin(), csrf: &s.csrf };
    respond(StatusCode::OK, html::page(title, active, Some(&v), body))
}

/// The fixed message a redirect after a change shows (`?ok=`).
fn done(q: &HashMap<String, String>) -> String {
    let m = match q.get("ok").map(String::as_str) {
        Some("server-published") => "Server published.",
        Some("grant-saved") => "Grant saved.",
        Some("grant-enable") => "Grant enabled.",
        Some("grant-disable") => "Grant disabled.",
        Some("grant-revoke-sessions") => "The grant's sessions were revoked.",
        Some("grant-delete") => "Grant deleted.",
        Some("session-saved") => "Session saved.",
        Some("session-revoke") => "Session revoked.",
        Some("session-unrevoke") => "Session restored.",
        Some("session-delete") => "Session deleted.",
        Some("agent-registered") => "Agent registered.",
        Some("agent-deactivate") => "Agent deactivated.",
        Some("agent-reactivate") => "Agent reactivated.",
        Some("key-revoked") => "API key revoked.",
        Some("team-created") => "Team created.",
        Some("member-saved") => "Member saved.",
        Some("member-removed") => "Member removed.",
        Some("user-created") => "Account created.",
        _ => return String::new(),
    };
    notice("ok", m)
}

// ---- sign-in -------------------------------------------------------------------------------

fn signin_html(ui: &Ui, csrf: &str, error: Option<&str>) -> String {
    let mut body = String::new();
    if let Some(e) = error {
        body.push_str(&notice("error", e));
    }
    let _ = write!(
        body,
        "<div class=\"cards\"><section class=\"card\"><h2>Email and password</h2>\
         <form method=\"post\" action=\"/signin\">{}{}{}<button type=\"submit\">Sign in</button></form></section>\
         <section class=\"card\"><h2>API key</h2>\
         <form method=\"post\" action=\"/signin/key\">{}{}<button type=\"submit\">Sign in with a key</button></form></section>",
        csrf_field(csrf),
        input("email", "Email", "", "email", true),
        input("password", "Password", "", "password", true),
        csrf_field(csrf),
        input("key", "API key (mcpk_…)", "", "password", true),
    );
    if ui.platform.oidc.is_some() {
        body.push_str(
            "<section class=\"card\"><h2>Single sign-on</h2><p>Sign in with your organisation's identity provider.</p>\
             <p><a class=\"button\" href=\"/signin/oidc\">Sign in with OpenID Connect</a></p></section>",
        );
    }
    body.push_str("</div>");
    html::page("Sign in", "", None, &body)
}

/// The pre-sign-in cookie (new when missing) and its CSRF token.
fn pre(ui: &Ui, req: &Req) -> Result<(String, String, bool), Response> {
    match cookie(&req.headers, PRE_COOKIE) {
        Some(p) => Ok((ui.csrf_for(&format!("pre:{p}")), p, false)),
        None => {
            let p = Ui::new_id()?;
            Ok((ui.csrf_for(&format!("pre:{p}")), p, true))
        }
    }
}

fn with_cookie(mut r: Response, value: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub(crate) async fn signin_page(State(ui): UiState, req: Req) -> Response {
    if req.sid.is_some() && ui.signed(req.clone()).await.is_ok() {
        return redirect("/");
    }
    let (csrf, p, fresh) = match pre(&ui, &req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let r = respond(StatusCode::OK, signin_html(&ui, &csrf, None));
    if fresh { with_cookie(r, set_cookie(PRE_COOKIE, &p, req.https)) } else { r }
}

/// Checks a sign-in form: same origin, pre-session token.
fn check_pre(ui: &Ui, req: &Req, f: &HashMap<String, String>) -> Result<String, Response> {
    if !same_origin(req) {
        return Err(super::csrf_refused("the request did not come from this site (Origin/Referer)"));
    }
    let Some(p) = cookie(&req.headers, PRE_COOKIE) else {
        return Err(super::csrf_refused("the sign-in form's security cookie is missing"));
    };
    if !ui.csrf_ok(&format!("pre:{p}"), field(f, "csrf")) {
        return Err(super::csrf_refused("the form's security token is missing or wrong"));
    }
    Ok(ui.csrf_for(&format!("pre:{p}")))
}

/// Signed in: the session cookie, the pre-session cookie cleared, to the overview.
fn start(ui: &Ui, req: &Req, bearer: String, refresh: Option<String>, expires_in: Option<u64>) -> Response {
    let sid = match ui.remember(bearer, refresh, expires_in) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let r = with_cookie(redirect("/"), set_cookie(SESSION_COOKIE, &sid, req.https));
    with_cookie(r, set_cookie(PRE_COOKIE, "", req.https))
}

pub(crate) async fn signin_password(State(ui): UiState, req: Req, Form(f): Fields) -> Response {
    let csrf = match check_pre(&ui, &req, &f) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let body =
        json!({"email": field(&f, "email"), "password": f.get("password").map(String::as_str).unwrap_or("")});
    let reply = ui.raw(&req, Method::POST, "/api/v1/auth/login", None, Some(&body)).await;
    match (reply.body["access_token"].as_str(), reply.body["refresh_token"].as_str()) {
        (Some(a), Some(r)) if reply.ok() => {
            start(&ui, &req, a.to_string(), Some(r.to_string()), reply.body["expires_in"].as_u64())
        }
        _ => {
            let status = if reply.status.is_client_error() { reply.status } else { StatusCode::BAD_GATEWAY };
            let mut resp = respond(status, signin_html(&ui, &csrf, Some(&reply.message())));
            if let Some(v) = reply.headers.get(header::RETRY_AFTER) {
                resp.headers_mut().insert(header::RETRY_AFTER, v.clone());
            }
            resp
        }
    }
}

pub(crate) async fn signin_key(State(ui): UiState, req: Req, Form(f): Fields) -> Response {
    let csrf = match check_pre(&ui, &req, &f) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let key = field(&f, "key").to_string();
    let reply = ui.raw(&req, Method::GET, "/api/v1/me", Some(&key), None).await;
    if reply.ok() {
        start(&ui, &req, key, None, None)
    } else {
        let status = if reply.status.is_client_error() { reply.status } else { StatusCode::BAD_GATEWAY };
        respond(status, signin_html(&ui, &csrf, Some(&reply.message())))
    }
}

pub(crate) async fn signin_oidc(State(ui): UiState, req: Req) -> Response {
    let reply = ui.raw(&req, Method::GET, "/api/v1/auth/oidc/authorize", None, None).await;
    let location = reply.headers.get(header::LOCATION).and_then(|l| l.to_str().ok()).map(String::from);
    let Some(location) = location.filter(|_| reply.status == StatusCode::FOUND) else {
        return error_page(None, reply.status, &reply.message());
    };
    // Binds the sign-in to this browser: the callback must bring the same `state`.
    let state = location
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("state="))
        .unwrap_or("")
        .to_string();
    let mut r = redirect(&location);
    // Lax: the issuer's redirect back is a cross-site top-level navigation.
    let mut c = format!("{OIDC_COOKIE}={state}; Path=/signin/oidc; HttpOnly; SameSite=Lax; Max-Age=600");
    if req.https {
        c.push_str("; Secure");
    }
    r = with_cookie(r, c);
    r
}

pub(crate) async fn oidc_callback(State(ui): UiState, req: Req, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    let state = q.split('&').find_map(|kv| kv.strip_prefix("state=")).unwrap_or("");
    let bound = cookie(&req.headers, OIDC_COOKIE);
    if state.is_empty() || bound.as_deref() != Some(state) {
        return super::csrf_refused("this sign-in was not started in this browser");
    }
    let reply = ui.raw(&req, Method::GET, &format!("/api/v1/auth/oidc/callback?{q}"), None, None).await;
    match (reply.body["access_token"].as_str(), reply.body["refresh_token"].as_str()) {
        (Some(a), Some(r)) if reply.ok() => {
            let resp =
                start(&ui, &req, a.to_string(), Some(r.to_string()), reply.body["expires_in"].as_u64());
            with_cookie(resp, format!("{OIDC_COOKIE}=; Path=/signin/oidc; HttpOnly; SameSite=Lax; Max-Age=0"))
        }
        _ => error_page(None, reply.status, &reply.message()),
    }
}

pub(crate) async fn signout(State(ui): UiState, req: Req, Form(f): Fields) -> Response {
    let https = req.https;
    let s = match ui.signed_post(req, f.get("csrf").map(String::as_str)).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(entry) = ui.forget(&s.sid) {
        let session = entry.lock().await;
        if let Some(refresh) = &session.refresh {
            let _ = ui
                .raw(
                    &s.req,
                    Method::POST,
                    "/api/v1/auth/logout",
                    None,
                    Some(&json!({"refresh_token": refresh})),
                )
                .await;
        }
    }
    with_cookie(redirect("/signin"), set_cookie(SESSION_COOKIE, "", https))
}

macro_rules! signed {
    ($ui:expr, $req:expr) => {
        match $ui.signed($req).await {
            Ok(s) => s,
            Err(r) => return r,
        }
    };
}

macro_rules! posted {
    ($ui:expr, $req:expr, $f:expr) => {
        match $ui.signed_post($req, $f.get("csrf").map(String::as_str)).await {
            Ok(s) => s,
            Err(r) => return r,
        }
    };
}

macro_rules! get_ok {
    ($ui:expr, $s:expr, $uri:expr) => {{
        let uri: &str = &$uri;
        let r = $ui.call(&$s, Method::GET, uri, None).await;
        if !r.ok() {
            return refused(&$s, &r);
        }
        r.body
    }};
}

// ---- overview ------------------------------------------------------------------------------

pub(crate) async fn overview(State(ui): UiState, req: Req) -> Response {
    let s = signed!(ui, req);
    let mut body = String::new();
    if s.admin() {
        let sum = get_ok!(ui, s, "/api/v1/dashboard/summary");
        body.push_str("<div class=\"cards\">");
        for (k, label) in [
            ("active_servers", "Servers"),
            ("active_grants", "Active grants"),
            ("active_sessions", "Active sessions"),
            ("total_events", "Recorded events"),
        ] {
            let v = text(&sum[k]);
            let _ = write!(
                body,
                "<section class=\"card stat\"><h2>{label}</h2><p class=\"big\">{}</p></section>",
                esc(if v.is_empty() { "—" } else { &v })
            );
        }
        body.push_str("</div>");
        if !sum["last_event_time"].is_null() {
            let _ = write!(
                body,
                "<p>Last event: {} from {} at {}.</p>",
                esc(&text(&sum["last_event_type"])),
                esc(&text(&sum["latest_source"])),
                esc(&text(&sum["last_event_time"]))
            );
        }
    }
    let rows: Vec<Vec<String>> = s.me["teams"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    let name = text(&t["name"]);
                    vec![
                        format!("<a href=\"/teams/{}\">{}</a>", enc(&name), esc(&name)),
                        esc(&text(&t["display_name"])),
                        esc(&text(&t["role"])),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(
        body,
        "<h2>Your teams</h2>{}<p>Signed in as {} ({}).</p>",
        table("", &["Team", "Name", "Your role"], &rows),
        esc(&s.email()),
        esc(&text(&s.me["auth"]))
    );
    render(&s, "Overview", "/", &body)
}

// ---- catalog -------------------------------------------------------------------------------

fn query_string(q: &HashMap<String, String>, keys: &[&str]) -> String {
    let mut parts = Vec::new();
    for k in keys {
        if let Some(v) = q.get(*k).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            parts.push(format!("{}={}", enc(k), enc(v)));
        }
    }
    parts.join("&")
}

fn drift_badge(d: &str) -> String {
    let kind = match d {
        "declared" => "ok",
        "changed" | "missing" => "warn",
        _ => "bad",
    };
    badge(d, kind)
}

pub(crate) async fn catalog(State(ui): UiState, req: Req, Query(q): Params) -> Response {
    let s = signed!(ui, req);
    let qs = query_string(&q, &["q", "team", "drift", "trust", "risk", "side_effect"]);
    let data = get_ok!(ui, s, format!("/api/v1/catalog/servers?{qs}"));
    let mut body = done(&q);
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/catalog\" class=\"filters\">{}{}{}<button type=\"submit\">Filter</button></form>",
        input("q", "Search", q.get("q").map(String::as_str).unwrap_or(""), "search", false),
        input("team", "Team", q.get("team").map(String::as_str).unwrap_or(""), "text", false),
        select(
            "drift",
            "Drift",
            &["", "declared", "changed", "missing", "ungoverned"].map(String::from),
            q.get("drift").map(String::as_str).unwrap_or("")
        ),
    );
    let items = data["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        body.push_str("<p class=\"empty\">No servers you can see match.</p>");
    }
    for srv in &items {
        let team = text(&srv["team"]);
        let name = text(&srv["name"]);
        let drift: Vec<String> = srv["drift"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{} {}", drift_badge(k), esc(&text(v)))).collect())
            .unwrap_or_default();
        let _ = write!(
            body,
            "<section class=\"card wide\"><h2>{} <small>team {}</small></h2><p>{}</p>\
             <dl class=\"facts\"><dt>Phase</dt><dd>{}</dd><dt>Governed URL</dt><dd><code>{}</code></dd>\
             <dt>Policy revision</dt><dd><code>{}</code></dd><dt>Drift</dt><dd>{}</dd><dt>Live inventory</dt><dd>{}</dd></dl>\
             <p><a class=\"button\" href=\"/catalog/{}/{}\">Connect configs</a></p>",
            esc(&name),
            esc(&team),
            esc(&text(&srv["description"])),
            esc(&text(&srv["phase"])),
            esc(&text(&srv["url"])),
            esc(&text(&srv["policy_revision"])),
            drift.join(" "),
            if srv["live_inventory"].is_array() {
                "reported".to_string()
            } else {
                esc(&format!("not reported: {}", text(&srv["live_inventory_error"])))
            },
            enc(&team),
            enc(&name)
        );
        let rows: Vec<Vec<String>> = srv["tools"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        vec![
                            format!("<code>{}</code>", esc(&text(&t["tool_name"]))),
                            esc(&text(&t["description"])),
                            if t["declared"] == true { "yes".into() } else { "no".into() },
                            match t["live"].as_bool() {
                                Some(true) => "yes".into(),
                                Some(false) => "no".into(),
                                None => "unknown".into(),
                            },
                            drift_badge(&text(&t["drift_status"])),
                            esc(&text(&t["required_trust"])),
                            esc(&text(&t["side_effect"])),
                            esc(&text(&t["risk_level"])),
                            format!("<code class=\"pin\">{}</code>", esc(&text(&t["pin"]))),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        body.push_str(&table(
            "Tools",
            &["Tool", "Description", "Declared", "Live", "Drift", "Trust", "Side effect", "Risk", "Pin"],
            &rows,
        ));
        body.push_str("</section>");
    }
    let _ = write!(
        body,
        "<h2>Publish a server</h2><form method=\"post\" action=\"/catalog\" class=\"stack\">{}<div class=\"grid\">{}{}</div>{}\
         <label class=\"check\"><input type=\"checkbox\" name=\"update\" value=\"true\"> Update if it exists</label>\
         <button type=\"submit\">Publish</button></form>",
        csrf_field(&s.csrf),
        select("team", "Team", &s.teams(), q.get("team").map(String::as_str).unwrap_or("")),
        input("name", "Server name", "", "text", true),
        textarea("spec", "Spec (JSON, as in MCPServer)", SERVER_EXAMPLE, 8)
    );
    render(&s, "Catalog", "/catalog", &body)
}

const SERVER_EXAMPLE: &str = "{\n  \"image\": \"registry.local/example-mcp\",\n  \"tools\": [{\"name\": \"echo\", \"sideEffect\": \"read\"}]\n}";

pub(crate) async fn publish(State(ui): UiState, req: Req, Form(f): Fields) -> Response {
    let s = posted!(ui, req, f);
    let spec: Value = match serde_json::from_str(field(&f, "spec")) {
        Ok(v) => v,
        Err(e) => {
            return error_page(Some(&s), StatusCode::BAD_REQUEST, &format!("The spec is not JSON: {e}"));
        }
    };
    let body = json!({"team": field(&f, "team"), "name": field(&f, "name"), "spec": spec,
        "update": field(&f, "update") == "true"});
    let r = ui.call(&s, Method::POST, "/api/v1/runtime/servers", Some(&body)).await;
    if !r.ok() {
        return refused(&s, &r);
    }
    redirect(&format!("/catalog?ok=server-published&team={}", enc(field(&f, "team"))))
}

pub(crate) async fn connect(
    State(ui): UiState,
    req: Req,
    Path((team, name)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let s = signed!(ui, req);
    let agent =
        q.get("agent").map(|a| a.trim()).filter(|a| !a.is_empty()).unwrap_or("<agent-id>").to_string();
    let data = get_ok!(
        ui,
        s,
        format!("/api/v1/catalog/servers/{}/{}/connect?agent={}", enc(&team), enc(&name), enc(&agent))
    );
    let mut body = format!(
        "<p>Client configurations for <strong>{}</strong> of team <strong>{}</strong>. Each starts \
         <code>mcp-runtime adapter</code>, which signs in with your saved login.</p>\
         <form method=\"get\" class=\"filters\">{}<button type=\"submit\">Use this agent</button></form>",
        esc(&name),
        esc(&team),
        input("agent", "Agent id", &agent, "text", false)
    );
    for (key, label) in [
        ("claude_desktop", "Claude Desktop"),
        ("cursor", "Cursor"),
        ("vscode", "VS Code"),
        ("json", "Generic (JSON)"),
    ] {
        let pretty = serde_json::to_string_pretty(&data[key]).unwrap_or_default();
        let _ = write!(
            body,
            "<section class=\"card wide\"><h2>{label}</h2><pre id=\"cfg-{key}\">{}</pre>\
             <button type=\"button\" class=\"copy\" data-copy=\"cfg-{key}\" hidden>Copy</button></section>",
            esc(&pretty)
        );
    }
    render(&s, &format!("Connect {name}"), "/catalog", &body)
}

// ---- governance ----------------------------------------------------------------------------

/// A grant or a session (the governance objects edited as JSON specs).
#[derive(Clone, Copy)]
struct Kind {
    /// `grant` or `session` (the API's item key).
    key: &'static str,
    /// `grants` or `sessions` (paths).
    plural: &'static str,
    /// The CRD kind.
    crd: &'static str,
    /// The fields worth naming.
    fields: &'static str,
    /// A starting spec.
    example: &'static str,
}

const GRANT: Kind = Kind {
    key: "grant",
    plural: "grants",
    crd: "MCPAccessGrant",
    fields: "serverRef, subject, maxTrust, allowedSideEffects, toolRules, expiresAt, disabled, …",
    example: "{\n  \"serverRef\": {\"name\": \"my-server\"},\n  \"subject\": {\"agentID\": \"agt_...\"},\n  \"maxTrust\": \"low\",\n  \"allowedSideEffects\": [\"read\"],\n  \"toolRules\": [{\"name\": \"echo\", \"decision\": \"allow\"}]\n}",
};

const SESSION: Kind = Kind {
    key: "session",
    plural: "sessions",
    crd: "MCPAgentSession",
    fields: "serverRef, subject, grantName, consentedTrust, expiresAt, revoked, …",
    example: "{\n  \"serverRef\": {\"name\": \"my-server\"},\n  \"subject\": {\"humanID\": \"usr_...\", \"agentID\": \"agt_...\"},\n  \"grantName\": \"my-grant\",\n  \"consentedTrust\": \"low\",\n  \"expiresAt\": \"2030-01-01T00:00:00Z\"\n}",
};

fn object_form(s: &Signed, kind: Kind, team: &str, name: &str, spec: &str, editing: bool) -> String {
    let mut teams = s.teams();
    if !team.is_empty() && !teams.iter().any(|t| t == team) {
        teams.insert(0, team.to_string());
    }
    format!(
        "<form method=\"post\" action=\"/governance/{}\" class=\"stack\">{}{}{}{}\
         <p class=\"hint\">The {}'s <code>spec</code> as JSON (fields as in <code>{}</code>: {}).</p>\
         <button type=\"submit\">{} {}</button></form>",
        kind.plural,
        csrf_field(&s.csrf),
        select("team", "Team", &teams, team),
        input("name", if kind.key == "grant" { "Grant name" } else { "Session name" }, name, "text", true),
        textarea("spec", "Spec (JSON)", spec, 10),
        kind.key,
        kind.crd,
        esc(kind.fields),
        if editing { "Save" } else { "Create" },
        kind.key
    )
}

pub(crate) async fn governance(State(ui): UiState, req: Req, Query(q): Params) -> Response {
    let s = signed!(ui, req);
    let qs = query_string(&q, &["team", "server"]);
    let grants = get_ok!(ui, s, format!("/api/v1/runtime/grants?{qs}"));
    let sessions = get_ok!(ui, s, format!("/api/v1/runtime/sessions?{qs}"));
    let mut body = done(&q);
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/governance\" class=\"filters\">{}{}<button type=\"submit\">Filter</button></form>",
        input("team", "Team", q.get("team").map(String::as_str).unwrap_or(""), "text", false),
        input("server", "Server", q.get("server").map(String::as_str).unwrap_or(""), "text", false),
    );
    let rows: Vec<Vec<String>> = grants["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|g| {
                    let team = text(&g["team"]);
                    let name = text(&g["grant"]["metadata"]["name"]);
                    let spec = &g["grant"]["spec"];
                    let disabled = spec["disabled"] == true;
                    let base = format!("/governance/grants/{}/{}", enc(&team), enc(&name));
                    let subject = spec["subject"]
                        .as_object()
                        .map(|o| {
                            o.iter().map(|(k, v)| format!("{k}={}", text(v))).collect::<Vec<_>>().join(", ")
                        })
                        .unwrap_or_default();
                    let toggle = if disabled {
                        button_form(&format!("{base}/enable"), &s.csrf, "Enable", &[], "")
                    } else {
                        button_form(&format!("{base}/disable"), &s.csrf, "Disable", &[], "")
                    };
                    vec![
                        esc(&team),
                        format!("<a href=\"{base}\">{}</a>", esc(&name)),
                        esc(&text(&spec["serverRef"]["name"])),
                        esc(&subject),
                        esc(&text(&spec["maxTrust"])),
                        esc(&text(&spec["expiresAt"])),
                        if disabled { badge("disabled", "bad") } else { badge("enabled", "ok") },
                        format!(
                            "{toggle}{}{}",
                            button_form(
                                &format!("{base}/revoke-sessions"),
                                &s.csrf,
                                "Revoke sessions",
                                &[],
                                ""
                            ),
                            button_form(&format!("{base}/delete"), &s.csrf, "Delete", &[], "danger")
                        ),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(
        body,
        "<h2>Grants</h2>{}",
        table("", &["Team", "Grant", "Server", "Subject", "Max trust", "Expires", "State", "Actions"], &rows)
    );
    let rows: Vec<Vec<String>> = sessions["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|x| {
                    let team = text(&x["team"]);
                    let name = text(&x["session"]["metadata"]["name"]);
                    let spec = &x["session"]["spec"];
                    let revoked = spec["revoked"] == true;
                    let base = format!("/governance/sessions/{}/{}", enc(&team), enc(&name));
                    let toggle = if revoked {
                        button_form(&format!("{base}/unrevoke"), &s.csrf, "Unrevoke", &[], "")
                    } else {
                        button_form(&format!("{base}/revoke"), &s.csrf, "Revoke", &[], "danger")
                    };
                    vec![
                        esc(&team),
                        format!(
                            "<a href=\"/governance/sessions/{}/{}\">{}</a>",
                            enc(&team),
                            enc(&name),
                            esc(&name)
                        ),
                        esc(&text(&spec["serverRef"]["name"])),
                        esc(&text(&spec["subject"]["humanID"])),
                        esc(&text(&spec["subject"]["agentID"])),
                        esc(&text(&spec["consentedTrust"])),
                        esc(&text(&spec["expiresAt"])),
                        if revoked { badge("revoked", "bad") } else { badge("active", "ok") },
                        format!(
                            "{toggle}{}",
                            button_form(&format!("{base}/delete"), &s.csrf, "Delete", &[], "danger")
                        ),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(
        body,
        "<h2>Sessions</h2>{}<h2>New grant</h2>{}<h2>New session</h2>{}",
        table(
            "",
            &["Team", "Session", "Server", "Human", "Agent", "Trust", "Expires", "State", "Actions"],
            &rows
        ),
        object_form(&s, GRANT, q.get("team").map(String::as_str).unwrap_or(""), "", GRANT.example, false),
        object_form(&s, SESSION, q.get("team").map(String::as_str).unwrap_or(""), "", SESSION.example, false)
    );
    render(&s, "Governance", "/governance", &body)
}

async fn edit(ui: &Ui, req: Req, kind: Kind, team: &str, name: &str) -> Response {
    let s = signed!(ui, req);
    let o = get_ok!(ui, s, format!("/api/v1/runtime/{}/{}/{}", kind.plural, enc(team), enc(name)));
    let spec = serde_json::to_string_pretty(&o[kind.key]["spec"]).unwrap_or_default();
    let status = serde_json::to_string_pretty(&o[kind.key]["status"]).unwrap_or_default();
    let body = format!(
        "{}<h2>Status</h2><pre>{}</pre>",
        object_form(&s, kind, team, name, &spec, true),
        esc(&status)
    );
    render(
        &s,
        &format!("{} {name}", if kind.key == "grant" { "Grant" } else { "Session" }),
        "/governance",
        &body,
    )
}

pub(crate) async fn grant_edit(
    State(ui): UiState,
    req: Req,
    Path((team, name)): Path<(String, String)>,
) -> Response {
    edit(&ui, req, GRANT, &team, &name).await
}

pub(crate) async fn session_edit(
    State(ui): UiState,
    req: Req,
    Path((team, name)): Path<(String, String)>,
) -> Response {
    edit(&ui, req, SESSION, &team, &name).await
}

async fn apply(ui: &Ui, req: Req, kind: Kind, f: HashMap<String, String>) -> Response {
    let s = posted!(ui, req, f);
    let spec: Value = match serde_json::from_str(field(&f, "spec")) {
        Ok(v) => v,
        Err(e) => {
            return error_page(Some(&s), StatusCode::BAD_REQUEST, &format!("The spec is not JSON: {e}"));
        }
    };
    let body = json!({"team": field(&f, "team"), "name": field(&f, "name"), "spec": spec});
    let r = ui.call(&s, Method::POST, &format!("/api/v1/runtime/{}", kind.plural), Some(&body)).await;
    if !r.ok() {
        return refused(&s, &r);
    }
    redirect(&format!("/governance?ok={}-saved", kind.key))
}

pub(crate) async fn grant_apply(State(ui): UiState, req: Req, Form(f): Fields) -> Response {
    apply(&ui, req, GRANT, f).await
}

pub(crate) async fn session_apply(State(ui): UiState, req: Req, Form(f): Fields) -> Response {
    apply(&ui, req, SESSION, f).await
}

pub(crate) async fn grant_action(
    State(ui): UiState,
    req: Req,
    Path((team, name, action)): Path<(String, String, String)>,
    Form(f): Fields,
) -> Response {
    let s = posted!(ui, req, f);
    let base = format!("/api/v1/runtime/grants/{}/{}", enc(&team), enc(&name));
    let (method, uri) = match action.as_str() {
        "enable" | "disable" | "revoke-sessions" => (Method::POST, format!("{base}/{action}")),
        "delete" => (Method::DELETE, base),
        _ => return error_page(Some(&s), StatusCode::NOT_FOUND, "no such action"),
    };
    let body = (method == Method::POST).then(|| json!({}));
    let r = ui.call(&s, method, &uri, body.as_ref()).await;
    if !r.ok() {
        return refused(&s, &r);
    }
    redirect(&format!("/governance?ok=grant-{action}"))
}

pub(crate) async fn session_action(
    State(ui): UiState,
    req: Req,
    Path((team, name, action)): Path<(String, String, String)>,
    Form(f): Fields,
) -> Response {
    let s = posted!(ui, req, f);
    let base = format!("/api/v1/runtime/sessions/{}/{}", enc(&team), enc(&name));
    let (method, uri) = match action.as_str() {
        "revoke" | "unrevoke" => (Method::POST, format!("{base}/{action}")),
        "delete" => (Method::DELETE, base),
        _ => return error_page(Some(&s), StatusCode::NOT_FOUND, "no such action"),
    };
    let body = (method == Method::POST).then(|| json!({}));
    let r = ui.call(&s, method, &uri, body.as_ref()).await;
    if !r.ok() {
        return refused(&s, &r);
    }
    redirect(&format!("/governance?ok=session-{action}"))
}

// ---- agents --------------------------------------------------------------------------------

fn chosen_team(s: &Signed, q: &HashMap<String, String>) -> String {
    q.get("team")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| s.teams().into_iter().next())
        .unwrap_or_default()
}

fn team_picker(s: &Signed, action: &str, team: &str) -> String {
    format!(
        "<form method=\"get\" action=\"{action}\" class=\"filters\">{}<button type=\"submit\">Show</button></form>",
        select("team", "Team", &s.teams(), team)
    )
}

pub(crate) async fn agents(State(ui): UiState, req: Req, Query(q): Params) -> Response {
    let s = signed!(ui, req);
    let team = chosen_team(&s, &q);
    let mut body = done(&q);
    body.push_str(&team_picker(&s, "/agents", &team));
    if team.is_empty() {
        body.push_str("<p class=\"empty\">You are in no team yet.</p>");
        return render(&s, "Agents", "/agents", &body);
    }
    let data = get_ok!(ui, s, format!("/api/v1/runtime/teams/{}/agents", enc(&team)));
    let rows: Vec<Vec<String>> = data["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|a| {
                    let id = text(&a["id"]);
                    let active = a["status"] == "active";
                    let action = if active { "deactivate" } else { "reactivate" };
                    vec![
                        esc(&text(&a["name"])),
                        format!("<code>{}</code>", esc(&id)),
                        esc(&text(&a["description"])),
                        if active { badge("active", "ok") } else { badge(&text(&a["status"]), "bad") },
                        esc(&time(&a["created_at"])),
                        button_form(
                            &format!("/agents/{}/{action}", enc(&id)),
                            &s.csrf,
                            if active { "Deactivate" } else { "Reactivate" },
                            &[("team", &team)],
                            "",
                        ),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(
        body,
        "{}<h2>Register an agent</h2><form method=\"post\" action=\"/agents\" class=\"stack\">{}\
         <input type=\"hidden\" name=\"team\" value=\"{}\">{}{}<button type=\"submit\">Register</button></form>",
        table("", &["Name", "Id", "Description", "State", "Created", "Actions"], &rows),
        csrf_field(&s.csrf),
        esc(&team),
        input("name", "Name", "", "text", true),
        input("description", "Description", "", "text", false)
    );
    render(&s, "Agents", "/agents", &body)
}

pub(crate) async fn agent_register(State(ui): UiState, req: Req, Form(f): Fields) -> Response {
    let s = posted!(ui, req, f);
    let team = field(&f, "team").to_string();
    let mut body = json!({"name": field(&f, "name")});
    if !field(&f, "description").is_empty() {
        body["description"] = json!(field(&f, "description"));
    }
    let r =
        ui.call(&s, Method::POST, &format!("/api/v1/runtime/teams/{}/agents", enc(&team)), Some(&body)).await;
    if !r.ok() {
        return refused(&s, &r);
    }
    redirect(&format!("/agents?team={}&ok=agent-registered", enc(&team)))
}

pub(crate) async fn agent_action(
    State(ui): UiState,
    req: Req,
    Path((id, action)): Path<(String, String)>,
    Form(f): Fields,
) -> Response {
    let s = posted!(ui, req, f);
    if action != "deactivate" && action != "reactivate" {
        return error_page(Some(&s), StatusCode::NOT_FOUND, "no such action");
    }
    let r = ui
        .call(&s, Method::POST, &format!("/api/v1/runtime/agents/{}/{action}", enc(&id)), Some(&json!({})))
        .await;
    if !r.ok() {
        return refused(&s, &r);
    }
    redirect(&format!("/agents?team={}&ok=agent-{action}", enc(field(&f, "team"))))
}

// ---- analytics -----------------------------------------------------------------------------

/// The API prefix of a reader's analytics: admin-wide, or one team's.
fn analytics_base(s: &Signed, q: &HashMap<String, String>) -> (String, String) {
    let team = q.get("team").map(|t| t.trim().to_string()).unwrap_or_default();
    if s.admin() && team.is_empty() {
        return ("/api/v1".into(), String::new());
    }
    let team = if team.is_empty() { s.teams().into_iter().next().unwrap_or_default() } else { team };
    (format!("/api/v1/teams/{}/analytics", enc(&team)), team)
}

/// The page of someone in no team on a team-scoped reader.
fn no_team(s: &Signed, title: &str, active: &str) -> Response {
    render(s, title, active, "<p class=\"empty\">You are in no team yet: ask a team owner to add you.</p>")
}

fn team_scope_picker(s: &Signed, action: &str, team: &str, extra: &str) -> String {
    let mut teams = s.teams();
    if s.admin() {
        teams.insert(0, String::new());
    }
    format!(
        "<form method=\"get\" action=\"{action}\" class=\"filters\">{}{extra}<button type=\"submit\">Show</button></form>",
        select("team", if s.admin() { "Team (empty: all)" } else { "Team" }, &teams, team)
    )
}

pub(crate) async fn analytics(State(ui): UiState, req: Req, Query(q): Params) -> Response {
    let s = signed!(ui, req);
    let (base, team) = analytics_base(&s, &q);
    if team.is_empty() && !s.admin() {
        return no_team(&s, "Analytics", "/analytics");
    }
    let window = q.get("window_days").and_then(|w| w.trim().parse::<u32>().ok()).unwrap_or(7).clamp(1, 365);
    let usage_path =
        if team.is_empty() { format!("{base}/analytics/usage") } else { format!("{base}/usage") };
    let latency_path =
        if team.is_empty() { format!("{base}/analytics/latency") } else { format!("{base}/latency") };
    let deny_path = if team.is_empty() {
        format!("{base}/analytics/deny-reasons")
    } else {
        format!("{base}/deny-reasons")
    };
    let usage = get_ok!(ui, s, format!("{usage_path}?window_days={window}"));
    let latency = get_ok!(ui, s, format!("{latency_path}?window_days={window}"));
    let denies = get_ok!(ui, s, format!("{deny_path}?window_days={window}"));
    let windows = ["1", "7", "30", "90"].map(String::from);
    let mut body = team_scope_picker(
        &s,
        "/analytics",
        &team,
        &select("window_days", "Days", &windows, &window.to_string()),
    );
    let totals = &usage["totals"];
    let _ = write!(
        body,
        "<p>From {} to {}.</p><div class=\"cards\">",
        esc(&text(&usage["from"])),
        esc(&text(&usage["to"]))
    );
    if let Some(obj) = totals.as_object() {
        for (k, v) in obj {
            let _ = write!(
                body,
                "<section class=\"card stat\"><h2>{}</h2><p class=\"big\">{}</p></section>",
                esc(&k.replace('_', " ")),
                esc(&text(v))
            );
        }
    }
    body.push_str("</div>");
    let points: Vec<(String, Vec<f64>)> = usage["buckets"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|b| {
                    let label = time(&b["start_ms"]);
                    let allowed = b["allowed"].as_f64().unwrap_or(0.0);
                    let denied = b["denied"].as_f64().unwrap_or(0.0);
                    let other = (b["events"].as_f64().unwrap_or(0.0) - allowed - denied).max(0.0);
                    (label, vec![allowed, denied, other])
                })
                .collect()
        })
        .unwrap_or_default();
    body.push_str("<h2>Calls over time by decision</h2>");
    body.push_str(&stacked_columns(
        "Calls over time by decision",
        &points,
        &[("allow", "s-allow"), ("deny", "s-deny"), ("other", "s-other")],
    ));
    let reasons: Vec<(String, f64)> = denies["items"]
        .as_array()
        .map(|i| i.iter().map(|r| (text(&r["reason"]), r["count"].as_f64().unwrap_or(0.0))).collect())
        .unwrap_or_default();
    body.push_str("<h2>Denials by reason</h2>");
    body.push_str(&bars("Denials by reason", &reasons, "s-deny", ""));
    let lat = latency["items"].as_array().cloned().unwrap_or_default();
    let p95: Vec<(String, f64)> = lat
        .iter()
        .map(|l| {
            (format!("{}/{}", text(&l["server"]), text(&l["tool_name"])), l["p95_ms"].as_f64().unwrap_or(0.0))
        })
        .collect();
    body.push_str("<h2>Latency per tool</h2>");
    body.push_str(&bars("p95 latency per tool (ms)", &p95, "s-allow", " ms"));
    let rows: Vec<Vec<String>> = lat
        .iter()
        .map(|l| {
            vec![
                esc(&text(&l["server"])),
                format!("<code>{}</code>", esc(&text(&l["tool_name"]))),
                esc(&text(&l["calls"])),
                html::round(l["p50_ms"].as_f64().unwrap_or(0.0)),
                html::round(l["p95_ms"].as_f64().unwrap_or(0.0)),
                html::round(l["p99_ms"].as_f64().unwrap_or(0.0)),
            ]
        })
        .collect();
    body.push_str(&table("Latency (ms)", &["Server", "Tool", "Calls", "p50", "p95", "p99"], &rows));
    let actors: Vec<Vec<String>> = usage["actors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|a| {
                    vec![
                        esc(&text(&a["agent_id"])),
                        esc(&text(&a["human_id"])),
                        esc(&text(&a["events"])),
                        esc(&text(&a["allowed"])),
                        esc(&text(&a["denied"])),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    body.push_str("<h2>Top agents</h2>");
    body.push_str(&table("", &["Agent", "Human", "Calls", "Allowed", "Denied"], &actors));
    let tools: Vec<Vec<String>> = usage["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    vec![
                        esc(&text(&t["server"])),
                        format!("<code>{}</code>", esc(&text(&t["tool_name"]))),
                        esc(&text(&t["agent_id"])),
                        esc(&text(&t["events"])),
                        esc(&text(&t["allowed"])),
                        esc(&text(&t["denied"])),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    body.push_str("<h2>Top tools</h2>");
    body.push_str(&table("", &["Server", "Tool", "Agent", "Calls", "Allowed", "Denied"], &tools));
    let _ = write!(
        body,
        "<p><a href=\"/events{}\">Explore the events</a></p>",
        if team.is_empty() { String::new() } else { format!("?team={}", enc(&team)) }
    );
    render(&s, "Analytics", "/analytics", &body)
}

/// The event list's query parameters the explorer passes on.
fn event_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = mcp_events::columns::filters().collect();
    keys.extend(["since", "until", "limit", "cursor"]);
    keys
}

pub(crate) async fn events(State(ui): UiState, req: Req, Query(q): Params) -> Response {
    let s = signed!(ui, req);
    let (base, team) = analytics_base(&s, &q);
    if team.is_empty() && !s.admin() {
        return no_team(&s, "Events", "/events");
    }
    let path = format!("{base}/events");
    let keys = event_keys();
    let qs = query_string(&q, &keys);
    let data = get_ok!(ui, s, format!("{path}?{qs}"));
    let mut filters = String::new();
    for k in mcp_events::columns::filters().chain(["since", "until", "limit"]) {
        filters.push_str(&input(k, k, q.get(k).map(String::as_str).unwrap_or(""), "text", false));
    }
    let mut body = team_scope_picker(&s, "/events", &team, &format!("<div class=\"grid\">{filters}</div>"));
    let team_q = if team.is_empty() { String::new() } else { format!("&team={}", enc(&team)) };
    let rows: Vec<Vec<String>> = data["events"]
        .as_array()
        .map(|evs| {
            evs.iter()
                .map(|e| {
                    let decision = text(&e["decision"]);
                    vec![
                        format!(
                            "<a href=\"/events/detail?id={}&ts={}{team_q}\">{}</a>",
                            enc(&text(&e["event_id"])),
                            enc(&text(&e["ts_ms"])),
                            esc(&text(&e["timestamp"]))
                        ),
                        esc(&text(&e["source"])),
                        esc(&text(&e["event_type"])),
                        esc(&text(&e["server"])),
                        format!("<code>{}</code>", esc(&text(&e["tool_name"]))),
                        match decision.as_str() {
                            "allow" => badge("allow", "ok"),
                            "deny" => badge("deny", "bad"),
                            d => esc(d),
                        },
                        esc(&text(&e["reason"])),
                        esc(&text(&e["agent_id"])),
                        e["latency_ms"].as_f64().map(html::round).unwrap_or_default(),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    body.push_str(&table(
        "Events, newest first",
        &["Time", "Source", "Type", "Server", "Tool", "Decision", "Reason", "Agent", "Latency ms"],
        &rows,
    ));
    if let Some(next) = data["meta"]["next_cursor"].as_str() {
        let mut nq = q.clone();
        nq.insert("cursor".into(), next.to_string());
        let mut keys2 = keys.clone();
        keys2.push("team");
        let _ = write!(body, "<p><a href=\"/events?{}\">Next page</a></p>", esc(&query_string(&nq, &keys2)));
    }
    render(&s, "Events", "/events", &body)
}

pub(crate) async fn event_detail(State(ui): UiState, req: Req, Query(q): Params) -> Response {
    let s = signed!(ui, req);
    let (base, _) = analytics_base(&s, &q);
    let id = q.get("id").cloned().unwrap_or_default();
    let Some(ts) = q.get("ts").and_then(|t| t.trim().parse::<u64>().ok()) else {
        return error_page(
            Some(&s),
            StatusCode::BAD_REQUEST,
            "`ts` (the event's epoch milliseconds) is required",
        );
    };
    // The event's second (the events table keeps seconds in `timestamp`, ms in `ts_ms`).
    let since = ts / 1000 * 1000;
    let data = get_ok!(ui, s, format!("{base}/events?since={since}&until={}&limit=1000", since + 1000));
    let Some(e) =
        data["events"].as_array().and_then(|evs| evs.iter().find(|e| text(&e["event_id"]) == id)).cloned()
    else {
        return error_page(Some(&s), StatusCode::NOT_FOUND, "no such event (or not visible to you)");
    };
    let mut body = String::from("<dl class=\"facts\">");
    if let Some(obj) = e.as_object() {
        for (k, v) in obj.iter().filter(|(k, _)| *k != "payload") {
            let _ = write!(body, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&text(v)));
        }
    }
    let _ = write!(
        body,
        "</dl><h2>Payload</h2><pre>{}</pre><p><a href=\"/events\">Back to the events</a></p>",
        esc(&serde_json::to_string_pretty(&e["payload"]).unwrap_or_default())
    );
    render(&s, "Event", "/events", &body)
}

// ---- replay --------------------------------------------------------------------------------

fn replay_form(s: &Signed, f: &HashMap<String, String>) -> String {
    let v = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    format!(
        "<form method=\"post\" action=\"/replay\" class=\"stack\">{}<div class=\"grid\">{}{}{}{}</div>{}{}{}\
         <button type=\"submit\">Replay</button></form>",
        csrf_field(&s.csrf),
        select("team", "Team", &s.teams(), v("team")),
        input("server", "Server", v("server"), "text", true),
        input("since", "Since (RFC 3339, default 24 h ago)", v("since"), "text", false),
        input("until", "Until (default now)", v("until"), "text", false),
        textarea("grants", "Changed grants (MCPAccessGrant YAML)", v("grants"), 8),
        textarea("sessions", "Changed sessions (MCPAgentSession YAML)", v("sessions"), 6),
        textarea("policy", "Or a whole policy document (JSON)", v("policy"), 6),
    )
}

pub(crate) async fn replay_page(State(ui): UiState, req: Req) -> Response {
    let s = signed!(ui, req);
    let body = format!(
        "<p>Paste a change — grants, sessions or a whole policy — and see which recorded calls of a \
         server it would have decided differently.</p>{}",
        replay_form(&s, &HashMap::new())
    );
    render(&s, "Policy replay", "/replay", &body)
}

fn changes_rows(v: &Value) -> Vec<Vec<String>> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, c)| vec![esc(k), esc(&text(&c["allow_to_deny"])), esc(&text(&c["deny_to_allow"]))])
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn replay_run(State(ui): UiState, req: Req, Form(f): Fields) -> Response {
    let s = posted!(ui, req, f);
    let mut body = json!({"team": field(&f, "team"), "server": field(&f, "server")});
    for k in ["since", "until", "grants", "sessions"] {
        if !field(&f, k).is_empty() {
            body[k] = json!(field(&f, k));
        }
    }
    if !field(&f, "policy").is_empty() {
        match serde_json::from_str::<Value>(field(&f, "policy")) {
            Ok(p) => body["policy"] = p,
            Err(e) => {
                return error_page(
                    Some(&s),
                    StatusCode::BAD_REQUEST,
                    &format!("The policy is not JSON: {e}"),
                );
            }
        }
    }
    let r = ui.call(&s, Method::POST, "/api/v1/runtime/policy/replay", Some(&body)).await;
    let mut out = String::new();
    if r.ok() {
        let rep = &r.body;
        let _ = write!(
            out,
            "<section class=\"card wide result\"><h2>Result</h2><div class=\"cards\">\
             <section class=\"card stat\"><h2>Scanned</h2><p class=\"big\">{}</p></section>\
             <section class=\"card stat\"><h2>Unchanged</h2><p class=\"big\">{}</p></section>\
             <section class=\"card stat\"><h2>Allow → deny</h2><p class=\"big\">{}</p></section>\
             <section class=\"card stat\"><h2>Deny → allow</h2><p class=\"big\">{}</p></section></div>",
            esc(&text(&rep["scanned"])),
            esc(&text(&rep["unchanged"])),
            esc(&text(&rep["changed"]["allow_to_deny"])),
            esc(&text(&rep["changed"]["deny_to_allow"]))
        );
        out.push_str(&table(
            "By tool",
            &["Tool", "Allow → deny", "Deny → allow"],
            &changes_rows(&rep["by_tool"]),
        ));
        out.push_str(&table(
            "By agent",
            &["Agent", "Allow → deny", "Deny → allow"],
            &changes_rows(&rep["by_agent"]),
        ));
        let samples: Vec<Vec<String>> = rep["samples"]
            .as_array()
            .map(|x| {
                x.iter()
                    .map(|x| {
                        vec![
                            esc(&text(&x["timestamp"])),
                            format!("<code>{}</code>", esc(&text(&x["tool"]))),
                            esc(&text(&x["agent_id"])),
                            format!("{} ({})", esc(&text(&x["before"])), esc(&text(&x["before_reason"]))),
                            format!("{} ({})", esc(&text(&x["after"])), esc(&text(&x["after_reason"]))),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push_str(&table("Changed calls", &["Time", "Tool", "Agent", "Before", "After"], &samples));
        out.push_str("</section>");
    } else if r.status == StatusCode::UNAUTHORIZED {
        return refused(&s, &r);
    } else {
        out.push_str(&notice("error", &r.message()));
    }
    out.push_str(&replay_form(&s, &f));
    let status = if r.ok() || r.status.is_server_error() { StatusCode::OK } else { r.status };
    let mut resp = render(&s, "Policy replay", "/replay", &out);
    *resp.status_mut() = status;
    resp
}

// ---- API keys ------------------------------------------------------------------------------

fn keys_html(s: &Signed, data: &Value, created: Option<&str>, q: &HashMap<String, String>) -> String {
    let mut body = done(q);
    if let Some(k) = created {
        let _ = write!(
            body,
            "<section class=\"card wide\"><h2>Your new key</h2><p>It is shown this once.</p>\
             <pre id=\"new-key\">{}</pre><button type=\"button\" class=\"copy\" data-copy=\"new-key\" hidden>Copy</button></section>",
            esc(k)
        );
    }
    let rows: Vec<Vec<String>> = data["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|k| {
                    let id = text(&k["id"]);
                    let revoked = !k["revoked_at"].is_null();
                    vec![
                        esc(&text(&k["name"])),
                        format!("<code>{}…</code>", esc(&text(&k["prefix"]))),
                        esc(&k["scopes"]
                            .as_array()
                            .map(|s| s.iter().map(text).collect::<Vec<_>>().join(", "))
                            .unwrap_or_default()),
                        esc(&time(&k["created_at"])),
                        esc(&time(&k["expires_at"])),
                        esc(&time(&k["last_used_at"])),
                        if revoked {
                            badge("revoked", "bad")
                        } else {
                            button_form(
                                &format!("/keys/{}/revoke", enc(&id)),
                                &s.csrf,
                                "Revoke",
                                &[],
                                "danger",
                            )
                        },
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(
        body,
        "{}<h2>New key</h2><form method=\"post\" action=\"/keys\" class=\"stack\">{}<div class=\"grid\">{}{}{}</div>\
         <button type=\"submit\">Create key</button></form>",
        table("", &["Name", "Prefix", "Scopes", "Created", "Expires", "Last used", "Actions"], &rows),
        csrf_field(&s.csrf),
        input("name", "Name", "", "text", true),
        input("scopes", "Scopes (comma separated, empty: all)", "", "text", false),
        input("expires_in_days", "Expires in days", "90", "number", false)
    );
    body
}

pub(crate) async fn keys(State(ui): UiState, req: Req, Query(q): Params) -> Response {
    let s = signed!(ui, req);
    let data = get_ok!(ui, s, "/api/v1/api-keys");
    render(&s, "API keys", "/keys", &keys_html(&s, &data, None, &q))
}

pub(crate) async fn key_create(State(ui): UiState, req: Req, Form(f): Fields) -> Response {
    let s = posted!(ui, req, f);
    let mut body = json!({"name": field(&f, "name")});
    let scopes: Vec<&str> = field(&f, "scopes").split(',').map(str::trim).filter(|x| !x.is_empty()).collect();
    if !scopes.is_empty() {
        body["scopes"] = json!(scopes);
    }
    if let Ok(days) = field(&f, "expires_in_days").parse::<i64>() {
        body["expires_in_days"] = json!(days);
    }
    let r = ui.call(&s, Method::POST, "/api/v1/api-keys", Some(&body)).await;
    if !r.ok() {
        return refused(&s, &r);
    }
    let data = get_ok!(ui, s, "/api/v1/api-keys");
    let key = text(&r.body["key"]);
    render(&s, "API keys", "/keys", &keys_html(&s, &data, Some(&key), &HashMap::new()))
}

pub(crate) async fn key_revoke(
    State(ui): UiState,
    req: Req,
    Path(id): Path<String>,
    Form(f): Fields,
) -> Response {
    let s = posted!(ui, req, f);
    let r = ui.call(&s, Method::DELETE, &format!("/api/v1/api-keys/{}", enc(&id)), None).await;
    if !r.ok() {
        return refused(&s, &r);
    }
    redirect("/keys?ok=key-revoked")
}

// ---- teams ---------------------------------------------------------------------------------

pub(crate) async fn teams(State(ui): UiState, req: Req, Query(q): Params) -> Response {
    let s = signed!(ui, req);
    let data = get_ok!(ui, s, "/api/v1/teams");
    let rows: Vec<Vec<String>> = data["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|t| {
                    let name = text(&t["name"]);
                    vec![
                        format!("<a href=\"/teams/{}\">{}</a>", enc(&name), esc(&name)),
                        esc(&text(&t["display_name"])),
                        format!("<code>{}</code>", esc(&text(&t["namespace"]))),
                        esc(&text(&t["role"])),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let mut body = done(&q);
    let _ = write!(
        body,
        "{}<h2>New team</h2><form method=\"post\" action=\"/teams\" class=\"stack\">{}<div class=\"grid\">{}{}</div>\
         <button type=\"submit\">Create team</button></form>",
        table("", &["Team", "Name", "Namespace", "Your role"], &rows),
        csrf_field(&s.csrf),
        input("name", "Name (DNS label)", "", "text", true),
        input("display_name", "Display name", "", "text", false)
    );
    render(&s, "Teams", "/teams", &body)
}

pub(crate) async fn team_create(State(ui): UiState, req: Req, Form(f): Fields) -> Response {
    let s = posted!(ui, req, f);
    let mut body = json!({"name": field(&f, "name")});
    if !field(&f, "display_name").is_empty() {
        body["display_name"] = json!(field(&f, "display_name"));
    }
    let r = ui.call(&s, Method::POST, "/api/v1/teams", Some(&body)).await;
    if !r.ok() {
        return refused(&s, &r);
    }
    redirect("/teams?ok=team-created")
}

pub(crate) async fn team(
    State(ui): UiState,
    req: Req,
    Path(team): Path<String>,
    Query(q): Params,
) -> Response {
    let s = signed!(ui, req);
    let t = get_ok!(ui, s, format!("/api/v1/teams/{}", enc(&team)));
    let members = get_ok!(ui, s, format!("/api/v1/teams/{}/members", enc(&team)));
    let base = format!("/teams/{}", enc(&team));
    let rows: Vec<Vec<String>> = members["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|m| {
                    let uid = text(&m["user_id"]);
                    vec![
                        esc(&text(&m["email"])),
                        esc(&text(&m["display_name"])),
                        format!("<code>{}</code>", esc(&uid)),
                        esc(&text(&m["role"])),
                        esc(&time(&m["joined_at"])),
                        button_form(
                            &format!("{base}/members/{}/remove", enc(&uid)),
                            &s.csrf,
                            "Remove",
                            &[],
                            "danger",
                        ),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let mut body = done(&q);
    let _ = write!(
        body,
        "<p>{} · namespace <code>{}</code> · your role: {}</p>{}<h2>Add or change a member</h2>\
         <form method=\"post\" action=\"{base}\" class=\"stack\">{}<div class=\"grid\">{}{}</div>\
         <button type=\"submit\">Save member</button></form>",
        esc(&text(&t["display_name"])),
        esc(&text(&t["namespace"])),
        esc(&text(&t["role"])),
        table("Members", &["Email", "Name", "Account id", "Role", "Joined", "Actions"], &rows),
        csrf_field(&s.csrf),
        input("user_id", "Account id", "", "text", true),
        select("role", "Role", &["viewer", "member", "owner"].map(String::from), "viewer")
    );
    render(&s, &format!("Team {team}"), "/teams", &body)
}

pub(crate) async fn member_put(
    State(ui): UiState,
    req: Req,
    Path(team): Path<String>,
    Form(f): Fields,
) -> Response {
    let s = posted!(ui, req, f);
    let uri = format!("/api/v1/teams/{}/members/{}", enc(&team), enc(field(&f, "user_id")));
    let r = ui.call(&s, Method::PUT, &uri, Some(&json!({"role": field(&f, "role")}))).await;
    if !r.ok() {
        return refused(&s, &r);
    }
    redirect(&format!("/teams/{}?ok=member-saved", enc(&team)))
}

pub(crate) async fn member_remove(
    State(ui): UiState,
    req: Req,
    Path((team, user)): Path<(String, String)>,
    Form(f): Fields,
) -> Response {
    let s = posted!(ui, req, f);
    let uri = format!("/api/v1/teams/{}/members/{}", enc(&team), enc(&user));
    let r = ui.call(&s, Method::DELETE, &uri, None).await;
    if !r.ok() {
        return refused(&s, &r);
    }
    redirect(&format!("/teams/{}?ok=member-removed", enc(&team)))
}

// ---- admin ---------------------------------------------------------------------------------

pub(crate) async fn admin(State(ui): UiState, req: Req, Query(q): Params) -> Response {
    let s = signed!(ui, req);
    if !s.admin() {
        return error_page(
            Some(&s),
            StatusCode::FORBIDDEN,
            "Only platform administrators can open this page.",
        );
    }
    let comps = get_ok!(ui, s, "/api/v1/admin/components");
    let users = get_ok!(ui, s, "/api/v1/users?limit=200");
    let audit = ui.call(&s, Method::GET, "/api/v1/admin/audit?limit=50", None).await;
    let mut body = done(&q);
    let rows: Vec<Vec<String>> = comps["items"]
        .as_array()
        .map(|i| {
            i.iter()
                .map(|c| {
                    let st = text(&c["status"]);
                    vec![
                        esc(&text(&c["component"])),
                        badge(
                            &st,
                            if st == "ok" {
                                "ok"
                            } else if st == "down" {
                                "bad"
                            } else {
                                "warn"
                            },
                        ),
                        format!("<code>{}</code>", esc(&c["detail"].to_string())),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(
        body,
        "<h2>Components: {}</h2>{}",
        esc(&text(&comps["status"])),
        table("", &["Component", "Status", "Detail"], &rows)
    );
    let rows: Vec<Vec<String>> = users["items"]
        .as_array()
        .map(|i| {
            i.iter()
                .map(|u| {
                    vec![
                        esc(&text(&u["email"])),
                        esc(&text(&u["display_name"])),
                        format!("<code>{}</code>", esc(&text(&u["id"]))),
                        esc(&text(&u["kind"])),
                        if u["is_admin"] == true { badge("admin", "ok") } else { String::new() },
                        if u["disabled_at"].is_null() { String::new() } else { badge("disabled", "bad") },
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(
        body,
        "<h2>Accounts</h2>{}<h2>New account</h2><form method=\"post\" action=\"/admin/users\" class=\"stack\">{}\
         <div class=\"grid\">{}{}{}</div><label class=\"check\"><input type=\"checkbox\" name=\"admin\" value=\"true\"> Administrator</label>\
         <button type=\"submit\">Create account</button></form>",
        table("", &["Email", "Name", "Id", "Kind", "Admin", "State"], &rows),
        csrf_field(&s.csrf),
        input("email", "Email", "", "email", true),
        input("password", "Password", "", "password", false),
        input("display_name", "Display name", "", "text", false)
    );
    body.push_str("<h2>Platform audit</h2>");
    if audit.ok() {
        let rows: Vec<Vec<String>> = audit.body["items"]
            .as_array()
            .map(|i| {
                i.iter()
                    .map(|a| {
                        vec![
                            esc(&text(&a["timestamp"])),
                            esc(&text(&a["actor_email"])),
                            format!("<code>{}</code>", esc(&text(&a["action"]))),
                            esc(&format!("{} {}", text(&a["object_type"]), text(&a["object"]))),
                            esc(&text(&a["outcome"])),
                            esc(&text(&a["status"])),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default();
        body.push_str(&table("", &["Time", "Actor", "Action", "Object", "Outcome", "Status"], &rows));
    } else {
        body.push_str(&notice("error", &format!("The audit timeline is unavailable: {}", audit.message())));
    }
    render(&s, "Admin", "/admin", &body)
}

pub(crate) async fn user_create(State(ui): UiState, req: Req, Form(f): Fields) -> Response {
    let s = posted!(ui, req, f);
    if !s.admin() {
        return error_page(
            Some(&s),
            StatusCode::FORBIDDEN,
            "Only platform administrators can create accounts.",
        );
    }
    let mut body = json!({"email": field(&f, "email"), "admin": field(&f, "admin") == "true"});
    for k in ["password", "display_name"] {
        if !field(&f, k).is_empty() {
            body[k] = json!(f.get(k).map(String::as_str).unwrap_or(""));
        }
    }
    let r = ui.call(&s, Method::POST, "/api/v1/users", Some(&body)).await;
    if !r.ok() {
        return refused(&s, &r);
    }
    redirect("/admin?ok=user-created")
}
