//! The git generator: one element per directory matching `directories`,
//! or per object of the files matching `files` (JSON or YAML, one object
//! or a list). Only what lies inside the checkout is read: symbolic links
//! are never followed.

use std::path::Path;

use driftless_api::{GitGenerator, GitGeneratorItem};
use serde_json::{Value, json};

use super::{Generated, GeneratorError, Sources};
use crate::Params;
use crate::params::normalize;

/// Files larger than this are refused: parameters, not data.
const MAX_FILE: u64 = 1 << 20;
/// Directories and files walked at most, against a hostile repository.
const MAX_ENTRIES: usize = 200_000;

pub(super) async fn generate(g: &GitGenerator, go: bool, sources: &impl Sources) -> Generated {
    if g.repo_url.is_empty() {
        return Err(GeneratorError::Invalid("repoURL: required".into()));
    }
    if g.directories.is_empty() == g.files.is_empty() {
        return Err(GeneratorError::Invalid("names either directories or files".into()));
    }
    let revision = if g.revision.is_empty() { "HEAD" } else { g.revision.as_str() };
    let tree = sources.git(&g.repo_url, revision).await.map_err(GeneratorError::Source)?;
    let (dirs, files) = walk(&tree.root)?;
    let prefix = g.path_param_prefix.as_deref().filter(|p| !p.is_empty());
    if !g.directories.is_empty() {
        let selected = chosen(&dirs, &g.directories, "directories")?;
        return Ok(selected.iter().map(|d| path_params(d, None, prefix, go)).collect());
    }
    let mut elements = Vec::new();
    for file in chosen(&files, &g.files, "files")? {
        let full = tree.root.join(&file);
        let size = std::fs::metadata(&full).map(|m| m.len()).unwrap_or_default();
        if size > MAX_FILE {
            return Err(GeneratorError::Invalid(format!("{file}: {size} bytes, more than a parameters file may hold ({MAX_FILE})")));
        }
        let text = std::fs::read_to_string(&full).map_err(|e| GeneratorError::Source(format!("{file}: {e}")))?;
        let content: Value = serde_saphyr::from_str(&text)
            .map_err(|e| GeneratorError::Invalid(format!("{file}: neither JSON nor YAML: {}", first_line(&e.to_string()))))?;
        let objects = match content {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            one => vec![one],
        };
        let dir = match file.rsplit_once('/') {
            Some((d, _)) => d.to_string(),
            None => ".".to_string(),
        };
        for (i, object) in objects.into_iter().enumerate() {
            let Value::Object(mut p) = object else {
                return Err(GeneratorError::Invalid(format!("{file}: item {i} is not an object of parameters")));
            };
            p.extend(path_params(&dir, Some(&file), prefix, go));
            elements.push(p);
        }
    }
    Ok(elements)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// The paths of `all` that an include pattern matches and no exclude
/// pattern does, sorted.
fn chosen(all: &[String], items: &[GitGeneratorItem], field: &str) -> Result<Vec<String>, GeneratorError> {
    for (i, item) in items.iter().enumerate() {
        if item.path.is_empty() || item.path.starts_with('/') || item.path.split('/').any(|s| s == "..") {
            return Err(GeneratorError::Invalid(format!(
                "{field}[{i}].path: {:?} is not a relative path inside the repository",
                item.path
            )));
        }
    }
    let (exclude, include): (Vec<&GitGeneratorItem>, Vec<&GitGeneratorItem>) = items.iter().partition(|i| i.exclude);
    let mut out: Vec<String> = all
        .iter()
        .filter(|p| include.iter().any(|i| path_match(&i.path, p)) && !exclude.iter().any(|i| path_match(&i.path, p)))
        .cloned()
        .collect();
    out.sort();
    Ok(out)
}

/// Whether `path` matches the glob `pattern`, segment by segment: `*`,
/// `?` and `[...]` within a segment, `**` for any number of segments.
pub fn path_match(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    segments_match(&pattern, &path)
}

fn segments_match(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| segments_match(rest, &path[skip..])),
        Some((first, rest)) => path.split_first().is_some_and(|(p, tail)| segment_match(first, p) && segments_match(rest, tail)),
    }
}

/// Go's `path.Match` for one segment: `*`, `?`, `[a-z]`, `[^x]`, `\`.
fn segment_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative, single-star backtracking: a hostile pattern stays linear.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, len)) = class(&p[pi..], n[ni])
                        && matched
                    {
                        pi += len;
                        ni += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == n[ni] => {
                    pi += 2;
                    ni += 1;
                    continue;
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A `[...]` class at the start of `p`: whether `c` is in it, and its
/// length; None when unterminated.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negated = p.get(1) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let start = i;
    while i < p.len() && (p[i] != ']' || i == start) {
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            matched |= (p[i]..=p[i + 2]).contains(&c);
            i += 3;
        } else {
            matched |= p[i] == c;
            i += 1;
        }
    }
    (i < p.len()).then_some((matched != negated, i + 1))
}

