//! The web dashboard through HTTP, as a browser without JavaScript uses it: sign-in (password,
//! API key), the session cookie's attributes, CSRF refusals, security headers, every page for
//! an administrator, admin pages refused to others, and state changes through plain forms.

use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Harness};

crate::both!(
    sign_in_sets_a_strict_cookie_and_every_answer_has_the_security_headers,
    every_page_renders_for_an_administrator_and_admin_pages_refuse_others,
    forms_change_grants_and_sessions_and_refuse_a_missing_token,
);

/// A browser without JavaScript: cookies kept by hand, no redirects followed.
pub struct Browser<'a> {
    pub h: &'a Harness,
    client: reqwest::Client,
    cookies: Vec<(String, String)>,
}

/// One page.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The value of the first hidden `csrf` input.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
        self.body[at..].split('"').next().expect("value").to_string()
    }
}

impl<'a> Browser<'a> {
    pub fn new(h: &'a Harness) -> Browser<'a> {
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Browser { h, client, cookies: Vec::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = if self.cookies.is_empty() { req } else { req.header("cookie", self.cookie_header()) };
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        for c in headers.get_all("set-cookie") {
            let c = c.to_str().expect("cookie");
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').expect("k=v");
            self.cookies.retain(|(n, _)| n != k);
            if !v.is_empty() && !c.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
        let body = resp.text().await.expect("body");
        Page { status, headers, body }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.h.base));
        self.send(req).await
    }

    /// A form POST from this site (`Origin` set).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_with(path, form, &[("origin", &self.h.base.clone())]).await
    }

    pub async fn post_with(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Page {
        let body = form.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        let mut req = self
            .client
            .post(format!("{}{path}", self.h.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req).await
    }

    /// Signs in with a password; the overview's CSRF token.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> String {
        let p = self.get("/signin").await;
        assert_eq!(p.status, 200, "{}", p.body);
        let p = self.post("/signin", &[("csrf", &p.csrf()), ("email", email), ("password", password)]).await;
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(p.location(), "/");
        let p = self.get("/").await;
        assert_eq!(p.status, 200, "{}", p.body);
        p.csrf()
    }
}

/// Form encoding of one value.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn assert_security_headers(p: &Page) {
    let csp = p.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(p.headers.get("x-content-type-options").map(|v| v.to_str().unwrap_or("")), Some("nosniff"));
    assert!(p.headers.get("referrer-policy").is_some());
    // No inline script anywhere: only the static file.
    assert!(!p.body.contains("<script>") && !p.body.contains("onclick="), "inline script");
}

