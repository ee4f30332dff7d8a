//! YAML reading (go-yaml v3 semantics) and writing (kustomize's exact output).

pub mod emit;
mod number;
pub mod parse;
mod style;
