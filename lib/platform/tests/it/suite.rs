//! The behavioural API suite, run against SQLite and against PostgreSQL.

use serde_json::{Value, json};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Harness};

crate::both!(
    ready_reports_the_schema_and_migrate_is_idempotent,
    password_sign_in_refresh_rotation_reuse_and_sign_out,
    lockout_is_per_account_and_trusted_client_address,
    api_keys_are_shown_once_scoped_tracked_and_revocable,
    teams_roles_and_membership_changes_bite_on_the_next_request,
    bad_input_and_bad_tokens_get_one_envelope_and_no_5xx,
    service_accounts_use_keys_made_by_an_administrator,
    nul_characters_are_refused_everywhere,
);

async fn ready_reports_the_schema_and_migrate_is_idempotent(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let r = h.call("GET", "/ready", None, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["schema_version"], json!(mcp_platform::store::latest_version()));
    assert_eq!(r.body["runtime"], "local");
    assert_eq!(r.body["backend"], if backend == Backend::Postgres { "postgresql" } else { "sqlite" });
    assert_eq!(h.state.store.migrate().await.expect("migrate again"), Vec::<i64>::new());
    assert_eq!(h.call("GET", "/health", None, None).await.status, 200);
    // A second service on the same database (a restart, or another replica) starts cleanly.
    let url = h.database_url.clone();
    let dir = h.stop().await;
    let again = Harness::start_on(
        backend,
        &url,
        dir,
        tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        &[],
    )
    .await;
    assert_eq!(again.call("GET", "/ready", None, None).await.status, 200);
    let me = again.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(me["user"]["is_admin"], true);
}

async fn password_sign_in_refresh_rotation_reuse_and_sign_out(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    h.user("Alice@Example.org", "alice-password").await;
    // Emails are case-insensitive.
    let t = h.login("alice@example.ORG", "alice-password").await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    assert!(t["user"].get("password_hash").is_none());
    let access = t["access_token"].as_str().expect("access");
    let refresh1 = t["refresh_token"].as_str().expect("refresh").to_string();
    assert!(refresh1.starts_with("mcprt_"));
    let me = h.call("GET", "/api/v1/me", Some(access), None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"]["email"], "alice@example.org");
    assert_eq!(me.body["auth"], "access_token");

    // Wrong password, unknown account: the same 401.
    let bad = h
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "alice@example.org", "password": "nope-nope"})),
        )
        .await;
    let unknown = h
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "bob@example.org", "password": "nope-nope"})),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (401, "unauthorized"));
    assert_eq!(
        (unknown.status, unknown.code(), &unknown.body["error"]["message"]),
        (401, "unauthorized", &bad.body["error"]["message"])
    );

    // Rotation: each refresh token works once and yields the next.
    let r2 = h.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": refresh1}))).await;
    assert_eq!(r2.status, 200, "{:?}", r2.body);
    let refresh2 = r2.body["refresh_token"].as_str().expect("refresh2").to_string();
    let access2 = r2.body["access_token"].as_str().expect("access2").to_string();
    assert_ne!(refresh1, refresh2);
    assert_eq!(h.call("GET", "/api/v1/me", Some(&access2), None).await.status, 200);
    // Reuse of the spent token: refused, and the whole family (including the live refresh2
    // and its access tokens) is revoked.
    let reuse = h.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": refresh1}))).await;
    assert_eq!((reuse.status, reuse.code()), (401, "invalid_token"));
    let after = h.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": refresh2}))).await;
    assert_eq!((after.status, after.code()), (401, "invalid_token"));
    let me2 = h.call("GET", "/api/v1/me", Some(&access2), None).await;
    assert_eq!((me2.status, me2.code()), (401, "invalid_token"));

    // Sign-out revokes the family: its access token stops at once; other sign-ins go on.
    let s1 = h.login("alice@example.org", "alice-password").await;
    let s2 = h.login("alice@example.org", "alice-password").await;
    let out = h
        .call("POST", "/api/v1/auth/logout", None, Some(json!({"refresh_token": s1["refresh_token"]})))
        .await;
    assert_eq!(out.status, 204);
    let gone = h.call("GET", "/api/v1/me", s1["access_token"].as_str(), None).await;
    assert_eq!(
        (gone.status, gone.code(), gone.body["error"]["message"].as_str()),
        (401, "invalid_token", Some("signed out"))
    );
    assert_eq!(h.call("GET", "/api/v1/me", s2["access_token"].as_str(), None).await.status, 200);
    let refresh_out = h
        .call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": s1["refresh_token"]})))
        .await;
    assert_eq!(refresh_out.status, 401);
    // Sign-out is idempotent and says nothing about unknown tokens.
    let again =
        h.call("POST", "/api/v1/auth/logout", None, Some(json!({"refresh_token": "mcprt_unknown"}))).await;
    assert_eq!(again.status, 204);
}

