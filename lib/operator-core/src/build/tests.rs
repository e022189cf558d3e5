//! Golden tests of the desired objects: each case is an MCPServer (YAML) and the operator
//! configuration; the snapshot is every object the operator would apply, in apply order.

use mcp_api::{MCPAccessGrant, MCPServer};
use serde_json::Value;

use super::*;
use crate::config::OperatorConfig;

fn server(yaml: &str) -> MCPServer {
    let mut server: MCPServer = mcp_api::yaml::from_str(yaml).expect("fixture parses");
    server.metadata.uid = Some("5f0c6b8e-0000-4000-8000-000000000001".to_string());
    server
}

fn cfg() -> OperatorConfig {
    OperatorConfig {
        default_ingress_host: Some("mcp.example.com".to_string()),
        gateway_image: Some("registry.local/mcp-gateway:0.1.0".to_string()),
        ..OperatorConfig::default()
    }
}

/// Every object of the server, with the policy rendered from `grants` (when the gateway runs).
fn objects(server: &MCPServer, grants: &[MCPAccessGrant], cfg: &OperatorConfig) -> Vec<Value> {
    let view = ServerView::new(server, cfg).expect("valid server");
    let desired = desired(&view, cfg, true);
    let policy = view.spec.gateway_enabled().then(|| {
        let doc = mcp_policy::render(server, grants, &[], &cfg.render_context(None, None)).expect("renders");
        policy_config_map(&view, &doc)
    });
    all_objects(&desired, policy.as_ref())
}

fn ingress_of(server: &MCPServer, cfg: &OperatorConfig) -> Value {
    let view = ServerView::new(server, cfg).expect("valid server");
    serde_json::to_value(ingress(&view, cfg)).expect("serializes")
}

const PLAIN: &str = "
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: plain, namespace: mcp-servers}
spec:
  image: ghcr.io/acme/plain-mcp
  gateway: {enabled: false}
";

const GATEWAY: &str = "
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: workspace-assistant, namespace: mcp-servers}
spec:
  teamID: team-a
  image: registry.local/workspace-assistant
  imageTag: '1.4'
  ingressHost: mcp.example.com
  analytics: {ingestURL: 'http://ingest.mcp-observability.svc:8081/events', apiKeySecretRef: {name: ingest, key: api-key}}
  tools:
    - {name: echo, sideEffect: read}
    - {name: create_task, sideEffect: write, requiredTrust: medium}
";

const GRANT: &str = "
apiVersion: mcpruntime.org/v1alpha1
kind: MCPAccessGrant
metadata: {name: ops-agent, namespace: mcp-servers}
spec:
  serverRef: {name: workspace-assistant}
  subject: {humanID: user-123, agentID: ops-agent}
  maxTrust: medium
  allowedSideEffects: [read, write]
";

#[test]
fn plain_server_without_gateway() {
    insta::assert_yaml_snapshot!("plain", objects(&server(PLAIN), &[], &cfg()));
}

#[test]
fn gateway_enabled_server() {
    let grant: MCPAccessGrant = mcp_api::yaml::from_str(GRANT).expect("grant");
    insta::assert_yaml_snapshot!("gateway", objects(&server(GATEWAY), &[grant], &cfg()));
}

#[test]
fn oauth_server() {
    let yaml = "
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: github, namespace: team-b}
spec:
  image: ghcr.io/acme/github-mcp:2.0
  publicPathPrefix: github
  auth: {mode: oauth, issuerURL: 'https://auth.example.com', audience: 'https://mcp.example.com/github/mcp', scopes: [mcp.read]}
  gateway: {stripPrefix: /github}
  tools: [{name: search, sideEffect: read}]
";
    insta::assert_yaml_snapshot!("oauth", objects(&server(yaml), &[], &cfg()));
}

#[test]
fn canary_rollout() {
    let yaml = "
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: search, namespace: mcp-servers}
spec:
  image: registry.local/search:3
  replicas: 4
  rollout: {strategy: Canary, canaryReplicas: 1, maxSurge: 1, maxUnavailable: 0}
  tools: [{name: query, sideEffect: read}]
