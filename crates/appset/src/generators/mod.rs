//! Generators: each turns its part of the set's spec into a list of
//! [`Params`], reading the world (cluster Secrets, Git, SCM APIs) through
//! [`Sources`]. `selector` and `values` apply to every generator alike.

mod clusters;
mod compose;
mod duck;
mod git;
mod list;

use std::collections::BTreeMap;
use std::path::PathBuf;

use driftless_api::{ApplicationSetGenerator, ApplicationSetNestedGenerator, ApplicationSetTemplate, Generator};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use crate::Params;
use crate::params::{add_values, flatten};
use crate::template::Renderer;

pub use git::path_match;

/// A registered cluster, as the clusters generator sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterEntry {
    /// `name` (the server when the Secret names none).
    pub name: String,
    /// `server`.
    pub server: String,
    /// `project`, when the cluster belongs to one.
    pub project: Option<String>,
    /// The Secret's labels (none for the implicit in-cluster entry).
    pub labels: BTreeMap<String, String>,
    /// The Secret's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// A repository's files at one commit, on disk while this is held.
pub struct GitTree {
    /// The commit.
    pub revision: String,
    /// The checkout's root.
    pub root: PathBuf,
    /// Whatever keeps the checkout on disk.
    pub keep: Box<dyn std::any::Any + Send + Sync>,
}

/// What generators read of the world. The controller answers from the
/// control plane; `driftless appset generate` from Git alone, and says so
/// for the rest.
pub trait Sources: Send + Sync {
    /// The value of `key` in the Secret `name` of the set's namespace.
    fn secret(&self, name: &str, key: &str) -> impl Future<Output = Result<String, String>> + Send;
    /// The registered clusters, and the in-cluster entry unless a Secret
    /// names it or argocd-cm disables it.
    fn clusters(&self) -> impl Future<Output = Result<Vec<ClusterEntry>, String>> + Send;
    /// `repo` at `revision`, fetched with the repository's credentials.
    fn git(&self, repo: &str, revision: &str) -> impl Future<Output = Result<GitTree, String>> + Send;
    /// For `clusterDecisionResource`: the data of the ConfigMap
    /// `config_map` (its `apiVersion`, `kind`, `statusListKey`,
    /// `matchKey`) and the resources of that kind in the set's namespace,
    /// named `name` or selected by `selector`.
    fn decisions(
        &self,
        config_map: &str,
        name: Option<&str>,
        selector: Option<&LabelSelector>,
    ) -> impl Future<Output = Result<(BTreeMap<String, String>, Vec<Value>), String>> + Send;
    /// GitHub App installation tokens, kept until shortly before expiry.
    fn app_tokens(&self) -> &driftless_source::AppTokens;
}

/// Why a generator produced nothing.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// Something it reads could not be read (Git, an API, a Secret).
    #[error("{0}")]
    Source(String),
    /// The generator's spec is wrong.
    #[error("{0}")]
    Invalid(String),
}

impl GeneratorError {
    /// The same error, said of the field `at`.
    fn at(self, at: &str) -> GeneratorError {
        match self {
            GeneratorError::Source(m) => GeneratorError::Source(format!("{at}: {m}")),
            GeneratorError::Invalid(m) => GeneratorError::Invalid(format!("{at}: {m}")),
        }
    }
}

/// Elements produced by one generator.
pub type Generated = Result<Vec<Params>, GeneratorError>;

/// What one of the set's generators produced: its elements, and its own
/// template (over the set's) if it has one.
pub struct Output<'a> {
    /// `spec.generators[i]`.
    pub at: String,
    /// The elements, selector applied.
    pub elements: Vec<Params>,
    /// The generator's `template`.
    pub template: Option<&'a ApplicationSetTemplate>,
}

/// Runs one of the set's generators.
pub async fn generate<'a>(
    generator: &'a ApplicationSetGenerator,
    at: &str,
    renderer: &Renderer,
    sources: &impl Sources,
) -> Result<Output<'a>, GeneratorError> {
    let kinds = generator.kinds().len();
    if kinds != 1 {
        return Err(GeneratorError::Invalid(format!(
            "{at}: a generator names exactly one kind (list, clusters, git, matrix, merge, ...), this one names {kinds}"
        )));
    }
    let (elements, template) = if let Some(m) = &generator.matrix {
        (compose::matrix(m, &format!("{at}.matrix"), 1, renderer, sources).await?, m.template.as_ref())
    } else if let Some(m) = &generator.merge {
        (compose::merge(m, &format!("{at}.merge"), 1, renderer, sources).await?, m.template.as_ref())
    } else {
        (base(generator, at, renderer, sources).await?, template_of(generator))
    };
    let elements = select(elements, generator.selector.as_ref(), at)?;
    Ok(Output { at: at.to_string(), elements, template })
}

