//! `mcp-runtime adapter stdio|proxy`: the agent adapters of `mcp-adapter`, with the identity
//! the platform issues (`--server`, `--agent`) or a session token given as is.
//!
//! Both run until their input ends (stdio) or SIGINT/SIGTERM (proxy). Diagnostics go to
//! standard error, one line each; standard output belongs to the MCP client (stdio).

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::fd::AsFd as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, Subcommand};
use mcp_adapter::proxy::{self, ProxyOptions};
use mcp_adapter::stdio::{self, StdioOptions};
use mcp_adapter::{
    Identity, IdentitySource, PlatformIssuer, RefreshEvent, RefreshingIdentity, StaticIdentity, Upstream,
    UpstreamOptions,
};

use crate::args::parse_duration;
use crate::cli::Ctx;
use crate::error::CliError;

/// Agent adapters: any MCP client through a governed route
#[derive(Debug, Subcommand)]
pub(crate) enum AdapterCommand {
    /// Newline-delimited JSON-RPC on stdin/stdout to the governed route
    #[command(after_help = "Example (a client's MCP server command):\n  \
        mcp-runtime adapter stdio --platform-url https://platform.example.org \\\n    \
        --server github --agent agt_01jabcdefghjkmnpqrstvwxyz0")]
    Stdio(StdioArgs),
    /// A local Streamable HTTP endpoint forwarding to the governed route
    #[command(after_help = "Example:\n  \
        mcp-runtime adapter proxy --listen 127.0.0.1:8099 --platform-url https://platform.example.org \\\n    \
        --server github --agent agt_01jabcdefghjkmnpqrstvwxyz0\n  \
        (then point the client at http://127.0.0.1:8099/mcp)")]
    Proxy(ProxyArgs),
}

/// Who the adapter is and where the route is.
#[derive(Debug, Args)]
pub(crate) struct IdentityArgs {
    /// The governed server to reach (the platform issues a session for it)
    #[arg(long, value_name = "NAME", required_unless_present = "session_token")]
    server: Option<String>,
    /// The managed agent acting for you (`agt_…`)
    #[arg(long, value_name = "ID", required_unless_present = "session_token")]
    agent: Option<String>,
    /// The team owning the server (default: your only team)
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// Trust to request (`low`, `medium`, `high`; capped by the grant)
    #[arg(long, value_name = "LEVEL")]
    trust: Option<String>,
    /// Session lifetime to request (`30m`, `8h`; the platform caps it)
    #[arg(long, value_name = "DURATION")]
    ttl: Option<String>,
    /// The platform API [default: the signed-in profile's, or MCP_PLATFORM_API_URL]
    #[arg(long, visible_alias = "platform", value_name = "URL")]
    platform_url: Option<String>,
    /// A platform API token or API key for --platform-url [default: MCP_PLATFORM_API_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Present this platform session token as is instead of asking the platform (never refreshed)
    #[arg(long, value_name = "JWT", env = "MCP_RUNTIME_SESSION_TOKEN", hide_env_values = true)]
    session_token: Option<String>,
    /// The route URL [default: the issued session's audience, the server's public MCP URL]
    #[arg(long, value_name = "URL", env = "MCP_RUNTIME_URL")]
    runtime_url: Option<String>,
    /// Send this Host header to the route instead of the URL's
    #[arg(long, value_name = "HOST")]
    host_header: Option<String>,
    /// The longest wait for the route's response headers [default: unbounded]
    #[arg(long, value_name = "DURATION")]
    request_timeout: Option<String>,
}

/// `adapter stdio`.
#[derive(Debug, Args)]
pub(crate) struct StdioArgs {
    #[command(flatten)]
    identity: IdentityArgs,
    /// How long a tools/list answer is reused (`0s`: never); list_changed empties it
    #[arg(long, value_name = "DURATION", env = "MCP_RUNTIME_TOOLS_CACHE_TTL", default_value = "60s")]
    tools_cache_ttl: String,
    /// Do not open the server's GET stream after initialization
    #[arg(long)]
    no_get_stream: bool,
}

/// `adapter proxy`.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    #[command(flatten)]
    identity: IdentityArgs,
    /// Where to listen (loopback unless --allow-remote)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8099")]
    listen: SocketAddr,
    /// Allow a non-loopback --listen and non-loopback Host/Origin (anyone who reaches it acts as you)
    #[arg(long)]
    allow_remote: bool,
    /// Refuse request bodies larger than this (413)
    #[arg(long, value_name = "BYTES", default_value_t = proxy::DEFAULT_MAX_INBOUND_BYTES)]
    max_inbound_bytes: usize,
    /// Close connections whose request headers take longer than this
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    header_read_timeout: String,
    /// How long open streams may drain on SIGINT/SIGTERM
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    shutdown_grace: String,
}