";
    let cfg = cfg();
    let view = ServerView::new(&server(yaml), &cfg).expect("valid");
    let d = desired(&view, &cfg, true);
    insta::assert_yaml_snapshot!("canary", vec![d.deployment, d.canary.expect("canary deployment")]);
}

#[test]
fn custom_resources_env_and_secret_env() {
    let yaml = "
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: db-tools, namespace: data}
spec:
  image: db-tools
  useProvisionedRegistry: true
  port: 9000
  servicePort: 8080
  resources: {requests: {cpu: 200m, memory: 256Mi}, limits: {cpu: '2', memory: 1Gi}}
  envVars: [{name: LOG_LEVEL, value: debug}, {name: MCP_PATH, value: /ignored}]
  secretEnvVars: [{name: DATABASE_URL, secretKeyRef: {name: db, key: url}}]
  imagePullSecrets: [team-pull]
  gateway: {port: 9100, resources: {limits: {memory: 128Mi}}}
  analytics: {disabled: true}
  rollout: {strategy: Recreate}
  tools: [{name: sql, sideEffect: write, requiredTrust: high}]
";
    let cfg = OperatorConfig {
        provisioned_registry: Some("registry.registry.svc.cluster.local:5000".to_string()),
        provisioned_pull_secret: Some("mcp-runtime-registry-pull".to_string()),
        ..cfg()
    };
    let view = ServerView::new(&server(yaml), &cfg).expect("valid");
    let d = desired(&view, &cfg, true);
    insta::assert_yaml_snapshot!(
        "custom_resources_env",
        vec![
            serde_json::to_value(d.deployment).expect("json"),
            serde_json::to_value(d.service).expect("json"),
        ]
    );
}

const ROUTED: &str = "
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: notes, namespace: mcp-servers}
spec:
  image: registry.local/notes:1
  ingressHost: notes.example.com
  ingressAnnotations: {'example.com/team': notes}
  tools: [{name: read_note, sideEffect: read}]
";

#[test]
fn ingress_classes() {
    let cfg = cfg();
    let with_class = |class: &str| {
        server(&ROUTED.replace("ingressHost:", &format!("ingressClass: {class}\n  ingressHost:")))
    };
    insta::assert_yaml_snapshot!("ingress_traefik", ingress_of(&server(ROUTED), &cfg));
    insta::assert_yaml_snapshot!("ingress_nginx", ingress_of(&with_class("nginx"), &cfg));
    insta::assert_yaml_snapshot!("ingress_other", ingress_of(&with_class("haproxy"), &cfg));
}

#[test]
fn host_and_hostless_routes() {
    let hostless = "
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: notes, namespace: mcp-servers}
spec:
  image: registry.local/notes:1
  publicPathPrefix: team-notes
  tools: [{name: read_note, sideEffect: read}]
";
    let cfg = cfg();
    insta::assert_yaml_snapshot!("ingress_host", ingress_of(&server(ROUTED), &cfg));
    insta::assert_yaml_snapshot!("ingress_hostless", ingress_of(&server(hostless), &cfg));
    let view = ServerView::new(&server(hostless), &cfg).expect("valid");
    assert_eq!(public_url(&view, &cfg).as_deref(), Some("http://mcp.example.com/team-notes/mcp"));
    assert_eq!(route(&view), (String::new(), "/team-notes/mcp".to_string()));
    let no_default = OperatorConfig { default_ingress_host: None, ..cfg.clone() };
    let view = ServerView::new(&server(hostless), &no_default).expect("valid");
    assert_eq!(public_url(&view, &no_default), None);
}

