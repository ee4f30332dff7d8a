//! Native Kustomize engine: `kustomize build` semantics in Rust, producing
//! the same objects, order, generated names and YAML text as
//! `kubectl kustomize` (kustomize v5.5).
//!
//! ```no_run
//! use driftless_kustomize::{build, BuildOptions};
//! let opts = BuildOptions::new("/repo");
//! let out = build(std::path::Path::new("/repo/apps/web/overlays/prod"), &opts)?;
//! print!("{}", out.to_yaml());
//! # Ok::<(), driftless_kustomize::Error>(())
//! ```

mod buildmeta;
mod config;
mod error;
mod fieldspec;
mod fsys;
mod generators;
mod helm;
mod patch;
mod remote;
mod replacements;
mod resource;
mod select;
mod sort;
mod target;
mod transformers;
mod types;
mod vars;
pub mod yaml;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

pub use error::{Error, Result};
pub use fsys::Input;
pub use remote::{RemoteBase, RemoteCheckout, Remotes};
pub use select::LabelSelector;

/// Build settings.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Nothing outside this directory may be read (a repository checkout),
    /// except the checkouts of remote bases.
    pub root: PathBuf,
    /// `helm` binary for `helmCharts`; defaults to `helm` on `PATH`.
    pub helm_command: Option<PathBuf>,
    /// Fetches remote bases; without it they are refused
    /// ([`Error::Remote`]).
    pub remotes: Option<Arc<dyn Remotes>>,
    /// Applied to every file the build reads (e.g. SOPS decryption).
    pub decrypt: Option<Arc<dyn Decrypt>>,
}

/// Turns the content of a file the build reads into what the build uses:
/// the decryption of encrypted files (SOPS), without the engine knowing
/// how. Digests of inputs stay those of the bytes on disk.
pub trait Decrypt: Send + Sync + std::fmt::Debug {
    /// The content to use for `data`, read from `path` (relative to its
    /// root; its extension tells the format): `data` itself when it is not
    /// encrypted. The error says why, never quoting the content.
    fn decrypt(&self, path: &Path, data: Vec<u8>) -> std::result::Result<Vec<u8>, String>;
}

impl BuildOptions {
    /// Options confined to `root`, with `helm` looked up on `PATH` and no
    /// remote bases.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        BuildOptions { root: root.into(), helm_command: None, remotes: None, decrypt: None }
    }

    /// Fetches remote bases through `remotes`.
    pub fn with_remotes(mut self, remotes: Arc<dyn Remotes>) -> Self {
        self.remotes = Some(remotes);
        self
    }
}

/// The result of a build.
#[derive(Debug, Clone)]
pub struct Build {
    /// The objects, in output order.
    pub resources: Vec<Value>,
    /// Every file read in the root (path relative to it, sha256), sorted
    /// by path.
    pub inputs: Vec<Input>,
    /// The remote bases fetched, in the order first used.
    pub remote_bases: Vec<RemoteBase>,
}

impl Build {
    /// The multi-document YAML `kubectl kustomize` would print.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        for (i, r) in self.resources.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            out.push_str(&yaml::emit::to_yaml(r));
        }
        out
    }
}

/// Builds the kustomization in `dir` (which must be inside `opts.root`).
pub fn build(dir: &Path, opts: &BuildOptions) -> Result<Build> {
    let fs = fsys::Fs::new(&opts.root, opts.decrypt.clone())?;
    let dir_abs = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir().map(|c| c.join(dir)).unwrap_or_else(|_| dir.to_path_buf())
    };
    let dir_c = fs.check_inside(&dir_abs, &dir_abs)?;
    let mut ctx = target::Ctx {
        fs: &fs,
        schema: std::cell::OnceCell::new(),
        extra: config::Extra::default(),
        helm: opts.helm_command.clone(),
        vars: Vec::new(),
        sort: None,
        stack: Vec::new(),
        remotes: opts.remotes.clone(),
        remote_bases: Vec::new(),
    };
    let mut res = target::run(&mut ctx, &dir_c, Vec::new(), false)?;
    let kfile = target::find_file(&dir_c)?;

    // Done last, as kustomize does: hashes, then references, then vars.
    for r in res.iter_mut() {
        if r.generated.as_ref().is_some_and(|g| g.hash) {
            let h = generators::hash_suffix(&r.obj);
            let n = format!("{}-{h}", r.name());
            r.set_name(&n);
        }
    }
    transformers::nameref::fix(&mut res, &ctx.extra.name_refs).map_err(|reason| Error::Build { path: kfile.clone(), reason })?;
    vars::resolve(&ctx.vars, &mut res, &kfile, &ctx.extra.var_reference)?;
    finish_metadata(&mut res)?;

    match ctx.sort.as_ref() {
        Some(s) if s.order == "fifo" => {
            if s.legacy_sort_options.is_some() {
                return Err(Error::Field {
                    path: kfile,
                    field: "sortOptions.legacySortOptions".into(),
                    reason: "is set but the selected sort order is 'fifo', not 'legacy'".into(),
                });
            }
        }
        Some(s) if s.order == "legacy" => {
            let (f, l) = match &s.legacy_sort_options {
                Some(o) => (o.order_first.clone(), o.order_last.clone()),
                None => sort::defaults(),
            };
            sort::legacy(&mut res, &f, &l);
        }
        Some(s) => {
            return Err(Error::Field {
                path: kfile,
                field: "sortOptions.order".into(),
                reason: format!("`{}` is invalid; it must be one of [fifo, legacy]", s.order),
            });
        }
        None => {
            let (f, l) = sort::defaults();
            sort::legacy(&mut res, &f, &l);
        }
    }
    Ok(Build { resources: res.into_iter().map(|r| r.obj).collect(), inputs: fs.inputs(), remote_bases: ctx.remote_bases })
}

/// Applies [`yaml::emit::fold_nel`] to every string and key, so the objects
/// returned are the ones kustomize prints.
fn fold_nels(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\u{85}') => *s = yaml::emit::fold_nel(s),
        Value::Array(a) => a.iter_mut().for_each(fold_nels),
        Value::Object(m) => m.values_mut().for_each(fold_nels),
        _ => {}
    }
}

fn has_nel_key(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.iter().any(has_nel_key),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\u{85}') || has_nel_key(v)),
        _ => false,
    }
}

/// kustomize drops an empty `metadata.annotations` when it strips its
/// internal annotations; mirror that.
fn finish_metadata(res: &mut [resource::Resource]) -> Result<()> {
    for r in res.iter_mut() {
        if has_nel_key(&r.obj) {
            return Err(Error::Build {
                path: PathBuf::from(&r.origin),
                reason: format!("{} has a key containing U+0085 (NEL), which kustomize cannot serialise; remove it", r.id_string()),
            });
        }
        fold_nels(&mut r.obj);
        if let Some(Value::Object(m)) = r.obj.get_mut("metadata") {
            if let Some(Value::Object(a)) = m.get_mut("annotations") {
                for v in a.values_mut() {
                    let s = match &*v {
                        Value::String(_) => continue,
                        Value::Null => String::new(),
                        Value::Number(n) => yaml::emit::format_number(n),
                        other => other.to_string(),
                    };
                    *v = Value::String(s);
                }
            }
            if m.get("annotations").is_some_and(|a| a.as_object().is_some_and(|o| o.is_empty()) || a.is_null()) {
                m.remove("annotations");
            }
        }
    }
    Ok(())
}
