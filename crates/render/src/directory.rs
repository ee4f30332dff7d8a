//! Plain directories of YAML and JSON manifests (`source.directory`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use driftless_api::ApplicationSourceDirectory;
use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::manifest::{Manifest, parse_manifests};
use crate::{Input, Inputs, RenderError, SopsKeys, rel, sha256_hex, sops};

/// Reads every `.yaml`, `.yml` and `.json` file of `app_dir` (recursively if
/// asked), filtered by include/exclude globs matched against the path
/// relative to `app_dir`, in file-name order. SOPS-encrypted files are
/// decrypted with `keys`. Also returns what it read: the files (their bytes
/// on disk) and the directories it listed, so that the render is reused
/// while they are unchanged.
pub fn render(
    root: &Path,
    app_dir: &Path,
    opts: Option<&ApplicationSourceDirectory>,
    keys: Option<&SopsKeys>,
) -> Result<(Vec<Manifest>, Inputs), RenderError> {
    if opts.is_some_and(|o| o.jsonnet.as_ref().is_some_and(|j| !j.is_empty())) {
        return Err(RenderError::Unsupported { field: "source.directory.jsonnet", what: "Jsonnet".into() });
    }
    let recurse = opts.is_some_and(|o| o.recurse);
    let include = opts.and_then(|o| o.include.as_deref()).filter(|s| !s.is_empty()).map(|g| globs("include", g)).transpose()?;
    let exclude = opts.and_then(|o| o.exclude.as_deref()).filter(|s| !s.is_empty()).map(|g| globs("exclude", g)).transpose()?;

    // app_dir is the real path; input paths are relative to the real root.
    let real_root = root.canonicalize().map_err(|source| RenderError::Io { path: root.into(), source })?;
    let mut walk = Walk { root, real_root: &real_root, recurse, files: Vec::new(), listed: Vec::new(), seen: HashSet::new() };
    walk.dir(app_dir)?;
    let Walk { mut files, listed, .. } = walk;
    files.sort();
    let mut out = Vec::new();
    let mut read = Vec::new();
    for file in files {
        let relative = file.strip_prefix(app_dir).unwrap_or(&file);
        if include.as_ref().is_some_and(|g| !g.is_match(relative)) || exclude.as_ref().is_some_and(|g| g.is_match(relative)) {
            continue;
        }
        let name = rel(root, &file);
        let data = std::fs::read(&file).map_err(|source| RenderError::Io { path: file.clone(), source })?;
        read.push(Input { path: slashed(&real_root, &file), sha256: sha256_hex(&data) });
        let data = sops::decrypt(keys, &file, data).map_err(|reason| RenderError::Sops { file: name.clone(), reason })?;
        let text = String::from_utf8(data)
            .map_err(|_| RenderError::InvalidManifest { file: name.clone(), reason: "the file is not UTF-8 text".into() })?;
        out.extend(parse_manifests(&name, &text)?);
    }
    Ok((out, Inputs { files: read, listed }))
}

/// The manifest files under a directory, and the directories listed.
struct Walk<'a> {
    root: &'a Path,
    real_root: &'a Path,
    recurse: bool,
    /// Paths as walked: a symlinked directory's files under the link's
    /// name, so that pointing the link elsewhere changes what is read.
    files: Vec<PathBuf>,
    listed: Vec<String>,
    /// Real paths of the directories walked: a symlink back to one of them
    /// (a loop) is not walked again.
    seen: HashSet<PathBuf>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path) -> Result<(), RenderError> {
        let real = self.contained(dir)?;
        if !self.seen.insert(real) {
            return Ok(());
        }
        self.listed.push(slashed(self.real_root, dir));
        let entries = std::fs::read_dir(dir).map_err(|source| RenderError::Io { path: dir.into(), source })?;
        for entry in entries {
            let entry = entry.map_err(|source| RenderError::Io { path: dir.into(), source })?;
            let p = entry.path();
            let name = entry.file_name();
            // Hidden files and dirs (.git, .github) are never manifests.
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let is_manifest = matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json"));
            let is_dir = p.is_dir();
            if is_dir {
                if self.recurse {
                    self.dir(&p)?;
                }
            } else if is_manifest {
                // A symlink may point anywhere: follow it only if it stays inside.
                self.contained(&p)?;
                self.files.push(p);
            }
        }
        Ok(())
    }

    /// The real path of `p`, if it lies inside the repository (the root
    /// was made real once, not per file).
    fn contained(&self, p: &Path) -> Result<PathBuf, RenderError> {
        p.canonicalize()
            .ok()
            .filter(|real| real.starts_with(self.real_root))
            .ok_or_else(|| RenderError::OutsideRepository { path: rel(self.root, p), reason: "a symlink leads out of the repository" })
    }
}

