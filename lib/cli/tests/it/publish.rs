//! The publish workflow with the real binaries: `server build` (daemonless, on the pinned
//! Debian base) → the image runs (unpacked with umoci, started in a chroot as 65532) →
//! `registry push` through the platform into a real registry (Debian's `docker-registry`) under
//! the team's path, with the digest `server build` printed, checked with skopeo → the metadata
//! is pinned to that digest → `server deploy` publishes exactly that image; registry info,
//! status and credentials.

use std::process::Command;

use mcp_testkit::registry::Registry;

use crate::stack::{ADMIN, ADMIN_PASSWORD, Backend, Stack, User, runtime_bin};

fn digest_in(line: &str) -> String {
    line.split_whitespace().find(|w| w.starts_with("sha256:")).unwrap_or_default().to_string()
}

#[test]
fn build_push_pin_and_deploy_a_server_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::start(&dir.path().join("registry")).unwrap_or_else(|e| panic!("{e}"));
    let stack = Stack::start(
        Backend::Sqlite,
        &[("PLATFORM_REGISTRY_URL", registry.url()), ("PLATFORM_REGISTRY_HOST", registry.host())],
    );
    let admin = User::new();
    let out = admin.run_with(
        &["auth", "login", "--api-url", &stack.url, "--email", ADMIN, "--password-stdin"],
        Some(&format!("{ADMIN_PASSWORD}\n")),
        &[],
    );
    out.ok();
    admin.run(&["team", "create", "payments"]).ok();
    admin.run(&["server", "init", "ledger", "--tool", "add"]).ok();

    // Daemonless build of a real program (this mcp-runtime binary) on the pinned base.
    let program = runtime_bin().display().to_string();
    let debs = "/var/tmp/mcp-runtime-tools/debs";
    let build = ["server", "build", "ledger", "--binary", &program, "--deb-cache", debs];
    let out = admin.run(&build);
    let built = out.ok().to_string();
    assert!(built.contains("built ledger:latest sha256:"), "{built}");
    let digest = digest_in(built.lines().next().unwrap_or_default());
    assert!(built.contains("set the image of server \"ledger\" to ledger:latest"), "{built}");
    let archive = admin.home.path().join(".mcp/build/ledger.oci.tar");
    assert!(archive.is_file());
    // Reproducible: the same inputs give the same digest.
    let again = admin.run(&build);
    assert_eq!(digest_in(again.ok().lines().next().unwrap_or_default()), digest);

    // The image runs without a container engine: umoci unpacks it, the program starts inside
    // its root file system as the non-root user.
    let bundle = dir.path().join("bundle");
    let layout = dir.path().join("layout");
    std::fs::create_dir_all(&layout).expect("mkdir");
    let tar = Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(&layout).status().expect("tar");
    assert!(tar.success());
    let unpack = Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:latest", layout.display())])
        .arg(&bundle)
        .output()
        .expect("umoci (apt-get install umoci)");
    assert!(unpack.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&unpack.stderr));
    let chroot = if std::path::Path::new("/usr/sbin/chroot").exists() {
        "/usr/sbin/chroot"
    } else {
        "/usr/bin/chroot"
    };
    let run = Command::new(chroot)
        .arg("--userspec=65532:65532")
        .arg(bundle.join("rootfs"))
        .args(["/usr/local/bin/ledger", "--version"])
        .env_clear()
        .output()
        .expect("chroot");
    assert!(
        run.status.success() && String::from_utf8_lossy(&run.stdout).contains("mcp-runtime"),
        "the image's program did not run: {} {}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );

    // No container builder on PATH: a clear error, exit 1.
    std::fs::write(admin.home.path().join("Dockerfile"), "FROM scratch\n").expect("write");
    let out = admin.run_with(
        &["server", "build", "ledger", "--dockerfile", "Dockerfile"],
        None,
        &[("PATH", "/nonexistent")],
    );
    assert!(out.fails(1).contains("no container builder on PATH (docker, podman, buildah)"), "{}", out.err);

    // Push through the platform: the digest the build printed, under the team's path.
    let out = admin.run(&["registry", "push", "ledger", "--team", "payments"]);
    let pushed = out.ok().to_string();
    let reference = format!("{}/payments/ledger@{digest}", registry.host());
    assert!(
        pushed.contains(&format!("pushed {}/payments/ledger:latest {digest}", registry.host())),
        "{pushed}"
    );
    assert!(pushed.contains(&format!("pinned server \"ledger\" to {reference}")), "{pushed}");
    let inspect = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"])
        .arg(format!("docker://{}/payments/ledger:latest", registry.host()))
        .output()
        .expect("skopeo");
    assert_eq!(
        String::from_utf8_lossy(&inspect.stdout).trim(),
        digest,
        "{}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let metadata = std::fs::read_to_string(admin.home.path().join(".mcp/servers.yaml")).expect("metadata");
    assert!(metadata.contains(&reference) && !metadata.contains("imageTag"), "{metadata}");

    // Deploy pins the server to that digest.
    admin.run(&["server", "deploy", "ledger", "--team", "payments"]).ok();
    let server = admin.run(&["server", "get", "ledger", "--team", "payments", "-o", "json"]).json();
    assert_eq!(server["server"]["spec"]["image"], reference.as_str(), "{server}");

    // What the registry holds; credentials.
    let info = admin.run(&["registry", "info", "--team", "payments", "-o", "json"]).json();
    assert_eq!(info["repositories"][0]["repository"], "payments/ledger", "{info}");
    assert_eq!(info["repositories"][0]["tags"], serde_json::json!(["latest"]));
    assert!(admin.run(&["registry", "status"]).ok().contains(&registry.host()));
    let created = admin.run(&["registry", "credential", "create", "laptop", "-o", "json"]).json();
    let value = created["value"].as_str().unwrap_or_default();
    assert!(value.starts_with("mcpr_"), "{created}");
    let id = created["id"].as_str().unwrap_or_default().to_string();
    let list = admin.run(&["registry", "credential", "list"]).ok().to_string();
    assert!(list.contains("laptop") && !list.contains(value), "{list}");
    assert!(admin.run(&["registry", "credential", "revoke", &id]).ok().contains("revoked"));
    let list = admin.run(&["registry", "credential", "list", "-o", "json"]).json();
    assert!(list["items"][0]["revoked_at"].is_number(), "{list}");

    // A broken archive is refused before anything is uploaded.
    std::fs::write(admin.home.path().join("broken.tar"), b"not a tar").expect("write");
    let out = admin.run(&["registry", "push", "ledger", "--team", "payments", "--image", "broken.tar"]);
    assert!(out.fails(1).starts_with("error: image: broken.tar:"), "{}", out.err);
}
