//! The command tree and its dispatcher.
//!
//! Adding a command group: write a module with a `#[derive(Subcommand)]` enum whose
//! `run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError>` dispatches to one module per
//! subcommand, add a variant to [`Command`] and an arm to [`Command::run`].

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use jiff::Timestamp;

use crate::error::CliError;
use crate::platform::Env;
use crate::{access, agent, analytics, auth, catalog, cluster, completion, policy, registry, server, team};

/// `--version`: version, git commit and build date (set by build.rs).
pub(crate) const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MCP_RUNTIME_COMMIT"),
    ", built ",
    env!("MCP_RUNTIME_BUILD_DATE"),
    ")"
);

/// Publish, govern and observe MCP servers
#[derive(Debug, Parser)]
#[command(name = "mcp-runtime", version = VERSION)]
#[command(about = "Publish, govern and observe MCP servers")]
#[command(after_help = "Run 'mcp-runtime <COMMAND> --help' for the options of a command.\n\
Platform commands use the profile saved by `auth login`; MCP_PLATFORM_API_URL, \
MCP_PLATFORM_API_PROFILE and MCP_PLATFORM_API_TOKEN override it, and MCP_RUNTIME_CONFIG_DIR \
moves the configuration (default ~/.mcpruntime).")]
pub struct Cli {
    /// Saved sign-in to use (default: MCP_PLATFORM_API_PROFILE, then the current profile)
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// Print the full error (with its causes) when a command fails
    #[arg(long, global = true)]
    pub(crate) debug: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The top-level command groups.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Sign in to a platform and manage saved sign-ins
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    /// Scaffold, validate and generate server metadata; deploy and inspect servers
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Push images to the platform's registry; registry credentials for docker and skopeo
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Write, apply and manage access grants and agent sessions
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// Render and check gateway policies; replay recorded calls against a change
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// List and create teams, manage their members
    #[command(subcommand)]
    Team(team::TeamCommand),
    /// Register and manage a team's agents
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Search the tools of the servers you can see
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Read recorded tool calls and usage
    #[command(subcommand)]
    Analytics(analytics::AnalyticsCommand),
    /// Agent adapters: any MCP client through a governed route (stdio shim, local HTTP proxy)
    #[command(subcommand)]
    Adapter(crate::adapter::AdapterCommand),
    /// Install the platform into a Kubernetes cluster (server-side apply of a deploy/ overlay)
    Setup(cluster::SetupArgs),
    /// Check the platform and the cluster: named checks with a fix hint each
    Doctor(cluster::DoctorArgs),
    /// Run the whole platform on this machine: dashboard, API, governed servers, analytics
    Dev(crate::dev::DevArgs),
    /// Print a shell completion script
    Completion(completion::Args),
}

impl Command {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            Command::Auth(cmd) => cmd.run(ctx),
            Command::Server(cmd) => cmd.run(ctx),
            Command::Registry(cmd) => cmd.run(ctx),
            Command::Access(cmd) => cmd.run(ctx),
            Command::Policy(cmd) => cmd.run(ctx),
            Command::Team(cmd) => cmd.run(ctx),
            Command::Agent(cmd) => cmd.run(ctx),
            Command::Catalog(cmd) => cmd.run(ctx),
            Command::Analytics(cmd) => cmd.run(ctx),
            Command::Adapter(cmd) => cmd.run(ctx),
            Command::Setup(args) => cluster::setup(args, ctx),
            Command::Doctor(args) => cluster::doctor(args, ctx),
            Command::Dev(args) => crate::dev::run(args, ctx),
            Command::Completion(args) => completion::run(args, ctx),
        }
    }
}

/// What a command may touch: its output streams, the working directory (relative paths are
/// resolved against it; the process's own working directory is never read or changed) and
/// the current time.
pub(crate) struct Ctx<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub cwd: &'a Path,
    pub now: Timestamp,
    /// The environment variables of the platform commands.
    pub env: Env,
    /// `--profile`.
    pub profile: Option<String>,
}

impl Ctx<'_> {
    /// `path` resolved against the working directory.
    pub(crate) fn path(&self, path: &Path) -> PathBuf {
        self.cwd.join(path)
    }
}
