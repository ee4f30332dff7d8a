//! Stage 1 of the pipeline, **source**: resolve an Application's
//! `repoURL` + `targetRevision` to a commit, and give the render stage that
//! commit's files on disk.
//!
//! Git is driven through the `git` binary, the tool of the field: one bare
//! mirror per repository URL, fetched on every resolve, and one read-only
//! checkout per commit, shared by every app that renders it. Helm
//! repositories and OCI registries arrive with the Helm issue.

mod git;

pub use git::{Checkout, GitCache, SourceError};
