//! One kustomization directory: load it, gather resources (files, bases,
//! components), run generators, then transformers in kustomize's order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::fsys::Fs;
use crate::generators::{self, GenKind};
use crate::patch::{self, Loaded, schema::Schema};
use crate::remote::{RemoteBase, Remotes, RepoSpec};
use crate::resource::Resource;
use crate::transformers::{meta, workload};
use crate::types::{Kustomization, SortOptions, Var};

/// Accepted kustomization file names, in kustomize's lookup order.
pub const FILE_NAMES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// State shared by the whole build.
pub struct Ctx<'a> {
    pub fs: &'a Fs,
    /// Loaded on first use: most builds apply no strategic merge patch.
    pub schema: std::cell::OnceCell<Schema>,
    pub helm: Option<PathBuf>,
    /// `vars` from every kustomization, resolved at the end.
    pub vars: Vec<Var>,
    /// `sortOptions` of the top kustomization.
    pub sort: Option<SortOptions>,
    /// Recursion guard: directories being built.
    pub stack: Vec<PathBuf>,
    /// Field specs from `configurations` files.
    pub extra: crate::config::Extra,
    /// Fetches remote bases; None refuses them.
    pub remotes: Option<Arc<dyn Remotes>>,
    /// The remote bases fetched so far.
    pub remote_bases: Vec<RemoteBase>,
}

/// Finds the kustomization file in `dir`.
pub fn find_file(dir: &Path) -> Result<PathBuf> {
    let found: Vec<PathBuf> = FILE_NAMES.iter().map(|n| dir.join(n)).filter(|p| p.is_file()).collect();
    match found.len() {
        0 => Err(Error::Read {
            path: dir.to_path_buf(),
            reason: format!("no kustomization file found; create one of {}", FILE_NAMES.join(", ")),
        }),
        1 => Ok(found[0].clone()),
        _ => Err(Error::Build { path: dir.to_path_buf(), reason: "found multiple kustomization files; keep only one".into() }),
    }
}

/// Reads and validates a kustomization file.
pub fn read_kustomization(ctx: &Ctx, kfile: &Path) -> Result<Kustomization> {
    let text = ctx.fs.read_string(kfile)?;
    let docs = crate::yaml::parse::parse_documents(&text).map_err(|e| Error::Yaml { path: kfile.to_path_buf(), reason: e })?;
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    let v = match docs.len() {
        0 => {
            return Err(Error::Build {
                path: kfile.to_path_buf(),
                reason: "kustomization.yaml is empty; list resources, components or generators".into(),
            });
        }
        // kustomize also rejects a document with no fields (`{}`).
        1 if docs[0].as_object().is_some_and(|m| m.is_empty()) => {
            return Err(Error::Build {
                path: kfile.to_path_buf(),
                reason: "kustomization.yaml is empty; list resources, components or generators".into(),
            });
        }
        1 => docs.into_iter().next().unwrap_or(Value::Null),
        _ => {
            return Err(Error::Yaml { path: kfile.to_path_buf(), reason: "a kustomization file must hold one document".into() });
        }
    };
    let k: Kustomization = serde_json::from_value(v).map_err(|e| Error::Field {
        path: kfile.to_path_buf(),
        field: unknown_field(&e.to_string()),
        reason: format!("{e}; see the kustomization reference for valid fields"),
    })?;
    let unsupported: [(&str, bool, &str); 5] = [
        ("openAPI", k.open_api.is_some(), "custom OpenAPI schemas are not loaded"),
        ("generators", k.generators.is_some(), "generator plugins are not run"),
        ("transformers", k.transformers.is_some(), "transformer plugins are not run"),
        ("validators", k.validators.is_some(), "validator plugins are not run"),
        ("helmChartInflationGenerator", k.helm_chart_inflation_generator.is_some(), "use `helmCharts` instead"),
    ];
    for (field, present, reason) in unsupported {
        if present {
            return Err(Error::Unsupported { path: kfile.to_path_buf(), field: field.into(), reason: reason.into() });
        }
    }
    Ok(k)
}

