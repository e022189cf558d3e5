//! The runtime backend contract on the Kubernetes backend, against the in-memory API server
//! (`mcp_testkit::kube_api`), plus what only this backend does: team provisioning objects, the
//! policy read back from the operator's ConfigMap, the trust ConfigMap — and the proof that the
//! platform's shipped RBAC allows every request the backend made.

use std::sync::Arc;

use mcp_operator_core::install::{TRUST_CONFIGMAP, TRUST_NAMESPACE, platform_allows};
use mcp_operator_core::team::{
    DEFAULT_DENY_POLICY, LIMITS_NAME, OPERATOR_TEAM_BINDING, PLATFORM_FIELD_MANAGER, PLATFORM_TEAM_BINDING,
    QUOTA_NAME, SERVERS_POLICY,
};
use mcp_platform::runtime::RuntimeBackend;
use mcp_platform::runtime::kube::{KubeBackend, KubeSettings};
use mcp_testkit::kube_api::{FakeApiServer, Recorded};

use crate::runtime_contract::{Expect, contract, grant, server, session, team};

async fn backend() -> (FakeApiServer, KubeBackend) {
    let fake = FakeApiServer::start().await.expect("fake API server");
    let backend = KubeBackend::new(fake.client(), KubeSettings::default());
    (fake, backend)
}

/// Fails unless the platform's RBAC (`deploy/base/platform-rbac`) allows every request: the
/// fake API server lets everything through and records it, so this is what keeps the shipped
/// rules in step with the backend. A server-side apply may create, so it needs `create` too.
fn assert_platform_rbac_allows(requests: &[Recorded]) {
    assert!(!requests.is_empty(), "no requests recorded");
    for r in requests.iter().filter(|r| !r.resource.is_empty()) {
        let resource = match &r.subresource {
            Some(sub) => format!("{}/{sub}", r.resource),
            None => r.resource.clone(),
        };
        let selected =
            r.query_param("fieldSelector").and_then(|f| f.strip_prefix("metadata.name=").map(str::to_string));
        let name = r.name.clone().or(selected);
        let verbs: &[&str] = if r.verb == "patch" { &["patch", "create"] } else { &[r.verb] };
        for verb in verbs {
            assert!(
                platform_allows(r.namespace.as_deref(), verb, &r.group, &resource, name.as_deref()),
                "the platform's RBAC does not allow {verb} {}/{resource} {name:?} in {:?}",
                r.group,
                r.namespace
            );
        }
        if r.is_write() && r.verb == "patch" {
            assert_eq!(r.query_param("fieldManager").as_deref(), Some(PLATFORM_FIELD_MANAGER), "{r:?}");
            assert_eq!(r.content_type.as_deref(), Some("application/apply-patch+yaml"), "{r:?}");
            // A real API server refuses an apply without them, and one carrying server-owned
            // metadata or status.
            let body = r.body.as_ref().expect("apply body");
            assert!(body["apiVersion"].is_string() && body["kind"].is_string(), "{body}");
            for owned in ["uid", "resourceVersion", "managedFields", "creationTimestamp", "generation"] {
                assert!(body["metadata"].get(owned).is_none(), "{owned} in {body}");
            }
            assert!(body.get("status").is_none_or(serde_json::Value::is_null), "{body}");
        }
    }
}

