//! The README's walkthrough, replayed: every `mcp-runtime` command in its walkthrough block runs
//! in a fresh directory with the exit status its comment promises, and the files it leaves are
//! the ones shipped in `docs/examples/workspace-assistant/`. The README's single-decision command runs
//! against those shipped files.
//!
//! After an intended change, refresh the example with
//! `UPDATE_EXAMPLES=1 cargo test -p mcp-cli --test it readme`.

use std::path::{Path, PathBuf};

use crate::support::{files, read, run, tempdir};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("read README.md")
}

/// One command of the walkthrough: its arguments and the exit status (and reason) it promises.
struct Step {
    line: String,
    args: Vec<String>,
    code: i32,
    reason: Option<String>,
}

/// Commands of the block between the walkthrough markers, continuation lines joined.
fn walkthrough() -> Vec<Step> {
    let text = readme();
    let start = text.find("<!-- walkthrough:start -->").expect("walkthrough start marker");
    let end = text.find("<!-- walkthrough:end -->").expect("walkthrough end marker");
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text[start..end].lines() {
        let line = line.trim();
        if line.starts_with("```") || line.starts_with("<!--") || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                if !current.trim().is_empty() {
                    joined.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
    }
    joined
        .into_iter()
        .map(|line| {
            let (command, comment) = match line.split_once("  # ") {
                Some((c, comment)) => (c.to_string(), Some(comment.trim().to_string())),
                None => (line.clone(), None),
            };
            let mut args = shell_words::split(&command).expect("shell words");
            assert_eq!(args.first().map(String::as_str), Some("mcp-runtime"), "{line}");
            args.remove(0);
            let (code, reason) = match comment.as_deref().and_then(|c| c.strip_prefix("exit ")) {
                Some(rest) => {
                    let (code, reason) = rest.split_once(": ").expect("`exit N: reason` comment");
                    (code.parse().expect("exit code"), Some(reason.to_string()))
                }
                None => (0, None),
            };
            Step { line, args, code, reason }
        })
        .collect()
}

const EXAMPLE: &str = "docs/examples/workspace-assistant";
const PRODUCED: &[&str] =
    &[".mcp/servers.yaml", "grant.yaml", "session.yaml", "manifests/workspace-assistant.yaml", "policy.json"];

#[test]
fn readme_walkthrough_reproduces_the_shipped_example() {
    let steps = walkthrough();
    assert!(steps.len() >= 8, "the walkthrough should have its commands");
    let dir = tempdir();
    for step in &steps {
        let args: Vec<&str> = step.args.iter().map(String::as_str).collect();
        let result = run(dir.path(), &args);
        assert_eq!(result.code, step.code, "{}\nstdout:\n{}\nstderr:\n{}", step.line, result.out, result.err);
        if let Some(reason) = &step.reason {
            assert!(result.out.contains(&format!("reason:    {reason} ")), "{}\n{}", step.line, result.out);
        }
    }
    assert_eq!(files(dir.path()), {
        let mut expected: Vec<String> = PRODUCED.iter().map(|s| s.to_string()).collect();
        expected.sort();
        expected
    });

    let example = repo_root().join(EXAMPLE);
    let update = std::env::var_os("UPDATE_EXAMPLES").is_some();
    for file in PRODUCED {
        let produced = read(dir.path(), file);
        let shipped_path = example.join(file);
        if update {
            std::fs::create_dir_all(shipped_path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&shipped_path, &produced).expect("update example");
            continue;
        }
        let shipped = std::fs::read_to_string(&shipped_path).unwrap_or_default();
        assert_eq!(
            produced, shipped,
            "{EXAMPLE}/{file} is stale; run `UPDATE_EXAMPLES=1 cargo test -p mcp-cli --test it readme`"
        );
    }
}

#[test]
fn readme_single_decision_command_decides_against_the_shipped_policy() {
    let text = readme();
    let line = text
        .lines()
        .find(|l| l.starts_with("cargo run -q -p mcp-runtime -- "))
        .expect("the README shows the single-decision command");
    let command = line.trim_start_matches("cargo run -q -p mcp-runtime -- ");
    let args = shell_words::split(command).expect("shell words");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&repo_root(), &args).ok();
    assert!(out.contains("decision:  allow (HTTP 200)"), "{out}");
    assert!(out.contains("grant:     mcp-servers/ops-agent-grant"), "{out}");
}
