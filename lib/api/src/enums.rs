//! Enumerations shared by the three custom resources and the policy document.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Declares a string enum with its wire names, `as_str`, `Display`, `FromStr` and the list of
/// accepted values, so every consumer (serde, schema, CLI flags, error messages) agrees on them.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire names accepted for this enum, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            /// The wire name of this value.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    other => Err(UnknownValue {
                        kind: stringify!($name),
                        value: other.to_string(),
                        expected: $name::NAMES,
                    }),
                }
            }
        }
    };
}

/// A value that is not one of an enum's wire names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownValue {
    /// The enum that rejected the value.
    pub kind: &'static str,
    /// The rejected value, as given.
    pub value: String,
    /// The accepted values.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown value {:?} (expected one of: {})", self.value, self.expected.join(", "))
    }
}

impl std::error::Error for UnknownValue {}

string_enum! {
    /// How much an agent is trusted; ordered `low < medium < high`.
    pub enum TrustLevel {
        /// Rank 1: the default for tools, grants and sessions.
        Low = "low",
        /// Rank 2.
        Medium = "medium",
        /// Rank 3.
        High = "high",
    }
}

#[allow(clippy::derivable_impls)]
impl Default for TrustLevel {
    fn default() -> Self {
        TrustLevel::Low
    }
}

string_enum! {
    /// What a tool does to the world. Grants list the side effects they permit.
    pub enum SideEffect {
        /// Reads only.
        Read = "read",
        /// Changes state.
        Write = "write",
        /// Changes state irreversibly.
        Destructive = "destructive",
    }
}

string_enum! {
    /// Informational risk label of a tool; it never gates a call.
    pub enum RiskLevel {
        /// Low risk.
        Low = "low",
        /// Medium risk.
        Medium = "medium",
        /// High risk.
        High = "high",
    }
}

impl RiskLevel {
    /// The risk of a tool that declares none: destructive or high trust ⇒ high; write or
    /// medium trust ⇒ medium; otherwise low.
    pub fn derive(side_effect: Option<SideEffect>, required_trust: TrustLevel) -> RiskLevel {
        match (side_effect, required_trust) {
            (Some(SideEffect::Destructive), _) | (_, TrustLevel::High) => RiskLevel::High,
            (Some(SideEffect::Write), _) | (_, TrustLevel::Medium) => RiskLevel::Medium,
            _ => RiskLevel::Low,
        }
    }
}

string_enum! {
    /// Whether the gateway enforces grants or only records decisions.
    pub enum PolicyMode {
        /// Enforce grants and sessions (the default).
        AllowList = "allow-list",
        /// Allow every call and audit what would have been decided.
        Observe = "observe",
    }
}

string_enum! {
    /// An allow or deny outcome, for default decisions and tool rules.
    pub enum PolicyDecision {
        /// Allow.
        Allow = "allow",
        /// Deny.
        Deny = "deny",
    }
}

string_enum! {
    /// How the gateway learns who is calling.
    pub enum AuthMode {
        /// A short-lived token signed by the platform, verified offline against the keys in the
        /// rendered policy (the default).
        PlatformSession = "platform-session",
        /// A bearer token from an external OAuth 2.1 / OpenID issuer (`auth.issuerURL`).
        Oauth = "oauth",
        /// Identity headers set by a trusted proxy in front of the gateway. Only for deployments
        /// where that proxy strips client-supplied copies; never the default.
        TrustedHeaders = "trusted-headers",
    }
}

#[allow(clippy::derivable_impls)]
impl Default for AuthMode {
    fn default() -> Self {
        AuthMode::PlatformSession
    }
}

string_enum! {
    /// How new versions of a server roll out.
    pub enum RolloutStrategy {
        /// Replace pods gradually.
        RollingUpdate = "RollingUpdate",
        /// Stop all pods, then start new ones.
        Recreate = "Recreate",
        /// Run `canaryReplicas` pods of the new version beside the stable ones.
        Canary = "Canary",
    }
}

string_enum! {
    /// What the gateway does when a tool's definition changes from its pinned hash.
    pub enum ToolDriftAction {
        /// Record the drift in status and metrics, keep serving the tool (the default).
        Report = "report",
        /// Deny calls to the changed tool with `tool_definition_changed`.
        Deny = "deny",
    }
}

string_enum! {
    /// Lifecycle phase of an MCPServer.
    pub enum Phase {
        /// Objects are being created.
        Pending = "Pending",
        /// Some objects are ready.
        PartiallyReady = "PartiallyReady",
        /// Every object is ready.
        Ready = "Ready",
        /// Reconciliation failed; see `message`.
        Error = "Error",
    }
}

string_enum! {
    /// Who may see a server in the catalog; also selects its default namespace.
    pub enum Scope {
        /// The owning team only (namespace `mcp-servers`).
        Tenant = "tenant",
        /// The whole organisation (namespace `mcp-servers-org`).
        Org = "org",
        /// Everyone (namespace `mcp-servers-public`).
        Public = "public",
    }
}

impl Scope {
    /// The namespace a server of this scope lands in when none is given.
    pub const fn default_namespace(self) -> &'static str {
        match self {
            Scope::Tenant => "mcp-servers",
            Scope::Org => "mcp-servers-org",
            Scope::Public => "mcp-servers-public",
        }
    }
}
