//! A Helm repository's `index.yaml`, and choosing a chart version from a
//! `targetRevision` that is a version or a constraint (`1.2.3`, `^1.2`,
//! `>=1.0 <2.0`, `1.2.x`, `*`), as Helm and Argo CD choose it: the highest
//! matching version, prereleases only when the constraint names one.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The parts of `index.yaml` a pull needs.
#[derive(Debug, Default, Deserialize)]
pub struct Index {
    /// Versions of each chart.
    #[serde(default)]
    pub entries: BTreeMap<String, Vec<ChartVersion>>,
}

/// One version of a chart in the index.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ChartVersion {
    /// The chart version, semver.
    #[serde(default)]
    pub version: String,
    /// Where the archive is: absolute, or relative to the repository URL.
    #[serde(default)]
    pub urls: Vec<String>,
    /// sha256 of the archive, hex, when the index records it.
    #[serde(default)]
    pub digest: Option<String>,
}

/// Why no version could be chosen.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The index does not list the chart.
    #[error("the repository has no chart named {0:?}")]
    NoChart(String),
    /// The constraint is not semver.
    #[error("{0:?} is neither a chart version nor a semver constraint")]
    BadConstraint(String),
    /// No version matches.
    #[error("no version of chart {chart:?} matches {wanted:?} (available: {available})")]
    NoMatch {
        /// The chart.
        chart: String,
        /// The targetRevision.
        wanted: String,
        /// The newest versions the repository has.
        available: String,
    },
}

/// Parses `index.yaml`.
pub fn parse(text: &str) -> Result<Index, String> {
    serde_saphyr::from_str(text).map_err(|e| e.to_string().lines().next().unwrap_or("invalid YAML").to_string())
}

/// Picks the version of `chart` that `wanted` asks for.
pub fn resolve<'a>(index: &'a Index, chart: &str, wanted: &str) -> Result<&'a ChartVersion, ResolveError> {
    let versions = index.entries.get(chart).filter(|v| !v.is_empty()).ok_or_else(|| ResolveError::NoChart(chart.into()))?;
    let wanted = wanted.trim();
    let no_match = || ResolveError::NoMatch {
        chart: chart.into(),
        wanted: wanted.into(),
        available: {
            let mut parsed: Vec<_> = versions.iter().filter_map(|v| parse_version(&v.version)).collect();
            parsed.sort_by(|a, b| b.cmp(a));
            parsed.iter().take(5).map(ToString::to_string).collect::<Vec<_>>().join(", ")
        },
    };
    // An exact version is taken as written, even if it is not semver.
    if let Some(v) = versions.iter().find(|v| !wanted.is_empty() && v.version.trim_start_matches('v') == wanted.trim_start_matches('v')) {
        return Ok(v);
    }
    if parse_version(wanted).is_some() {
        return Err(no_match());
    }
    let alternatives = constraint(wanted)?;
    versions
        .iter()
        .filter_map(|v| Some((parse_version(&v.version)?, v)))
        .filter(|(sv, _)| alternatives.iter().any(|req| req.matches(sv)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v)
        .ok_or_else(no_match)
}

/// Whether chart version `version` is one `wanted` (a `targetRevision`:
/// a version or a constraint) may resolve to: the same version, or one the
/// constraint matches. A version or constraint that is not semver matches
/// nothing but itself.
pub fn version_matches(wanted: &str, version: &str) -> bool {
    let wanted = wanted.trim();
    if wanted.trim_start_matches('v') == version.trim().trim_start_matches('v') {
        return true;
    }
    if parse_version(wanted).is_some() {
        return false;
    }
    match (constraint(wanted), parse_version(version)) {
        (Ok(alternatives), Some(v)) => alternatives.iter().any(|req| req.matches(&v)),
        _ => false,
    }
}

fn parse_version(v: &str) -> Option<semver::Version> {
    semver::Version::parse(v.trim().trim_start_matches('v')).ok()
}

