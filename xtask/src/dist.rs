//! `cargo xtask dist`: the release artifacts of one commit, bit-identical wherever they are
//! built: one `.tar.gz` per shipped binary, a CycloneDX SBOM per binary, `provenance.json`
//! and `SHA256SUMS`, in `target/dist/<version>/`.
//!
//! Reproducibility comes from: `cargo build --release --locked` in a target directory of its
//! own (so CI's build cache is never rebuilt with other flags), `SOURCE_DATE_EPOCH` = the
//! commit time, `--remap-path-prefix` for the workspace, the target directory, cargo's home and
//! the toolchain (and `-ffile-prefix-map` for the C code of bundled libraries), and archives
//! written by [`crate::archive`]. `--verify` builds twice from clean target directories and
//! compares every artifact; a difference names the file and, for archives, the first entry.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use duct::cmd;
use serde_json::{Value, json};

use crate::util::project_root;
use mcp_oci::archive::{self, Entry, Tree};

/// The target triple of the archives (the host; the release workflow runs on it).
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Shipped binaries: (binary, cargo package).
pub const BINARIES: &[(&str, &str)] = &[
    ("mcp-runtime", "mcp-runtime"),
    ("mcp-gateway", "mcp-gateway-bin"),
    ("mcp-operator", "mcp-operator-bin"),
    ("mcp-platform", "mcp-platform-bin"),
    ("mcp-sentinel", "mcp-sentinel-bin"),
    ("mcp-example-server", "mcp-example-server"),
];

/// Where the release builds happen (never CI's or a developer's target directory).
pub const BUILD_DIR: &str = "target/dist-build";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Build twice from clean target directories and compare every artifact.
    #[arg(long)]
    pub verify: bool,
    /// Only these binaries (comma-separated) [default: all shipped binaries].
    #[arg(long, value_delimiter = ',', value_name = "BIN,...")]
    pub bins: Vec<String>,
    /// Output directory [default: target/dist/<version>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Target directory of the release build [default: target/dist-build].
    #[arg(long, value_name = "DIR")]
    pub build_dir: Option<PathBuf>,
    /// Skip the SBOMs (no cargo-cyclonedx install).
    #[arg(long)]
    pub no_sbom: bool,
    /// Skip the OCI image archives.
    #[arg(long)]
    pub no_images: bool,
    /// Check every image (skopeo, umoci, and its binary run in a chroot of its root file system).
    #[arg(long)]
    pub check_images: bool,
    /// Pin the kind, k3s and eks overlays to the built image digests (`images:` entries get
    /// `digest:` instead of `newTag:`, the operator's sidecar image `@sha256:`).
    #[arg(long)]
    pub write_digests: bool,
}

/// What goes into one output directory.
#[derive(Clone, Copy, Debug)]
pub struct Outputs {
    pub sbom: bool,
    pub images: bool,
    pub check_images: bool,
}

/// What a build is made from.
#[derive(Clone, Debug)]
pub struct Source {
    pub root: PathBuf,
    pub commit: String,
    pub epoch: u64,
    pub version: String,
}

