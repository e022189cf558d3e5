use std::fs;

use super::*;

fn value(text: &str) -> Value {
    mcp_api::yaml::from_str(text).expect("valid YAML")
}

const GRANT: &str = "apiVersion: mcpruntime.org/v1alpha1
kind: MCPAccessGrant
metadata: {name: g1, namespace: mcp-servers}
spec:
  serverRef: {name: gh}
  subject: {agentID: agt_1}
  allowedSideEffects: [read]
";

const SESSION: &str = "apiVersion: mcpruntime.org/v1alpha1
kind: MCPAgentSession
metadata: {name: s1}
spec:
  serverRef: {name: gh}
  subject: {agentID: agt_1}
  expiresAt: 2030-01-01T00:00:00Z
";

const SERVER: &str = "apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: gh}
spec:
  image: registry.local/gh
";

fn problem(text: &str) -> Problem {
    decode_objects(&value(text)).err().unwrap_or_else(|| Problem::new("", "decoded", None))
}

#[test]
fn each_kind_decodes() {
    for (text, kind) in [(GRANT, "MCPAccessGrant"), (SESSION, "MCPAgentSession"), (SERVER, "MCPServer")] {
        let objects = decode_objects(&value(text)).expect("decodes");
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].1.kind(), kind);
        assert!(objects[0].2.is_empty());
    }
}

#[test]
fn lists_are_expanded_with_item_paths() {
    let text = format!(
        "apiVersion: v1\nkind: List\nitems:\n- {}\n- {}\n",
        serde_json::to_string(&value(GRANT)).expect("json"),
        serde_json::to_string(&value(SESSION)).expect("json")
    );
    let objects = decode_objects(&value(&text)).expect("decodes");
    let paths: Vec<&str> = objects.iter().map(|o| o.0.as_str()).collect();
    assert_eq!(paths, ["items[0]", "items[1]"]);
    let bad = text.replace("\"read\"", "\"explode\"");
    assert_eq!(problem(&bad).field, "items[0].spec.allowedSideEffects[0]");
}

#[test]
fn unknown_kinds_and_versions_are_refused() {
    let p = problem(&GRANT.replace("kind: MCPAccessGrant", "kind: ConfigMap"));
    assert_eq!((p.field.as_str(), p.value.as_deref()), ("kind", Some("ConfigMap")));
    let p = problem(&GRANT.replace("mcpruntime.org/v1alpha1", "mcpruntime.org/v1"));
    assert_eq!((p.field.as_str(), p.value.as_deref()), ("apiVersion", Some("mcpruntime.org/v1")));
    let p = problem(&GRANT.replace("kind: MCPAccessGrant\n", ""));
    assert_eq!((p.field.as_str(), p.message.as_str()), ("kind", "is required"));
    let p = problem("- a\n- b\n");
    assert_eq!(p.field, "");
}

#[test]
fn names_are_required_and_checked() {
    let p = problem(&GRANT.replace("name: g1, ", ""));
    assert_eq!((p.field.as_str(), p.message.as_str()), ("metadata.name", "is required"));
    let p = problem(&GRANT.replace("name: g1", "name: G_1"));
    assert_eq!((p.field.as_str(), p.value.as_deref()), ("metadata.name", Some("G_1")));
}

#[test]
fn load_manifests_reads_mixed_files_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("a.yaml"), format!("{GRANT}---\n{SESSION}---\n{SERVER}")).expect("write");
    fs::write(dir.path().join("b.yaml"), format!("~\n---\n{GRANT}").replace("g1", "g2")).expect("write");
    let paths = [PathBuf::from("a.yaml"), PathBuf::from("b.yaml")];
    let m = load_manifests_in(dir.path(), &paths).expect("loads");
    let grants: Vec<(String, usize, Option<&str>)> = m
        .grants
        .iter()
        .map(|g| (g.file.display().to_string(), g.index, g.object.metadata.name.as_deref()))
        .collect();
    assert_eq!(grants, [("a.yaml".into(), 0, Some("g1")), ("b.yaml".into(), 1, Some("g2"))]);
    assert_eq!((m.sessions.len(), m.servers.len()), (1, 1));
    assert_eq!(m.sessions[0].index, 1);
    assert_eq!(m.servers[0].index, 2);
    assert!(!m.is_empty());
}

#[test]
fn load_manifests_names_file_document_field_and_value() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = SESSION.replace("expiresAt: 2030-01-01T00:00:00Z", "consentedTrust: ultra");
    fs::write(dir.path().join("s.yaml"), format!("{GRANT}---\n{bad}")).expect("write");
    let err = load_manifests_in(dir.path(), &[PathBuf::from("s.yaml")]).expect_err("bad trust");
    assert_eq!(
        err.to_string(),
        "s.yaml (document 2): spec.consentedTrust: unknown variant `ultra`, expected one of `low`, `medium`, `high`"
    );
    assert_eq!(err.exit_code(), 2);

    fs::write(dir.path().join("u.yaml"), GRANT.replace("subject:", "subjekt: {agentID: x}\n  subject:"))
        .expect("write");
    let err = load_manifests_in(dir.path(), &[PathBuf::from("u.yaml")]).expect_err("unknown field");
    assert_eq!(err.to_string(), "u.yaml: spec.subjekt: unknown field");

    let err = load_manifests_in(dir.path(), &[PathBuf::from("missing.yaml")]).expect_err("missing");
    assert!(err.to_string().starts_with("cannot read missing.yaml"), "{err}");

    fs::write(dir.path().join("y.yaml"), "a: [\n").expect("write");
    let err = load_manifests_in(dir.path(), &[PathBuf::from("y.yaml")]).expect_err("syntax");
    assert_eq!(err.to_string(), "y.yaml: invalid YAML");
}
