//! `cargo xtask images`: OCI images of the product's binaries, running as a non-root user,
//! tagged with the git revision.
//!
//! By default the images are assembled without a container daemon ([`crate::oci`]): a base
//! layer from the Debian packages pinned in `deploy/images/base.lock`, the release binary built
//! as `cargo xtask dist` builds it, one OCI image layout archive per image in
//! `<artifacts>/oci/<image>.tar` (same commit, same digest). `--check` inspects every archive
//! with skopeo and umoci and runs each binary inside its unpacked root file system (chroot);
//! `--push` copies them to `--registry` with skopeo. `--docker` keeps the Dockerfile path on
//! distroless `cc` through a Docker daemon.
//!
//! Every external command of the Docker path is planned first as a list (`--dry-run` prints it,
//! tests assert it), then run through `duct` with its output captured to the artifacts directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::util::project_root;

/// The base every image starts from.
pub const BASE_IMAGE: &str = "gcr.io/distroless/cc-debian12:nonroot";

/// Image name, cargo package, binary.
pub const IMAGES: &[(&str, &str, &str)] = &[
    ("mcp-gateway", "mcp-gateway-bin", "mcp-gateway"),
    ("mcp-operator", "mcp-operator-bin", "mcp-operator"),
    ("mcp-sentinel", "mcp-sentinel-bin", "mcp-sentinel"),
    ("mcp-example-server", "mcp-example-server", "mcp-example-server"),
    ("mcp-platform", "mcp-platform-bin", "mcp-platform"),
];

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Print the commands instead of running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Registry (and path) the images are named under.
    #[arg(long, value_name = "HOST[/PATH]", default_value = "localhost:5001/mcp-runtime")]
    pub registry: String,
    /// Image tag [default: the short git revision, `-dirty` when the tree has changes].
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Push every image after building it.
    #[arg(long)]
    pub push: bool,
    /// Where image archives, Dockerfiles and command logs go.
    #[arg(long, value_name = "DIR", default_value = "target/images")]
    pub artifacts: PathBuf,
    /// Build through a Docker daemon from Dockerfiles on distroless `cc` (the old path).
    #[arg(long)]
    pub docker: bool,
    /// Download the current candidates of the base packages and rewrite deploy/images/base.lock.
    #[arg(long)]
    pub update_lock: bool,
    /// Use the binaries in this directory instead of building them.
    #[arg(long, value_name = "DIR")]
    pub binaries: Option<PathBuf>,
    /// Only these images (comma-separated) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "IMAGE,...")]
    pub only: Vec<String>,
    /// Inspect every archive with skopeo and umoci and run its binary in a chroot.
    #[arg(long)]
    pub check: bool,
    /// Only the cheap check `cargo xtask ci` runs: archive and image of one binary, made twice.
    #[arg(long)]
    pub reproducible: bool,
}

/// One planned external command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Short name for logs.
    pub label: String,
    /// Text fed to its standard input.
    pub stdin: Option<String>,
    /// A failure is expected when the thing already exists (the step makes sure it does).
    pub may_fail: bool,
}

impl Step {
    pub fn new(label: impl Into<String>, argv: &[&str]) -> Step {
        Step {
            label: label.into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            stdin: None,
            may_fail: false,
        }
    }

    /// With this standard input.
    pub fn stdin(mut self, text: impl Into<String>) -> Step {
        self.stdin = Some(text.into());
        self
    }

    /// Allowed to fail (idempotent "create if missing" steps).
    pub fn may_fail(mut self) -> Step {
        self.may_fail = true;
        self
    }

