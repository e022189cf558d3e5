//! The platform commands, run as the real `mcp-runtime` binary against the real `mcp-platform`
//! on SQLite and on PostgreSQL: sign-in, teams, servers, grants, sessions, agents, catalog,
//! analytics, replay, and the failures a user meets (unknown flag, unreachable platform,
//! expired login, 403, 404, malformed YAML), each one line with its documented exit code.

use serde_json::json;

use crate::stack::{ADMIN, ADMIN_PASSWORD, Backend, Stack, User, rt};

const ADA: &str = "ada@example.org";
const ADA_PASSWORD: &str = "ada-password-123";

fn login(user: &User, stack: &Stack, email: &str, password: &str, profile: Option<&str>) {
    let mut args = vec!["auth", "login", "--api-url", &stack.url, "--email", email, "--password-stdin"];
    if let Some(p) = profile {
        args.extend(["--profile", p]);
    }
    let out = user.run_with(&args, Some(&format!("{password}\n")), &[]);
    assert!(out.ok().contains(&format!("as {email}")), "{}", out.out);
}

fn scenario(backend: Backend) {
    let stack = Stack::start(backend, &[]);
    let admin = User::new();

    // Refused sign-ins: one line, exit 4, nothing saved.
    let stranger = User::new();
    let out = stranger.run_with(
        &["auth", "login", "--api-url", &stack.url, "--email", ADMIN, "--password-stdin"],
        Some("wrong-password\n"),
        &[],
    );
    assert_eq!(out.fails(4), "error: sign-in refused: email or password is not correct (unauthorized)");
    let out = stranger.run_with(
        &["auth", "login", "--api-url", &stack.url, "--token-stdin"],
        Some("mcpk_nope"),
        &[],
    );
    assert!(out.fails(4).starts_with("error: sign-in refused: "), "{}", out.err);
    assert!(!stranger.config_dir().join("config.json").exists());

    // Sign in: the credential file is private.
    login(&admin, &stack, ADMIN, ADMIN_PASSWORD, None);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = std::fs::metadata(admin.config_dir().join("config.json")).expect("config");
        assert_eq!(file.permissions().mode() & 0o777, 0o600);
        let dir = std::fs::metadata(admin.config_dir()).expect("config dir");
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    }
    let status = admin.run(&["auth", "status", "-o", "json"]).json();
    assert_eq!(
        (status["user"]["email"].as_str(), status["credential"].as_str()),
        (Some(ADMIN), Some("password"))
    );
    assert!(admin.run(&["auth", "status"]).ok().contains("admin"));

    // Teams and members (ada is created through the API; the CLI has no user command).
    let out = admin.run(&["team", "create", "payments", "--display-name", "Payments"]);
    assert!(out.ok().contains("mcp-team-payments"), "{}", out.out);
    assert!(admin.run(&["team", "list"]).ok().contains("payments"));
    let api = stack.client(ADMIN, ADMIN_PASSWORD);
    let req = mcp_platform_client::CreateUser {
        email: ADA.into(),
        password: Some(ADA_PASSWORD.into()),
        ..Default::default()
    };
    rt().block_on(api.create_user(&req)).expect("create ada");
    assert!(admin.run(&["team", "member", "add", "payments", ADA, "--role", "member"]).ok().contains(ADA));
    let members = admin.run(&["team", "member", "list", "payments", "-o", "json"]).json();
    assert!(members["items"].as_array().expect("items").iter().any(|m| m["email"] == ADA), "{members}");

    // Servers: deployed from the metadata `server init` writes.
    admin
        .run(&[
            "server",
            "init",
            "gh",
            "--tool-spec",
            "search:low:read",
            "--tool-spec",
            "delete_repo:high:destructive",
        ])
        .ok();
    assert!(
        admin.run(&["server", "deploy", "--team", "payments"]).ok().contains("deployed server payments/gh")
    );
    let again = admin.run(&["server", "deploy", "--team", "payments"]);
    assert!(again.fails(7).contains("(conflict)"), "{}", again.err);
    admin.run(&["server", "deploy", "gh", "--team", "payments", "--update"]).ok();
    let list = admin.run(&["server", "list", "-o", "json"]).json();
    assert!(list["items"].as_array().expect("items").iter().any(|i| i["server"]["metadata"]["name"] == "gh"));
    assert!(admin.run(&["server", "list", "--team", "payments"]).ok().contains("gh"));
    assert!(
        admin.run(&["server", "get", "gh", "--team", "payments", "-o", "yaml"]).ok().contains("name: gh")
    );
    assert!(admin.run(&["server", "status", "gh", "--team", "payments"]).ok().contains("PolicyRevision"));
    let policy = admin.run(&["server", "policy", "gh", "--team", "payments", "-o", "json"]).json();
    assert!(policy["revision"].as_str().is_some_and(|r| r.starts_with("sha256:")), "{policy}");
    let claude =
        admin.run(&["server", "connect-config", "gh", "--team", "payments", "--client", "claude"]).json();
    assert_eq!(claude["mcpServers"]["gh"]["command"], "mcp-runtime");
    let vscode = admin.run(&[
        "server",
        "connect-config",
        "gh",
        "--team",
        "payments",
        "--client",
        "vscode",
        "--agent",
        "agt_x",
    ]);
    assert!(vscode.ok().contains("\"servers\"") && vscode.out.contains("agt_x"), "{}", vscode.out);
    // The generated commands are what `mcp-runtime adapter` accepts (the platform writes them,
    // the CLI parses them: a renamed flag on either side fails here).
    let json = admin
        .run(&[
            "server",
            "connect-config",
            "gh",
            "--team",
            "payments",
            "--client",
            "json",
            "--agent",
            "agt_x",
        ])
        .json();
    for mode in ["stdio", "proxy"] {
        let args: Vec<String> = json["adapter"][mode]["args"]
            .as_array()
            .unwrap_or_else(|| panic!("no {mode} args: {json}"))
            .iter()
            .map(|a| a.as_str().expect("string arg").to_string())
            .collect();
        let argv = std::iter::once("mcp-runtime".to_string()).chain(args.iter().cloned());
        if let Err(e) = <mcp_cli::Cli as clap::Parser>::try_parse_from(argv) {
            panic!("connect-config's {mode} command does not parse: {args:?}: {e}");
        }
    }

    // Agents.
    let agent = admin.run(&["agent", "create", "bot", "--team", "payments", "-o", "json"]).json();
    let id = agent["id"].as_str().expect("agent id").to_string();
    assert!(admin.run(&["agent", "list", "--team", "payments"]).ok().contains("bot"));
    let renamed = admin.run(&["agent", "rename", &id, "release-bot", "-o", "json"]).json();
    assert_eq!(renamed["name"], "release-bot");

    // Grants: written by `grant init`, applied, listed, toggled.
    admin
        .run(&[
            "access",
            "grant",
            "init",
            "gh-bot",
            "--server",
            "gh",
            "--agent-id",
            &id,
            "--namespace",
            "mcp-team-payments",
            "--tool",
            "search",
            "-o",
            "grant.yaml",
        ])
        .ok();
    assert!(
        admin
            .run(&["access", "grant", "apply", "-f", "grant.yaml"])
            .ok()
            .contains("applied grant payments/gh-bot")
    );
    assert!(admin.run(&["access", "grant", "list", "--team", "payments"]).ok().contains("gh-bot"));
    let grant = admin.run(&["access", "grant", "get", "gh-bot", "--team", "payments", "-o", "json"]).json();
    assert_eq!(grant["grant"]["spec"]["subject"]["agentID"], id.as_str());
    assert!(
        admin.run(&["access", "grant", "disable", "gh-bot", "--team", "payments"]).ok().contains("disabled")
    );
    assert!(
        admin.run(&["access", "grant", "enable", "gh-bot", "--team", "payments"]).ok().contains("enabled")
    );
    let revoked = admin
        .run(&["access", "grant", "revoke-sessions", "gh-bot", "--team", "payments", "-o", "json"])
        .json();
    assert_eq!(revoked["revoked"], 0);

    // Sessions.
    admin
        .run(&[
            "access",
            "session",
            "init",
            "bot-session",
            "--server",
            "gh",
            "--agent-id",
            &id,
            "--namespace",
            "mcp-team-payments",
            "--expires-in",
            "4h",
            "-o",
            "session.yaml",
        ])
        .ok();
    admin.run(&["access", "session", "apply", "-f", "session.yaml", "--team", "payments"]).ok();
    assert!(admin.run(&["access", "session", "list", "--team", "payments"]).ok().contains("bot-session"));
    assert!(
        admin
            .run(&["access", "session", "revoke", "bot-session", "--team", "payments"])
            .ok()
            .contains("revoked")
    );
    assert!(
        admin
            .run(&["access", "session", "unrevoke", "bot-session", "--team", "payments"])
            .ok()
            .contains("active")
    );
    admin.run(&["access", "session", "get", "bot-session", "--team", "payments", "-o", "yaml"]).ok();

    // Catalog.
    let tools = admin.run(&["catalog", "tools", "--team", "payments"]);
    assert!(tools.ok().contains("search") && tools.out.contains("delete_repo"), "{}", tools.out);
    let one = admin.run(&["catalog", "tool", "delete_repo", "-o", "json"]).json();
    assert_eq!(one[0]["required_trust"], "high");
    assert!(admin.run(&["catalog", "tool", "no_such_tool"]).fails(6).contains("not found"));

    // Analytics and replay, over events seeded as the processor writes them.
    assert!(admin.run(&["analytics", "events", "--limit", "5"]).ok().starts_with("TIME"));
    let ns = "mcp-team-payments";
    stack.insert_events(&[
        ("ev-1", ns, "gh", &id, "search", "allow", "allowed"),
        ("ev-2", ns, "gh", &id, "delete_repo", "deny", "tool_denied"),
        ("ev-3", ns, "gh", &id, "search", "allow", "allowed"),
    ]);
    let events =
        admin.run(&["analytics", "events", "--team", "payments", "--since", "1h", "-o", "json"]).json();
    let ids: Vec<&str> =
        events["events"].as_array().expect("events").iter().filter_map(|e| e["event_id"].as_str()).collect();
    assert_eq!(ids, ["ev-3", "ev-2", "ev-1"], "{events}");
    let denied = admin.run(&["analytics", "events", "--decision", "deny"]);
    assert!(denied.ok().contains("delete_repo") && !denied.out.contains("search"), "{}", denied.out);
    let usage = admin.run(&["analytics", "usage", "--team", "payments", "-o", "json"]).json();
    assert!(usage.to_string().contains("search"), "{usage}");
    let table = admin.run(&["analytics", "usage", "--team", "payments"]);
    let total = table.ok().lines().find(|l| l.starts_with("TOTAL")).expect("totals row").to_string();
    assert_eq!(
        total.split_whitespace().collect::<Vec<_>>(),
        ["TOTAL", "-", "-", "3", "2", "1"],
        "{}",
        table.out
    );
    let report = admin
        .run(&[
            "policy",
            "replay",
            "--server",
            "gh",
            "--team",
            "payments",
            "--since",
            "24h",
            "-f",
            "grant.yaml",
            "-o",
            "json",
        ])
        .json();
    assert_eq!(report["scanned"], 3, "{report}");
    assert!(
        admin
            .run(&["policy", "replay", "--server", "gh", "--team", "payments", "-f", "grant.yaml"])
            .ok()
            .starts_with("SCANNED")
    );
    tail(&admin, &stack, &id);

    // Deactivation.
    let state = admin.run(&["agent", "deactivate", &id, "-o", "json"]).json();
    assert_eq!(state["agent"]["status"], "inactive");
    let state = admin.run(&["agent", "reactivate", &id, "-o", "json"]).json();
    assert_eq!(state["agent"]["status"], "active");

    // A member who is not an administrator: 403 on admin things, one line, exit 5.
    login(&admin, &stack, ADA, ADA_PASSWORD, Some("ada"));
    let forbidden = admin.run(&["team", "create", "other"]);
    assert!(forbidden.fails(5).contains("(forbidden)"), "{}", forbidden.err);
    assert!(admin.run(&["--profile", "ada", "server", "list"]).ok().contains("gh"));
    admin.run(&["auth", "use", "default"]).ok();
    assert_eq!(admin.config()["current"], "default");
    let env_profile =
        admin.run_with(&["team", "create", "other"], None, &[("MCP_PLATFORM_API_PROFILE", "ada")]);
    env_profile.fails(5);
    assert!(admin.run(&["auth", "use", "nobody"]).fails(6).contains("profile \"nobody\""));

    admin.run(&["team", "member", "add", "payments", ADA, "--role", "viewer"]).ok();
    assert!(admin.run(&["team", "member", "remove", "payments", ADA]).ok().contains("removed"));
    let members = admin.run(&["team", "member", "list", "payments", "-o", "json"]).json();
    assert!(!members.to_string().contains(ADA), "{members}");
    assert!(admin.run(&["agent", "get", &id]).ok().contains("release-bot"));

    // Deletes, then 404.
    admin.run(&["access", "session", "delete", "bot-session", "--team", "payments"]).ok();
    admin.run(&["access", "grant", "delete", "gh-bot", "--team", "payments"]).ok();
    assert!(
        admin
            .run(&["server", "delete", "gh", "--team", "payments"])
            .ok()
            .contains("deleted server payments/gh")
    );
    let missing = admin.run(&["server", "get", "gh", "--team", "payments"]);
    assert!(missing.fails(6).contains("(not_found)"), "{}", missing.err);
    missing_grant(&admin);

    // API keys: --token-stdin, checked against the platform.
    let key = rt()
        .block_on(
            api.create_api_key(&mcp_platform_client::CreateKey { name: "ci".into(), ..Default::default() }),
        )
        .expect("api key");
    let out = admin.run_with(
        &["auth", "login", "--api-url", &stack.url, "--token-stdin", "--profile", "ci"],
        Some(&key.key),
        &[],
    );
    assert!(out.ok().contains(ADMIN), "{}", out.out);
    let status = admin.run(&["auth", "status", "-o", "json"]).json();
    assert_eq!(status["credential"], "api_key");
    let env_token = admin.run_with(
        &["auth", "status", "-o", "json"],
        None,
        &[("MCP_PLATFORM_API_TOKEN", key.key.as_str()), ("MCP_PLATFORM_API_URL", stack.url.as_str())],
    );
    assert_eq!(env_token.json()["credential"], "MCP_PLATFORM_API_TOKEN");

    expired_and_refreshed(&stack);

    // Sign out: the refresh token is revoked at the platform, the credential forgotten.
    admin.run(&["auth", "use", "default"]).ok();
    let refresh =
        admin.config()["profiles"]["default"]["refresh_token"].as_str().expect("refresh").to_string();
    assert!(admin.run(&["auth", "logout"]).ok().contains("signed out"));
    let anon =
        mcp_platform_client::Client::new(&stack.url, mcp_platform_client::Credential::None).expect("client");
    assert!(rt().block_on(anon.refresh(&refresh)).is_err(), "the refresh token still works after logout");
    let out = admin.run(&["server", "list"]);
    assert!(out.fails(4).contains("not signed in"), "{}", out.err);
}

