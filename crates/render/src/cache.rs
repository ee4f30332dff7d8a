//! Renders reused across commits while the files they read are unchanged.
//!
//! A render that lists its inputs (a plain directory's, the native
//! Kustomize engine's) is kept with the digest of every file it read and
//! the names in every directory it read from or listed. At the next commit, the same source is rendered again only
//! if one of those files changed or one of those directories gained or lost
//! an entry (a new `kustomization.yml` beside a `kustomization.yaml` must
//! be noticed); otherwise the kept manifests are returned. In a monorepo, a
//! commit that touches one app re-renders that app alone.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use driftless_api::ApplicationSource;

use crate::{Inputs, Manifest, RenderContext, RenderError, Rendered, SourceType, sha256_hex};

/// How long a kept render nobody asks for stays. Every app renders again
/// at least once a resync period, so only renders of sources no app has any
/// more go: deleted apps, and sources edited since (a new targetRevision).
const UNUSED_RENDER_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Kept renders, by source. Shared by every app of a controller.
pub struct RenderCache {
    entries: Mutex<HashMap<String, Kept>>,
    /// See [`UNUSED_RENDER_LIFETIME`].
    unused_lifetime: Duration,
}

impl Default for RenderCache {
    fn default() -> RenderCache {
        RenderCache { entries: Mutex::default(), unused_lifetime: UNUSED_RENDER_LIFETIME }
    }
}

struct Kept {
    entry: Arc<Entry>,
    /// When a render last asked for it.
    asked: Instant,
}

struct Entry {
    inputs: Inputs,
    /// Each directory holding an input, with a digest of its entry names.
    listings: Vec<(String, String)>,
    source_type: SourceType,
    /// The manifests as JSON text: a parsed tree takes several times the
    /// memory, and a thousand apps' renders are kept.
    manifests: Vec<Box<str>>,
}

/// Whether a render came from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// The files it depends on are unchanged: the kept render was returned.
    Hit,
    /// Rendered now.
    Miss,
}

impl RenderCache {
    /// An empty cache.
    pub fn new() -> RenderCache {
        RenderCache::default()
    }

    /// Renders `source` from the checkout at `root`, or returns the kept
    /// render of the same source when no file it read has changed. `origin`
    /// names where `root` comes from (the repository URL): renders of
    /// different repositories never stand in for each other.
    pub fn render(
        &self,
        origin: &str,
        root: &Path,
        source: &ApplicationSource,
        ctx: &RenderContext,
    ) -> Result<(Rendered, Reuse), RenderError> {
        // A render may have decrypted files: one made with other keys never stands in.
        let key = format!("{}{}", key(origin, source), ctx.sops.as_ref().map(|k| k.fingerprint()).unwrap_or_default());
        let kept = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&key).map(|k| {
            k.asked = Instant::now();
            k.entry.clone()
        });
        if let Some(entry) = kept
            && entry.still_holds(root)
            && let Some(rendered) = entry.unpack()
        {
            return Ok((rendered, Reuse::Hit));
        }
        let rendered = crate::render(root, source, ctx)?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        entries.retain(|_, k| now.duration_since(k.asked) < self.unused_lifetime);
        match &rendered.inputs {
            Some(inputs) => {
                let listings = directories(inputs)
                    .into_iter()
                    .map(|dir| {
                        let names = listing(root, &dir).unwrap_or_default();
                        (dir, names)
                    })
                    .collect();
                let entry = Arc::new(Entry {
                    inputs: inputs.clone(),
                    listings,
                    source_type: rendered.source_type,
                    manifests: rendered.manifests.iter().map(|m| m.value().to_string().into_boxed_str()).collect(),
                });
                entries.insert(key, Kept { entry, asked: now });
            }
            None => {
                entries.remove(&key);
            }
        }
        Ok((rendered, Reuse::Miss))
    }
}

impl RenderCache {
    /// Drops the kept render of `source` from `origin` (a hard refresh).
    pub fn forget(&self, origin: &str, source: &ApplicationSource) {
        let prefix = key(origin, source);
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).retain(|k, _| !k.starts_with(&prefix));
    }
}

/// The key of a source's renders, less the key set's fingerprint that ends it.
fn key(origin: &str, source: &ApplicationSource) -> String {
    format!("{origin}\n{}\n", serde_json::to_string(source).unwrap_or_default())
}

impl Entry {
    /// The kept render again; None if a manifest no longer parses (it
    /// always should: it was written from one), which renders anew.
    fn unpack(&self) -> Option<Rendered> {
        let manifests =
            self.manifests.iter().map(|text| Manifest::new(serde_json::from_str(text).ok()?).ok()).collect::<Option<Vec<_>>>()?;
        Some(Rendered { source_type: self.source_type, manifests, inputs: Some(self.inputs.clone()) })
    }

