//! `access grant init` and `access session init`.

use jiff::Timestamp;
use mcp_api::{MCPAccessGrant, MCPAgentSession};

use crate::support::{files, read, run, tempdir, write};

#[test]
fn grant_with_every_flag() {
    let dir = tempdir();
    let out = run(
        dir.path(),
        &[
            "access",
            "grant",
            "init",
            "--server",
            "github",
            "--server-namespace",
            "mcp-servers-org",
            "--namespace",
            "team-a",
            "--human-id",
            "alice@example.com",
            "--agent-id",
            "agt_01hx",
            "--team-id",
            "team-a",
            "--trust",
            "medium",
            "--side-effect",
            "read",
            "--side-effect",
            "write",
            "--tool",
            "search_code",
            "--tool-rule",
            "delete_repo:deny",
            "--tool-rule",
            "create_issue:allow:medium",
            "--policy-version",
            "v2",
            "--expires-at",
            "2030-01-01T00:00:00Z",
            "--max-calls",
            "100",
            "--rate-per-minute",
            "10",
        ],
    )
    .ok();
    assert_eq!(out, "wrote grant \"github-agt-01hx\" to grant.yaml\n");
    insta::assert_snapshot!(read(dir.path(), "grant.yaml"), @r#"
    apiVersion: mcpruntime.org/v1alpha1
    kind: MCPAccessGrant
    metadata:
      name: github-agt-01hx
      namespace: team-a
    spec:
      serverRef:
        name: github
        namespace: mcp-servers-org
      subject:
        humanID: alice@example.com
        agentID: agt_01hx
        teamID: team-a
      maxTrust: medium
      allowedSideEffects:
      - read
      - write
      policyVersion: v2
      toolRules:
      - name: search_code
        decision: allow
      - name: delete_repo
        decision: deny
      - name: create_issue
        decision: allow
        requiredTrust: medium
      expiresAt: "2030-01-01T00:00:00Z"
      maxCalls: 100
      ratePerMinute: 10
    "#);
}

#[test]
fn grant_defaults_and_derived_names() {
    let dir = tempdir();
    let run1 = run(dir.path(), &["access", "grant", "init", "--server", "github"]);
    assert!(run1.err.starts_with("warning: grant.yaml: spec.subject: is empty"), "{}", run1.err);
    assert_eq!(run1.ok(), "wrote grant \"github-team\" to grant.yaml\n");
    let grant: MCPAccessGrant = mcp_api::yaml::from_str(&read(dir.path(), "grant.yaml")).expect("a grant");
    assert_eq!(grant.metadata.namespace.as_deref(), Some("mcp-servers"));
    assert_eq!(grant.spec.allowed_side_effects, [mcp_api::SideEffect::Read]);
    assert_eq!(grant.spec.max_trust, Some(mcp_api::TrustLevel::Low));
    assert_eq!(grant.spec.policy_version.as_deref(), Some("v1"));

    let out = run(
        dir.path(),
        &[
            "access",
            "grant",
            "init",
            "--server",
            "GitHub",
            "--human-id",
            "Alice@Example.com",
            "-o",
            "g2.yaml",
        ],
    )
    .ok();
    assert_eq!(out, "wrote grant \"github-alice-example.com\" to g2.yaml\n");
}

#[test]
fn expires_in_is_relative_to_now() {
    let dir = tempdir();
    let before = Timestamp::now();
    run(dir.path(), &["access", "grant", "init", "--server", "gh", "--team-id", "t", "--expires-in", "7d"])
        .ok();
    let grant: MCPAccessGrant = mcp_api::yaml::from_str(&read(dir.path(), "grant.yaml")).expect("a grant");
    let at: Timestamp = grant.spec.expires_at.as_deref().unwrap_or_default().parse().expect("RFC 3339");
    let seconds = at.as_second() - before.as_second();
    assert!((7 * 86400 - 1..=7 * 86400 + 60).contains(&seconds), "{seconds}");
}

#[test]
fn grant_usage_and_validation_errors_write_nothing() {
    let dir = tempdir();
    let d = dir.path();
    let failed = run(d, &["access", "grant", "init", "--team-id", "t"]).fails(2);
    assert!(failed.err.contains("--server <NAME>"), "{}", failed.err);
    let failed = run(
        d,
        &[
            "access",
            "grant",
            "init",
            "--server",
            "gh",
            "--expires-at",
            "2030-01-01T00:00:00Z",
            "--expires-in",
            "4h",
        ],
    )
    .fails(2);
    assert!(failed.err.contains("cannot be used with"), "{}", failed.err);
    let failed = run(d, &["access", "grant", "init", "--server", "gh", "--expires-at", "tomorrow"]).fails(2);
    assert!(failed.err.contains("not an RFC 3339 timestamp"), "{}", failed.err);
    let failed = run(d, &["access", "grant", "init", "--server", "gh", "--expires-in", "soon"]).fails(2);
    assert!(failed.err.contains("not a duration"), "{}", failed.err);
    let failed = run(d, &["access", "grant", "init", "--server", "gh", "--trust", "root"]).fails(2);
    assert!(failed.err.contains("invalid value 'root' for '--trust <TRUST>'"), "{}", failed.err);
    run(d, &["access", "grant", "init", "--server", "gh", "--max-calls", "0"]).fails(2);
    run(d, &["access", "grant", "init", "Bad_Name", "--server", "gh"]).fails(2);

    let failed = run(
        d,
        &[
            "access",
            "grant",
            "init",
            "--server",
            "gh",
            "--team-id",
            "t",
            "--tool",
            "a",
            "--tool-rule",
            "a:deny",
        ],
    )
    .fails(1);
    assert_eq!(
        failed.err,
        "error: grant.yaml: spec.toolRules[1].name: duplicate tool rule: \"a\"\n\
         error: grant \"gh-t\": 1 error (nothing written)\n"
    );
    assert!(files(d).is_empty(), "{:?}", files(d));
}

#[test]
fn output_files_need_force_and_dash_is_stdout() {
    let dir = tempdir();
    let d = dir.path();
    write(d, "grant.yaml", "mine\n");
    let failed = run(d, &["access", "grant", "init", "--server", "gh", "--team-id", "t"]).fails(2);
    assert_eq!(failed.err, "error: grant.yaml already exists (use --force to overwrite it)\n");
    assert_eq!(read(d, "grant.yaml"), "mine\n");
    run(d, &["access", "grant", "init", "--server", "gh", "--team-id", "t", "--force"]).ok();
    assert!(read(d, "grant.yaml").contains("kind: MCPAccessGrant"));

    let out = run(
        d,
        &["access", "session", "init", "--server", "gh", "--team-id", "t", "--expires-in", "1h", "-o", "-"],
    )
    .ok();
    let session: MCPAgentSession = mcp_api::yaml::from_str(&out).expect("a session on stdout");
    assert_eq!(session.metadata.name.as_deref(), Some("gh-t-session"));
    assert!(!d.join("session.yaml").exists());

    run(
        d,
        &[
            "access",
            "session",
            "init",
            "--server",
            "gh",
            "--team-id",
            "t",
            "--expires-in",
            "1h",
            "-o",
            "nested/dir/s.yaml",
        ],
    )
    .ok();
    assert!(read(d, "nested/dir/s.yaml").contains("kind: MCPAgentSession"));
}

#[test]
fn session_with_every_flag() {
    let dir = tempdir();
    let out = run(
        dir.path(),
        &[
            "access",
            "session",
            "init",
            "alice-github",
            "--server",
            "github",
            "--human-id",
            "alice@example.com",
            "--agent-id",
            "agt_01hx",
            "--trust",
            "high",
            "--expires-at",
            "2030-01-01T00:00:00Z",
            "--revoked",
            "--grant",
            "github-agt-01hx",
            "--upstream-token-secret",
            "github-token",
            "--max-calls",
            "5",
            "--rate-per-minute",
            "1",
            "--policy-version",
            "v3",
        ],
    )
    .ok();
    assert_eq!(out, "wrote session \"alice-github\" to session.yaml\n");
    insta::assert_snapshot!(read(dir.path(), "session.yaml"), @r#"
    apiVersion: mcpruntime.org/v1alpha1
    kind: MCPAgentSession
    metadata:
      name: alice-github
      namespace: mcp-servers
    spec:
      serverRef:
        name: github
      subject:
        humanID: alice@example.com
        agentID: agt_01hx
      consentedTrust: high
      expiresAt: "2030-01-01T00:00:00Z"
      revoked: true
      upstreamTokenSecretRef:
        name: github-token
        key: token
      policyVersion: v3
      grantName: github-agt-01hx
      maxCalls: 5
      ratePerMinute: 1
    "#);
}

#[test]
fn session_needs_a_subject_and_warns_about_expiry() {
    let dir = tempdir();
    let d = dir.path();
    let failed = run(d, &["access", "session", "init", "--server", "gh"]).fails(2);
    assert!(failed.err.contains("the following required arguments were not provided"), "{}", failed.err);
    let failed = run(
        d,
        &["access", "session", "init", "--server", "gh", "--agent-id", "a", "--upstream-token-key", "k"],
    )
    .fails(2);
    assert!(failed.err.contains("--upstream-token-secret <SECRET>"), "{}", failed.err);

    let done = run(d, &["access", "session", "init", "--server", "gh", "--agent-id", "agt_1"]);
    assert_eq!(
        done.err,
        "warning: session.yaml: spec.expiresAt: is not set: the session stays valid until it is revoked\n"
    );
    assert_eq!(done.ok(), "wrote session \"gh-agt-1-session\" to session.yaml\n");
    let done = run(
        d,
        &[
            "access",
            "session",
            "init",
            "--server",
            "gh",
            "--agent-id",
            "agt_1",
            "--expires-at",
            "2001-01-01T00:00:00Z",
            "--force",
        ],
    );
    assert_eq!(
        done.err,
        "warning: session.yaml: spec.expiresAt: has passed: the session is already expired: \"2001-01-01T00:00:00Z\"\n"
    );
    done.ok();
}
