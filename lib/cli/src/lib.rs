//! The `mcp-runtime` command line: argument parsing, the local-only commands (server
//! metadata scaffolding, validation and manifest generation; grant and session manifests)
//! and the readers they share ([`manifests`]).
//!
//! `bin/mcp-runtime` only calls [`run`]; everything else lives here so it can be tested in
//! process with [`run_with`], which takes the output streams and working directory instead of
//! touching the process's own.
//!
//! Invariants:
//! - Local commands never open a network connection or talk to Kubernetes.
//! - Every rule about a spec comes from `mcp-api` (`default_server`, `validate_*`); this crate
//!   only adds what needs files: decoding with field paths, unknown fields, and checks across
//!   metadata, grants and sessions.
//! - A command checks everything before it writes anything, and every file is written
//!   atomically (temporary file in the same directory, then rename).
//! - Input never panics the process: every problem is a [`CliError`] or a finding line
//!   `error: <file>: <field>: <message>: "<value>"`.
//! - Platform commands (`auth`, `server deploy|list|…`, `access … apply|list|…`, `team`,
//!   `agent`, `catalog`, `analytics`, `policy replay`) talk to the platform API through
//!   `mcp-platform-client`; only they read the saved sign-in or build an async runtime, after
//!   the arguments parsed, so `--help` and the local commands stay fast.
//! - Exit codes: [`EXIT_CODES`] (also printed at the top of docs/cli.md).

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;

use clap::Parser;

mod access;
mod adapter;
mod agent;
mod analytics;
mod args;
mod auth;
mod catalog;
mod cli;
mod cluster;
mod completion;
mod dev;
mod error;
mod fsio;
pub mod manifests;
mod metadata;
mod names;
mod platform;
mod policy;
mod registry;
mod report;
mod server;
mod team;
mod yaml;

pub use cli::Cli;
pub use error::CliError;

/// Every exit status of `mcp-runtime`, and what it means.
pub const EXIT_CODES: &[(i32, &str)] = &[
    (0, "success (warnings allowed)"),
    (
        1,
        "invalid input (every problem printed, one line each; a malformed file given to a platform command \
         names file:line and field, and nothing is sent), or the platform refused the request as invalid \
         or failed; `setup` could not apply or the workloads were not ready in time; a `doctor` check failed",
    ),
    (2, "usage, I/O or parse error (unknown flag, missing argument, unreadable file)"),
    (3, "`policy check` denied the call"),
    (4, "not signed in, bad credentials, or the login expired and could not be refreshed (HTTP 401)"),
    (5, "forbidden: signed in, but the role does not allow it (HTTP 403)"),
    (6, "not found (HTTP 404, or a name the command looked up)"),
    (7, "conflict or quota: the object exists, or a limit or cooldown applies (HTTP 409, 429)"),
    (8, "the platform is unreachable (connection refused, DNS, TLS, timeout)"),
];

/// Runs the command line on the process's arguments, streams and working directory, and
/// returns the exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let stdout = io::stdout();
    let stderr = io::stderr();
    let (mut out, mut err) = (stdout.lock(), stderr.lock());
    match std::env::current_dir() {
        Ok(cwd) => run_with(args, &mut out, &mut err, &cwd),
        Err(e) => report(&mut err, &CliError::CurrentDir(e)),
    }
}

/// Runs the command line with explicit streams and working directory (relative paths in
/// arguments are resolved against `cwd`), and returns the exit code.
///
/// Help and version go to `out`; usage errors (clap's message) and command errors (one line,
/// `error: <cause>: <cause>…`) go to `err`.
pub fn run_with<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write, cwd: &Path) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            let _ =
                if e.use_stderr() { err.write_all(text.as_bytes()) } else { out.write_all(text.as_bytes()) };
            return e.exit_code();
        }
    };
    let debug = cli.debug;
    let mut ctx = cli::Ctx {
        out,
        err,
        cwd,
        now: jiff::Timestamp::now(),
        env: platform::Env::from_process(),
        profile: cli.profile,
    };
    let result = cli.command.run(&mut ctx);
    let _ = ctx.out.flush();
    match result {
        Ok(()) => 0,
        // A closed pipe (`mcp-runtime … | head`) is not a failure.
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        // `policy check` has already printed the decision; a denial only sets the exit code.
        Err(e @ CliError::Denied) => e.exit_code(),
        Err(e) => {
            if debug {
                let _ = writeln!(ctx.err, "debug: {e:?}");
            }
            report(ctx.err, &e)
        }
    }
}

fn report(err: &mut dyn Write, e: &CliError) -> i32 {
    let _ = writeln!(err, "error: {}", error::chain(e));
    e.exit_code()
}
