//! Reconcile errors. Each variant names what failed; [`Error::kind`] is its metric label.

use crate::build::BuildError;

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Kubernetes API call failed.
    #[error("{action}: {source}")]
    Api {
        /// What was being done, e.g. `apply Deployment mcp-servers/notes`.
        action: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The server cannot be built (invalid spec, missing gateway image).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The policy could not be rendered.
    #[error("render the policy: {0}")]
    Render(#[from] mcp_policy::RenderError),
    /// The caches of grants, sessions or servers are not filled yet.
    #[error("waiting for the {0} cache to fill")]
    CacheNotReady(&'static str),
    /// The rendered policy does not fit in a ConfigMap.
    #[error(
        "the rendered policy is {bytes} bytes ({grants} grants, {sessions} sessions); a ConfigMap holds at most {limit} bytes"
    )]
    PolicyTooLarge {
        /// Size of `policy.json`.
        bytes: usize,
        /// The limit.
        limit: usize,
        /// Grants in the policy.
        grants: usize,
        /// Sessions in the policy.
        sessions: usize,
    },
    /// The admission webhooks could not be set up.
    #[error("webhooks: {0}")]
    Webhook(String),
}

/// Metric label of an [`Error`].
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelValue)]
pub enum ErrorKind {
    /// [`Error::Api`].
    Api,
    /// [`Error::Build`].
    Invalid,
    /// [`Error::Render`].
    Render,
    /// [`Error::CacheNotReady`].
    CacheNotReady,
    /// [`Error::PolicyTooLarge`].
    PolicyTooLarge,
    /// [`Error::Webhook`].
    Webhook,
}

impl Error {
    /// Wraps a client error with what was being done.
    pub fn api(action: impl Into<String>, source: kube::Error) -> Error {
        Error::Api { action: action.into(), source: Box::new(source) }
    }

    /// The metric label of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api { .. } => ErrorKind::Api,
            Error::Build(_) => ErrorKind::Invalid,
            Error::Render(_) => ErrorKind::Render,
            Error::CacheNotReady(_) => ErrorKind::CacheNotReady,
            Error::PolicyTooLarge { .. } => ErrorKind::PolicyTooLarge,
            Error::Webhook(_) => ErrorKind::Webhook,
        }
    }

    /// True for a `404 Not Found` from the API.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { source, .. } if is_not_found(source))
    }
}

/// True for a `404 Not Found` from the API.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}