/// A nested generator (a child of matrix or merge): a base generator, or
/// at `depth` 1 a matrix or merge of base generators (Argo CD allows two
/// levels).
async fn nested(
    generator: &ApplicationSetNestedGenerator,
    at: &str,
    depth: usize,
    renderer: &Renderer,
    sources: &impl Sources,
) -> Generated {
    let composite = [("matrix", &generator.matrix), ("merge", &generator.merge)];
    let named = generator.kinds().len();
    if named != 1 {
        return Err(GeneratorError::Invalid(format!("{at}: a generator names exactly one kind, this one names {named}")));
    }
    let elements = match composite.iter().find_map(|(k, v)| v.as_ref().map(|v| (*k, v))) {
        Some((kind, _)) if depth >= 2 => {
            return Err(GeneratorError::Invalid(format!("{at}.{kind}: matrix and merge nest two levels deep at most, as in Argo CD")));
        }
        Some(("matrix", spec)) => {
            let m = read_nested(spec, &format!("{at}.matrix"))?;
            Box::pin(compose::matrix(&m, &format!("{at}.matrix"), depth + 1, renderer, sources)).await?
        }
        Some((_, spec)) => {
            let m = read_nested(spec, &format!("{at}.merge"))?;
            Box::pin(compose::merge(&m, &format!("{at}.merge"), depth + 1, renderer, sources)).await?
        }
        None => base(generator, at, renderer, sources).await?,
    };
    select(elements, generator.selector.as_ref(), at)
}

fn template_of<M, N>(g: &Generator<M, N>) -> Option<&ApplicationSetTemplate> {
    g.list
        .as_ref()
        .and_then(|x| x.template.as_ref())
        .or(g.clusters.as_ref().and_then(|x| x.template.as_ref()))
        .or(g.git.as_ref().and_then(|x| x.template.as_ref()))
        .or(g.scm_provider.as_ref().and_then(|x| x.template.as_ref()))
        .or(g.cluster_decision_resource.as_ref().and_then(|x| x.template.as_ref()))
        .or(g.pull_request.as_ref().and_then(|x| x.template.as_ref()))
        .or(g.plugin.as_ref().and_then(|x| x.template.as_ref()))
}

/// A matrix or merge nested in another, kept as JSON: read as its type.
fn read_nested<T: serde::de::DeserializeOwned>(spec: &driftless_api::FreeJson, at: &str) -> Result<T, GeneratorError> {
    let value = spec.value().map_err(|e| GeneratorError::Invalid(format!("{at}: {e}")))?;
    T::deserialize(value).map_err(|e| GeneratorError::Invalid(format!("{at}: {e}")))
}

/// Runs the generator `g` sets, of the kinds that may appear at any level.
async fn base<M, N>(g: &Generator<M, N>, at: &str, renderer: &Renderer, sources: &impl Sources) -> Generated {
    let go = renderer.is_go();
    let (elements, values) = if let Some(list) = &g.list {
        (list::generate(list, renderer).map_err(|e| e.at(&format!("{at}.list")))?, None)
    } else if let Some(c) = &g.clusters {
        (clusters::generate(c, go, sources).await.map_err(|e| e.at(&format!("{at}.clusters")))?, Some(&c.values))
    } else if let Some(git) = &g.git {
        (git::generate(git, go, sources).await.map_err(|e| e.at(&format!("{at}.git")))?, Some(&git.values))
    } else if let Some(d) = &g.cluster_decision_resource {
        (duck::generate(d, go, sources).await.map_err(|e| e.at(&format!("{at}.clusterDecisionResource")))?, Some(&d.values))
    } else if let Some(s) = &g.scm_provider {
        (crate::scm::scm_provider(s, go, sources).await.map_err(|e| e.at(at))?, Some(&s.values))
    } else if let Some(pr) = &g.pull_request {
        (crate::scm::pull_requests(pr, go, sources).await.map_err(|e| e.at(at))?, Some(&pr.values))
    } else {
        return Err(crate::scm::unsupported(&format!("{at}.plugin")));
    };
    let mut elements = elements;
    if let Some(values) = values {
        for (i, p) in elements.iter_mut().enumerate() {
            add_values(p, values, |t, p| renderer.string(t, p)).map_err(|e| GeneratorError::Invalid(format!("{at}: element {i}: {e}")))?;
        }
    }
    Ok(elements)
}

/// The elements `selector` selects, matched against their flattened
/// parameters as labels.
fn select(elements: Vec<Params>, selector: Option<&LabelSelector>, at: &str) -> Generated {
    let Some(selector) = selector else { return Ok(elements) };
    let mut kept = Vec::with_capacity(elements.len());
    for p in elements {
        let labels: BTreeMap<String, String> =
            flatten(&p).into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect();
        if crate::selector::matches(selector, &labels).map_err(|e| GeneratorError::Invalid(format!("{at}.selector.{e}")))? {
            kept.push(p);
        }
    }
    Ok(kept)
}