async fn lockout_is_per_account_and_trusted_client_address(backend: Backend) {
    let h = Harness::start(
        backend,
        &[
            ("PLATFORM_LOCKOUT_THRESHOLD", "3"),
            ("PLATFORM_LOCKOUT_BASE_SECS", "30"),
            ("PLATFORM_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    h.user("carol@example.org", "carol-password").await;
    let attempt = |ip: &'static str, password: &'static str| {
        let h = &h;
        async move {
            let body = json!({"email": "carol@example.org", "password": password}).to_string().into_bytes();
            h.raw(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(("application/json".into(), body)),
                &[("x-forwarded-for", ip)],
            )
            .await
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt("203.0.113.7", "wrong-password").await.status, 401);
    }
    let locked = attempt("203.0.113.7", "carol-password").await;
    assert_eq!((locked.status, locked.code()), (429, "too_many_requests"), "{:?}", locked.body);
    let retry: u64 = locked
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=31).contains(&retry), "{retry}");
    // The same account from another address is not locked out.
    assert_eq!(attempt("198.51.100.9", "carol-password").await.status, 200);
    // A client that is not a trusted proxy cannot pick its address: with an untrusted peer
    // the header is ignored (the service here only trusts 127.0.0.1, which is the peer, so
    // check through the unit tests of `client_ip`; here another account is unaffected).
    h.user("dave@example.org", "dave-password").await;
    assert_eq!(h.login("dave@example.org", "dave-password").await["user"]["email"], "dave@example.org");
}

async fn api_keys_are_shown_once_scoped_tracked_and_revocable(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let (_, alice) = h.signed_in("alice@example.org").await;
    let (_, bob) = h.signed_in("bob@example.org").await;
    let made = h.call("POST", "/api/v1/api-keys", Some(&alice), Some(json!({"name": "laptop"}))).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let key = made.body["key"].as_str().expect("key").to_string();
    assert!(key.starts_with("mcpk_"));
    assert!(key.starts_with(made.body["api_key"]["prefix"].as_str().expect("prefix")));
    assert_eq!(made.body["api_key"]["scopes"], json!(["read", "write"]));
    let id = made.body["api_key"]["id"].as_str().expect("id").to_string();
    // The key authenticates wherever an access token does.
    let me = h.call("GET", "/api/v1/me", Some(&key), None).await;
    assert_eq!((me.status, me.body["auth"].as_str()), (200, Some("api_key")));
    assert_eq!(me.body["user"]["email"], "alice@example.org");
    // Listed without the secret, with its last use.
    let list = h.call("GET", "/api/v1/api-keys", Some(&alice), None).await;
    let item = &list.body["items"][0];
    assert_eq!(item["id"], json!(id));
    assert!(item["last_used_at"].is_i64(), "{item}");
    assert!(!list.body.to_string().contains(&key), "the secret is never shown again");
    // Stored as a keyed hash, never the key.
    assert!(h.state.store.api_key_by_hash(&h.state.hasher.hash(&key)).await.expect("lookup").is_some());
    // A read-only key cannot change anything.
    let ro = h
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&alice),
            Some(json!({"name": "ci", "scopes": ["read"], "expires_in_days": 30})),
        )
        .await;
    assert_eq!(ro.status, 201);
    assert!(ro.body["api_key"]["expires_at"].is_i64());
    let ro_key = ro.body["key"].as_str().expect("key").to_string();
    assert_eq!(h.call("GET", "/api/v1/me", Some(&ro_key), None).await.status, 200);
    let denied = h.call("POST", "/api/v1/api-keys", Some(&ro_key), Some(json!({"name": "x"}))).await;
    assert_eq!((denied.status, denied.code()), (403, "forbidden"));
    // Bad requests.
    for body in [
        json!({"name": ""}),
        json!({"name": "x", "scopes": ["admin"]}),
        json!({"name": "x", "scopes": []}),
        json!({"name": "x", "expires_in_days": 0}),
    ] {
        let r = h.call("POST", "/api/v1/api-keys", Some(&alice), Some(body.clone())).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{body}");
    }
    // Someone else's key does not exist for you; a non-admin cannot mint keys for others.
    let other = h.call("DELETE", &format!("/api/v1/api-keys/{id}"), Some(&bob), None).await;
    assert_eq!((other.status, other.code()), (404, "not_found"));
    let alice_id = me.body["user"]["id"].as_str().expect("id");
    let foreign =
        h.call("POST", "/api/v1/api-keys", Some(&bob), Some(json!({"name": "x", "user_id": alice_id}))).await;
    assert_eq!(foreign.status, 403);
    // Revoked: refused at once.
    assert_eq!(h.call("DELETE", &format!("/api/v1/api-keys/{id}"), Some(&alice), None).await.status, 204);
    let after = h.call("GET", "/api/v1/me", Some(&key), None).await;
    assert_eq!((after.status, after.code()), (401, "invalid_token"));
    let unknown = h.call("GET", "/api/v1/me", Some("mcpk_notakey"), None).await;
    assert_eq!((unknown.status, unknown.code()), (401, "invalid_token"));
}

