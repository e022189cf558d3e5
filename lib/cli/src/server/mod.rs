//! `mcp-runtime server …`: local metadata commands (files only, no network) and the servers
//! on the platform (`deploy`, `list`, `get`, `status`, `delete`, `policy`, `connect-config`).

use clap::Subcommand;

use crate::cli::Ctx;
use crate::error::CliError;

mod build;
pub(crate) use build::default_archive;
mod generate;
pub(crate) mod init;
pub(crate) mod remote;
mod validate;

/// Server commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ServerCommand {
    /// Create or update a server's metadata in .mcp/servers.yaml
    Init(init::Args),
    /// Check server metadata, grant and session files
    Validate(validate::Args),
    /// Write one MCPServer manifest per server in the metadata
    Generate(generate::Args),
    /// Build a server's OCI image: daemonless from a binary or directory, or from a Dockerfile
    #[command(after_help = "Examples:\n  mcp-runtime server build ledger --binary target/release/ledger\n  \
mcp-runtime server build ledger --dir dist/ --entrypoint /app/ledger --arg --listen --arg 0.0.0.0:8088\n  \
mcp-runtime server build ledger --dockerfile Dockerfile --context .\n\n\
The image archive goes to .mcp/build/<NAME>.oci.tar and the metadata's image becomes <NAME>:<TAG>;\n\
`mcp-runtime registry push <NAME>` uploads it and pins the metadata to the pushed digest.")]
    Build(build::Args),
    /// Deploy servers from the metadata to the platform (as `generate` builds them)
    #[command(after_help = "Examples:\n  mcp-runtime server deploy --team payments\n  \
mcp-runtime server deploy github --update --metadata-file .mcp/servers.yaml")]
    Deploy(remote::DeployArgs),
    /// List the servers you can see on the platform
    #[command(after_help = "Example:\n  mcp-runtime server list --team payments -o json")]
    List(remote::ListArgs),
    /// Show one server on the platform
    #[command(after_help = "Example:\n  mcp-runtime server get github --team payments -o yaml")]
    Get(remote::GetArgs),
    /// Show a server's phase, URL, policy revision and conditions
    #[command(after_help = "Example:\n  mcp-runtime server status github")]
    Status(remote::GetArgs),
    /// Delete a server from the platform
    #[command(after_help = "Example:\n  mcp-runtime server delete github --team payments")]
    Delete(remote::DeleteArgs),
    /// Show the gateway policy the platform renders for a server
    #[command(after_help = "Example:\n  mcp-runtime server policy github -o json")]
    Policy(remote::GetArgs),
    /// Print the configuration connecting an MCP client to a server through the adapter
    #[command(
        after_help = "Example:\n  mcp-runtime server connect-config github --client claude --agent agt_01j…"
    )]
    ConnectConfig(remote::ConnectArgs),
}

impl ServerCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            ServerCommand::Init(args) => init::run(args, ctx),
            ServerCommand::Validate(args) => validate::run(args, ctx),
            ServerCommand::Generate(args) => generate::run(args, ctx),
            ServerCommand::Build(args) => build::run(args, ctx),
            ServerCommand::Deploy(args) => remote::deploy(args, ctx),
            ServerCommand::List(args) => remote::list(args, ctx),
            ServerCommand::Get(args) => remote::get(args, ctx),
            ServerCommand::Status(args) => remote::status(args, ctx),
            ServerCommand::Delete(args) => remote::delete(args, ctx),
            ServerCommand::Policy(args) => remote::policy(args, ctx),
            ServerCommand::ConnectConfig(args) => remote::connect_config(args, ctx),
        }
    }
}
