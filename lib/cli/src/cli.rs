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
use crate::{access, policy, server};

/// Publish, govern and observe MCP servers
#[derive(Debug, Parser)]
#[command(name = "mcp-runtime", version)]
#[command(about = "Publish, govern and observe MCP servers")]
#[command(after_help = "Run 'mcp-runtime <COMMAND> --help' for the options of a command")]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The top-level command groups.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Scaffold, validate and generate MCP server metadata
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Write access grants and agent sessions
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// Render gateway policies and check decisions against them
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Agent adapters: any MCP client through a governed route (stdio shim, local HTTP proxy)
    #[command(subcommand)]
    Adapter(crate::adapter::AdapterCommand),
}

impl Command {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            Command::Server(cmd) => cmd.run(ctx),
            Command::Access(cmd) => cmd.run(ctx),
            Command::Policy(cmd) => cmd.run(ctx),
            Command::Adapter(cmd) => cmd.run(ctx),
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
}

impl Ctx<'_> {
    /// `path` resolved against the working directory.
    pub(crate) fn path(&self, path: &Path) -> PathBuf {
        self.cwd.join(path)
    }
}
