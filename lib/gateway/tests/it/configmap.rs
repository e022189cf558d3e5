//! Fast policy delivery: the gateway watches its policy ConfigMap through the Kubernetes API
//! (here the in-memory API of `mcp_testkit::kube_api`, reached through a kubeconfig file, as a
//! pod would reach the real one) and falls back to the projected file only when the API fails.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mcp_gateway::Config;
use mcp_testkit::kube_api::FakeApiServer;
use serde_json::{Value, json};

use crate::support::{Running, SigningKey, Upstream, call, ops_claims, policy_json, resources, rpc};

const CONFIGMAP: &str = "mcp-servers/policy-mcp-server-gateway-policy";

fn configmap(policy: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "policy-mcp-server-gateway-policy", "namespace": "mcp-servers"},
        "data": {"policy.json": policy},
    })
}

fn policies(key: &SigningKey) -> (String, String) {
    let mut r = resources();
    let active = policy_json(&r, &[key]);
    r.sessions[0].spec.revoked = Some(true);
    (active, policy_json(&r, &[key]))
}

/// A gateway with `POLICY_CONFIGMAP` set, talking to `api` through a kubeconfig file.
async fn start(
    upstream: &Upstream,
    api: &FakeApiServer,
    file: Option<&str>,
    extra: &[(&str, &str)],
) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.write_kubeconfig(dir.path()).expect("kubeconfig");
    let kubeconfig = kubeconfig.display().to_string();
    let mut env = vec![("POLICY_CONFIGMAP", CONFIGMAP), ("KUBECONFIG", kubeconfig.as_str())];
    env.extend_from_slice(extra);
    (Running::start(upstream.addr, file, &env).await, dir)
}

async fn status_of(gw: &Running, token: &str) -> (u16, String) {
    let reply = rpc(gw.addr, Some(token), &[], call(1, "echo", json!({}))).await;
    (reply.status, reply.reason())
}

/// Calls until the answer has `status`, for at most `limit`; returns how long it took.
async fn until(gw: &Running, token: &str, status: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if status_of(gw, token).await.0 == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "no {status} within {limit:?}; policy status: {:?}",
            gw.gateway.policy.store.status()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_revised_configmap_is_watched_and_a_revoked_session_denied_within_a_second() {
    let upstream = Upstream::start().await;
    let api = FakeApiServer::start().await.expect("fake API");
    let key = SigningKey::from_seed("platform-1", [7; 32]);
    let (active, revoked) = policies(&key);
    api.put(configmap(&active));
    // No policy file at all: the policy can only come through the API.
    let (gw, _dir) = start(&upstream, &api, None, &[]).await;
    let token = key.token(ops_claims());
    until(&gw, &token, 200, Duration::from_secs(5)).await;

    let revoked_at = Instant::now();
    api.put(configmap(&revoked));
    let took = until(&gw, &token, 401, Duration::from_secs(5)).await;
    assert_eq!(status_of(&gw, &token).await, (401, "session_revoked".to_string()));
    assert!(revoked_at.elapsed() < Duration::from_secs(1), "revocation took {took:?}");
    let expected: Value = serde_json::from_str(&revoked).expect("json");
    assert_eq!(gw.gateway.policy.store.status().revision.as_deref(), expected["revision"].as_str());

    // The gateway only ever asked for its own ConfigMap, by name: a Role limited by
    // resourceNames to that one object is enough.
    let requests = api.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(
            (r.resource.as_str(), r.namespace.as_deref()),
            ("configmaps", Some("mcp-servers")),
            "{r:?}"
        );
        assert!(matches!(r.verb, "list" | "watch"), "{r:?}");
        assert_eq!(
            r.query_param("fieldSelector").as_deref(),
            Some("metadata.name=policy-mcp-server-gateway-policy"),
            "{r:?}"
        );
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_stale_file_never_undoes_the_api_and_takes_over_only_when_the_api_fails() {
    let upstream = Upstream::start().await;
    let api = FakeApiServer::start().await.expect("fake API");
    let key = SigningKey::from_seed("platform-1", [7; 32]);
    let (active, revoked) = policies(&key);
    api.put(configmap(&revoked));
    // kubelet's projected copy lags behind: it still has the session active.
    let (gw, _dir) = start(&upstream, &api, Some(&active), &[("POLICY_FILE_FALLBACK_MS", "300")]).await;
    let token = key.token(ops_claims());
    until(&gw, &token, 401, Duration::from_secs(5)).await;
    // The file is re-checked every 50 ms, but while the watch is healthy it is ignored.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(status_of(&gw, &token).await.0, 401, "the stale file replaced the API's newer revision");

    // The API goes away: the last good policy stays, then after the grace period the file is
    // read again (in a cluster, by then kubelet has caught up).
    drop(api);
    assert_eq!(status_of(&gw, &token).await.0, 401);
    until(&gw, &token, 200, Duration::from_secs(5)).await;
    gw.shutdown().await;
}

#[test]
fn the_configmap_setting_is_checked() {
    let base = |value: &str| -> HashMap<String, String> {
        [("POLICY_FILE", "/p/policy.json"), ("POLICY_CONFIGMAP", value)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let config = Config::from_source(&base("ns/policy")).expect("valid");
    let target = config.policy_configmap.expect("set");
    assert_eq!((target.namespace.as_str(), target.name.as_str()), ("ns", "policy"));
    assert_eq!(config.policy_file_fallback, Duration::from_secs(120));
    for bad in ["policy", "ns/", "NS/policy", "a/b/c"] {
        let err = Config::from_source(&base(bad)).expect_err(bad);
        assert_eq!(err.key, "POLICY_CONFIGMAP", "{err}");
    }
}
