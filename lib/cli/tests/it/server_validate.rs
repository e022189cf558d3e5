//! `server validate`: one line per finding naming file, field and value; exit 1 on errors.

use crate::support::{run, tempdir, write};

const METADATA: &str = "version: v1
servers:
- name: github
  teamID: team-a
  tools:
  - name: search_code
    sideEffect: read
  - name: delete_repo
    requiredTrust: high
    sideEffect: destructive
";

const GRANT: &str = "apiVersion: mcpruntime.org/v1alpha1
kind: MCPAccessGrant
metadata:
  name: github-agt-1
  namespace: mcp-servers
spec:
  serverRef:
    name: github
  subject:
    agentID: agt_1
  maxTrust: low
  allowedSideEffects: [read]
  toolRules:
  - name: search_code
    decision: allow
";

const SESSION: &str = "apiVersion: mcpruntime.org/v1alpha1
kind: MCPAgentSession
metadata:
  name: github-agt-1-session
  namespace: mcp-servers
spec:
  serverRef:
    name: github
  subject:
    agentID: agt_1
  consentedTrust: low
  expiresAt: 2099-01-01T00:00:00Z
  grantName: github-agt-1
";

fn project(metadata: &str) -> tempfile::TempDir {
    let dir = tempdir();
    write(dir.path(), ".mcp/servers.yaml", metadata);
    dir
}

/// Runs validate and returns its error lines, asserting exit 1.
fn errors(dir: &tempfile::TempDir, args: &[&str]) -> Vec<String> {
    let mut argv = vec!["server", "validate"];
    argv.extend_from_slice(args);
    let run = run(dir.path(), &argv).fails(1);
    assert!(run.err.starts_with("error: validation failed with "), "{}", run.err);
    run.error_lines().into_iter().map(str::to_string).collect()
}

#[test]
fn clean_inputs_pass() {
    let dir = project(METADATA);
    write(dir.path(), "grant.yaml", GRANT);
    write(dir.path(), "session.yaml", SESSION);
    let out = run(
        dir.path(),
        &["server", "validate", "--grant-file", "grant.yaml", "--session-file", "session.yaml"],
    )
    .ok();
    assert_eq!(out, "checked 3 files (1 server, 1 grant, 1 session): 0 errors, 0 warnings\n");
}

#[test]
fn unknown_side_effect() {
    let dir = project(&METADATA.replace("sideEffect: destructive", "sideEffect: explode"));
    assert_eq!(
        errors(&dir, &[]),
        [
            "error: .mcp/servers.yaml: servers[0].tools[1].sideEffect: unknown variant `explode`, expected one of `read`, `write`, `destructive`"
        ]
    );
}

#[test]
fn duplicate_tool() {
    let dir = project(&METADATA.replace("name: delete_repo", "name: search_code"));
    assert_eq!(
        errors(&dir, &[]),
        ["error: .mcp/servers.yaml: servers[0].tools[1].name: duplicate tool name: \"search_code\""]
    );
}

#[test]
fn missing_side_effect_and_empty_tool_name() {
    let dir =
        project(&METADATA.replace("    sideEffect: read\n", "").replace("name: delete_repo", "name: \"\""));
    assert_eq!(
        errors(&dir, &[]),
        [
            "error: .mcp/servers.yaml: servers[0].tools[0].sideEffect: is required (read, write or destructive)",
            "error: .mcp/servers.yaml: servers[0].tools[1].name: is required",
        ]
    );
}

#[test]
fn unknown_trust_level() {
    let dir = project(&METADATA.replace("requiredTrust: high", "requiredTrust: ultra"));
    assert_eq!(
        errors(&dir, &[]),
        [
            "error: .mcp/servers.yaml: servers[0].tools[1].requiredTrust: unknown variant `ultra`, expected one of `low`, `medium`, `high`"
        ]
    );
    let dir = project(METADATA);
    write(dir.path(), "grant.yaml", &GRANT.replace("maxTrust: low", "maxTrust: root"));
    assert_eq!(
        errors(&dir, &["--grant-file", "grant.yaml"]),
        ["error: grant.yaml: spec.maxTrust: unknown variant `root`, expected one of `low`, `medium`, `high`"]
    );
}

