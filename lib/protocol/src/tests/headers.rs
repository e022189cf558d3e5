//! The `=?base64?…?=` sentinel and plain header values.

use std::borrow::Cow;

use crate::{MalformedHeaderValue, decode_header_value};

#[test]
fn plain_values_are_borrowed_and_trimmed() {
    assert_eq!(decode_header_value("tools/call"), Ok(Cow::Borrowed("tools/call")));
    assert_eq!(decode_header_value(" \techo\t "), Ok(Cow::Borrowed("echo")));
    assert_eq!(decode_header_value("a b"), Ok(Cow::Borrowed("a b")));
    assert_eq!(decode_header_value(""), Ok(Cow::Borrowed("")));
    // Sentinel-like but not a sentinel: taken literally.
    assert_eq!(decode_header_value("=?utf-8?B?YQ==?="), Ok(Cow::Borrowed("=?utf-8?B?YQ==?=")));
    assert_eq!(decode_header_value("x=?base64?YQ==?="), Ok(Cow::Borrowed("x=?base64?YQ==?=")));
}

#[test]
fn sentinels_decode() {
    let table: &[(&str, &str)] = &[
        ("=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, 世界"),
        ("=?base64?IHBhZGRlZCA=?=", " padded "),
        ("=?base64?bGluZTEKbGluZTI=?=", "line1\nline2"),
        ("=?Base64?ZWNobw==?=", "echo"),
        (" =?base64?ZWNobw==?= ", "echo"),
        ("=?base64??=", ""),
    ];
    for (raw, decoded) in table {
        assert_eq!(decode_header_value(raw).as_deref(), Ok(*decoded), "{raw}");
    }
}

#[test]
fn malformed_values_are_rejected() {
    use MalformedHeaderValue::*;
    let table: &[(&str, MalformedHeaderValue)] = &[
        ("=?base64?", UnterminatedSentinel),
        ("=?base64?=", UnterminatedSentinel),
        ("=?base64?ZWNobw==", UnterminatedSentinel),
        ("=?base64?ZWNobw==?= x", UnterminatedSentinel),
        ("=?base64?ZWNobw?=", InvalidBase64),
        ("=?base64?ZWNob===?=", InvalidBase64),
        ("=?base64?ZW Nobw==?=", InvalidBase64),
        ("=?base64?ZWNobw-_?=", InvalidBase64),
        ("=?base64?/w==?=", InvalidUtf8),
        ("café", InvalidCharacters),
        ("a\nb", InvalidCharacters),
        ("a\u{7f}", InvalidCharacters),
        ("\u{fffd}", InvalidCharacters),
    ];
    for (raw, problem) in table {
        assert_eq!(decode_header_value(raw), Err(*problem), "{raw:?}");
        assert!(!problem.as_str().is_empty());
    }
}
