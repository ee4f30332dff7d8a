//! Which apps to validate: the Applications among the repository's
//! documents, and those of ApplicationSets whose generators can be run
//! offline (lists, Git generators over this repository, matrices and merges
//! of them), through the ApplicationSet controller's own code.

use std::collections::BTreeMap;
use std::path::PathBuf;

use driftless_api::{Application, ApplicationSet, ApplicationSource};
use driftless_appset::generators::{ClusterEntry, GitTree};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use crate::discover::Doc;
use crate::finding::{Finding, Kind, Location, Severity};

/// This repository: where its checkout is, and the URLs that name it.
pub struct Local {
    /// The checkout's root.
    pub root: PathBuf,
    /// Its URLs, normalised as webhooks compare them; none means any Git
    /// URL is taken for this repository.
    urls: Vec<String>,
    tokens: driftless_source::AppTokens,
}

impl Local {
    /// The checkout at `root`, named by `urls`.
    pub fn new(root: PathBuf, urls: &[String]) -> Local {
        let urls = urls.iter().map(|u| driftless_source::normalise_url(u)).collect();
        Local { root, urls, tokens: Default::default() }
    }

    /// Whether `repo_url` is this repository (empty: a directory validated
    /// as an app).
    pub fn is_local(&self, repo_url: &str) -> bool {
        if repo_url.starts_with("oci://") {
            return false;
        }
        repo_url.is_empty() || self.urls.is_empty() || self.urls.contains(&driftless_source::normalise_url(repo_url))
    }

    /// Whether `source` is read from this repository's checkout.
    pub fn has(&self, source: &ApplicationSource) -> bool {
        source.chart.as_deref().is_none_or(str::is_empty) && self.is_local(&source.repo_url)
    }
}

/// An app to validate.
pub struct AppUnderTest {
    /// The Application (for a directory validated as one, made up).
    pub app: Application,
    /// Its manifest: the Application's document, or the ApplicationSet's.
    pub location: Location,
}

/// The apps of `docs`, and what was found on the way (manifests that do
/// not parse, sets not computed offline).
pub fn collect(docs: &[&Doc], local: &Local, findings: &mut Vec<Finding>) -> Vec<AppUnderTest> {
    let mut apps = Vec::new();
    for doc in docs {
        if doc.value["apiVersion"].as_str() != Some("argoproj.io/v1alpha1") {
            continue;
        }
        let name = doc.value["metadata"]["name"].as_str().unwrap_or("(unnamed)").to_string();
        match doc.value["kind"].as_str() {
            Some("Application") => match serde_json::from_value::<Application>(doc.value.clone()) {
                Ok(app) => apps.push(AppUnderTest { app, location: doc.location() }),
                Err(e) => findings.push(
                    Finding::new(Severity::Error, Kind::App, format!("Application {name}: not a valid Application: {e}"))
                        .at(doc.location()),
                ),
            },
            Some("ApplicationSet") => match serde_json::from_value::<ApplicationSet>(doc.value.clone()) {
                Ok(set) => apps.extend(generated(&set, &name, doc, local, findings)),
                Err(e) => findings.push(
                    Finding::new(Severity::Error, Kind::App, format!("ApplicationSet {name}: not a valid ApplicationSet: {e}"))
                        .at(doc.location()),
                ),
            },
            _ => {}
        }
    }
    apps
}

/// The Applications a set makes, when that needs nothing but this
/// repository; else a notice.
fn generated(set: &ApplicationSet, name: &str, doc: &Doc, local: &Local, findings: &mut Vec<Finding>) -> Vec<AppUnderTest> {
    let generators = serde_json::to_value(&set.spec.generators).unwrap_or_default();
    if let Some(need) = generators.as_array().into_iter().flatten().find_map(|g| needs(g, local)) {
        findings.push(
            Finding::new(
                Severity::Notice,
                Kind::Offline,
                format!("ApplicationSet {name}: {need} cannot be run offline; its Applications are not validated"),
            )
            .at(doc.location()),
        );
        return Vec::new();
    }
    match futures::executor::block_on(driftless_appset::applications(set, local)) {
        Ok(apps) => apps.into_iter().map(|app| AppUnderTest { app, location: doc.location() }).collect(),
        Err(e) => {
            findings.push(Finding::new(Severity::Error, Kind::App, format!("ApplicationSet {name}: {e}")).at(doc.location()));
            Vec::new()
        }
    }
}

/// What in a generator needs more than this repository, if anything.
fn needs(generator: &Value, local: &Local) -> Option<String> {
    for (key, g) in generator.as_object()? {
        match key.as_str() {
            "list" | "selector" | "values" | "template" => {}
            "git" => {
                let repo = g["repoURL"].as_str().unwrap_or_default();
                if !local.is_local(repo) {
                    return Some(format!("the git generator of another repository ({repo})"));
                }
            }
            "matrix" | "merge" => {
                if let Some(need) = g["generators"].as_array().into_iter().flatten().find_map(|n| needs(n, local)) {
                    return Some(need);
                }
            }
            other => return Some(format!("the {other} generator")),
        }
    }
    None
}

/// The offline world of generators: this checkout for Git, nothing else
/// (generators needing more were refused before running).
impl driftless_appset::Sources for Local {
    fn app_tokens(&self) -> &driftless_source::AppTokens {
        &self.tokens
    }

    async fn secret(&self, name: &str, _key: &str) -> Result<String, String> {
        Err(format!("reading Secret {name} needs a control plane"))
    }

    async fn clusters(&self) -> Result<Vec<ClusterEntry>, String> {
        Err("the clusters generator needs a control plane".into())
    }

    async fn git(&self, repo: &str, _revision: &str) -> Result<GitTree, String> {
        if !self.is_local(repo) {
            return Err(format!("{repo} is another repository; validate reads only the local checkout"));
        }
        Ok(GitTree { revision: "working tree".into(), root: self.root.clone(), keep: Box::new(()) })
    }

    async fn decisions(
        &self,
        _config_map: &str,
        _name: Option<&str>,
        _selector: Option<&LabelSelector>,
    ) -> Result<(BTreeMap<String, String>, Vec<Value>), String> {
        Err("the clusterDecisionResource generator needs a control plane".into())
    }
}