async fn teams_roles_and_membership_changes_bite_on_the_next_request(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let admin = h.admin_token().await;
    let (owner_id, owner) = h.signed_in("owner@example.org").await;
    let (member_id, member) = h.signed_in("member@example.org").await;
    let (viewer_id, viewer) = h.signed_in("viewer@example.org").await;
    let (_, outsider) = h.signed_in("outsider@example.org").await;

    // Only administrators create teams; names are DNS-1123 labels.
    let refused = h.call("POST", "/api/v1/teams", Some(&owner), Some(json!({"name": "alpha"}))).await;
    assert_eq!(refused.status, 403);
    for name in ["Alpha", "-a", "a_b", "", &"x".repeat(55)] {
        let r = h
            .call("POST", "/api/v1/teams", Some(&admin), Some(json!({"name": name, "owner_id": owner_id})))
            .await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{name}");
    }
    let bad_ns = h
        .call("POST", "/api/v1/teams", Some(&admin), Some(json!({"name": "alpha", "namespace": "Not_DNS"})))
        .await;
    assert_eq!(bad_ns.status, 400);
    let made = h
        .call(
            "POST",
            "/api/v1/teams",
            Some(&admin),
            Some(json!({"name": "alpha", "display_name": "Team Alpha", "owner_id": owner_id})),
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(made.body["namespace"], "mcp-team-alpha");
    let dup = h
        .call("POST", "/api/v1/teams", Some(&admin), Some(json!({"name": "alpha", "owner_id": owner_id})))
        .await;
    assert_eq!((dup.status, dup.code()), (409, "conflict"));

    // The owner manages members.
    for (id, role) in [(&member_id, "member"), (&viewer_id, "viewer")] {
        let r = h
            .call(
                "PUT",
                &format!("/api/v1/teams/alpha/members/{id}"),
                Some(&owner),
                Some(json!({"role": role})),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let bad_role = h
        .call(
            "PUT",
            &format!("/api/v1/teams/alpha/members/{member_id}"),
            Some(&owner),
            Some(json!({"role": "king"})),
        )
        .await;
    assert_eq!(bad_role.status, 400);
    let members = h.call("GET", "/api/v1/teams/alpha/members", Some(&viewer), None).await;
    assert_eq!(members.body["items"].as_array().map(Vec::len), Some(3));
    let mine = h.call("GET", "/api/v1/me", Some(&member), None).await;
    assert_eq!(mine.body["teams"][0]["name"], "alpha");
    assert_eq!(mine.body["teams"][0]["role"], "member");

    // Roles: viewers read, members read, owners write.
    assert_eq!(h.call("GET", "/api/v1/teams/alpha", Some(&viewer), None).await.status, 200);
    let rename = json!({"display_name": "Alpha!"});
    assert_eq!(h.call("PATCH", "/api/v1/teams/alpha", Some(&member), Some(rename.clone())).await.status, 403);
    assert_eq!(h.call("PATCH", "/api/v1/teams/alpha", Some(&viewer), Some(rename.clone())).await.status, 403);
    let renamed = h.call("PATCH", "/api/v1/teams/alpha", Some(&owner), Some(rename)).await;
    assert_eq!((renamed.status, renamed.body["display_name"].as_str()), (200, Some("Alpha!")));
    // Cross-team: 404, never a hint that the team exists.
    let hidden = h.call("GET", "/api/v1/teams/alpha", Some(&outsider), None).await;
    let missing = h.call("GET", "/api/v1/teams/nosuch", Some(&outsider), None).await;
    assert_eq!((hidden.status, hidden.code()), (404, "not_found"));
    assert_eq!(hidden.body, missing.body);
    assert_eq!(h.call("GET", "/api/v1/teams", Some(&outsider), None).await.body["items"], json!([]));

    // Membership changes bite on the next request, with the same token.
    assert_eq!(
        h.call("DELETE", &format!("/api/v1/teams/alpha/members/{member_id}"), Some(&owner), None)
            .await
            .status,
        204
    );
    assert_eq!(h.call("GET", "/api/v1/teams/alpha", Some(&member), None).await.status, 404);
    assert_eq!(
        h.call("DELETE", &format!("/api/v1/teams/alpha/members/{member_id}"), Some(&owner), None)
            .await
            .status,
        404
    );
    let promote = h
        .call(
            "PUT",
            &format!("/api/v1/teams/alpha/members/{viewer_id}"),
            Some(&owner),
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(promote.status, 200);
    assert_eq!(
        h.call("PATCH", "/api/v1/teams/alpha", Some(&viewer), Some(json!({"display_name": "by new owner"})))
            .await
            .status,
        200
    );
    // A team keeps at least one owner.
    assert_eq!(
        h.call("DELETE", &format!("/api/v1/teams/alpha/members/{viewer_id}"), Some(&owner), None)
            .await
            .status,
        204
    );
    let last = h.call("DELETE", &format!("/api/v1/teams/alpha/members/{owner_id}"), Some(&owner), None).await;
    assert_eq!((last.status, last.code()), (409, "conflict"));
    let demote = h
        .call(
            "PUT",
            &format!("/api/v1/teams/alpha/members/{owner_id}"),
            Some(&owner),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(demote.status, 409);
    // Unknown users are 404.
    let ghost = h
        .call("PUT", "/api/v1/teams/alpha/members/nobody", Some(&owner), Some(json!({"role": "member"})))
        .await;
    assert_eq!(ghost.status, 404);
    // Administrators see every team; the owner deletes it.
    let all = h.call("GET", "/api/v1/teams", Some(&admin), None).await;
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(h.call("DELETE", "/api/v1/teams/alpha", Some(&owner), None).await.status, 204);
    assert_eq!(h.call("GET", "/api/v1/teams/alpha", Some(&admin), None).await.status, 404);
}

async fn bad_input_and_bad_tokens_get_one_envelope_and_no_5xx(backend: Backend) {
    let h = Harness::start(backend, &[("PLATFORM_MAX_BODY_BYTES", "2048")]).await;
    let admin = h.admin_token().await;
    let json_ct = |s: &str| Some(("application/json".to_string(), s.as_bytes().to_vec()));
    type Body = Option<(String, Vec<u8>)>;
    let cases: Vec<(&str, Body, u16, &str)> = vec![
        ("malformed JSON", json_ct("{\"name\": "), 400, "invalid_request"),
        ("trailing garbage", json_ct("{\"name\": \"a\"} x"), 400, "invalid_request"),
        ("unknown field", json_ct("{\"name\": \"a\", \"colour\": 1}"), 400, "invalid_request"),
        ("wrong type", json_ct("{\"name\": 7}"), 400, "invalid_request"),
        ("not an object", json_ct("[1,2]"), 400, "invalid_request"),
        ("empty body", json_ct(""), 400, "invalid_request"),
        (
            "oversized",
            Some(("application/json".into(), format!("{{\"name\": \"{}\"}}", "a".repeat(4096)).into_bytes())),
            413,
            "payload_too_large",
        ),
        (
            "wrong content type",
            Some(("text/plain".into(), b"{\"name\": \"a\"}".to_vec())),
            415,
            "unsupported_media_type",
        ),
        ("no content type", None, 415, "unsupported_media_type"),
    ];
    for (what, body, status, code) in cases {
        let r = h.raw("POST", "/api/v1/teams", Some(&admin), body, &[]).await;
        assert_eq!((r.status, r.code()), (status, code), "{what}: {:?}", r.body);
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}");
    }
    let unknown =
        h.call("POST", "/api/v1/teams", Some(&admin), Some(json!({"name": "a", "colour": 1}))).await;
    assert_eq!(unknown.body["error"]["details"]["field"], "colour");
    // Nothing half-written: none of the refused bodies created a team.
    assert_eq!(h.call("GET", "/api/v1/teams", Some(&admin), None).await.body["items"], json!([]));
    // Unknown route, wrong method.
    let r = h.call("GET", "/api/v1/nothing", None, None).await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = h.call("PUT", "/api/v1/teams", Some(&admin), None).await;
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
    // Bad query.
    let r = h.call("GET", "/api/v1/users?limit=abc", Some(&admin), None).await;
    assert_eq!((r.status, r.code()), (400, "invalid_request"));
    let r = h.call("GET", "/api/v1/users?limit=0", Some(&admin), None).await;
    assert_eq!(r.status, 400);

    // Tokens.
    let now = mcp_platform::store::now();
    let ring = h.state.keys.ring();
    let claims = |exp: i64, aud: &str, iss: &str, token_use: &str| json!({"iss": iss, "aud": aud, "sub": "x", "sid": "s", "token_use": token_use, "iat": now - 10, "exp": exp});
    let expired = ring.sign(&claims(now - 120, "mcp-platform", "mcp-platform", "access"), now).expect("sign");
    let other_aud = ring
        .sign(&claims(now + 600, "https://mcp.example/x/mcp", "mcp-platform", "access"), now)
        .expect("sign");
    let other_iss =
        ring.sign(&claims(now + 600, "mcp-platform", "https://evil", "access"), now).expect("sign");
    let not_access =
        ring.sign(&claims(now + 600, "mcp-platform", "mcp-platform", "agent"), now).expect("sign");
    let forged_file =
        mcp_platform::keys::load_or_create(&tempfile::tempdir().expect("dir").path().join("k.json"), now)
            .expect("keys");
    let forged_ring = mcp_platform::keys::KeyRing::from_file(&forged_file).expect("ring");
    let forged =
        forged_ring.sign(&claims(now + 600, "mcp-platform", "mcp-platform", "access"), now).expect("sign");
    // Same kid as ours, foreign key: the signature check fails.
    let mut tampered_file = forged_file.clone();
    tampered_file.keys[0].kid = ring.signer_kid(now).expect("kid").to_string();
    let tampered = mcp_platform::keys::KeyRing::from_file(&tampered_file)
        .expect("ring")
        .sign(&claims(now + 600, "mcp-platform", "mcp-platform", "access"), now)
        .expect("sign");
    let real = admin.clone();
    let (head, rest) = real.split_once('.').expect("jwt");
    let (payload, sig) = rest.split_once('.').expect("jwt");
    let mut flipped = payload.to_string();
    flipped.replace_range(0..1, if flipped.starts_with('e') { "f" } else { "e" });
    let modified = format!("{head}.{flipped}.{sig}");
    let alg_none = format!("{head}.{payload}.");
    for (what, token, message) in [
        ("expired", expired.as_str(), "token expired"),
        ("other audience", other_aud.as_str(), "token is for another audience"),
        ("other issuer", other_iss.as_str(), "token is from another issuer"),
        ("not an access token", not_access.as_str(), "not an access token"),
        ("unknown key", forged.as_str(), "token signed with an unknown key"),
        ("forged with our kid", tampered.as_str(), "token signature is not valid"),
        ("modified payload", modified.as_str(), ""),
        ("no signature", alg_none.as_str(), ""),
        ("garbage", "abc", "malformed token"),
    ] {
        let r = h.call("GET", "/api/v1/me", Some(token), None).await;
        assert_eq!((r.status, r.code()), (401, "invalid_token"), "{what}: {:?}", r.body);
        if !message.is_empty() {
            assert_eq!(r.body["error"]["message"], message, "{what}");
        }
        assert!(r.headers.get("www-authenticate").is_some(), "{what}");
    }
    let r = h.raw("GET", "/api/v1/me", None, None, &[("authorization", "Basic abc")]).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
    let r = h.call("GET", "/api/v1/me", None, None).await;
    assert_eq!((r.status, r.code()), (401, "unauthorized"));
}

async fn service_accounts_use_keys_made_by_an_administrator(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let admin = h.admin_token().await;
    let svc = h
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"email": "ci-bot@services.local", "kind": "service"})),
        )
        .await;
    assert_eq!(svc.status, 201, "{:?}", svc.body);
    let svc_id = svc.body["id"].as_str().expect("id");
    let with_pw = h
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"email": "x@services.local", "kind": "service", "password": "long-enough-1"})),
        )
        .await;
    assert_eq!(with_pw.status, 400);
    let dup = h
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"email": "CI-bot@services.local", "kind": "service"})),
        )
        .await;
    assert_eq!(dup.status, 409);
    let short = h
        .call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"email": "p@example.org", "password": "short"})),
        )
        .await;
    assert_eq!((short.status, short.body["error"]["details"]["field"].as_str()), (400, Some("password")));
    let key = h
        .call(
            "POST",
            "/api/v1/api-keys",
            Some(&admin),
            Some(json!({"name": "ci", "user_id": svc_id, "scopes": ["read"]})),
        )
        .await;
    assert_eq!(key.status, 201, "{:?}", key.body);
    let secret = key.body["key"].as_str().expect("key");
    let me = h.call("GET", "/api/v1/me", Some(secret), None).await;
    assert_eq!(me.body["user"]["kind"], "service");
    assert_eq!(me.body["scopes"], json!(["read"]));
    // A service account cannot sign in with a password.
    let r = h
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "ci-bot@services.local", "password": "anything-1"})),
        )
        .await;
    assert_eq!(r.status, 401);
    // Paging through accounts.
    for i in 0..3 {
        h.call(
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"email": format!("svc{i}@services.local"), "kind": "service"})),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit=2&cursor={c}"),
            None => "/api/v1/users?limit=2".into(),
        };
        let page = h.call("GET", &path, Some(&admin), None).await;
        assert_eq!(page.status, 200);
        seen.extend(page.body["items"].as_array().expect("items").iter().map(|u| u["email"].clone()));
        match page.body.get("next_cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
}