#[tokio::test]
async fn kube_backend_keeps_the_contract_within_its_rbac() {
    let (fake, kube) = backend().await;
    let kube: Arc<dyn RuntimeBackend> = Arc::new(kube);
    assert_eq!(kube.kind(), "kubernetes");
    contract(kube, team("alpha"), team("beta"), Expect { renders_policy: false }).await;
    assert!(fake.get("namespaces", "", "mcp-team-alpha").is_none(), "deprovisioned");
    assert!(fake.get("namespaces", "", "mcp-team-beta").is_some());
    let requests = fake.requests();
    let seen: std::collections::BTreeSet<(&str, &str)> =
        requests.iter().map(|r| (r.verb, r.resource.as_str())).collect();
    for wanted in [
        ("get", "namespaces"),
        ("patch", "namespaces"),
        ("delete", "namespaces"),
        ("patch", "rolebindings"),
        ("patch", "mcpservers"),
        ("get", "mcpservers"),
        ("list", "mcpservers"),
        ("delete", "mcpservers"),
        ("patch", "mcpaccessgrants"),
        ("delete", "mcpaccessgrants"),
        ("list", "mcpagentsessions"),
        ("delete", "mcpagentsessions"),
        ("patch", "configmaps"),
    ] {
        assert!(seen.contains(&wanted), "the contract never sent {wanted:?}: {seen:?}");
    }
    assert_platform_rbac_allows(&requests);
}

#[tokio::test]
async fn the_rbac_proof_refuses_what_the_platform_may_not_do() {
    // The replay above is only a proof if the rules refuse things: a sample of what the
    // platform must never be able to do.
    assert!(!platform_allows(Some("mcp-team-a"), "get", "", "secrets", Some("s")));
    assert!(!platform_allows(Some("mcp-servers"), "patch", "mcpruntime.org", "mcpservers", Some("s")));
    assert!(!platform_allows(Some("mcp-team-a"), "patch", "mcpruntime.org", "mcpservers/status", Some("s")));
    assert!(!platform_allows(None, "list", "", "namespaces", None));
    assert!(!platform_allows(
        Some("mcp-team-a"),
        "patch",
        "rbac.authorization.k8s.io",
        "rolebindings",
        Some("x")
    ));
    assert!(!platform_allows(Some("mcp-runtime"), "patch", "", "configmaps", Some("other")));
    assert!(!platform_allows(
        None,
        "bind",
        "rbac.authorization.k8s.io",
        "clusterroles",
        Some("cluster-admin")
    ));
    assert!(platform_allows(Some(TRUST_NAMESPACE), "patch", "", "configmaps", Some(TRUST_CONFIGMAP)));
}