impl AdapterCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        // One event loop: an adapter serves one user, and a call handed between worker threads
        // costs more than it gains (see docs/benchmarks.md, adapter).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed(format!("cannot start the async runtime: {e}")))?;
        let log = stderr_logger(ctx)?;
        match self {
            AdapterCommand::Stdio(args) => {
                let client = platform_client(&args.identity, ctx)?;
                runtime.block_on(run_stdio(args, client, log))
            }
            AdapterCommand::Proxy(args) => {
                let client = platform_client(&args.identity, ctx)?;
                runtime.block_on(run_proxy(args, client, log, ctx))
            }
        }
    }
}

/// The platform login: `--platform-url` with `--token` (or `MCP_PLATFORM_API_TOKEN`), else the
/// signed-in profile (`mcp-runtime auth login`; `MCP_PLATFORM_API_URL`, `MCP_PLATFORM_API_TOKEN`
/// and `MCP_PLATFORM_API_PROFILE` apply). `None` with `--session-token`.
fn platform_client(
    args: &IdentityArgs,
    ctx: &Ctx<'_>,
) -> Result<Option<mcp_platform_client::Client>, CliError> {
    if args.session_token.is_some() {
        return Ok(None);
    }
    let Some(url) = &args.platform_url else {
        return crate::platform::Platform::connect(ctx).map(|p| Some(p.client));
    };
    // A token given for this platform, else the saved credential of the profile in use.
    let credential = match args.token.clone().or_else(|| ctx.env.token.clone()) {
        Some(token) => mcp_platform_client::Credential::Bearer(token),
        None => {
            // The saved login, when it is for this platform (refreshed tokens are saved back).
            let settings = crate::platform::Settings::load(ctx)?;
            let saved =
                settings.current().map(|p| p.api_url.trim_end_matches('/').to_owned()).unwrap_or_default();
            if saved == url.trim_end_matches('/') {
                return crate::platform::Platform::connect(ctx).map(|p| Some(p.client));
            }
            return Err(failed(format!(
                "no platform login for {url}: pass --token, set MCP_PLATFORM_API_TOKEN or run \
                 `mcp-runtime auth login` (profile {} is signed in to {:?})",
                settings.profile, saved
            )));
        }
    };
    mcp_platform_client::Client::new(url, credential).map(Some).map_err(|e| failed(format!("platform: {e}")))
}

fn failed(message: String) -> CliError {
    CliError::Adapter { message }
}

fn duration(flag: &'static str, value: &str) -> Result<Duration, CliError> {
    if matches!(value.trim(), "0" | "0s") {
        return Ok(Duration::ZERO);
    }
    let d = parse_duration(value).map_err(|reason| CliError::InvalidArgument {
        flag,
        value: value.to_owned(),
        reason,
    })?;
    Ok(Duration::try_from(d).unwrap_or(Duration::ZERO))
}

type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// A line logger on a duplicate of standard error: the command's own `ctx.err` is a locked
/// handle of the main thread, and the adapters log from their tasks.
fn stderr_logger(_ctx: &mut Ctx<'_>) -> Result<Log, CliError> {
    let fd = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| failed(format!("cannot duplicate standard error: {e}")))?;
    let file = Mutex::new(std::fs::File::from(fd));
    Ok(Arc::new(move |line: &str| {
        if let Ok(mut f) = file.lock() {
            let _ = writeln!(f, "{line}");
        }
    }))
}

