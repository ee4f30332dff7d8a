//! Kustomize overlays, built by driftless' native engine
//! (`driftless-kustomize`), which also reports every file it read so that
//! a render can be reused while those files are unchanged. Remote bases are
//! fetched through the source layer when the render context has a fetcher;
//! a render is reused only when every remote base it used is pinned to a
//! commit (a branch or tag can move without a commit to the app's
//! repository). What the engine does not do (files over HTTP, plugins)
//! goes to the `kustomize` binary, or `kubectl kustomize`, and such a
//! render is never reused.
//!
//! `source.kustomize` options are applied the way `kustomize edit` would:
//! through a generated kustomization that wraps the app's directory. It is
//! written to a uniquely named scratch directory inside the checkout (a
//! kustomization may only refer to bases inside the root it is built from)
//! and removed afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use driftless_api::ApplicationSourceKustomize;
use driftless_kustomize::BuildOptions;
use serde_json::{Map, Value, json};

use crate::manifest::{Manifest, parse_manifests};
use crate::{Inputs, KustomizeEngine, RenderContext, RenderError, rel, sops};

/// The name of the wrapper kustomization's scratch directories begins so.
pub const SCRATCH_PREFIX: &str = ".driftless-kustomize-";

const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The kustomization file of `dir`, if it has one.
pub fn kustomization_file(dir: &Path) -> Option<PathBuf> {
    FILE_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// The manifests, and the files read to build them when the native engine
/// built them (None when the binary did: its reads are unknown).
pub fn render(
    root: &Path,
    app_dir: &Path,
    opts: Option<&ApplicationSourceKustomize>,
    ctx: &RenderContext,
) -> Result<(Vec<Manifest>, Option<Inputs>), RenderError> {
    let dir_label = rel(root, app_dir);
    let fail = |reason: String| RenderError::Kustomize { dir: dir_label.clone(), reason };
    if kustomization_file(app_dir).is_none() {
        return Err(fail("the directory has no kustomization.yaml".into()));
    }
    let wrapper = match opts.map(overlay).transpose().map_err(&fail)?.flatten() {
        Some(mut kustomization) => {
            let scratch = tempfile::Builder::new()
                .prefix(SCRATCH_PREFIX)
                .tempdir_in(root)
                .map_err(|source| RenderError::Io { path: root.into(), source })?;
            let base = Path::new("..").join(app_dir.strip_prefix(root).unwrap_or(Path::new("")));
            kustomization.insert("resources".into(), json!([base.to_string_lossy()]));
            rebase_patch_paths(&mut kustomization, &base);
            let text = serde_json::to_string_pretty(&Value::Object(kustomization)).map_err(|e| fail(e.to_string()))?;
            std::fs::write(scratch.path().join("kustomization.yaml"), text)
                .map_err(|source| RenderError::Io { path: scratch.path().into(), source })?;
            Some(scratch)
        }
        None => None,
    };
    let build_dir = wrapper.as_ref().map(|w| w.path()).unwrap_or(app_dir);
    let binary = |hint: &'static str| {
        // The binary reads files itself: it would need them decrypted on disk.
        if let Some(file) = sops::find_encrypted(root) {
            return Err(RenderError::Sops {
                file,
                reason: "is encrypted with SOPS, and the kustomize binary cannot decrypt it without writing plain text to disk; \
                         build this overlay with the native engine (`driftless controller --kustomize native`, the default)"
                    .into(),
            });
        }
        let yaml = build_with_binary(build_dir).map_err(|e| match e {
            BuildError::Missing => RenderError::ToolMissing { tool: "kustomize", hint },
            BuildError::Failed(reason) => fail(reason),
        })?;
        Ok((parse_manifests(&format!("kustomize build {dir_label}"), &yaml)?, None))
    };
    if ctx.kustomize == KustomizeEngine::Binary {
        return binary("the controller is set to build Kustomize overlays with the binary; install kustomize or kubectl");
    }
    let build_opts =
        BuildOptions { remotes: ctx.remotes.clone(), decrypt: Some(Arc::new(sops::Hook(ctx.sops.clone()))), ..BuildOptions::new(root) };
    match driftless_kustomize::build(build_dir, &build_opts) {
        Ok(build) => {
            let manifests = build
                .resources
                .into_iter()
                .map(|v| Manifest::new(v).map_err(|e| fail(format!("an output object {e}"))))
                .collect::<Result<_, _>>()?;
            // The wrapper is generated from the source options, which the
            // cache key already holds; its random name must not count.
            let scratch = wrapper.as_ref().map(|w| format!("{}/", rel(root, w.path())));
            let files = build.inputs.into_iter().filter(|i| scratch.as_ref().is_none_or(|s| !i.path.starts_with(s.as_str()))).collect();
            let inputs = Inputs { files, listed: Vec::new() };
            let reusable = build.remote_bases.iter().all(|b| b.is_pinned());
            Ok((manifests, reusable.then_some(inputs)))
        }
        Err(driftless_kustomize::Error::Remote { .. } | driftless_kustomize::Error::Unsupported { .. }) => {
            binary("this kustomization uses a file over HTTP or a field the native engine does not implement; install kustomize or kubectl")
        }
        Err(driftless_kustomize::Error::Decrypt { path, reason }) => Err(RenderError::Sops { file: path, reason }),
        Err(e) => Err(fail(e.to_string())),
    }
}

enum BuildError {
    Missing,
    Failed(String),
}

