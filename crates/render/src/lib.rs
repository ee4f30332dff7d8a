//! Stage 2, **render**: turn a source checkout into the desired manifests
//! (plain directories, Kustomize through `driftless-kustomize`, Helm).
//! A pure function of its inputs, so renders can be cached by what they read.
//!
//! Not implemented yet: it arrives with the sync engine.
