//! The desired state of an app: fetch the source, render it, and turn the
//! manifests into sync targets (namespace defaulted, tracking id stamped,
//! project rules checked).

use std::collections::HashMap;

use driftless_api::{AppProject, Application, ApplicationSource};
use driftless_render::{Manifest, SourceType};
use driftless_sync::cluster::ClusterError;
use driftless_sync::plan::Target;
use driftless_sync::{ResourceKey, track};

use crate::project;
use crate::reconcile::Context;

/// What Git wants, at one revision.
pub struct Desired {
    /// The resolved commit.
    pub revision: String,
    /// How it was rendered.
    pub source_type: SourceType,
    /// Every manifest, as a sync target.
    pub targets: Vec<Target>,
}

/// Fetches and renders `source` at `revision` for `app`. The error is a
/// ComparisonError message: it names the repository, path or file at fault.
pub async fn desired(
    ctx: &Context,
    app: &Application,
    project: &AppProject,
    source: &ApplicationSource,
    revision: &str,
) -> Result<Desired, String> {
    let started = std::time::Instant::now();
    let fetched = ctx.git.fetch(&source.repo_url, revision).await;
    ctx.config.metrics.git_request(&source.repo_url, "fetch", started.elapsed().as_secs_f64(), fetched.is_ok());
    let checkout = fetched.map_err(|e| e.to_string())?;
    let root = checkout.path.clone();
    let src = source.clone();
    let rendered = tokio::task::spawn_blocking(move || driftless_render::render(&root, &src))
        .await
        .map_err(|e| format!("render task failed: {e}"))?
        .map_err(|e| format!("rendering {} at {}: {e}", source.repo_url, short(&checkout.revision)))?;

    let instance = crate::reconcile::instance(app);
    let dest_ns = app.spec.destination.namespace.clone().filter(|s| !s.is_empty());
    let crd_scopes = crd_scopes(&rendered.manifests);
    let mut targets = Vec::with_capacity(rendered.manifests.len());
    let mut seen: HashMap<ResourceKey, ()> = HashMap::new();
    for mut m in rendered.manifests {
        let namespaced = match ctx.cluster.is_namespaced(m.api_version(), m.kind()).await {
            Ok(n) => n,
            // A kind whose CRD comes with the app: its CRD says.
            Err(ClusterError::UnknownKind { .. }) => {
                crd_scopes.get(&(m.group().to_string(), m.kind().to_string())).copied().unwrap_or(true)
            }
            Err(e) => return Err(format!("discovery of {} {}: {e}", m.api_version(), m.kind())),
        };
        if namespaced && m.namespace().is_none() {
            match &dest_ns {
                Some(ns) => m.set_namespace(ns),
                None => return Err(format!("{} {} has no namespace and spec.destination.namespace is empty", m.kind(), m.name())),
            }
        }
        if !project::permits_kind(project, m.group(), m.kind(), namespaced) {
            return Err(format!(
                "{}/{} {} is not permitted in project {}",
                m.group(),
                m.kind(),
                m.name(),
                project.metadata.name.as_deref().unwrap_or("default")
            ));
        }
        track(&mut m, &instance);
        let target = Target::new(m)?;
        if seen.insert(target.key.clone(), ()).is_some() && !target.is_hook() {
            return Err(format!("{} is rendered twice: each resource may appear only once", target.key));
        }
        targets.push(target);
    }
    Ok(Desired { revision: checkout.revision, source_type: rendered.source_type, targets })
}

/// Scope of the custom resource kinds whose CRDs are among the manifests.
fn crd_scopes(manifests: &[Manifest]) -> HashMap<(String, String), bool> {
    manifests
        .iter()
        .filter(|m| m.kind() == "CustomResourceDefinition")
        .filter_map(|m| {
            let spec = &m.value()["spec"];
            Some((
                (spec["group"].as_str()?.to_string(), spec["names"]["kind"].as_str()?.to_string()),
                spec["scope"].as_str() != Some("Cluster"),
            ))
        })
        .collect()
}

/// The first 7 characters of a commit, as people read them.
pub fn short(revision: &str) -> &str {
    revision.get(..7).unwrap_or(revision)
}