/// The field named by a serde error, when it names one.
fn unknown_field(msg: &str) -> String {
    match msg.strip_prefix("unknown field `") {
        Some(rest) => rest.split('`').next().unwrap_or("?").to_string(),
        None => "(kustomization)".to_string(),
    }
}

/// The directory a remote base names, fetched; None for a local entry.
fn remote_dir(ctx: &mut Ctx, entry: &str, kfile: &Path) -> Result<Option<PathBuf>> {
    let Some(spec) = RepoSpec::parse(entry) else { return Ok(None) };
    let unsupported = |reason: &str| Error::Remote { url: entry.into(), path: kfile.into(), reason: reason.into() };
    let failed = |reason: String| Error::RemoteBase { url: entry.into(), path: kfile.into(), reason };
    // kustomize reads an http(s) URL as a single file first.
    let url_path = entry.split('?').next().unwrap_or(entry);
    if entry.starts_with("http") && [".yaml", ".yml", ".json"].iter().any(|x| url_path.ends_with(x)) {
        return Err(unsupported("files over HTTP are not fetched by the native engine"));
    }
    let spec = spec.map_err(|r| failed(format!("not a repository URL: {r}")))?;
    let Some(remotes) = ctx.remotes.clone() else {
        return Err(unsupported("this build fetches no repositories"));
    };
    let checkout = remotes.checkout(&spec.repo, &spec.reference).map_err(failed)?;
    let root = ctx.fs.add_root(&checkout.root)?;
    let at = format!("{} at {}", spec.repo, &checkout.revision[..checkout.revision.len().min(12)]);
    let dir = root.join(&spec.path).canonicalize().ok().filter(|d| d.is_dir());
    let dir = dir.ok_or_else(|| failed(format!("`{}` is no directory of {at}", spec.path)))?;
    if !dir.starts_with(&root) {
        return Err(failed(format!("`{}` of {at} is a symlink leaving the repository", spec.path)));
    }
    if !ctx.remote_bases.iter().any(|b| b.url == entry) {
        ctx.remote_bases.push(RemoteBase { url: entry.into(), repo: spec.repo, reference: spec.reference, revision: checkout.revision });
    }
    Ok(Some(dir))
}

