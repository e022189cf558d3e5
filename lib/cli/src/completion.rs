//! `mcp-runtime completion bash|zsh|fish`: the shell completion script, from the command tree.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, Ctx};
use crate::error::CliError;

/// The shells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ShellArg {
    /// Bash (source it, or put it in /etc/bash_completion.d/)
    Bash,
    /// Zsh (put it on $fpath as _mcp-runtime)
    Zsh,
    /// Fish (put it in ~/.config/fish/completions/)
    Fish,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  mcp-runtime completion bash > /etc/bash_completion.d/mcp-runtime\n  \
mcp-runtime completion zsh > \"${fpath[1]}/_mcp-runtime\"")]
pub(crate) struct Args {
    /// The shell
    #[arg(value_enum)]
    shell: ShellArg,
}

pub(crate) fn run(args: Args, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let shell = match args.shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mcp-runtime", &mut buf);
    ctx.out.write_all(&buf)?;
    Ok(())
}
