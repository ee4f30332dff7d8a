//! Helm charts, rendered as Argo CD renders them: `helm template` with the
//! app's release name and namespace, the destination's `.Capabilities`,
//! values files (also from other sources through `$ref`), inline values and
//! parameters.
//!
//! Every file `helm` is pointed at is resolved here first and must lie
//! inside its repository: a values file may not read the host's files.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use driftless_api::{ApplicationSource, ApplicationSourceHelm};
use sha2::{Digest, Sha256};

use crate::manifest::{Manifest, parse_manifests};
use crate::{HelmLookup, RenderContext, RenderError, path, rel};

/// Renders the chart in `chart_dir` (inside the repository `root`).
pub fn render(root: &Path, chart_dir: &Path, source: &ApplicationSource, ctx: &RenderContext) -> Result<Vec<Manifest>, RenderError> {
    let label = chart_label(root, chart_dir, source);
    let fail = |reason: String| RenderError::Helm { chart: label.clone(), reason };
    if !chart_dir.join("Chart.yaml").is_file() {
        return Err(fail("the directory has no Chart.yaml".into()));
    }
    let default = ApplicationSourceHelm::default();
    let helm = source.helm.as_deref().unwrap_or(&default);
    let scratch = tempfile::Builder::new().prefix("driftless-helm-").tempdir().map_err(|e| fail(format!("scratch directory: {e}")))?;
    let mut inv = invocation(root, chart_dir, &label, helm, ctx, scratch.path())?;
    let kubeconfig = match &ctx.helm_lookup {
        Some(lookup) => lookup_args(lookup, &mut inv, scratch.path()).map_err(|e| fail(format!("kubeconfig for lookup: {e}")))?,
        None => None,
    };

    let cache_file = ctx.cache_dir.as_ref().filter(|_| inv.cacheable).map(|dir| dir.join(format!("{}.yaml", inv.key)));
    let yaml = match cache_file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) {
        Some(yaml) => yaml,
        None => {
            let yaml = run_helm(&inv.args, scratch.path(), kubeconfig.as_deref()).map_err(|e| e.into_render_error(&label))?;
            if let Some(file) = &cache_file {
                store(file, &yaml);
            }
            yaml
        }
    };
    parse_manifests(&format!("helm template {label}"), &yaml)
}

/// Lets `lookup` see the cluster: a server-side dry run, as the given user,
/// through a kubeconfig written (0600) into the render's private scratch
/// directory, which goes with the render. Never cached. Returns the
/// kubeconfig's path, for helm's environment, never its arguments.
fn lookup_args(lookup: &HelmLookup, inv: &mut Invocation, scratch: &Path) -> std::io::Result<Option<PathBuf>> {
    inv.cacheable = false;
    // A dry run writes nothing; taking ownership only spares the check
    // that would refuse objects a previous sync created without Helm's labels.
    inv.args.extend(["--dry-run=server".into(), "--take-ownership".into()]);
    if let Some(user) = &lookup.as_user {
        inv.args.extend(["--kube-as-user".into(), user.clone()]);
    }
    let Some(kubeconfig) = &lookup.kubeconfig else { return Ok(None) };
    let path = scratch.join("kubeconfig");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, kubeconfig.as_bytes())?;
    Ok(Some(path))
}

const HELM_HINT: &str = "install helm 3 or 4 (scripts/tools/helm.sh puts it in target/tools/bin)";

/// How messages name the chart: the chart of a Helm repository, else its path.
fn chart_label(root: &Path, chart_dir: &Path, source: &ApplicationSource) -> String {
    match &source.chart {
        Some(chart) => match source.target_revision.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => format!("{chart} {v} from {}", source.repo_url),
            None => format!("{chart} from {}", source.repo_url),
        },
        None => rel(root, chart_dir),
    }
}

/// The arguments of `helm template`, and the key its output is cached by.
struct Invocation {
    args: Vec<String>,
    key: String,
    /// False when a values file is a URL: its content is not in the key.
    cacheable: bool,
}

