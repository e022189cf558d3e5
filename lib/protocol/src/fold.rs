//! Case folding of object keys, to find keys that case-insensitive JSON readers confuse.
//!
//! Readers such as Go's `encoding/json` match object keys to field names case-insensitively,
//! with ASCII and Unicode simple case folding, so `Method`, `METHOD` and `meThod` (and `ſ` for
//! `s`, the Kelvin sign for `k`) all fill the field `method`. [`fold_key`] maps every member of
//! a fold class to one representative: the smallest character reachable through the
//! single-character upper- and lower-case mappings. That class is a superset of the simple
//! case-folding orbit (it also joins dotless `ı` with `I`), which only makes the check stricter.

use std::borrow::Cow;
use std::sync::LazyLock;

/// The protocol keys the gateway reads, at the message, `params` and `params._meta` levels.
pub(crate) const PROTOCOL_KEYS: &[&str] = &[
    "jsonrpc",
    "id",
    "method",
    "params",
    "name",
    "arguments",
    "_meta",
    "progressToken",
    "uri",
    "taskId",
    "task",
    "result",
    "error",
    "cursor",
    crate::inspect::META_PROTOCOL_VERSION,
];

/// The single character `c` maps to, when the mapping yields exactly one character.
fn single(mut mapped: impl Iterator<Item = char>) -> Option<char> {
    let first = mapped.next()?;
    mapped.next().is_none().then_some(first)
}

/// The representative of `c`'s fold class: the smallest character in the closure of the
/// single-character upper- and lower-case mappings (at most a few steps in practice).
fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let mut class = [c; 8];
    let mut len = 1;
    let mut i = 0;
    while i < len {
        let x = class[i];
        for next in [single(x.to_uppercase()), single(x.to_lowercase())].into_iter().flatten() {
            if len < class.len() && !class[..len].contains(&next) {
                class[len] = next;
                len += 1;
            }
        }
        i += 1;
    }
    class[..len].iter().copied().min().unwrap_or(c)
}

/// `key` with every character replaced by its fold class representative. Borrowed (no
/// allocation) when `key` is already folded.
pub fn fold_key(key: &str) -> Cow<'_, str> {
    if key.chars().all(|c| fold_char(c) == c) {
        return Cow::Borrowed(key);
    }
    Cow::Owned(key.chars().map(fold_char).collect())
}

/// [`PROTOCOL_KEYS`] folded, with their character counts (folding keeps the count).
static FOLDED_PROTOCOL_KEYS: LazyLock<Vec<(usize, String)>> =
    LazyLock::new(|| PROTOCOL_KEYS.iter().map(|k| (k.chars().count(), fold_key(k).into_owned())).collect());

/// Whether `key` is not a protocol key but folds equal to one.
pub(crate) fn shadows_protocol_key(key: &str) -> bool {
    if PROTOCOL_KEYS.contains(&key) {
        return false;
    }
    let count = key.chars().count();
    if !FOLDED_PROTOCOL_KEYS.iter().any(|(n, _)| *n == count) {
        return false;
    }
    let folded = fold_key(key);
    FOLDED_PROTOCOL_KEYS.iter().any(|(_, p)| *p == folded)
}

/// The first key of `keys` that folds equal to another one, if any.
pub(crate) fn fold_collision<'a>(keys: impl ExactSizeIterator<Item = &'a String>) -> Option<&'a str> {
    if keys.len() < 2 {
        return None;
    }
    let mut folded: Vec<(Cow<'a, str>, &'a str)> = keys.map(|k| (fold_key(k), k.as_str())).collect();
    folded.sort_unstable();
    folded.windows(2).find(|w| w[0].0 == w[1].0).map(|w| w[1].1)
}
