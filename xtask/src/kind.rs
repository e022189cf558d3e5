//! `cargo xtask kind up|down`: a local Kind cluster for contributors with Docker and kind.
//!
//! `up --test-mode` creates the cluster from `deploy/kind/kind-config.yaml`, starts a local
//! registry (`kind-registry`, published on 127.0.0.1:<port>) joined to the kind network with a
//! containerd mirror on the node, builds and pushes the images, installs the `deploy/kind`
//! overlay (CRDs, operator, sentinel, ingress) and waits until every Deployment is available.
//! Every command goes through `duct` with its output in the artifacts directory; `--dry-run`
//! prints the exact sequence instead (tests assert it).

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::images::{self, Step};
use crate::util::project_root;

/// Image tag the kind overlay deploys.
pub const TEST_TAG: &str = "test";
/// Registry container name.
const REGISTRY: &str = "kind-registry";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Create the cluster, the registry and mirror, push the images, install and wait.
    Up(UpArgs),
    /// Delete the cluster and the registry container.
    Down(DownArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Test mode: single-node sizes, plain-HTTP local registry, images tagged `test`
    /// (required: kind clusters are for tests and local work only).
    #[arg(long)]
    test_mode: bool,
    /// Print the commands instead of running them.
    #[arg(long)]
    dry_run: bool,
    /// Cluster name.
    #[arg(long, default_value = "mcp-runtime")]
    name: String,
    /// Host port of the local registry.
    #[arg(long, default_value_t = 5001)]
    registry_port: u16,
    /// Build the images with Docker and push them to the local registry, instead of daemonless
    /// image archives loaded with `kind load image-archive`.
    #[arg(long)]
    docker: bool,
    /// Where command logs go.
    #[arg(long, value_name = "DIR", default_value = "target/kind")]
    artifacts: PathBuf,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DownArgs {
    /// Print the commands instead of running them.
    #[arg(long)]
    dry_run: bool,
    /// Cluster name.
    #[arg(long, default_value = "mcp-runtime")]
    name: String,
    /// Where command logs go.
    #[arg(long, value_name = "DIR", default_value = "target/kind")]
    artifacts: PathBuf,
}

pub fn run(args: &Args) -> Result<()> {
    let root = project_root();
    match &args.cmd {
        Cmd::Up(up) => {
            if !up.test_mode {
                bail!(
                    "kind up: pass --test-mode (kind clusters are for tests; see docs/deploy.md for k3s and EKS)"
                );
            }
            let release = crate::util::target_dir()?.join("release");
            let contexts = root.join(&up.artifacts).join("contexts");
            if !up.dry_run {
                for (image, _, binary) in images::IMAGES {
                    let dir = contexts.join(image);
                    std::fs::create_dir_all(&dir)?;
                    std::fs::write(dir.join("Dockerfile"), images::dockerfile(binary))?;
                }
            }
            let archives = root.join(&up.artifacts).join("images");
            let archives = (!up.docker).then_some(archives.as_path());
            let steps = plan_up(&up.name, up.registry_port, &release, &contexts, archives);
            images::execute(&steps, up.dry_run, &root.join(&up.artifacts).join("logs"))
        }
        Cmd::Down(down) => {
            images::execute(&plan_down(&down.name), down.dry_run, &root.join(&down.artifacts).join("logs"))
        }
    }
}

/// containerd's per-registry config on the node: `localhost:<port>` is served by the registry
/// container over plain HTTP inside the kind network.
fn hosts_toml() -> String {
    format!("[host.\"http://{REGISTRY}:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n")
}

/// The KEP-1755 ConfigMap that tells tools where the local registry is.
fn registry_hosting(port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local-registry-hosting\n  namespace: kube-public\n\
         data:\n  localRegistryHosting.v1: |\n    host: \"localhost:{port}\"\n    help: \"https://kind.sigs.k8s.io/docs/user/local-registry/\"\n"
    )
}

