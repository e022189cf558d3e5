//! MCP protocol versions, the `MCP-Protocol-Version` header and spec eras.

use std::fmt;

use crate::InspectError;

/// A protocol version this gateway knows. Ordered by release date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// `2024-11-05`: the HTTP+SSE two-endpoint transport (deprecated).
    V2024_11_05,
    /// `2025-03-26`: Streamable HTTP with sessions; the only version with JSON-RPC batches.
    V2025_03_26,
    /// `2025-06-18`: batches removed, `MCP-Protocol-Version` required after initialization.
    V2025_06_18,
    /// `2025-11-25`: the last sessionful revision.
    V2025_11_25,
    /// `2026-07-28`: stateless; `Mcp-Method` / `Mcp-Name` headers required and validated.
    V2026_07_28,
}

/// Which transport rules a version follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Era {
    /// `2024-11-05` … `2025-11-25`: `initialize`, `Mcp-Session-Id`, the GET stream. The mirrored
    /// `Mcp-Method` / `Mcp-Name` headers are optional, but checked when present.
    Sessionful,
    /// `2026-07-28` and later: no sessions, per-request `_meta`, mirrored headers required, no
    /// batches.
    Stateless,
}

impl Era {
    /// A stable lower-case name, e.g. `stateless`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Era::Sessionful => "sessionful",
            Era::Stateless => "stateless",
        }
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ProtocolVersion {
    /// Every known version, oldest first.
    pub const ALL: &'static [ProtocolVersion] = &[
        ProtocolVersion::V2024_11_05,
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
        ProtocolVersion::V2026_07_28,
    ];

    /// The version assumed when a request carries no `MCP-Protocol-Version` header (spec rule
    /// since 2025-06-18).
    pub const ASSUMED: ProtocolVersion = ProtocolVersion::V2025_03_26;

    /// The newest known version.
    pub const LATEST: ProtocolVersion = ProtocolVersion::V2026_07_28;

    /// The wire form, e.g. `2025-06-18`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2024_11_05 => "2024-11-05",
            ProtocolVersion::V2025_03_26 => "2025-03-26",
            ProtocolVersion::V2025_06_18 => "2025-06-18",
            ProtocolVersion::V2025_11_25 => "2025-11-25",
            ProtocolVersion::V2026_07_28 => "2026-07-28",
        }
    }

    /// The known version spelled exactly `s`, if any.
    pub fn parse(s: &str) -> Option<ProtocolVersion> {
        ProtocolVersion::ALL.iter().copied().find(|v| v.as_str() == s)
    }

    /// Resolves the `MCP-Protocol-Version` header: absent means [`ProtocolVersion::ASSUMED`];
    /// surrounding spaces and tabs are ignored; anything unknown (including an empty value) is
    /// [`InspectError::UnsupportedProtocolVersion`] (HTTP 400, JSON-RPC -32022) without an id.
    pub fn from_header(header: Option<&str>) -> Result<ProtocolVersion, InspectError> {
        let Some(raw) = header else {
            return Ok(ProtocolVersion::ASSUMED);
        };
        ProtocolVersion::parse(raw.trim_matches([' ', '\t'])).ok_or_else(|| {
            InspectError::UnsupportedProtocolVersion { requested: crate::error::bounded(raw), id: None }
        })
    }

    /// The era whose transport rules apply.
    pub const fn era(self) -> Era {
        match self {
            ProtocolVersion::V2026_07_28 => Era::Stateless,
            _ => Era::Sessionful,
        }
    }

    /// Whether the spec revision defines JSON-RPC batches (only `2025-03-26`). The gateway
    /// allows batches only on sessions negotiated at a version where this is true.
    pub const fn defines_batches(self) -> bool {
        matches!(self, ProtocolVersion::V2025_03_26)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