/// `analytics tail` prints only events recorded after it started, and stops on Ctrl-C (exit 0).
fn tail(admin: &User, stack: &Stack, agent: &str) {
    use std::io::BufRead;
    let mut child = admin.spawn(&[
        "analytics",
        "tail",
        "--team",
        "payments",
        "--limit",
        "0",
        "--interval",
        "1",
        "-o",
        "json",
    ]);
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    stack.insert_events(&[("ev-4", "mcp-team-payments", "gh", agent, "delete_repo", "deny", "tool_denied")]);
    let line = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("a new event from tail");
    let event: serde_json::Value = serde_json::from_str(&line).expect("one JSON event per line");
    assert_eq!(event["event_id"], "ev-4", "tail printed an old event: {line}");
    mcp_testkit::services::signal(child.id(), "INT").expect("Ctrl-C");
    let status = child.wait().expect("wait tail");
    assert_eq!(status.code(), Some(0), "tail after Ctrl-C");
    assert!(rx.try_iter().all(|l| !l.contains("ev-1")), "tail printed events from before it started");
}

fn missing_grant(admin: &User) {
    let out = admin.run(&["access", "grant", "get", "gh-bot", "--team", "payments"]);
    assert!(out.fails(6).contains("(not_found)"), "{}", out.err);
}

