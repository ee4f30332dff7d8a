//! Build errors: each names the file involved, the field when there is one,
//! and says how to fix the problem.

use std::path::PathBuf;

/// Everything that can make a build fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{path}: cannot read: {reason}")]
    Read {
        /// File that could not be read.
        path: PathBuf,
        /// Underlying cause.
        reason: String,
    },
    /// A file could not be decrypted (see [`crate::Decrypt`]).
    #[error("{path}: {reason}")]
    Decrypt {
        /// The encrypted file, relative to its root.
        path: String,
        /// Why, never quoting its content.
        reason: String,
    },
    /// A file is not valid YAML.
    #[error("{path}: invalid YAML: {reason}")]
    Yaml {
        /// File with the syntax error.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },
    /// A kustomization field has a bad value.
    #[error("{path}: field `{field}`: {reason}")]
    Field {
        /// Kustomization (or patch) file.
        path: PathBuf,
        /// The offending field.
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A kustomization field exists in kustomize but this engine does not
    /// implement it.
    #[error("{path}: field `{field}` is not supported yet by the native kustomize engine: {reason}")]
    Unsupported {
        /// Kustomization file.
        path: PathBuf,
        /// The unsupported field.
        field: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A path reference leaves the build root.
    #[error("{path}: `{reference}` is outside the build root {root}: {reason}")]
    OutsideRoot {
        /// Kustomization that holds the reference.
        path: PathBuf,
        /// The reference as written.
        reference: String,
        /// The root nothing may escape.
        root: PathBuf,
        /// Which rule was broken.
        reason: String,
    },
    /// A remote resource this build does not fetch.
    #[error("{path}: remote resource {url}: {reason}; vendor it into the repository and reference it by relative path")]
    Remote {
        /// The URL as written.
        url: String,
        /// Kustomization that references it.
        path: PathBuf,
        /// Why it is not fetched.
        reason: String,
    },
    /// A remote base could not be fetched or used.
    #[error("{path}: remote base {url}: {reason}")]
    RemoteBase {
        /// The URL as written.
        url: String,
        /// Kustomization that references it.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A semantic error while assembling resources.
    #[error("{path}: {reason}")]
    Build {
        /// Kustomization being built.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Helm chart inflation failed.
    #[error("{path}: helmCharts: {reason}")]
    Helm {
        /// Kustomization with the chart.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
