//! The mirrored MCP request headers and the `=?base64?…?=` value encoding.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// `MCP-Protocol-Version`, lower case as HTTP libraries want it for lookups.
pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
/// `Mcp-Method`, lower case: mirrors the body's `method` (required from 2026-07-28).
pub const MCP_METHOD_HEADER: &str = "mcp-method";
/// `Mcp-Name`, lower case: mirrors `params.name` (`tools/call`, `prompts/get`) or `params.uri`
/// (`resources/read`) (required for those methods from 2026-07-28).
pub const MCP_NAME_HEADER: &str = "mcp-name";

/// Canonical spellings used in error messages and data.
pub(crate) const PROTOCOL_VERSION_DISPLAY: &str = "MCP-Protocol-Version";
pub(crate) const MCP_METHOD_DISPLAY: &str = "Mcp-Method";
pub(crate) const MCP_NAME_DISPLAY: &str = "Mcp-Name";

const SENTINEL_PREFIX: &str = "=?base64?";
const SENTINEL_SUFFIX: &str = "?=";

/// Why a mirrored header value could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum MalformedHeaderValue {
    /// The raw value holds a character other than visible ASCII, space or tab (non-ASCII values
    /// must use the base64 sentinel).
    #[error("the value holds characters outside visible ASCII")]
    InvalidCharacters,
    /// The value starts with `=?base64?` but does not end with `?=`.
    #[error("the base64 sentinel is not terminated by ?=")]
    UnterminatedSentinel,
    /// The sentinel's payload is not standard, padded base64.
    #[error("the base64 sentinel payload is not valid base64")]
    InvalidBase64,
    /// The sentinel's payload does not decode to UTF-8 text.
    #[error("the base64 sentinel payload is not UTF-8")]
    InvalidUtf8,
}

impl MalformedHeaderValue {
    /// A stable short code, e.g. `invalid_base64`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MalformedHeaderValue::InvalidCharacters => "invalid_characters",
            MalformedHeaderValue::UnterminatedSentinel => "unterminated_sentinel",
            MalformedHeaderValue::InvalidBase64 => "invalid_base64",
            MalformedHeaderValue::InvalidUtf8 => "invalid_utf8",
        }
    }
}

/// Decodes one mirrored header value (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`).
///
/// Surrounding spaces and tabs are dropped (the spec requires values with significant
/// surrounding whitespace to use the sentinel). A value of the form `=?base64?<payload>?=`
/// (the `base64` token compared case-insensitively) is decoded as standard, padded base64 into
/// UTF-8 text; any other value is taken literally and must be visible ASCII, space or tab.
pub fn decode_header_value(raw: &str) -> Result<Cow<'_, str>, MalformedHeaderValue> {
    let value = raw.trim_matches([' ', '\t']);
    if !value.bytes().all(|b| b == b'\t' || (0x20..=0x7e).contains(&b)) {
        return Err(MalformedHeaderValue::InvalidCharacters);
    }
    let is_sentinel =
        value.get(..SENTINEL_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(SENTINEL_PREFIX));
    if !is_sentinel {
        return Ok(Cow::Borrowed(value));
    }
    let payload = value
        .get(SENTINEL_PREFIX.len()..)
        .and_then(|rest| rest.strip_suffix(SENTINEL_SUFFIX))
        .ok_or(MalformedHeaderValue::UnterminatedSentinel)?;
    let bytes = STANDARD.decode(payload).map_err(|_| MalformedHeaderValue::InvalidBase64)?;
    String::from_utf8(bytes).map(Cow::Owned).map_err(|_| MalformedHeaderValue::InvalidUtf8)
}
