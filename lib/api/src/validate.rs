//! Validation: plain functions shared by the admission webhook, the operator and the CLI.
//!
//! Each function returns every problem it finds, not just the first, as [`FieldError`]s that
//! name the field (a JSON path such as `spec.tools[2].name`), the offending value and what is
//! wrong with it. Errors block; warnings are advisory (admission warnings, CLI notes).

use std::collections::BTreeSet;
use std::fmt;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use regex::Regex;

use crate::common::{SecretKeyRef, non_blank};
use crate::enums::{AuthMode, PolicyDecision, RolloutStrategy};
use crate::grant::{ArgumentConstraint, MCPAccessGrantSpec};
use crate::server::MCPServerSpec;
use crate::session::MCPAgentSessionSpec;

/// Longest accepted `teamID`.
pub const MAX_TEAM_ID_LEN: usize = 128;

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `spec.tools[1].sideEffect`.
    pub field: String,
    /// What is wrong, in lower case without a final period.
    pub message: String,
    /// The offending value, when there is one to show.
    pub value: Option<String>,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)?;
        if let Some(value) = &self.value {
            write!(f, ": {value:?}")?;
        }
        Ok(())
    }
}

/// Everything validation found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Problems that make the object invalid.
    pub errors: Vec<FieldError>,
    /// Advisory notes; the object is still valid.
    pub warnings: Vec<FieldError>,
}

impl Findings {
    /// True when there is no error (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    fn error(&mut self, field: impl Into<String>, message: impl Into<String>, value: Option<&str>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
            value: value.map(str::to_string),
        });
    }

    fn warn(&mut self, field: impl Into<String>, message: impl Into<String>, value: Option<&str>) {
        self.warnings.push(FieldError {
            field: field.into(),
            message: message.into(),
            value: value.map(str::to_string),
        });
    }

    /// Appends `other`'s findings to these.
    pub fn extend(&mut self, other: Findings) {
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }
}

/// Parses an RFC 3339 timestamp such as `2026-12-01T12:00:00Z`.
pub fn parse_rfc3339(value: &str) -> Result<jiff::Timestamp, jiff::Error> {
    value.trim().parse::<jiff::Timestamp>()
}

/// The seconds of a duration written with units, such as `24h`, `90m`, `1h30m`, `3600s` or
/// `2d` (the form of `session.maxLifetime` and `session.idleTimeout`); `None` when it is empty,
/// a number without a unit, an unknown unit or too large.
pub fn parse_duration_secs(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    // The number read so far: `None` until its first digit (a unit needs one).
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(digit) = c.to_digit(10) {
            number = Some(number.unwrap_or(0).checked_mul(10)?.checked_add(u64::from(digit))?);
            continue;
        }
        let n = number.take()?;
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if number.is_some() {
        return None;
    }
    Some(total)
}

