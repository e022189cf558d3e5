//! Errors of this crate.

use std::fmt;

/// One problem found in a policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Path of the offending field, e.g. `grants[3].tool_rules[0].name` (empty for the whole
    /// document).
    pub field: String,
    /// What is wrong, lower case, no final period.
    pub message: String,
}

/// A policy document that must not be activated or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InvalidDocument {
    /// Every problem found, in document order.
    pub problems: Vec<Problem>,
}

impl InvalidDocument {
    pub(crate) fn single(field: &str, message: impl Into<String>) -> InvalidDocument {
        InvalidDocument { problems: vec![Problem { field: field.to_string(), message: message.into() }] }
    }
}

impl fmt::Display for InvalidDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid policy document: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if p.field.is_empty() {
                f.write_str(&p.message)?;
            } else {
                write!(f, "{}: {}", p.field, p.message)?;
            }
        }
        Ok(())
    }
}

/// Why a policy could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The MCPServer has no name.
    #[error("the MCPServer has no metadata.name")]
    MissingName,
    /// The MCPServer spec is invalid.
    #[error("MCPServer {name} is invalid: {errors}")]
    InvalidServer {
        /// Server name.
        name: String,
        /// The validation errors, joined.
        errors: String,
    },
    /// The rendered document failed validation.
    #[error(transparent)]
    InvalidDocument(#[from] InvalidDocument),
}
