//! `server build NAME`: an OCI image archive for a server, and its reference in the metadata.
//!
//! Two ways:
//! - **daemonless** (`--binary FILE` or `--dir DIR --entrypoint PATH`): the image is assembled
//!   here with `mcp_oci`, the builder of the product's own images — a base layer from the
//!   Debian packages pinned in the product's lock file (C library, libgcc, zlib, CA
//!   certificates; fetched with `apt-get download` and checked against their sha256, cached in
//!   `--deb-cache`), or no base at all with `--base scratch` (static binaries), then one layer
//!   with the program, run as the non-root user 65532. Nothing about the machine reaches the
//!   image: the same inputs and `SOURCE_DATE_EPOCH` (default 0) give the same digest anywhere.
//! - **from a Dockerfile** (`--dockerfile`): through the container builder this machine has —
//!   `docker`, `podman` or `buildah`, the first found on `PATH` (or `--builder`) — exported
//!   as an archive (`docker save`, or OCI archive for the other two).
//!
//! The archive goes to `--output` (default `<metadata dir>/build/<NAME>.oci.tar`); unless
//! `--no-metadata`, the server's `image` in the metadata becomes `<NAME>:<TAG>` (its `imageTag`
//! removed). `mcp-runtime registry push NAME` uploads the archive and pins the metadata to the
//! digest the registry reports.

use std::path::{Path, PathBuf};
use std::process::Command;

use mcp_oci::archive::{self, Entry, Tree};
use mcp_oci::image::{self, Layer, Meta};

use crate::cli::Ctx;
use crate::error::CliError;
use crate::{fsio, names};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Base {
    /// The pinned Debian base (C library, libgcc, zlib, CA certificates): dynamically linked
    /// programs
    Debian,
    /// No base layer: static programs only
    Scratch,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["binary", "dir", "dockerfile"])))]
pub(crate) struct Args {
    /// Server name (the image's name; the metadata entry to update)
    #[arg(value_name = "NAME")]
    name: String,
    /// Daemonless: this program becomes /usr/local/bin/<NAME>, the image's entrypoint
    #[arg(long, value_name = "FILE")]
    binary: Option<PathBuf>,
    /// Daemonless: this directory is copied to /app (with --entrypoint)
    #[arg(long, value_name = "DIR", requires = "entrypoint")]
    dir: Option<PathBuf>,
    /// The program the image runs, for --dir (an absolute path inside the image, e.g. /app/server)
    #[arg(long, value_name = "PATH")]
    entrypoint: Option<String>,
    /// An argument of the entrypoint (repeatable), e.g. --arg --listen --arg 0.0.0.0:8088
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    args: Vec<String>,
    /// Base of a daemonless image
    #[arg(long, value_enum, default_value = "debian")]
    base: Base,
    /// Where verified Debian packages of the base are kept [default: ~/.cache/mcp-runtime/debs]
    #[arg(long, value_name = "DIR")]
    deb_cache: Option<PathBuf>,
    /// Build from this Dockerfile with docker, podman or buildah
    #[arg(long, value_name = "FILE", conflicts_with_all = ["binary", "dir"])]
    dockerfile: Option<PathBuf>,
    /// Build context of --dockerfile
    #[arg(long, value_name = "DIR", default_value = ".", requires = "dockerfile")]
    context: PathBuf,
    /// Container builder for --dockerfile [default: the first of docker, podman, buildah on PATH]
    #[arg(long, value_name = "PROGRAM", requires = "dockerfile")]
    builder: Option<String>,
    /// Image tag
    #[arg(long, value_name = "TAG", default_value = "latest")]
    tag: String,
    /// Port the server listens on (recorded in the image as exposed)
    #[arg(long, value_name = "PORT", default_value_t = 8088)]
    port: u16,
    /// Where the image archive goes [default: <metadata dir>/build/<NAME>.oci.tar]
    #[arg(long, short = 'O', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Directory holding the metadata files
    #[arg(long, value_name = "DIR", default_value = ".mcp")]
    metadata_dir: PathBuf,
    /// Do not write the image's reference into the metadata
    #[arg(long)]
    no_metadata: bool,
}

fn image_error(message: impl Into<String>) -> CliError {
    CliError::Image { message: message.into() }
}