/// Validates a (defaulted) MCPServer spec; `at` is the path of the spec, e.g. `spec`.
///
/// Call [`crate::default_server`] first: the route rule below is about the effective route.
pub fn validate_server(spec: &MCPServerSpec, at: &str) -> Findings {
    let mut f = Findings::default();

    // Rule 1: exactly one of image and upstream; teamID bounded, no whitespace, trimmed.
    match &spec.upstream {
        None if spec.image.trim().is_empty() => {
            f.error(format!("{at}.image"), "is required unless spec.upstream is set", None)
        }
        None => {}
        Some(upstream) => check_upstream(&mut f, spec, upstream, at),
    }
    if let Some(team) = &spec.team_id {
        if team.chars().count() > MAX_TEAM_ID_LEN {
            f.error(
                format!("{at}.teamID"),
                format!("must be at most {MAX_TEAM_ID_LEN} characters"),
                Some(team),
            );
        } else if team.trim() != team || team.chars().any(char::is_whitespace) {
            f.error(format!("{at}.teamID"), "must not contain whitespace", Some(team));
        }
    }

    // Rule 2: a prefix must have a non-slash character; without one, path and host are needed.
    match &spec.public_path_prefix {
        Some(prefix) if !prefix.is_empty() => {
            if prefix.trim().trim_matches('/').is_empty() {
                f.error(
                    format!("{at}.publicPathPrefix"),
                    "must contain a character other than '/'",
                    Some(prefix),
                );
            }
        }
        _ => {
            if non_blank(&spec.ingress_path).is_none() {
                f.error(format!("{at}.ingressPath"), "is required when publicPathPrefix is not set", None);
            }
            if non_blank(&spec.ingress_host).is_none() {
                f.error(
                    format!("{at}.ingressHost"),
                    "is required when publicPathPrefix is not set (or configure MCP_DEFAULT_INGRESS_HOST on the operator)",
                    None,
                );
            }
        }
    }
    if let Some(path) = non_blank(&spec.ingress_path)
        && !path.starts_with('/')
    {
        f.error(format!("{at}.ingressPath"), "must start with '/'", Some(path));
    }

    for (field, port) in [("replicas", spec.replicas)] {
        if let Some(n) = port.filter(|n| *n < 0) {
            f.error(format!("{at}.{field}"), "must not be negative", Some(&n.to_string()));
        }
    }
    for (field, port) in [("port", spec.port), ("servicePort", spec.service_port)] {
        check_port(&mut f, &format!("{at}.{field}"), port);
    }

    // Rules 3-5: gateway-dependent settings.
    let gateway_enabled = spec.gateway_enabled();
    if let Some(gw) = &spec.gateway {
        check_port(&mut f, &format!("{at}.gateway.port"), gw.port);
        if gateway_enabled {
            let app_port = spec.port.unwrap_or(crate::defaults::DEFAULT_PORT);
            let gw_port = gw.port.unwrap_or(crate::defaults::DEFAULT_GATEWAY_PORT);
            // An upstream server has no app container to collide with.
            let has_app = spec.upstream.is_none();
            if has_app && app_port == gw_port {
                f.error(
                    format!("{at}.gateway.port"),
                    "must differ from spec.port when the gateway is enabled",
                    Some(&gw_port.to_string()),
                );
            }
            let admin = crate::defaults::GATEWAY_ADMIN_PORT;
            for (field, port) in [("port", app_port), ("gateway.port", gw_port)] {
                if port == admin && (has_app || field == "gateway.port") {
                    f.error(
                        format!("{at}.{field}"),
                        format!("must not be {admin}: the gateway's admin port in the same pod"),
                        Some(&port.to_string()),
                    );
                }
            }
        }
        if let Some(strip) = non_blank(&gw.strip_prefix)
            && !strip.starts_with('/')
        {
            f.error(format!("{at}.gateway.stripPrefix"), "must start with '/'", Some(strip));
        }
    }
    if let Some(auth) = &spec.auth {
        let mode = auth.mode.unwrap_or_default();
        if mode == AuthMode::Oauth && non_blank(&auth.issuer_url).is_none() {
            f.error(format!("{at}.auth.issuerURL"), "is required when auth.mode is oauth", None);
        }
        if let Some(issuer) = non_blank(&auth.issuer_url)
            && !(issuer.starts_with("https://") || issuer.starts_with("http://"))
        {
            f.error(format!("{at}.auth.issuerURL"), "must be an http(s) URL", Some(issuer));
        }
        if let Some(audience) = non_blank(&auth.audience)
            && (!audience.contains("://") || audience.contains('#'))
        {
            f.error(
                format!("{at}.auth.audience"),
                "must be an absolute URI without a fragment",
                Some(audience),
            );
        }
        if !gateway_enabled && auth.mode.is_some() {
            f.error(
                format!("{at}.auth.mode"),
                "requires the gateway (gateway.enabled must not be false)",
                Some(mode.as_str()),
            );
        }
    }

    // Rule 6: analytics settings need the gateway that emits them.
    if let Some(analytics) = &spec.analytics {
        let disabled = analytics.disabled == Some(true);
        let any_set = analytics.ingest_url.is_some()
            || analytics.source.is_some()
            || analytics.event_type.is_some()
            || analytics.api_key_secret_ref.is_some();
        if !gateway_enabled && !disabled && any_set {
            f.error(
                format!("{at}.analytics"),
                "is forbidden when the gateway is disabled (set analytics.disabled or enable the gateway)",
                None,
            );
        }
        // Rule 9 (part): the API key reference must be complete.
        if let Some(r) = &analytics.api_key_secret_ref {
            check_secret_ref(&mut f, &format!("{at}.analytics.apiKeySecretRef"), r);
        }
    }

    // Rules 7-8: rollout.
    if let Some(rollout) = &spec.rollout {
        if rollout.strategy == Some(RolloutStrategy::Canary) {
            let canary = rollout.canary_replicas.unwrap_or(0);
            if canary <= 0 {
                f.error(
                    format!("{at}.rollout.canaryReplicas"),
                    "must be greater than 0 for the Canary strategy",
                    Some(&canary.to_string()),
                );
            }
            match spec.replicas {
                None => f.error(format!("{at}.replicas"), "is required for the Canary strategy", None),
                Some(replicas) if canary > 0 && canary >= replicas => f.error(
                    format!("{at}.rollout.canaryReplicas"),
                    format!("must be less than replicas ({replicas})"),
                    Some(&canary.to_string()),
                ),
                Some(_) => {}
            }
        }
        for (field, value) in [("maxUnavailable", &rollout.max_unavailable), ("maxSurge", &rollout.max_surge)]
        {
            if let Some(v) = value
                && !is_int_or_percent(v)
            {
                let shown = match v {
                    IntOrString::Int(n) => n.to_string(),
                    IntOrString::String(s) => s.clone(),
                };
                f.error(
                    format!("{at}.rollout.{field}"),
                    "must be a non-negative integer or an integer percentage",
                    Some(&shown),
                );
            }
        }
    }

    // Rule 9: tools need a name and a side effect; names are unique.
    let mut names = BTreeSet::new();
    for (i, tool) in spec.tools.iter().enumerate() {
        let path = format!("{at}.tools[{i}]");
        if tool.name.trim().is_empty() {
            f.error(format!("{path}.name"), "is required", None);
        } else if !names.insert(tool.name.as_str()) {
            f.error(format!("{path}.name"), "duplicate tool name", Some(&tool.name));
        }
        if tool.side_effect.is_none() {
            f.error(format!("{path}.sideEffect"), "is required (read, write or destructive)", None);
        }
    }
    if spec.tools.is_empty() && gateway_enabled {
        f.warn(format!("{at}.tools"), "no tools declared: every tool call will be denied", None);
    }
    for (list, items) in
        [("prompts", &spec.prompts), ("mcpResources", &spec.mcp_resources), ("tasks", &spec.tasks)]
    {
        for (i, item) in items.iter().enumerate() {
            if item.name.trim().is_empty() {
                f.error(format!("{at}.{list}[{i}].name"), "is required", None);
            }
        }
    }

    for (i, env) in spec.env_vars.iter().enumerate() {
        if env.name.trim().is_empty() {
            f.error(format!("{at}.envVars[{i}].name"), "is required", None);
        }
    }
    for (i, env) in spec.secret_env_vars.iter().enumerate() {
        if env.name.trim().is_empty() {
            f.error(format!("{at}.secretEnvVars[{i}].name"), "is required", None);
        }
        check_secret_ref(&mut f, &format!("{at}.secretEnvVars[{i}].secretKeyRef"), &env.secret_key_ref);
    }
    f
}

