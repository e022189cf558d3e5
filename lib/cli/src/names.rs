//! Kubernetes object names: checks for the names we write and sanitising for the names we
//! derive (from a directory, a server and a subject).

/// Longest DNS-1123 label (Service, Deployment and server names).
pub(crate) const MAX_LABEL_LEN: usize = 63;
/// Longest DNS-1123 subdomain (grant and session names).
pub(crate) const MAX_SUBDOMAIN_LEN: usize = 253;

/// Checks a DNS-1123 label: at most 63 lower-case letters, digits and `-`, starting and
/// ending with a letter or digit. Returns why the name is not one.
pub(crate) fn check_label(name: &str) -> Result<(), String> {
    check(name, MAX_LABEL_LEN, false)
}

/// Checks a DNS-1123 subdomain: dot-separated labels, at most 253 characters in all.
pub(crate) fn check_subdomain(name: &str) -> Result<(), String> {
    check(name, MAX_SUBDOMAIN_LEN, true)?;
    for label in name.split('.') {
        check(label, MAX_LABEL_LEN, false)?;
    }
    Ok(())
}

fn check(name: &str, max: usize, dots: bool) -> Result<(), String> {
    let kind = if dots { "a DNS-1123 subdomain" } else { "a DNS-1123 label" };
    if name.is_empty() {
        return Err(format!("must be {kind} (it is empty)"));
    }
    if name.len() > max {
        return Err(format!("must be {kind} of at most {max} characters"));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.');
    if !name.chars().all(allowed) {
        let extra = if dots { ", '-' and '.'" } else { " and '-'" };
        return Err(format!("must be {kind}: lower-case letters, digits{extra} only"));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return Err(format!("must be {kind}: start and end with a letter or digit"));
    }
    Ok(())
}

/// Turns free text into a DNS-1123 label (or subdomain when `dots`): lower-cases it, replaces
/// every other character with `-`, collapses runs of separators, trims them from both ends
/// and truncates. Returns `None` when nothing usable is left.
pub(crate) fn sanitize(text: &str, dots: bool) -> Option<String> {
    let max = if dots { MAX_SUBDOMAIN_LEN } else { MAX_LABEL_LEN };
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || (dots && c == '.') { c } else { '-' };
        let prev_sep = out.ends_with('-') || out.ends_with('.');
        if (c == '-' || c == '.') && (out.is_empty() || prev_sep) {
            continue;
        }
        out.push(c);
    }
    // Each label at most 63 characters, the whole name at most `max`, no separator at an end.
    let labels: Vec<&str> = out
        .split('.')
        .map(|label| truncate(label, MAX_LABEL_LEN).trim_end_matches('-'))
        .filter(|label| !label.is_empty())
        .collect();
    let joined = labels.join(".");
    let name = truncate(&joined, max).trim_end_matches(['-', '.']);
    if name.is_empty() { None } else { Some(name.to_string()) }
}

/// The first `max` bytes of an ASCII string.
fn truncate(s: &str, max: usize) -> &str {
    s.get(..max).unwrap_or(s)
}

#[cfg(test)]
mod tests;
