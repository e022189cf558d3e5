//! `setup` and `doctor`, run as the real `mcp-runtime` binary: the kind overlay applied to the
//! in-memory Kubernetes API server (no API server installs here) and checked, and the platform
//! half of `doctor` against a real `mcp-platform`.

use std::path::Path;

use mcp_testkit::kube_api::FakeApiServer;
use serde_json::{Value, json};

use crate::stack::{ADMIN, ADMIN_PASSWORD, Backend, Stack, User};

fn deploy_dir() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").display().to_string()
}

/// A runtime whose worker threads keep serving the fake API while the binary runs.
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime")
}

fn ready_workloads(api: &FakeApiServer) {
    for plural in ["deployments", "statefulsets"] {
        for o in api.list(plural) {
            let (ns, name) = (o["metadata"]["namespace"].as_str(), o["metadata"]["name"].as_str());
            let (Some(ns), Some(name)) = (ns, name) else { continue };
            let replicas = o["spec"]["replicas"].as_i64().unwrap_or(1);
            let generation = o["metadata"]["generation"].as_i64().unwrap_or(1);
            api.set_status(
                plural,
                ns,
                name,
                json!({"readyReplicas": replicas, "observedGeneration": generation}),
            );
        }
    }
}

fn check<'a>(checks: &'a Value, name: &str) -> &'a Value {
    checks
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name}: {checks}"))
}

#[test]
fn setup_dry_run_prints_the_overlay_in_apply_order_and_refuses_test_secrets_without_test_mode() {
    let user = User::new();
    let deploy = deploy_dir();
    let out = user.run(&["setup", "--target", "kind", "--test-mode", "--dry-run", "--deploy-dir", &deploy]);
    let text = out.ok();
    let first = text.split("\n---\n").next().unwrap_or_default();
    assert!(first.contains("kind: CustomResourceDefinition"), "{first}");
    assert!(out.err.contains("would be applied (dry run: nothing changed)"), "{}", out.err);
    let kinds: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("kind: ")).collect();
    let last_namespace = kinds.iter().rposition(|k| *k == "Namespace").expect("namespaces");
    let first_deployment = kinds.iter().position(|k| *k == "Deployment").expect("deployments");
    assert!(last_namespace < first_deployment);

    let line =
        user.run(&["setup", "--target", "kind", "--dry-run", "--deploy-dir", &deploy]).fails(1).to_string();
    assert!(line.contains("pass --test-mode"), "{line}");
    let line = user
        .run(&["setup", "--target", "eks", "--test-mode", "--dry-run", "--deploy-dir", &deploy])
        .fails(1)
        .to_string();
    assert!(line.contains("--test-mode installs the test overlay"), "{line}");
    let line = user.run(&["setup", "--target", "k3s", "--deploy-dir", "/nonexistent"]).fails(1).to_string();
    assert!(line.contains("not a kustomize overlay"), "{line}");
    user.write("broken.yaml", "apiVersion: v1\nkind: ConfigMap\n");
    let line = user.run(&["setup", "-f", "broken.yaml", "--dry-run"]).fails(1).to_string();
    assert!(line.contains("broken.yaml: document 1: no metadata/name"), "{line}");
}