#[test]
fn unknown_risk_level_and_unknown_field() {
    let dir =
        project(&METADATA.replace("requiredTrust: high", "requiredTrust: high\n    riskLevel: extreme"));
    assert_eq!(
        errors(&dir, &[]),
        [
            "error: .mcp/servers.yaml: servers[0].tools[1].riskLevel: unknown variant `extreme`, expected one of `low`, `medium`, `high`"
        ]
    );
    let dir = project(&METADATA.replace("requiredTrust: high", "requiredTrst: high"));
    assert_eq!(
        errors(&dir, &[]),
        ["error: .mcp/servers.yaml: servers[0].tools[1].requiredTrst: unknown field"]
    );
}

#[test]
fn bad_rfc3339_expiry() {
    let dir = project(METADATA);
    write(dir.path(), "session.yaml", &SESSION.replace("2099-01-01T00:00:00Z", "next tuesday"));
    assert_eq!(
        errors(&dir, &["--session-file", "session.yaml"]),
        [
            "error: session.yaml: spec.expiresAt: is not an RFC 3339 timestamp (e.g. 2026-12-01T12:00:00Z): \"next tuesday\""
        ]
    );
}

#[test]
fn grant_rule_naming_a_missing_tool() {
    let dir = project(METADATA);
    write(dir.path(), "grant.yaml", &GRANT.replace("- name: search_code", "- name: drop_tables"));
    assert_eq!(
        errors(&dir, &["--grant-file", "grant.yaml"]),
        [
            "error: grant.yaml: spec.toolRules[0].name: names a tool that server \"github\" does not declare: \"drop_tables\""
        ]
    );
}

#[test]
fn references_to_servers_absent_from_the_metadata() {
    let dir = project(METADATA);
    write(dir.path(), "grant.yaml", &GRANT.replace("name: github\n", "name: gitlab\n"));
    write(dir.path(), "session.yaml", &SESSION.replace("namespace: mcp-servers", "namespace: elsewhere"));
    assert_eq!(
        errors(&dir, &["--grant-file", "grant.yaml", "--session-file", "session.yaml"]),
        [
            "error: grant.yaml: spec.serverRef.name: names a server that is not in the metadata: \"gitlab\"",
            "error: session.yaml: metadata.namespace: server \"github\" is in namespace \"mcp-servers\": \"elsewhere\"",
        ]
    );
}

#[test]
fn wrong_kinds_versions_and_subjects() {
    let dir = project(METADATA);
    let session_in_grant_file = format!("{GRANT}---\n{SESSION}");
    write(dir.path(), "grants.yaml", &session_in_grant_file);
    write(
        dir.path(),
        "sessions.yaml",
        &SESSION.replace("mcpruntime.org/v1alpha1", "mcpruntime.org/v2").replace("agentID: agt_1", "{}"),
    );
    write(
        dir.path(),
        "bad-subject.yaml",
        &SESSION.replace("agentID: agt_1", "{}").replace("  subject:\n    {}", "  subject: {}"),
    );
    assert_eq!(
        errors(
            &dir,
            &[
                "--grant-file",
                "grants.yaml",
                "--session-file",
                "sessions.yaml",
                "--session-file",
                "bad-subject.yaml"
            ]
        ),
        [
            "error: grants.yaml (document 2): kind: expected MCPAccessGrant in a grant file: \"MCPAgentSession\"",
            "error: sessions.yaml: apiVersion: unsupported apiVersion for MCPAgentSession (expected mcpruntime.org/v1alpha1): \"mcpruntime.org/v2\"",
            "error: bad-subject.yaml: spec.subject: needs at least one of humanID, agentID or teamID",
        ]
    );
}

