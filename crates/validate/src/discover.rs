//! Reading the repository: every YAML or JSON document under a directory,
//! with the file and line it starts at. Applications, ApplicationSets and
//! CRDs are found among them, and rendered objects are traced back to them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::finding::Location;

/// Files larger than this are not read: manifests, not data.
pub const MAX_FILE: u64 = 4 << 20;
/// Files and directories looked at, at most, against a hostile tree.
const MAX_ENTRIES: usize = 200_000;

/// One document of a file.
#[derive(Clone, Debug)]
pub struct Doc {
    /// The file, `/`-separated, relative to the repository root.
    pub file: String,
    /// The line its content starts at.
    pub line: u32,
    /// The document.
    pub value: Value,
}

impl Doc {
    /// Where it is.
    pub fn location(&self) -> Location {
        Location { file: Some(self.file.clone()), line: Some(self.line) }
    }

    fn key(&self) -> Option<(String, String)> {
        Some((self.value["kind"].as_str()?.to_string(), self.value["metadata"]["name"].as_str()?.to_string()))
    }
}

/// The documents of the YAML and JSON files under `dir` (hidden directories,
/// `.git` among them, and Helm `templates/` are skipped; files that are
/// not YAML are ignored: only what an app renders is judged, by its render),
/// and where a file that may hold an Argo CD manifest does not parse.
pub fn scan(root: &Path, dir: &Path) -> (Vec<Doc>, Vec<Location>) {
    let mut docs = Vec::new();
    let mut broken = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        entries.sort();
        for path in entries {
            seen += 1;
            if seen > MAX_ENTRIES {
                return (docs, broken);
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            // Symbolic links are not followed: nothing outside is read.
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.is_dir() {
                let chart_templates = name == "templates" && path.parent().is_some_and(|p| p.join("Chart.yaml").is_file());
                if !name.starts_with('.') && !chart_templates {
                    pending.push(path);
                }
            } else if meta.is_file()
                && meta.len() <= MAX_FILE
                && [".yaml", ".yml", ".json"].iter().any(|e| name.ends_with(e))
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                let file = relative(root, &path);
                match parse(&file, &text) {
                    Ok(d) => docs.extend(d),
                    Err(line) if mentions_argo_cd(&text) => broken.push(Location { file: Some(file), line: Some(line) }),
                    Err(_) => {}
                }
            }
        }
    }
    (docs, broken)
}

/// The documents of one file that parse; a file that does not parse gives
/// none.
pub fn documents(file: &str, text: &str) -> Vec<Doc> {
    parse(file, text).unwrap_or_default()
}

/// The documents of one file, or the line of the first document that does
/// not parse (the parser's message is not kept: it may quote the file).
pub fn parse(file: &str, text: &str) -> Result<Vec<Doc>, u32> {
    let mut out = Vec::new();
    for (line, chunk) in split(text) {
        match serde_saphyr::from_str::<Value>(chunk) {
            Ok(Value::Null) => {}
            Ok(value) => out.push(Doc { file: file.to_string(), line, value }),
            Err(_) => return Err(line),
        }
    }
    Ok(out)
}

/// Whether `text` may hold an Argo CD manifest: one that does not parse is
/// then reported rather than skipped.
pub fn mentions_argo_cd(text: &str) -> bool {
    text.contains("argoproj.io")
}

/// A file's documents as text, each with the line its content starts at:
/// split at `---` lines (a `---` at the start of a line cannot be inside a
/// block, whose lines are indented).
fn split(text: &str) -> Vec<(u32, &str)> {
    let mut out = Vec::new();
    let (mut start, mut first_line, mut offset) = (0usize, None::<u32>, 0usize);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "..." {
            if start < offset {
                out.push((first_line.unwrap_or(n), &text[start..offset]));
            }
            start = offset + line.len();
            first_line = None;
        } else if first_line.is_none() && !trimmed.is_empty() && !trimmed.trim_start().starts_with('#') {
            first_line = Some(n);
        }
        offset += line.len();
    }
    if start < text.len() {
        out.push((first_line.unwrap_or(1), &text[start..]));
    }
    out
}

/// `path` relative to `root`, `/`-separated.
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let s = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    if s.is_empty() { ".".into() } else { s }
}

/// Where rendered objects come from: documents by kind and name.
#[derive(Default)]
pub struct Index {
    by_key: HashMap<(String, String), Vec<usize>>,
    docs: Vec<Doc>,
}

