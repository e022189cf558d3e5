//! OCI images without a container daemon.
//!
//! - [`archive`]: deterministic tar and gzip (sorted entries, fixed mtimes, owners and modes).
//! - [`image`]: image assembly on a base layer made from pinned Debian packages; the result is
//!   an OCI image layout, written as one tar (`oci-archive`).
//! - [`read`]: reading an image archive someone else made — an OCI image layout tar or a
//!   `docker save` tar — into the manifest and blobs a registry takes, every blob checked
//!   against its digest.
//! - `push` (feature `push`): pushing what [`read`] returns to a registry with the OCI
//!   distribution client, and checking the registry reports the same manifest digest.
//!
//! Used by `cargo xtask dist|images` (the product images), `mcp-runtime server build`
//! (a team's image) and the platform's registry push.

pub mod archive;
pub mod image;
#[cfg(feature = "push")]
pub mod push;
pub mod read;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or process could not be used.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The input is not what it must be (a malformed archive, a digest that does not match).
    #[error("{0}")]
    Invalid(String),
    /// The registry refused or failed a push.
    #[error("registry: {0}")]
    Registry(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
