//! How every crate reads YAML: `serde_saphyr` with the YAML 1.2 core schema for untyped
//! values (`yes`, `n`, `on`, `0755` and `1_000` stay strings, as in Kubernetes tools) and
//! one-line errors that end with `at line L, column C`.
//!
//! `serde_saphyr`'s defaults follow YAML 1.1 for untyped values, so `namespace: n` read into a
//! `serde_json::Value` would become `false`; always go through these functions.

use serde::de::Deserialize;

/// The options every reader uses.
pub fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
    }
}

/// Reads one document.
pub fn from_str<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// Reads every non-empty document (empty and null documents are skipped).
pub fn from_multiple<'de, T: Deserialize<'de>>(text: &'de str) -> Result<Vec<T>, serde_saphyr::Error> {
    serde_saphyr::from_multiple_with_options(text, options())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    #[test]
    fn untyped_scalars_follow_yaml_1_2() {
        let value: Value =
            super::from_str("a: n\nb: yes\nc: 0755\nd: 1_000\ne: true\nf: 7\ng: ~\n").expect("yaml");
        assert_eq!(
            value,
            json!({"a": "n", "b": "yes", "c": "0755", "d": "1_000", "e": true, "f": 7, "g": null})
        );
    }

    #[test]
    fn errors_are_one_line_with_the_position() {
        let err = super::from_multiple::<Value>("a: 1\n---\nb: [\n").expect_err("unclosed");
        let text = err.to_string();
        assert!(!text.contains('\n') && text.contains("line 3"), "{text}");
        assert_eq!(err.location().map(|l| l.line()), Some(3));
    }

    #[test]
    fn anchors_and_merge_keys_resolve_and_empty_documents_are_skipped() {
        let docs: Vec<Value> =
            super::from_multiple("---\nb: &x {c: 1}\nd:\n  <<: *x\n  e: 2\n---\n---\n").expect("yaml");
        assert_eq!(docs, [json!({"b": {"c": 1}, "d": {"c": 1, "e": 2}})]);
    }
}