fn invocation(
    root: &Path,
    chart_dir: &Path,
    label: &str,
    helm: &ApplicationSourceHelm,
    ctx: &RenderContext,
    scratch: &Path,
) -> Result<Invocation, RenderError> {
    let release = helm.release_name.as_deref().filter(|s| !s.is_empty()).unwrap_or(&ctx.app_name);
    let namespace = helm.namespace.as_deref().filter(|s| !s.is_empty()).unwrap_or(&ctx.namespace);
    // Without a release name helm picks `release-name`, as `helm template` does.
    let mut args: Vec<String> = vec!["template".into()];
    if !release.is_empty() {
        args.push(release.into());
    }
    // The cache key hashes what the arguments mean, not where scratch files are.
    let mut key = Sha256::new();
    key.update(helm_version().map_err(|e| e.into_render_error(label))?.as_bytes());
    for part in [release, &chart_dir.to_string_lossy()].into_iter().chain(ctx.dependencies.iter().map(|d| d.to_str().unwrap_or_default())) {
        key.update([0xff]);
        key.update(part.as_bytes());
    }
    args.push(with_dependencies(root, chart_dir, &ctx.dependencies, scratch)?.to_string_lossy().into_owned());
    let mut arg = |args: &mut Vec<String>, flag: &str, value: Option<&str>, key_value: Option<&[u8]>| {
        args.push(flag.into());
        key.update(flag.as_bytes());
        if let Some(v) = value {
            args.push(v.into());
            key.update([0]);
            key.update(key_value.unwrap_or(v.as_bytes()));
        }
        key.update([0xff]);
    };
    if !namespace.is_empty() {
        arg(&mut args, "--namespace", Some(namespace), None);
    }
    arg(&mut args, if helm.skip_crds { "--skip-crds" } else { "--include-crds" }, None, None);
    if helm.skip_tests {
        arg(&mut args, "--skip-tests", None, None);
    }
    if helm.skip_schema_validation {
        arg(&mut args, "--skip-schema-validation", None, None);
    }
    let kube_version = helm.kube_version.as_deref().filter(|s| !s.is_empty()).or(ctx.kube_version.as_deref());
    if let Some(v) = kube_version {
        arg(&mut args, "--kube-version", Some(v), None);
    }
    let mut cacheable = true;
    let api_versions = if helm.api_versions.is_empty() { &ctx.api_versions } else { &helm.api_versions };
    for v in api_versions {
        arg(&mut args, "--api-versions", Some(v), None);
    }
    for file in &helm.value_files {
        match value_file(root, chart_dir, &ctx.refs, file, "source.helm.valueFiles")? {
            Resolved::Url(url) => {
                cacheable = false;
                arg(&mut args, "--values", Some(&url), None)
            }
            Resolved::File(p) => arg(&mut args, "--values", Some(&p.to_string_lossy()), None),
            Resolved::Missing(_) if helm.ignore_missing_value_files => {}
            Resolved::Missing(shown) => {
                return Err(RenderError::Helm {
                    chart: label.to_string(),
                    reason: format!("values file {shown} does not exist (set ignoreMissingValueFiles to skip missing files)"),
                });
            }
        }
    }
    if let Some(values) = inline_values(helm)? {
        let file = scratch.join("values.yaml");
        std::fs::write(&file, &values).map_err(|source| RenderError::Io { path: file.clone(), source })?;
        arg(&mut args, "--values", Some(&file.to_string_lossy()), Some(values.as_bytes()));
    }
    for p in &helm.parameters {
        let flag = if p.force_string { "--set-string" } else { "--set" };
        arg(&mut args, flag, Some(&format!("{}={}", p.name, escape_set_value(&p.value))), None);
    }
    for p in &helm.file_parameters {
        match value_file(root, chart_dir, &ctx.refs, &p.path, "source.helm.fileParameters")? {
            Resolved::File(f) => arg(&mut args, "--set-file", Some(&format!("{}={}", p.name, f.display())), None),
            Resolved::Url(_) => {
                return Err(RenderError::Helm {
                    chart: label.to_string(),
                    reason: format!("fileParameters {}: {} is a URL; only files of the repository can be read", p.name, p.path),
                });
            }
            Resolved::Missing(shown) => {
                return Err(RenderError::Helm {
                    chart: label.to_string(),
                    reason: format!("fileParameters {}: file {shown} does not exist", p.name),
                });
            }
        }
    }
    let key = key.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Invocation { args, key, cacheable })
}

/// `values` or `valuesObject` as one YAML document; the object wins, as in
/// Argo CD. JSON is YAML, so the object is written as JSON.
fn inline_values(helm: &ApplicationSourceHelm) -> Result<Option<String>, RenderError> {
    const FIELD: &str = "source.helm.valuesObject";
    let values =
        helm.values_object.as_ref().map(|v| v.value().map_err(|reason| RenderError::Unread { field: FIELD, reason })).transpose()?;
    match values {
        Some(v) if v.as_object().is_some_and(|o| !o.is_empty()) => Ok(Some(v.to_string())),
        Some(v) if !v.is_object() && !v.is_null() => {
            Err(RenderError::Unsupported { field: FIELD, what: "values that are not a mapping".into() })
        }
        _ => Ok(helm.values.clone().filter(|v| !v.trim().is_empty())),
    }
}

