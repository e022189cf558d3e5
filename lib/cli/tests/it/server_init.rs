//! `server init`: what it writes, how it merges, and that a failure writes nothing.

use std::fs;

use crate::support::{files, read, run, tempdir, write};

#[test]
fn writes_a_complete_entry() {
    let dir = tempdir();
    let out = run(
        dir.path(),
        &[
            "server",
            "init",
            "github",
            "--tool",
            "search_code",
            "--tool-spec",
            "delete_repo:high:destructive",
            "--tool-risk",
            "delete_repo:high",
            "--team-id",
            "team-a",
            "--scope",
            "org",
        ],
    )
    .ok();
    assert_eq!(out, "added server \"github\" in .mcp/servers.yaml\n");
    insta::assert_snapshot!(read(dir.path(), ".mcp/servers.yaml"), @r"
    version: v1
    servers:
    - name: github
      teamID: team-a
      scope: org
      namespace: mcp-servers-org
      image: registry.local/org/github
      imageTag: latest
      port: 8088
      route: /github/mcp
      publicPathPrefix: github
      tools:
      - name: search_code
        requiredTrust: low
        sideEffect: read
      - name: delete_repo
        requiredTrust: high
        sideEffect: destructive
        riskLevel: high
      auth:
        mode: platform-session
      policy:
        mode: allow-list
        defaultDecision: deny
      session:
        required: true
      gateway:
        enabled: true
    ");
}

#[test]
fn the_name_defaults_to_the_directory_and_flags_are_honoured() {
    let dir = tempdir();
    let project = dir.path().join("My Server");
    fs::create_dir(&project).expect("mkdir");
    let run = run(
        &project,
        &[
            "server",
            "init",
            "--session-required=false",
            "--image",
            "ghcr.io/acme/tool:1.2",
            "--port",
            "9000",
            "--policy-mode",
            "observe",
            "--auth-mode",
            "trusted-headers",
            "--namespace",
            "team-a",
        ],
    );
    assert!(
        run.err.contains("warning: .mcp/servers.yaml: servers[0].tools: no tools declared"),
        "{}",
        run.err
    );
    assert_eq!(run.ok(), "added server \"my-server\" in .mcp/servers.yaml\n");
    let text = read(&project, ".mcp/servers.yaml");
    for line in [
        "- name: my-server",
        "  namespace: team-a",
        "  image: ghcr.io/acme/tool:1.2",
        "  port: 9000",
        "  route: /my-server/mcp",
        "    mode: observe",
        "    mode: trusted-headers",
        "    required: false",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("imageTag"), "{text}");
}

#[test]
fn a_second_init_of_the_same_name_fails_without_force() {
    let dir = tempdir();
    run(dir.path(), &["server", "init", "gh", "--tool", "a"]).ok();
    let before = read(dir.path(), ".mcp/servers.yaml");
    let failed = run(dir.path(), &["server", "init", "gh", "--tool", "b"]).fails(2);
    assert_eq!(
        failed.err,
        "error: server \"gh\" already exists in .mcp/servers.yaml (use --force to replace it)\n"
    );
    assert_eq!(read(dir.path(), ".mcp/servers.yaml"), before);
}

#[test]
fn a_different_name_is_appended() {
    let dir = tempdir();
    run(dir.path(), &["server", "init", "one", "--tool", "a"]).ok();
    run(dir.path(), &["server", "init", "two", "--tool", "b"]).ok();
    let text = read(dir.path(), ".mcp/servers.yaml");
    let names: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("- name: ")).collect();
    assert_eq!(names, ["one", "two"]);
    assert_eq!(text.matches("version: v1").count(), 1);
}

#[test]
fn force_replaces_in_place_and_keeps_everything_else() {
    let dir = tempdir();
    // Another file, a server after the one replaced, and a field this version does not model.
    write(
        dir.path(),
        ".mcp/servers.yaml",
        "version: v1\nservers:\n- name: gh\n  tools:\n  - {name: a, sideEffect: read}\n- name: after\n  tools:\n  - {name: z, sideEffect: read}\n  futureField: kept\n",
    );
    write(
        dir.path(),
        ".mcp/extra.yaml",
        "servers:\n- name: other\n  tools:\n  - {name: o, sideEffect: write}\n",
    );
    let extra_before = read(dir.path(), ".mcp/extra.yaml");

    let out = run(dir.path(), &["server", "init", "gh", "--tool", "b", "--force"]).ok();
    assert_eq!(out, "replaced server \"gh\" in .mcp/servers.yaml\n");
    let text = read(dir.path(), ".mcp/servers.yaml");
    let names: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("- name: ")).collect();
    assert_eq!(names, ["gh", "after"], "{text}");
    assert!(text.contains("  - name: b\n") && !text.contains("name: a\n"), "{text}");
    assert!(text.contains("futureField: kept"), "{text}");
    assert_eq!(read(dir.path(), ".mcp/extra.yaml"), extra_before);

    // A server that lives in another file is replaced there.
    let out = run(dir.path(), &["server", "init", "other", "--tool", "p", "--force"]).ok();
    assert_eq!(out, "replaced server \"other\" in .mcp/extra.yaml\n");
    assert!(read(dir.path(), ".mcp/extra.yaml").contains("name: p"));
    let failed = run(dir.path(), &["server", "init", "other"]).fails(2);
    assert!(failed.err.contains("already exists in .mcp/extra.yaml"), "{}", failed.err);
}