impl Source {
    pub fn of_checkout() -> Result<Source> {
        let root = project_root();
        let commit = cmd!("git", "rev-parse", "HEAD").dir(&root).read().context("git rev-parse HEAD")?;
        let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v.parse().context("SOURCE_DATE_EPOCH is not a number")?,
            Err(_) => cmd!("git", "log", "-1", "--format=%ct", "HEAD")
                .dir(&root)
                .read()
                .context("git log")?
                .trim()
                .parse()
                .context("commit time")?,
        };
        Ok(Source {
            root,
            commit: commit.trim().to_string(),
            epoch,
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
    }
}

pub fn run(args: &Args) -> Result<()> {
    let source = Source::of_checkout()?;
    let bins = selected(&args.bins)?;
    let out = args.out.clone().unwrap_or_else(|| source.root.join("target/dist").join(&source.version));
    let build_dir = args.build_dir.clone().unwrap_or_else(|| source.root.join(BUILD_DIR));
    let started = Instant::now();
    let outputs = Outputs { sbom: !args.no_sbom, images: !args.no_images, check_images: args.check_images };
    if args.write_digests && args.no_images {
        bail!("dist: --write-digests needs the images (drop --no-images)");
    }
    if !args.verify {
        build_into(&source, &bins, &build_dir, &out, outputs)?;
        eprintln!("dist: {} in {:.0?}", out.display(), started.elapsed());
        print_sums(&out)?;
        return finish(&source, &out, args);
    }
    let first = out.with_extension("run1");
    let second = out.with_extension("run2");
    for (run, dir) in [(1, &first), (2, &second)] {
        eprintln!("dist --verify: build {run} of 2 from a clean target directory");
        let _ = std::fs::remove_dir_all(&build_dir);
        let run_started = Instant::now();
        // The images of the first build are checked (run); the second must equal it byte for byte.
        let outputs = Outputs { check_images: outputs.check_images && run == 1, ..outputs };
        build_into(&source, &bins, &build_dir, dir, outputs)?;
        eprintln!("dist --verify: build {run} took {:.0?}", run_started.elapsed());
    }
    let differences = compare(&first, &second)?;
    if !differences.is_empty() {
        bail!("dist --verify: the two builds differ:\n  {}", differences.join("\n  "));
    }
    let _ = std::fs::remove_dir_all(&out);
    std::fs::rename(&first, &out)
        .with_context(|| format!("move {} to {}", first.display(), out.display()))?;
    std::fs::remove_dir_all(&second).ok();
    eprintln!(
        "dist --verify: both builds identical ({:.0?}); artifacts in {}",
        started.elapsed(),
        out.display()
    );
    print_sums(&out)?;
    finish(&source, &out, args)
}

fn finish(source: &Source, out: &Path, args: &Args) -> Result<()> {
    if args.write_digests {
        let text = std::fs::read_to_string(out.join(IMAGE_DIGESTS)).context("read the image digests")?;
        let digests = parse_digests(&text)?;
        for file in write_digests(&source.root, &digests)? {
            eprintln!("dist: pinned the images of {} to their digests", file.display());
        }
    }
    Ok(())
}

/// The selected binaries, in the shipped order.
pub fn selected(names: &[String]) -> Result<Vec<(&'static str, &'static str)>> {
    if names.is_empty() {
        return Ok(BINARIES.to_vec());
    }
    for name in names {
        if !BINARIES.iter().any(|(bin, _)| bin == name) {
            let known: Vec<&str> = BINARIES.iter().map(|(b, _)| *b).collect();
            bail!("dist: unknown binary {name:?} (shipped: {})", known.join(", "));
        }
    }
    Ok(BINARIES.iter().copied().filter(|(bin, _)| names.iter().any(|n| n == bin)).collect())
}

/// The environment of a reproducible release build in `target_dir`.
pub fn build_env(source: &Source, target_dir: &Path) -> Result<Vec<(String, String)>> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("no CARGO_HOME or HOME")?;
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")));
    let sysroot = cmd!("rustc", "--print", "sysroot").read().context("rustc --print sysroot")?;
    // rustc and the C compilers apply the last matching mapping: longest prefixes go last.
    let mut maps: Vec<(String, &str)> = vec![
        (target_dir.display().to_string(), "/target"),
        (source.root.display().to_string(), "/build"),
        (cargo_home.display().to_string(), "/cargo"),
        (sysroot.trim().to_string(), "/rustc-sysroot"),
    ];
    if let Some(home) = rustup_home {
        maps.push((home.display().to_string(), "/rustup"));
    }
    maps.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    let rustflags: Vec<String> =
        maps.iter().rev().map(|(from, to)| format!("--remap-path-prefix={from}={to}")).collect();
    let cflags: Vec<String> =
        maps.iter().rev().map(|(from, to)| format!("-ffile-prefix-map={from}={to}")).collect();
    Ok(vec![
        ("SOURCE_DATE_EPOCH".into(), source.epoch.to_string()),
        ("CARGO_TARGET_DIR".into(), target_dir.display().to_string()),
        ("RUSTFLAGS".into(), rustflags.join(" ")),
        ("CFLAGS".into(), cflags.join(" ")),
        ("CXXFLAGS".into(), cflags.join(" ")),
        ("CARGO_INCREMENTAL".into(), "0".into()),
        ("TZ".into(), "UTC".into()),
        ("LC_ALL".into(), "C".into()),
    ])
}