/// `--set` splits on commas: escape them, except in `{a,b}` lists, as Argo
/// CD does.
fn escape_set_value(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut prev = None;
    for c in value.chars() {
        if c == ',' && prev != Some('\\') {
            out.push('\\');
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

enum Resolved {
    File(PathBuf),
    Url(String),
    /// The path as the user wrote it, for the message.
    Missing(String),
}

/// Where a values file is: `$ref/path` in the source named `ref`, an
/// http(s) URL, or a path relative to the chart (absolute paths are
/// relative to the repository root, as in Argo CD). Never outside its
/// repository.
fn value_file(
    root: &Path,
    chart_dir: &Path,
    refs: &BTreeMap<String, PathBuf>,
    file: &str,
    field: &'static str,
) -> Result<Resolved, RenderError> {
    if file.starts_with("http://") || file.starts_with("https://") {
        return Ok(Resolved::Url(file.to_string()));
    }
    let outside = |reason| RenderError::OutsideRepository { path: file.to_string(), reason };
    let (base_root, base, rest) = if let Some(stripped) = file.strip_prefix('$') {
        let (name, rest) = stripped.split_once('/').unwrap_or((stripped, ""));
        let Some(ref_root) = refs.get(name) else {
            return Err(RenderError::UnknownRef { field, reference: format!("${name}") });
        };
        (ref_root.as_path(), ref_root.clone(), rest)
    } else if let Some(abs) = file.strip_prefix('/') {
        (root, root.to_path_buf(), abs)
    } else {
        (root, chart_dir.to_path_buf(), file)
    };
    // Climb lexically first: `..` may move within the repository, not out.
    let depth_of_base = base.strip_prefix(base_root).map(|p| p.components().count()).unwrap_or(0);
    let mut depth = depth_of_base as isize;
    for c in Path::new(rest).components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(outside("absolute paths are not allowed")),
        }
        if depth < 0 {
            return Err(outside("`..` climbs out of the repository"));
        }
    }
    let joined = base.join(rest);
    if !joined.exists() {
        return Ok(Resolved::Missing(file.to_string()));
    }
    let real = path::contained(base_root, &joined).map_err(|_| outside("a symlink leads out of the repository"))?;
    if !real.is_file() {
        return Ok(Resolved::Missing(file.to_string()));
    }
    Ok(Resolved::File(real))
}

enum HelmError {
    Missing,
    Failed(String),
}

impl HelmError {
    fn into_render_error(self, chart: &str) -> RenderError {
        match self {
            HelmError::Missing => RenderError::ToolMissing { tool: "helm", hint: HELM_HINT },
            HelmError::Failed(reason) => RenderError::Helm { chart: chart.into(), reason },
        }
    }
}

/// The helm binary's version, asked once per process: a render cached by
/// one helm version is not reused by another.
fn helm_version() -> Result<String, HelmError> {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(v) = VERSION.get() {
        return Ok(v.clone());
    }
    let home = tempfile::tempdir().map_err(|e| HelmError::Failed(e.to_string()))?;
    let v = run_helm(&["version".into(), "--template".into(), "{{.Version}}".into()], home.path(), None)?;
    Ok(VERSION.get_or_init(|| v.trim().to_string()).clone())
}

/// The chart to render: `chart_dir` itself, or a copy of it in `scratch`
/// with the fetched `dependencies` added to its `charts/` (the checkout is
/// shared and never written).
fn with_dependencies(root: &Path, chart_dir: &Path, dependencies: &[PathBuf], scratch: &Path) -> Result<PathBuf, RenderError> {
    if dependencies.is_empty() {
        return Ok(chart_dir.to_path_buf());
    }
    let copy = scratch.join("chart");
    copy_tree(root, chart_dir, &copy)?;
    for dep in dependencies {
        let name = dep.file_name().unwrap_or_default();
        copy_tree(dep, dep, &copy.join("charts").join(name))?;
    }
    Ok(copy)
}

/// Copies a directory; a symlink is followed only if it stays inside `root`.
fn copy_tree(root: &Path, from: &Path, to: &Path) -> Result<(), RenderError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RenderError::Io { path, source }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let real = path::contained(root, &entry.path()).map_err(|_| RenderError::OutsideRepository {
            path: rel(root, &entry.path()),
            reason: "a symlink leads out of the repository",
        })?;
        let target = to.join(entry.file_name());
        if real.is_dir() {
            copy_tree(root, &real, &target)?;
        } else {
            std::fs::copy(&real, &target).map_err(io(&target))?;
        }
    }
    Ok(())
}