/// Builds the kustomization in `dir` on top of `input` (non-empty only for
/// components, which transform their parent's resources).
pub fn run(ctx: &mut Ctx, dir: &Path, mut res: Vec<Resource>, as_component: bool) -> Result<Vec<Resource>> {
    if ctx.stack.iter().any(|d| d == dir) {
        return Err(Error::Build { path: dir.to_path_buf(), reason: "cycle: this kustomization includes itself".into() });
    }
    ctx.stack.push(dir.to_path_buf());
    let kfile = find_file(dir)?;
    let k = read_kustomization(ctx, &kfile)?;
    let kind = k.kind.as_deref().unwrap_or("Kustomization");
    if as_component && kind != "Component" {
        return Err(Error::Field {
            path: kfile.clone(),
            field: "kind".into(),
            reason: "directories listed under `components` must have `kind: Component`".into(),
        });
    }
    if !as_component && kind == "Component" {
        return Err(Error::Field {
            path: kfile.clone(),
            field: "kind".into(),
            reason: "a Component can only be used from `components`, not built or listed in `resources`".into(),
        });
    }
    if ctx.stack.len() == 1 {
        ctx.sort = k.sort_options.clone();
    } else if k.sort_options.is_some() && !as_component {
        // Only the top kustomization's sortOptions count.
    }

    // Configurations extend the built-in field spec tables.
    for c in k.configurations.iter().flatten() {
        let p = ctx.fs.resolve_file(dir, c, &kfile)?;
        let text = ctx.fs.read_string(&p)?;
        ctx.extra.load(&text, &p)?;
    }

    // Resources and bases.
    let mut entries: Vec<(&str, String)> = Vec::new();
    for r in k.resources.iter().flatten() {
        entries.push(("resources", r.clone()));
    }
    for r in k.bases.iter().flatten() {
        entries.push(("bases", r.clone()));
    }
    for (field, entry) in entries {
        if let Some(base) = remote_dir(ctx, &entry, &kfile)? {
            let new = run(ctx, &base, Vec::new(), false)?;
            extend_unique(&mut res, new, &kfile)?;
            continue;
        }
        let p = ctx.fs.resolve(dir, &entry, &kfile)?;
        if !p.exists() {
            return Err(Error::Field {
                path: kfile.clone(),
                field: field.into(),
                reason: format!("`{entry}` does not exist; fix the path (relative to {})", dir.display()),
            });
        }
        let new = if p.is_dir() {
            run(ctx, &p, Vec::new(), false)?
        } else {
            let p = ctx.fs.resolve_file(dir, &entry, &kfile)?;
            read_resources(ctx.fs, &p)?
        };
        extend_unique(&mut res, new, &kfile)?;
    }
    for c in k.components.iter().flatten() {
        if let Some(component) = remote_dir(ctx, c, &kfile)? {
            res = run(ctx, &component, res, true)?;
            continue;
        }
        let p = ctx.fs.resolve(dir, c, &kfile)?;
        if !p.is_dir() {
            return Err(Error::Field {
                path: kfile.clone(),
                field: "components".into(),
                reason: format!("`{c}` must be a directory holding a Component kustomization"),
            });
        }
        res = run(ctx, &p, res, true)?;
    }
    for c in k.crds.iter().flatten() {
        let p = ctx.fs.resolve_file(dir, c, &kfile)?;
        ctx.fs.read(&p)?;
    }

    // Generators.
    for (kind, list) in [(GenKind::ConfigMap, &k.config_map_generator), (GenKind::Secret, &k.secret_generator)] {
        for args in list.iter().flatten() {
            let g = generators::generate(kind, args, k.generator_options.as_ref(), dir, &kfile, ctx.fs)?;
            add_generated(&mut res, g, &kfile)?;
        }
    }
    if let Some(charts) = &k.helm_charts {
        let new = crate::helm::inflate(ctx, dir, &kfile, k.helm_globals.as_ref(), charts)?;
        extend_unique(&mut res, new, &kfile)?;
    }

    // Transformers, in kustomize's order.
    for entry in k.patches_strategic_merge.iter().flatten() {
        let text = patch_text(ctx, dir, &kfile, entry)?;
        match patch::load(&text, &kfile, "patchesStrategicMerge")? {
            Loaded::Smp(docs) => {
                for d in docs {
                    patch::smp_by_id(&mut res, &d, ctx.schema.get_or_init(Schema::load), &kfile, "patchesStrategicMerge")?;
                }
            }
            Loaded::Json(_) => {
                return Err(Error::Field {
                    path: kfile.clone(),
                    field: "patchesStrategicMerge".into(),
                    reason: "this is a JSON 6902 patch; list it under `patches` with a `target`".into(),
                });
            }
        }
    }
    for p in k.patches.iter().flatten() {
        let text = inline_or_file(ctx, dir, &kfile, "patches", p.path.as_deref(), p.patch.as_deref())?;
        let opt = |k: &str| p.options.as_ref().and_then(|o| o.get(k)).copied().unwrap_or(false);
        let allow = (opt("allowNameChange"), opt("allowKindChange"));
        match (patch::load(&text, &kfile, "patches")?, &p.target) {
            (Loaded::Smp(docs), None) => {
                for d in docs {
                    patch::smp_by_id(&mut res, &d, ctx.schema.get_or_init(Schema::load), &kfile, "patches")?;
                }
            }
            (Loaded::Smp(docs), Some(t)) => {
                for d in docs {
                    patch::smp_selected(&mut res, &d, t, ctx.schema.get_or_init(Schema::load), allow, &kfile)?;
                }
            }
            (Loaded::Json(ops), Some(t)) => patch::json_selected(&mut res, &ops, t, &kfile, "patches")?,
            (Loaded::Json(_), None) => {
                return Err(Error::Field {
                    path: kfile.clone(),
                    field: "patches".into(),
                    reason: "a JSON 6902 patch needs a `target` selecting the resources to patch".into(),
                });
            }
        }
    }
    if let Some(ns) = k.namespace.as_deref().filter(|n| !n.is_empty()) {
        meta::namespace(&mut res, ns, &ctx.extra.namespace);
        check_unique(&res, &kfile, "namespace")?;
    }
    let prefix = k.name_prefix.clone().unwrap_or_default();
    let suffix = k.name_suffix.clone().unwrap_or_default();
    if !prefix.is_empty() || !suffix.is_empty() {
        meta::prefix_suffix(&mut res, &prefix, &suffix);
        check_unique(&res, &kfile, "namePrefix/nameSuffix")?;
    }
    if let Some(l) = &k.common_labels {
        meta::common_labels(&mut res, l, &ctx.extra.common_labels);
    }
    for l in k.labels.iter().flatten() {
        meta::labels(&mut res, l, &ctx.extra.common_labels);
    }
    if let Some(a) = &k.common_annotations {
        meta::common_annotations(&mut res, a, &ctx.extra.common_annotations);
    }
    for p in k.patches_json6902.iter().flatten() {
        let text = inline_or_file(ctx, dir, &kfile, "patchesJson6902", p.path.as_deref(), p.patch.as_deref())?;
        let Some(t) = &p.target else {
            return Err(Error::Field {
                path: kfile.clone(),
                field: "patchesJson6902".into(),
                reason: "each entry needs a `target`".into(),
            });
        };
        match patch::load(&text, &kfile, "patchesJson6902")? {
            Loaded::Json(ops) => patch::json_selected(&mut res, &ops, t, &kfile, "patchesJson6902")?,
            Loaded::Smp(_) => {
                return Err(Error::Field {
                    path: kfile.clone(),
                    field: "patchesJson6902".into(),
                    reason: "the patch must be a list of JSON 6902 operations".into(),
                });
            }
        }
    }
    if let Some(r) = &k.replicas {
        workload::replicas(&mut res, r, &ctx.extra.replicas).map_err(|reason| Error::Field {
            path: kfile.clone(),
            field: "replicas".into(),
            reason,
        })?;
    }
    let mut images = k.images.clone().unwrap_or_default();
    images.extend(k.image_tags.clone().unwrap_or_default());
    if !images.is_empty() {
        workload::images(&mut res, &images, &ctx.extra.images);
    }
    if let Some(reps) = &k.replacements {
        crate::replacements::apply(ctx, dir, &kfile, reps, &mut res)?;
    }
    ctx.vars.extend(k.vars.clone().unwrap_or_default());
    if let Some(bm) = &k.build_metadata {
        // kustomize records a remote file's repository and ref in its origin.
        if !ctx.remote_bases.is_empty() && bm.iter().any(|o| o == "originAnnotations") {
            return Err(Error::Unsupported {
                path: kfile.clone(),
                field: "buildMetadata".into(),
                reason: "`originAnnotations` with remote bases is not implemented".into(),
            });
        }
        crate::buildmeta::apply(&kfile, &ctx.fs.relative(dir), ctx.stack.len() == 1, bm, &mut res)?;
    }
    ctx.stack.pop();
    Ok(res)
}

