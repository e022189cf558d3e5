//! `mcp-runtime catalog …`: the tools of the servers the caller can see, with the API's
//! filters.

use clap::Subcommand;
use mcp_platform_client::CatalogFilter;
use serde_json::Value;

use crate::cli::Ctx;
use crate::error::CliError;
use crate::platform::{OutputArgs, Platform, Table, cell, field, print};

/// Catalog commands.
#[derive(Debug, Subcommand)]
pub(crate) enum CatalogCommand {
    /// Search tools across servers
    #[command(after_help = "Examples:\n  mcp-runtime catalog tools -q repo --side-effect write\n  \
mcp-runtime catalog tools --drift ungoverned -o json")]
    Tools(ToolsArgs),
    /// Show one tool (every server offering it)
    #[command(after_help = "Example:\n  mcp-runtime catalog tool create_issue --team payments -o yaml")]
    Tool(ToolArgs),
}

impl CatalogCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            CatalogCommand::Tools(args) => tools(args, ctx),
            CatalogCommand::Tool(args) => tool(args, ctx),
        }
    }
}

/// The API's filters.
#[derive(Debug, clap::Args)]
pub(crate) struct Filters {
    /// Case-insensitive text in a tool's name, description, server, team, URL, trust, side
    /// effect, risk, drift or labels
    #[arg(short = 'q', long, value_name = "TEXT")]
    query: Option<String>,
    /// Only this team's servers
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// Only this server
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// Only tools requiring this trust
    #[arg(long, value_parser = ["low", "medium", "high"])]
    trust: Option<String>,
    /// Only tools with this side effect
    #[arg(long, value_name = "SIDE_EFFECT")]
    side_effect: Option<String>,
    /// Only tools with this risk level
    #[arg(long, value_name = "RISK")]
    risk: Option<String>,
    /// Only tools with this drift status
    #[arg(long, value_parser = ["declared", "missing", "ungoverned", "changed"])]
    drift: Option<String>,
}

impl Filters {
    fn filter(self) -> CatalogFilter {
        CatalogFilter {
            query: self.query,
            team: self.team,
            server: self.server,
            trust: self.trust,
            side_effect: self.side_effect,
            risk: self.risk,
            drift: self.drift,
        }
    }
}

const HEADER: &[&str] = &["TOOL", "TEAM", "SERVER", "TRUST", "SIDE EFFECT", "RISK", "DRIFT", "DESCRIPTION"];

fn row(r: &Value) -> Vec<String> {
    let mut description = field(r, "description");
    if description.chars().count() > 60 {
        description = description.chars().take(57).collect::<String>() + "...";
    }
    vec![
        field(r, "tool_name"),
        field(r, "team"),
        field(r, "server"),
        cell(field(r, "required_trust")),
        cell(field(r, "side_effect")),
        cell(field(r, "risk_level")),
        cell(field(r, "drift_status")),
        cell(description),
    ]
}

#[derive(Debug, clap::Args)]
pub(crate) struct ToolsArgs {
    #[command(flatten)]
    filters: Filters,
    #[command(flatten)]
    output: OutputArgs,
}

fn tools(args: ToolsArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let page = platform.run(platform.client.catalog_tools(&args.filters.filter()))?;
    print(ctx, args.output.format, &page, || {
        let mut t = Table::new(HEADER);
        page.items.iter().for_each(|r| t.row(row(r)));
        t
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct ToolArgs {
    /// The tool's name
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    filters: Filters,
    #[command(flatten)]
    output: OutputArgs,
}

fn tool(args: ToolArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let mut filter = args.filters.filter();
    if filter.query.is_none() {
        filter.query = Some(args.name.clone());
    }
    let page = platform.run(platform.client.catalog_tools(&filter))?;
    let rows: Vec<Value> =
        page.items.into_iter().filter(|r| r["tool_name"].as_str() == Some(args.name.as_str())).collect();
    if rows.is_empty() {
        return Err(CliError::NotFound { what: format!("tool {:?} in the catalog", args.name) });
    }
    print(ctx, args.output.format, &rows, || {
        let mut t = Table::new(HEADER);
        rows.iter().for_each(|r| t.row(row(r)));
        t
    })
}
