//! `mcp-runtime policy …`: render a policy document from manifests, and ask it for a decision
//! (files only, no network); replay recorded calls against proposed grants on the platform.

use clap::Subcommand;

use crate::cli::Ctx;
use crate::error::CliError;

mod check;
mod render;
mod replay;

/// Policy document commands.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Render the gateway policy (policy.json) of a server from its manifests
    Render(render::Args),
    /// Decide one tool call against a policy document, as the gateway would
    Check(check::Args),
    /// Replay a server's recorded calls under proposed grants on the platform, and report what
    /// would change
    #[command(after_help = "Example:\n  mcp-runtime policy replay --server github --since 24h -f grant.yaml")]
    Replay(replay::Args),
}

impl PolicyCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            PolicyCommand::Render(args) => render::run(args, ctx),
            PolicyCommand::Check(args) => check::run(args, ctx),
            PolicyCommand::Replay(args) => replay::run(args, ctx),
        }
    }
}
