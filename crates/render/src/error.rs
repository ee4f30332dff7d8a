//! Render errors: each names the file, the field or document, and the reason.

use std::path::PathBuf;

/// Why the desired state could not be rendered. Nothing may be pruned or
/// applied after one of these.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The app's path, or something it references, leaves the repository.
    #[error("{path}: {reason}; a source may only read inside its repository")]
    OutsideRepository {
        /// The offending path, as written.
        path: String,
        /// How it escapes.
        reason: &'static str,
    },
    /// The app's path does not exist in the revision.
    #[error("path {0:?} does not exist in the repository at this revision")]
    PathMissing(String),
    /// A manifest file could not be parsed.
    #[error("{file}: {reason}")]
    InvalidManifest {
        /// The file, relative to the repository root.
        file: String,
        /// What is wrong, where (document, line), without quoting values.
        reason: String,
    },
    /// A SOPS-encrypted file could not be decrypted.
    #[error("{file}: {reason}")]
    Sops {
        /// The file, relative to the repository root.
        file: String,
        /// Why (which keys it needs, which Secret to fix), never quoting it.
        reason: String,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A glob in `source.directory` is invalid.
    #[error("source.directory.{field}: invalid glob {glob:?}: {reason}")]
    InvalidGlob {
        /// `include` or `exclude`.
        field: &'static str,
        /// The glob.
        glob: String,
        /// Why.
        reason: String,
    },
    /// The kustomize build failed.
    #[error("kustomize build {dir} failed: {reason}")]
    Kustomize {
        /// The app's directory.
        dir: String,
        /// What kustomize said.
        reason: String,
    },
    /// `helm template` failed, or the chart's options are wrong.
    #[error("Helm chart {chart}: {reason}")]
    Helm {
        /// The chart: its path, or its name, version and repository.
        chart: String,
        /// What helm said, or what is wrong.
        reason: String,
    },
    /// A `$ref` names no source of the app.
    #[error("{field}: {reference} names no source of the app (a source with `ref: {}`)", reference.trim_start_matches('$'))]
    UnknownRef {
        /// The field holding the reference.
        field: &'static str,
        /// The reference, as written.
        reference: String,
    },
    /// A tool is missing.
    #[error("{tool} not found on PATH: {hint}")]
    ToolMissing {
        /// The binary.
        tool: &'static str,
        /// What to install.
        hint: &'static str,
    },
    /// A field the API server kept as written that driftless did not
    /// read (see `driftless_api::free`).
    #[error("{field}: {reason}")]
    Unread {
        /// The field.
        field: &'static str,
        /// Why it was not read.
        reason: driftless_api::TooDeep,
    },
    /// A feature of the source is not supported.
    #[error("{field}: {what} not supported")]
    Unsupported {
        /// The field that asks for it.
        field: &'static str,
        /// What it asks for.
        what: String,
    },
}