/// Text of an inline patch or of its file.
fn inline_or_file(ctx: &Ctx, dir: &Path, kfile: &Path, field: &str, path: Option<&str>, inline: Option<&str>) -> Result<String> {
    match (path, inline) {
        (Some(_), Some(_)) => {
            Err(Error::Field { path: kfile.to_path_buf(), field: field.into(), reason: "set either `path` or `patch`, not both".into() })
        }
        (None, None) => {
            Err(Error::Field { path: kfile.to_path_buf(), field: field.into(), reason: "each patch needs `path` or `patch`".into() })
        }
        (Some(p), None) => {
            let full = ctx.fs.resolve_file(dir, p, kfile)?;
            ctx.fs.read_string(&full)
        }
        (None, Some(t)) => Ok(t.to_string()),
    }
}

/// patchesStrategicMerge entries are file paths or inline YAML.
fn patch_text(ctx: &Ctx, dir: &Path, kfile: &Path, entry: &str) -> Result<String> {
    if entry.contains('\n') || entry.contains(": ") || entry.trim_start().starts_with('{') {
        return Ok(entry.to_string());
    }
    let full = ctx.fs.resolve_file(dir, entry, kfile)?;
    ctx.fs.read_string(&full)
}

/// Objects of a resource file; `List` kinds are flattened.
pub fn read_resources(fs: &Fs, p: &Path) -> Result<Vec<Resource>> {
    let text = fs.read_string(p)?;
    let docs = crate::yaml::parse::parse_documents(&text).map_err(|e| Error::Yaml { path: p.to_path_buf(), reason: e })?;
    let origin = fs.relative(p);
    let mut out = Vec::new();
    for d in docs {
        match d {
            Value::Null => {}
            Value::Object(ref m) => {
                let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
                if kind.ends_with("List") && m.get("items").is_some_and(Value::is_array) {
                    for it in m.get("items").and_then(Value::as_array).into_iter().flatten() {
                        out.push(check_object(it.clone(), p, &origin)?);
                    }
                } else {
                    out.push(check_object(d, p, &origin)?);
                }
            }
            _ => {
                return Err(Error::Yaml { path: p.to_path_buf(), reason: "each document must be a Kubernetes object (a mapping)".into() });
            }
        }
    }
    Ok(out)
}

