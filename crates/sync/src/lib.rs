//! Stage 4, **sync**: plan (phases, waves, kind order, hooks) and carry out
//! apply and prune against the cluster.
//!
//! - [`plan`] is pure: a sort over the desired targets and the live
//!   resources that left Git;
//! - [`cluster`] is the only module that talks to the API server;
//! - [`compare`] computes each resource's sync and health status;
//! - [`tracking`] decides which app a live object belongs to;
//! - [`execute`] runs a plan wave by wave, reporting every result through
//!   [`progress`], and goes on from what an interrupted run recorded.

pub mod cluster;
pub mod compare;
pub mod execute;
pub mod plan;
pub mod progress;
mod resource;
pub mod tracking;

pub use resource::ResourceKey;
pub use tracking::{Tracking, TrackingMethod};
