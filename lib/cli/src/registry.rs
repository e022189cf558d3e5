//! `mcp-runtime registry …`: the platform's container registry.
//!
//! - `push NAME`: uploads an image archive (`server build`'s, or any OCI layout or `docker
//!   save` tar) to the platform, which pushes it under the team's path and answers the digest;
//!   the server's metadata is then pinned to `<host>/<team>/<NAME>@sha256:…` so `server deploy`
//!   runs exactly that image.
//! - `info`: the repositories and tags of your teams; `status`: the registry host, how many
//!   repositories your teams have, and your registry credentials.
//! - `credential create|list|revoke`: one-time `mcpr_…` values for `docker login` / `skopeo
//!   login` to the registry (pull and push under your teams' paths, per your role).

use std::path::PathBuf;

use clap::Subcommand;
use mcp_platform_client::CreateRegistryCredential;

use crate::cli::Ctx;
use crate::error::CliError;
use crate::platform::{Format, OutputArgs, Platform, Table, cell, print, unix};

/// Registry commands.
#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCommand {
    /// Upload a server's image archive; the platform pushes it under your team's path
    #[command(after_help = "Examples:\n  mcp-runtime registry push ledger --team payments\n  \
mcp-runtime registry push ledger --image build/ledger.tar --tag 1.2.0\n\n\
The archive is an OCI image layout tar (`server build`, `skopeo copy … oci-archive:`) or a \
`docker save` tar.\nAfterwards the server's image in the metadata is the pushed digest: \
`mcp-runtime server deploy ledger` runs exactly that image.")]
    Push(PushArgs),
    /// The repositories and tags of your teams in the platform's registry
    #[command(after_help = "Example:\n  mcp-runtime registry info --team payments -o json")]
    Info(InfoArgs),
    /// The registry host, your teams' repositories and your registry credentials, in short
    #[command(after_help = "Example:\n  mcp-runtime registry status")]
    Status(InfoArgs),
    /// Registry credentials for docker or skopeo login
    #[command(subcommand)]
    Credential(CredentialCommand),
}

/// `registry credential …`.
#[derive(Debug, Subcommand)]
pub(crate) enum CredentialCommand {
    /// Create a credential; its value is printed this once
    #[command(after_help = "Example:\n  mcp-runtime registry credential create laptop\n  \
then: skopeo login <registry host> -u <your email> -p <value>")]
    Create(CreateArgs),
    /// List your credentials (never their values)
    List(OutputArgs),
    /// Revoke a credential: it stops working at once
    #[command(after_help = "Example:\n  mcp-runtime registry credential revoke 0194f3c2-…")]
    Revoke(RevokeArgs),
}

impl RegistryCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            RegistryCommand::Push(args) => push(args, ctx),
            RegistryCommand::Info(args) => info(args, ctx),
            RegistryCommand::Status(args) => status(args, ctx),
            RegistryCommand::Credential(CredentialCommand::Create(args)) => create(args, ctx),
            RegistryCommand::Credential(CredentialCommand::List(args)) => list(args, ctx),
            RegistryCommand::Credential(CredentialCommand::Revoke(args)) => revoke(args, ctx),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct PushArgs {
    /// Server (and repository) name
    #[arg(value_name = "NAME")]
    name: String,
    /// The image archive [default: <metadata dir>/build/<NAME>.oci.tar, as `server build` writes it]
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    /// Tag [default: the tag the archive names, else latest]
    #[arg(long, value_name = "TAG")]
    tag: Option<String>,
    /// Team whose repository receives the image (default: your only team)
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// Directory holding the metadata files
    #[arg(long, value_name = "DIR", default_value = ".mcp")]
    metadata_dir: PathBuf,
    /// Do not pin the server's image in the metadata to the pushed digest
    #[arg(long)]
    no_metadata: bool,
    #[command(flatten)]
    output: OutputArgs,
}

