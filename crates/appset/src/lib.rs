//! ApplicationSets: what a set's generators produce (parameters), the
//! Applications its template makes of them, and how they are kept: created,
//! updated and deleted as the set's policy says, synced step by step under
//! a RollingSync strategy.
//!
//! The stages are pure where they can be: [`template`] and [`plan`] take
//! parameters and Applications and return Applications and actions; only
//! [`generators`] reads the world, through [`generators::Sources`].

pub mod generators;
pub mod params;
pub mod scm;

pub use generators::{GeneratorError, Sources};
pub use params::Params;
