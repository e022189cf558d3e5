//! Daemonless OCI images: a base layer made from pinned Debian packages
//! (`deploy/images/base.lock`: name, version, architecture, sha256; fetched with
//! `apt-get download`, verified, unpacked with `dpkg-deb -x`), an application layer with the
//! binary, and a config that runs it as the non-root user 65532 with the
//! `org.opencontainers.image.{source,revision,created}` labels (`created` =
//! `SOURCE_DATE_EPOCH`). Layers are written by [`crate::archive`], so the same commit and lock
//! file give the same image digest anywhere; the result is an OCI image layout in one tar,
//! which `kind load image-archive`, `skopeo` and `umoci` read.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use duct::cmd;
use serde_json::Value;

use mcp_oci::archive::{self, Entry, Tree};
pub use mcp_oci::image::{
    BASE_PACKAGES, Image, LOCK_FILE, Layer, Locked, Meta, USER, app_tree, assemble, format_lock,
};

/// Where verified packages are kept between runs (by sha256).
pub const DEB_CACHE: &str = "/var/tmp/mcp-runtime-tools/debs";
/// Downloads the current candidate of every base package and writes the lock file.
pub fn update_lock(root: &Path) -> Result<Vec<Locked>> {
    let dir = tempfile::tempdir()?;
    let mut locked = Vec::new();
    for name in BASE_PACKAGES {
        cmd!("apt-get", "download", name).dir(dir.path()).stdout_null().run().with_context(|| {
            format!("apt-get download {name} (run `apt-get update` first if the package is unknown)")
        })?;
        let deb = find_deb(dir.path(), name)?;
        let field =
            |f: &str| cmd!("dpkg-deb", "-f", &deb, f).read().with_context(|| format!("dpkg-deb -f {f}"));
        let data = std::fs::read(&deb)?;
        locked.push(Locked {
            name: name.to_string(),
            version: field("Version")?.trim().to_string(),
            arch: field("Architecture")?.trim().to_string(),
            sha256: archive::sha256(&data),
        });
        std::fs::remove_file(&deb)?;
    }
    std::fs::create_dir_all(root.join("deploy/images"))?;
    std::fs::write(root.join(LOCK_FILE), format_lock(&locked))?;
    Ok(locked)
}

fn find_deb(dir: &Path, name: &str) -> Result<PathBuf> {
    std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|f| f.to_string_lossy().starts_with(&format!("{name}_"))))
        .with_context(|| format!("apt-get download {name} left no .deb"))
}

/// Writes the merged file system of `layers` (trees, base first) under `dir`, for the run check.
pub fn unpack(layers: &[&Tree], dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    for tree in layers {
        for (path, entry) in tree.iter() {
            let target = dir.join(path);
            unpack_one(&target, entry).with_context(|| format!("unpack {path}"))?;
        }
    }
    Ok(())
}

fn unpack_one(target: &Path, entry: &Entry) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match entry {
        Entry::Dir | Entry::DirMode(_) | Entry::DirOwned(_) => {
            std::fs::create_dir_all(target)?;
            let mode = if let Entry::DirMode(m) = entry { *m } else { 0o755 };
            std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode))?;
            if let Entry::DirOwned(uid) = entry {
                std::os::unix::fs::chown(target, Some(*uid), Some(*uid))?;
            }
        }
        Entry::File { data, exec } => {
            let _ = std::fs::remove_file(target);
            std::fs::write(target, data)?;
            std::fs::set_permissions(
                target,
                std::fs::Permissions::from_mode(if *exec { 0o755 } else { 0o644 }),
            )?;
        }
        Entry::Symlink(link) => {
            let _ = std::fs::remove_file(target);
            std::os::unix::fs::symlink(link, target)?;
        }
    }
    Ok(())
}

/// The bench's policy fixture (server, grant, session): the gateway's run check renders its
/// policy from it.
const FIXTURE: &str = include_str!("../../lib/gateway/benches/fixture.yaml");

/// `cargo xtask images` without a daemon: builds (or takes) the binaries, assembles one image
/// archive per image, then optionally checks and pushes them.
pub fn build_images(args: &crate::images::Args, tag: &str) -> Result<()> {
    let source = crate::dist::Source::of_checkout()?;
    let root = &source.root;
    let images: Vec<(&str, &str, &str)> = crate::images::IMAGES
        .iter()
        .copied()
        .filter(|(image, _, _)| args.only.is_empty() || args.only.iter().any(|o| o == image))
        .collect();
    if images.is_empty() {
        bail!("images: --only names no known image");
    }
    let binaries = match &args.binaries {
        Some(dir) => root.join(dir),
        None => {
            // The same reproducible build as `cargo xtask dist`, in its target directory.
            let target_dir = root.join(crate::dist::BUILD_DIR);
            let bins: Vec<(&str, &str)> = images.iter().map(|(_, package, bin)| (*bin, *package)).collect();
            let mut build = duct::cmd("cargo", crate::dist::build_argv(&bins)).dir(root);
            for (key, value) in crate::dist::build_env(&source, &target_dir)? {
                build = build.env(key, value);
            }
            build.run().context("images: cargo build --release")?;
            target_dir.join(crate::dist::TARGET).join("release")
        }
    };
    let out = root.join(&args.artifacts).join("oci");
    std::fs::create_dir_all(&out)?;
    let base = base_layer(root, source.epoch)?;
    let mut digests = String::new();
    for (image, _, bin) in &images {
        let binary = std::fs::read(binaries.join(bin))
            .with_context(|| format!("read {}", binaries.join(bin).display()))?;
        let reference = crate::images::reference(&args.registry, image, tag);
        let built = image_of(&base, bin, &binary, &reference, &source)?;
        let file = out.join(format!("{image}.tar"));
        std::fs::write(&file, archive::tar(&built.layout, source.epoch)?)?;
        println!("{reference} {} {}", built.digest, file.display());
        digests.push_str(&format!("{image} {reference} {}\n", built.digest));
        if args.check {
            check(&file, &base.1, bin, &binary)?;
        }
        if args.push {
            push(&file, &reference)?;
        }
    }
    std::fs::write(out.join("digests.txt"), digests)?;
    Ok(())
}