#[test]
fn grant_checks_beyond_tool_names() {
    let dir = project(METADATA);
    let grant = GRANT
        .replace("allowedSideEffects: [read]", "allowedSideEffects: [read, write, read]")
        .replace("decision: allow", "decision: maybe");
    write(dir.path(), "grant.yaml", &grant);
    assert_eq!(
        errors(&dir, &["--grant-file", "grant.yaml"]),
        [
            "error: grant.yaml: spec.toolRules[0].decision: unknown variant `maybe`, expected `allow` or `deny`"
        ]
    );
    let grant = GRANT
        .replace("allowedSideEffects: [read]", "allowedSideEffects: [read, read]")
        .replace("- name: search_code\n    decision: allow", "- name: delete_repo\n    decision: allow");
    write(dir.path(), "grant.yaml", &grant);
    let run = run(dir.path(), &["server", "validate", "--grant-file", "grant.yaml"]).fails(1);
    assert_eq!(
        run.out,
        "error: grant.yaml: spec.allowedSideEffects[1]: duplicate side effect: \"read\"\n\
         warning: grant.yaml: spec.toolRules[0]: allows a destructive tool, but allowedSideEffects does not permit destructive: the rule can never allow it: \"delete_repo\"\n\
         warning: grant.yaml: spec.toolRules[0]: needs high trust, above the grant's maxTrust low: the rule can never allow it: \"delete_repo\"\n\
         checked 2 files (1 server, 1 grant, 0 sessions): 1 error, 2 warnings\n"
    );
}

#[test]
fn warnings_alone_exit_0() {
    let dir = project("version: v1\nservers:\n- name: empty\n");
    write(
        dir.path(),
        "session.yaml",
        &SESSION.replace("name: github\n", "name: empty\n").replace("2099", "2001"),
    );
    let out = run(dir.path(), &["server", "validate", "--session-file", "session.yaml"]).ok();
    assert_eq!(
        out,
        "warning: .mcp/servers.yaml: servers[0].tools: no tools declared: every tool call will be denied\n\
         warning: session.yaml: spec.expiresAt: has passed: the session is expired: \"2001-01-01T00:00:00Z\"\n\
         checked 2 files (1 server, 0 grants, 1 session): 0 errors, 2 warnings\n"
    );
}

#[test]
fn duplicate_servers_and_files_across_the_directory() {
    let dir = project(METADATA);
    write(
        dir.path(),
        ".mcp/more.yml",
        "servers:\n- name: github\n  tools:\n  - {name: t, sideEffect: read}\n",
    );
    write(dir.path(), ".mcp/notes.txt", "ignored");
    assert_eq!(
        errors(&dir, &[]),
        [
            "error: .mcp/servers.yaml: servers[0].name: duplicate server name (first declared in .mcp/more.yml at servers[0]): \"github\""
        ]
    );
}

#[test]
fn syntax_errors_and_missing_inputs() {
    let dir = project("servers: [\n");
    let lines = errors(&dir, &[]);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("error: .mcp/servers.yaml: invalid YAML: "), "{lines:?}");

    let empty = tempdir();
    let run = run(empty.path(), &["server", "validate"]).fails(2);
    assert_eq!(run.err, "error: no server metadata in .mcp (run `mcp-runtime server init` first)\n");
    let run =
        crate::support::run(empty.path(), &["server", "validate", "--metadata-file", "nope.yaml"]).fails(2);
    assert!(run.err.starts_with("error: cannot read nope.yaml: "), "{}", run.err);

    // Without metadata, grant files are still checked on their own.
    write(empty.path(), "grant.yaml", GRANT);
    let out = crate::support::run(empty.path(), &["server", "validate", "--grant-file", "grant.yaml"]).ok();
    assert_eq!(
        out,
        "warning: .mcp: not found: grants and sessions are not checked against server metadata\n\
         checked 1 file (0 servers, 1 grant, 0 sessions): 0 errors, 1 warning\n"
    );
}

#[test]
fn a_metadata_file_instead_of_the_directory() {
    let dir = tempdir();
    write(
        dir.path(),
        "meta/one.yaml",
        &format!("{METADATA}---\nservers:\n- name: second\n  port: 8091\n  tools: [{{name: t}}]\n"),
    );
    assert_eq!(
        errors(&dir, &["--metadata-file", "meta/one.yaml"]),
        [
            "error: meta/one.yaml (document 2): servers[0].gateway.port: must differ from spec.port when the gateway is enabled: \"8091\"",
            "error: meta/one.yaml (document 2): servers[0].tools[0].sideEffect: is required (read, write or destructive)",
        ]
    );
}
