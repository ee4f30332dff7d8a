//! Root-confined file access. Every read goes through here so that nothing
//! outside the build root is touched (absolute paths, `..` escapes and
//! symlinks leaving the root are refused) and so that every input is
//! recorded with its digest for render caching.
//!
//! A remote base adds the root of its repository's checkout: its files may
//! refer to each other anywhere in that checkout, as kustomize allows, and
//! never to the local root (nor the local root to them). Only the local
//! root's files are recorded as inputs: a remote base stands for itself by
//! its commit (see [`crate::Build::remotes`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::Decrypt;
use crate::error::{Error, Result};

/// A file read during a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Path relative to the build root, `/`-separated.
    pub path: String,
    /// Hex sha256 of the content.
    pub sha256: String,
}

/// File system view limited to the build root and the checkouts of the
/// remote bases it fetched.
pub struct Fs {
    /// The build root first, then remote checkouts.
    roots: RefCell<Vec<PathBuf>>,
    inputs: RefCell<BTreeMap<String, String>>,
    /// Applied to every file read, after its digest is taken.
    decrypt: Option<Arc<dyn Decrypt>>,
}

impl Fs {
    /// Creates a view of `root` (canonicalised).
    pub fn new(root: &Path, decrypt: Option<Arc<dyn Decrypt>>) -> Result<Self> {
        let root = root
            .canonicalize()
            .map_err(|e| Error::Read { path: root.to_path_buf(), reason: format!("{e}; the build root must be an existing directory") })?;
        Ok(Fs { roots: RefCell::new(vec![root]), inputs: RefCell::new(BTreeMap::new()), decrypt })
    }

    /// Adds the checkout of a remote base as a root of its own.
    pub fn add_root(&self, root: &Path) -> Result<PathBuf> {
        let root = root.canonicalize().map_err(|e| Error::Read { path: root.to_path_buf(), reason: e.to_string() })?;
        let mut roots = self.roots.borrow_mut();
        if !roots.contains(&root) {
            roots.push(root.clone());
        }
        Ok(root)
    }

    /// The root holding `p` (the innermost, should roots nest).
    fn root_of(&self, p: &Path) -> Option<PathBuf> {
        self.roots.borrow().iter().filter(|r| p.starts_with(r)).max_by_key(|r| r.as_os_str().len()).cloned()
    }

    fn local_root(&self) -> PathBuf {
        self.roots.borrow()[0].clone()
    }

    /// Resolves `reference` (as written in `from_file`) relative to `base`,
    /// refusing anything that leaves the root.
    pub fn resolve(&self, base: &Path, reference: &str, from_file: &Path) -> Result<PathBuf> {
        let root = self.root_of(base).unwrap_or_else(|| self.local_root());
        let outside = |reason: &str| Error::OutsideRoot {
            path: from_file.to_path_buf(),
            reference: reference.to_string(),
            root: root.clone(),
            reason: reason.to_string(),
        };
        let r = Path::new(reference);
        if r.is_absolute() {
            return Err(outside("absolute paths are not allowed; use a path relative to the kustomization"));
        }
        let mut p = base.to_path_buf();
        for c in r.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    if !p.pop() {
                        return Err(outside("`..` escapes the root"));
                    }
                }
                Component::Normal(s) => p.push(s),
                _ => return Err(outside("unsupported path component")),
            }
        }
        if !p.starts_with(&root) {
            return Err(outside("`..` escapes the root; move the referenced files inside the repository"));
        }
        if p.exists() {
            let canon = p.canonicalize().map_err(|e| Error::Read { path: p.clone(), reason: e.to_string() })?;
            if !canon.starts_with(&root) {
                return Err(outside("it is a symlink pointing outside the root"));
            }
            return Ok(canon);
        }
        Ok(p)
    }

    /// Like [`Fs::resolve`] for a file (patch, generator source, resource
    /// file): kustomize also requires it to be in or below the directory of
    /// the kustomization that names it.
    pub fn resolve_file(&self, base: &Path, reference: &str, from_file: &Path) -> Result<PathBuf> {
        let p = self.resolve(base, reference, from_file)?;
        let canon_base = base.canonicalize().unwrap_or_else(|_| base.to_path_buf());
        if !p.starts_with(&canon_base) {
            return Err(Error::OutsideRoot {
                path: from_file.to_path_buf(),
                reference: reference.to_string(),
                root: canon_base,
                reason: "files must be in or below the kustomization's directory (only directories of other kustomizations may be referenced from elsewhere); move the file or turn its directory into a kustomization".into(),
            });
        }
        Ok(p)
    }

    /// Checks that an already-joined path is inside a root.
    pub fn check_inside(&self, p: &Path, from_file: &Path) -> Result<PathBuf> {
        let canon = p.canonicalize().map_err(|e| Error::Read { path: p.to_path_buf(), reason: e.to_string() })?;
        if self.root_of(&canon).is_none() {
            return Err(Error::OutsideRoot {
                path: from_file.to_path_buf(),
                reference: p.display().to_string(),
                root: self.local_root(),
                reason: "it resolves (through a symlink) outside the root".into(),
            });
        }
        Ok(canon)
    }

    /// Reads a file inside a root and records it as an input when it is in
    /// the local one. The digest is of the bytes on disk; what is returned
    /// has gone through the decryption hook.
    pub fn read(&self, p: &Path) -> Result<Vec<u8>> {
        let (rel, data) = self.read_recorded(p)?;
        match &self.decrypt {
            Some(d) => d.decrypt(Path::new(&rel), data).map_err(|reason| Error::Decrypt { path: rel, reason }),
            None => Ok(data),
        }
    }

    /// Reads and records a file as [`Fs::read`] does, but as it is on disk
    /// (no decryption): for files a tool reads by their path (helm).
    pub fn record(&self, p: &Path) -> Result<Vec<u8>> {
        Ok(self.read_recorded(p)?.1)
    }

    /// The file's path relative to its root, and its bytes on disk, recorded
    /// as an input when it is in the local root.
    fn read_recorded(&self, p: &Path) -> Result<(String, Vec<u8>)> {
        let canon = self.check_inside(p, p)?;
        let data = std::fs::read(&canon).map_err(|e| Error::Read { path: p.to_path_buf(), reason: e.to_string() })?;
        let rel = self.relative(&canon);
        if self.root_of(&canon).is_some_and(|r| r == self.local_root()) {
            let digest = Sha256::digest(&data);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            self.inputs.borrow_mut().insert(rel.clone(), hex);
        }
        Ok((rel, data))
    }

    /// Reads a UTF-8 text file inside the root.
    pub fn read_string(&self, p: &Path) -> Result<String> {
        let data = self.read(p)?;
        String::from_utf8(data).map_err(|_| Error::Read { path: p.to_path_buf(), reason: "not valid UTF-8".into() })
    }

    /// Path relative to the root holding it, for messages and the input
    /// list.
    pub fn relative(&self, p: &Path) -> String {
        let root = self.root_of(p).unwrap_or_else(|| self.local_root());
        let rel = p.strip_prefix(&root).unwrap_or(p);
        let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        parts.join("/")
    }

    /// All files read so far.
    pub fn inputs(&self) -> Vec<Input> {
        self.inputs.borrow().iter().map(|(p, h)| Input { path: p.clone(), sha256: h.clone() }).collect()
    }
}