/// The base layer and its tree.
pub fn base_layer(root: &Path, epoch: u64) -> Result<(Layer, Tree)> {
    let lock = std::fs::read_to_string(root.join(LOCK_FILE)).with_context(|| format!("read {LOCK_FILE}"))?;
    Ok(mcp_oci::image::base_layer(&lock, Path::new(DEB_CACHE), epoch)?)
}

/// One image of `bin` on `base`.
pub fn image_of(
    base: &(Layer, Tree),
    bin: &str,
    binary: &[u8],
    reference: &str,
    source: &crate::dist::Source,
) -> Result<Image> {
    let app = Layer::new(&archive::tar(&app_tree(bin, binary), source.epoch)?)?;
    Ok(assemble(&[base.0.clone(), app], &Meta::product(bin, reference, &source.commit, source.epoch))?)
}

/// The cheap reproducibility check of `cargo xtask ci`: from one already-built binary (this
/// xtask), the release archive and the image (real base layer from the lock file) are made
/// twice and must be byte-identical; the image must pass skopeo and umoci. The full double
/// release build (`cargo xtask dist --verify`) stays out of CI: it takes two release builds.
pub fn ci_check() -> Result<()> {
    let source = crate::dist::Source::of_checkout()?;
    let binary = std::fs::read(std::env::current_exe()?).context("read the xtask binary")?;
    let one = crate::dist::archive_binary("mcp-gateway", &source.version, &binary, source.epoch)?;
    let two = crate::dist::archive_binary("mcp-gateway", &source.version, &binary, source.epoch)?;
    if one != two {
        bail!(
            "ci: the same binary gave two different archives (first differing entry: {:?})",
            archive::first_difference(&one, &two)?
        );
    }
    let base = base_layer(&source.root, source.epoch)?;
    let again = base_layer(&source.root, source.epoch)?;
    if base.0.diff_id != again.0.diff_id || base.0.gz != again.0.gz {
        bail!("ci: the base layer differs between two assemblies");
    }
    let reference = "localhost:5001/mcp-runtime/mcp-gateway:ci";
    let a = image_of(&base, "mcp-gateway", &binary, reference, &source)?;
    let b = image_of(&again, "mcp-gateway", &binary, reference, &source)?;
    if a.digest != b.digest {
        bail!("ci: the same binary gave two image digests: {} and {}", a.digest, b.digest);
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("image.tar");
    std::fs::write(&file, archive::tar(&a.layout, source.epoch)?)?;
    ensure_tools()?;
    cmd!("skopeo", "inspect", format!("oci-archive:{}", file.display()))
        .stdout_null()
        .run()
        .context("skopeo inspect")?;
    eprintln!("ci: archive {} and image {} reproduced", archive::sha256(&one), a.digest);
    Ok(())
}

/// Installs skopeo and umoci from Debian when missing.
fn ensure_tools() -> Result<()> {
    let missing: Vec<&str> = ["skopeo", "umoci"]
        .into_iter()
        .filter(|t| {
            cmd!("sh", "-c", format!("command -v {t}"))
                .stdout_null()
                .unchecked()
                .run()
                .map_or(true, |o| !o.status.success())
        })
        .collect();
    if !missing.is_empty() {
        eprintln!("images: installing {} (apt-get)", missing.join(", "));
        let mut argv = vec!["install", "-y", "--no-install-recommends"];
        argv.extend(&missing);
        duct::cmd("apt-get", &argv)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout_null()
            .run()
            .context("apt-get install skopeo umoci")?;
    }
    Ok(())
}

/// The image check: skopeo reads the archive's manifest and config, umoci unpacks it (a
/// conforming layout), and the binary runs inside the unpacked root file system as 65532.
pub fn check(file: &Path, base: &Tree, bin: &str, binary: &[u8]) -> Result<()> {
    ensure_tools()?;
    let inspect = cmd!("skopeo", "inspect", "--config", format!("oci-archive:{}", file.display()))
        .read()
        .with_context(|| format!("skopeo inspect {}", file.display()))?;
    let config: Value = serde_json::from_str(&inspect).context("skopeo config")?;
    if config["config"]["User"] != format!("{USER}:{USER}") {
        bail!("{}: the image does not run as {USER}", file.display());
    }
    let dir = tempfile::tempdir()?;
    let layout = dir.path().join("layout");
    std::fs::create_dir_all(&layout)?;
    cmd!("tar", "-xf", file, "-C", &layout).run().context("untar the layout")?;
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json"))?).context("index.json")?;
    let tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap_or("latest");
    cmd!("umoci", "unpack", "--image", format!("{}:{tag}", layout.display()), dir.path().join("bundle"))
        .stdout_null()
        .run()
        .context("umoci unpack")?;
    // The run check uses the layers as assembled (umoci's unpack above proves they unpack).
    let rootfs = dir.path().join("rootfs");
    unpack(&[base, &app_tree(bin, binary)], &rootfs).context("unpack the root file system")?;
    run_check(&rootfs, bin).with_context(|| format!("run check of {bin}"))?;
    eprintln!("images: {} passes skopeo, umoci and the run check", file.display());
    Ok(())
}

/// Runs the binary inside `rootfs` (chroot, user 65532, empty environment): the gateway and the
/// example server serve their health endpoint, the others print their version.
pub fn run_check(rootfs: &Path, bin: &str) -> Result<()> {
    let exe = format!("/usr/local/bin/{bin}");
    let user = format!("--userspec={USER}:{USER}");
    // The whole environment is given at once: duct applies `full_env` after any `env` around it.
    let chroot = |args: &[&str], env: &[(&str, String)]| {
        let mut argv = vec![user.as_str(), rootfs.to_str().unwrap_or_default(), exe.as_str()];
        argv.extend(args);
        let chroot =
            if Path::new("/usr/sbin/chroot").exists() { "/usr/sbin/chroot" } else { "/usr/bin/chroot" };
        let mut vars =
            vec![("PATH".to_string(), "/usr/local/bin".to_string()), ("HOME".into(), "/home/nonroot".into())];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
        duct::cmd(chroot, argv).full_env(vars)
    };
    match bin {
        "mcp-example-server" | "mcp-gateway" => {
            let port = crate::util::free_port()?;
            let addr = format!("127.0.0.1:{port}");
            let handle = if bin == "mcp-example-server" {
                chroot(&["--listen", &addr], &[])
                    .stderr_to_stdout()
                    .stdout_path(rootfs.join("tmp/run.log"))
                    .start()?
            } else {
                std::fs::write(rootfs.join("tmp/policy.json"), fixture_policy()?)?;
                let env = [
                    ("LISTEN_ADDR", addr.clone()),
                    ("ADMIN_LISTEN_ADDR", format!("127.0.0.1:{}", crate::util::free_port()?)),
                    ("POLICY_FILE", "/tmp/policy.json".to_string()),
                ];
                chroot(&[], &env).stderr_to_stdout().stdout_path(rootfs.join("tmp/run.log")).start()?
            };
            let path = if bin == "mcp-gateway" { "/health" } else { "/healthz" };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let mut ok = false;
            while std::time::Instant::now() < deadline {
                if matches!(crate::issuer::http_get(port, path), Some((200, _))) {
                    ok = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = handle.kill();
            if !ok {
                let log = std::fs::read_to_string(rootfs.join("tmp/run.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(10).collect();
                bail!(
                    "run check: {bin} in its image did not answer {path} within 20 s; its last lines:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
        _ => {
            let out = chroot(&["--version"], &[]).stderr_to_stdout().unchecked().read().context("chroot")?;
            if !out.contains(bin) && !out.chars().any(|c| c.is_ascii_digit()) {
                bail!("run check: `{bin} --version` in its image printed {out:?}");
            }
        }
    }
    Ok(())
}

fn fixture_policy() -> Result<String> {
    let mut docs = FIXTURE.split("\n---\n");
    let mut next = || docs.next().context("fixture: missing document");
    let server: mcp_api::MCPServer = mcp_api::yaml::from_str(next()?)?;
    let grant: mcp_api::MCPAccessGrant = mcp_api::yaml::from_str(next()?)?;
    let session: mcp_api::MCPAgentSession = mcp_api::yaml::from_str(next()?)?;
    let ctx =
        mcp_policy::RenderContext { cluster: "image-check".into(), ..mcp_policy::RenderContext::default() };
    Ok(mcp_policy::render(&server, &[grant], &[session], &ctx)?.to_json_pretty())
}

/// Copies an image archive to a registry (skopeo: no daemon; plain HTTP for localhost).
pub fn push(file: &Path, reference: &str) -> Result<()> {
    ensure_tools()?;
    let insecure = reference.starts_with("localhost") || reference.starts_with("127.0.0.1");
    let mut argv = vec!["copy".to_string()];
    if insecure {
        argv.push("--dest-tls-verify=false".into());
    }
    argv.push(format!("oci-archive:{}", file.display()));
    argv.push(format!("docker://{reference}"));
    duct::cmd("skopeo", &argv).run().with_context(|| format!("skopeo copy to {reference}"))?;
    Ok(())
}
