use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStatus};
use k8s_openapi::api::networking::v1::{
    IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

fn at(second: i64) -> Time {
    Time(jiff::Timestamp::from_second(1_800_000_000 + second).expect("timestamp"))
}

fn ready() -> Readiness {
    Readiness::new(true, "Ok", "ok")
}

fn waiting() -> Readiness {
    Readiness::new(false, "Waiting", "waiting")
}

fn observed(deployment: Readiness) -> Observed {
    Observed {
        deployment,
        canary: None,
        service: ready(),
        ingress: Ok(ready()),
        policy_revision: Some(Some("sha256:1".into())),
        pins: Some(Pins::Unknown),
        url: Some("http://mcp.example.com/a/mcp".into()),
    }
}

#[test]
fn phases_follow_the_required_objects() {
    let s = compute(None, Some(1), &observed(ready()), &at(0));
    assert_eq!((s.phase, s.message.as_deref()), (Some(Phase::Ready), Some("all objects are ready")));
    assert!(s.deployment_ready && s.gateway_ready && s.policy_ready && !s.canary_ready);
    assert_eq!(s.policy_revision.as_deref(), Some("sha256:1"));
    let types: Vec<&str> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(
        types,
        ["DeploymentReady", "ServiceReady", "IngressReady", "GatewayReady", "PolicyReady", "ToolsPinned"]
    );

    let s = compute(None, Some(1), &observed(waiting()), &at(0));
    assert_eq!(s.phase, Some(Phase::PartiallyReady));
    assert_eq!(s.message.as_deref(), Some("waiting for: Deployment, Gateway"));

    let mut nothing = observed(waiting());
    nothing.service = waiting();
    nothing.ingress = Ok(waiting());
    nothing.policy_revision = Some(None);
    let s = compute(None, Some(1), &nothing, &at(0));
    assert_eq!(s.phase, Some(Phase::Pending));

    let mut canary = observed(ready());
    canary.canary = Some(waiting());
    let s = compute(None, Some(1), &canary, &at(0));
    assert_eq!((s.phase, s.canary_ready), (Some(Phase::PartiallyReady), false));
}

#[test]
fn a_route_conflict_is_an_error_naming_the_owner() {
    let mut o = observed(ready());
    o.ingress = Err("route mcp.example.com/a/mcp is owned by MCPServer ns/older".into());
    let s = compute(None, Some(1), &o, &at(0));
    assert_eq!(s.phase, Some(Phase::Error));
    assert!(s.message.as_deref().is_some_and(|m| m.contains("ns/older")));
    let c = s.conditions.iter().find(|c| c.type_ == "IngressReady").expect("condition");
    assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "RouteConflict"));
}

#[test]
fn transition_times_move_only_when_a_status_changes() {
    let first = compute(None, Some(1), &observed(waiting()), &at(0));
    let same = compute(Some(&first), Some(1), &observed(waiting()), &at(30));
    assert_eq!(first, same, "an unchanged observation gives an identical status");
    let later = compute(Some(&same), Some(2), &observed(ready()), &at(60));
    let time = |s: &MCPServerStatus, t: &str| {
        s.conditions.iter().find(|c| c.type_ == t).map(|c| c.last_transition_time.clone()).expect("condition")
    };
    assert_eq!(time(&later, "DeploymentReady"), at(60));
    assert_eq!(time(&later, "ServiceReady"), at(0));
    assert!(later.conditions.iter().all(|c| c.observed_generation == Some(2)));
}

#[test]
fn tool_pins_report_drift() {
    let mut o = observed(ready());
    o.pins = Some(Pins::Reported {
        pinned: [("echo".to_string(), "sha256:e".to_string())].into(),
        drifted: vec!["echo".into()],
    });
    let s = compute(None, Some(1), &o, &at(0));
    let c = s.conditions.iter().find(|c| c.type_ == "ToolsPinned").expect("condition");
    assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "ToolDefinitionChanged"));
    assert_eq!(s.tool_pins["echo"], "sha256:e");
    assert_eq!(s.phase, Some(Phase::Ready), "drift is reported, not a readiness failure");
    // While no gateway reports, the last pins are kept.
    let later = compute(Some(&s), Some(1), &observed(ready()), &at(5));
    assert_eq!(later.tool_pins["echo"], "sha256:e");
}

#[test]
fn failures_keep_the_last_observation() {
    let ok = compute(None, Some(1), &observed(ready()), &at(0));
    let f = failed(Some(&ok), Some(2), "invalid spec: spec.image: is required");
    assert_eq!(f.phase, Some(Phase::Error));
    assert_eq!(f.message.as_deref(), Some("invalid spec: spec.image: is required"));
    assert_eq!((f.observed_generation, f.conditions.len()), (Some(2), ok.conditions.len()));
}

#[test]
fn object_readiness() {
    let mut d = Deployment {
        metadata: ObjectMeta { generation: Some(2), ..ObjectMeta::default() },
        spec: Some(DeploymentSpec { replicas: Some(2), ..DeploymentSpec::default() }),
        status: Some(DeploymentStatus {
            ready_replicas: Some(2),
            observed_generation: Some(1),
            ..Default::default()
        }),
    };
    assert!(!deployment_readiness(Some(&d)).ready, "the status describes an older spec");
    d.status.as_mut().expect("status").observed_generation = Some(2);
    assert!(deployment_readiness(Some(&d)).ready);
    assert!(!deployment_readiness(None).ready);

    assert!(service_readiness(Some("10.96.0.1")).ready);
    assert!(!service_readiness(None).ready);

    let mut ingress = Ingress {
        spec: Some(k8s_openapi::api::networking::v1::IngressSpec {
            rules: Some(vec![Default::default()]),
            ..Default::default()
        }),
        ..Ingress::default()
    };
    assert!(!ingress_readiness(Some(&ingress), IngressReadiness::Strict).ready);
    assert!(ingress_readiness(Some(&ingress), IngressReadiness::Permissive).ready);
    ingress.status = Some(IngressStatus {
        load_balancer: Some(IngressLoadBalancerStatus {
            ingress: Some(vec![IngressLoadBalancerIngress {
                ip: Some("10.0.0.1".into()),
                ..Default::default()
            }]),
        }),
    });
    assert!(ingress_readiness(Some(&ingress), IngressReadiness::Strict).ready);
}