/// The default archive of `name`.
pub(crate) fn default_archive(metadata_dir: &Path, name: &str) -> PathBuf {
    metadata_dir.join("build").join(format!("{name}.oci.tar"))
}

pub(crate) fn run(args: Args, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    names::check_label(&args.name).map_err(|reason| CliError::InvalidArgument {
        flag: "NAME",
        value: args.name.clone(),
        reason,
    })?;
    if !mcp_oci::read::valid_tag(&args.tag) {
        return Err(CliError::InvalidArgument {
            flag: "--tag",
            value: args.tag.clone(),
            reason: "letters, digits, `_`, `.` and `-`, starting with a letter, digit or `_`; at most 128"
                .into(),
        });
    }
    let output = args.output.clone().unwrap_or_else(|| default_archive(&args.metadata_dir, &args.name));
    let full_output = ctx.path(&output);
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsio::create_dir(&ctx.path(parent), parent)?;
    }
    let digest = match &args.dockerfile {
        Some(dockerfile) => with_builder(&args, dockerfile, &full_output, ctx)?,
        None => daemonless(&args, &full_output, ctx)?,
    };
    writeln!(ctx.out, "built {}:{} {digest}", args.name, args.tag)?;
    writeln!(ctx.out, "wrote {}", output.display())?;
    if !args.no_metadata {
        let reference = format!("{}:{}", args.name, args.tag);
        let file = super::init::set_image(ctx, &args.metadata_dir, &args.name, &reference)?;
        writeln!(ctx.out, "set the image of server {:?} to {reference} in {}", args.name, file.display())?;
    }
    writeln!(ctx.out, "next: mcp-runtime registry push {}", args.name)?;
    Ok(())
}

/// `SOURCE_DATE_EPOCH`, else 0.
fn epoch(ctx: &Ctx<'_>) -> Result<u64, CliError> {
    match ctx.env.source_date_epoch.as_deref() {
        None => Ok(0),
        Some(v) => v.trim().parse().map_err(|_| CliError::InvalidArgument {
            flag: "SOURCE_DATE_EPOCH",
            value: v.to_string(),
            reason: "seconds since 1970 (a whole number)".into(),
        }),
    }
}

fn daemonless(args: &Args, output: &Path, ctx: &Ctx<'_>) -> Result<String, CliError> {
    let epoch = epoch(ctx)?;
    let (app, entrypoint) = match (&args.binary, &args.dir) {
        (Some(binary), _) => {
            let path = ctx.path(binary);
            let data = std::fs::read(&path)
                .map_err(|e| image_error(format!("read --binary {}: {e}", binary.display())))?;
            (image::app_tree(&args.name, &data), format!("/usr/local/bin/{}", args.name))
        }
        (None, Some(dir)) => {
            let entrypoint = args.entrypoint.clone().unwrap_or_default();
            if !entrypoint.starts_with('/') {
                return Err(CliError::InvalidArgument {
                    flag: "--entrypoint",
                    value: entrypoint,
                    reason: "an absolute path inside the image, e.g. /app/server".into(),
                });
            }
            let mut tree = Tree::new();
            archive::add_dir(&mut tree, &ctx.path(dir), "app")
                .map_err(|e| image_error(format!("read --dir {}: {e}", dir.display())))?;
            let inside = entrypoint.trim_start_matches('/');
            if !matches!(tree.get(inside), Some(Entry::File { exec: true, .. })) {
                return Err(CliError::InvalidArgument {
                    flag: "--entrypoint",
                    value: entrypoint.clone(),
                    reason: format!("no executable file there (--dir {} is copied to /app)", dir.display()),
                });
            }
            (tree, entrypoint)
        }
        (None, None) => return Err(image_error("give --binary, --dir or --dockerfile")),
    };
    let app_layer = Layer::new(&archive::tar(&app, epoch).map_err(|e| image_error(e.to_string()))?)
        .map_err(|e| image_error(e.to_string()))?;
    let mut layers = Vec::new();
    let mut history = Vec::new();
    if args.base == Base::Debian {
        let cache = match &args.deb_cache {
            Some(dir) => ctx.path(dir),
            None => ctx
                .env
                .home
                .as_deref()
                .map(|home| PathBuf::from(home).join(".cache/mcp-runtime/debs"))
                .ok_or_else(|| image_error("no HOME for the package cache; pass --deb-cache DIR"))?,
        };
        let (base, _) = image::base_layer(image::LOCK, &cache, epoch).map_err(|e| {
            image_error(format!("the pinned Debian base: {e} (or --base scratch for a static program)"))
        })?;
        layers.push(base);
        history.push(format!("mcp-runtime server build: base layer from {}", image::LOCK_FILE));
    }
    layers.push(app_layer);
    history.push(format!("mcp-runtime server build: {entrypoint}"));
    let reference = format!("{}:{}", args.name, args.tag);
    let mut entry = vec![entrypoint];
    entry.extend(args.args.iter().cloned());
    let revision = git_revision(ctx.cwd);
    let meta = Meta {
        title: &args.name,
        entrypoint: entry,
        reference: &reference,
        source: "",
        revision: &revision,
        epoch,
        ports: vec![format!("{}/tcp", args.port)],
        history,
    };
    let built = image::assemble(&layers, &meta).map_err(|e| image_error(e.to_string()))?;
    let data = archive::tar(&built.layout, epoch).map_err(|e| image_error(e.to_string()))?;
    fsio::write_atomic(output, output, &data)?;
    Ok(built.digest)
}

