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
fn unknown_fields_are_reported_but_empty_ones_are_not() {
    let value = one("name: x\nitems:\n- sideEffect: read\n  nots: 1\n");
    let (_, unknown) = decode::<Doc>(&value).expect("decodes");
    assert_eq!(unknown, [Problem::new("items[0].nots", "unknown field", None)]);
    let value = one("name: x\nitems: []\nlabels: {}\nextra: ~\n");
    assert_eq!(decode::<Doc>(&value).expect("decodes").1, []);
    let value = one("name: x\nlabels: {a: one, b.c/d: two}\n");
    assert_eq!(decode::<Doc>(&value).expect("decodes").1, []);
}

#[test]
fn merge_keys_and_anchors_are_resolved() {
    let value = one("base: &b {sideEffect: read}\nname: x\nitems:\n- <<: *b\n  note: hi\n");
    let Value::Object(mut map) = value else { panic!("not a mapping") };
    map.remove("base");
    let (doc, unknown) = decode::<Doc>(&Value::Object(map)).expect("decodes");
    assert_eq!(unknown, []);
    assert_eq!(doc.items[0].note.as_deref(), Some("hi"));
}

#[test]
fn joining_paths() {
    assert_eq!(join("", "a"), "a");
    assert_eq!(join("a", ""), "a");
    assert_eq!(join("a", "b"), "a.b");
    assert_eq!(join("a", "[0].b"), "a[0].b");
}