fn build_with_binary(dir: &Path) -> Result<String, BuildError> {
    let attempt = |program: &str, args: &[&str]| Command::new(program).args(args).arg(dir).output();
    let out = match attempt("kustomize", &["build"]) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match attempt("kubectl", &["kustomize"]) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BuildError::Missing),
            other => other,
        },
        other => other,
    }
    .map_err(|e| BuildError::Failed(e.to_string()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // kubectl prefixes its log header; keep the message itself.
        let reason = stderr.split("err=").last().unwrap_or(&stderr).trim().trim_matches('"');
        Err(BuildError::Failed(reason.to_string()))
    }
}

/// The kustomization fields for `source.kustomize`; None when it sets none.
fn overlay(o: &ApplicationSourceKustomize) -> Result<Option<Map<String, Value>>, String> {
    let mut k = Map::new();
    k.insert("apiVersion".into(), json!("kustomize.config.k8s.io/v1beta1"));
    k.insert("kind".into(), json!("Kustomization"));
    let base_len = k.len();
    if let Some(p) = o.name_prefix.as_deref().filter(|s| !s.is_empty()) {
        k.insert("namePrefix".into(), json!(p));
    }
    if let Some(s) = o.name_suffix.as_deref().filter(|s| !s.is_empty()) {
        k.insert("nameSuffix".into(), json!(s));
    }
    if let Some(ns) = o.namespace.as_deref().filter(|s| !s.is_empty()) {
        k.insert("namespace".into(), json!(ns));
    }
    if !o.common_labels.is_empty() {
        k.insert("commonLabels".into(), json!(o.common_labels));
    }
    if !o.common_annotations.is_empty() {
        k.insert("commonAnnotations".into(), json!(o.common_annotations));
    }
    if !o.images.is_empty() {
        k.insert("images".into(), Value::Array(o.images.iter().map(|i| image(i)).collect::<Result<_, _>>()?));
    }
    if !o.replicas.is_empty() {
        k.insert("replicas".into(), serde_json::to_value(&o.replicas).map_err(|e| e.to_string())?);
    }
    if !o.patches.is_empty() {
        k.insert("patches".into(), serde_json::to_value(&o.patches).map_err(|e| e.to_string())?);
    }
    if !o.components.is_empty() {
        k.insert("components".into(), json!(o.components));
    }
    Ok((k.len() > base_len).then_some(k))
}

/// Argo CD's image override syntax: `name=newName:tag`, `name:tag`,
/// `name@digest`, `name=newName`.
fn image(spec: &str) -> Result<Value, String> {
    let (name, target) = match spec.split_once('=') {
        Some((n, t)) => (n.to_string(), Some(t)),
        None => (String::new(), None),
    };
    let reference = target.unwrap_or(spec);
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (reference, None),
    };
    let (image_name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if image_name.is_empty() {
        return Err(format!("source.kustomize.images: {spec:?} names no image"));
    }
    let mut m = Map::new();
    if target.is_some() {
        m.insert("name".into(), json!(name));
        m.insert("newName".into(), json!(image_name));
    } else {
        m.insert("name".into(), json!(image_name));
    }
    if let Some(t) = tag {
        m.insert("newTag".into(), json!(t));
    }
    if let Some(d) = digest {
        m.insert("digest".into(), json!(d));
    }
    Ok(Value::Object(m))
}

/// Patch files in `source.kustomize.patches` are relative to the app's
/// directory; the wrapper sits one level beside it.
fn rebase_patch_paths(k: &mut Map<String, Value>, base: &Path) {
    if let Some(patches) = k.get_mut("patches").and_then(Value::as_array_mut) {
        for p in patches {
            if let Some(path) = p.get_mut("path")
                && let Some(s) = path.as_str()
            {
                *path = json!(base.join(s).to_string_lossy());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_overrides_in_argo_cd_syntax() {
        assert_eq!(image("nginx:1.27").unwrap(), json!({"name": "nginx", "newTag": "1.27"}));
        assert_eq!(image("nginx=ghcr.io/x/nginx:2").unwrap(), json!({"name": "nginx", "newName": "ghcr.io/x/nginx", "newTag": "2"}));
        assert_eq!(image("registry:5000/app@sha256:abc").unwrap(), json!({"name": "registry:5000/app", "digest": "sha256:abc"}));
    }

    #[test]
    fn overlay_options_wrap_the_app_and_build() {
        let root = tempfile::tempdir().unwrap();
        let app = root.path().join("apps/web/overlays/prod");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("kustomization.yaml"), "resources: [cm.yaml]\n").unwrap();
        std::fs::write(app.join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: b}\n").unwrap();
        let opts = ApplicationSourceKustomize {
            name_prefix: Some("prod-".into()),
            common_labels: [("team".to_string(), "web".to_string())].into(),
            ..Default::default()
        };
        let (m, inputs) = render(root.path(), &app, Some(&opts), &RenderContext::default()).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name(), "prod-cfg");
        assert_eq!(m[0].value()["metadata"]["labels"]["team"], "web");
        let (by_binary, binary_inputs) =
            render(root.path(), &app, Some(&opts), &RenderContext { kustomize: KustomizeEngine::Binary, ..Default::default() }).unwrap();
        assert_eq!(by_binary, m, "the binary, when chosen, builds the same overlay");
        assert!(binary_inputs.is_none(), "the binary's reads are unknown");
        let leftovers: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".driftless"))
            .collect();
        assert!(leftovers.is_empty(), "the scratch kustomization is removed");
        let read: Vec<_> = inputs.expect("the native engine reports its reads").files.into_iter().map(|i| i.path).collect();
        assert_eq!(read, ["apps/web/overlays/prod/cm.yaml", "apps/web/overlays/prod/kustomization.yaml"]);
    }
}
