//! Keeping every read inside the repository.

use std::path::{Component, Path, PathBuf};

use crate::RenderError;

/// Resolves the app's `path` against the checkout root, refusing absolute
/// paths, `..` that climbs out, and symlinks that lead out.
pub fn resolve_app_dir(root: &Path, path: &str) -> Result<PathBuf, RenderError> {
    let outside = |reason| RenderError::OutsideRepository { path: path.to_string(), reason };
    let p = Path::new(path);
    if p.is_absolute() {
        return Err(outside("absolute paths are not allowed"));
    }
    let mut depth = 0usize;
    for c in p.components() {
        match c {
            Component::ParentDir if depth == 0 => return Err(outside("`..` climbs out of the repository")),
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(outside("absolute paths are not allowed")),
        }
    }
    let joined = root.join(p);
    if !joined.exists() {
        return Err(RenderError::PathMissing(path.to_string()));
    }
    let resolved = contained(root, &joined).map_err(|_| outside("a symlink leads out of the repository"))?;
    if !resolved.is_dir() {
        return Err(RenderError::PathMissing(path.to_string()));
    }
    Ok(resolved)
}

/// The real path of `path`, if it lies inside `root` once symlinks are
/// followed.
pub fn contained(root: &Path, path: &Path) -> Result<PathBuf, std::io::Error> {
    let real_root = root.canonicalize()?;
    let real = path.canonicalize()?;
    if real.starts_with(&real_root) {
        Ok(real)
    } else {
        Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, "outside the repository"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_every_way_out() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("apps/web")).unwrap();
        let outside_dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside_dir.path(), root.path().join("apps/escape")).unwrap();

        assert!(resolve_app_dir(root.path(), "apps/web").is_ok());
        assert!(resolve_app_dir(root.path(), "apps/../apps/web").is_ok());
        for bad in ["/etc", "..", "apps/../../x", "apps/escape"] {
            let err = resolve_app_dir(root.path(), bad).unwrap_err();
            assert!(matches!(err, RenderError::OutsideRepository { .. }), "{bad}: {err}");
        }
        assert!(matches!(resolve_app_dir(root.path(), "apps/nope"), Err(RenderError::PathMissing(_))));
    }
}