/// The cargo command of a release build.
pub fn build_argv(bins: &[(&str, &str)]) -> Vec<String> {
    let mut argv: Vec<String> =
        ["build", "--release", "--locked", "--target", TARGET].map(String::from).to_vec();
    for (_, package) in bins {
        argv.extend(["-p".to_string(), package.to_string()]);
    }
    argv
}

/// Builds `bins` in `target_dir` and writes every artifact into `out` (emptied first).
pub fn build_into(
    source: &Source,
    bins: &[(&str, &str)],
    target_dir: &Path,
    out: &Path,
    outputs: Outputs,
) -> Result<()> {
    let env = build_env(source, target_dir)?;
    let argv = build_argv(bins);
    let mut build = duct::cmd("cargo", &argv).dir(&source.root).env_remove("RUSTC_WRAPPER");
    for (key, value) in &env {
        build = build.env(key, value);
    }
    build.run().context("dist: cargo build --release")?;
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)?;
    let release = target_dir.join(TARGET).join("release");
    let mut artifacts = Vec::new();
    let packages: Vec<&str> = bins.iter().map(|(_, p)| *p).collect();
    let sboms = if outputs.sbom { sboms(source, &packages)? } else { Default::default() };
    for (bin, package) in bins {
        let binary = std::fs::read(release.join(bin)).with_context(|| format!("read the built {bin}"))?;
        let name = archive_name(bin, &source.version);
        let data = archive_binary(bin, &source.version, &binary, source.epoch)?;
        std::fs::write(out.join(&name), &data)?;
        artifacts.push((name, archive::sha256(&data)));
        if let Some(data) = sboms.get(*package) {
            let name = format!("{bin}-{}.cdx.json", source.version);
            std::fs::write(out.join(&name), data)?;
            artifacts.push((name, archive::sha256(data)));
        }
    }
    if outputs.images {
        images_into(source, bins, &release, out, outputs.check_images, &mut artifacts)?;
    }
    let provenance = provenance(source, bins, &env, &argv, &artifacts)?;
    std::fs::write(out.join("provenance.json"), &provenance)?;
    write_sums(out)
}

/// The file of `dist` listing every image and its manifest digest (`image sha256:…` per line).
pub const IMAGE_DIGESTS: &str = "IMAGES";

/// The image archive of every built binary that has an image (`<image>-<version>.oci.tar`, named
/// `mcp-runtime/<image>:<version>`) and the [`IMAGE_DIGESTS`] file.
fn images_into(
    source: &Source,
    bins: &[(&str, &str)],
    release: &Path,
    out: &Path,
    check: bool,
    artifacts: &mut Vec<(String, String)>,
) -> Result<()> {
    let images: Vec<(&str, &str)> = crate::images::IMAGES
        .iter()
        .filter(|(_, _, bin)| bins.iter().any(|(b, _)| b == bin))
        .map(|(image, _, bin)| (*image, *bin))
        .collect();
    if images.is_empty() {
        return Ok(());
    }
    let base = crate::oci::base_layer(&source.root, source.epoch)?;
    let mut listing = String::new();
    for (image, bin) in images {
        let binary = std::fs::read(release.join(bin)).with_context(|| format!("read the built {bin}"))?;
        let reference = format!("mcp-runtime/{image}:{}", source.version);
        let built = crate::oci::image_of(&base, bin, &binary, &reference, source)?;
        let name = format!("{image}-{}.oci.tar", source.version);
        let data = archive::tar(&built.layout, source.epoch)?;
        std::fs::write(out.join(&name), &data)?;
        artifacts.push((name.clone(), archive::sha256(&data)));
        listing.push_str(&format!("{image} {}\n", built.digest));
        eprintln!("dist: image {image} {}", built.digest);
        if check {
            crate::oci::check(&out.join(&name), &base.1, bin, &binary)?;
        }
    }
    std::fs::write(out.join(IMAGE_DIGESTS), listing)?;
    Ok(())
}