/// The `kind up` plan; `archives` is where daemonless image archives go (`None`: Docker builds
/// and pushes to the local registry).
pub fn plan_up(
    name: &str,
    port: u16,
    release: &std::path::Path,
    contexts: &std::path::Path,
    archives: Option<&std::path::Path>,
) -> Vec<Step> {
    let node = format!("{name}-control-plane");
    let context = format!("kind-{name}");
    let registry = format!("localhost:{port}/mcp-runtime");
    let certs = format!("/etc/containerd/certs.d/localhost:{port}");
    let mut steps = vec![
        Step::new(
            "registry",
            &[
                "docker",
                "run",
                "-d",
                "--restart=always",
                "-p",
                &format!("127.0.0.1:{port}:5000"),
                "--name",
                REGISTRY,
                "registry:2",
            ],
        )
        .may_fail(),
        Step::new(
            "kind-create",
            &[
                "kind",
                "create",
                "cluster",
                "--name",
                name,
                "--config",
                "deploy/kind/kind-config.yaml",
                "--wait",
                "120s",
            ],
        ),
        Step::new("registry-network", &["docker", "network", "connect", "kind", REGISTRY]).may_fail(),
        Step::new("mirror-dir", &["docker", "exec", &node, "mkdir", "-p", &certs]),
        Step::new(
            "mirror-config",
            &["docker", "exec", "-i", &node, "cp", "/dev/stdin", &format!("{certs}/hosts.toml")],
        )
        .stdin(hosts_toml()),
        Step::new("registry-hosting", &["kubectl", "--context", &context, "apply", "-f", "-"])
            .stdin(registry_hosting(port)),
    ];
    match archives {
        // Daemonless images (`cargo xtask images`), loaded straight into the node's containerd.
        Some(dir) => {
            steps.push(Step::new(
                "images",
                &[
                    "cargo",
                    "xtask",
                    "images",
                    "--registry",
                    &registry,
                    "--tag",
                    TEST_TAG,
                    "--artifacts",
                    &dir.display().to_string(),
                ],
            ));
            for (image, _, _) in images::IMAGES {
                let archive = dir.join("oci").join(format!("{image}.tar"));
                steps.push(Step::new(
                    format!("load-{image}"),
                    &["kind", "load", "image-archive", &archive.display().to_string(), "--name", name],
                ));
            }
        }
        None => steps.extend(images::plan(&registry, TEST_TAG, true, release, contexts)),
    }
    steps.push(Step::new(
        "install",
        &[
            "kubectl",
            "--context",
            &context,
            "apply",
            "--server-side",
            "--force-conflicts",
            "-k",
            "deploy/kind",
        ],
    ));
    steps.push(Step::new(
        "crds-established",
        &[
            "kubectl",
            "--context",
            &context,
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=120s",
        ],
    ));
    steps.push(Step::new(
        "ready",
        &[
            "kubectl",
            "--context",
            &context,
            "wait",
            "--for=condition=Available",
            "deployment",
            "--all",
            "--all-namespaces",
            "--timeout=600s",
        ],
    ));
    steps
}

pub fn plan_down(name: &str) -> Vec<Step> {
    vec![
        Step::new("kind-delete", &["kind", "delete", "cluster", "--name", name]),
        Step::new("registry-remove", &["docker", "rm", "-f", REGISTRY]).may_fail(),
    ]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn up_creates_registry_cluster_mirror_then_pushes_installs_and_waits() {
        let steps = plan_up("mcp-runtime", 5001, Path::new("/t/release"), Path::new("/k/ctx"), None);
        let shown: Vec<String> = steps.iter().map(Step::shown).collect();
        let labels: Vec<&str> = steps.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            &labels[..6],
            [
                "registry",
                "kind-create",
                "registry-network",
                "mirror-dir",
                "mirror-config",
                "registry-hosting"
            ]
        );
        assert_eq!(
            shown[1],
            "kind create cluster --name mcp-runtime --config deploy/kind/kind-config.yaml --wait 120s"
        );
        assert!(steps[4].stdin.as_deref().is_some_and(|s| s.contains("http://kind-registry:5000")));
        assert!(shown[4].contains("/etc/containerd/certs.d/localhost:5001/hosts.toml"));
        assert!(shown.iter().any(|s| s == "docker push localhost:5001/mcp-runtime/mcp-gateway:test"));
        assert!(shown.iter().any(|s| s == "docker push localhost:5001/mcp-runtime/mcp-operator:test"));
        let install = labels.iter().position(|l| *l == "install").expect("install step");
        let last_push = labels.iter().rposition(|l| l.starts_with("push-")).expect("push steps");
        assert!(last_push < install, "images are pushed before the overlay is applied");
        assert_eq!(
            shown[install],
            "kubectl --context kind-mcp-runtime apply --server-side --force-conflicts -k deploy/kind"
        );
        assert_eq!(labels.last(), Some(&"ready"));
    }

    #[test]
    fn up_loads_daemonless_image_archives_before_installing() {
        let steps = plan_up(
            "mcp-runtime",
            5001,
            Path::new("/t/release"),
            Path::new("/k/ctx"),
            Some(Path::new("/k/images")),
        );
        let shown: Vec<String> = steps.iter().map(Step::shown).collect();
        assert!(shown.iter().all(|s| !s.starts_with("docker build") && !s.starts_with("docker push")));
        assert!(
            shown.contains(
                &"cargo xtask images --registry localhost:5001/mcp-runtime --tag test --artifacts /k/images"
                    .to_string()
            )
        );
        assert!(shown.contains(
            &"kind load image-archive /k/images/oci/mcp-gateway.tar --name mcp-runtime".to_string()
        ));
        let labels: Vec<&str> = steps.iter().map(|s| s.label.as_str()).collect();
        let install = labels.iter().position(|l| *l == "install").expect("install");
        let last_load = labels.iter().rposition(|l| l.starts_with("load-")).expect("loads");
        assert!(last_load < install);
        assert_eq!(labels.iter().filter(|l| l.starts_with("load-")).count(), images::IMAGES.len());
    }

    #[test]
    fn down_deletes_the_cluster_and_the_registry() {
        let shown: Vec<String> = plan_down("mcp-runtime").iter().map(Step::shown).collect();
        assert_eq!(shown[0], "kind delete cluster --name mcp-runtime");
        assert!(shown[1].starts_with("docker rm -f kind-registry"));
    }
}
