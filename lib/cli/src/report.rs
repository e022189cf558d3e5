//! Findings: one line per problem, `error: <file>: <field>: <message>: "<value>"`.

use std::fmt;
use std::io::Write;
use std::path::Path;

use mcp_api::{FieldError, Findings};

use crate::error::{count, source_label};
use crate::yaml::Problem;

/// Whether a finding blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    /// Makes the input invalid; the command exits 1.
    Error,
    /// Advisory.
    Warning,
}

/// One problem, located in a file (and document) and a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finding {
    pub severity: Severity,
    /// `file` or `file (document N)`.
    pub source: String,
    /// Field path; empty for the document or file itself.
    pub field: String,
    pub message: String,
    pub value: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{severity}: {}", self.source)?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(value) = &self.value {
            write!(f, ": {value:?}")?;
        }
        Ok(())
    }
}

/// Where findings about one document go.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    label: String,
}

impl Source {
    /// `file`, or `file (document N)` when the file holds several documents.
    pub(crate) fn new(file: &Path, document: usize, several: bool) -> Self {
        Source { label: source_label(file, several.then_some(document)) }
    }

    /// A whole file.
    pub(crate) fn file(file: &Path) -> Self {
        Source { label: source_label(file, None) }
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }
}

/// Findings in the order they were found.
#[derive(Clone, Debug, Default)]
pub(crate) struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub(crate) fn push(&mut self, severity: Severity, source: &Source, problem: Problem) {
        self.findings.push(Finding {
            severity,
            source: source.label.clone(),
            field: problem.field,
            message: problem.message,
            value: problem.value,
        });
    }

    pub(crate) fn error(&mut self, source: &Source, problem: Problem) {
        self.push(Severity::Error, source, problem);
    }

    pub(crate) fn warning(&mut self, source: &Source, problem: Problem) {
        self.push(Severity::Warning, source, problem);
    }

    /// Adds lib/api's findings for one object.
    pub(crate) fn extend(&mut self, source: &Source, findings: Findings) {
        let convert = |e: FieldError| Problem { field: e.field, message: e.message, value: e.value };
        for e in findings.errors {
            self.error(source, convert(e));
        }
        for w in findings.warnings {
            self.warning(source, convert(w));
        }
    }

    pub(crate) fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }

    pub(crate) fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }

    /// `2 errors, 1 warning`.
    pub(crate) fn tally(&self) -> String {
        format!("{}, {}", count(self.errors(), "error"), count(self.warnings(), "warning"))
    }

    /// Writes one line per finding.
    pub(crate) fn print(&self, w: &mut dyn Write) -> std::io::Result<()> {
        for finding in &self.findings {
            writeln!(w, "{finding}")?;
        }
        Ok(())
    }
}