/// Helm's constraint syntax in the `semver` crate's: `||` separates
/// alternatives, spaces separate comparators (the crate wants commas), and
/// empty means any version.
fn constraint(wanted: &str) -> Result<Vec<semver::VersionReq>, ResolveError> {
    let bad = || ResolveError::BadConstraint(wanted.into());
    if wanted.is_empty() || wanted == "latest" {
        return Ok(vec![semver::VersionReq::STAR]);
    }
    wanted
        .split("||")
        .map(|alt| {
            // `>= 1.0` is one comparator: glue operators to their versions first.
            let mut parts: Vec<String> = Vec::new();
            for token in alt.split_whitespace().map(|t| t.trim_end_matches(',')).filter(|t| !t.is_empty()) {
                match parts.last_mut() {
                    Some(last) if last.chars().all(|c| "<>=!~^".contains(c)) => last.push_str(token),
                    _ => parts.push(token.to_string()),
                }
            }
            let parts: Vec<String> = parts.into_iter().map(|p| p.replace('v', "")).collect();
            semver::VersionReq::parse(&parts.join(", ")).map_err(|_| bad())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"
apiVersion: v1
entries:
  web:
  - {version: 1.0.0, urls: [web-1.0.0.tgz], digest: aa}
  - {version: 1.2.0, urls: [web-1.2.0.tgz]}
  - {version: 1.3.0-rc.1, urls: [web-1.3.0-rc.1.tgz]}
  - {version: 2.0.0, urls: ["https://cdn.example/web-2.0.0.tgz"]}
"#;

    fn pick(wanted: &str) -> Result<String, ResolveError> {
        let index = parse(INDEX).unwrap();
        resolve(&index, "web", wanted).map(|v| v.version.clone())
    }

    #[test]
    fn versions_match_constraints() {
        assert!(version_matches("1.x", "1.4.0"));
        assert!(version_matches("^1.2", "1.3.1"));
        assert!(version_matches(">=1.0 <2", "1.9.9"));
        assert!(!version_matches(">=1.0 <2", "2.0.0"));
        assert!(version_matches("1.2.0", "v1.2.0"));
        assert!(!version_matches("1.2.0", "1.2.1"));
        assert!(!version_matches("not a version", "1.0.0"));
        assert!(!version_matches("1.x", "garbage"));
    }

    #[test]
    fn versions_and_constraints_pick_the_highest_match() {
        assert_eq!(pick("1.0.0").unwrap(), "1.0.0");
        assert_eq!(pick("v1.2.0").unwrap(), "1.2.0");
        assert_eq!(pick("^1.0").unwrap(), "1.2.0", "prereleases only when asked for");
        assert_eq!(pick("1.x").unwrap(), "1.2.0");
        assert_eq!(pick(">= 1.0, < 2.0").unwrap(), "1.2.0");
        assert_eq!(pick(">=1.0 <2.0").unwrap(), "1.2.0");
        assert_eq!(pick("~1.0.0 || ^2").unwrap(), "2.0.0");
        assert_eq!(pick("*").unwrap(), "2.0.0");
        assert_eq!(pick("").unwrap(), "2.0.0");
        assert_eq!(pick("1.3.0-rc.1").unwrap(), "1.3.0-rc.1");
    }

    #[test]
    fn a_version_that_does_not_exist_lists_what_does() {
        let err = pick("9.9.9").unwrap_err();
        assert_eq!(err.to_string(), "no version of chart \"web\" matches \"9.9.9\" (available: 2.0.0, 1.3.0-rc.1, 1.2.0, 1.0.0)");
        assert!(matches!(pick("^3"), Err(ResolveError::NoMatch { .. })));
        assert!(matches!(pick("not a version"), Err(ResolveError::BadConstraint(_))));
        let index = parse(INDEX).unwrap();
        assert_eq!(resolve(&index, "db", "1.0.0").unwrap_err(), ResolveError::NoChart("db".into()));
    }
}
