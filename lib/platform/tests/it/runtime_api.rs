//! The runtime API on the Local backend, on SQLite and PostgreSQL: publishing with quota and
//! cooldown, grants and sessions, adapter sessions with their signed tokens, managed agents.

use mcp_platform::store::{Team, now};
use serde_json::{Value, json};

use crate::support::{Backend, Harness};

/// Matrix fixtures for a runtime route: provisions `team` with server `srv`, an agent, grant
/// `g` and session `s` (human `member`); returns the path with `{name}`/`{id}` filled and a
/// valid body.
pub async fn matrix_fixture(
    h: &Harness,
    team: &Team,
    member: &str,
    method: &str,
    path: &str,
) -> (String, Option<Value>) {
    use mcp_platform::runtime::agents::{Agent, new_agent_id};
    let rt = &h.state.runtime;
    rt.provision_team(team).await.expect("provision");
    rt.apply_server(crate::runtime_contract::server(team, "srv")).await.expect("server");
    let agent = Agent {
        id: new_agent_id().expect("id"),
        team_id: team.id.clone(),
        name: format!("agent-{}", uuid::Uuid::now_v7()),
        description: String::new(),
        status: "active".into(),
        created_by: member.into(),
        created_at: now(),
        updated_at: now(),
        deactivated_at: None,
    };
    h.state.store.insert_agent(&agent).await.expect("agent");
    let mut g = crate::runtime_contract::grant(team, "g", "srv", &agent.id);
    g.spec.subject.human_id = None;
    rt.apply_grant(g).await.expect("grant");
    let mut s = crate::runtime_contract::session(team, "s", "srv", "g", &agent.id);
    s.spec.subject.human_id = Some(member.into());
    rt.apply_session(s).await.expect("session");
    let name = if path.starts_with("/api/v1/runtime/servers/") {
        "srv"
    } else if path.starts_with("/api/v1/runtime/grants/") {
        "g"
    } else {
        "s"
    };
    let filled = path.replace("{name}", name).replace("{id}", &agent.id);
    let unique = format!("x{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let body = match (method, path) {
        ("POST", "/api/v1/runtime/servers") => Some(json!({
            "team": team.name, "name": unique,
            "spec": {"image": "registry.local/x", "tools": [{"name": "echo", "sideEffect": "read"}]}
        })),
        ("POST", "/api/v1/runtime/grants") => Some(json!({
            "team": team.name, "name": unique,
            "spec": {"serverRef": {"name": "srv"}, "subject": {"agentID": agent.id}, "allowedSideEffects": ["read"]}
        })),
        ("POST", "/api/v1/runtime/sessions") => Some(json!({
            "team": team.name, "name": unique,
            "spec": {"serverRef": {"name": "srv"}, "subject": {"agentID": agent.id}, "grantName": "g",
                     "expiresAt": "2099-01-01T00:00:00Z"}
        })),
        ("PATCH", "/api/v1/runtime/grants/{team}/{name}") => Some(json!({"disabled": true})),
        ("PATCH", "/api/v1/runtime/sessions/{team}/{name}") => Some(json!({"revoked": true})),
        ("POST", "/api/v1/runtime/adapter/sessions") => {
            Some(json!({"serverName": "srv", "team": team.name, "agentID": agent.id}))
        }
        ("POST", "/api/v1/runtime/teams/{team}/agents") => Some(json!({"name": unique})),
        ("PATCH", "/api/v1/runtime/agents/{id}") => Some(json!({"name": unique})),
        _ => None,
    };
    (filled, body)
}

crate::both!(
    servers_publish_update_quota_cooldown_and_policy,
    grants_and_sessions_are_validated_administered_and_team_scoped,
    adapter_sessions_pick_the_grant_cap_trust_reuse_and_sign_tokens,
    deactivating_an_agent_revokes_its_sessions_everywhere,
    delegated_grants_let_another_teams_agents_in_for_a_bounded_time,
    upstream_servers_publish_without_an_image,
);

struct Team3 {
    owner: String,
    member: String,
    outsider: String,
    member_id: String,
    team_id: String,
}