/// Parses [`IMAGE_DIGESTS`].
pub fn parse_digests(text: &str) -> Result<Vec<(String, String)>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (image, digest) = line.split_once(' ').context("IMAGES: expected `image sha256:<hex>`")?;
            let hex = digest.strip_prefix("sha256:").unwrap_or_default();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("IMAGES: {digest:?} is not a sha256 digest");
            }
            Ok((image.to_string(), digest.to_string()))
        })
        .collect()
}

/// The overlays `--write-digests` pins.
pub const PINNED_OVERLAYS: &[&str] = &["deploy/kind", "deploy/k3s", "deploy/eks"];

/// Pins the own images of every overlay under `root` (see [`pin_overlay`]); returns the files
/// it changed.
pub fn write_digests(root: &Path, digests: &[(String, String)]) -> Result<Vec<PathBuf>> {
    let mut changed = Vec::new();
    for overlay in PINNED_OVERLAYS {
        let mut files = Vec::new();
        yaml_files(&root.join(overlay), &mut files)?;
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
            let pinned = pin_overlay(&text, digests);
            if pinned != text {
                let tmp = file.with_extension("yaml.tmp");
                std::fs::write(&tmp, &pinned)?;
                std::fs::rename(&tmp, &file)?;
                changed.push(file);
            }
        }
    }
    Ok(changed)
}

/// Every `.yaml` file under `dir` (its patches and nested overlays included).
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Rewrites one kustomization (or patch): in `images:`, an entry `name: mcp-runtime/<image>` gets
/// `digest: <digest>` in place of its `newTag:`; a value `…/mcp-runtime/<image>:<tag>` (the
/// operator's `MCP_GATEWAY_PROXY_IMAGE`) becomes `…/mcp-runtime/<image>@<digest>`. Everything
/// else, comments included, is kept as written. Running it again with the same digests changes
/// nothing; with new ones it replaces the old digests.
pub fn pin_overlay(text: &str, digests: &[(String, String)]) -> String {
    let digest_of = |image: &str| digests.iter().find(|(i, _)| i == image).map(|(_, d)| d.as_str());
    let mut out = Vec::new();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if let Some(name) = trimmed.strip_prefix("- name: ") {
            current = name.trim().strip_prefix("mcp-runtime/").and_then(digest_of);
            out.push(line.to_string());
            continue;
        }
        if let Some(digest) = current
            && (trimmed.starts_with("newTag:") || trimmed.starts_with("digest:"))
        {
            out.push(format!("{indent}digest: {digest}"));
            continue;
        }
        if let Some(value) = trimmed.strip_prefix("value: ")
            && let Some(pinned) = pin_reference(value.trim(), &digest_of)
        {
            out.push(format!("{indent}value: {pinned}"));
            continue;
        }
        out.push(line.to_string());
    }
    let mut pinned = out.join("\n");
    if text.ends_with('\n') {
        pinned.push('\n');
    }
    pinned
}

/// `host/mcp-runtime/<image>:<tag>` (or `@sha256:…`) → `host/mcp-runtime/<image>@<digest>`.
fn pin_reference<'a>(value: &str, digest_of: &impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    let (repository, _) = value.split_once('@').or_else(|| value.rsplit_once(':'))?;
    let image = repository.rsplit_once("/mcp-runtime/")?.1;
    if image.contains('/') || image.contains(':') {
        return None;
    }
    Some(format!("{repository}@{}", digest_of(image)?))
}