#[test]
fn invalid_input_writes_nothing() {
    let dir = tempdir();
    run(dir.path(), &["server", "init", "gh", "--tool", "a"]).ok();
    let before = read(dir.path(), ".mcp/servers.yaml");

    // Duplicate tool: a validation finding, exit 1, file untouched.
    let failed =
        run(dir.path(), &["server", "init", "dup", "--tool", "x", "--tool-spec", "x:high:write"]).fails(1);
    assert_eq!(
        failed.err,
        "error: .mcp/servers.yaml: servers[1].tools[1].name: duplicate tool name: \"x\"\n\
         error: server \"dup\": 1 error (nothing written)\n"
    );
    let failed = run(dir.path(), &["server", "init", "gh", "--force", "--team-id", "bad team"]).fails(1);
    assert!(
        failed.err.contains("servers[0].teamID: must not contain whitespace: \"bad team\""),
        "{}",
        failed.err
    );
    // Usage errors.
    run(dir.path(), &["server", "init", "Bad_Name"]).fails(2);
    let failed = run(dir.path(), &["server", "init", "x", "--tool-risk", "nope:high"]).fails(2);
    assert!(failed.err.contains("names a tool not declared"), "{}", failed.err);
    let failed = run(dir.path(), &["server", "init", "x", "--image", "a/b:1", "--tag", "2"]).fails(2);
    assert!(failed.err.contains("already names a tag or digest"), "{}", failed.err);

    assert_eq!(read(dir.path(), ".mcp/servers.yaml"), before);
    assert_eq!(files(dir.path()), [".mcp/servers.yaml"]);
}

#[test]
fn a_broken_metadata_file_stops_init() {
    let dir = tempdir();
    write(
        dir.path(),
        ".mcp/servers.yaml",
        "servers:\n- name: a\n  tools:\n  - {name: t, sideEffect: explode}\n",
    );
    let failed = run(dir.path(), &["server", "init", "b"]).fails(2);
    assert_eq!(
        failed.err,
        "error: .mcp/servers.yaml: servers[0].tools[0].sideEffect: unknown variant `explode`, expected one of `read`, `write`, `destructive`\n"
    );
    write(dir.path(), ".mcp/servers.yaml", "servers: [\n");
    let failed = run(dir.path(), &["server", "init", "b"]).fails(2);
    assert!(failed.err.starts_with("error: .mcp/servers.yaml: invalid YAML: "), "{}", failed.err);
}

#[test]
fn a_failed_write_leaves_no_temporary_file() {
    let dir = tempdir();
    // servers.yaml is a directory: the rename fails.
    fs::create_dir_all(dir.path().join(".mcp/servers.yaml")).expect("mkdir");
    let failed = run(dir.path(), &["server", "init", "gh", "--tool", "a"]).fails(2);
    assert!(failed.err.starts_with("error: cannot write .mcp/servers.yaml: "), "{}", failed.err);
    let left: Vec<String> = fs::read_dir(dir.path().join(".mcp"))
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["servers.yaml"]);
}

#[test]
fn a_route_already_served_is_refused() {
    let dir = tempdir();
    write(
        dir.path(),
        ".mcp/servers.yaml",
        "servers:\n- name: legacy\n  publicPathPrefix: gh\n  tools:\n  - {name: t, sideEffect: read}\n",
    );
    let failed = run(dir.path(), &["server", "init", "gh", "--tool", "a"]).fails(1);
    assert!(
        failed.err.contains("error: .mcp/servers.yaml: servers[1].route: route already served by server \"legacy\": \"/gh/mcp\""),
        "{}",
        failed.err
    );
}

#[test]
fn session_required_takes_an_optional_value() {
    let dir = tempdir();
    let d = dir.path();
    run(d, &["server", "init", "a", "--tool", "t", "--session-required", "false"]).ok();
    run(d, &["server", "init", "b", "--tool", "t", "--session-required"]).ok();
    run(d, &["server", "init", "c", "--tool", "t", "--session-required=false"]).ok();
    let text = read(d, ".mcp/servers.yaml");
    let required: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("    required: ")).collect();
    assert_eq!(required, ["false", "true", "false"]);
    // A name after the bare flag is not mistaken for its value silently.
    let failed = run(d, &["server", "init", "--session-required", "d"]).fails(2);
    assert!(failed.err.contains("invalid value 'd' for '--session-required"), "{}", failed.err);
}