async fn team_with_people(h: &Harness, name: &str) -> Team3 {
    let admin = h.admin_token().await;
    let (owner_id, owner) = h.signed_in(&format!("owner-{name}@example.org")).await;
    let (member_id, member) = h.signed_in(&format!("member-{name}@example.org")).await;
    let (_, outsider) = h.signed_in(&format!("outsider-{name}@example.org")).await;
    let r = h
        .call("POST", "/api/v1/teams", Some(&admin), Some(json!({"name": name, "owner_id": owner_id})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let team_id = r.body["id"].as_str().expect("id").to_string();
    let r = h
        .call(
            "PUT",
            &format!("/api/v1/teams/{name}/members/{member_id}"),
            Some(&owner),
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    Team3 { owner, member, outsider, member_id, team_id }
}

fn server_body(team: &str, name: &str) -> Value {
    json!({
        "team": team, "name": name,
        "spec": {
            "image": "registry.local/example",
            "tools": [
                {"name": "echo", "sideEffect": "read"},
                {"name": "create_task", "sideEffect": "write", "requiredTrust": "medium"}
            ]
        }
    })
}

async fn servers_publish_update_quota_cooldown_and_policy(backend: Backend) {
    let h = Harness::start(
        backend,
        &[("PLATFORM_MCP_ACTIVE_SERVER_LIMIT", "2"), ("PLATFORM_MCP_HOST", "mcp.example.test")],
    )
    .await;
    let t = team_with_people(&h, "pub").await;
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(server_body("pub", "one"))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["server"]["spec"]["teamID"], t.team_id.as_str());
    assert_eq!(r.body["server"]["status"]["url"], "http://mcp.example.test/one/mcp");
    assert_eq!(r.body["server"]["status"]["phase"], "Ready");
    // Exists: 409 without update, 200 with it.
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(server_body("pub", "one"))).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    let mut update = server_body("pub", "one");
    update["update"] = json!(true);
    update["spec"]["description"] = json!("v2");
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(update)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // A foreign teamID is refused naming the field and value.
    let mut foreign = server_body("pub", "two");
    foreign["spec"]["teamID"] = json!("someone-else");
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(foreign)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["details"]["field"], "spec.teamID");
    assert_eq!(r.body["error"]["details"]["value"], "\"someone-else\"");
    // lib/api validation: a tool without a side effect.
    let mut bad = server_body("pub", "two");
    bad["spec"]["tools"] = json!([{"name": "x"}]);
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(bad)).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["error"]["details"]["field"], "spec.tools[0].sideEffect");
    // Quota: the second server fits, the third is 429 until one is deleted.
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(server_body("pub", "two"))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r =
        h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(server_body("pub", "three"))).await;
    assert_eq!(r.status, 429, "{:?}", r.body);
    assert!(r.headers.get("retry-after").is_some());
    assert_eq!(r.body["error"]["details"]["active_server_limit"], 2);
    let list = h.call("GET", "/api/v1/runtime/servers?team=pub", Some(&t.member), None).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(list.body["publish_policy"]["can_publish"], false);
    let r = h.call("DELETE", "/api/v1/runtime/servers/pub/two", Some(&t.member), None).await;
    assert_eq!(r.status, 204);
    let r =
        h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(server_body("pub", "three"))).await;
    assert_eq!(r.status, 201, "delete freed the slot: {:?}", r.body);
    // Outsiders see nothing (404, not 403); their list is empty.
    let r = h.call("GET", "/api/v1/runtime/servers/pub/one", Some(&t.outsider), None).await;
    assert_eq!(r.status, 404);
    let r = h.call("GET", "/api/v1/runtime/servers", Some(&t.outsider), None).await;
    assert_eq!(r.body["items"], json!([]));
    // The policy: document + revision, carrying the platform's JWKS.
    let r = h.call("GET", "/api/v1/runtime/servers/pub/one/policy", Some(&t.owner), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["revision"].as_str().expect("rev").starts_with("sha256:"));
    assert_eq!(r.body["document"]["revision"], r.body["revision"]);
    let kid = h.state.keys.ring().signer_kid(now()).expect("kid").to_string();
    assert_eq!(r.body["document"]["auth"]["platform"]["jwks"]["keys"][0]["kid"], kid.as_str());
    assert_eq!(r.body["document"]["auth"]["platform"]["issuer"], "mcp-platform");

    // Cooldown: a second publish inside the window is 429 with Retry-After and next_allowed_at.
    let h2 = Harness::start(backend, &[("PLATFORM_MCP_PUSH_COOLDOWN", "1h")]).await;
    let t2 = team_with_people(&h2, "cool").await;
    let r =
        h2.call("POST", "/api/v1/runtime/servers", Some(&t2.member), Some(server_body("cool", "a"))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r =
        h2.call("POST", "/api/v1/runtime/servers", Some(&t2.member), Some(server_body("cool", "b"))).await;
    assert_eq!(r.status, 429);
    let retry: u64 = r.headers["retry-after"].to_str().expect("header").parse().expect("secs");
    assert!((3590..=3600).contains(&retry), "{retry}");
    assert!(r.body["error"]["details"]["next_allowed_at"].as_i64().is_some());
}