/// `mcp-gateway-0.1.0-x86_64-unknown-linux-gnu.tar.gz`
pub fn archive_name(bin: &str, version: &str) -> String {
    format!("{bin}-{version}-{TARGET}.tar.gz")
}

/// The archive of one binary: `<bin>-<version>-<target>/<bin>`.
pub fn archive_binary(bin: &str, version: &str, binary: &[u8], epoch: u64) -> Result<Vec<u8>> {
    let mut tree = Tree::new();
    archive::insert(
        &mut tree,
        &format!("{bin}-{version}-{TARGET}/{bin}"),
        Entry::File { data: binary.to_vec(), exec: true },
    );
    Ok(archive::gzip(&archive::tar(&tree, epoch)?)?)
}

/// The CycloneDX SBOM of every workspace package, from one `cargo cyclonedx` run (crates.io,
/// pinned), made deterministic ([`normalise_sbom`]). The generator writes
/// `dist-sbom.json` next to every member's `Cargo.toml`; all of them are removed again.
fn sboms(source: &Source, packages: &[&str]) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let tool = crate::tools::CARGO_CYCLONEDX.install("dist")?;
    let metadata = cmd!("cargo", "metadata", "--format-version", "1", "--no-deps", "--locked")
        .dir(&source.root)
        .read()
        .context("cargo metadata")?;
    let metadata: Value = serde_json::from_str(&metadata)?;
    let members: Vec<(String, PathBuf)> = metadata["packages"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    let dir = Path::new(p["manifest_path"].as_str()?).parent()?.to_path_buf();
                    Some((p["name"].as_str()?.to_string(), dir))
                })
                .collect()
        })
        .unwrap_or_default();
    let clean = || {
        for (_, dir) in &members {
            let _ = std::fs::remove_file(dir.join("dist-sbom.json"));
        }
    };
    clean();
    let result = cmd!(
        &tool,
        "cyclonedx",
        "--format",
        "json",
        "--spec-version",
        "1.5",
        "--target",
        TARGET,
        "--override-filename",
        "dist-sbom"
    )
    .dir(&source.root)
    .env("SOURCE_DATE_EPOCH", source.epoch.to_string())
    .stdout_null()
    .run()
    .context("cargo cyclonedx");
    let mut out = std::collections::BTreeMap::new();
    if result.is_ok() {
        for package in packages {
            let Some((_, dir)) = members.iter().find(|(name, _)| name == package) else {
                clean();
                bail!("package {package} not in the workspace");
            };
            let file = dir.join("dist-sbom.json");
            let text = std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()));
            let text = match text {
                Ok(text) => text,
                Err(e) => {
                    clean();
                    return Err(e);
                }
            };
            let mut sbom: Value = serde_json::from_str(&text).context("parse the SBOM")?;
            normalise_sbom(&mut sbom, source);
            let mut data = serde_json::to_vec_pretty(&sbom)?;
            data.push(b'\n');
            out.insert(package.to_string(), data);
        }
    }
    clean();
    result?;
    Ok(out)
}

/// Replaces what differs between two runs of the generator: `serialNumber` (random) and
/// `metadata.timestamp` (now), and any absolute path of this checkout.
pub fn normalise_sbom(sbom: &mut Value, source: &Source) {
    let root = source.root.display().to_string();
    strip_paths(sbom, &root);
    if let Some(meta) = sbom.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("timestamp".into(), Value::String(rfc3339(source.epoch)));
    }
    if let Some(object) = sbom.as_object_mut() {
        object.remove("serialNumber");
        let digest = archive::sha256(serde_json::to_string(&*object).unwrap_or_default().as_bytes());
        let uuid = format!(
            "{}-{}-5{}-8{}-{}",
            &digest[0..8],
            &digest[8..12],
            &digest[13..16],
            &digest[17..20],
            &digest[20..32]
        );
        object.insert("serialNumber".into(), Value::String(format!("urn:uuid:{uuid}")));
    }
}