#[test]
fn tls_on() {
    let cfg = OperatorConfig {
        ingress_tls: true,
        ingress_tls_secret: Some("mcp-platform-tls".to_string()),
        ingress_entrypoints: "websecure".to_string(),
        ..cfg()
    };
    insta::assert_yaml_snapshot!("ingress_tls", ingress_of(&server(ROUTED), &cfg));
    let view = ServerView::new(&server(ROUTED), &cfg).expect("valid");
    assert_eq!(public_url(&view, &cfg).as_deref(), Some("https://notes.example.com/notes/mcp"));
}

#[test]
fn invalid_servers_are_refused_with_every_problem() {
    let yaml = "
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: broken, namespace: mcp-servers}
spec:
  image: ''
  port: 8091
  tools: [{name: a}]
";
    let err = ServerView::new(&server(yaml), &cfg()).expect_err("invalid");
    let message = err.to_string();
    assert!(message.contains("spec.image: is required"), "{message}");
    assert!(message.contains("spec.gateway.port: must differ from spec.port"), "{message}");
    assert!(message.contains("spec.tools[0].sideEffect"), "{message}");

    let no_image = OperatorConfig { gateway_image: None, ..cfg() };
    assert_eq!(ServerView::new(&server(GATEWAY), &no_image), Err(BuildError::MissingGatewayImage));
    let mut unsaved = server(GATEWAY);
    unsaved.metadata.uid = None;
    assert_eq!(ServerView::new(&unsaved, &cfg()), Err(BuildError::MissingUid));
}

#[test]
fn the_policy_is_rewritten_only_for_a_new_revision() {
    let cfg = cfg();
    let s = server(GATEWAY);
    let view = ServerView::new(&s, &cfg).expect("valid");
    let ctx = |at: &str| cfg.render_context(None, Some(at.to_string()));
    let first = mcp_policy::render(&s, &[], &[], &ctx("2026-01-01T00:00:00Z")).expect("renders");
    let PolicyPlan::Write { config_map, previous: None } = plan_policy(&view, None, None, &first) else {
        panic!("a missing ConfigMap is written");
    };
    // Same content rendered later: only generated_at differs, so nothing is written.
    let later = mcp_policy::render(&s, &[], &[], &ctx("2026-01-02T00:00:00Z")).expect("renders");
    assert_eq!(plan_policy(&view, Some(&config_map), None, &later), PolicyPlan::Unchanged);
    // A grant changes the revision.
    let grant: MCPAccessGrant = mcp_api::yaml::from_str(GRANT).expect("grant");
    let granted = mcp_policy::render(&s, &[grant], &[], &ctx("2026-01-02T00:00:00Z")).expect("renders");
    match plan_policy(&view, Some(&config_map), None, &granted) {
        PolicyPlan::Write { previous, .. } => assert_eq!(previous, Some(first.revision.clone())),
        PolicyPlan::Unchanged => panic!("a new revision is written"),
    }
    // A tampered payload does not verify, so it is rewritten even with the right annotation.
    let mut tampered = (*config_map).clone();
    tampered.data.as_mut().expect("data").insert(crate::names::POLICY_KEY.into(), "{}".into());
    assert!(matches!(
        plan_policy(&view, Some(&tampered), None, &later),
        PolicyPlan::Write { previous: None, .. }
    ));
}

const UPSTREAM: &str = "
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: remote-search, namespace: mcp-servers}
spec:
  teamID: team-a
  publicPathPrefix: search
  upstream:
    url: https://mcp.example.net/v1/mcp
    credentialSecretRef: {name: remote-mcp, key: token}
  tools: [{name: search, sideEffect: read}]
";

