//! Name references: after prefixes, suffixes and hashes changed names, every
//! field that refers to an object by name (per kustomize's nameReference
//! table) is rewritten to the object's final name.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::fieldspec::{NameRef, Seg, name_refs, visit};
use crate::resource::{Resource, is_namespaced};

struct Target {
    kind: String,
    group: String,
    version: String,
    names: Vec<String>,
    namespaces: Vec<String>,
    name: String,
    namespace: String,
    affixes: (Vec<String>, Vec<String>),
}

/// Rewrites references in `resources` in place.
pub fn fix(resources: &mut [Resource], extra: &[NameRef]) -> Result<(), String> {
    let targets: Vec<Target> = resources
        .iter()
        .map(|r| {
            let g = r.gvk();
            Target {
                kind: g.kind,
                group: g.group,
                version: g.version,
                names: r.names.clone(),
                namespaces: r.namespaces.clone(),
                name: r.name().to_string(),
                namespace: r.namespace().to_string(),
                affixes: r.affixes.clone(),
            }
        })
        .collect();
    let mut by_name: HashMap<(String, String), Vec<usize>> = HashMap::new();
    for (i, t) in targets.iter().enumerate() {
        for n in &t.names {
            let e = by_name.entry((t.kind.clone(), n.clone())).or_default();
            if !e.contains(&i) {
                e.push(i);
            }
        }
    }
    let mut table = name_refs();
    table.extend(extra.iter().cloned());
    for r in resources.iter_mut() {
        let gvk = r.gvk();
        let referrer_ns = r.namespace().to_string();
        let referrer_namespaced = is_namespaced(&gvk.kind);
        let referrer_affixes = r.affixes.clone();
        let referrer_id = r.id_string();
        let mut ambiguous: Option<String> = None;
        for row in &table {
            for fs in row.referrers.iter().filter(|f| f.applies_to(&gvk)) {
                let ctx = Ctx {
                    row,
                    targets: &targets,
                    by_name: &by_name,
                    referrer_ns: &referrer_ns,
                    referrer_namespaced,
                    referrer_affixes: &referrer_affixes,
                    ambiguous: std::cell::RefCell::new(None),
                };
                if let Some(bad) = scalar_on_path(&r.obj, &fs.path) {
                    return Err(format!(
                        "updating name reference in `{}` of {}: `{bad}` is a scalar, expected a mapping or a list",
                        path_string(&fs.path),
                        r.id_string()
                    ));
                }
                let _ = visit::<()>(&mut r.obj, &fs.path, false, &mut |v| {
                    ctx.rewrite(v);
                    Ok(())
                });
                if let Some(name) = ctx.ambiguous.into_inner() {
                    ambiguous = Some(name);
                }
            }
        }
        if let Some(name) = ambiguous {
            return Err(format!("{referrer_id} refers to `{name}`, which matches several objects; give them distinct names or namespaces"));
        }
    }
    Ok(())
}

