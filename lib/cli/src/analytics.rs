//! `mcp-runtime analytics …`: recorded tool calls (`events`, `tail`) and usage rollups.

use std::collections::HashSet;
use std::time::Duration;

use clap::Subcommand;
use jiff::SignedDuration;
use serde_json::Value;

use crate::args::parse_duration;
use crate::cli::Ctx;
use crate::error::CliError;
use crate::platform::{Format, OutputArgs, Platform, Table, cell, field, print};

/// Analytics commands.
#[derive(Debug, Subcommand)]
pub(crate) enum AnalyticsCommand {
    /// List recorded events, newest first (administrators: all; with --team: that team's)
    #[command(
        after_help = "Examples:\n  mcp-runtime analytics events --team payments --decision deny --since 1h\n  \
mcp-runtime analytics events --server github --limit 20 -o json"
    )]
    Events(EventsArgs),
    /// Usage rollup per server and tool
    #[command(after_help = "Example:\n  mcp-runtime analytics usage --team payments --window-days 7 -o json")]
    Usage(UsageArgs),
    /// Follow new events as they are recorded, until Ctrl-C
    #[command(after_help = "Example:\n  mcp-runtime analytics tail --team payments --decision deny")]
    Tail(TailArgs),
}

impl AnalyticsCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            AnalyticsCommand::Events(args) => events(args, ctx),
            AnalyticsCommand::Usage(args) => usage(args, ctx),
            AnalyticsCommand::Tail(args) => tail(args, ctx),
        }
    }
}

/// Event filters (the API's query parameters).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct EventFilters {
    /// A team's events (required unless you are an administrator)
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// Only this server
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// Only allow or deny decisions
    #[arg(long, value_parser = ["allow", "deny"])]
    decision: Option<String>,
    /// Only this tool
    #[arg(long, value_name = "NAME")]
    tool: Option<String>,
    /// Only this agent
    #[arg(long, value_name = "ID")]
    agent: Option<String>,
    /// Only this deny reason
    #[arg(long, value_name = "CODE")]
    reason: Option<String>,
    /// Only events of the last DURATION (e.g. 30m, 24h, 7d)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    since: Option<SignedDuration>,
}

impl EventFilters {
    fn pairs(&self, now: jiff::Timestamp) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        let mut push = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        };
        push("server", &self.server);
        push("decision", &self.decision);
        push("tool_name", &self.tool);
        push("agent_id", &self.agent);
        push("reason", &self.reason);
        if let Some(d) = self.since
            && let Ok(at) = now.checked_sub(d)
        {
            q.push(("since", at.to_string()));
        }
        q
    }
}

const HEADER: &[&str] = &["TIME", "DECISION", "SERVER", "TOOL", "AGENT", "REASON"];

fn row(e: &Value) -> Vec<String> {
    let tool = field(e, "tool_name");
    vec![
        field(e, "timestamp"),
        cell(field(e, "decision")),
        cell(field(e, "server")),
        cell(if tool.is_empty() { field(e, "rpc_method") } else { tool }),
        cell(field(e, "agent_id")),
        cell(field(e, "reason")),
    ]
}

#[derive(Debug, clap::Args)]
pub(crate) struct EventsArgs {
    #[command(flatten)]
    filters: EventFilters,
    /// At most this many events (1-1000)
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    #[command(flatten)]
    output: OutputArgs,
}

fn events(args: EventsArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let mut q = args.filters.pairs(ctx.now);
    q.push(("limit", args.limit.to_string()));
    let page = platform.run(platform.client.events(args.filters.team.as_deref(), &q))?;
    print(ctx, args.output.format, &page, || {
        let mut t = Table::new(HEADER);
        page.events.iter().for_each(|e| t.row(row(e)));
        t
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct UsageArgs {
    /// A team's usage (required unless you are an administrator)
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// Only this server
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// Days back from now (1-365, default 30)
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=365))]
    window_days: Option<u32>,
    #[command(flatten)]
    output: OutputArgs,
}

fn usage(args: UsageArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let mut q = Vec::new();
    if let Some(s) = &args.server {
        q.push(("server", s.clone()));
    }
    if let Some(d) = args.window_days {
        q.push(("window_days", d.to_string()));
    }
    let usage = platform.run(platform.client.usage(args.team.as_deref(), &q))?;
    print(ctx, args.output.format, &usage, || {
        // `tools`: one row per server, tool and caller; `totals` last.
        let mut t = Table::new(&["SERVER", "TOOL", "AGENT", "CALLS", "ALLOWED", "DENIED"]);
        for r in usage["tools"].as_array().into_iter().flatten() {
            t.row(vec![
                cell(field(r, "server")),
                cell(field(r, "tool_name")),
                cell(field(r, "agent_id")),
                cell(field(r, "events")),
                cell(field(r, "allowed")),
                cell(field(r, "denied")),
            ]);
        }
        let totals = &usage["totals"];
        t.row(vec![
            "TOTAL".into(),
            "-".into(),
            "-".into(),
            cell(field(totals, "events")),
            cell(field(totals, "allowed")),
            cell(field(totals, "denied")),
        ]);
        t
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct TailArgs {
    #[command(flatten)]
    filters: EventFilters,
    /// Print at most this many of the existing events first (0: only new ones)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=1000))]
    limit: u32,
    /// Seconds between polls
    #[arg(long, value_name = "SECONDS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
    /// Output format (table prints one line per event; json and yaml one object per event)
    #[command(flatten)]
    output: OutputArgs,
}

fn key(e: &Value) -> String {
    match e.get("event_id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => e.to_string(),
    }
}

fn tail(args: TailArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = args.filters.team.clone();
    let base = args.filters.pairs(ctx.now);
    let mut seen: HashSet<String> = HashSet::new();
    let mut since: Option<String> = None;
    let mut first = true;
    let format = args.output.format;
    if format == Format::Table {
        writeln!(ctx.out, "{}", Table::new(HEADER).render().trim_end())?;
    }
    loop {
        let mut q = base.clone();
        if let Some(s) = &since {
            q.retain(|(k, _)| *k != "since");
            q.push(("since", s.clone()));
        }
        let limit = if first { args.limit.max(1) } else { 1000 };
        q.push(("limit", limit.to_string()));
        let page = platform.run(platform.client.events(team.as_deref(), &q))?;
        // Newest first from the API; print oldest first.
        let mut fresh: Vec<&Value> = page.events.iter().filter(|e| !seen.contains(&key(e))).collect();
        fresh.reverse();
        if first && args.limit == 0 {
            fresh.clear();
        }
        for e in fresh {
            let line = match format {
                Format::Table => {
                    let mut t = Table::new(HEADER);
                    t.row(row(e));
                    t.render().lines().nth(1).unwrap_or_default().to_string()
                }
                Format::Json => serde_json::to_string(e).unwrap_or_default(),
                Format::Yaml => format!("---\n{}", serde_saphyr::to_string(e).unwrap_or_default().trim_end()),
            };
            writeln!(ctx.out, "{line}")?;
        }
        ctx.out.flush()?;
        for e in &page.events {
            seen.insert(key(e));
            let ts = field(e, "timestamp");
            if ts.parse::<jiff::Timestamp>().is_ok() && since.as_deref().is_none_or(|s| ts.as_str() > s) {
                since = Some(ts);
            }
        }
        first = false;
        // Until Ctrl-C: the wait between polls is where the signal is taken.
        let interrupted = platform.rt.block_on(async {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(args.interval)) => false,
                _ = tokio::signal::ctrl_c() => true,
            }
        });
        if interrupted {
            return Ok(());
        }
    }
}