/// Validates an MCPAccessGrant spec; `at` is the path of the spec.
pub fn validate_grant(spec: &MCPAccessGrantSpec, at: &str) -> Findings {
    let mut f = Findings::default();
    if spec.server_ref.name.trim().is_empty() {
        f.error(format!("{at}.serverRef.name"), "is required", None);
    }
    if spec.subject.is_empty() {
        f.warn(
            format!("{at}.subject"),
            "is empty: the grant applies to the server's whole owning team (and to nobody when the server has no teamID)",
            None,
        );
    }
    let mut seen = BTreeSet::new();
    for (i, effect) in spec.allowed_side_effects.iter().enumerate() {
        if !seen.insert(*effect) {
            f.error(format!("{at}.allowedSideEffects[{i}]"), "duplicate side effect", Some(effect.as_str()));
        }
    }
    if spec.allowed_side_effects.is_empty() {
        f.warn(
            format!("{at}.allowedSideEffects"),
            "is empty: the grant permits no side effect, so it allows no tool",
            None,
        );
    }
    let mut names = BTreeSet::new();
    for (i, rule) in spec.tool_rules.iter().enumerate() {
        let path = format!("{at}.toolRules[{i}]");
        if rule.name.trim().is_empty() {
            f.error(format!("{path}.name"), "is required", None);
        } else if !names.insert(rule.name.as_str()) {
            f.error(format!("{path}.name"), "duplicate tool rule", Some(&rule.name));
        }
        match rule.decision {
            None => f.error(format!("{path}.decision"), "is required (allow or deny)", None),
            Some(PolicyDecision::Deny) if !rule.arguments.is_empty() => {
                f.error(format!("{path}.arguments"), "argument constraints apply only to allow rules", None)
            }
            Some(_) => {}
        }
        for (arg, constraint) in &rule.arguments {
            check_constraint(&mut f, &format!("{path}.arguments.{arg}"), constraint);
        }
    }
    check_expiry(&mut f, &format!("{at}.expiresAt"), spec.expires_at.as_deref());
    check_budget(&mut f, at, spec.max_calls, spec.rate_per_minute);
    f
}