/// `path` relative to the real root, `/`-separated (`.` for the root).
fn slashed(real_root: &Path, path: &Path) -> String {
    let r = path.strip_prefix(real_root).unwrap_or(path);
    let s = r.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    if s.is_empty() { ".".into() } else { s }
}

/// Argo CD's glob syntax: one glob, or `{a,b}` for several.
fn globs(field: &'static str, pattern: &str) -> Result<GlobSet, RenderError> {
    let err = |reason: String| RenderError::InvalidGlob { field, glob: pattern.to_string(), reason };
    let mut b = GlobSetBuilder::new();
    b.add(Glob::new(pattern).map_err(|e| err(e.to_string()))?);
    b.build().map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, file: &str, name: &str) {
        let p = root.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")).unwrap();
    }

    fn names(m: &[Manifest]) -> Vec<&str> {
        m.iter().map(Manifest::name).collect()
    }

    #[test]
    fn recurse_include_and_exclude() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(r, "app/a.yaml", "a");
        write(r, "app/b.json.yaml", "b");
        write(r, "app/sub/c.yml", "c");
        write(r, "app/sub/skip.yaml", "skip");
        std::fs::write(r.join("app/README.md"), "not yaml").unwrap();
        let app = r.join("app");

        assert_eq!(names(&render(r, &app, None, None).unwrap().0), ["a", "b"]);
        let recurse = ApplicationSourceDirectory { recurse: true, ..Default::default() };
        assert_eq!(names(&render(r, &app, Some(&recurse), None).unwrap().0), ["a", "b", "c", "skip"]);
        let filtered = ApplicationSourceDirectory {
            recurse: true,
            include: Some("{*.yaml,*.yml}".into()),
            exclude: Some("*skip*".into()),
            ..Default::default()
        };
        assert_eq!(names(&render(r, &app, Some(&filtered), None).unwrap().0), ["a", "b", "c"]);
    }

    #[test]
    fn a_symlinked_file_out_of_the_repository_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let secret_dir = tempfile::tempdir().unwrap();
        write(secret_dir.path(), "host.yaml", "host");
        std::fs::create_dir_all(root.path().join("app")).unwrap();
        std::os::unix::fs::symlink(secret_dir.path().join("host.yaml"), root.path().join("app/link.yaml")).unwrap();
        let err = render(root.path(), &root.path().join("app"), None, None).unwrap_err();
        assert!(matches!(err, RenderError::OutsideRepository { .. }), "{err}");
    }

    #[test]
    fn a_symlink_loop_is_walked_once_and_the_reads_are_listed() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        write(r, "app/a.yaml", "a");
        write(r, "app/sub/b.yaml", "b");
        std::os::unix::fs::symlink(r.join("app"), r.join("app/sub/loop")).unwrap();
        let recurse = ApplicationSourceDirectory { recurse: true, ..Default::default() };
        let (manifests, inputs) = render(r, &r.join("app").canonicalize().unwrap(), Some(&recurse), None).unwrap();
        assert_eq!(names(&manifests), ["a", "b"]);
        let files: Vec<_> = inputs.files.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(files, ["app/a.yaml", "app/sub/b.yaml"]);
        assert_eq!(inputs.listed, ["app", "app/sub"]);
    }
}
