//! Argument constraints: a JSON-Schema subset checked against a tool call's arguments.

use mcp_api::ArgumentConstraint;
use regex::Regex;
use serde_json::Value;

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
            if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { n.to_string() }
        },
    )
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
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
            let Some(n) = value.as_f64() else {
                let rule = match (s.minimum, s.maximum) {
                    (Some(min), _) => format!("minimum: {}", num(min)),
                    (None, Some(max)) => format!("maximum: {}", num(max)),
                    (None, None) => String::new(),
                };
                return broken(format!("{rule} (the argument is not a number)"));
            };
            if let Some(min) = s.minimum.filter(|min| n < *min) {
                return broken(format!("minimum: {}", num(min)));
            }
            if let Some(max) = s.maximum.filter(|max| n > *max) {
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
