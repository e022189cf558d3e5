//! The `mcp-platform` binary: configuration errors, `migrate`, `admin create`, `keys rotate`.

use std::io::Write;
use std::process::{Command, Stdio};

fn bin(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mcp-platform"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PLATFORM_DATA_DIR", dir)
        .env("RUST_LOG", "warn");
    c
}

#[test]
fn a_bad_setting_is_one_line_naming_the_variable_and_exit_64() {
    let dir = tempfile::tempdir().expect("dir");
    let out = bin(dir.path()).env("PLATFORM_ACCESS_TOKEN_TTL_SECS", "5").arg("serve").output().expect("run");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("PLATFORM_ACCESS_TOKEN_TTL_SECS"), "{err}");
}

#[test]
fn migrate_is_idempotent_admin_create_and_keys_rotate_work() {
    let dir = tempfile::tempdir().expect("dir");
    let first = bin(dir.path()).arg("migrate").output().expect("run");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied migrations [1, 2, 3, 4]"));
    let second = bin(dir.path()).arg("migrate").output().expect("run");
    assert!(String::from_utf8_lossy(&second.stdout).contains("schema up to date at version 4"), "{second:?}");

    let mut child = bin(dir.path())
        .args(["admin", "create", "--email", "Root@Example.org"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"root-password-1\n").expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created administrator root@example.org"));
    // Again: the account exists, it is made administrator and its password replaced.
    let again = bin(dir.path())
        .args(["admin", "create", "--email", "root@example.org"])
        .env("MCP_PLATFORM_ADMIN_PASSWORD", "another-password")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&again.stdout).contains("exists"), "{again:?}");
    let short = bin(dir.path())
        .args(["admin", "create", "--email", "x@example.org"])
        .env("MCP_PLATFORM_ADMIN_PASSWORD", "short")
        .output()
        .expect("run");
    assert!(!short.status.success());

    let keys = dir.path().join("signing-keys.json");
    let before: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&keys).expect("keys")).expect("json");
    assert_eq!(before["keys"].as_array().map(Vec::len), Some(1));
    let rotated = bin(dir.path()).args(["keys", "rotate"]).output().expect("run");
    assert!(rotated.status.success(), "{rotated:?}");
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&keys).expect("keys")).expect("json");
    let list = after["keys"].as_array().expect("keys");
    assert_eq!(list.len(), 2);
    assert!(list[0]["retire_at"].is_i64() && list[1].get("retire_at").is_none());
    assert!(list[1]["sign_from"].as_i64() > list[0]["sign_from"].as_i64());
}