/// The identity (issued and refreshed, or given) and the route URL.
async fn identity(
    args: &IdentityArgs,
    client: Option<mcp_platform_client::Client>,
    log: &Log,
) -> Result<(Arc<dyn IdentitySource>, Upstream), CliError> {
    let options = UpstreamOptions {
        host_header: args.host_header.clone(),
        request_timeout: match &args.request_timeout {
            Some(v) => Some(duration("--request-timeout", v)?).filter(|d| !d.is_zero()),
            None => None,
        },
    };
    let (source, audience): (Arc<dyn IdentitySource>, Option<String>) = match &args.session_token {
        Some(token) => (Arc::new(StaticIdentity::new(Identity::fixed(token.clone()))), None),
        None => {
            let client = client.ok_or_else(|| failed("no platform login".into()))?;
            let request = mcp_platform_client::AdapterSessionRequest {
                server_name: args.server.clone().unwrap_or_default(),
                team: args.team.clone(),
                agent_id: args.agent.clone().unwrap_or_default(),
                requested_trust: args.trust.clone(),
                requested_ttl: args.ttl.clone(),
            };
            let issuer = Arc::new(PlatformIssuer::new(client, request));
            let sink = log.clone();
            let events = Arc::new(move |e: RefreshEvent| match e {
                RefreshEvent::Refreshed { expires_at } => sink(&format!(
                    "adapter: session token refreshed (expires {})",
                    expires_at.map(|t| t.to_string()).unwrap_or_default()
                )),
                RefreshEvent::Failed { error, retry_in } => sink(&format!(
                    "adapter: {error}; keeping the current token, next attempt in {}s",
                    retry_in.as_secs()
                )),
            });
            let refreshing = RefreshingIdentity::start(issuer, events).await.map_err(failed)?;
            let first = refreshing.current();
            log(&format!(
                "adapter: session {} of team {} (token expires {})",
                first.session,
                first.team,
                first.expires_at.map(|t| t.to_string()).unwrap_or_default()
            ));
            (Arc::new(refreshing), first.audience.clone())
        }
    };
    let url = args.runtime_url.clone().or(audience).ok_or_else(|| {
        failed("no route URL: pass --runtime-url (a given session token names none)".into())
    })?;
    let upstream = Upstream::new(&url, &options).map_err(|e| failed(e.to_string()))?;
    Ok((source, upstream))
}

async fn run_stdio(
    args: StdioArgs,
    client: Option<mcp_platform_client::Client>,
    log: Log,
) -> Result<(), CliError> {
    let options = StdioOptions {
        tools_cache_ttl: duration("--tools-cache-ttl", &args.tools_cache_ttl)?,
        open_get_stream: !args.no_get_stream,
        ..StdioOptions::default()
    };
    let (identity, upstream) = identity(&args.identity, client, &log).await?;
    // Standard output through a duplicate descriptor: `run` holds the std handle's lock.
    let out = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| failed(format!("cannot duplicate standard output: {e}")))?;
    let out = tokio::fs::File::from_std(std::fs::File::from(out));
    stdio::run(upstream, identity, options, tokio::io::stdin(), out, log)
        .await
        .map_err(|e| failed(format!("standard input: {e}")))
}

async fn run_proxy(
    args: ProxyArgs,
    client: Option<mcp_platform_client::Client>,
    log: Log,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    proxy::check_listen(args.listen, args.allow_remote).map_err(|e| failed(e.to_string()))?;
    let options = ProxyOptions {
        max_inbound_bytes: args.max_inbound_bytes,
        allow_remote: args.allow_remote,
        header_read_timeout: duration("--header-read-timeout", &args.header_read_timeout)?,
        shutdown_grace: duration("--shutdown-grace", &args.shutdown_grace)?,
    };
    let (identity, upstream) = identity(&args.identity, client, &log).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| failed(format!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener.local_addr().map_err(|e| failed(format!("listener: {e}")))?;
    let route = upstream.url().to_string();
    writeln!(ctx.err, "adapter proxy: listening on http://{local}/mcp -> {route}")
        .map_err(CliError::Output)?;
    ctx.err.flush().map_err(CliError::Output)?;
    let proxy = Arc::new(proxy::Proxy::new(upstream, identity, options));
    proxy::serve(proxy, listener, mcp_shutdown::requested())
        .await
        .map_err(|e| failed(format!("serving: {e}")))
}
