//! Stable reason codes and the HTTP status each one answers with.

use std::fmt;

/// Why a request was allowed or denied. The `as_str` codes are a public contract: they appear
/// in denial bodies, audit events, metrics and dashboards, and never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// The call is allowed.
    Allowed,
    /// No human, agent or team could be established for a tool call.
    MissingIdentity,
    /// The server requires a session and none was presented.
    MissingSession,
    /// The presented session does not exist for this caller (required sessions only).
    SessionNotFound,
    /// The presented session was revoked.
    SessionRevoked,
    /// The presented session has expired (or its expiry cannot be read).
    SessionExpired,
    /// No bearer token was presented where one is required.
    MissingBearerToken,
    /// The bearer token failed verification (signature, issuer, audience, expiry, claims).
    InvalidToken,
    /// The external OAuth issuer's metadata or keys could not be fetched.
    OauthProviderUnavailable,
    /// OAuth is configured without an issuer.
    OauthIssuerMissing,
    /// OAuth is required but not configured.
    OauthConfigMissing,
    /// No valid policy has been loaded yet.
    PolicyUnavailable,
    /// A matching grant has a `deny` rule for the tool.
    ToolDenied,
    /// No grant that allows the tool permits its side effect.
    SideEffectNotAllowed,
    /// The tool is not declared on the server, so its side effect is unknown.
    ToolSideEffectUnknown,
    /// The effective trust is below what the tool requires.
    TrustTooLow,
    /// The request could not be read as JSON-RPC.
    RpcInspectionFailed,
    /// No stage reached a decision (fail-closed default).
    Undecided,
    /// No grant matches the caller.
    NoMatchingGrant,
    /// Grants match the caller, but none allows the tool.
    ToolNotGranted,
    /// The only grants that would allow the tool have expired.
    GrantExpired,
    /// The call's arguments break a grant's argument constraint.
    ArgumentNotAllowed,
    /// A grant or session has used up its `maxCalls`.
    BudgetExhausted,
    /// A grant or session exceeded its `ratePerMinute`.
    RateLimited,
    /// The tool's definition changed from its pinned hash and the policy denies drift.
    ToolDefinitionChanged,
    /// A capability method (`resources/*`, `prompts/*`, `completion/complete`, `tasks/*`, …)
    /// and no enabled, unexpired grant matches the caller.
    MethodNotGranted,
    /// The OAuth token lacks a scope the server requires (`auth.scopes`).
    InsufficientScope,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: &'static [Reason] = &[
        Reason::Allowed,
        Reason::MissingIdentity,
        Reason::MissingSession,
        Reason::SessionNotFound,
        Reason::SessionRevoked,
        Reason::SessionExpired,
        Reason::MissingBearerToken,
        Reason::InvalidToken,
        Reason::OauthProviderUnavailable,
        Reason::OauthIssuerMissing,
        Reason::OauthConfigMissing,
        Reason::PolicyUnavailable,
        Reason::ToolDenied,
        Reason::SideEffectNotAllowed,
        Reason::ToolSideEffectUnknown,
        Reason::TrustTooLow,
        Reason::RpcInspectionFailed,
        Reason::Undecided,
        Reason::NoMatchingGrant,
        Reason::ToolNotGranted,
        Reason::GrantExpired,
        Reason::ArgumentNotAllowed,
        Reason::BudgetExhausted,
        Reason::RateLimited,
        Reason::ToolDefinitionChanged,
        Reason::MethodNotGranted,
        Reason::InsufficientScope,
    ];

    /// The stable code, e.g. `trust_too_low`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Allowed => "allowed",
            Reason::MissingIdentity => "missing_identity",
            Reason::MissingSession => "missing_session",
            Reason::SessionNotFound => "session_not_found",
            Reason::SessionRevoked => "session_revoked",
            Reason::SessionExpired => "session_expired",
            Reason::MissingBearerToken => "missing_bearer_token",
            Reason::InvalidToken => "invalid_token",
            Reason::OauthProviderUnavailable => "oauth_provider_unavailable",
            Reason::OauthIssuerMissing => "oauth_issuer_missing",
            Reason::OauthConfigMissing => "oauth_config_missing",
            Reason::PolicyUnavailable => "policy_unavailable",
            Reason::ToolDenied => "tool_denied",
            Reason::SideEffectNotAllowed => "side_effect_not_allowed",
            Reason::ToolSideEffectUnknown => "tool_side_effect_unknown",
            Reason::TrustTooLow => "trust_too_low",
            Reason::RpcInspectionFailed => "rpc_inspection_failed",
            Reason::Undecided => "undecided",
            Reason::NoMatchingGrant => "no_matching_grant",
            Reason::ToolNotGranted => "tool_not_granted",
            Reason::GrantExpired => "grant_expired",
            Reason::ArgumentNotAllowed => "argument_not_allowed",
            Reason::BudgetExhausted => "budget_exhausted",
            Reason::RateLimited => "rate_limited",
            Reason::ToolDefinitionChanged => "tool_definition_changed",
            Reason::MethodNotGranted => "method_not_granted",
            Reason::InsufficientScope => "insufficient_scope",
        }
    }

    /// The HTTP status a denial with this reason answers with. `Allowed` (and a default-allow
    /// `no_matching_grant` / `tool_not_granted`) passes the upstream status through; this
    /// returns 200 for it.
    pub const fn http_status(self) -> u16 {
        match self {
            Reason::Allowed => 200,
            Reason::MissingIdentity
            | Reason::MissingSession
            | Reason::SessionNotFound
            | Reason::SessionRevoked
            | Reason::SessionExpired
            | Reason::MissingBearerToken
            | Reason::InvalidToken => 401,
            Reason::OauthProviderUnavailable
            | Reason::OauthIssuerMissing
            | Reason::OauthConfigMissing
            | Reason::PolicyUnavailable => 503,
            Reason::RateLimited => 429,
            Reason::ToolDenied
            | Reason::SideEffectNotAllowed
            | Reason::ToolSideEffectUnknown
            | Reason::TrustTooLow
            | Reason::RpcInspectionFailed
            | Reason::Undecided
            | Reason::NoMatchingGrant
            | Reason::ToolNotGranted
            | Reason::GrantExpired
            | Reason::ArgumentNotAllowed
            | Reason::BudgetExhausted
            | Reason::ToolDefinitionChanged
            | Reason::MethodNotGranted
            | Reason::InsufficientScope => 403,
        }
    }

    /// A readable sentence for denial messages shown to MCP clients.
    pub const fn message(self) -> &'static str {
        match self {
            Reason::Allowed => "the call is allowed",
            Reason::MissingIdentity => {
                "no caller identity: connect through an MCP Runtime adapter or present a platform session token"
            }
            Reason::MissingSession => {
                "this server requires an agent session: connect through an MCP Runtime adapter"
            }
            Reason::SessionNotFound => "the agent session is not known on this server",
            Reason::SessionRevoked => "the agent session was revoked",
            Reason::SessionExpired => "the agent session has expired",
            Reason::MissingBearerToken => "a bearer token is required",
            Reason::InvalidToken => "the bearer token is not valid for this server",
            Reason::OauthProviderUnavailable => "the OAuth provider is unavailable",
            Reason::OauthIssuerMissing => "OAuth is enabled without an issuer",
            Reason::OauthConfigMissing => "OAuth configuration is missing",
            Reason::PolicyUnavailable => "no access policy is loaded yet",
            Reason::ToolDenied => "a grant denies this tool",
            Reason::SideEffectNotAllowed => "no grant permits this tool's side effect",
            Reason::ToolSideEffectUnknown => "the tool is not declared on this server",
            Reason::TrustTooLow => "the session's trust is below what this tool requires",
            Reason::RpcInspectionFailed => "the request is not a readable JSON-RPC call",
            Reason::Undecided => "no decision was reached",
            Reason::NoMatchingGrant => "no grant matches this caller",
            Reason::ToolNotGranted => "no grant allows this tool",
            Reason::GrantExpired => "the grant that allowed this tool has expired",
            Reason::ArgumentNotAllowed => "an argument is outside what the grant allows",
            Reason::BudgetExhausted => "the call budget is used up",
            Reason::RateLimited => "too many calls per minute",
            Reason::ToolDefinitionChanged => "the tool's definition changed since it was pinned",
            Reason::MethodNotGranted => "no grant gives this caller access to this server",
            Reason::InsufficientScope => "the token lacks a scope this server requires",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