/// An access token the platform refuses: a working refresh token gets a new pair (saved), a
/// refused one is "login expired" (exit 4).
fn expired_and_refreshed(stack: &Stack) {
    let anon =
        mcp_platform_client::Client::new(&stack.url, mcp_platform_client::Credential::None).expect("client");
    let tokens = rt().block_on(anon.login(ADA, ADA_PASSWORD)).expect("login");
    let user = User::new();
    let profile = |access: &str, refresh: &str| {
        json!({"current": "default", "profiles": {"default": {
            "api_url": stack.url, "method": "password", "is_admin": false,
            "access_token": access, "refresh_token": refresh, "updated_at": "2026-01-01T00:00:00Z"}}})
    };
    user.write_config(&profile("not-a-valid-token", &tokens.refresh_token));
    let status = user.run(&["auth", "status", "-o", "json"]).json();
    assert_eq!(status["user"]["email"], ADA);
    let saved = user.config();
    let new_refresh = saved["profiles"]["default"]["refresh_token"].as_str().expect("refresh");
    assert_ne!(new_refresh, tokens.refresh_token, "the refreshed pair was not saved");
    assert_ne!(saved["profiles"]["default"]["access_token"], "not-a-valid-token");

    user.write_config(&profile("not-a-valid-token", "mcprt_not-a-valid-refresh-token"));
    let out = user.run(&["server", "list"]);
    assert_eq!(out.fails(4), "error: login expired — run `mcp-runtime auth login`");
}