fn path_string(p: &[Seg]) -> String {
    p.iter()
        .map(|s| match s {
            Seg::Field(n) | Seg::List(n) => n.as_str(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// kustomize fails when a path goes through a scalar (e.g. `env` replaced
/// by a string); find such a segment.
fn scalar_on_path(v: &Value, path: &[Seg]) -> Option<String> {
    let (first, rest) = path.split_first()?;
    match v {
        Value::Array(items) => items.iter().find_map(|i| scalar_on_path(i, path)),
        Value::Object(m) => {
            let name = match first {
                Seg::Field(n) | Seg::List(n) => n,
            };
            let child = m.get(name.as_str())?;
            if rest.is_empty() {
                return None;
            }
            match child {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(name.clone()),
                other => scalar_on_path(other, rest),
            }
        }
        _ => None,
    }
}

struct Ctx<'a> {
    row: &'a NameRef,
    targets: &'a [Target],
    by_name: &'a HashMap<(String, String), Vec<usize>>,
    referrer_ns: &'a str,
    referrer_namespaced: bool,
    referrer_affixes: &'a (Vec<String>, Vec<String>),
    /// Set when a reference could not be resolved to a single object.
    ambiguous: std::cell::RefCell<Option<String>>,
}

impl Ctx<'_> {
    fn candidates(&self, old: &str, ns: Option<&str>) -> Vec<&Target> {
        let key = (self.row.target_kind.clone(), old.to_string());
        let mut c: Vec<&Target> = self
            .by_name
            .get(&key)
            .into_iter()
            .flatten()
            .map(|&i| &self.targets[i])
            .filter(|t| self.row.target_group.is_empty() || t.group == self.row.target_group)
            .filter(|t| self.row.target_version.is_empty() || t.version == self.row.target_version)
            .collect();
        let target_namespaced = is_namespaced(&self.row.target_kind);
        if target_namespaced {
            match ns {
                Some(ns) => c.retain(|t| t.namespaces.iter().any(|n| ns_eq(n, ns))),
                None if self.referrer_namespaced => c.retain(|t| ns_eq(&t.namespace, self.referrer_ns)),
                None => {}
            }
        }
        c
    }

    fn new_name(&self, old: &str, ns: Option<&str>) -> Option<String> {
        let c = self.sieve(self.candidates(old, ns), old)?;
        Some(c.name.clone())
    }

    /// kustomize's referral selection: one candidate wins outright;
    /// otherwise candidates are narrowed by how their prefixes and suffixes
    /// end compared with the referrer's (first letting empty lists match
    /// anything, then strictly). None left: no change. Several with
    /// different names: an error (recorded).
    fn sieve<'t>(&self, c: Vec<&'t Target>, old: &str) -> Option<&'t Target> {
        if c.len() == 1 {
            return c.first().copied();
        }
        let (rp, rs) = self.referrer_affixes;
        let loose: Vec<&Target> = c
            .into_iter()
            .filter(|t| {
                (t.affixes.0.is_empty() || rp.is_empty() || same_ending(&t.affixes.0, rp))
                    && (t.affixes.1.is_empty() || rs.is_empty() || same_ending(&t.affixes.1, rs))
            })
            .collect();
        if loose.len() == 1 {
            return loose.first().copied();
        }
        let strict: Vec<&Target> = loose.into_iter().filter(|t| same_ending(&t.affixes.0, rp) && same_ending(&t.affixes.1, rs)).collect();
        let first = *strict.first()?;
        if strict.iter().all(|t| t.name == first.name) {
            return Some(first);
        }
        *self.ambiguous.borrow_mut() = Some(old.to_string());
        None
    }

    fn rewrite(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Some(n) = self.new_name(s, None) {
                    *s = n;
                }
            }
            Value::Array(items) => {
                for it in items.iter_mut() {
                    self.rewrite(it);
                }
            }
            Value::Object(m) => self.rewrite_object(m),
            _ => {}
        }
    }

    /// `subjects` entries and webhook `clientConfig.service` carry a name
    /// and a namespace together.
    fn rewrite_object(&self, m: &mut Map<String, Value>) {
        if let Some(kind) = m.get("kind").and_then(Value::as_str)
            && kind != self.row.target_kind
        {
            return;
        }
        let Some(old) = m.get("name").and_then(Value::as_str).map(str::to_string) else { return };
        let ns = m.get("namespace").and_then(Value::as_str).map(str::to_string);
        let c = self.candidates(&old, ns.as_deref());
        let Some(first) = self.sieve(c, &old) else { return };
        m.insert("name".into(), Value::String(first.name.clone()));
        if !first.namespace.is_empty() {
            m.insert("namespace".into(), Value::String(first.namespace.clone()));
        }
    }
}

/// Whether the shorter list is the tail of the longer one (two empty lists
/// match; an empty and a non-empty one do not).
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}

/// Namespaces compare with "" and "default" as the same.
fn ns_eq(a: &str, b: &str) -> bool {
    let n = |s: &str| if s.is_empty() { "default".to_string() } else { s.to_string() };
    n(a) == n(b)
}
