//! Defaulting and validation tests: one test per validation rule of the reference (§2.2) plus
//! ours.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::*;

fn spec() -> MCPServerSpec {
    MCPServerSpec {
        image: "registry.local/echo".into(),
        tools: vec![ToolConfig {
            name: "echo".into(),
            side_effect: Some(SideEffect::Read),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn defaulted(s: &MCPServerSpec) -> MCPServerSpec {
    default_server("echo", s, &DefaultingOptions::default())
}

/// Validates after defaulting and returns the error lines.
fn errors(s: &MCPServerSpec) -> Vec<String> {
    validate_server(&defaulted(s), "spec").errors.iter().map(ToString::to_string).collect()
}

fn assert_error(s: &MCPServerSpec, expected: &str) {
    let errs = errors(s);
    assert!(errs.iter().any(|e| e.contains(expected)), "expected {expected:?} in {errs:#?}");
}

#[test]
fn a_minimal_spec_is_valid_and_fully_defaulted() {
    let d = defaulted(&spec());
    assert!(validate_server(&d, "spec").is_valid(), "{:?}", validate_server(&d, "spec"));
    assert_eq!(d.image_tag.as_deref(), Some("latest"));
    assert_eq!((d.replicas, d.port, d.service_port), (Some(1), Some(8088), Some(80)));
    assert_eq!(d.public_path_prefix.as_deref(), Some("echo"));
    assert_eq!(d.ingress_path.as_deref(), Some("/echo/mcp"));
    assert_eq!(d.ingress_class.as_deref(), Some("traefik"));
    let gw = d.gateway.as_ref().expect("gateway");
    assert_eq!((gw.enabled, gw.port), (Some(true), Some(8091)));
    assert_eq!(gw.upstream_url.as_deref(), Some("http://127.0.0.1:8088"));
    assert_eq!(d.auth_mode(), AuthMode::PlatformSession);
    let policy = d.policy.as_ref().expect("policy");
    assert_eq!(policy.mode, Some(PolicyMode::AllowList));
    assert_eq!(policy.default_decision, Some(PolicyDecision::Deny));
    assert_eq!(policy.filter_discovery, Some(true));
    assert_eq!(policy.on_tool_drift, Some(ToolDriftAction::Report));
    assert_eq!(d.session.as_ref().and_then(|s| s.required), Some(false));
    assert_eq!(d.analytics.as_ref().and_then(|a| a.source.clone()).as_deref(), Some("echo-gateway"));
    let r = d.resources.as_ref().and_then(|r| r.requests.clone()).expect("requests");
    assert_eq!((r.cpu.as_deref(), r.memory.as_deref()), (Some("50m"), Some("64Mi")));
    assert_eq!(d.tools[0].required_trust, Some(TrustLevel::Low));
    assert_eq!(defaulted(&d), d, "defaulting is idempotent");
}

#[test]
fn image_tag_is_not_added_to_tagged_or_digested_images() {
    for image in ["registry.local:5000/echo:v1", "echo@sha256:abc", "localhost:5000/team/echo:2"] {
        let mut s = spec();
        s.image = image.into();
        assert_eq!(defaulted(&s).image_tag, None, "{image}");
    }
    let mut s = spec();
    s.image = "localhost:5000/echo".into();
    assert_eq!(defaulted(&s).image_tag.as_deref(), Some("latest"));
}

#[test]
fn operator_default_host_applies_only_without_host_and_prefix() {
    let opts =
        DefaultingOptions { default_ingress_host: Some("mcp.example.com".into()), ..Default::default() };
    let d = default_server("echo", &spec(), &opts);
    assert_eq!(d.ingress_host.as_deref(), Some("mcp.example.com"));
    let mut s = spec();
    s.public_path_prefix = Some("tools/echo".into());
    let d = default_server("echo", &s, &opts);
    assert_eq!(d.ingress_host, None);
    assert_eq!(d.ingress_path.as_deref(), Some("/tools/echo/mcp"));
}

// Rule 1: image required; teamID bounded, no whitespace.
#[test]
fn rule_1_image_and_team_id() {
    let mut s = spec();
    s.image = " ".into();
    assert_error(&s, "spec.image: is required");
    for bad in [" team", "team a", "team\t", &"x".repeat(129)] {
        let mut s = spec();
        s.team_id = Some(bad.to_string());
        assert!(errors(&s).iter().any(|e| e.starts_with("spec.teamID")), "{bad:?}");
    }
    let mut s = spec();
    s.team_id = Some("x".repeat(128));
    assert!(errors(&s).is_empty());
}

// Rule 2: prefix needs a non-slash character; without a prefix, path and host are both needed.
#[test]
fn rule_2_route() {
    let mut s = spec();
    s.public_path_prefix = Some("//".into());
    assert_error(&s, "spec.publicPathPrefix: must contain a character other than '/'");

    let mut s = defaulted(&spec());
    s.public_path_prefix = None;
    s.ingress_path = Some("/echo/mcp".into());
    let errs: Vec<String> = validate_server(&s, "spec").errors.iter().map(ToString::to_string).collect();
    assert!(
        errs.iter().any(|e| e.contains("spec.ingressHost") && e.contains("MCP_DEFAULT_INGRESS_HOST")),
        "{errs:?}"
    );
    s.ingress_host = Some("mcp.example.com".into());
    assert!(validate_server(&s, "spec").is_valid());
    s.ingress_path = None;
    assert!(!validate_server(&s, "spec").is_valid());
}

// Rule 3: gateway port differs from the app port.
#[test]
fn rule_3_gateway_port() {
    let mut s = spec();
    s.port = Some(8091);
    assert_error(&s, "spec.gateway.port: must differ from spec.port");
    // Neither may take the gateway's admin port (same pod, same network namespace).
    s.port = Some(9103);
    assert_error(&s, "spec.port: must not be 9103: the gateway's admin port");
    s.port = None;
    s.gateway = Some(GatewayConfig { port: Some(9103), ..Default::default() });
    assert_error(&s, "spec.gateway.port: must not be 9103: the gateway's admin port");
    s.gateway = Some(GatewayConfig { enabled: Some(false), ..Default::default() });
    s.port = Some(9103);
    assert!(errors(&s).is_empty(), "without the gateway the app may use it: {:?}", errors(&s));
}

// Rule 4: oauth needs an issuer.
#[test]
fn rule_4_oauth_issuer() {
    let mut s = spec();
    s.auth = Some(AuthConfig { mode: Some(AuthMode::Oauth), ..Default::default() });
    assert_error(&s, "spec.auth.issuerURL: is required when auth.mode is oauth");
    s.auth = Some(AuthConfig {
        mode: Some(AuthMode::Oauth),
        issuer_url: Some("https://issuer.example.com".into()),
        ..Default::default()
    });
    assert!(errors(&s).is_empty());
}

// Rule 5 (ours, replacing the reference's mtls rule): an identity mode needs the gateway.
#[test]
fn rule_5_auth_mode_requires_gateway() {
    let mut s = spec();
    s.gateway = Some(GatewayConfig { enabled: Some(false), ..Default::default() });
    s.auth = Some(AuthConfig { mode: Some(AuthMode::TrustedHeaders), ..Default::default() });
    assert_error(&s, "spec.auth.mode: requires the gateway");
}

// Rule 6: analytics settings without the gateway are forbidden unless disabled.
#[test]
fn rule_6_analytics_without_gateway() {
    let mut s = spec();
    s.gateway = Some(GatewayConfig { enabled: Some(false), ..Default::default() });
    s.analytics = Some(AnalyticsConfig { ingest_url: Some("http://ingest".into()), ..Default::default() });
    assert_error(&s, "spec.analytics: is forbidden when the gateway is disabled");
    s.analytics.as_mut().expect("analytics").disabled = Some(true);
    assert!(errors(&s).is_empty());
}

// Rule 7: canary needs canaryReplicas in (0, replicas).
#[test]
fn rule_7_canary() {
    let canary = |replicas: Option<i32>, canary: Option<i32>| {
        let mut s = spec();
        s.replicas = replicas;
        s.rollout = Some(RolloutConfig {
            strategy: Some(RolloutStrategy::Canary),
            canary_replicas: canary,
            ..Default::default()
        });
        validate_server(&s, "spec").errors.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    assert!(canary(Some(3), None).iter().any(|e| e.contains("canaryReplicas: must be greater than 0")));
    assert!(canary(None, Some(1)).iter().any(|e| e.contains("spec.replicas: is required for the Canary")));
    assert!(canary(Some(2), Some(2)).iter().any(|e| e.contains("must be less than replicas (2)")));
    let ok = canary(Some(3), Some(1));
    assert!(!ok.iter().any(|e| e.contains("canary") || e.contains("replicas")), "{ok:?}");
}

// Rule 8: maxUnavailable / maxSurge are non-negative integers or integer percentages.
#[test]
fn rule_8_rollout_bounds() {
    for (value, ok) in [
        (IntOrString::Int(0), true),
        (IntOrString::Int(-1), false),
        (IntOrString::String("25%".into()), true),
        (IntOrString::String("3".into()), true),
        (IntOrString::String("2.5%".into()), false),
        (IntOrString::String("%".into()), false),
        (IntOrString::String("-5%".into()), false),
    ] {
        let mut s = spec();
        s.rollout = Some(RolloutConfig { max_surge: Some(value.clone()), ..Default::default() });
        let errs = errors(&s);
        assert_eq!(errs.is_empty(), ok, "{value:?}: {errs:?}");
        if !ok {
            assert!(errs[0].starts_with("spec.rollout.maxSurge: must be a non-negative integer"));
        }
    }
}

// Rule 9: tools need a name and side effect and are unique; secret references are complete.
#[test]
fn rule_9_tools_and_secret_refs() {
    let mut s = spec();
    s.tools.push(ToolConfig {
        name: "echo".into(),
        side_effect: Some(SideEffect::Read),
        ..Default::default()
    });
    s.tools.push(ToolConfig { name: "".into(), side_effect: Some(SideEffect::Read), ..Default::default() });
    s.tools.push(ToolConfig { name: "wipe".into(), ..Default::default() });
    let errs = errors(&s);
    assert!(errs.contains(&"spec.tools[1].name: duplicate tool name: \"echo\"".to_string()), "{errs:?}");
    assert!(errs.contains(&"spec.tools[2].name: is required".to_string()), "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("spec.tools[3].sideEffect: is required")), "{errs:?}");

    let mut s = spec();
    s.analytics = Some(AnalyticsConfig {
        api_key_secret_ref: Some(SecretKeyRef { name: "k".into(), key: "".into() }),
        ..Default::default()
    });
    s.secret_env_vars = vec![SecretEnvVar { name: "TOKEN".into(), secret_key_ref: SecretKeyRef::default() }];
    let errs = errors(&s);
    assert!(errs.contains(&"spec.analytics.apiKeySecretRef.key: is required".to_string()), "{errs:?}");
    assert!(errs.contains(&"spec.secretEnvVars[0].secretKeyRef.name: is required".to_string()), "{errs:?}");
}

#[test]
fn no_tools_is_a_warning_not_an_error() {
    let mut s = spec();
    s.tools.clear();
    let f = validate_server(&defaulted(&s), "spec");
    assert!(f.is_valid());
    assert!(f.warnings[0].message.contains("every tool call will be denied"));
}

#[test]
fn validation_reports_every_problem_at_once() {
    let mut s = spec();
    s.image.clear();
    s.port = Some(70000);
    s.tools.push(ToolConfig { name: "echo".into(), ..Default::default() });
    assert!(errors(&s).len() >= 4, "{:?}", errors(&s));
}

fn grant() -> MCPAccessGrantSpec {
    MCPAccessGrantSpec {
        server_ref: ServerRef { name: "echo".into(), namespace: None },
        subject: Subject { human_id: Some("user-123".into()), ..Default::default() },
        allowed_side_effects: vec![SideEffect::Read],
        ..Default::default()
    }
}

fn grant_errors(g: &MCPAccessGrantSpec) -> Vec<String> {
    validate_grant(g, "spec").errors.iter().map(ToString::to_string).collect()
}

#[test]
fn grant_validation() {
    assert!(grant_errors(&grant()).is_empty());

    let mut g = grant();
    g.server_ref.name.clear();
    g.allowed_side_effects = vec![SideEffect::Read, SideEffect::Read];
    g.expires_at = Some("tomorrow".into());
    g.max_calls = Some(0);
    g.tool_rules = vec![
        ToolRule { name: "echo".into(), decision: Some(PolicyDecision::Allow), ..Default::default() },
        ToolRule { name: "echo".into(), decision: Some(PolicyDecision::Deny), ..Default::default() },
        ToolRule { name: "add".into(), decision: None, ..Default::default() },
    ];
    let errs = grant_errors(&g);
    for expected in [
        "spec.serverRef.name: is required",
        "spec.allowedSideEffects[1]: duplicate side effect: \"read\"",
        "spec.expiresAt: is not an RFC 3339 timestamp (e.g. 2026-12-01T12:00:00Z): \"tomorrow\"",
        "spec.maxCalls: must be at least 1: \"0\"",
        "spec.toolRules[1].name: duplicate tool rule: \"echo\"",
        "spec.toolRules[2].decision: is required (allow or deny)",
    ] {
        assert!(errs.iter().any(|e| e == expected), "missing {expected:?} in {errs:#?}");
    }
}

#[test]
fn grant_argument_constraints_are_checked() {
    let mut g = grant();
    let mut rule =
        ToolRule { name: "pay".into(), decision: Some(PolicyDecision::Allow), ..Default::default() };
    rule.arguments
        .insert("currency".into(), ArgumentConstraint { pattern: Some("(".into()), ..Default::default() });
    rule.arguments.insert(
        "amount".into(),
        ArgumentConstraint { minimum: Some(10.0), maximum: Some(1.0), ..Default::default() },
    );
    rule.arguments.insert("memo".into(), ArgumentConstraint::default());
    rule.arguments.insert("kind".into(), ArgumentConstraint { enum_: Some(vec![]), ..Default::default() });
    g.tool_rules.push(rule);
    let mut deny_rule =
        ToolRule { name: "wipe".into(), decision: Some(PolicyDecision::Deny), ..Default::default() };
    deny_rule.arguments.insert("x".into(), ArgumentConstraint { max_length: Some(3), ..Default::default() });
    g.tool_rules.push(deny_rule);
    let errs = grant_errors(&g);
    for expected in [
        "spec.toolRules[0].arguments.currency.pattern: is not a valid regular expression",
        "spec.toolRules[0].arguments.amount.minimum: must not exceed maximum (1)",
        "spec.toolRules[0].arguments.memo: needs at least one of",
        "spec.toolRules[0].arguments.kind.enum: must list at least one value",
        "spec.toolRules[1].arguments: argument constraints apply only to allow rules",
    ] {
        assert!(errs.iter().any(|e| e.starts_with(expected)), "missing {expected:?} in {errs:#?}");
    }
}

#[test]
fn empty_grant_subject_is_a_warning() {
    let mut g = grant();
    g.subject = Subject::default();
    let f = validate_grant(&g, "spec");
    assert!(f.is_valid());
    assert!(f.warnings.iter().any(|w| w.field == "spec.subject"));
}

#[test]
fn session_validation() {
    let ok = MCPAgentSessionSpec {
        server_ref: ServerRef { name: "echo".into(), namespace: None },
        subject: Subject { agent_id: Some("ops-agent".into()), ..Default::default() },
        expires_at: Some("2026-12-01T12:00:00+01:00".into()),
        ..Default::default()
    };
    assert!(validate_session(&ok, "spec").is_valid());
    let bad = MCPAgentSessionSpec {
        server_ref: ServerRef::default(),
        subject: Subject { human_id: Some("  ".into()), ..Default::default() },
        expires_at: Some("2026-13-01".into()),
        upstream_token_secret_ref: Some(SecretKeyRef { name: "s".into(), key: "".into() }),
        rate_per_minute: Some(0),
        ..Default::default()
    };
    let errs: Vec<String> = validate_session(&bad, "spec").errors.iter().map(ToString::to_string).collect();
    assert_eq!(errs.len(), 5, "{errs:#?}");
    assert!(errs[1].starts_with("spec.subject: needs at least one of humanID, agentID or teamID"));
}

#[test]
fn enums_parse_their_wire_names_only() {
    assert_eq!("medium".parse::<TrustLevel>(), Ok(TrustLevel::Medium));
    let err = "Medium".parse::<TrustLevel>().expect_err("case-sensitive");
    assert_eq!(err.to_string(), "unknown value \"Medium\" (expected one of: low, medium, high)");
    assert!(TrustLevel::Low < TrustLevel::Medium && TrustLevel::Medium < TrustLevel::High);
    assert_eq!(RiskLevel::derive(Some(SideEffect::Destructive), TrustLevel::Low), RiskLevel::High);
    assert_eq!(RiskLevel::derive(Some(SideEffect::Read), TrustLevel::Medium), RiskLevel::Medium);
    assert_eq!(RiskLevel::derive(Some(SideEffect::Read), TrustLevel::Low), RiskLevel::Low);
    assert_eq!(Scope::Org.default_namespace(), "mcp-servers-org");
}

#[test]
fn custom_resources_round_trip_through_yaml() {
    let text = r#"
apiVersion: mcpruntime.org/v1alpha1
kind: MCPAccessGrant
metadata: {name: pay, namespace: payments}
spec:
  serverRef: {name: payments}
  subject: {humanID: alice, agentID: agt_01}
  maxTrust: medium
  allowedSideEffects: [read, write]
  expiresAt: "2026-12-31T00:00:00Z"
  maxCalls: 100
  ratePerMinute: 10
  toolRules:
    - name: transfer
      decision: allow
      arguments:
        currency: {enum: [EUR, USD]}
        amount: {maximum: 1000}
        memo: {maxLength: 140, pattern: "^[ -~]*$"}
"#;
    let grant: MCPAccessGrant = crate::yaml::from_str(text).expect("grant");
    let rule = &grant.spec.tool_rules[0];
    assert_eq!(rule.arguments["amount"].maximum, Some(1000.0));
    assert_eq!(rule.arguments["currency"].enum_.as_ref().map(Vec::len), Some(2));
    assert!(validate_grant(&grant.spec, "spec").is_valid());
    let again: MCPAccessGrant =
        crate::yaml::from_str(&serde_saphyr::to_string(&grant).expect("yaml")).expect("parse");
    assert_eq!(again, grant);
}

fn upstream_spec() -> MCPServerSpec {
    MCPServerSpec {
        image: String::new(),
        upstream: Some(UpstreamConfig {
            url: "https://mcp.example.com/mcp".into(),
            credential_secret_ref: Some(SecretKeyRef { name: "remote-mcp".into(), key: "token".into() }),
        }),
        ..spec()
    }
}

#[test]
fn an_upstream_server_is_valid_without_an_image_and_gets_no_app_defaults() {
    let d = defaulted(&upstream_spec());
    let findings = validate_server(&d, "spec");
    assert!(findings.is_valid(), "{findings:?}");
    assert!(d.is_upstream());
    assert_eq!(d.image, "");
    assert_eq!((d.image_tag.as_ref(), d.port, d.resources.as_ref()), (None, None, None));
    let gw = d.gateway.as_ref().expect("gateway");
    assert_eq!((gw.enabled, gw.port, gw.upstream_url.as_ref()), (Some(true), Some(8091), None));
    assert_eq!(d.ingress_path.as_deref(), Some("/echo/mcp"));
    assert_eq!(defaulted(&d), d, "defaulting is idempotent");
    // Port 8088 is free for the gateway: there is no app container to collide with.
    let mut s = upstream_spec();
    s.gateway = Some(GatewayConfig { port: Some(8088), ..Default::default() });
    assert!(errors(&s).is_empty(), "{:?}", errors(&s));
}

#[test]
fn exactly_one_of_image_and_upstream() {
    let mut s = spec();
    s.image = String::new();
    assert_error(&s, "spec.image: is required unless spec.upstream is set");
    let mut s = upstream_spec();
    s.image = "registry.local/echo".into();
    assert_error(&s, "spec.upstream: cannot be combined with spec.image");
}

#[test]
fn upstream_url_must_be_http_or_https_with_a_host() {
    for good in [
        "http://mcp.internal:8080/mcp",
        "https://mcp.example.com",
        "https://mcp.example.com/v1/mcp?tenant=a",
        "HTTPS://[2001:db8::1]:8443/mcp",
    ] {
        let mut s = upstream_spec();
        s.upstream.as_mut().expect("upstream").url = good.into();
        assert!(errors(&s).is_empty(), "{good}: {:?}", errors(&s));
    }
    for (bad, why) in [
        ("", "is required"),
        ("mcp.example.com/mcp", "must be an http:// or https:// URL"),
        ("ftp://mcp.example.com/mcp", "must be an http:// or https:// URL"),
        ("https:///mcp", "must name a host"),
        ("https://user:pw@mcp.example.com/mcp", "must not carry userinfo"),
        ("https://mcp.example.com/mcp#frag", "must not have a fragment"),
        ("https://mcp.example.com:0/mcp", "has an invalid port"),
        ("https://mcp.example.com:99999/mcp", "has an invalid port"),
        ("https://mcp example.com/mcp", "must not contain whitespace"),
        ("https://[zz]/mcp", "has an invalid IPv6 host"),
    ] {
        let mut s = upstream_spec();
        s.upstream.as_mut().expect("upstream").url = bad.into();
        let expected = format!("spec.upstream.url: {why}");
        assert!(errors(&s).iter().any(|e| e.starts_with(&expected)), "{bad:?}: {:?}", errors(&s));
    }
    let parsed = parse_upstream_url("https://mcp.example.com/mcp").expect("parses");
    assert_eq!(
        (parsed.scheme.as_str(), parsed.host.as_str(), parsed.port),
        ("https", "mcp.example.com", 443)
    );
    assert_eq!(parse_upstream_url("http://[::1]:9000").expect("parses").port, 9000);
}

#[test]
fn upstream_credential_ref_needs_name_and_key() {
    let mut s = upstream_spec();
    s.upstream.as_mut().expect("upstream").credential_secret_ref = Some(SecretKeyRef::default());
    assert_error(&s, "spec.upstream.credentialSecretRef.name: is required");
    assert_error(&s, "spec.upstream.credentialSecretRef.key: is required");
    let mut s = upstream_spec();
    s.upstream.as_mut().expect("upstream").credential_secret_ref = None;
    assert!(errors(&s).is_empty(), "a credential is optional: {:?}", errors(&s));
}

#[test]
fn app_container_settings_are_refused_with_upstream() {
    type Setter = Box<dyn Fn(&mut MCPServerSpec)>;
    let cases: Vec<(&str, Setter)> = vec![
        ("port", Box::new(|s| s.port = Some(8080))),
        ("envVars", Box::new(|s| s.env_vars = vec![EnvVar { name: "A".into(), value: "1".into() }])),
        (
            "secretEnvVars",
            Box::new(|s| {
                s.secret_env_vars = vec![SecretEnvVar {
                    name: "A".into(),
                    secret_key_ref: SecretKeyRef { name: "s".into(), key: "k".into() },
                }]
            }),
        ),
        ("imageTag", Box::new(|s| s.image_tag = Some("v1".into()))),
        ("registryOverride", Box::new(|s| s.registry_override = Some("registry.local".into()))),
        ("useProvisionedRegistry", Box::new(|s| s.use_provisioned_registry = Some(true))),
        ("imagePullSecrets", Box::new(|s| s.image_pull_secrets = vec!["pull".into()])),
        (
            "gateway.enabled",
            Box::new(|s| s.gateway = Some(GatewayConfig { enabled: Some(false), ..Default::default() })),
        ),
        (
            "gateway.upstreamURL",
            Box::new(|s| {
                s.gateway = Some(GatewayConfig {
                    upstream_url: Some("http://127.0.0.1:8088".into()),
                    ..Default::default()
                })
            }),
        ),
        (
            "gateway.stripPrefix",
            Box::new(|s| {
                s.gateway = Some(GatewayConfig { strip_prefix: Some("/x".into()), ..Default::default() })
            }),
        ),
    ];
    for (field, set) in cases {
        let mut s = upstream_spec();
        set(&mut s);
        let errs = errors(&s);
        assert!(errs.iter().any(|e| e.starts_with(&format!("spec.{field}: "))), "{field}: {errs:#?}");
    }
    let mut s = upstream_spec();
    s.resources = Some(ResourceRequirements::default());
    let findings = validate_server(&defaulted(&s), "spec");
    assert!(findings.is_valid());
    assert!(findings.warnings.iter().any(|w| w.field == "spec.resources"), "{findings:?}");
}

#[test]
fn an_upstream_server_round_trips_without_an_image() {
    let text = r#"
apiVersion: mcpruntime.org/v1alpha1
kind: MCPServer
metadata: {name: remote, namespace: mcp-servers}
spec:
  upstream:
    url: https://mcp.example.com/mcp
    credentialSecretRef: {name: remote-mcp, key: token}
  tools: [{name: search, sideEffect: read}]
"#;
    let server: MCPServer = crate::yaml::from_str(text).expect("server");
    assert_eq!(server.spec.upstream.as_ref().map(|u| u.url.as_str()), Some("https://mcp.example.com/mcp"));
    let yaml = serde_saphyr::to_string(&server).expect("yaml");
    assert!(!yaml.contains("image"), "{yaml}");
    let again: MCPServer = crate::yaml::from_str(&yaml).expect("parse");
    assert_eq!(again, server);
}

#[test]
fn durations_with_units_read_as_seconds() {
    assert_eq!(crate::parse_duration_secs("24h"), Some(86_400));
    assert_eq!(crate::parse_duration_secs(" 1h30m "), Some(5_400));
    assert_eq!(crate::parse_duration_secs("2d"), Some(172_800));
    for unreadable in ["", "24", "1w", "h", "1hm", "5m3", "99999999999999999999s"] {
        assert_eq!(crate::parse_duration_secs(unreadable), None, "{unreadable:?}");
    }
}
