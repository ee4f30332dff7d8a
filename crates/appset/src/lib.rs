//! ApplicationSets: what a set's generators produce (parameters), the
//! Applications its template makes of them, and how they are kept: created,
//! updated and deleted as the set's policy says, synced step by step under
//! a RollingSync strategy.
//!
//! The stages are pure where they can be: [`template`] and [`plan`] take
//! parameters and Applications and return Applications and actions; only
//! [`generators`] reads the world, through [`generators::Sources`].

pub mod apps;
pub mod controller;
pub mod generators;
pub mod params;
pub mod plan;
pub mod progressive;
pub mod scm;
pub mod selector;
pub mod sources;
pub mod template;

pub use generators::{GeneratorError, Sources};
pub use params::Params;

use driftless_api::{Application, ApplicationSet};

/// Why a set made no Applications: a condition on the set, and nothing
/// about its existing apps is changed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The template options or a template.
    #[error("{0}")]
    Template(#[from] template::TemplateError),
    /// A generator.
    #[error("{0}")]
    Generator(#[from] GeneratorError),
    /// An element's Application.
    #[error("{0}")]
    Apps(#[from] apps::AppsError),
}

/// The Applications `set` makes now: every generator run, every element
/// rendered. All or nothing: one error and no Application is returned.
pub async fn applications(set: &ApplicationSet, sources: &impl Sources) -> Result<Vec<Application>, Error> {
    let renderer = template::Renderer::for_spec(&set.spec)?;
    let mut outputs = Vec::with_capacity(set.spec.generators.len());
    for (i, g) in set.spec.generators.iter().enumerate() {
        outputs.push(generators::generate(g, &format!("spec.generators[{i}]"), &renderer, sources).await?);
    }
    Ok(apps::applications(set, &outputs, &renderer)?)
}