fn check_object(v: Value, p: &Path, origin: &str) -> Result<Resource> {
    let r = Resource::new(v, origin);
    if r.kind().is_empty() {
        return Err(Error::Build {
            path: p.to_path_buf(),
            reason: "an object has no `kind`; every resource needs apiVersion, kind and metadata.name".into(),
        });
    }
    if r.kind() == "Kustomization" {
        return Err(Error::Build {
            path: p.to_path_buf(),
            reason: "this file is a Kustomization; list its directory, not the file, under `resources`".into(),
        });
    }
    if r.name().is_empty() {
        return Err(Error::Build {
            path: p.to_path_buf(),
            reason: format!("missing metadata.name in a {} (generateName alone is not accepted by kustomize)", r.kind()),
        });
    }
    Ok(r)
}

/// Two objects may not end up with the same id after a transformation.
fn check_unique(res: &[Resource], kfile: &Path, what: &str) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for r in res {
        if !seen.insert(r.id_key()) {
            return Err(Error::Build {
                path: kfile.to_path_buf(),
                reason: format!(
                    "{what} transformation produces ID conflict: two objects are now {}; give them distinct names",
                    r.id_string()
                ),
            });
        }
    }
    Ok(())
}

/// Appends `new`, refusing ids already present.
fn extend_unique(res: &mut Vec<Resource>, new: Vec<Resource>, kfile: &Path) -> Result<()> {
    let mut seen: std::collections::HashSet<(String, String, String, String)> = res
        .iter()
        .map(|r| {
            let (a, b, c, d) = r.id_key();
            (a.to_string(), b.to_string(), c.to_string(), d.to_string())
        })
        .collect();
    for r in new {
        let (a, b, c, d) = r.id_key();
        if !seen.insert((a.to_string(), b.to_string(), c.to_string(), d.to_string())) {
            return Err(Error::Build {
                path: kfile.to_path_buf(),
                reason: format!(
                    "may not add resource with an already registered id: {}; remove the duplicate or patch it instead",
                    r.id_string()
                ),
            });
        }
        res.push(r);
    }
    Ok(())
}