#[tokio::test]
async fn provisioning_applies_the_team_objects_once() {
    let (fake, kube) = backend().await;
    let t = team("payments");
    kube.provision_team(&t).await.expect("provision");
    let ns = fake.get("namespaces", "", "mcp-team-payments").expect("namespace");
    let labels = &ns["metadata"]["labels"];
    assert_eq!(labels["mcpruntime.org/scope"], "team");
    assert_eq!(labels["mcpruntime.org/team-slug"], "payments");
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
    for (plural, name) in [
        ("rolebindings", PLATFORM_TEAM_BINDING),
        ("rolebindings", OPERATOR_TEAM_BINDING),
        ("resourcequotas", QUOTA_NAME),
        ("limitranges", LIMITS_NAME),
        ("networkpolicies", DEFAULT_DENY_POLICY),
        ("networkpolicies", SERVERS_POLICY),
    ] {
        assert!(fake.get(plural, &t.namespace, name).is_some(), "{plural}/{name}");
    }
    let quota = fake.get("resourcequotas", &t.namespace, QUOTA_NAME).expect("quota");
    assert_eq!(quota["spec"]["hard"]["pods"], "20");

    // The bindings come before everything the platform writes through them.
    let writes: Vec<String> =
        fake.requests().iter().filter(|r| r.is_write()).map(|r| r.resource.clone()).collect();
    assert_eq!(
        writes,
        [
            "namespaces",
            "rolebindings",
            "rolebindings",
            "resourcequotas",
            "limitranges",
            "networkpolicies",
            "networkpolicies"
        ]
    );

    // Provisioning again changes nothing.
    let before = fake.get("networkpolicies", &t.namespace, DEFAULT_DENY_POLICY).expect("policy");
    kube.provision_team(&t).await.expect("again");
    let after = fake.get("networkpolicies", &t.namespace, DEFAULT_DENY_POLICY).expect("policy");
    assert_eq!(before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"]);

    // A team whose namespace is not mcp-team-<name> is refused before anything is sent.
    let mut odd = team("odd");
    odd.namespace = "kube-system".into();
    assert!(kube.provision_team(&odd).await.is_err());
    assert!(fake.get("namespaces", "", "kube-system").is_none());
    assert_platform_rbac_allows(&fake.requests());
}

/// The policy comes back as the operator rendered it (here: the operator's own pure render and
/// ConfigMap builder, the ones its controller uses), and the JWKS lands in the trust ConfigMap
/// the operator reads, in its format.
#[tokio::test]
async fn policy_read_back_and_jwks_published_for_the_operator() {
    use mcp_operator_core::build::{ServerView, policy_config_map};
    use mcp_operator_core::config::OperatorConfig;
    use mcp_operator_core::trust::parse_platform_trust;

    let (fake, kube) = backend().await;
    let t = team("ops");
    kube.provision_team(&t).await.expect("provision");
    let srv = kube.apply_server(server(&t, "tools")).await.expect("server");
    let g = kube.apply_grant(grant(&t, "g1", "tools", "agt_1")).await.expect("grant");
    let s = kube.apply_session(session(&t, "s1", "tools", "g1", "agt_1")).await.expect("session");
    assert!(kube.server_policy(&t.namespace, "tools").await.expect("policy").is_none(), "not rendered yet");

    // What the operator does for this server.
    let cfg = OperatorConfig { gateway_image: Some("gw:1".into()), ..OperatorConfig::default() };
    let view = ServerView::new(&srv, &cfg).expect("the stored server has a uid and a valid spec");
    let doc = mcp_policy::render(&srv, &[g], &[s], &cfg.render_context(None, None)).expect("render");
    let cm = serde_json::to_value(policy_config_map(&view, &doc)).expect("json");
    fake.put(cm);

    let policy = kube.server_policy(&t.namespace, "tools").await.expect("policy").expect("rendered");
    assert_eq!(policy.revision, doc.revision);
    assert_eq!(policy.document, doc);
    assert!(kube.server_policy(&t.namespace, "missing").await.expect("policy").is_none());

    // Publishing: sorted by kid, in the operator's format; the same keys again write nothing.
    let key = |kid: &str| mcp_policy::Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
        y: None,
        kid: kid.into(),
        alg: Some("EdDSA".into()),
        use_: Some("sig".into()),
    };
    let trust = |kids: &[&str]| mcp_policy::PlatformTrust {
        issuer: "https://platform.test".into(),
        jwks: mcp_policy::Jwks { keys: kids.iter().map(|k| key(k)).collect() },
    };
    kube.publish_jwks(&trust(&["k2", "k1"])).await.expect("publish");
    let stored = fake.get("configmaps", TRUST_NAMESPACE, TRUST_CONFIGMAP).expect("trust ConfigMap");
    let cm: k8s_openapi::api::core::v1::ConfigMap =
        serde_json::from_value(stored.clone()).expect("ConfigMap");
    assert_eq!(parse_platform_trust(&cm), Ok(trust(&["k1", "k2"])));
    kube.publish_jwks(&trust(&["k1", "k2"])).await.expect("publish again");
    let again = fake.get("configmaps", TRUST_NAMESPACE, TRUST_CONFIGMAP).expect("trust ConfigMap");
    assert_eq!(stored["metadata"]["resourceVersion"], again["metadata"]["resourceVersion"]);
    assert_platform_rbac_allows(&fake.requests());
}

#[tokio::test]
async fn an_unreachable_api_server_is_unavailable() {
    let (fake, kube) = backend().await;
    drop(fake);
    let err = kube.ready().await.expect_err("no API server");
    assert!(matches!(err, mcp_platform::runtime::RuntimeError::Unavailable(_)), "{err:?}");
    let err = kube.apply_server(server(&team("x"), "s")).await.expect_err("no API server");
    assert!(matches!(err, mcp_platform::runtime::RuntimeError::Unavailable(_)), "{err:?}");
}