fn push(args: PushArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    crate::names::check_label(&args.name).map_err(|reason| CliError::InvalidArgument {
        flag: "NAME",
        value: args.name.clone(),
        reason,
    })?;
    let file =
        args.image.clone().unwrap_or_else(|| crate::server::default_archive(&args.metadata_dir, &args.name));
    let path = ctx.path(&file);
    let data = std::fs::read(&path).map_err(|e| CliError::Image {
        message: format!(
            "read {}: {e}{}",
            file.display(),
            if args.image.is_none() {
                " (build it with `mcp-runtime server build`, or pass --image)"
            } else {
                ""
            }
        ),
    })?;
    // Checked here first: a broken archive is refused before anything is uploaded.
    let local = mcp_oci::read::read(data.as_slice())
        .map_err(|e| CliError::Image { message: format!("{}: {e}", file.display()) })?;
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.as_deref())?;
    let pushed = platform.run(platform.client.registry_push(
        &team,
        &args.name,
        args.tag.as_deref(),
        bytes::Bytes::from(data),
    ))?;
    if pushed.digest != local.digest {
        return Err(CliError::Image {
            message: format!(
                "the platform reports {} for {}, but the archive's digest is {}",
                pushed.digest, pushed.tagged, local.digest
            ),
        });
    }
    if args.output.format != Format::Table {
        print(ctx, args.output.format, &pushed, Table::default)?;
    } else {
        writeln!(ctx.out, "pushed {} {}", pushed.tagged, pushed.digest)?;
        writeln!(ctx.out, "image {}", pushed.image)?;
    }
    if !args.no_metadata {
        let location = crate::metadata::Location::new(&args.metadata_dir, None);
        if location.exists(ctx) {
            let file = crate::server::init::set_image(ctx, &args.metadata_dir, &args.name, &pushed.image)?;
            if args.output.format == Format::Table {
                writeln!(ctx.out, "pinned server {:?} to {} in {}", args.name, pushed.image, file.display())?;
            }
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct InfoArgs {
    /// Only this team
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

fn info(args: InfoArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let info = platform.run(platform.client.registry_info(args.team.as_deref()))?;
    print(ctx, args.output.format, &info, || {
        let mut t = Table::new(&["TEAM", "REPOSITORY", "TAGS", "IMAGE"]);
        for r in &info.repositories {
            t.row(vec![r.team.clone(), r.repository.clone(), cell(r.tags.join(",")), r.image.clone()]);
        }
        t
    })
}

fn status(args: InfoArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let info = platform.run(platform.client.registry_info(args.team.as_deref()))?;
    let credentials = platform.run(platform.client.registry_credentials())?;
    let active = credentials.items.iter().filter(|c| c.revoked_at.is_none()).count();
    let tags: usize = info.repositories.iter().map(|r| r.tags.len()).sum();
    let summary = serde_json::json!({
        "host": info.host,
        "repositories": info.repositories.len(),
        "tags": tags,
        "credentials": active,
    });
    if args.output.format != Format::Table {
        return print(ctx, args.output.format, &summary, Table::default);
    }
    writeln!(ctx.out, "registry      {}", info.host)?;
    writeln!(ctx.out, "repositories  {} ({tags} tags) in your teams", info.repositories.len())?;
    writeln!(ctx.out, "credentials   {active} active (mcp-runtime registry credential list)")?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// A name for the credential (where it is used)
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    output: OutputArgs,
}

fn create(args: CreateArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let created = platform.run(
        platform.client.create_registry_credential(&CreateRegistryCredential { name: args.name.clone() }),
    )?;
    if args.output.format != Format::Table {
        return print(ctx, args.output.format, &created, Table::default);
    }
    writeln!(ctx.out, "created registry credential {} ({})", created.name, created.id)?;
    writeln!(ctx.out, "username  {}", created.username)?;
    writeln!(ctx.out, "password  {}", created.value)?;
    writeln!(ctx.out, "It is shown this once. Sign in with:")?;
    writeln!(ctx.out, "  skopeo login <registry host> -u {} --password-stdin", created.username)?;
    Ok(())
}

fn list(args: OutputArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let page = platform.run(platform.client.registry_credentials())?;
    print(ctx, args.format, &page, || {
        let mut t = Table::new(&["ID", "NAME", "PREFIX", "CREATED", "LAST USED", "REVOKED"]);
        for c in &page.items {
            t.row(vec![
                c.id.clone(),
                c.name.clone(),
                c.prefix.clone(),
                unix(c.created_at),
                cell(c.last_used_at.map(unix).unwrap_or_default()),
                cell(c.revoked_at.map(unix).unwrap_or_default()),
            ]);
        }
        t
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct RevokeArgs {
    /// The credential's id (`registry credential list`)
    #[arg(value_name = "ID")]
    id: String,
}

fn revoke(args: RevokeArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    platform.run(platform.client.delete_registry_credential(&args.id))?;
    writeln!(ctx.out, "revoked registry credential {}", args.id)?;
    Ok(())
}
