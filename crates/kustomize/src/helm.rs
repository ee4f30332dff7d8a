//! `helmCharts`: inflation through the `helm` binary (`helm template`).
//! Charts must be vendored under `helmGlobals.chartHome` (default `charts/`);
//! nothing is pulled from repositories.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::resource::Resource;
use crate::target::Ctx;
use crate::types::{HelmChart, HelmGlobals};

/// Finds `helm`: the configured command, else `helm` on `PATH`.
fn helm_binary(ctx: &Ctx, kfile: &Path) -> Result<PathBuf> {
    if let Some(h) = &ctx.helm {
        return Ok(h.clone());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join("helm");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Helm {
        path: kfile.to_path_buf(),
        reason: "the `helm` binary was not found on PATH; install helm v3 or set BuildOptions::helm_command".into(),
    })
}

/// Renders every chart with `helm template` and returns its objects.
pub fn inflate(ctx: &mut Ctx, dir: &Path, kfile: &Path, globals: Option<&HelmGlobals>, charts: &[HelmChart]) -> Result<Vec<Resource>> {
    if charts.is_empty() {
        return Ok(Vec::new());
    }
    let helm = helm_binary(ctx, kfile)?;
    let home_rel = globals.and_then(|g| g.chart_home.clone()).unwrap_or_else(|| "charts".into());
    let home = ctx.fs.resolve(dir, &home_rel, kfile)?;
    let mut out = Vec::new();
    for c in charts {
        let err = |reason: String| Error::Helm { path: kfile.to_path_buf(), reason: format!("chart `{}`: {reason}", c.name) };
        if c.name.is_empty() {
            return Err(err("every chart needs a `name`".into()));
        }
        if !c.values_merge.is_empty() && c.values_merge != "override" {
            return Err(Error::Unsupported {
                path: kfile.to_path_buf(),
                field: "helmCharts.valuesMerge".into(),
                reason: format!("`{}` is not implemented; only `override` is", c.values_merge),
            });
        }
        let mut chart_dir = home.join(&c.name);
        if !c.version.is_empty() && home.join(format!("{}-{}", c.name, c.version)).join(&c.name).is_dir() {
            chart_dir = home.join(format!("{}-{}", c.name, c.version)).join(&c.name);
        }
        let chart_dir = ctx.fs.check_inside(&chart_dir, kfile).map_err(|_| {
            err(format!(
                "not found under {}; vendor the chart there (remote repositories such as `{}` are not fetched)",
                home.display(),
                c.repo
            ))
        })?;
        // Record the chart's files as inputs so cached renders are invalidated.
        record_tree(ctx, &chart_dir)?;
        let release = if c.release_name.is_empty() { "release-name" } else { c.release_name.as_str() };
        let mut cmd = Command::new(&helm);
        if let Some(cfg) = globals.and_then(|g| g.config_home.as_ref()) {
            cmd.env("HELM_CONFIG_HOME", ctx.fs.resolve(dir, cfg, kfile)?);
        }
        cmd.arg("template").arg(release).arg(&chart_dir);
        if !c.namespace.is_empty() {
            cmd.arg("--namespace").arg(&c.namespace);
        }
        if !c.name_template.is_empty() {
            cmd.arg("--name-template").arg(&c.name_template);
        }
        let mut values_files = Vec::new();
        if !c.values_file.is_empty() {
            values_files.push(ctx.fs.resolve_file(dir, &c.values_file, kfile)?);
        }
        for f in &c.additional_values_files {
            values_files.push(ctx.fs.resolve_file(dir, f, kfile)?);
        }
        for f in &values_files {
            // helm reads the file itself: a SOPS-encrypted one would reach it encrypted.
            if ctx.fs.read(f)? != ctx.fs.record(f)? {
                return Err(err(format!("values file {}: encrypted with SOPS, which helm cannot read; not supported", ctx.fs.relative(f))));
            }
            cmd.arg("--values").arg(f);
        }
        let tmp;
        if let Some(inline) = &c.values_inline {
            tmp = std::env::temp_dir().join(format!("driftless-helm-values-{}-{}.json", std::process::id(), out.len()));
            std::fs::write(&tmp, inline.to_string()).map_err(|e| err(format!("writing inline values: {e}")))?;
            cmd.arg("--values").arg(&tmp);
        }
        if c.include_crds {
            cmd.arg("--include-crds");
        }
        if c.skip_hooks {
            cmd.arg("--no-hooks");
        }
        if c.skip_tests {
            cmd.arg("--skip-tests");
        }
        if !c.kube_version.is_empty() {
            cmd.arg("--kube-version").arg(&c.kube_version);
        }
        for a in &c.api_versions {
            cmd.arg("--api-versions").arg(a);
        }
        let output = cmd.output().map_err(|e| err(format!("running {}: {e}", helm.display())))?;
        if !output.status.success() {
            return Err(err(format!("helm template failed: {}", String::from_utf8_lossy(&output.stderr).trim())));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let docs = crate::yaml::parse::parse_documents(&text).map_err(|e| err(format!("helm output is not valid YAML: {e}")))?;
        for d in docs.into_iter().filter(|d| d.is_object()) {
            out.push(Resource::new(d, &format!("generator:HelmChartInflationGenerator:{}", ctx.fs.relative(kfile))));
        }
    }
    Ok(out)
}

fn record_tree(ctx: &Ctx, dir: &Path) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::Read { path: dir.to_path_buf(), reason: e.to_string() })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            record_tree(ctx, &p)?;
        } else {
            ctx.fs.record(&p)?;
        }
    }
    Ok(())
}