fn strip_paths(value: &mut Value, root: &str) {
    match value {
        Value::String(s) if s.contains(root) => *s = s.replace(root, "/build"),
        Value::Array(items) => items.iter_mut().for_each(|v| strip_paths(v, root)),
        Value::Object(map) => map.values_mut().for_each(|v| strip_paths(v, root)),
        _ => {}
    }
}

pub use mcp_oci::image::rfc3339;

/// The provenance statement: what was built, from what, with what, how.
fn provenance(
    source: &Source,
    bins: &[(&str, &str)],
    env: &[(String, String)],
    argv: &[String],
    artifacts: &[(String, String)],
) -> Result<Vec<u8>> {
    let rustc = cmd!("rustc", "-vV").read().context("rustc -vV")?;
    let cargo = cmd!("cargo", "-V").read().context("cargo -V")?;
    let lock = std::fs::read(source.root.join("Cargo.lock")).context("read Cargo.lock")?;
    // Paths of this machine are not part of the statement: the remapped names are.
    let env: Vec<Value> = env
        .iter()
        .filter(|(k, _)| k != "CARGO_TARGET_DIR")
        .map(|(k, v)| {
            let shown = if k == "RUSTFLAGS" || k == "CFLAGS" || k == "CXXFLAGS" {
                "<remap of the workspace, target dir, cargo home and toolchain to /build, /target, /cargo, /rustc-sysroot, /rustup>".to_string()
            } else {
                v.clone()
            };
            json!({"name": k, "value": shown})
        })
        .collect();
    let doc = json!({
        "_type": "mcp-runtime dist provenance v1",
        "source": {
            "repository": "https://github.com/mcp-runtime/mcp-runtime",
            "commit": source.commit,
            "sourceDateEpoch": source.epoch,
            "created": rfc3339(source.epoch),
            "cargoLockSha256": archive::sha256(&lock),
        },
        "version": source.version,
        "target": TARGET,
        "binaries": bins.iter().map(|(b, p)| json!({"binary": b, "package": p})).collect::<Vec<_>>(),
        "toolchain": { "rustc": rustc.trim(), "cargo": cargo.trim() },
        "build": {
            "command": format!("cargo {}", argv.join(" ")),
            "environment": env,
            "reproduce": "cargo xtask dist --verify",
        },
        "artifacts": artifacts.iter().map(|(n, d)| json!({"name": n, "sha256": d})).collect::<Vec<_>>(),
    });
    let mut data = serde_json::to_vec_pretty(&doc)?;
    data.push(b'\n');
    Ok(data)
}

/// `SHA256SUMS` of every other file in `out`, sorted by name (`sha256sum -c` format).
fn write_sums(out: &Path) -> Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(out)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    names.sort();
    let mut text = String::new();
    for name in names {
        let data = std::fs::read(out.join(&name))?;
        text.push_str(&format!("{}  {name}\n", archive::sha256(&data)));
    }
    std::fs::write(out.join("SHA256SUMS"), text)?;
    Ok(())
}

fn print_sums(out: &Path) -> Result<()> {
    print!("{}", std::fs::read_to_string(out.join("SHA256SUMS"))?);
    Ok(())
}