fn add_unique(res: &mut Vec<Resource>, r: Resource, kfile: &Path) -> Result<()> {
    if res.iter().any(|x| x.same_id(&r)) {
        return Err(Error::Build {
            path: kfile.to_path_buf(),
            reason: format!(
                "may not add resource with an already registered id: {}; remove the duplicate or patch it instead",
                r.id_string()
            ),
        });
    }
    res.push(r);
    Ok(())
}

/// Adds a generated object honouring `behavior` (create / merge / replace).
fn add_generated(res: &mut Vec<Resource>, g: Resource, kfile: &Path) -> Result<()> {
    let behavior = g.generated.as_ref().map(|i| i.behavior.clone()).unwrap_or_default();
    let gvk = g.gvk();
    let pos = res.iter().position(|x| {
        x.gvk() == gvk
            && x.names.iter().any(|n| n == g.name())
            && (g.namespace().is_empty() || x.namespaces.iter().any(|n| n == g.namespace()))
    });
    match (behavior.as_str(), pos) {
        ("create", _) => add_unique(res, g, kfile),
        (b, None) => Err(Error::Build {
            path: kfile.to_path_buf(),
            reason: format!("generator `{}` has behavior {b} but no {} of that name exists in the bases", g.name(), gvk.kind),
        }),
        ("replace", Some(i)) => {
            let old = &mut res[i];
            for f in ["data", "binaryData"] {
                let new = g.obj.get(f).cloned();
                if let Some(o) = old.obj.as_object_mut() {
                    match new {
                        Some(v) => {
                            o.insert(f.to_string(), v);
                        }
                        None => {
                            o.remove(f);
                        }
                    }
                }
            }
            copy_type(old, &g);
            merge_meta(old, &g);
            Ok(())
        }
        (_, Some(i)) => {
            let old = &mut res[i];
            for f in ["data", "binaryData"] {
                if let Some(Value::Object(new)) = g.obj.get(f) {
                    let o = old.obj.as_object_mut().map(|o| o.entry(f).or_insert_with(|| Value::Object(Default::default())));
                    if let Some(Value::Object(m)) = o {
                        for (k, v) in new {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            copy_type(old, &g);
            merge_meta(old, &g);
            Ok(())
        }
    }
}

/// A merged or replaced Secret takes the generator's `type`.
fn copy_type(old: &mut Resource, g: &Resource) {
    if let (Some(t), Some(o)) = (g.obj.get("type").cloned(), old.obj.as_object_mut()) {
        o.insert("type".into(), t);
    }
}

fn merge_meta(old: &mut Resource, g: &Resource) {
    for f in ["labels", "annotations"] {
        if let Some(Value::Object(new)) = g.obj.pointer(&format!("/metadata/{f}")) {
            let new = new.clone();
            if let Some(m) = crate::resource::metadata_mut(&mut old.obj) {
                let e = m.entry(f).or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(t) = e {
                    t.extend(new);
                }
            }
        }
    }
    // The merged object keeps a hash suffix only if both sides want one.
    let hash = g.generated.as_ref().is_some_and(|i| i.hash) && old.generated.as_ref().is_some_and(|i| i.hash);
    let behavior = old.generated.as_ref().map(|i| i.behavior.clone()).unwrap_or_default();
    old.generated = Some(crate::resource::GenInfo { hash, behavior });
    if let (Some(Value::Bool(true)), Some(o)) = (g.obj.get("immutable"), old.obj.as_object_mut()) {
        o.insert("immutable".into(), Value::Bool(true));
    }
}
