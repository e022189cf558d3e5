//! Value parsers shared by several commands: lib/api enums, `name:…` tool specs, durations
//! and timestamps. Each returns a one-line reason that clap prints after the flag name.

use std::str::FromStr;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use jiff::{SignedDuration, Span, SpanRelativeTo, Timestamp};
use mcp_api::{PolicyDecision, RiskLevel, SideEffect, TrustLevel, UnknownValue, parse_rfc3339};

/// A parser for a lib/api string enum that lists its values in `--help` and in errors.
pub(crate) fn enum_parser<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr<Err = UnknownValue> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(names).try_map(|s| s.parse::<T>())
}

/// `--tool-spec name:trust:sideEffect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ToolSpec {
    pub name: String,
    pub trust: TrustLevel,
    pub side_effect: SideEffect,
}

/// `--tool-risk name:risk`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ToolRisk {
    pub name: String,
    pub risk: RiskLevel,
}

/// `--tool-rule name:allow|deny[:trust]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ToolRuleArg {
    pub name: String,
    pub decision: PolicyDecision,
    pub trust: Option<TrustLevel>,
}

/// A tool name: not blank, no `:` (it separates the parts of the flags above).
pub(crate) fn parse_tool_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    if name.is_empty() {
        return Err("a tool name must not be empty".to_string());
    }
    if name.contains(':') {
        return Err("a tool name must not contain ':'".to_string());
    }
    Ok(name.to_string())
}

fn part<T: FromStr<Err = UnknownValue>>(what: &str, s: &str) -> Result<T, String> {
    s.trim().parse::<T>().map_err(|e| format!("{what}: {e}"))
}

pub(crate) fn parse_tool_spec(s: &str) -> Result<ToolSpec, String> {
    let usage = "expected NAME:TRUST:SIDE_EFFECT, e.g. search:low:read";
    match s.split(':').collect::<Vec<_>>()[..] {
        [name, trust, effect] => Ok(ToolSpec {
            name: parse_tool_name(name)?,
            trust: part("trust level", trust)?,
            side_effect: part("side effect", effect)?,
        }),
        _ => Err(usage.to_string()),
    }
}

pub(crate) fn parse_tool_risk(s: &str) -> Result<ToolRisk, String> {
    match s.split(':').collect::<Vec<_>>()[..] {
        [name, risk] => Ok(ToolRisk { name: parse_tool_name(name)?, risk: part("risk level", risk)? }),
        _ => Err("expected NAME:RISK, e.g. delete_repo:high".to_string()),
    }
}

pub(crate) fn parse_tool_rule(s: &str) -> Result<ToolRuleArg, String> {
    let (name, decision, trust) = match s.split(':').collect::<Vec<_>>()[..] {
        [name, decision] => (name, decision, None),
        [name, decision, trust] => (name, decision, Some(part("trust level", trust)?)),
        _ => return Err("expected NAME:allow|deny[:TRUST], e.g. delete_repo:deny".to_string()),
    };
    Ok(ToolRuleArg { name: parse_tool_name(name)?, decision: part("decision", decision)?, trust })
}

/// `--tool-arg TOOL:ARG:KEYWORD=VALUE`: one argument constraint on a tool's allow rule.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ToolArgArg {
    pub tool: String,
    pub argument: String,
    pub constraint: mcp_api::ArgumentConstraint,
}

/// A JSON value, or the text itself when it is not JSON (`EUR` → `"EUR"`, `5` → `5`).
fn json_or_text(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|_| serde_json::Value::String(s.trim().to_string()))
}

pub(crate) fn parse_tool_arg(s: &str) -> Result<ToolArgArg, String> {
    let usage = "expected TOOL:ARG:KEYWORD=VALUE with KEYWORD one of const, enum, pattern, minimum, \
maximum, maxLength, e.g. transfer:amount:maximum=1000 or transfer:currency:enum=EUR,USD";
    let mut parts = s.splitn(3, ':');
    let (Some(tool), Some(argument), Some(rule)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(usage.to_string());
    };
    let Some((keyword, value)) = rule.split_once('=') else {
        return Err(usage.to_string());
    };
    let argument = argument.trim();
    if argument.is_empty() {
        return Err("the argument name must not be empty".to_string());
    }
    let number =
        |v: &str| v.trim().parse::<f64>().map_err(|_| format!("{keyword} needs a number, got {v:?}"));
    let mut constraint = mcp_api::ArgumentConstraint::default();
    match keyword.trim() {
        "const" => constraint.const_ = Some(json_or_text(value)),
        "enum" => constraint.enum_ = Some(value.split(',').map(json_or_text).collect()),
        "pattern" => constraint.pattern = Some(value.to_string()),
        "minimum" => constraint.minimum = Some(number(value)?),
        "maximum" => constraint.maximum = Some(number(value)?),
        "maxLength" => {
            constraint.max_length = Some(
                value.trim().parse().map_err(|_| format!("maxLength needs a whole number, got {value:?}"))?,
            )
        }
        other => return Err(format!("unknown keyword {other:?}; {usage}")),
    }
    Ok(ToolArgArg { tool: parse_tool_name(tool)?, argument: argument.to_string(), constraint })
}

/// A positive duration such as `4h`, `30m`, `7d` or `1h30m` (jiff's friendly format, or ISO
/// 8601 `PT4H`); a day is 24 hours.
pub(crate) fn parse_duration(s: &str) -> Result<SignedDuration, String> {
    let span: Span = s.trim().parse().map_err(|e| format!("not a duration such as 4h, 30m or 7d ({e})"))?;
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("use units of weeks or smaller ({e})"))?;
    if duration.is_zero() || duration.is_negative() {
        return Err("must be positive".to_string());
    }
    Ok(duration)
}

/// An RFC 3339 timestamp, kept as written once it parses.
pub(crate) fn parse_timestamp(s: &str) -> Result<String, String> {
    match parse_rfc3339(s) {
        Ok(_) => Ok(s.trim().to_string()),
        Err(e) => Err(format!("not an RFC 3339 timestamp such as 2026-12-01T12:00:00Z ({e})")),
    }
}

/// `now + duration`, to the second, as RFC 3339 in UTC.
pub(crate) fn expiry_after(now: Timestamp, duration: SignedDuration) -> Result<String, String> {
    let at = now.checked_add(duration).map_err(|e| format!("the expiry is out of range ({e})"))?;
    let seconds = Timestamp::from_second(at.as_second()).map_err(|e| e.to_string())?;
    Ok(seconds.to_string())
}

#[cfg(test)]
mod tests;