async fn register(h: &Harness, token: &str, team: &str, name: &str) -> String {
    let r = h
        .call(
            "POST",
            &format!("/api/v1/runtime/teams/{team}/agents"),
            Some(token),
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().expect("id").to_string()
}

async fn grants_and_sessions_are_validated_administered_and_team_scoped(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let t = team_with_people(&h, "gov").await;
    let other = team_with_people(&h, "oth").await;
    let admin = h.admin_token().await;
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(server_body("gov", "srv"))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let agent = register(&h, &t.member, "gov", "Builder").await;
    let foreign_agent = register(&h, &other.member, "oth", "Elsewhere").await;
    // Names are unique per team, case-insensitively.
    let r = h
        .call("POST", "/api/v1/runtime/teams/gov/agents", Some(&t.member), Some(json!({"name": "builder"})))
        .await;
    assert_eq!(r.status, 409);

    let grant = |name: &str, agent: &str| {
        json!({"team": "gov", "name": name, "spec": {
            "serverRef": {"name": "srv"}, "subject": {"agentID": agent},
            "maxTrust": "medium", "allowedSideEffects": ["read", "write"]}})
    };
    // Members may not administer; owners may.
    let r = h.call("POST", "/api/v1/runtime/grants", Some(&t.member), Some(grant("g1", &agent))).await;
    assert_eq!(r.status, 403);
    let r = h.call("POST", "/api/v1/runtime/grants", Some(&t.owner), Some(grant("g1", &agent))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // Validation: one error naming field and value.
    for (body, field) in [
        (grant("g2", "agt_nope"), "spec.subject.agentID"),
        (grant("g2", &foreign_agent), "spec.subject.agentID"),
        (
            json!({"team": "gov", "name": "g2", "spec": {"serverRef": {"name": "missing"}, "subject": {"agentID": agent}, "allowedSideEffects": ["read"]}}),
            "spec.serverRef.name",
        ),
        (
            json!({"team": "gov", "name": "g2", "spec": {"serverRef": {"name": "srv"}, "subject": {"agentID": agent}}}),
            "spec.allowedSideEffects",
        ),
        (
            json!({"team": "gov", "name": "Bad Name", "spec": {"serverRef": {"name": "srv"}, "subject": {"agentID": agent}, "allowedSideEffects": ["read"]}}),
            "metadata.name",
        ),
        (
            json!({"team": "gov", "name": "g2", "spec": {"serverRef": {"name": "srv"}, "subject": {"agentID": agent}, "allowedSideEffects": ["read"], "expiresAt": "tomorrow"}}),
            "spec.expiresAt",
        ),
    ] {
        let r = h.call("POST", "/api/v1/runtime/grants", Some(&t.owner), Some(body)).await;
        assert_eq!(r.status, 400, "{field}: {:?}", r.body);
        assert_eq!(r.body["error"]["details"]["field"], field, "{:?}", r.body);
        assert!(r.body["error"]["details"]["value"].is_string(), "{:?}", r.body);
    }
    // Cross-team: the other team's owner sees 404 everywhere.
    for (m, p) in [
        ("GET", "/api/v1/runtime/grants/gov/g1"),
        ("POST", "/api/v1/runtime/grants/gov/g1/disable"),
        ("DELETE", "/api/v1/runtime/grants/gov/g1"),
    ] {
        assert_eq!(h.call(m, p, Some(&other.owner), None).await.status, 404, "{m} {p}");
    }
    let r = h.call("POST", "/api/v1/runtime/grants", Some(&other.owner), Some(grant("g9", &agent))).await;
    assert_eq!(r.status, 404);
    // Disable / enable, and `disabled` kept when a later apply omits it.
    let r = h.call("POST", "/api/v1/runtime/grants/gov/g1/disable", Some(&t.owner), None).await;
    assert_eq!(r.body["grant"]["spec"]["disabled"], true);
    let r = h.call("POST", "/api/v1/runtime/grants", Some(&t.owner), Some(grant("g1", &agent))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["grant"]["spec"]["disabled"], true, "omitted disabled is preserved");
    let r = h
        .call("PATCH", "/api/v1/runtime/grants/gov/g1", Some(&t.owner), Some(json!({"disabled": false})))
        .await;
    assert_eq!(r.body["grant"]["spec"]["disabled"], false);

    // Sessions: created by administrators, linked to the grant, revoked by the grant.
    let session = |name: &str| {
        json!({"team": "gov", "name": name, "spec": {
            "serverRef": {"name": "srv"}, "subject": {"agentID": agent}, "grantName": "g1",
            "consentedTrust": "low", "expiresAt": "2099-01-01T00:00:00Z"}})
    };
    assert_eq!(
        h.call("POST", "/api/v1/runtime/sessions", Some(&t.owner), Some(session("s1"))).await.status,
        403
    );
    for n in ["s1", "s2"] {
        let r = h.call("POST", "/api/v1/runtime/sessions", Some(&admin), Some(session(n))).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let mut unlinked = session("s3");
    unlinked["spec"]["grantName"] = json!("nope");
    let r = h.call("POST", "/api/v1/runtime/sessions", Some(&admin), Some(unlinked)).await;
    assert_eq!(r.body["error"]["details"]["field"], "spec.grantName");
    let r = h.call("POST", "/api/v1/runtime/sessions/gov/s1/revoke", Some(&t.owner), None).await;
    assert_eq!(r.body["session"]["spec"]["revoked"], true);
    let r = h.call("POST", "/api/v1/runtime/sessions/gov/s1/unrevoke", Some(&t.owner), None).await;
    assert_eq!(r.body["session"]["spec"]["revoked"], false);
    let r = h.call("POST", "/api/v1/runtime/grants/gov/g1/revoke-sessions", Some(&t.owner), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["revoked"], 2);
    let again = h.call("POST", "/api/v1/runtime/grants/gov/g1/revoke-sessions", Some(&t.owner), None).await;
    assert_eq!(again.body["revoked"], 0);
    let list = h.call("GET", "/api/v1/runtime/sessions?team=gov&grant=g1", Some(&t.member), None).await;
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| i["session"]["spec"]["revoked"] == true));
    // The rendered policy shows it.
    let policy = h.call("GET", "/api/v1/runtime/servers/gov/srv/policy", Some(&t.owner), None).await;
    let sessions = policy.body["document"]["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s["revoked"] == true));
    assert_eq!(h.call("DELETE", "/api/v1/runtime/sessions/gov/s2", Some(&t.owner), None).await.status, 204);
    assert_eq!(h.call("GET", "/api/v1/runtime/sessions/gov/s2", Some(&t.owner), None).await.status, 404);
    // A team with servers cannot be deleted.
    let r = h.call("DELETE", "/api/v1/teams/gov", Some(&t.owner), None).await;
    assert_eq!(r.status, 409, "{:?}", r.body);
}

fn decode(h: &Harness, token: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("header");
    let ring = h.state.keys.ring();
    let key = ring.decoding(&header.kid.expect("kid"), now()).expect("published key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_audience(&[audience]);
    v.set_issuer(&["mcp-platform"]);
    jsonwebtoken::decode::<Value>(token, key, &v).expect("valid token").claims
}

async fn adapter_sessions_pick_the_grant_cap_trust_reuse_and_sign_tokens(backend: Backend) {
    let h = Harness::start(backend, &[("PLATFORM_MCP_HOST", "mcp.example.test")]).await;
    let t = team_with_people(&h, "ada").await;
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(server_body("ada", "srv"))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let agent = register(&h, &t.member, "ada", "Claude").await;
    let other_agent = register(&h, &t.member, "ada", "Other").await;
    let ask = |trust: &str, ttl: &str, agent: &str| json!({"serverName": "srv", "agentID": agent, "requestedTrust": trust, "requestedTTL": ttl});
    // No grant yet: 403 with a message.
    let r = h
        .call("POST", "/api/v1/runtime/adapter/sessions", Some(&t.member), Some(ask("high", "2h", &agent)))
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    // Two grants: low (older) and medium; the medium one wins, trust capped to it.
    for (name, trust) in [("low-grant", "low"), ("mid-grant", "medium")] {
        let r = h
            .call(
                "POST",
                "/api/v1/runtime/grants",
                Some(&t.owner),
                Some(json!({"team": "ada", "name": name, "spec": {
                    "serverRef": {"name": "srv"},
                    "subject": {"humanID": t.member_id, "agentID": agent},
                    "maxTrust": trust, "allowedSideEffects": ["read"]}})),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let r = h
        .call("POST", "/api/v1/runtime/adapter/sessions", Some(&t.member), Some(ask("high", "48h", &agent)))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let s = r.body.clone();
    assert_eq!(s["grantName"], "mid-grant");
    assert_eq!(s["consentedTrust"], "medium");
    assert_eq!(s["reused"], false);
    assert_eq!(s["teamID"], t.team_id.as_str());
    let name = s["name"].as_str().expect("name");
    assert_eq!(
        name,
        mcp_platform::runtime::api::adapter_session_name(&t.member_id, &agent, &t.team_id, "srv")
    );
    assert!(name.starts_with("adapter-") && name.len() == 24);
    let expires = mcp_api::parse_rfc3339(s["expiresAt"].as_str().expect("exp")).expect("time").as_second();
    assert!((expires - now() - 24 * 3600).abs() <= 5, "TTL clamped to 24 h");
    // The token: EdDSA, aud = the public URL, claims as the gateway reads them, exp ≤ session.
    let audience = "http://mcp.example.test/srv/mcp";
    assert_eq!(s["audience"], audience);
    let claims = decode(&h, s["token"].as_str().expect("token"), audience);
    assert_eq!(claims["sub"], t.member_id.as_str());
    assert_eq!(claims["agent"], agent.as_str());
    assert_eq!(claims["team"], t.team_id.as_str());
    assert_eq!(claims["sid"], name);
    assert!(claims["exp"].as_i64().expect("exp") <= expires);
    assert!(claims["nbf"].as_i64().is_some() && claims["iat"].as_i64().is_some());
    // Asking again reuses the live session (TTL does not matter), same trust.
    let r = h
        .call("POST", "/api/v1/runtime/adapter/sessions", Some(&t.member), Some(ask("high", "1h", &agent)))
        .await;
    assert_eq!(r.body["reused"], true);
    assert_eq!(r.body["name"], name);
    // A different consented trust makes a new session (same deterministic name).
    let r = h
        .call("POST", "/api/v1/runtime/adapter/sessions", Some(&t.member), Some(ask("low", "1h", &agent)))
        .await;
    assert_eq!(r.body["reused"], false);
    assert_eq!(r.body["consentedTrust"], "low");
    // Bad TTL, bad agent, an agent the grants do not name, someone else's human.
    let r = h
        .call("POST", "/api/v1/runtime/adapter/sessions", Some(&t.member), Some(ask("low", "0s", &agent)))
        .await;
    assert_eq!((r.status, r.body["error"]["details"]["field"].clone()), (400, json!("requestedTTL")));
    let r = h
        .call("POST", "/api/v1/runtime/adapter/sessions", Some(&t.member), Some(ask("low", "1h", "bob")))
        .await;
    assert_eq!((r.status, r.body["error"]["details"]["field"].clone()), (400, json!("agentID")));
    let r = h
        .call(
            "POST",
            "/api/v1/runtime/adapter/sessions",
            Some(&t.member),
            Some(ask("low", "1h", &other_agent)),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = h
        .call("POST", "/api/v1/runtime/adapter/sessions", Some(&t.owner), Some(ask("low", "1h", &agent)))
        .await;
    assert_eq!(r.status, 403, "the grants name the member as human");
    let r = h
        .call("POST", "/api/v1/runtime/adapter/sessions", Some(&t.outsider), Some(ask("low", "1h", &agent)))
        .await;
    assert_eq!(r.status, 400, "an outsider names no team: {:?}", r.body);
    // Refresh: the session's human gets a fresh token while the session lives; not after revoke.
    let path = format!("/api/v1/runtime/adapter/sessions/ada/{name}/token");
    let r = h.call("POST", &path, Some(&t.member), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    decode(&h, r.body["token"].as_str().expect("token"), audience);
    assert_eq!(h.call("POST", &path, Some(&t.owner), None).await.status, 404);
    let r =
        h.call("POST", &format!("/api/v1/runtime/sessions/ada/{name}/revoke"), Some(&t.owner), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(h.call("POST", &path, Some(&t.member), None).await.status, 403);
    // A revoked session is not reused: asking again issues a fresh one under the same name.
    let r = h
        .call("POST", "/api/v1/runtime/adapter/sessions", Some(&t.member), Some(ask("low", "1h", &agent)))
        .await;
    assert_eq!((r.body["reused"].clone(), r.body["name"].clone()), (json!(false), json!(name)));
}

async fn deactivating_an_agent_revokes_its_sessions_everywhere(backend: Backend) {
    let h = Harness::start(backend, &[]).await;
    let t = team_with_people(&h, "dea").await;
    let admin = h.admin_token().await;
    for srv in ["one", "two"] {
        let r =
            h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(server_body("dea", srv))).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let agent = register(&h, &t.member, "dea", "Runner").await;
    let bystander = register(&h, &t.member, "dea", "Bystander").await;
    for (srv, a, n) in [("one", &agent, "s1"), ("two", &agent, "s2"), ("one", &bystander, "s3")] {
        let r = h
            .call(
                "POST",
                "/api/v1/runtime/sessions",
                Some(&admin),
                Some(json!({"team": "dea", "name": n, "spec": {"serverRef": {"name": srv},
                    "subject": {"agentID": a}, "expiresAt": "2099-01-01T00:00:00Z"}})),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let r = h.call("POST", &format!("/api/v1/runtime/agents/{agent}/deactivate"), Some(&t.owner), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["agent"]["status"], "inactive");
    assert_eq!(r.body["revoked"]["revoked"], 2);
    let list = h.call("GET", &format!("/api/v1/runtime/sessions?agent={agent}"), Some(&t.owner), None).await;
    assert!(
        list.body["items"].as_array().expect("items").iter().all(|i| i["session"]["spec"]["revoked"] == true)
    );
    let s3 = h.call("GET", "/api/v1/runtime/sessions/dea/s3", Some(&t.owner), None).await;
    assert_eq!(s3.body["session"]["spec"].get("revoked"), None, "other agents keep their sessions");
    // Inactive agents: no grant writes, no unrevoke, no token issuance.
    let r = h
        .call(
            "POST",
            "/api/v1/runtime/grants",
            Some(&t.owner),
            Some(json!({"team": "dea", "name": "g", "spec": {"serverRef": {"name": "one"},
                "subject": {"agentID": agent}, "allowedSideEffects": ["read"]}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["details"]["field"], "spec.subject.agentID");
    assert_eq!(
        h.call("POST", "/api/v1/runtime/sessions/dea/s1/unrevoke", Some(&t.owner), None).await.status,
        409
    );
    // Listing filters; rename; reactivate leaves revoked sessions revoked.
    let r = h.call("GET", "/api/v1/runtime/teams/dea/agents?status=inactive", Some(&t.member), None).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    let r = h.call("GET", "/api/v1/runtime/teams/dea/agents?q=by&limit=1", Some(&t.member), None).await;
    assert_eq!(r.body["items"][0]["name"], "Bystander");
    let r = h
        .call(
            "PATCH",
            &format!("/api/v1/runtime/agents/{agent}"),
            Some(&t.member),
            Some(json!({"name": "Runner 2"})),
        )
        .await;
    assert_eq!(r.body["name"], "Runner 2");
    let r = h.call("POST", &format!("/api/v1/runtime/agents/{agent}/reactivate"), Some(&t.owner), None).await;
    assert_eq!(r.body["agent"]["status"], "active");
    let s1 = h.call("GET", "/api/v1/runtime/sessions/dea/s1", Some(&t.owner), None).await;
    assert_eq!(s1.body["session"]["spec"]["revoked"], true);
    assert_eq!(
        h.call("GET", &format!("/api/v1/runtime/agents/{agent}"), Some(&t.outsider), None).await.status,
        404
    );
}

async fn delegated_grants_let_another_teams_agents_in_for_a_bounded_time(backend: Backend) {
    let h = Harness::start(backend, &[("PLATFORM_MCP_HOST", "mcp.example.test")]).await;
    let own = team_with_people(&h, "own").await;
    let del = team_with_people(&h, "del").await;
    let r =
        h.call("POST", "/api/v1/runtime/servers", Some(&own.member), Some(server_body("own", "srv"))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let agent = register(&h, &del.member, "del", "Guest").await;
    let grant = |expires: Option<String>, team: &str| {
        let mut spec = json!({"serverRef": {"name": "srv"}, "subject": {"teamID": team, "agentID": agent},
            "allowedSideEffects": ["read"]});
        if let Some(e) = expires {
            spec["expiresAt"] = json!(e);
        }
        json!({"team": "own", "name": "guest", "spec": spec})
    };
    let at = |secs: i64| jiff::Timestamp::from_second(now() + secs).expect("time").to_string();
    for (body, field) in [
        (grant(None, &del.team_id), "spec.expiresAt"),
        (grant(Some(at(8 * 86_400)), &del.team_id), "spec.expiresAt"),
        (grant(Some(at(3600)), "no-such-team"), "spec.subject.teamID"),
    ] {
        let r = h.call("POST", "/api/v1/runtime/grants", Some(&own.owner), Some(body)).await;
        assert_eq!(
            (r.status, r.body["error"]["details"]["field"].clone()),
            (400, json!(field)),
            "{:?}",
            r.body
        );
    }
    let r = h
        .call("POST", "/api/v1/runtime/grants", Some(&own.owner), Some(grant(Some(at(86_400)), &del.team_id)))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // A member of the delegated team gets a session on the other team's server, as its team.
    let ask = json!({"serverName": "srv", "team": "own", "agentID": agent});
    let r = h.call("POST", "/api/v1/runtime/adapter/sessions", Some(&del.member), Some(ask.clone())).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["teamID"], del.team_id.as_str());
    let expires =
        mcp_api::parse_rfc3339(r.body["expiresAt"].as_str().expect("exp")).expect("time").as_second();
    assert!(expires <= now() + 3600 + 5);
    // Someone of neither team sees nothing.
    let stranger = team_with_people(&h, "str").await;
    let r = h.call("POST", "/api/v1/runtime/adapter/sessions", Some(&stranger.member), Some(ask)).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
}

/// A remote MCP server (`spec.upstream`, no image) is published and read back; mixing it with
/// an image or app-only settings is refused naming the field.
async fn upstream_servers_publish_without_an_image(backend: Backend) {
    let h = Harness::start(backend, &[("PLATFORM_MCP_HOST", "mcp.example.test")]).await;
    let t = team_with_people(&h, "remote").await;
    let upstream = json!({"url": "https://mcp.example.net/mcp", "credentialSecretRef": {"name": "remote-mcp", "key": "token"}});
    let mut body = server_body("remote", "search");
    body["spec"].as_object_mut().expect("spec").remove("image");
    body["spec"]["upstream"] = upstream.clone();
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(body.clone())).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["server"]["status"]["url"], "http://mcp.example.test/search/mcp");
    let r = h.call("GET", "/api/v1/runtime/servers/remote/search", Some(&t.member), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let spec = &r.body["server"]["spec"];
    assert_eq!(spec["upstream"], upstream);
    assert!(spec.get("image").is_none(), "{spec}");

    let mut both = body.clone();
    both["name"] = json!("both");
    both["spec"]["image"] = json!("registry.local/example");
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(both)).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["error"]["details"]["field"], "spec.upstream");
    let mut bad_url = body.clone();
    bad_url["name"] = json!("bad");
    bad_url["spec"]["upstream"]["url"] = json!("ftp://mcp.example.net/mcp");
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(bad_url)).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["error"]["details"]["field"], "spec.upstream.url");
    let mut with_port = body;
    with_port["name"] = json!("port");
    with_port["spec"]["port"] = json!(9000);
    let r = h.call("POST", "/api/v1/runtime/servers", Some(&t.member), Some(with_port)).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.body["error"]["details"]["field"], "spec.port");
}
