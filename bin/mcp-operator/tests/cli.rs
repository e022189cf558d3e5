//! The `mcp-operator` binary as a process: its help, its behaviour without a cluster (a clear
//! error and a non-zero exit, never a hang), and a run against the in-memory API ending with
//! a graceful SIGTERM.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mcp_operator::install;
use mcp_testkit::kube_api::FakeApiServer;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-operator");

/// The binary with a clean environment: no in-cluster variables, HOME in `dir` (so no
/// ~/.kube/config is found), logs at warn.
fn operator(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("HOME", dir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn kubeconfig(dir: &Path, server: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n"
    );
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// Waits for the child to exit, killing it (and failing) after `limit`.
fn finish(mut child: Child, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return (child.wait_with_output().expect("output"), started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "mcp-operator still running after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default().to_string()
}

#[test]
fn help_explains_every_setting() {
    let out = Command::new(BIN).arg("--help").output().expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operator.md"))
        .expect("docs/operator.md");
    for var in [
        "MCP_DEFAULT_INGRESS_HOST",
        "DEFAULT_INGRESS_CLASS",
        "MCP_DEFAULT_INGRESS_ENTRYPOINTS",
        "MCP_DEFAULT_INGRESS_TLS",
        "MCP_DEFAULT_INGRESS_TLS_SECRET",
        "MCP_INGRESS_READINESS_MODE",
        "MCP_GATEWAY_PROXY_IMAGE",
        "MCP_SENTINEL_INGEST_URL",
        "PROVISIONED_REGISTRY_URL",
        "MCP_REGISTRY_PULL_HOST",
        "PROVISIONED_REGISTRY_SECRET_NAME",
        "MCP_TOOL_PINS",
        "MCP_CLUSTER_NAME",
        "MCP_PLATFORM_TRUST_CONFIGMAP",
        "REQUEUE_DELAY_SECONDS",
        "MCP_RESYNC_SECONDS",
        "MCP_CONNECT_TIMEOUT_SECONDS",
        "MCP_METRICS_BIND_ADDRESS",
        "MCP_LOG_FORMAT",
        "MCP_LEADER_ELECT",
        "MCP_LEASE_NAME",
        "POD_NAMESPACE",
        "POD_NAME",
        "MCP_ENABLE_WEBHOOKS",
        "MCP_WEBHOOK_BIND_ADDRESS",
        "MCP_WEBHOOK_SERVICE",
        "MCP_WEBHOOK_SECRET",
        "MCP_WEBHOOK_CERT_DIR",
        "MCP_WEBHOOK_CONFIGURATION",
        "KUBECONFIG",
    ] {
        assert!(help.contains(var), "--help does not mention {var}:\n{help}");
        assert!(docs.contains(&format!("`{var}`")), "docs/operator.md does not document {var}");
    }
}

#[test]
fn an_unreachable_api_is_a_clear_error_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let config = kubeconfig(dir.path(), &format!("http://127.0.0.1:{port}"));
    let child = operator(dir.path()).env("KUBECONFIG", &config).spawn().expect("spawn");
    let (out, took) = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let line = last_line(&out);
    assert!(
        line.starts_with(&format!(
            "mcp-operator: cannot reach the Kubernetes API at http://127.0.0.1:{port}/"
        )),
        "{line}"
    );
    assert!(took < Duration::from_secs(12), "took {took:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn an_api_that_never_answers_is_bounded_by_the_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let config = kubeconfig(dir.path(), &format!("http://{addr}"));
    let child = operator(dir.path())
        .env("KUBECONFIG", &config)
        .args(["--connect-timeout-seconds", "2"])
        .spawn()
        .expect("spawn");
    let (out, took) = finish(child, Duration::from_secs(20));
    drop(silent);
    assert_eq!(out.status.code(), Some(1));
    let line = last_line(&out);
    assert!(
        line.contains("cannot reach the Kubernetes API") && line.contains("no answer within 2s"),
        "{line}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[test]
fn no_configuration_at_all_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = operator(dir.path()).env("KUBECONFIG", dir.path().join("missing")).spawn().expect("spawn");
    let (out, _) = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1));
    assert!(last_line(&out).starts_with("mcp-operator: no Kubernetes configuration"), "{}", last_line(&out));
}

#[test]
fn bad_settings_exit_64() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = operator(dir.path()).args(["--platform-trust-configmap", "no-slash"]).spawn().expect("spawn");
    let (out, _) = finish(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(64));
    assert!(last_line(&out).contains("--platform-trust-configmap"), "{}", last_line(&out));
}

#[tokio::test]
async fn runs_against_the_in_memory_api_and_shuts_down_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApiServer::start().await.expect("fake API");
    let config = api.write_kubeconfig(dir.path()).expect("kubeconfig");
    api.put(json!({
        "apiVersion": "mcpruntime.org/v1alpha1", "kind": "MCPServer",
        "metadata": {"name": "notes", "namespace": "mcp-servers"},
        "spec": {"image": "registry.local/notes:1", "tools": [{"name": "read", "sideEffect": "read"}]},
    }));
    let child = operator(dir.path())
        .env("KUBECONFIG", &config)
        .env("MCP_GATEWAY_PROXY_IMAGE", "registry.local/mcp-gateway:test")
        .args([
            "--default-ingress-host=mcp.example.com",
            "--leader-elect",
            "--namespace=mcp-runtime",
            "--identity=operator-0",
            "--enable-webhooks",
            "--webhook-bind-address=127.0.0.1:0",
            "--metrics-bind-address=127.0.0.1:0",
            "--tool-pins=off",
            "--log-format=json",
        ])
        .spawn()
        .expect("spawn");
    let pid = child.id().to_string();
    let found = api
        .eventually(Duration::from_secs(20), |api| {
            api.get("deployments", "mcp-servers", "notes")?;
            api.get("leases", "mcp-runtime", "mcp-runtime-operator")?;
            api.get("secrets", "mcp-runtime", "mcp-runtime-operator-webhook-tls")
        })
        .await;
    if found.is_none() {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        let (out, _) = finish(child, Duration::from_secs(5));
        panic!("the operator did not reconcile; stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    let lease = api.get("leases", "mcp-runtime", "mcp-runtime-operator").expect("lease");
    assert_eq!(lease["spec"]["holderIdentity"], "operator-0");

    Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
    let (out, took) =
        tokio::task::spawn_blocking(move || finish(child, Duration::from_secs(20))).await.expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    let lease = api.get("leases", "mcp-runtime", "mcp-runtime-operator").expect("lease");
    assert!(
        lease["spec"].get("holderIdentity").is_none_or(|h| h.is_null()),
        "the lease is released: {lease}"
    );
    // Everything the binary asked the API for is allowed by the RBAC shipped in deploy/base.
    let (cluster, namespaced) = (install::cluster_rules(), install::namespace_rules());
    for r in api.requests().iter().filter(|r| !r.resource.is_empty()) {
        let resource = r.subresource.as_ref().map_or(r.resource.clone(), |s| format!("{}/{s}", r.resource));
        let selected =
            r.query_param("fieldSelector").and_then(|f| f.strip_prefix("metadata.name=").map(str::to_string));
        let name = r.name.clone().or(selected);
        let allowed = install::allows(&cluster, r.verb, &r.group, &resource, name.as_deref())
            || (r.namespace.as_deref() == Some(install::OPERATOR_NAMESPACE)
                && install::allows(&namespaced, r.verb, &r.group, &resource, name.as_deref()));
        assert!(
            allowed,
            "RBAC does not allow {} {}/{resource} {name:?} in {:?}",
            r.verb, r.group, r.namespace
        );
    }
    // Structured (JSON) logs: every line parses.
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not JSON: {line}");
    }
}
