//! `policy replay`: re-judge the calls recorded in a window under proposed grants (and
//! sessions), on the platform, and print what would change.

use std::path::PathBuf;

use jiff::SignedDuration;
use mcp_platform_client::ReplayRequest;

use crate::access::remote::load;
use crate::args::parse_duration;
use crate::cli::Ctx;
use crate::error::CliError;
use crate::platform::{OutputArgs, Platform, Table, print};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The server whose recorded calls are replayed
    #[arg(long, value_name = "NAME")]
    server: String,
    /// Team owning the server (default: your only team)
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// Proposed MCPAccessGrant manifests, applied over the server's current grants
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Proposed MCPAgentSession manifests, applied over the server's current sessions
    #[arg(long, value_name = "FILE")]
    sessions_file: Option<PathBuf>,
    /// The window: calls of the last DURATION (e.g. 1h, 24h, 7d)
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    since: SignedDuration,
    /// Scan at most this many events (1-100000)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_events: Option<u32>,
    /// Return at most this many changed calls as samples (0-100)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100))]
    samples: Option<u32>,
    #[command(flatten)]
    output: OutputArgs,
}

pub(crate) fn run(args: Args, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    if args.file.is_none() && args.sessions_file.is_none() {
        return Err(CliError::InvalidArgument {
            flag: "--file",
            value: String::new(),
            reason: "give the proposed grants (-f FILE) or sessions (--sessions-file FILE)".into(),
        });
    }
    // Every file is checked before anything is sent.
    let mut grants = None;
    if let Some(file) = &args.file {
        let m = load(ctx, file)?;
        if m.grants.is_empty() {
            return Err(CliError::BadManifest {
                file: file.clone(),
                line: None,
                field: "kind".into(),
                message: "the file holds no MCPAccessGrant".into(),
            });
        }
        grants = Some(crate::fsio::read(&ctx.path(file), file)?);
    }
    let mut sessions = None;
    if let Some(file) = &args.sessions_file {
        let m = load(ctx, file)?;
        if m.sessions.is_empty() {
            return Err(CliError::BadManifest {
                file: file.clone(),
                line: None,
                field: "kind".into(),
                message: "the file holds no MCPAgentSession".into(),
            });
        }
        sessions = Some(crate::fsio::read(&ctx.path(file), file)?);
    }
    let since = ctx.now.checked_sub(args.since).map_err(|e| CliError::InvalidArgument {
        flag: "--since",
        value: args.since.to_string(),
        reason: e.to_string(),
    })?;
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.as_deref())?;
    let req = ReplayRequest {
        team,
        server: args.server.clone(),
        since: Some(since.to_string()),
        until: Some(ctx.now.to_string()),
        grants,
        sessions,
        max_events: args.max_events,
        samples: args.samples,
        ..ReplayRequest::default()
    };
    let report = platform.run(platform.client.replay(&req))?;
    print(ctx, args.output.format, &report, || {
        let mut t = Table::new(&["SCANNED", "EVALUATED", "UNCHANGED", "ALLOW→DENY", "DENY→ALLOW", "STOPPED"]);
        t.row(vec![
            report.scanned.to_string(),
            report.evaluated.to_string(),
            report.unchanged.to_string(),
            report.changed.allow_to_deny.to_string(),
            report.changed.deny_to_allow.to_string(),
            report.stopped.clone().unwrap_or_else(|| "-".into()),
        ]);
        t
    })
}
