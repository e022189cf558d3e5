//! The component test of the runtime's promise on the Local backend (see `revocation.rs`):
//! platform → session token → real gateway allows the granted tool, refuses an ungranted one,
//! and a revoke through the API is a `401 session_revoked` at the gateway within 1 s.

use std::time::Duration;

use crate::revocation::Rig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_session_token_passes_the_real_gateway_and_a_revoke_bites_within_a_second() {
    let rig = Rig::start().await;
    // The granted tool is allowed, answered by the example server.
    let ok = rig.call("echo").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("hello"), "{}", ok.body);
    // A tool the grant's rules do not allow is refused with its reason.
    let denied = rig.call("upper").await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(
        denied.body.contains("tool_not_granted") || denied.body.contains("not_granted"),
        "{}",
        denied.body
    );
    // Revoke through the API: denied within a second (three cycles, each measured).
    let mut took = Vec::new();
    for _ in 0..5 {
        took.push(rig.revoke_to_deny(Duration::from_secs(5)).await);
        rig.unrevoke(Duration::from_secs(5)).await;
    }
    eprintln!("revoke → deny (debug build): {took:?}");
    assert!(took.iter().all(|t| *t < Duration::from_secs(1)), "revoke → deny took {took:?}");
    // The policy file carries the platform's keys: issuer and every live key id.
    let doc =
        mcp_policy::Document::from_json(&std::fs::read(&rig.policy_file).expect("policy")).expect("doc");
    let platform = doc.auth.platform.expect("platform trust");
    assert_eq!(platform.issuer, "mcp-platform");
    assert!(!platform.jwks.keys.is_empty());
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).expect("header").kid.expect("kid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_publishes_first_and_old_tokens_stay_valid_until_they_expire() {
    let rig = Rig::start().await;
    let old_token = rig.token.clone();
    let old_kid = kid_of(&old_token);
    // `mcp-platform keys rotate` (publish delay 0 here): a new key, the old one retiring after
    // the longest token lifetime.
    let mut file = mcp_platform::keys::read_file(&rig.keys_file).expect("keys");
    let rotation = mcp_platform::keys::rotate(
        &mut file,
        mcp_platform::store::now(),
        Duration::ZERO,
        Duration::from_secs(900),
    )
    .expect("rotate");
    mcp_platform::keys::write_file(&rig.keys_file, &file).expect("write keys");
    // The running platform reloads the file and publishes both keys into the policy.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let doc =
            mcp_policy::Document::from_json(&std::fs::read(&rig.policy_file).expect("policy")).expect("doc");
        let kids: Vec<String> =
            doc.auth.platform.map(|p| p.jwks.keys.into_iter().map(|k| k.kid).collect()).unwrap_or_default();
        if kids.contains(&rotation.kid) {
            assert!(kids.contains(&old_kid), "the old key stays published: {kids:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the new key never reached the policy: {kids:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // New tokens are signed with the new key; old and new both pass the gateway.
    let new_token = rig.refreshed_token().await;
    assert_eq!(kid_of(&new_token), rotation.kid);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let a = rig.call_with(&new_token, "echo").await;
        if a.status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "new-key token refused: {} {}", a.status, a.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let old = rig.call_with(&old_token, "echo").await;
    assert_eq!(old.status, 200, "a token signed before the rotation is still valid: {}", old.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_the_agent_is_a_session_revoked_at_the_gateway_and_no_new_token() {
    let rig = Rig::start().await;
    assert_eq!(rig.call("echo").await.status, 200);
    let started = std::time::Instant::now();
    let r = rig.platform_post(&format!("/api/v1/runtime/agents/{}/deactivate", rig.agent)).await;
    assert_eq!(r["revoked"]["revoked"], 1, "{r}");
    loop {
        let a = rig.call("echo").await;
        if a.status == 401 && a.body.contains("session_revoked") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1), "still {} {}", a.status, a.body);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let refresh = format!("/api/v1/runtime/adapter/sessions/rev/{}/token", rig.session);
    assert_eq!(rig.platform_status(&refresh, None).await, 403, "no token for a revoked session");
    let ask = serde_json::json!({"serverName": "srv", "team": "rev", "agentID": rig.agent});
    let issue = rig.platform_status("/api/v1/runtime/adapter/sessions", Some(ask)).await;
    assert_eq!(issue, 403, "no new session for an inactive agent");
}
