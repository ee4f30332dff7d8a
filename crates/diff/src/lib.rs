//! Stage 3, **diff**: compare desired manifests with live objects after
//! normalisation (defaults, ignoreDifferences, managed fields) and say which
//! resources are out of sync. Pure: unit-tested without a cluster.
//!
//! Not implemented yet: it arrives with the sync engine.