/// Every directory and file of the checkout (relative, `/`-separated),
/// `.git` left out and symbolic links never followed.
fn walk(root: &Path) -> Result<(Vec<String>, Vec<String>), GeneratorError> {
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| GeneratorError::Source(format!("reading the checkout: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| GeneratorError::Source(format!("reading the checkout: {e}")))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if rel.is_empty() && name == ".git" {
                continue;
            }
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let kind = entry.file_type().map_err(|e| GeneratorError::Source(format!("{path}: {e}")))?;
            if kind.is_dir() {
                dirs.push(path.clone());
                pending.push((entry.path(), path));
            } else if kind.is_file() {
                files.push(path);
            }
            if dirs.len() + files.len() > MAX_ENTRIES {
                return Err(GeneratorError::Invalid(format!("the repository holds more than {MAX_ENTRIES} files and directories")));
            }
        }
    }
    Ok((dirs, files))
}

/// The path parameters of a directory (and of a file in it), as Argo CD
/// names them, under `prefix` when given.
fn path_params(dir: &str, file: Option<&str>, prefix: Option<&str>, go: bool) -> Params {
    let basename = dir.rsplit('/').next().unwrap_or(dir);
    let segments: Vec<&str> = dir.split('/').collect();
    let filename = file.map(|f| f.rsplit('/').next().unwrap_or(f));
    let key = |k: &str| match prefix {
        Some(p) => format!("{p}.{k}"),
        None => k.to_string(),
    };
    let mut p = Params::new();
    if go {
        let mut path = json!({
            "path": dir,
            "basename": basename,
            "basenameNormalized": normalize(basename),
            "segments": segments,
        });
        if let Some(f) = filename {
            path["filename"] = json!(f);
            path["filenameNormalized"] = json!(normalize(f));
        }
        match prefix {
            Some(pre) => p.insert(pre.to_string(), json!({ "path": path })),
            None => p.insert("path".into(), path),
        };
        return p;
    }
    p.insert(key("path"), json!(dir));
    p.insert(key("path.basename"), json!(basename));
    p.insert(key("path.basenameNormalized"), json!(normalize(basename)));
    if let Some(f) = filename {
        p.insert(key("path.filename"), json!(f));
        p.insert(key("path.filenameNormalized"), json!(normalize(f)));
    }
    for (i, s) in segments.iter().enumerate() {
        p.insert(key(&format!("path[{i}]")), json!(s));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_segment_by_segment_and_double_star_spans_them() {
        assert!(path_match("apps/*", "apps/web"));
        assert!(!path_match("apps/*", "apps/web/overlays"), "* stays within a segment, as Go's path.Match");
        assert!(path_match("apps/*/overlays/production", "apps/web/overlays/production"));
        assert!(path_match("**/config.json", "a/b/config.json"));
        assert!(path_match("**/config.json", "config.json"));
        assert!(path_match("cluster-[a-c]", "cluster-b") && !path_match("cluster-[^a-c]", "cluster-b"));
        assert!(path_match("env-?", "env-1") && !path_match("env-?", "env-12"));
        assert!(!path_match("apps/[", "apps/["), "an unterminated class matches nothing");
        // Linear on a hostile pattern.
        assert!(!path_match(&"*a".repeat(50), &"a".repeat(60).replace('a', "b")));
    }

    #[test]
    fn path_parameters_are_argo_cds() {
        let p = path_params("apps/Web_1", None, None, false);
        assert_eq!(p["path"], "apps/Web_1");
        assert_eq!(p["path.basename"], "Web_1");
        assert_eq!(p["path.basenameNormalized"], "web-1");
        assert_eq!(p["path[0]"], "apps");
        let p = path_params("cluster/eu", Some("cluster/eu/config.json"), Some("cfg"), true);
        assert_eq!(p["cfg"]["path"]["filename"], "config.json");
        assert_eq!(p["cfg"]["path"]["segments"], json!(["cluster", "eu"]));
    }

    #[test]
    fn patterns_outside_the_repository_are_refused() {
        let item = |p: &str| GitGeneratorItem { path: p.into(), exclude: false };
        for bad in ["../x", "/etc", "a/../../b", ""] {
            assert!(chosen(&[], &[item(bad)], "files").is_err(), "{bad}");
        }
    }
}
