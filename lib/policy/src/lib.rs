//! The policy contract between operator, platform and gateway: the policy document
//! (`policy.json`), how it is rendered from the custom resources, its canonical revision, its
//! validation, and the evaluator that decides every governed call.
//!
//! - [`render`] turns an `MCPServer` plus the grants and sessions that reference it into a
//!   stamped, validated [`Document`].
//! - [`Document::from_json`] verifies a document as written (revision first, then content) and
//!   [`Snapshot`] indexes it for evaluation; a document that fails either never becomes active.
//! - [`Snapshot::evaluate`] runs the ordered checks (see [`evaluate`](crate::evaluate)) and
//!   returns a [`Decision`] with a stable [`Reason`] code, its HTTP status and full attribution.
//!
//! Invariants:
//! - Pure: no I/O, no async, no clock. Callers pass `now`; budgets are counted through the
//!   [`Budgets`] trait they supply. This crate must never depend on tokio, hyper or kube's
//!   client.
//! - Evaluation never panics and fails closed: anything unreadable denies.
//! - Evaluation is indexed by subject: its cost does not grow with grants for other callers.
//! - The same content always has the same revision; rendering never produces an invalid
//!   document.

mod args;
mod budget;
mod document;
mod error;
pub mod evaluate;
#[doc(hidden)]
pub mod fuzz;
mod reason;
mod render;
mod validate;

pub use budget::{BudgetKey, BudgetRefusal, Budgets, Charge, MemoryBudgets};
pub use document::{
    AuthSettings, Document, Grant, Jwk, Jwks, PlatformTrust, PolicySettings, SCHEMA_VERSION, ServerInfo,
    Session, SessionSettings, Tool, ToolRule, revision_of_value,
};
pub use error::{InvalidDocument, Problem, RenderError};
pub use evaluate::{
    ArgumentViolation, Call, Decision, Identity, ObjectRef, Request, Snapshot, ToolVisibility,
};
pub use reason::Reason;
pub use render::{RenderContext, render};

#[cfg(test)]
mod tests;