    fn still_holds(&self, root: &Path) -> bool {
        self.inputs.files.iter().all(|i| std::fs::read(root.join(&i.path)).is_ok_and(|data| sha256_hex(&data) == i.sha256))
            && self.listings.iter().all(|(dir, names)| listing(root, dir).is_some_and(|now| &now == names))
    }
}

/// The directories that hold the files read, and those listed,
/// `/`-separated and relative.
fn directories(inputs: &Inputs) -> BTreeSet<String> {
    let holding = inputs.files.iter().map(|i| i.path.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default());
    holding.chain(inputs.listed.iter().map(|d| if d == "." { String::new() } else { d.clone() })).collect()
}

/// A digest of the sorted entry names of `root/dir`, leaving out the
/// scratch kustomizations that renders of other apps create for a moment.
fn listing(root: &Path, dir: &str) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(crate::kustomize::SCRATCH_PREFIX))
        .collect();
    names.sort();
    Some(sha256_hex(names.join("\n").as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Two apps sharing a base, as one commit's checkout.
    fn checkout(root: &Path, web_replicas: u32) {
        write(root, "base/kustomization.yaml", "resources: [cm.yaml]\n");
        write(root, "base/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {a: b}\n");
        write(root, "web/kustomization.yaml", "resources: [../base, deploy.yaml]\nnamePrefix: web-\n");
        write(
            root,
            "web/deploy.yaml",
            &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app}}\nspec: {{replicas: {web_replicas}}}\n"),
        );
        write(root, "api/kustomization.yaml", "resources: [../base]\nnamePrefix: api-\n");
        write(root, "README.md", "not read by any app\n");
    }

    fn source(path: &str) -> ApplicationSource {
        ApplicationSource { path: Some(path.into()), ..Default::default() }
    }

    #[test]
    fn only_the_app_whose_files_changed_renders_again() {
        let (c1, c2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        checkout(c1.path(), 1);
        checkout(c2.path(), 3);
        write(c2.path(), "README.md", "edited, but no app reads it\n");
        let cache = RenderCache::new();
        let ctx = RenderContext::default();
        for app in ["web", "api"] {
            assert_eq!(cache.render("repo", c1.path(), &source(app), &ctx).unwrap().1, Reuse::Miss);
        }

        let (api, reuse) = cache.render("repo", c2.path(), &source("api"), &ctx).unwrap();
        assert_eq!(reuse, Reuse::Hit, "api reads nothing the commit changed");
        assert_eq!(api.manifests[0].name(), "api-shared");
        let (web, reuse) = cache.render("repo", c2.path(), &source("web"), &ctx).unwrap();
        assert_eq!(reuse, Reuse::Miss, "web's deploy.yaml changed");
        assert_eq!(web.manifests.iter().find(|m| m.kind() == "Deployment").unwrap().value()["spec"]["replicas"], 3);

        assert_eq!(cache.render("other-repo", c2.path(), &source("api"), &ctx).unwrap().1, Reuse::Miss, "another repository");
        cache.forget("repo", &source("api"));
        assert_eq!(cache.render("repo", c2.path(), &source("api"), &ctx).unwrap().1, Reuse::Miss, "forgotten by a hard refresh");
        let opts = ApplicationSource { kustomize: Some(Default::default()), ..source("api") };
        assert_eq!(cache.render("repo", c2.path(), &opts, &ctx).unwrap().1, Reuse::Miss, "other source options");
    }

    #[test]
    fn a_change_to_a_shared_base_or_a_new_file_beside_an_input_renders_again() {
        let (c1, c2, c3) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        checkout(c1.path(), 1);
        checkout(c2.path(), 1);
        write(c2.path(), "base/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {a: changed}\n");
        checkout(c3.path(), 1);
        write(c3.path(), "api/kustomization.yml", "resources: []\n");
        let cache = RenderCache::new();
        let ctx = RenderContext::default();
        cache.render("repo", c1.path(), &source("api"), &ctx).unwrap();

        let (api, reuse) = cache.render("repo", c2.path(), &source("api"), &ctx).unwrap();
        assert_eq!(reuse, Reuse::Miss);
        assert_eq!(api.manifests[0].value()["data"]["a"], "changed");
        let second_kustomization = cache.render("repo", c3.path(), &source("api"), &ctx);
        assert!(second_kustomization.is_err(), "two kustomization files in one directory is an error kustomize reports, not a cache hit");
    }

    #[test]
    fn renders_nobody_asks_for_are_dropped_at_the_next_render() {
        let c = tempfile::tempdir().unwrap();
        checkout(c.path(), 1);
        let ctx = RenderContext::default();
        let cache = RenderCache { unused_lifetime: Duration::ZERO, ..RenderCache::new() };
        cache.render("repo", c.path(), &source("web"), &ctx).unwrap();
        assert_eq!(cache.render("repo", c.path(), &source("web"), &ctx).unwrap().1, Reuse::Hit, "asked for again: kept");
        cache.render("repo", c.path(), &source("api"), &ctx).unwrap();
        assert_eq!(cache.render("repo", c.path(), &source("web"), &ctx).unwrap().1, Reuse::Miss, "unused meanwhile: dropped");
        assert_eq!(cache.entries.lock().unwrap().len(), 1, "only what was rendered last is kept");
    }

    #[test]
    fn renders_that_do_not_list_their_inputs_are_never_reused() {
        let c = tempfile::tempdir().unwrap();
        checkout(c.path(), 1);
        let cache = RenderCache::new();
        // kubectl is on every machine: the binary engine's reads are unknown.
        let ctx = RenderContext { kustomize: crate::KustomizeEngine::Binary, ..Default::default() };
        assert_eq!(cache.render("repo", c.path(), &source("api"), &ctx).unwrap().1, Reuse::Miss);
        assert_eq!(cache.render("repo", c.path(), &source("api"), &ctx).unwrap().1, Reuse::Miss);
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n";

    /// Renders `dir` of a checkout made by `edit` after a render of the
    /// same directory from a checkout without the edit.
    fn directory_reuse(source: &ApplicationSource, edit: impl Fn(&Path)) -> Reuse {
        let (before, after) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for c in [before.path(), after.path()] {
            write(c, "plain/cm.yaml", CM);
            write(c, "plain/sub/deep.yaml", &CM.replace("plain", "deep"));
            write(c, "shared/cm.yaml", &CM.replace("plain", "shared"));
            write(c, "other/cm.yaml", &CM.replace("plain", "other"));
        }
        edit(after.path());
        let cache = RenderCache::new();
        let ctx = RenderContext::default();
        assert_eq!(cache.render("repo", before.path(), source, &ctx).unwrap().1, Reuse::Miss);
        cache.render("repo", after.path(), source, &ctx).unwrap().1
    }

    #[test]
    fn a_plain_directory_renders_again_only_when_what_it_reads_or_lists_changes() {
        let flat = source("plain");
        let recurse = ApplicationSource {
            directory: Some(Box::new(driftless_api::ApplicationSourceDirectory { recurse: true, ..Default::default() })),
            ..source("plain")
        };
        assert_eq!(directory_reuse(&flat, |_| {}), Reuse::Hit, "same files");
        assert_eq!(directory_reuse(&flat, |c| write(c, "other/cm.yaml", "edited: elsewhere\n")), Reuse::Hit, "another app's file");
        assert_eq!(directory_reuse(&flat, |c| write(c, "plain/sub/deep.yaml", "not read\n")), Reuse::Hit, "not recursed into");
        assert_eq!(directory_reuse(&flat, |c| write(c, "plain/cm.yaml", &CM.replace("plain", "edited"))), Reuse::Miss, "edited");
        assert_eq!(directory_reuse(&flat, |c| write(c, "plain/new.yaml", &CM.replace("plain", "new"))), Reuse::Miss, "a new file");
        assert_eq!(directory_reuse(&flat, |c| std::fs::remove_file(c.join("plain/cm.yaml")).unwrap()), Reuse::Miss, "a file gone");
        assert_eq!(
            directory_reuse(&recurse, |c| write(c, "plain/sub/deep.yaml", &CM.replace("plain", "edited"))),
            Reuse::Miss,
            "a file in a subdirectory"
        );
        assert_eq!(directory_reuse(&recurse, |c| write(c, "plain/sub/new/x.yaml", CM)), Reuse::Miss, "a new subdirectory's file");
        let symlinked = |target: &'static str| {
            move |c: &Path| {
                let link = c.join("plain/linked");
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(c.join(target), link).unwrap();
            }
        };
        let (before, after) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for (c, target) in [(before.path(), "shared"), (after.path(), "other")] {
            write(c, "plain/cm.yaml", CM);
            write(c, "shared/cm.yaml", &CM.replace("plain", "shared"));
            write(c, "other/cm.yaml", &CM.replace("plain", "other"));
            symlinked(target)(c);
        }
        let cache = RenderCache::new();
        let ctx = RenderContext::default();
        assert_eq!(cache.render("repo", before.path(), &recurse, &ctx).unwrap().1, Reuse::Miss);
        let (moved, reuse) = cache.render("repo", after.path(), &recurse, &ctx).unwrap();
        assert_eq!(reuse, Reuse::Miss, "a symlinked directory pointed elsewhere");
        assert!(moved.manifests.iter().any(|m| m.name() == "other"));
    }
}
