use super::*;

#[test]
fn tool_specs() {
    assert_eq!(
        parse_tool_spec("delete_repo:high:destructive"),
        Ok(ToolSpec {
            name: "delete_repo".into(),
            trust: TrustLevel::High,
            side_effect: SideEffect::Destructive
        })
    );
    let err = parse_tool_spec("x:low:explode").expect_err("bad side effect");
    assert_eq!(err, "side effect: unknown value \"explode\" (expected one of: read, write, destructive)");
    assert!(parse_tool_spec("x:low").is_err());
    assert!(parse_tool_spec(":low:read").is_err());
}

#[test]
fn tool_rules_and_risks() {
    assert_eq!(
        parse_tool_rule("a:deny"),
        Ok(ToolRuleArg { name: "a".into(), decision: PolicyDecision::Deny, trust: None })
    );
    assert_eq!(
        parse_tool_rule("a:allow:medium"),
        Ok(ToolRuleArg {
            name: "a".into(),
            decision: PolicyDecision::Allow,
            trust: Some(TrustLevel::Medium)
        })
    );
    assert!(parse_tool_rule("a:maybe").is_err());
    assert!(parse_tool_rule("a").is_err());
    assert_eq!(parse_tool_risk("a:high"), Ok(ToolRisk { name: "a".into(), risk: RiskLevel::High }));
    assert!(parse_tool_risk("a:extreme").is_err());
}

#[test]
fn durations() {
    assert_eq!(parse_duration("4h"), Ok(SignedDuration::from_hours(4)));
    assert_eq!(parse_duration("30m"), Ok(SignedDuration::from_mins(30)));
    assert_eq!(parse_duration("7d"), Ok(SignedDuration::from_hours(7 * 24)));
    assert_eq!(parse_duration("1h30m"), Ok(SignedDuration::from_mins(90)));
    assert_eq!(parse_duration("PT2H"), Ok(SignedDuration::from_hours(2)));
    assert!(parse_duration("0s").is_err());
    assert!(parse_duration("-1h").is_err());
    assert!(parse_duration("soon").is_err());
    assert!(parse_duration("1 month").is_err());
}

#[test]
fn expiries_are_whole_seconds_in_utc() {
    let now: Timestamp = "2026-01-01T10:00:00.75Z".parse().expect("timestamp");
    assert_eq!(expiry_after(now, SignedDuration::from_hours(4)), Ok("2026-01-01T14:00:00Z".to_string()));
}

#[test]
fn timestamps() {
    assert_eq!(parse_timestamp("2026-12-01T12:00:00Z"), Ok("2026-12-01T12:00:00Z".to_string()));
    assert!(parse_timestamp("2026-12-01T12:00:00+02:00").is_ok());
    assert!(parse_timestamp("tomorrow").is_err());
    assert!(parse_timestamp("2026-12-01").is_err());
}
