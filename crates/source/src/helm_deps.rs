//! The dependencies of a chart kept in Git that its `charts/` directory
//! lacks: what `helm dependency build` would fetch, pinned by `Chart.lock`
//! when there is one. Pure: reads the chart's files, fetches nothing.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A dependency to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The chart's name.
    pub name: String,
    /// The version locked in Chart.lock, else the constraint of Chart.yaml.
    pub version: String,
    /// Where it is: `https://…`, `oci://…`, or a directory (`file://…`,
    /// resolved, inside the repository).
    pub source: DependencySource,
}

/// Where a dependency comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DependencySource {
    /// A Helm HTTP repository or OCI registry URL.
    Repository(String),
    /// A chart directory in the same repository.
    Directory(PathBuf),
}

#[derive(Deserialize)]
struct ChartFile {
    #[serde(default)]
    dependencies: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    repository: String,
}

/// The dependencies of the chart in `chart_dir` missing from its
/// `charts/`. `root` is the repository: a `file://` dependency must lie
/// inside it.
pub fn missing(root: &Path, chart_dir: &Path) -> Result<Vec<Dependency>, String> {
    let read = |file: &str| -> Result<Option<ChartFile>, String> {
        match std::fs::read_to_string(chart_dir.join(file)) {
            Ok(text) => {
                serde_saphyr::from_str(&text).map(Some).map_err(|e| format!("{file}: {}", e.to_string().lines().next().unwrap_or("")))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{file}: {e}")),
        }
    };
    let Some(chart) = read("Chart.yaml")? else { return Ok(Vec::new()) };
    let lock = read("Chart.lock")?.map(|l| l.dependencies).unwrap_or_default();
    let mut out = Vec::new();
    for dep in chart.dependencies {
        if present(chart_dir, &dep.name) {
            continue;
        }
        let version =
            lock.iter().find(|l| l.name == dep.name && l.repository == dep.repository).map_or(dep.version.clone(), |l| l.version.clone());
        let source = match dep.repository.strip_prefix("file://") {
            Some(rel) => DependencySource::Directory(
                inside(root, &chart_dir.join(rel))
                    .ok_or_else(|| format!("dependency {}: {} is not a chart directory inside the repository", dep.name, dep.repository))?,
            ),
            None if dep.repository.is_empty() => return Err(format!("dependency {} names no repository and is not in charts/", dep.name)),
            None if dep.repository.starts_with('@') || !dep.repository.contains("://") => {
                return Err(format!(
                    "dependency {}: repository {:?} is a name from `helm repo add`; use the repository's URL",
                    dep.name, dep.repository
                ));
            }
            None => DependencySource::Repository(dep.repository.clone()),
        };
        out.push(Dependency { name: dep.name, version, source });
    }
    Ok(out)
}

/// Whether `charts/` holds the dependency, unpacked or as an archive.
fn present(chart_dir: &Path, name: &str) -> bool {
    let charts = chart_dir.join("charts");
    if charts.join(name).join("Chart.yaml").is_file() {
        return true;
    }
    std::fs::read_dir(&charts).into_iter().flatten().flatten().any(|e| {
        let file = e.file_name().to_string_lossy().into_owned();
        file.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|v| v.ends_with(".tgz") && v.starts_with(|c: char| c.is_ascii_digit()))
    })
}

fn inside(root: &Path, dir: &Path) -> Option<PathBuf> {
    let real = dir.canonicalize().ok()?;
    (real.starts_with(root.canonicalize().ok()?) && real.join("Chart.yaml").is_file()).then_some(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dependencies_are_pinned_by_the_lock_and_stay_in_the_repository() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("charts/app/charts")).unwrap();
        std::fs::create_dir_all(r.join("charts/common")).unwrap();
        std::fs::write(r.join("charts/common/Chart.yaml"), "apiVersion: v2\nname: common\nversion: 1.0.0\n").unwrap();
        std::fs::write(r.join("charts/app/charts/redis-17.0.1.tgz"), "").unwrap();
        std::fs::write(
            r.join("charts/app/Chart.yaml"),
            "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- {name: web, version: ^1.0.0, repository: https://charts.example}\n- {name: redis, version: 17.x, repository: https://charts.example}\n- {name: common, version: 1.0.0, repository: file://../common}\n",
        )
        .unwrap();
        std::fs::write(
            r.join("charts/app/Chart.lock"),
            "dependencies:\n- {name: web, version: 1.1.0, repository: https://charts.example}\n",
        )
        .unwrap();
        let deps = missing(r, &r.join("charts/app")).unwrap();
        assert_eq!(deps.len(), 2, "{deps:?}");
        assert_eq!(
            deps[0],
            Dependency {
                name: "web".into(),
                version: "1.1.0".into(),
                source: DependencySource::Repository("https://charts.example".into())
            }
        );
        assert!(matches!(&deps[1].source, DependencySource::Directory(d) if d.ends_with("charts/common")));

        std::fs::write(
            r.join("charts/app/Chart.yaml"),
            "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- {name: x, version: 1.0.0, repository: file://../../..}\n",
        )
        .unwrap();
        let err = missing(r, &r.join("charts/app")).unwrap_err();
        assert!(err.contains("inside the repository"), "{err}");
    }
}
