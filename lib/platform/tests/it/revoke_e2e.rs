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