    /// The command as a shell would show it.
    pub fn shown(&self) -> String {
        let mut text = self
            .argv
            .iter()
            .map(|a| {
                if a.is_empty() || a.contains([' ', '\'', '"', '{', '}', '|', '>', '<']) {
                    format!("'{}'", a.replace('\'', "'\\''"))
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        if self.stdin.is_some() {
            text.push_str(" <<stdin");
        }
        if self.may_fail {
            text.push_str("  # may fail: already there");
        }
        text
    }
}

/// Runs (or prints) steps in order; each command's output goes to `<artifacts>/<n>-<label>.log`.
pub fn execute(steps: &[Step], dry_run: bool, artifacts: &Path) -> Result<()> {
    if dry_run {
        for step in steps {
            println!("{}", step.shown());
            if let Some(input) = &step.stdin {
                for line in input.lines() {
                    println!("    | {line}");
                }
            }
        }
        return Ok(());
    }
    std::fs::create_dir_all(artifacts)?;
    for (i, step) in steps.iter().enumerate() {
        let log = artifacts.join(format!("{:02}-{}.log", i + 1, step.label));
        eprintln!("==> {}  (log: {})", step.shown(), log.display());
        let mut expr = duct::cmd(&step.argv[0], &step.argv[1..]).dir(project_root());
        if let Some(input) = &step.stdin {
            expr = expr.stdin_bytes(input.clone());
        }
        let out = expr
            .stderr_to_stdout()
            .stdout_path(&log)
            .unchecked()
            .run()
            .with_context(|| format!("start {}", step.argv[0]))?;
        if !out.status.success() && step.may_fail {
            eprintln!("    (exit {}: already there)", out.status);
        } else if !out.status.success() {
            let tail: String = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            bail!("{} failed ({}); last lines of {}:\n{tail}", step.shown(), out.status, log.display());
        }
    }
    Ok(())
}

/// The Dockerfile of one image (its build context holds only the binary).
pub fn dockerfile(binary: &str) -> String {
    format!(
        "# Generated by `cargo xtask images`.\nFROM {BASE_IMAGE}\nCOPY {binary} /usr/local/bin/{binary}\n\
         USER 65532:65532\nENTRYPOINT [\"/usr/local/bin/{binary}\"]\n"
    )
}

/// The full reference of an image.
pub fn reference(registry: &str, image: &str, tag: &str) -> String {
    format!("{}/{image}:{tag}", registry.trim_end_matches('/'))
}

/// The build (and push) plan. `release` is the directory of the release binaries, `contexts`
/// where each image's build context is staged.
pub fn plan(registry: &str, tag: &str, push: bool, release: &Path, contexts: &Path) -> Vec<Step> {
    let mut argv = vec!["cargo", "build", "--release", "--locked"];
    for (_, package, _) in IMAGES {
        argv.extend(["-p", package]);
    }
    let mut steps = vec![Step::new("cargo-build", &argv)];
    for (image, _, binary) in IMAGES {
        let context = contexts.join(image);
        let (context, bin, dest) =
            (context.display().to_string(), release.join(binary).display().to_string(), context.join(binary));
        let dest = dest.display().to_string();
        let dockerfile = format!("{context}/Dockerfile");
        let reference = reference(registry, image, tag);
        steps.push(Step::new(format!("stage-{image}"), &["install", "-D", "-m", "0755", &bin, &dest]));
        steps.push(Step::new(
            format!("build-{image}"),
            &["docker", "build", "--pull", "-f", &dockerfile, "-t", &reference, &context],
        ));
        if push {
            steps.push(Step::new(format!("push-{image}"), &["docker", "push", &reference]));
        }
    }
    steps
}

/// The default tag: the short git revision, with `-dirty` for uncommitted changes.
pub fn git_tag() -> Result<String> {
    let root = project_root();
    let rev =
        duct::cmd!("git", "rev-parse", "--short=12", "HEAD").dir(&root).read().context("git rev-parse")?;
    let dirty =
        !duct::cmd!("git", "status", "--porcelain").dir(&root).read().unwrap_or_default().trim().is_empty();
    Ok(if dirty { format!("{rev}-dirty") } else { rev })
}

pub fn run(args: &Args) -> Result<()> {
    let root = project_root();
    if args.reproducible {
        return crate::oci::ci_check();
    }
    if args.update_lock {
        let locked = crate::oci::update_lock(&root)?;
        for p in locked {
            println!("{} {} {} {}", p.name, p.version, p.arch, p.sha256);
        }
        return Ok(());
    }
    let tag = match &args.tag {
        Some(tag) => tag.clone(),
        None => git_tag()?,
    };
    if !args.docker {
        return crate::oci::build_images(args, &tag);
    }
    let artifacts = root.join(&args.artifacts);
    let contexts = artifacts.join("contexts");
    let release = crate::util::target_dir()?.join("release");
    if !args.dry_run {
        for (image, _, binary) in IMAGES {
            let dir = contexts.join(image);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("Dockerfile"), dockerfile(binary))?;
        }
    } else {
        for (image, _, binary) in IMAGES {
            println!("# {}/{image}/Dockerfile:", contexts.display());
            for line in dockerfile(binary).lines() {
                println!("#   {line}");
            }
        }
    }
    execute(
        &plan(&args.registry, &tag, args.push, &release, &contexts),
        args.dry_run,
        &artifacts.join("logs"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_builds_every_binary_once_then_one_image_each() {
        let steps =
            plan("localhost:5001/mcp-runtime", "abc123", true, Path::new("/t/release"), Path::new("/a/ctx"));
        let shown: Vec<String> = steps.iter().map(Step::shown).collect();
        assert_eq!(
            shown[0],
            "cargo build --release --locked -p mcp-gateway-bin -p mcp-operator-bin -p mcp-sentinel-bin -p mcp-example-server -p mcp-platform-bin"
        );
        assert_eq!(shown[1], "install -D -m 0755 /t/release/mcp-gateway /a/ctx/mcp-gateway/mcp-gateway");
        assert_eq!(
            shown[2],
            "docker build --pull -f /a/ctx/mcp-gateway/Dockerfile -t localhost:5001/mcp-runtime/mcp-gateway:abc123 /a/ctx/mcp-gateway"
        );
        assert_eq!(shown[3], "docker push localhost:5001/mcp-runtime/mcp-gateway:abc123");
        assert_eq!(steps.len(), 1 + 3 * IMAGES.len());
        for (image, _, _) in IMAGES {
            assert!(
                shown
                    .iter()
                    .any(|s| s.starts_with("docker build") && s.contains(&format!("/{image}:abc123")))
            );
        }
        let no_push = plan("r", "t", false, Path::new("/r"), Path::new("/c"));
        assert!(no_push.iter().all(|s| s.argv[0] != "docker" || s.argv[1] != "push"));
    }

    #[test]
    fn images_are_minimal_and_run_as_non_root() {
        let text = dockerfile("mcp-gateway");
        assert!(text.contains("FROM gcr.io/distroless/cc-debian12:nonroot"));
        assert!(text.contains("USER 65532:65532"));
        assert!(text.contains("ENTRYPOINT [\"/usr/local/bin/mcp-gateway\"]"));
    }
}
