use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Doc {
    name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    items: Vec<Item>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Item {
    side_effect: mcp_api::SideEffect,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

fn one(text: &str) -> Value {
    let docs = parse_documents(text).expect("valid YAML");
    assert_eq!(docs.len(), 1, "{text}");
    docs.into_iter().next().map(|d| d.value).unwrap_or_default()
}

#[test]
fn documents_keep_their_position_and_skip_empty_ones() {
    let docs = parse_documents("---\na: 1\n---\n---\nb: 2\n").expect("valid YAML");
    let indexes: Vec<usize> = docs.iter().map(|d| d.index).collect();
    assert_eq!(indexes, [0, 2]);
    assert!(parse_documents("").expect("valid YAML").is_empty());
}

#[test]
fn syntax_errors_carry_a_position() {
    let err = parse_documents("a: 1\n---\nb: [\n").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("line"), "{err}");
}

#[test]
fn decode_errors_name_the_field_once() {
    let value = one("name: x\nitems:\n- sideEffect: read\n- sideEffect: explode\n");
    let err = decode::<Doc>(&value).err();
    assert_eq!(
        err,
        Some(Problem::new(
            "items[1].sideEffect",
            "unknown variant `explode`, expected one of `read`, `write`, `destructive`",
            None
        ))
    );
}

#[test]
fn unknown_fields_are_rejected_but_empty_ones_are_not() {
    let value = one("name: x\nitems:\n- sideEffect: read\n  nots: 1\n");
    assert_eq!(decode::<Doc>(&value).err().map(|p| p.field), Some("items[0].nots".to_string()));
    let value = one("name: x\nitems: []\nlabels: {}\nextra: ~\n");
    assert!(decode::<Doc>(&value).is_ok());
    let value = one("name: x\nlabels: {1: one, true: yes}\n");
    assert!(decode::<Doc>(&value).is_ok());
}

#[test]
fn merge_keys_and_anchors_are_resolved() {
    let value = one("base: &b {sideEffect: read}\nname: x\nitems:\n- <<: *b\n  note: hi\n");
    let Value::Mapping(mut map) = value else { panic!("not a mapping") };
    map.remove("base");
    let doc: Result<Doc, _> = decode(&Value::Mapping(map));
    assert_eq!(doc.ok().map(|d| d.items[0].note.clone()), Some(Some("hi".to_string())));
}

#[test]
fn joining_paths() {
    assert_eq!(join("", "a"), "a");
    assert_eq!(join("a", ""), "a");
    assert_eq!(join("a", "b"), "a.b");
    assert_eq!(join("a", "[0].b"), "a[0].b");
}