#[test]
fn upstream_server_runs_the_gateway_alone() {
    insta::assert_yaml_snapshot!("upstream", objects(&server(UPSTREAM), &[], &cfg()));

    let cfg = cfg();
    let view = ServerView::new(&server(UPSTREAM), &cfg).expect("valid");
    let d = desired(&view, &cfg, true);
    let pod = d.deployment.spec.expect("spec").template.spec.expect("pod");
    assert_eq!(pod.containers.len(), 1, "only the gateway");
    let gw = &pod.containers[0];
    assert_eq!(gw.name, crate::names::GATEWAY_CONTAINER);
    let env = |name: &str| gw.env.iter().flatten().find(|e| e.name == name).and_then(|e| e.value.clone());
    assert_eq!(env("UPSTREAM_URL").as_deref(), Some("https://mcp.example.net/v1/mcp"));
    assert_eq!(env("STRIP_PREFIX").as_deref(), Some("/search/mcp"));
    assert_eq!(env("UPSTREAM_TOKEN_FILE").as_deref(), Some("/var/run/mcp-runtime/upstream/token"));
    let mount = gw.volume_mounts.iter().flatten().find(|m| m.name == "upstream-credential").expect("mount");
    assert_eq!(mount.read_only, Some(true));
    let secret = pod
        .volumes
        .iter()
        .flatten()
        .find_map(|v| v.secret.clone().filter(|_| v.name == "upstream-credential"))
        .expect("secret volume");
    assert_eq!(secret.secret_name.as_deref(), Some("remote-mcp"));
    assert_eq!(secret.items.expect("items")[0].key, "token");
    // Egress to the remote URL's port, for this server's pods only.
    let egress = serde_json::to_value(d.upstream_egress.as_ref().expect("egress policy")).expect("json");
    assert_eq!(egress["metadata"]["name"], "remote-search-upstream-egress");
    assert_eq!(egress["spec"]["podSelector"]["matchLabels"]["app"], "remote-search");
    assert_eq!(egress["spec"]["egress"][0]["ports"][0]["port"], 443);
    // The Service still targets the gateway port.
    let svc = serde_json::to_value(&d.service).expect("json");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "gateway");

    // Without a credential: no token file, no Secret volume.
    let bare = UPSTREAM.replace("    credentialSecretRef: {name: remote-mcp, key: token}\n", "");
    let view = ServerView::new(&server(&bare), &cfg).expect("valid");
    let pod = desired(&view, &cfg, true).deployment.spec.expect("spec").template.spec.expect("pod");
    assert!(pod.containers[0].env.iter().flatten().all(|e| e.name != "UPSTREAM_TOKEN_FILE"));
    assert!(pod.volumes.iter().flatten().all(|v| v.secret.is_none()));
    let plain = ServerView::new(&server(GATEWAY), &cfg).expect("valid");
    assert!(desired(&plain, &cfg, true).upstream_egress.is_none(), "an app server opens no egress");

    // An image next to upstream is refused before anything is built.
    let both = UPSTREAM.replace("  upstream:", "  image: registry.local/search\n  upstream:");
    let err = ServerView::new(&server(&both), &cfg).expect_err("invalid").to_string();
    assert!(err.contains("spec.upstream: cannot be combined with spec.image"), "{err}");
}

/// What `mcp-runtime registry push` + `server deploy` publish: an image pinned to a digest under
/// the team's registry path, no pull secret of its own. The app container runs exactly that
/// reference (no tag appended) and the pod pulls with the team's provisioned pull secret.
#[test]
fn a_published_digest_runs_as_pinned_with_the_teams_pull_secret() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let image = format!("registry.local:32000/pay/ledger@{digest}");
    let yaml = format!(
        "
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {{name: ledger, namespace: mcp-team-pay}}
spec:
  image: {image}
  tools: [{{name: add, sideEffect: read}}]
"
    );
    let cfg =
        OperatorConfig { provisioned_pull_secret: Some(crate::team::PULL_SECRET_NAME.to_string()), ..cfg() };
    let view = ServerView::new(&server(&yaml), &cfg).expect("valid");
    let deployment = serde_json::to_value(desired(&view, &cfg, true).deployment).expect("json");
    let pod = &deployment["spec"]["template"]["spec"];
    let app = pod["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|c| c["image"].as_str().is_some_and(|i| i.contains("/pay/ledger")))
        .expect("the app container");
    assert_eq!(app["image"], image.as_str());
    assert_eq!(pod["imagePullSecrets"], serde_json::json!([{"name": "mcp-runtime-registry-pull"}]));
}