#[test]
fn setup_applies_the_kind_overlay_and_doctor_checks_the_cluster() {
    let rt = server_runtime();
    let api = rt.block_on(FakeApiServer::start()).expect("fake API");
    let user = User::new();
    let kubeconfig = api.write_kubeconfig(user.home.path()).expect("kubeconfig");
    let kubeconfig = kubeconfig.display().to_string();
    let env = [("KUBECONFIG", kubeconfig.as_str())];
    let deploy = deploy_dir();

    // Nothing installed: doctor fails the CRDs and the operator, with hints.
    let out = user.run_with(&["doctor", "--no-platform", "-o", "json"], None, &env);
    assert_eq!(out.code, 1, "{}\n{}", out.out, out.err);
    let checks: Value = serde_json::from_str(&out.out).expect("json");
    assert_eq!(check(&checks, "cluster.crds")["status"], "fail");
    assert!(check(&checks, "cluster.crds")["hint"].as_str().is_some_and(|h| h.contains("mcp-runtime setup")));

    let setup = ["setup", "--target", "kind", "--test-mode", "--deploy-dir", deploy.as_str(), "--wait", "0"];
    let out = user.run_with(&setup, None, &env);
    let text = out.ok();
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.starts_with("created") && l.contains("CustomResourceDefinition")),
        "{text}"
    );
    assert!(api.get("deployments", "mcp-runtime", "mcp-runtime-operator").is_some());
    let writes: Vec<_> = api.requests().into_iter().filter(|r| r.is_write()).collect();
    assert!(writes.iter().all(|w| w.query_param("fieldManager").as_deref() == Some("mcp-runtime-setup")));
    // Again: nothing changes.
    let out = user.run_with(&setup, None, &env);
    assert!(out.ok().lines().all(|l| l.starts_with("unchanged")), "{}", out.out);

    // Installed but nothing ready: waiting gives up and names the workloads; doctor fails.
    let wait = ["setup", "--target", "kind", "--test-mode", "--deploy-dir", deploy.as_str(), "--wait", "1"];
    // Progress, then one error line naming what is not ready.
    let out = user.run_with(&wait, None, &env);
    assert_eq!(out.code, 1, "{}", out.err);
    let line = out.err.lines().last().unwrap_or_default();
    assert!(line.starts_with("error: not ready after 1 s"), "{}", out.err);
    assert!(line.contains("Deployment mcp-platform/mcp-platform (0/1 replicas ready)"), "{line}");
    let out = user.run_with(&["doctor", "--no-platform"], None, &env);
    assert_eq!(out.code, 1);
    assert!(
        out.out
            .lines()
            .any(|l| l.starts_with("fail") && l.contains("operator") && l.contains("0/1 replicas ready")),
        "{}",
        out.out
    );
    assert!(out.err.contains("failed"), "{}", out.err);

    // Every workload ready: every check passes.
    ready_workloads(&api);
    let out = user.run_with(&["doctor", "--no-platform", "-o", "json"], None, &env);
    let checks: Value = serde_json::from_str(out.ok()).expect("json");
    let not_passed: Vec<&Value> =
        checks.as_array().expect("array").iter().filter(|c| c["status"] != "pass").collect();
    assert!(not_passed.is_empty(), "{not_passed:?}");
    assert!(user.run_with(&wait, None, &env).ok().contains("unchanged"));
    drop(rt);
}

#[test]
fn doctor_checks_the_platform_and_its_components() {
    let stack = Stack::start(Backend::Sqlite, &[]);
    let user = User::new();
    let anonymous = [("MCP_PLATFORM_API_URL", stack.url.as_str())];
    // Not signed in: reachable and ready pass, the components need an administrator.
    let out = user.run_with(&["doctor", "--no-cluster", "-o", "json"], None, &anonymous);
    let checks: Value = serde_json::from_str(out.ok()).expect("json");
    assert_eq!(check(&checks, "platform.reachable")["status"], "pass");
    assert_eq!(check(&checks, "platform.ready")["status"], "pass");
    assert_eq!(check(&checks, "platform.components")["status"], "warn");

    let login = ["auth", "login", "--api-url", stack.url.as_str(), "--email", ADMIN, "--password-stdin"];
    user.run_with(&login, Some(&format!("{ADMIN_PASSWORD}\n")), &[]).ok();
    let out = user.run(&["doctor", "--no-cluster", "-o", "json"]);
    let checks: Value = serde_json::from_str(out.ok()).expect("json");
    for name in ["platform.store", "platform.runtime", "platform.analytics", "platform.signing_keys"] {
        assert_eq!(check(&checks, name)["status"], "pass", "{name}: {checks}");
    }
    // The platform's own audit delivery is not configured here: a warning with the setting.
    let audit = check(&checks, "platform.audit");
    assert_eq!(audit["status"], "warn");
    assert!(audit["hint"].as_str().is_some_and(|h| h.contains("ANALYTICS_INGEST_URL")), "{audit}");

    // An unreachable platform is a failure with a hint.
    let port = mcp_testkit::services::free_port().expect("port");
    let gone = format!("http://127.0.0.1:{port}");
    let out = user.run_with(&["doctor", "--no-cluster"], None, &[("MCP_PLATFORM_API_URL", gone.as_str())]);
    assert_eq!(out.code, 1, "{}\n{}", out.out, out.err);
    assert!(
        out.out.lines().any(|l| l.starts_with("fail") && l.contains("platform.reachable")),
        "{}",
        out.out
    );
}