/// The commit of the working directory's git checkout (`unknown` outside one).
fn git_revision(cwd: &Path) -> String {
    Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(cwd)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The container builders `--dockerfile` can use, in the order they are looked for.
pub(crate) const BUILDERS: &[&str] = &["docker", "podman", "buildah"];

fn on_path(program: &str, path: Option<&str>) -> Option<PathBuf> {
    if program.contains('/') {
        return Path::new(program).is_file().then(|| PathBuf::from(program));
    }
    path?.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(program)).find(|p| p.is_file())
}

fn with_builder(args: &Args, dockerfile: &Path, output: &Path, ctx: &Ctx<'_>) -> Result<String, CliError> {
    let path = ctx.env.path.as_deref();
    let builder = match &args.builder {
        Some(b) => {
            on_path(b, path).ok_or_else(|| image_error(format!("--builder {b}: not found on PATH")))?
        }
        None => BUILDERS.iter().find_map(|b| on_path(b, path)).ok_or_else(|| {
            image_error(format!(
                "no container builder on PATH ({}); build daemonless with --binary FILE or --dir DIR \
                 --entrypoint PATH",
                BUILDERS.join(", ")
            ))
        })?,
    };
    let kind = builder.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let reference = format!("localhost/{}:{}", args.name, args.tag);
    let context = ctx.path(&args.context);
    let dockerfile = ctx.path(dockerfile);
    let run = |argv: &[&str]| -> Result<(), CliError> {
        let status = Command::new(&builder)
            .args(argv)
            .current_dir(ctx.cwd)
            .status()
            .map_err(|e| image_error(format!("run {}: {e}", builder.display())))?;
        if status.success() {
            Ok(())
        } else {
            Err(image_error(format!("{} {} failed ({status})", builder.display(), argv.join(" "))))
        }
    };
    let (dockerfile_s, context_s, output_s) =
        (dockerfile.display().to_string(), context.display().to_string(), output.display().to_string());
    match kind.as_str() {
        "buildah" => {
            run(&["bud", "-f", &dockerfile_s, "-t", &reference, &context_s])?;
            run(&["push", &reference, &format!("oci-archive:{output_s}")])?;
        }
        "podman" => {
            run(&["build", "-f", &dockerfile_s, "-t", &reference, &context_s])?;
            run(&["save", "--format", "oci-archive", "-o", &output_s, &reference])?;
        }
        _ => {
            run(&["build", "-f", &dockerfile_s, "-t", &reference, &context_s])?;
            run(&["save", "-o", &output_s, &reference])?;
        }
    }
    let file = std::fs::File::open(output).map_err(|e| image_error(format!("read {output_s}: {e}")))?;
    let image = mcp_oci::read::read(std::io::BufReader::new(file))
        .map_err(|e| image_error(format!("{output_s}: {e}")))?;
    Ok(image.digest)
}
