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

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON number")
}

/// Before: bounds compared through `f64`, so 2^53 + 1 passed a maximum of 2^53.
#[test]
fn integer_bounds_compare_exactly_beyond_two_pow_53() {
    let max = || ArgumentConstraint { maximum: Some(9_007_199_254_740_992.0), ..Default::default() };
    assert_eq!(check(max(), Some(parse("9007199254740992"))), Ok(()));
    assert_eq!(check(max(), Some(parse("9007199254740993"))), Err("maximum: 9007199254740992".into()));
    assert!(check(max(), Some(json!(u64::MAX))).is_err());
    assert!(check(max(), Some(parse("18446744073709551616"))).is_err());
    assert!(check(max(), Some(parse("1e308"))).is_err());
    assert_eq!(check(max(), Some(json!(i64::MIN))), Ok(()));

    let min = || ArgumentConstraint { minimum: Some(-9_007_199_254_740_992.0), ..Default::default() };
    assert_eq!(check(min(), Some(parse("-9007199254740992"))), Ok(()));
    assert_eq!(check(min(), Some(parse("-9007199254740993"))), Err("minimum: -9007199254740992".into()));
    assert!(check(min(), Some(json!(i64::MIN))).is_err());
    assert!(check(min(), Some(parse("-1e308"))).is_err());
    assert_eq!(check(min(), Some(json!(u64::MAX))), Ok(()));

    // Integers against fractional bounds, on both sides of zero.
    let frac = || ArgumentConstraint { minimum: Some(-2.5), maximum: Some(2.5), ..Default::default() };
    for (v, ok) in [(-3, false), (-2, true), (0, true), (2, true), (3, false)] {
        assert_eq!(check(frac(), Some(json!(v))).is_ok(), ok, "{v}");
    }
    let max_zero = ArgumentConstraint { maximum: Some(0.0), ..Default::default() };
    assert_eq!(check(max_zero.clone(), Some(parse("-0"))), Ok(()));
    assert_eq!(check(max_zero.clone(), Some(parse("-0.0"))), Ok(()));
    assert!(check(max_zero, Some(parse("5e-324"))).is_err());
}

/// Decimals are the `f64` serde_json reads, which is also what the app receives.
#[test]
fn decimal_bounds_compare_the_parsed_value() {
    let max = || ArgumentConstraint { maximum: Some(0.1), ..Default::default() };
    assert_eq!(check(max(), Some(parse("0.1"))), Ok(()));
    assert_eq!(check(max(), Some(parse("0.1000000000000000055511151231257827"))), Ok(()));
    assert!(check(max(), Some(parse("0.10000000000000002"))).is_err());
    assert!(check(max(), Some(parse("0.30000000000000004"))).is_err());
    assert!(check(max(), Some(json!(1))).is_err());
    let min = ArgumentConstraint { minimum: Some(1000.0), ..Default::default() };
    assert!(check(min.clone(), Some(parse("999.99999999999999999"))).is_ok(), "parses to 1000.0");
    assert!(check(min, Some(parse("999.9999999999999"))).is_err());
}

/// Before: `const`/`enum` compared through `f64`, so 2^53 + 1 equalled 2^53.
#[test]
fn const_and_enum_compare_numbers_exactly() {
    let c = |v: Value| ArgumentConstraint { const_: Some(v), ..Default::default() };
    assert!(check(c(json!(9_007_199_254_740_992u64)), Some(parse("9007199254740993"))).is_err());
    assert_eq!(check(c(json!(9_007_199_254_740_993u64)), Some(parse("9007199254740993"))), Ok(()));
    assert!(check(c(json!(u64::MAX)), Some(parse("18446744073709551616"))).is_err());
    assert!(check(c(json!(u64::MAX - 1)), Some(json!(u64::MAX))).is_err());
    // -2^63 - 1 is read as the `f64` -2^63 (forwarded as such), which is exactly `i64::MIN`.
    assert_eq!(check(c(json!(i64::MIN)), Some(parse("-9223372036854775809"))), Ok(()));
    assert!(check(c(json!(i64::MIN + 1)), Some(parse("-9223372036854775809"))).is_err());
    assert_eq!(check(c(json!(i64::MIN)), Some(json!(i64::MIN))), Ok(()));
    assert_eq!(check(c(json!(1)), Some(parse("1e0"))), Ok(()));
    assert_eq!(check(c(json!(1)), Some(parse("1.0"))), Ok(()));
    assert!(check(c(json!(1)), Some(parse("1.0000000000000002"))).is_err());
    assert_eq!(check(c(json!(0.1)), Some(parse("0.1"))), Ok(()));
    assert!(check(c(json!(-1)), Some(json!(u64::MAX))).is_err());
    let e = ArgumentConstraint {
        enum_: Some(vec![json!(9_007_199_254_740_992u64), json!(1)]),
        ..Default::default()
    };
    assert!(check(e.clone(), Some(parse("9007199254740993"))).is_err());
    assert_eq!(check(e, Some(parse("9007199254740992.0"))), Ok(()));
    let nested = c(json!({"ids": [9_007_199_254_740_992u64]}));
    assert!(check(nested, Some(json!({"ids": [9_007_199_254_740_993u64]}))).is_err());
}

/// A bound an `f64` cannot hold exactly is refused when the policy loads.
#[test]
fn bounds_beyond_two_pow_53_do_not_compile() {
    for bound in [9_007_199_254_740_994.0, -9_007_199_254_740_994.0, 1e19, f64::MAX] {
        let c = ArgumentConstraint { maximum: Some(bound), ..Default::default() };
        let err = CompiledConstraint::compile(&c).expect_err("inexact bound");
        assert!(err.contains("2^53"), "{err}");
    }
    let edge = ArgumentConstraint { minimum: Some(-9_007_199_254_740_992.0), ..Default::default() };
    assert!(CompiledConstraint::compile(&edge).is_ok());
}