#[test]
fn platform_commands_on_sqlite() {
    scenario(Backend::Sqlite);
}

#[test]
fn platform_commands_on_postgres() {
    scenario(Backend::Postgres);
}

#[test]
fn bad_input_is_one_line_with_its_exit_code() {
    let user = User::new();
    // Unknown flag: clap's usage error, exit 2.
    let out = user.run(&["server", "list", "--bogus"]);
    assert_eq!(out.code, 2, "{}", out.err);
    assert!(out.err.contains("unexpected argument '--bogus'"), "{}", out.err);

    // Not signed in.
    assert!(user.run(&["team", "list"]).fails(4).contains("not signed in (profile \"default\")"));

    // Unreachable platform: a port nothing listens on.
    let port = mcp_testkit::services::free_port().expect("port");
    let url = format!("http://127.0.0.1:{port}");
    let out = user.run_with(
        &["server", "list"],
        None,
        &[("MCP_PLATFORM_API_URL", &url), ("MCP_PLATFORM_API_TOKEN", "k")],
    );
    let line = out.fails(8);
    assert!(line.starts_with(&format!("error: platform unreachable at {url} (")), "{line}");
    // --debug adds the whole error on a line of its own.
    let out = user.run_with(
        &["--debug", "server", "list"],
        None,
        &[("MCP_PLATFORM_API_URL", &url), ("MCP_PLATFORM_API_TOKEN", "k")],
    );
    assert_eq!(out.code, 8);
    let lines: Vec<&str> = out.err.lines().collect();
    assert!(
        lines.len() == 2
            && lines[0].starts_with("debug: Platform(Unreachable(")
            && lines[1].starts_with("error: "),
        "{}",
        out.err
    );
    let out = user.run_with(
        &["auth", "login", "--api-url", &url, "--email", "a@b.c", "--password-stdin"],
        Some("pw\n"),
        &[],
    );
    out.fails(8);

    // Malformed YAML: file:line, nothing sent (no platform is even configured).
    user.write(
        "bad.yaml",
        "apiVersion: mcpruntime.org/v1alpha1\nkind: MCPAccessGrant\nmetadata: {name: x\nspec: {}\n",
    );
    let line = user.run(&["access", "grant", "apply", "-f", "bad.yaml"]).fails(1).to_string();
    assert!(
        line.starts_with("error: bad.yaml:")
            && line.contains("invalid YAML")
            && line.ends_with("(nothing sent)"),
        "{line}"
    );
    user.write(
        "wrong.yaml",
        "apiVersion: mcpruntime.org/v1alpha1\nkind: MCPAccessGrant\nmetadata:\n  name: x\nspec:\n  serverRef:\n    name: gh\n  subject:\n    agentID: a\n  toolRules:\n    - name: search\n      decision: maybe\n",
    );
    let line = user.run(&["access", "grant", "apply", "-f", "wrong.yaml"]).fails(1).to_string();
    assert!(line.starts_with("error: wrong.yaml:12: spec.toolRules[0].decision:"), "{line}");
    assert!(line.contains("maybe"), "{line}");
    let line = user.run(&["policy", "replay", "--server", "gh", "-f", "wrong.yaml"]).fails(1).to_string();
    assert!(line.starts_with("error: wrong.yaml:12:"), "{line}");
    let line = user.run(&["access", "session", "apply", "-f", "wrong.yaml"]).fails(1).to_string();
    assert!(line.starts_with("error: wrong.yaml:12:"), "{line}");

    // Suspicious humanIDs are advisory warnings: checked before anything is sent, never blocking.
    user.run(&[
        "access",
        "grant",
        "init",
        "g",
        "--server",
        "gh",
        "--human-id",
        "Ada@Example",
        "-o",
        "odd.yaml",
    ])
    .ok();
    let out = user.run(&["access", "grant", "apply", "-f", "odd.yaml"]);
    assert_eq!(out.code, 4, "{}", out.err);
    let lines: Vec<&str> = out.err.lines().collect();
    assert_eq!(
        lines,
        [
            "warning: odd.yaml: spec.subject.humanID: emails are lower-cased by the platform; this one has upper-case letters: \"Ada@Example\"",
            "warning: odd.yaml: spec.subject.humanID: is not a well-formed email: \"Ada@Example\"",
            "error: not signed in (profile \"default\") — run `mcp-runtime auth login`",
        ]
    );
}

#[test]
fn version_and_completion() {
    let user = User::new();
    let out = user.run(&["--version"]);
    let line = out.ok().trim().to_string();
    assert!(line.starts_with(&format!("mcp-runtime {} (commit ", env!("CARGO_PKG_VERSION"))), "{line}");
    assert!(line.contains(", built ") && line.ends_with(')'), "{line}");
    for shell in ["bash", "zsh", "fish"] {
        let out = user.run(&["completion", shell]);
        assert!(out.ok().contains("mcp-runtime"), "{shell}");
        assert!(out.out.contains("deploy"), "{shell}: no subcommands in the script");
    }
    let out = user.run(&["completion", "powershell"]);
    assert_eq!(out.code, 2);
}
