//! Argument constraints: a JSON-Schema subset checked against a tool call's arguments.
//!
//! Numbers compare exactly, never through a lossy `f64` cast: an integer argument (`i64` or
//! `u64`, as serde_json reads it) is compared with a bound or a `const`/`enum` value by its
//! exact mathematical value, so `9007199254740993` exceeds a maximum of `9007199254740992`.
//! Decimal arguments are `f64` (serde_json without `arbitrary_precision`), and the gateway
//! forwards its own re-serialization of the body, so the app receives exactly the `f64` that
//! was judged. Bounds are `f64` in the resources; a bound beyond ±2^53, where an `f64` no
//! longer holds every integer, is refused when the policy loads.

use std::cmp::Ordering;

use mcp_api::ArgumentConstraint;
use regex::Regex;
use serde_json::{Number, Value};

/// 2^53: every integer up to this magnitude is exact as an `f64`.
const EXACT_F64_LIMIT: f64 = 9_007_199_254_740_992.0;
/// 2^63 and 2^64 as `f64` (exact).
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// Compares an unsigned integer with a finite `f64` exactly.
fn cmp_u64_f64(u: u64, f: f64) -> Ordering {
    if f < 0.0 {
        return Ordering::Greater;
    }
    if f >= TWO_POW_64 {
        return Ordering::Less;
    }
    // 0 <= f < 2^64: its integral part converts to u64 exactly.
    let whole = f.trunc();
    match u.cmp(&(whole as u64)) {
        Ordering::Equal if f > whole => Ordering::Less,
        other => other,
    }
}

/// Compares a signed integer with a finite `f64` exactly.
fn cmp_i64_f64(i: i64, f: f64) -> Ordering {
    if i >= 0 {
        return cmp_u64_f64(i.unsigned_abs(), f);
    }
    if f >= 0.0 {
        return Ordering::Less;
    }
    if f < -TWO_POW_63 {
        return Ordering::Greater;
    }
    // -2^63 <= f < 0: its integral part converts to i64 exactly.
    let whole = f.trunc();
    match i.cmp(&(whole as i64)) {
        Ordering::Equal if f < whole => Ordering::Greater,
        other => other,
    }
}

/// Compares a JSON number with a finite `f64` exactly (`None` only for a NaN, which JSON
/// cannot express).
fn cmp_number_f64(n: &Number, f: f64) -> Option<Ordering> {
    if let Some(u) = n.as_u64() {
        Some(cmp_u64_f64(u, f))
    } else if let Some(i) = n.as_i64() {
        Some(cmp_i64_f64(i, f))
    } else {
        n.as_f64()?.partial_cmp(&f)
    }
}

/// Compares two JSON numbers exactly.
fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        (Some(_), None) => cmp_number_f64(a, b.as_f64()?),
        (None, Some(_)) => cmp_number_f64(b, a.as_f64()?).map(Ordering::reverse),
        (None, None) => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// A constraint ready to check: the pattern is compiled once, when the policy loads.
#[derive(Clone, Debug)]
pub(crate) struct CompiledConstraint {
    spec: ArgumentConstraint,
    pattern: Option<Regex>,
}

/// Which rule an argument broke, as `keyword: value` (e.g. `maximum: 1000`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Broken {
    pub rule: String,
}

fn num(v: f64) -> String {
    serde_json::Number::from_f64(v).map_or_else(
        || v.to_string(),
        |n| {
            // Print whole numbers without a fraction, as they were most likely written.
            if v.fract() == 0.0 && v.abs() <= EXACT_F64_LIMIT {
                format!("{}", v as i64)
            } else {
                n.to_string()
            }
        },
    )
}

/// JSON equality where numbers compare by exact value (`1` equals `1.0`, `9007199254740993`
/// does not equal `9007199254740992`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

impl CompiledConstraint {
    /// Compiles a constraint, or says why it cannot be used.
    pub(crate) fn compile(spec: &ArgumentConstraint) -> Result<CompiledConstraint, String> {
        if spec.is_empty() {
            return Err("needs at least one of const, enum, pattern, minimum, maximum, maxLength".into());
        }
        if spec.enum_.as_ref().is_some_and(Vec::is_empty) {
            return Err("enum must list at least one value".into());
        }
        for bound in [spec.minimum, spec.maximum].into_iter().flatten() {
            if !bound.is_finite() {
                return Err(format!("bound {bound} is not a finite number"));
            }
            if bound.abs() > EXACT_F64_LIMIT {
                return Err(format!(
                    "bound {} is beyond ±2^53 (9007199254740992), where numbers are not exact",
                    num(bound)
                ));
            }
        }
        if let (Some(min), Some(max)) = (spec.minimum, spec.maximum)
            && min > max
        {
            return Err(format!("minimum {} exceeds maximum {}", num(min), num(max)));
        }
        let pattern = match &spec.pattern {
            Some(p) => Some(
                Regex::new(p).map_err(|e| format!("pattern {p:?} is not a valid regular expression: {e}"))?,
            ),
            None => None,
        };
        Ok(CompiledConstraint { spec: spec.clone(), pattern })
    }

    /// Checks one argument value (`None` when the call omitted it: a constrained argument must
    /// be present).
    pub(crate) fn check(&self, value: Option<&Value>) -> Result<(), Broken> {
        let broken = |rule: String| Err(Broken { rule });
        let Some(value) = value else {
            return broken("required: the argument is constrained and must be present".into());
        };
        let s = &self.spec;
        if let Some(expected) = &s.const_
            && !json_eq(value, expected)
        {
            return broken(format!("const: {expected}"));
        }
        if let Some(options) = &s.enum_
            && !options.iter().any(|o| json_eq(value, o))
        {
            let shown: Vec<String> = options.iter().map(Value::to_string).collect();
            return broken(format!("enum: [{}]", shown.join(", ")));
        }
        if s.minimum.is_some() || s.maximum.is_some() {
            let Value::Number(n) = value else {
                let rule = match (s.minimum, s.maximum) {
                    (Some(min), _) => format!("minimum: {}", num(min)),
                    (None, Some(max)) => format!("maximum: {}", num(max)),
                    (None, None) => String::new(),
                };
                return broken(format!("{rule} (the argument is not a number)"));
            };
            // An incomparable number (none exists in JSON) breaks the bound: fail closed.
            if let Some(min) = s.minimum.filter(|min| cmp_number_f64(n, *min).is_none_or(Ordering::is_lt)) {
                return broken(format!("minimum: {}", num(min)));
            }
            if let Some(max) = s.maximum.filter(|max| cmp_number_f64(n, *max).is_none_or(Ordering::is_gt)) {
                return broken(format!("maximum: {}", num(max)));
            }
        }
        if s.pattern.is_some() || s.max_length.is_some() {
            let Some(text) = value.as_str() else {
                let rule = match (&s.pattern, s.max_length) {
                    (Some(p), _) => format!("pattern: {p}"),
                    (None, Some(n)) => format!("maxLength: {n}"),
                    (None, None) => String::new(),
                };
                return broken(format!("{rule} (the argument is not a string)"));
            };
            if let (Some(re), Some(p)) = (&self.pattern, &s.pattern)
                && !re.is_match(text)
            {
                return broken(format!("pattern: {p}"));
            }
            if let Some(max) = s.max_length
                && text.chars().count() as u64 > max
            {
                return broken(format!("maxLength: {max}"));
            }
        }
        Ok(())
    }
}
