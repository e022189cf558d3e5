//! Tool pins as the gateways report them: every gateway serves its pins at
//! `GET /config/status` on its admin port (`tool_pins: {name: {pinned, current, drifted}}`).
//! Parsing one report and merging several into `MCPServer.status` pins is pure; reading them
//! from the pods is the operator's (`mcp_operator::pins`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::status::Pins;

/// One gateway's report: (pinned hash, drifted) by tool name.
pub type Report = BTreeMap<String, (String, bool)>;

/// Parses the `tool_pins` of a gateway's `/config/status` body.
pub fn parse_report(body: &Value) -> Option<Report> {
    let pins = body.get("tool_pins")?.as_object()?;
    Some(
        pins.iter()
            .filter_map(|(name, pin)| {
                let pinned = pin.get("pinned")?.as_str()?.to_string();
                let drifted = pin.get("drifted").and_then(Value::as_bool).unwrap_or(false);
                Some((name.clone(), (pinned, drifted)))
            })
            .collect(),
    )
}

/// Merges the reports of several gateways: a tool is drifted when any gateway says so, or when
/// gateways pinned different definitions (the replicas serve different tools).
pub fn merge(reports: &[Report]) -> Pins {
    if reports.is_empty() {
        return Pins::Unknown;
    }
    let mut pinned: BTreeMap<String, String> = BTreeMap::new();
    let mut drifted = std::collections::BTreeSet::new();
    for report in reports {
        for (name, (hash, drift)) in report {
            match pinned.get(name) {
                Some(existing) if existing != hash => {
                    drifted.insert(name.clone());
                }
                Some(_) => {}
                None => {
                    pinned.insert(name.clone(), hash.clone());
                }
            }
            if *drift {
                drifted.insert(name.clone());
            }
        }
    }
    Pins::Reported { pinned, drifted: drifted.into_iter().collect() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reports_merge_into_pins_and_drift() {
        let a = parse_report(&json!({"tool_pins": {
            "echo": {"pinned": "sha256:e", "current": "sha256:e", "drifted": false},
            "add": {"pinned": "sha256:a", "current": "sha256:b", "drifted": true},
        }}))
        .expect("report");
        let b = parse_report(&json!({"tool_pins": {"echo": {"pinned": "sha256:other", "drifted": false}}}))
            .expect("report");
        assert_eq!(merge(&[]), Pins::Unknown);
        assert_eq!(
            merge(std::slice::from_ref(&a)),
            Pins::Reported {
                pinned: [("add".into(), "sha256:a".into()), ("echo".into(), "sha256:e".into())].into(),
                drifted: vec!["add".into()],
            }
        );
        let Pins::Reported { drifted, .. } = merge(&[a, b]) else { panic!("reported") };
        assert_eq!(drifted, ["add", "echo"], "replicas disagreeing on a definition is drift");
        assert_eq!(parse_report(&json!({"ready": true})), None);
    }
}
