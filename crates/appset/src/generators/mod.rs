//! Generators: each turns its part of the set's spec into a list of
//! [`Params`], reading the world (cluster Secrets, Git, SCM APIs) through
//! [`Sources`].

use crate::Params;

/// What generators read of the world. The controller answers from the
/// control plane; `driftless appset generate` from Git alone.
pub trait Sources: Send + Sync {
    /// The value of `key` in the Secret `name` of the set's namespace.
    fn secret(&self, name: &str, key: &str) -> impl Future<Output = Result<String, String>> + Send;
}

/// Why a generator produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// Something it reads could not be read (Git, an API, a Secret).
    #[error("{0}")]
    Source(String),
    /// The generator's spec is wrong.
    #[error("{0}")]
    Invalid(String),
}

/// Elements produced by one generator.
pub type Generated = Result<Vec<Params>, GeneratorError>;
