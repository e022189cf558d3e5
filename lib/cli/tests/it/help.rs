//! The command tree is well-formed and every `--help` is a reviewed snapshot.

use clap::CommandFactory;
use mcp_cli::Cli;

#[test]
fn command_tree_is_well_formed() {
    Cli::command().debug_assert();
}

/// Every command path below `cmd`, the empty path (the root) included.
fn command_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    out.push(prefix.to_vec());
    for sub in cmd.get_subcommands() {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_string());
        command_paths(sub, &path, out);
    }
}

#[test]
fn help_snapshots() {
    let mut paths = Vec::new();
    command_paths(&Cli::command(), &[], &mut paths);
    assert!(paths.len() >= 9, "{paths:?}");
    for path in paths {
        let argv = std::iter::once("mcp-runtime")
            .chain(path.iter().map(String::as_str))
            .chain(std::iter::once("--help"));
        let err = Cli::command().term_width(100).try_get_matches_from(argv).expect_err("--help exits");
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        let name =
            std::iter::once("help").chain(path.iter().map(String::as_str)).collect::<Vec<_>>().join("__");
        insta::assert_snapshot!(name, err.render().to_string());
    }
}

#[test]
fn help_goes_to_stdout_and_exits_0() {
    let dir = crate::support::tempdir();
    let run = crate::support::run(dir.path(), &["server", "init", "--help"]);
    assert_eq!(run.code, 0);
    assert!(run.out.contains("Usage: mcp-runtime server init"), "{}", run.out);
    assert!(run.err.is_empty());
}

#[test]
fn usage_errors_go_to_stderr_and_exit_2() {
    let dir = crate::support::tempdir();
    let run = crate::support::run(dir.path(), &["server", "init", "--scope", "galaxy"]);
    assert_eq!(run.code, 2);
    assert!(run.err.contains("invalid value 'galaxy' for '--scope <SCOPE>'"), "{}", run.err);
    assert!(run.out.is_empty());
    let run = crate::support::run(dir.path(), &["server", "init", "--tool-spec", "x:low:explode"]);
    assert_eq!(run.code, 2);
    assert!(run.err.contains("side effect: unknown value \"explode\""), "{}", run.err);
}

/// A writer whose reader went away, as with `mcp-runtime … | head -0`.
struct ClosedPipe;

impl std::io::Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_closed_stdout_is_not_a_failure() {
    let dir = crate::support::tempdir();
    let mut err = Vec::new();
    let argv = ["mcp-runtime", "access", "grant", "init", "--server", "gh", "--team-id", "t", "-o", "-"];
    let code = mcp_cli::run_with(argv, &mut ClosedPipe, &mut err, dir.path());
    assert_eq!((code, err.as_slice()), (0, b"".as_slice()));
}
