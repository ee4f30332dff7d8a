//! `buildMetadata`: managed-by label and origin annotations.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::resource::{Resource, metadata_mut};

/// The label value `kubectl kustomize` writes (its embedded kustomize
/// reports its version as `(devel)`).
const MANAGED_BY: &str = "kustomize-(devel)";

/// Adds the requested build metadata to every resource. `dir` is the
/// kustomization directory relative to the build root.
pub fn apply(kfile: &Path, dir_rel: &str, top: bool, opts: &[String], res: &mut [Resource]) -> Result<()> {
    for o in opts {
        match o.as_str() {
            "managedByLabel" => {
                for r in res.iter_mut() {
                    set(&mut r.obj, "labels", "app.kubernetes.io/managed-by", MANAGED_BY);
                }
            }
            // kustomize strips origin annotations at the end unless the top
            // kustomization asks for them.
            "originAnnotations" if !top => {}
            "originAnnotations" => {
                for r in res.iter_mut() {
                    if r.obj.pointer("/metadata/annotations/config.kubernetes.io~1origin").is_some() {
                        continue;
                    }
                    let text = origin_text(&r.origin, dir_rel);
                    set(&mut r.obj, "annotations", "config.kubernetes.io/origin", &text);
                }
            }
            "transformerAnnotations" => {
                return Err(Error::Unsupported {
                    path: kfile.to_path_buf(),
                    field: "buildMetadata".into(),
                    reason: "`transformerAnnotations` is not implemented; use managedByLabel or originAnnotations".into(),
                });
            }
            other => {
                return Err(Error::Field {
                    path: kfile.to_path_buf(),
                    field: "buildMetadata".into(),
                    reason: format!(
                        "invalid option `{other}`; valid options are managedByLabel, originAnnotations, transformerAnnotations"
                    ),
                });
            }
        }
    }
    Ok(())
}

fn set(obj: &mut Value, field: &str, key: &str, value: &str) {
    if let Some(m) = metadata_mut(obj) {
        let e = m.entry(field).or_insert_with(|| Value::Object(Map::new()));
        if !e.is_object() {
            *e = Value::Object(Map::new());
        }
        if let Value::Object(t) = e {
            t.insert(key.into(), Value::String(value.into()));
        }
    }
}

/// Origin annotation text. `origin` is `path` (root-relative file) or
/// `generator:<Kind>:<root-relative kustomization file>`.
fn origin_text(origin: &str, dir_rel: &str) -> String {
    if let Some(rest) = origin.strip_prefix("generator:") {
        let (kind, file) = rest.split_once(':').unwrap_or((rest, ""));
        return format!("configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n", relative(file, dir_rel));
    }
    format!("path: {}\n", relative(origin, dir_rel))
}

/// `path` (root-relative) as seen from `dir` (root-relative).
fn relative(path: &str, dir: &str) -> String {
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let d: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    let common = p.iter().zip(d.iter()).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..d.len() {
        out.push(Component::ParentDir.as_os_str());
    }
    for s in &p[common..] {
        out.push(s);
    }
    out.to_string_lossy().replace('\\', "/")
}
