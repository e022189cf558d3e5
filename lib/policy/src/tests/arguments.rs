//! Argument constraint semantics, keyword by keyword.

use mcp_api::ArgumentConstraint;
use serde_json::{Value, json};

use crate::args::CompiledConstraint;

fn check(c: ArgumentConstraint, value: Option<Value>) -> Result<(), String> {
    let compiled = CompiledConstraint::compile(&c).expect("valid constraint");
    compiled.check(value.as_ref()).map_err(|b| b.rule)
}

#[test]
fn const_compares_json_values_numerically() {
    let c = || ArgumentConstraint { const_: Some(json!(5)), ..Default::default() };
    assert_eq!(check(c(), Some(json!(5))), Ok(()));
    assert_eq!(check(c(), Some(json!(5.0))), Ok(()));
    assert_eq!(check(c(), Some(json!("5"))), Err("const: 5".into()));
    let obj = ArgumentConstraint { const_: Some(json!({"a": [1, "x"]})), ..Default::default() };
    assert_eq!(check(obj.clone(), Some(json!({"a": [1.0, "x"]}))), Ok(()));
    assert!(check(obj, Some(json!({"a": [1, "y"]}))).is_err());
}

#[test]
fn enum_lists_allowed_values() {
    let c = || ArgumentConstraint { enum_: Some(vec![json!("EUR"), json!("USD")]), ..Default::default() };
    assert_eq!(check(c(), Some(json!("EUR"))), Ok(()));
    assert_eq!(check(c(), Some(json!("GBP"))), Err("enum: [\"EUR\", \"USD\"]".into()));
    assert!(check(c(), Some(json!(["EUR"]))).is_err());
}

#[test]
fn bounds_are_inclusive_and_need_numbers() {
    let c = || ArgumentConstraint { minimum: Some(1.0), maximum: Some(1000.0), ..Default::default() };
    for ok in [json!(1), json!(1000), json!(999.5)] {
        assert_eq!(check(c(), Some(ok.clone())), Ok(()), "{ok}");
    }
    assert_eq!(check(c(), Some(json!(0.5))), Err("minimum: 1".into()));
    assert_eq!(check(c(), Some(json!(1000.01))), Err("maximum: 1000".into()));
    assert_eq!(check(c(), Some(json!("10"))), Err("minimum: 1 (the argument is not a number)".into()));
    let fractional = ArgumentConstraint { maximum: Some(2.5), ..Default::default() };
    assert_eq!(check(fractional, Some(json!(3))), Err("maximum: 2.5".into()));
}

#[test]
fn pattern_is_unanchored_and_max_length_counts_characters() {
    let p = |re: &str| ArgumentConstraint { pattern: Some(re.into()), ..Default::default() };
    assert_eq!(check(p("ab"), Some(json!("xaby"))), Ok(()));
    assert_eq!(check(p("^ab$"), Some(json!("xaby"))), Err("pattern: ^ab$".into()));
    assert_eq!(check(p("^ab$"), Some(json!(12))), Err("pattern: ^ab$ (the argument is not a string)".into()));
    let len = || ArgumentConstraint { max_length: Some(3), ..Default::default() };
    assert_eq!(check(len(), Some(json!("äöü"))), Ok(()));
    assert_eq!(check(len(), Some(json!("abcd"))), Err("maxLength: 3".into()));
}

#[test]
fn constrained_arguments_must_be_present() {
    let c = ArgumentConstraint { max_length: Some(3), ..Default::default() };
    assert!(check(c, None).expect_err("missing").starts_with("required"));
}

#[test]
fn unusable_constraints_do_not_compile() {
    for bad in [
        ArgumentConstraint::default(),
        ArgumentConstraint { enum_: Some(vec![]), ..Default::default() },
        ArgumentConstraint { pattern: Some("(".into()), ..Default::default() },
        ArgumentConstraint { minimum: Some(5.0), maximum: Some(1.0), ..Default::default() },
        ArgumentConstraint { maximum: Some(f64::NAN), ..Default::default() },
    ] {
        assert!(CompiledConstraint::compile(&bad).is_err(), "{bad:?}");
    }
}