/// API failures keep their meaning: a refusal (schema, admission) is `Invalid`, a server error
/// is `Unavailable` (the kube client itself retries 503s), and a failed check deletes nothing.
#[tokio::test]
async fn api_refusals_and_failures_map_to_runtime_errors() {
    use mcp_platform::runtime::RuntimeError;
    use mcp_testkit::kube_api::Fault;

    let (fake, kube) = backend().await;
    let t = team("faults");
    kube.provision_team(&t).await.expect("provision");
    fake.fail(Fault::on("patch", "mcpservers").status(422).times(1));
    let err = kube.apply_server(server(&t, "s")).await.expect_err("refused");
    assert!(matches!(&err, RuntimeError::Invalid { field, .. } if field == "spec"), "{err:?}");
    fake.fail(Fault::on("get", "namespaces").status(500).times(1));
    let err = kube.apply_server(server(&t, "s")).await.expect_err("unavailable");
    assert!(matches!(err, RuntimeError::Unavailable(_)), "{err:?}");
    fake.fail(Fault::on("list", "mcpservers").status(500).times(1));
    let err = kube.deprovision_team(&t).await.expect_err("unavailable");
    assert!(matches!(err, RuntimeError::Unavailable(_)), "{err:?}");
    assert!(fake.get("namespaces", "", &t.namespace).is_some(), "nothing deleted on a failed check");
    kube.apply_server(server(&t, "s")).await.expect("works again");
}

/// The operator renders the session tokens' audience from `ingressHost`: a server published
/// without one is applied with the platform's MCP host, so both name the same public URL.
#[tokio::test]
async fn a_server_without_a_host_is_applied_with_the_platforms_mcp_host() {
    let fake = FakeApiServer::start().await.expect("fake API server");
    let mut settings = KubeSettings::default();
    settings.defaults.default_ingress_host = Some("mcp.example.test".into());
    let kube = KubeBackend::new(fake.client(), settings);
    let t = team("hosts");
    kube.provision_team(&t).await.expect("provision");
    let mut s = server(&t, "no-host");
    s.spec.ingress_host = None;
    kube.apply_server(s).await.expect("apply");
    let applied = fake.get("mcpservers", &t.namespace, "no-host").expect("applied");
    assert_eq!(applied["spec"]["ingressHost"], "mcp.example.test");
    let mut s = server(&t, "own-host");
    s.spec.ingress_host = Some("tools.example.test".into());
    kube.apply_server(s).await.expect("apply");
    let applied = fake.get("mcpservers", &t.namespace, "own-host").expect("applied");
    assert_eq!(applied["spec"]["ingressHost"], "tools.example.test");
}

/// The team's pull secret: a `kubernetes.io/dockerconfigjson` Secret in its namespace, written
/// within the platform's RBAC.
#[tokio::test]
async fn the_pull_secret_is_written_into_the_team_namespace() {
    let (fake, backend) = backend().await;
    let team = team("pay");
    backend.provision_team(&team).await.expect("provision");
    let config = mcp_operator_core::team::docker_config("registry.example:5000", "u", "mcpr_x");
    backend.apply_pull_secret(&team, &config).await.expect("pull secret");
    backend.apply_pull_secret(&team, &config).await.expect("idempotent");
    let secret = fake
        .get("secrets", &team.namespace, mcp_operator_core::team::PULL_SECRET_NAME)
        .expect("the secret is stored");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let data = secret["data"][".dockerconfigjson"].as_str().expect("data");
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD.decode(data).expect("base64");
    let value: serde_json::Value = serde_json::from_slice(&decoded).expect("json");
    assert_eq!(value["auths"]["registry.example:5000"]["password"], "mcpr_x");
    assert_platform_rbac_allows(&fake.requests());
}
