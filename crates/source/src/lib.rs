//! Stage 1 of the pipeline, **source**: resolve an Application's
//! `repoURL` + `targetRevision` to a commit and a checkout on disk (Git, Helm
//! repositories, OCI registries), with credentials sent only to the host they
//! belong to and no path ever escaping the checkout.
//!
//! Not implemented yet: it arrives with the sync engine.