/// Runs helm with its own empty configuration: no user's repositories,
/// registries or plugins leak into a render.
fn run_helm(args: &[String], home: &Path, kubeconfig: Option<&Path>) -> Result<String, HelmError> {
    let mut cmd = Command::new("helm");
    cmd.args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .stdin(std::process::Stdio::null());
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    let out = cmd
        .output()
        .map_err(|e| if e.kind() == std::io::ErrorKind::NotFound { HelmError::Missing } else { HelmError::Failed(e.to_string()) })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Keep helm's message, not its advice to rerun with --debug.
        let reason = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim_start_matches("Error: ").split("; Use --debug flag").next().unwrap_or(l))
            .collect::<Vec<_>>();
        Err(HelmError::Failed(reason.join("; ")))
    }
}

/// Writes a cached render through a temporary file, so a reader never sees
/// half of one. A cache that cannot be written only costs a re-render.
fn store(file: &Path, yaml: &str) {
    let Some(dir) = file.parent() else { return };
    let _ = std::fs::create_dir_all(dir)
        .and_then(|()| tempfile::NamedTempFile::new_in(dir))
        .and_then(|mut tmp| std::io::Write::write_all(&mut tmp, yaml.as_bytes()).map(|()| tmp))
        .and_then(|tmp| tmp.persist(file).map_err(|e| e.error));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_renders_server_side_as_the_user_with_a_private_kubeconfig_kept_out_of_arguments_and_cache() {
        let scratch = tempfile::tempdir().unwrap();
        let secret = "apiVersion: v1\nusers: [{name: u, user: {token: sekrit-token}}]\n";
        let lookup = HelmLookup { kubeconfig: Some(secret.into()), as_user: Some("system:serviceaccount:team:deployer".into()) };
        let mut inv = Invocation { args: vec!["template".into()], key: "k".into(), cacheable: true };
        let path = lookup_args(&lookup, &mut inv, scratch.path()).unwrap().expect("a kubeconfig file");
        assert!(!inv.cacheable, "never cached");
        assert_eq!(inv.args[1..], ["--dry-run=server", "--take-ownership", "--kube-as-user", "system:serviceaccount:team:deployer"]);
        assert!(!inv.args.iter().any(|a| a.contains("sekrit") || a.contains("kubeconfig")), "credentials stay out of the arguments");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), secret);
        #[cfg(unix)]
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777, 0o600);
        assert!(!format!("{lookup:?}").contains("sekrit"), "Debug never shows the credentials");
        drop(scratch);
        assert!(!path.exists(), "gone with the render's scratch directory");
        // The controller's own cluster: helm's environment, no file.
        let mut inv = Invocation { args: Vec::new(), key: "k".into(), cacheable: true };
        assert_eq!(lookup_args(&HelmLookup::default(), &mut inv, Path::new("/nonexistent")).unwrap(), None);
        assert_eq!(inv.args, ["--dry-run=server", "--take-ownership"]);
    }

    #[test]
    fn commas_in_set_values_are_escaped_except_in_lists() {
        assert_eq!(escape_set_value("a,b"), "a\\,b");
        assert_eq!(escape_set_value("a\\,b"), "a\\,b");
        assert_eq!(escape_set_value("{a,b}"), "{a,b}");
    }

    #[test]
    fn values_files_stay_inside_their_repository() {
        let root = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("charts/web")).unwrap();
        std::fs::create_dir_all(r.join("envs")).unwrap();
        std::fs::write(r.join("envs/prod.yaml"), "a: 1").unwrap();
        std::fs::write(other.path().join("values.yaml"), "b: 2").unwrap();
        std::os::unix::fs::symlink(other.path().join("values.yaml"), r.join("envs/link.yaml")).unwrap();
        let refs: BTreeMap<String, PathBuf> = [("values".to_string(), other.path().to_path_buf())].into();
        let chart = r.join("charts/web");
        let resolve = |f: &str| value_file(r, &chart, &refs, f, "source.helm.valueFiles");

        assert!(matches!(resolve("../../envs/prod.yaml"), Ok(Resolved::File(_))));
        assert!(matches!(resolve("/envs/prod.yaml"), Ok(Resolved::File(_))));
        assert!(matches!(resolve("$values/values.yaml"), Ok(Resolved::File(_))));
        assert!(matches!(resolve("missing.yaml"), Ok(Resolved::Missing(_))));
        for bad in ["../../../etc/passwd", "../../envs/link.yaml", "$values/../x.yaml"] {
            assert!(matches!(resolve(bad), Err(RenderError::OutsideRepository { .. })), "{bad}");
        }
        assert!(matches!(resolve("$nope/values.yaml"), Err(RenderError::UnknownRef { .. })));
    }
}
