//! `mcp-runtime server …`: local metadata commands (files only, no network).

use clap::Subcommand;

use crate::cli::Ctx;
use crate::error::CliError;

mod generate;
mod init;
mod validate;

/// Server metadata commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ServerCommand {
    /// Create or update a server's metadata in .mcp/servers.yaml
    Init(init::Args),
    /// Check server metadata, grant and session files
    Validate(validate::Args),
    /// Write one MCPServer manifest per server in the metadata
    Generate(generate::Args),
}

impl ServerCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            ServerCommand::Init(args) => init::run(args, ctx),
            ServerCommand::Validate(args) => validate::run(args, ctx),
            ServerCommand::Generate(args) => generate::run(args, ctx),
        }
    }
}