impl Index {
    /// Indexes `docs`.
    pub fn new(docs: Vec<Doc>) -> Index {
        let mut by_key: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, d) in docs.iter().enumerate() {
            if let Some(key) = d.key() {
                by_key.entry(key).or_default().push(i);
            }
        }
        Index { by_key, docs }
    }

    /// Every document.
    pub fn docs(&self) -> &[Doc] {
        &self.docs
    }

    /// The document a rendered object most likely comes from: one of the
    /// same kind and name among the files the render read (`read` says),
    /// preferring one that holds `path` (a patch and its base both name the
    /// object; the field at fault is in one of them).
    pub fn locate(&self, object: &Value, path: Option<&[String]>, read: &dyn Fn(&str) -> bool) -> Location {
        let (Some(kind), Some(name)) = (object["kind"].as_str(), object["metadata"]["name"].as_str()) else { return Location::default() };
        let Some(candidates) = self.by_key.get(&(kind.to_string(), name.to_string())) else { return Location::default() };
        let readable = candidates.iter().map(|&i| &self.docs[i]).filter(|d| read(&d.file));
        // The first that holds the whole path, else its parent, else any.
        let best = readable.enumerate().max_by_key(|(i, d)| (path.map_or(0, |p| holds(&d.value, p)), std::cmp::Reverse(*i)));
        best.map(|(_, d)| d.location()).unwrap_or_default()
    }
}

/// How much of `path` (fields; array items as `[i]` segments) `value`
/// holds: 2 all of it, 1 all but the last segment (an unknown field's
/// parent, a missing field's object) beyond the top level, 0 less.
fn holds(value: &Value, path: &[String]) -> u8 {
    let mut v = value;
    for (depth, seg) in path.iter().enumerate() {
        let next = match seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')).and_then(|s| s.parse::<usize>().ok()) {
            Some(i) => v.get(i),
            None => v.get(seg),
        };
        match next {
            Some(n) => v = n,
            None => return u8::from(depth + 1 == path.len() && depth > 0),
        }
    }
    2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_carry_the_line_they_start_at() {
        let text = "# leading comment\napiVersion: v1\nkind: A\n---\n\n# c\nkind: B\n--- \nkind: C\n...\n---\n";
        let docs = documents("f.yaml", text);
        let lines: Vec<(u32, &str)> = docs.iter().map(|d| (d.line, d.value["kind"].as_str().unwrap())).collect();
        assert_eq!(lines, [(2, "A"), (7, "B"), (9, "C")]);
        assert!(documents("t.yaml", "a: {{ .Values.x }}\n").is_empty(), "a template is no manifest");
        assert_eq!(documents("s.yaml", "key: |\n  ---\n  text\n").len(), 1, "an indented --- is content");
    }

    #[test]
    fn a_rendered_object_is_traced_to_the_document_holding_the_field() {
        let base = documents("base/deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicaz: 1\n");
        let patch =
            documents("overlay/patch.yaml", "\n\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n");
        let other = documents("other/deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n");
        let index = Index::new([base, patch, other].concat());
        let obj = serde_json::json!({ "kind": "Deployment", "metadata": { "name": "web" }, "spec": { "replicaz": 1, "replicas": 2 } });
        let read = |f: &str| f != "other/deploy.yaml";
        let at = |p: &[&str]| index.locate(&obj, Some(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>()), &read);
        assert_eq!(at(&["spec", "replicaz"]), Location { file: Some("base/deploy.yaml".into()), line: Some(1) });
        assert_eq!(at(&["spec", "replicas"]), Location { file: Some("overlay/patch.yaml".into()), line: Some(3) });
        assert_eq!(index.locate(&obj, None, &|f: &str| f.starts_with("other")).file.as_deref(), Some("other/deploy.yaml"));
        assert_eq!(index.locate(&obj, None, &|_: &str| false), Location::default());
    }

    #[test]
    fn the_scan_skips_huge_files_hidden_directories_chart_templates_and_links() {
        let root = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let p = root.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n");
        write("a/cm.yaml", &cm("kept"));
        write(".git/x.yaml", &cm("git"));
        write("chart/Chart.yaml", "name: chart\n");
        write("chart/templates/t.yaml", &cm("template"));
        let huge = format!("{}{}", cm("huge"), format!("# {}\n", "x".repeat(100)).repeat((MAX_FILE as usize) / 100));
        write("huge.yaml", &huge);
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("o.yaml"), cm("outside")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        let names: Vec<String> =
            scan(root.path(), root.path()).0.iter().filter_map(|d| Some(d.value["metadata"]["name"].as_str()?.to_string())).collect();
        assert_eq!(names, ["kept"]);
    }

    #[test]
    fn garbage_files_never_panic() {
        let mut seed = 7u64;
        let pieces = [
            "---\n", "...\n", "a: b\n", "- x\n", "  - y\n", "{", "}", "[", "'", "\"", ": ", "\t", "#c\n", "&a ", "*a ", "!!str ", "|\n",
            "é", "\r\n",
        ];
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..(seed % 24) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                text.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let _ = documents("g.yaml", &text);
        }
    }
}
