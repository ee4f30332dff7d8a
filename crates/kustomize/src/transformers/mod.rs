//! Built-in transformers, each in its own module.

pub mod meta;
pub mod nameref;
pub mod workload;
