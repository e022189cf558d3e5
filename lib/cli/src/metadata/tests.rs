use mcp_api::{DefaultingOptions, Scope, SideEffect, ToolConfig, default_server, validate_server};

use super::*;

fn server(name: &str) -> ServerMetadata {
    ServerMetadata {
        name: name.to_string(),
        tools: vec![ToolConfig {
            name: "search".to_string(),
            side_effect: Some(SideEffect::Read),
            ..ToolConfig::default()
        }],
        ..ServerMetadata::default()
    }
}

#[test]
fn default_images_follow_the_scope() {
    assert_eq!(default_image("gh", Scope::Tenant), "registry.local/gh");
    assert_eq!(default_image("gh", Scope::Org), "registry.local/org/gh");
    assert_eq!(default_image("gh", Scope::Public), "registry.local/public/gh");
}

#[test]
fn namespaces_follow_the_scope_unless_given() {
    let mut s = server("gh");
    assert_eq!(s.namespace(), "mcp-servers");
    s.scope = Some(Scope::Public);
    assert_eq!(s.namespace(), "mcp-servers-public");
    assert_eq!(s.spec().image, "registry.local/public/gh");
    s.namespace = Some("team-a".to_string());
    assert_eq!(s.namespace(), "team-a");
}

#[test]
fn the_route_is_carried_by_the_prefix() {
    let mut s = server("gh");
    assert_eq!(s.spec().public_path_prefix.as_deref(), Some("gh"));
    s.route = Some("/github/mcp".to_string());
    assert_eq!(s.spec().public_path_prefix.as_deref(), Some("github"));
    s.route = Some("/custom".to_string());
    let spec = s.spec();
    assert_eq!((spec.public_path_prefix, spec.ingress_path.as_deref()), (None, Some("/custom")));
}

#[test]
fn a_route_that_disagrees_with_the_prefix_is_an_error() {
    let mut s = server("gh");
    s.public_path_prefix = Some("gh".to_string());
    s.route = Some("/other/mcp".to_string());
    let problems = s.check("servers[0]");
    assert!(problems.iter().any(|(is_error, p)| *is_error && p.field == "servers[0].route"), "{problems:?}");
}

#[test]
fn names_must_be_dns_labels() {
    let problems = server("Git Hub").check("servers[3]");
    assert!(problems.iter().any(|(e, p)| *e && p.field == "servers[3].name"), "{problems:?}");
}

#[test]
fn a_clean_entry_becomes_a_valid_server() {
    let s = server("gh");
    assert_eq!(s.check("servers[0]"), []);
    let object = s.to_server();
    assert_eq!(object.metadata.name.as_deref(), Some("gh"));
    assert_eq!(object.metadata.namespace.as_deref(), Some("mcp-servers"));
    let defaulted = default_server("gh", &object.spec, &DefaultingOptions::default());
    assert!(validate_server(&defaulted, "spec").is_valid());
}

#[test]
fn versions_other_than_v1_are_refused() {
    let value: serde_json::Value = mcp_api::yaml::from_str("version: v2\nservers: []\n").expect("yaml");
    let err = decode_doc(&value).expect_err("v2 is not supported");
    assert_eq!(err.field, "version");
    let value: serde_json::Value = mcp_api::yaml::from_str("servers: []\n").expect("yaml");
    assert!(decode_doc(&value).is_ok());
}