/// Validates an MCPAgentSession spec; `at` is the path of the spec.
pub fn validate_session(spec: &MCPAgentSessionSpec, at: &str) -> Findings {
    let mut f = Findings::default();
    if spec.server_ref.name.trim().is_empty() {
        f.error(format!("{at}.serverRef.name"), "is required", None);
    }
    if spec.subject.is_empty() {
        f.error(format!("{at}.subject"), "needs at least one of humanID, agentID or teamID", None);
    }
    check_expiry(&mut f, &format!("{at}.expiresAt"), spec.expires_at.as_deref());
    if let Some(r) = &spec.upstream_token_secret_ref {
        check_secret_ref(&mut f, &format!("{at}.upstreamTokenSecretRef"), r);
    }
    check_budget(&mut f, at, spec.max_calls, spec.rate_per_minute);
    f
}

/// The parts of an upstream URL the operator needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamUrl {
    /// `http` or `https` (lower case).
    pub scheme: String,
    /// The host, IPv6 literals with their brackets.
    pub host: String,
    /// The explicit port, else 80 for `http` and 443 for `https`.
    pub port: u16,
}

/// Parses an upstream MCP endpoint: `http://` or `https://`, a host, an optional port, no
/// userinfo, no fragment, no whitespace or control characters. `Err` says what is wrong.
pub fn parse_upstream_url(url: &str) -> Result<UpstreamUrl, &'static str> {
    if url.is_empty() {
        return Err("is required");
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must not contain whitespace, control or non-ASCII characters");
    }
    let (scheme, rest) = url.split_once("://").ok_or("must be an http:// or https:// URL")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err("must be an http:// or https:// URL"),
    };
    if url.contains('#') {
        return Err("must not have a fragment");
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry userinfo (put the credential in credentialSecretRef)");
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (inside, tail) = bracketed.split_once(']').ok_or("has an unterminated IPv6 host")?;
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return Err("has an invalid IPv6 host");
        }
        match tail {
            "" => (format!("[{inside}]"), None),
            _ => (format!("[{inside}]"), Some(tail.strip_prefix(':').ok_or("has an invalid port")?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("must name a host");
    }
    if !host.starts_with('[') && !host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
        return Err("has an invalid host");
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err("has an invalid port"),
        },
    };
    Ok(UpstreamUrl { scheme, host, port })
}