/// `keys rotate` on the key file of a running service: the new key is published at once, old
/// tokens keep working, new tokens are signed with the new key once its delay has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_publishes_first_then_signs_with_the_new_key() {
    let h = Harness::start(Backend::Sqlite, &[]).await;
    let before = h.admin_token().await;
    let jwks = h.call("GET", "/.well-known/jwks.json", None, None).await;
    let old_kid = jwks.body["keys"][0]["kid"].as_str().expect("kid").to_string();
    assert_eq!(jwks.body["keys"].as_array().map(Vec::len), Some(1));
    let path = h.state.config.keys_file.clone();
    let now = mcp_platform::store::now();
    let mut file = mcp_platform::keys::read_file(&path).expect("key file");
    // A first rotation whose key signs only in an hour: published, not used.
    let later = mcp_platform::keys::rotate(
        &mut file,
        now,
        std::time::Duration::from_secs(3600),
        std::time::Duration::from_secs(900),
    )
    .expect("rotate");
    mcp_platform::keys::write_file(&path, &file).expect("write");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let jwks = h.call("GET", "/.well-known/jwks.json", None, None).await;
        if jwks.body["keys"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the new key was not published: {:?}", jwks.body);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let still_old = h.admin_token().await;
    let kid_of = |t: &str| jsonwebtoken::decode_header(t).expect("header").kid.expect("kid");
    assert_eq!(kid_of(&still_old), old_kid, "not signing with a key before its sign_from");
    assert_ne!(later.kid, old_kid);
    // The key file is private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
    }
    // Pretend the hour has passed: rewrite sign_from to now.
    let mut file = mcp_platform::keys::read_file(&path).expect("key file");
    if let Some(k) = file.keys.iter_mut().find(|k| k.kid == later.kid) {
        k.sign_from = now;
    }
    mcp_platform::keys::write_file(&path, &file).expect("write");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let new_token = loop {
        let t = h.admin_token().await;
        if kid_of(&t) == later.kid {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "never signed with the new key");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(h.call("GET", "/api/v1/me", Some(&new_token), None).await.status, 200);
    assert_eq!(
        h.call("GET", "/api/v1/me", Some(&before), None).await.status,
        200,
        "old tokens verify until the old key retires"
    );
    // A key file that no longer parses is ignored; the keys in force stay.
    std::fs::write(&path, "{ not json").expect("write");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(h.call("GET", "/api/v1/me", Some(&new_token), None).await.status, 200);
}

/// NUL characters (which PostgreSQL cannot store in text) are refused with 400 wherever they
/// can come in: body strings and keys, path segments, query values. Found by schemathesis.
async fn nul_characters_are_refused_everywhere(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let admin = h.admin_token().await;
    for body in [json!({"name": "a\u{0}b"}), json!({"name": "k", "scopes": ["read\u{0}"]})] {
        let r = h.call("POST", "/api/v1/api-keys", Some(&admin), Some(body.clone())).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{body}: {:?}", r.body);
    }
    let r = h
        .call("POST", "/api/v1/auth/login", None, Some(json!({"email": "a\u{0}@x.org", "password": "p"})))
        .await;
    assert_eq!((r.status, r.body["error"]["details"]["field"].as_str()), (400, Some("email")));
    for path in [
        "/api/v1/teams/a%00b",
        "/api/v1/api-keys/x%00",
        "/api/v1/users?cursor=00",
        "/api/v1/users?cursor=%00",
    ] {
        let method = if path.contains("api-keys") { "DELETE" } else { "GET" };
        let r = h.call(method, path, Some(&admin), None).await;
        assert_eq!((r.status, r.code()), (400, "invalid_request"), "{path}: {:?}", r.body);
    }
}
