use base64::Engine as _;
use serde_json::{Value, json};

use super::*;

fn review_of(kind: &str, object: Value) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "mcpruntime.org", "version": "v1alpha1", "kind": kind},
            "resource": {"group": "mcpruntime.org", "version": "v1alpha1", "resource": format!("{}s", kind.to_lowercase())},
            "name": object["metadata"]["name"], "namespace": "mcp-servers", "operation": "CREATE",
            "userInfo": {"username": "alice"}, "object": object, "dryRun": false,
        },
    })
    .to_string()
    .into_bytes()
}

fn defaults() -> DefaultingOptions {
    DefaultingOptions { default_ingress_host: Some("mcp.example.com".into()), default_ingress_class: None }
}

fn server(spec: Value) -> Value {
    json!({"apiVersion": "mcpruntime.org/v1alpha1", "kind": "MCPServer", "metadata": {"name": "notes"}, "spec": spec})
}

#[test]
fn servers_are_validated_after_defaulting() {
    let ok = review(
        VALIDATE_SERVER_PATH,
        &review_of(
            "MCPServer",
            server(json!({"image": "notes", "tools": [{"name": "a", "sideEffect": "read"}]})),
        ),
        &defaults(),
    );
    assert!(ok.allowed);
    assert_eq!(ok.review["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(ok.review["kind"], "AdmissionReview");

    let bad = review(
        VALIDATE_SERVER_PATH,
        &review_of("MCPServer", server(json!({"image": "", "port": 8091}))),
        &defaults(),
    );
    assert!(!bad.allowed);
    let message = bad.review["response"]["status"]["message"].as_str().expect("message");
    assert!(message.starts_with("invalid MCPServer: "), "{message}");
    assert!(
        message.contains("spec.image: is required") && message.contains("spec.gateway.port"),
        "{message}"
    );
    assert_eq!(
        bad.review["response"]["warnings"][0],
        "spec.tools: no tools declared: every tool call will be denied"
    );

    let wrong_type =
        review(VALIDATE_SERVER_PATH, &review_of("MCPServer", server(json!({"image": 3}))), &defaults());
    assert!(!wrong_type.allowed);
}

#[test]
fn defaulting_patches_the_spec() {
    let answer =
        review(MUTATE_SERVER_PATH, &review_of("MCPServer", server(json!({"image": "notes"}))), &defaults());
    assert!(answer.allowed);
    assert_eq!(answer.review["response"]["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(answer.review["response"]["patch"].as_str().expect("patch"))
        .expect("base64");
    let patch: Value = serde_json::from_slice(&patch).expect("json patch");
    assert_eq!(patch[0]["op"], "replace");
    assert_eq!(patch[0]["path"], "/spec");
    assert_eq!(patch[0]["value"]["ingressHost"], "mcp.example.com");
    assert_eq!(patch[0]["value"]["publicPathPrefix"], "notes");
    assert_eq!(patch[0]["value"]["gateway"]["enabled"], true);

    // An already defaulted spec needs no patch.
    let defaulted = patch[0]["value"].clone();
    let again = review(MUTATE_SERVER_PATH, &review_of("MCPServer", server(defaulted)), &defaults());
    assert!(again.allowed && again.review["response"].get("patch").is_none());
    // Garbage is left to validation.
    let garbage =
        review(MUTATE_SERVER_PATH, &review_of("MCPServer", server(json!({"image": 3}))), &defaults());
    assert!(garbage.allowed);
}

#[test]
fn upstream_servers_are_defaulted_without_an_app_and_validated() {
    let remote = json!({"upstream": {"url": "https://mcp.example.net/mcp"}, "tools": [{"name": "a", "sideEffect": "read"}]});
    let answer = review(MUTATE_SERVER_PATH, &review_of("MCPServer", server(remote.clone())), &defaults());
    let patch = base64::engine::general_purpose::STANDARD
        .decode(answer.review["response"]["patch"].as_str().expect("patch"))
        .expect("base64");
    let patch: Value = serde_json::from_slice(&patch).expect("json patch");
    let spec = &patch[0]["value"];
    for app_only in ["image", "imageTag", "port", "resources"] {
        assert!(spec.get(app_only).is_none(), "{app_only} was invented: {spec}");
    }
    assert!(spec["gateway"].get("upstreamURL").is_none(), "{spec}");
    let defaulted = spec.clone();
    let ok = review(VALIDATE_SERVER_PATH, &review_of("MCPServer", server(defaulted)), &defaults());
    assert!(ok.allowed, "{}", ok.review);
    assert!(ok.review["response"].get("warnings").is_none(), "{}", ok.review);

    let mut both = remote;
    both["image"] = json!("notes");
    both["envVars"] = json!([{"name": "A", "value": "1"}]);
    let bad = review(VALIDATE_SERVER_PATH, &review_of("MCPServer", server(both)), &defaults());
    assert!(!bad.allowed);
    let message = bad.review["response"]["status"]["message"].as_str().expect("message");
    assert!(message.contains("spec.upstream: cannot be combined with spec.image"), "{message}");
    assert!(message.contains("spec.envVars: cannot be combined with spec.upstream"), "{message}");
}

#[test]
fn grants_warn_and_sessions_deny() {
    let grant = json!({"metadata": {"name": "g"}, "spec": {"serverRef": {"name": "notes"}, "allowedSideEffects": ["read"]}});
    let answer = review(VALIDATE_GRANT_PATH, &review_of("MCPAccessGrant", grant), &defaults());
    assert!(answer.allowed);
    assert!(
        answer.review["response"]["warnings"][0]
            .as_str()
            .expect("warning")
            .starts_with("spec.subject: is empty")
    );

    let session =
        json!({"metadata": {"name": "s"}, "spec": {"serverRef": {"name": "notes"}, "expiresAt": "tomorrow"}});
    let answer = review(VALIDATE_SESSION_PATH, &review_of("MCPAgentSession", session), &defaults());
    assert!(!answer.allowed);
    let message = answer.review["response"]["status"]["message"].as_str().expect("message");
    assert!(message.contains("spec.subject") && message.contains("spec.expiresAt"), "{message}");
}

#[test]
fn deletions_garbage_and_unknown_paths() {
    let mut body: Value =
        serde_json::from_slice(&review_of("MCPServer", server(json!({"image": ""})))).expect("json");
    body["request"]["operation"] = json!("DELETE");
    let answer = review(VALIDATE_SERVER_PATH, body.to_string().as_bytes(), &defaults());
    assert!(answer.allowed, "deletions are always admitted");

    let garbage = review(VALIDATE_SERVER_PATH, b"not json", &defaults());
    assert!(!garbage.allowed);
    assert_eq!(garbage.review["response"]["uid"], "");

    let unknown = review(
        "/validate-something-else",
        &review_of("MCPServer", server(json!({"image": "x"}))),
        &defaults(),
    );
    assert!(!unknown.allowed);
    assert_eq!(unknown.kind, ReviewKind::Unknown);
}