/// Every difference between two output directories: a file on one side only, or different
/// content (for archives with the first differing entry).
pub fn compare(a: &Path, b: &Path) -> Result<Vec<String>> {
    let list = |dir: &Path| -> Result<Vec<String>> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir)?.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
        names.sort();
        Ok(names)
    };
    let (left, right) = (list(a)?, list(b)?);
    let mut out = Vec::new();
    for name in left.iter().filter(|n| !right.contains(n)) {
        out.push(format!("{name}: only in the first build"));
    }
    for name in right.iter().filter(|n| !left.contains(n)) {
        out.push(format!("{name}: only in the second build"));
    }
    for name in left.iter().filter(|n| right.contains(n)) {
        let (x, y) = (std::fs::read(a.join(name))?, std::fs::read(b.join(name))?);
        if x == y {
            continue;
        }
        let detail = if name.ends_with(".tar.gz") || name.ends_with(".oci.tar") {
            match archive::first_difference(&x, &y)? {
                Some(entry) => format!(" (first differing entry: {entry})"),
                None => " (same entries, different compression)".to_string(),
            }
        } else {
            String::new()
        };
        out.push(format!("{name}: sha256 {} vs {}{detail}", archive::sha256(&x), archive::sha256(&y)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_deterministic_and_differences_are_named() {
        let one = archive_binary("mcp-gateway", "0.1.0", b"\x7fELF one", 1_700_000_000).expect("archive");
        let again = archive_binary("mcp-gateway", "0.1.0", b"\x7fELF one", 1_700_000_000).expect("archive");
        assert_eq!(one, again);
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).expect("mkdir");
        std::fs::create_dir_all(&b).expect("mkdir");
        let name = archive_name("mcp-gateway", "0.1.0");
        std::fs::write(a.join(&name), &one).expect("write");
        let two = archive_binary("mcp-gateway", "0.1.0", b"\x7fELF two", 1_700_000_000).expect("archive");
        std::fs::write(b.join(&name), &two).expect("write");
        std::fs::write(a.join("extra"), "x").expect("write");
        let diff = compare(&a, &b).expect("compare");
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert!(diff[0].starts_with("extra: only in the first build"));
        assert!(
            diff[1]
                .ends_with("(first differing entry: mcp-gateway-0.1.0-x86_64-unknown-linux-gnu/mcp-gateway)"),
            "{}",
            diff[1]
        );
    }

    #[test]
    fn the_build_is_locked_release_and_remaps_every_machine_path() {
        let argv = build_argv(&selected(&["mcp-gateway".into()]).expect("known"));
        assert_eq!(
            argv.join(" "),
            "build --release --locked --target x86_64-unknown-linux-gnu -p mcp-gateway-bin"
        );
        assert!(selected(&["nope".into()]).is_err());
        assert_eq!(selected(&[]).expect("all").len(), 6);
        let source =
            Source { root: "/w/repo".into(), commit: "abc".into(), epoch: 1, version: "0.1.0".into() };
        let env = build_env(&source, Path::new("/w/repo/target/dist-build")).expect("env");
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        let rustflags = get("RUSTFLAGS");
        assert!(rustflags.contains("--remap-path-prefix=/w/repo=/build"), "{rustflags}");
        // rustc applies the last matching mapping: the target dir (inside the repo) comes after it.
        let (repo, target) = (rustflags.find("=/build"), rustflags.find("=/target"));
        assert!(repo.is_some() && target > repo, "{rustflags}");
        assert!(rustflags.contains("=/cargo") && rustflags.contains("=/rustc-sysroot"), "{rustflags}");
        assert!(get("CFLAGS").find("=/target") > get("CFLAGS").find("=/build"));
        assert_eq!(get("SOURCE_DATE_EPOCH"), "1");
    }

    #[test]
    fn sbom_normalisation_is_stable() {
        let source = Source {
            root: "/w/repo".into(),
            commit: "abc".into(),
            epoch: 1_700_000_000,
            version: "0.1.0".into(),
        };
        let make = |serial: &str, ts: &str| {
            let mut v = json!({"serialNumber": serial, "metadata": {"timestamp": ts, "component": {"x": "/w/repo/bin/a"}}});
            normalise_sbom(&mut v, &source);
            v
        };
        let (a, b) = (make("urn:uuid:1", "2026-01-01T00:00:00Z"), make("urn:uuid:2", "2027-01-01T00:00:00Z"));
        assert_eq!(a, b);
        assert_eq!(a["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
        assert_eq!(a["metadata"]["component"]["x"], "/build/bin/a");
        assert!(a["serialNumber"].as_str().is_some_and(|s| s.starts_with("urn:uuid:") && s.len() == 45));
    }
}