/// `spec.upstream`: a valid URL, a complete credential reference, and none of the settings that
/// only mean something for an app container the operator runs.
fn check_upstream(f: &mut Findings, spec: &MCPServerSpec, upstream: &crate::UpstreamConfig, at: &str) {
    if !spec.image.trim().is_empty() {
        f.error(format!("{at}.upstream"), "cannot be combined with spec.image", Some(&spec.image));
    }
    if let Err(why) = parse_upstream_url(upstream.url.trim()) {
        let value = (!upstream.url.is_empty()).then_some(upstream.url.as_str());
        f.error(format!("{at}.upstream.url"), why, value);
    }
    if let Some(r) = &upstream.credential_secret_ref {
        check_secret_ref(f, &format!("{at}.upstream.credentialSecretRef"), r);
    }
    let app_only = [
        ("port", spec.port.is_some()),
        ("envVars", !spec.env_vars.is_empty()),
        ("secretEnvVars", !spec.secret_env_vars.is_empty()),
        ("imageTag", non_blank(&spec.image_tag).is_some()),
        ("registryOverride", non_blank(&spec.registry_override).is_some()),
        ("useProvisionedRegistry", spec.use_provisioned_registry.is_some()),
        ("imagePullSecrets", !spec.image_pull_secrets.is_empty()),
    ];
    for (field, set) in app_only {
        if set {
            f.error(
                format!("{at}.{field}"),
                "cannot be combined with spec.upstream (there is no app container)",
                None,
            );
        }
    }
    if !spec.gateway_enabled() {
        f.error(
            format!("{at}.gateway.enabled"),
            "must not be false with spec.upstream (the gateway is what reaches the remote server)",
            Some("false"),
        );
    }
    if let Some(gw) = &spec.gateway {
        for (field, value) in [("upstreamURL", &gw.upstream_url), ("stripPrefix", &gw.strip_prefix)] {
            if let Some(v) = non_blank(value) {
                f.error(
                    format!("{at}.gateway.{field}"),
                    "cannot be combined with spec.upstream (the operator derives it from spec.upstream.url and the route)",
                    Some(v),
                );
            }
        }
    }
    if spec.resources.is_some() {
        f.warn(
            format!("{at}.resources"),
            "has no effect with spec.upstream (size the gateway with gateway.resources)",
            None,
        );
    }
}

fn check_port(f: &mut Findings, field: &str, port: Option<i32>) {
    if let Some(p) = port.filter(|p| !(1..=65535).contains(p)) {
        f.error(field, "must be a port between 1 and 65535", Some(&p.to_string()));
    }
}

fn check_secret_ref(f: &mut Findings, at: &str, r: &SecretKeyRef) {
    if r.name.trim().is_empty() {
        f.error(format!("{at}.name"), "is required", None);
    }
    if r.key.trim().is_empty() {
        f.error(format!("{at}.key"), "is required", None);
    }
}

fn check_expiry(f: &mut Findings, field: &str, value: Option<&str>) {
    if let Some(v) = value
        && parse_rfc3339(v).is_err()
    {
        f.error(field, "is not an RFC 3339 timestamp (e.g. 2026-12-01T12:00:00Z)", Some(v));
    }
}

fn check_budget(f: &mut Findings, at: &str, max_calls: Option<u64>, rate: Option<u32>) {
    if max_calls == Some(0) {
        f.error(format!("{at}.maxCalls"), "must be at least 1", Some("0"));
    }
    if rate == Some(0) {
        f.error(format!("{at}.ratePerMinute"), "must be at least 1", Some("0"));
    }
}

fn check_constraint(f: &mut Findings, at: &str, c: &ArgumentConstraint) {
    if c.is_empty() {
        f.error(at, "needs at least one of const, enum, pattern, minimum, maximum, maxLength", None);
    }
    if let Some(values) = &c.enum_
        && values.is_empty()
    {
        f.error(format!("{at}.enum"), "must list at least one value", None);
    }
    if let Some(pattern) = &c.pattern
        && let Err(err) = Regex::new(pattern)
    {
        let first_line = err.to_string().lines().last().unwrap_or_default().trim().to_string();
        f.error(
            format!("{at}.pattern"),
            format!("is not a valid regular expression ({first_line})"),
            Some(pattern),
        );
    }
    for (name, bound) in [("minimum", c.minimum), ("maximum", c.maximum)] {
        if let Some(b) = bound.filter(|b| !b.is_finite()) {
            f.error(format!("{at}.{name}"), "must be a finite number", Some(&b.to_string()));
        }
    }
    if let (Some(min), Some(max)) = (c.minimum, c.maximum)
        && min > max
    {
        f.error(format!("{at}.minimum"), format!("must not exceed maximum ({max})"), Some(&min.to_string()));
    }
}

fn is_int_or_percent(v: &IntOrString) -> bool {
    match v {
        IntOrString::Int(n) => *n >= 0,
        IntOrString::String(s) => {
            let digits = s.strip_suffix('%').unwrap_or(s);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        }
    }
}