async fn sign_in_sets_a_strict_cookie_and_every_answer_has_the_security_headers(backend: Backend) {
    let h = Harness::start(backend, &[("PLATFORM_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let mut b = Browser::new(&h);
    // Signed out: every page leads to the sign-in page.
    let p = b.get("/catalog").await;
    assert_eq!((p.status, p.location()), (303, "/signin"));
    let p = b.get("/signin").await;
    assert_eq!(p.status, 200);
    assert_security_headers(&p);
    assert!(p.body.contains("name=\"password\"") && p.body.contains("name=\"key\""));
    let token = p.csrf();
    // CSRF: a wrong token, no token, or a foreign origin are refused with a page and 403.
    let creds = [("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)];
    let p = b.post("/signin", &[creds[0], creds[1], ("csrf", "forged")]).await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(p.body.contains("security token"), "{}", p.body);
    assert_security_headers(&p);
    let p = b.post("/signin", &[creds[0], creds[1]]).await;
    assert_eq!(p.status, 403);
    let p = b
        .post_with("/signin", &[creds[0], creds[1], ("csrf", &token)], &[("origin", "https://evil.example")])
        .await;
    assert_eq!(p.status, 403);
    let p = b.post_with("/signin", &[creds[0], creds[1], ("csrf", &token)], &[]).await;
    assert_eq!(p.status, 403, "no Origin nor Referer");
    // A wrong password: the sign-in page again, 401, the API's message.
    let p =
        b.post("/signin", &[("email", ADMIN_EMAIL), ("password", "wrong-password"), ("csrf", &token)]).await;
    assert_eq!(p.status, 401, "{}", p.body);
    assert!(p.body.contains("notice error"));
    // The right one: a session cookie, HttpOnly, SameSite=Strict, Path=/, not Secure over HTTP.
    let p = b.post("/signin", &[creds[0], creds[1], ("csrf", &token)]).await;
    assert_eq!((p.status, p.location()), (303, "/"), "{}", p.body);
    let cookie = p
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_string())
        .find(|c| c.starts_with("mcprt_ui="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains(ADMIN_EMAIL));
    assert_security_headers(&home);
    // Behind a trusted proxy that terminated TLS: Secure.
    let mut tls = Browser::new(&h);
    let p = tls.get("/signin").await;
    let p = tls
        .post_with(
            "/signin",
            &[creds[0], creds[1], ("csrf", &p.csrf())],
            &[("origin", &h.base), ("x-forwarded-proto", "https")],
        )
        .await;
    assert!(
        p.headers.get_all("set-cookie").iter().any(|c| {
            let c = c.to_str().unwrap_or("");
            c.starts_with("mcprt_ui=") && c.contains("; Secure")
        }),
        "{:?}",
        p.headers
    );
    // An API key signs in too.
    let admin = h.admin_token().await;
    let r = h.call("POST", "/api/v1/api-keys", Some(&admin), Some(json!({"name": "ui"}))).await;
    let key = r.body["key"].as_str().expect("key").to_string();
    let mut kb = Browser::new(&h);
    let p = kb.get("/signin").await;
    let p = kb.post("/signin/key", &[("key", &key), ("csrf", &p.csrf())]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = kb.get("/keys").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("ui"));
    // Sign-out: needs the token, then the cookie is cleared and the sign-in revoked.
    let p = b.post("/signout", &[]).await;
    assert_eq!(p.status, 403);
    let csrf = b.get("/").await.csrf();
    let kept = b.cookie_header();
    let p = b.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!((p.status, p.location()), (303, "/signin"));
    let p = b.get("/").await;
    assert_eq!(p.status, 303, "signed out");
    // The old cookie is worthless.
    let stale = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/", h.base))
        .header("cookie", kept)
        .send()
        .await
        .expect("send");
    assert_eq!(stale.status().as_u16(), 303);
    // The assets are served with the same headers; the API is untouched by the dashboard.
    let p = b.get("/ui/assets/app.js").await;
    assert_eq!(p.status, 200);
    assert!(p.headers["content-type"].to_str().unwrap_or("").starts_with("text/javascript"));
    let r = h.call("GET", "/api/v1/me", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "unauthorized");
}

/// Team `ui` (owner: the administrator's helper `owner`, member `dev`), server `ui-srv`, agent,
/// grant `g1`, session `s1`; another team `hidden` with grant `secret-grant`.
pub async fn seed(h: &Harness) -> (String, String) {
    let admin = h.admin_token().await;
    let (dev_id, _) = h.signed_in("dev@example.org").await;
    for team in ["ui", "hidden"] {
        let r = h.call("POST", "/api/v1/teams", Some(&admin), Some(json!({"name": team}))).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let r = h
        .call(
            "PUT",
            &format!("/api/v1/teams/ui/members/{dev_id}"),
            Some(&admin),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut agents = Vec::new();
    for team in ["ui", "hidden"] {
        let server = json!({"team": team, "name": format!("{team}-srv"), "spec": {
            "image": "registry.local/example", "description": "The example server",
            "tools": [{"name": "echo", "sideEffect": "read", "description": "Echoes"},
                      {"name": "create_task", "sideEffect": "write", "requiredTrust": "medium"}]}});
        let r = h.call("POST", "/api/v1/runtime/servers", Some(&admin), Some(server)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let r = h
            .call(
                "POST",
                &format!("/api/v1/runtime/teams/{team}/agents"),
                Some(&admin),
                Some(json!({"name": format!("{team}-bot")})),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        agents.push(r.body["id"].as_str().expect("id").to_string());
    }
    let grant = |team: &str, name: &str, agent: &str| {
        json!({"team": team, "name": name, "spec": {"serverRef": {"name": format!("{team}-srv")},
            "subject": {"agentID": agent}, "maxTrust": "medium", "allowedSideEffects": ["read"]}})
    };
    let r = h.call("POST", "/api/v1/runtime/grants", Some(&admin), Some(grant("ui", "g1", &agents[0]))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = h
        .call(
            "POST",
            "/api/v1/runtime/grants",
            Some(&admin),
            Some(grant("hidden", "secret-grant", &agents[1])),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let session = json!({"team": "ui", "name": "s1", "spec": {"serverRef": {"name": "ui-srv"},
        "subject": {"agentID": agents[0]}, "grantName": "g1", "consentedTrust": "low",
        "expiresAt": "2099-01-01T00:00:00Z"}});
    let r = h.call("POST", "/api/v1/runtime/sessions", Some(&admin), Some(session)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    (agents[0].clone(), dev_id)
}

async fn every_page_renders_for_an_administrator_and_admin_pages_refuse_others(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let (agent, _) = seed(&h).await;
    // One recorded call, so analytics and the explorer have data.
    let now = jiff::Timestamp::now().as_millisecond() as u64;
    let seed = crate::analytics::Seed {
        id: "ev-ui-1".into(),
        ts_ms: now - 60_000,
        namespace: "mcp-team-ui",
        server: "ui-srv",
        agent: "ui-bot",
        tool: "echo",
        decision: "deny",
        reason: "grant_disabled",
        latency_ms: 12.5,
    };
    crate::analytics::insert(&h, &[crate::analytics::row(&seed, json!({}))]).await;
    let mut b = Browser::new(&h);
    b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let pages: &[(&str, &[&str])] = &[
        ("/", &["Servers", "Active grants"]),
        ("/catalog", &["ui-srv", "echo", "create_task", "Connect configs"]),
        ("/catalog/ui/ui-srv", &["mcp-runtime", "Claude Desktop", "data-copy"]),
        ("/governance", &["g1", "s1", "secret-grant", "Disable", "Revoke"]),
        ("/governance/grants/ui/g1", &["serverRef", "Save grant"]),
        ("/governance/sessions/ui/s1", &["grantName", "Save session"]),
        ("/agents?team=ui", &["ui-bot", &agent]),
        ("/analytics", &["Calls over time by decision", "<svg", "grant_disabled", "Latency per tool"]),
        ("/events", &["ev-ui-1", "grant_disabled", "tool_name"]),
        (
            &format!("/events/detail?id=ev-ui-1&ts={}", now - 60_000),
            &["ev-ui-1", "Payload", "grant_disabled"],
        ),
        ("/replay", &["Replay", "grants"]),
        ("/keys", &["Create key"]),
        ("/teams", &["ui", "hidden"]),
        ("/teams/ui", &["dev@example.org"]),
        ("/admin", &["Components", "store", "Accounts", "dev@example.org", "Platform audit"]),
    ];
    for (path, wants) in pages {
        let p = b.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert_security_headers(&p);
        for w in *wants {
            assert!(p.body.contains(w), "{path} lacks {w:?}");
        }
    }
    // Connect configs name the platform as the browser reached it.
    let p = b.get("/catalog/ui/ui-srv?agent=agt_x").await;
    assert!(p.body.contains(&format!("&quot;{}&quot;", h.base)) && p.body.contains("agt_x"), "{}", p.body);
    // A replay answers with its report on the page.
    let csrf = b.get("/replay").await.csrf();
    let since = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(48)).to_string();
    let grants = "apiVersion: mcpruntime.org/v1alpha1\nkind: MCPAccessGrant\nmetadata: {name: g1}\nspec:\n  serverRef: {name: ui-srv}\n  subject: {agentID: ui-bot}\n  allowedSideEffects: [read]\n  disabled: true\n";
    let form = [
        ("csrf", csrf.as_str()),
        ("team", "ui"),
        ("server", "ui-srv"),
        ("since", &since),
        ("grants", grants),
    ];
    let p = b.post("/replay", &form).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("Scanned") && p.body.contains("Changed calls"), "{}", p.body);

    // A member: no admin pages, only their team's objects.
    let mut m = Browser::new(&h);
    m.sign_in("dev@example.org", "password-123").await;
    let p = m.get("/admin").await;
    assert_eq!(p.status, 403);
    assert!(p.body.contains("administrators"));
    assert!(!m.get("/").await.body.contains("href=\"/admin\""), "no admin link");
    let p = m.get("/governance").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("g1") && !p.body.contains("secret-grant"), "{}", p.body);
    let p = m.get("/catalog").await;
    assert!(p.body.contains("ui-srv") && !p.body.contains("hidden-srv"));
    let p = m.get("/analytics").await;
    assert_eq!(p.status, 200, "team-scoped analytics: {}", p.body);
    let p = m.get("/analytics?team=hidden").await;
    assert_eq!(p.status, 404, "another team is answered as absent");
    let p = m.get("/catalog/hidden/hidden-srv").await;
    assert_eq!(p.status, 404);
    // Someone in no team: told so, not an error.
    h.user("loner@example.org", "password-123").await;
    let mut l = Browser::new(&h);
    l.sign_in("loner@example.org", "password-123").await;
    for path in ["/analytics", "/events", "/agents"] {
        let p = l.get(path).await;
        assert_eq!(p.status, 200, "{path}");
        assert!(p.body.contains("no team"), "{path}: {}", p.body);
    }
    // A POST to an admin form is refused too (by the API).
    let csrf = m.get("/").await.csrf();
    let p = m.post("/admin/users", &[("csrf", &csrf), ("email", "x@example.org")]).await;
    assert_eq!(p.status, 403);
}

async fn state(h: &Harness, token: &str, path: &str) -> Value {
    let r = h.call("GET", path, Some(token), None).await;
    assert_eq!(r.status, 200, "{path}: {:?}", r.body);
    r.body
}

async fn forms_change_grants_and_sessions_and_refuse_a_missing_token(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let (agent, _) = seed(&h).await;
    let admin = h.admin_token().await;
    let mut b = Browser::new(&h);
    let csrf = b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Create a grant through the form.
    let spec = json!({"serverRef": {"name": "ui-srv"}, "subject": {"agentID": agent},
        "maxTrust": "low", "allowedSideEffects": ["read"]})
    .to_string();
    let p = b
        .post("/governance/grants", &[("csrf", &csrf), ("team", "ui"), ("name", "g2"), ("spec", &spec)])
        .await;
    assert_eq!((p.status, p.location()), (303, "/governance?ok=grant-saved"), "{}", p.body);
    let g = state(&h, &admin, "/api/v1/runtime/grants/ui/g2").await;
    assert_eq!(g["grant"]["spec"]["maxTrust"], "low");
    let p = b.get("/governance?ok=grant-saved").await;
    assert!(p.body.contains("Grant saved.") && p.body.contains("g2"));
    // A session through its form.
    let session = json!({"serverRef": {"name": "ui-srv"}, "subject": {"agentID": agent}, "grantName": "g2",
        "consentedTrust": "low", "expiresAt": "2099-01-01T00:00:00Z"})
    .to_string();
    let p = b
        .post("/governance/sessions", &[("csrf", &csrf), ("team", "ui"), ("name", "s2"), ("spec", &session)])
        .await;
    assert_eq!((p.status, p.location()), (303, "/governance?ok=session-saved"), "{}", p.body);
    let x = state(&h, &admin, "/api/v1/runtime/sessions/ui/s2").await;
    assert_eq!(x["session"]["spec"]["grantName"], "g2");
    // A bad spec: the API's validation message on a 400 page.
    let bad = json!({"serverRef": {"name": "missing"}, "subject": {"agentID": agent}, "allowedSideEffects": ["read"]})
        .to_string();
    let p = b
        .post("/governance/grants", &[("csrf", &csrf), ("team", "ui"), ("name", "g3"), ("spec", &bad)])
        .await;
    assert_eq!(p.status, 400, "{}", p.body);
    // Disable without the token: refused, nothing changed.
    let p = b.post("/governance/grants/ui/g2/disable", &[]).await;
    assert_eq!(p.status, 403);
    assert!(p.body.contains("security token"));
    assert_ne!(state(&h, &admin, "/api/v1/runtime/grants/ui/g2").await["grant"]["spec"]["disabled"], true);
    // From another site, with the token: refused.
    let p = b
        .post_with(
            "/governance/grants/ui/g2/disable",
            &[("csrf", &csrf)],
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(p.status, 403);
    // Disable, enable.
    let p = b.post("/governance/grants/ui/g2/disable", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(state(&h, &admin, "/api/v1/runtime/grants/ui/g2").await["grant"]["spec"]["disabled"], true);
    assert!(b.get("/governance").await.body.contains("Enable"));
    let p = b.post("/governance/grants/ui/g2/enable", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 303);
    assert_eq!(state(&h, &admin, "/api/v1/runtime/grants/ui/g2").await["grant"]["spec"]["disabled"], false);
    // Session revoke, unrevoke.
    let p = b.post("/governance/sessions/ui/s1/revoke", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(state(&h, &admin, "/api/v1/runtime/sessions/ui/s1").await["session"]["spec"]["revoked"], true);
    let p = b.post("/governance/sessions/ui/s1/unrevoke", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 303);
    assert_ne!(state(&h, &admin, "/api/v1/runtime/sessions/ui/s1").await["session"]["spec"]["revoked"], true);
    // Revoke the grant's sessions.
    let p = b.post("/governance/grants/ui/g1/revoke-sessions", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 303);
    assert_eq!(state(&h, &admin, "/api/v1/runtime/sessions/ui/s1").await["session"]["spec"]["revoked"], true);
    // Delete a session and a grant.
    let p = b.post("/governance/sessions/ui/s2/delete", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(h.call("GET", "/api/v1/runtime/sessions/ui/s2", Some(&admin), None).await.status, 404);
    let p = b.post("/governance/grants/ui/g2/delete", &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(h.call("GET", "/api/v1/runtime/grants/ui/g2", Some(&admin), None).await.status, 404);
    // Agents, API keys, teams and members through forms.
    let p = b.post("/agents", &[("csrf", &csrf), ("team", "ui"), ("name", "second-bot")]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(b.get("/agents?team=ui").await.body.contains("second-bot"));
    let p = b.post(&format!("/agents/{agent}/deactivate"), &[("csrf", &csrf), ("team", "ui")]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = b.post("/keys", &[("csrf", &csrf), ("name", "from-ui"), ("expires_in_days", "7")]).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("mcpk_"), "the new key is shown once");
    assert_eq!(p.headers["cache-control"], "no-store");
    let p = b.post("/teams", &[("csrf", &csrf), ("name", "formed")]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let dev = h.user("helper@example.org", "password-123").await;
    let p = b.post("/teams/formed", &[("csrf", &csrf), ("user_id", &dev), ("role", "viewer")]).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(b.get("/teams/formed").await.body.contains("helper@example.org"));
    let p = b.post(&format!("/teams/formed/members/{dev}/remove"), &[("csrf", &csrf)]).await;
    assert_eq!(p.status, 303);
    assert!(!b.get("/teams/formed").await.body.contains("helper@example.org"));
    // A token of another sign-in does not fit this one.
    let mut other = Browser::new(&h);
    let other_csrf = other.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_ne!(other_csrf, csrf);
    let p = b.post("/governance/grants/ui/g1/disable", &[("csrf", &other_csrf)]).await;
    assert_eq!(p.status, 403);
}

/// Follows redirects outside the dashboard (the issuer) until one points back at `stop`,
/// keeping the issuer's cookies; that URL.
async fn follow_issuer(mut url: String, stop: &str) -> String {
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let mut cookies: Vec<(String, String)> = Vec::new();
    for _ in 0..20 {
        if url.starts_with(stop) {
            return url;
        }
        let cookie = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let resp = client.get(&url).header("cookie", cookie).send().await.expect("get");
        for c in resp.headers().get_all("set-cookie") {
            if let Some((k, v)) =
                c.to_str().expect("cookie").split(';').next().and_then(|kv| kv.split_once('='))
            {
                cookies.retain(|(n, _)| n != k);
                cookies.push((k.trim().to_string(), v.to_string()));
            }
        }
        let location = resp.headers().get("location").and_then(|l| l.to_str().ok()).map(String::from);
        let Some(location) = location.filter(|_| resp.status().is_redirection()) else {
            panic!("{url}: {} without a redirect", resp.status());
        };
        url = if location.starts_with("http") {
            location
        } else {
            let origin: String = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
            format!("{origin}{location}")
        };
    }
    panic!("too many redirects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sign_in_through_the_real_issuer_lands_signed_in_and_is_bound_to_the_browser() {
    let dir = tempfile::tempdir().expect("dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let callback = format!("http://{}/signin/oidc/callback", listener.local_addr().expect("addr"));
    let issuer = tokio::task::spawn_blocking({
        let (path, callback) = (dir.path().to_path_buf(), callback.clone());
        move || {
            mcp_testkit::oidc::Issuer::start(
                mcp_testkit::oidc::TEST_ISSUER_SCRIPT,
                &[&callback],
                &path.join("issuer.log"),
            )
            .unwrap_or_else(|e| panic!("start oidc-provider: {e}"))
        }
    })
    .await
    .expect("issuer");
    let url = issuer.url();
    let settings = [
        ("PLATFORM_OIDC_ISSUER", url.as_str()),
        ("PLATFORM_OIDC_CLIENT_ID", "platform"),
        ("PLATFORM_OIDC_CLIENT_SECRET", "platform-secret"),
        ("PLATFORM_OIDC_REDIRECT_URL", "{base}/signin/oidc/callback"),
    ];
    let h = Harness::start_bound(Backend::Sqlite, listener, &settings).await;
    let mut b = Browser::new(&h);
    let p = b.get("/signin").await;
    assert!(p.body.contains("href=\"/signin/oidc\""), "the single sign-on button is offered");
    let p = b.get("/signin/oidc").await;
    assert_eq!(p.status, 303, "{}", p.body);
    let location = p.location().to_string();
    assert!(location.starts_with(&url) && location.contains("code_challenge_method=S256"), "{location}");
    let back = follow_issuer(format!("{location}&login_hint=alice"), &h.base).await;
    let path = back.strip_prefix(&h.base).expect("back at the platform").to_string();
    // Another browser cannot finish this sign-in (the state is bound to the first one).
    let mut thief = Browser::new(&h);
    let p = thief.get(&path).await;
    assert_eq!(p.status, 403, "{}", p.body);
    let p = b.get(&path).await;
    assert_eq!((p.status, p.location()), (303, "/"), "{}", p.body);
    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("alice@example.org"), "{}", home.body);
    // Non-admin: no admin page.
    assert_eq!(b.get("/admin").await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refreshed_without_the_person_noticing() {
    let h = Harness::start(Backend::Sqlite, &[("PLATFORM_ACCESS_TOKEN_TTL_SECS", "60")]).await;
    let mut b = Browser::new(&h);
    b.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    // Past the access token's lifetime (the shortest the platform allows): pages still work,
    // on a refreshed token.
    tokio::time::sleep(std::time::Duration::from_secs(62)).await;
    let p = b.get("/governance").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains(ADMIN_EMAIL));
    let csrf = p.csrf();
    let p = b.post("/teams", &[("csrf", &csrf), ("name", "after-refresh")]).await;
    assert_eq!(p.status, 303, "{}", p.body);
}
