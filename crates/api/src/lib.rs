//! The API driftless speaks: Argo CD's `argoproj.io/v1alpha1` kinds
//! `Application`, `ApplicationSet` and `AppProject`, with the same field names
//! and status layout, so that existing manifests apply unchanged.
//!
//! Pure data: no I/O, no async. Every other stage depends on these types.
//! The types land with the sync engine (issue "Sync engine").
