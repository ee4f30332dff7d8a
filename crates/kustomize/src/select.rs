//! Resource selection: patch targets, replacement sources and targets.
//! Names and namespaces are anchored regular expressions; labels and
//! annotations use Kubernetes label-selector syntax.

use regex::Regex;
use serde_json::{Map, Value};

use crate::resource::{Resource, is_namespaced};
use crate::types::Selector;

/// A compiled selector.
pub struct Compiled {
    sel: Selector,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Req>,
    annotations: Vec<Req>,
}

fn anchored(s: &str) -> Result<Option<Regex>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{s})$")).map(Some).map_err(|e| format!("invalid regular expression `{s}`: {e}"))
}

impl Compiled {
    /// Compiles `sel`, reporting bad regular expressions or selectors.
    pub fn new(sel: &Selector) -> Result<Self, String> {
        Ok(Compiled {
            sel: sel.clone(),
            name: anchored(&sel.name)?,
            namespace: anchored(&sel.namespace)?,
            labels: parse_selector(&sel.label_selector)?,
            annotations: parse_selector(&sel.annotation_selector)?,
        })
    }

    /// Whether `r` is selected (original or current name/namespace count).
    pub fn matches(&self, r: &Resource) -> bool {
        let gvk = r.gvk();
        if !gvk.selected_by(&self.sel.group, &self.sel.version, &self.sel.kind) {
            return false;
        }
        if let Some(re) = &self.name {
            let first = r.names.first().map(String::as_str).unwrap_or("");
            if !re.is_match(first) && !re.is_match(r.name()) {
                return false;
            }
        }
        if let Some(re) = &self.namespace {
            let eff = |ns: &str| {
                if ns.is_empty() && is_namespaced(&gvk.kind) { "default".to_string() } else { ns.to_string() }
            };
            let first = r.namespaces.first().map(String::as_str).unwrap_or("");
            if !re.is_match(&eff(first)) && !re.is_match(&eff(r.namespace())) {
                return false;
            }
        }
        matches_all(&self.labels, &r.labels()) && matches_all(&self.annotations, &r.annotations())
    }
}

#[derive(Clone, Debug)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A Kubernetes label-selector string (`a=b,c!=d,e in (x,y),!f,g`),
/// parsed once; also used outside Kustomize (notification subscriptions).
#[derive(Clone, Debug, Default)]
pub struct LabelSelector(Vec<Req>);

impl LabelSelector {
    /// Parses `s`; the empty string selects everything.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        parse_selector(s).map(LabelSelector)
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        matches_by(&self.0, |k| labels.get(k).cloned())
    }
}

fn matches_all(reqs: &[Req], m: &Map<String, Value>) -> bool {
    matches_by(reqs, |k| m.get(k).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
}

fn matches_by(reqs: &[Req], get: impl Fn(&str) -> Option<String>) -> bool {
    reqs.iter().all(|r| match r {
        Req::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
        Req::Ne(k, v) => get(k).as_deref() != Some(v.as_str()),
        Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
        Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
        Req::Exists(k) => get(k).is_some(),
        Req::NotExists(k) => get(k).is_none(),
    })
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn parse_selector(s: &str) -> Result<Vec<Req>, String> {
    let mut reqs = Vec::new();
    for part in split_top(s) {
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')'));
            let inner = inner.ok_or_else(|| format!("invalid selector `{part}`"))?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        if let Some(k) = part.strip_prefix('!') {
            reqs.push(Req::NotExists(k.trim().to_string()));
        } else if let Some((k, v)) = part.split_once("!=") {
            reqs.push(Req::Ne(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = part.split_once("==") {
            reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = part.split_once('=') {
            reqs.push(Req::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, rest)) = part.split_once(" notin ") {
            reqs.push(Req::NotIn(k.trim().into(), set(rest)?));
        } else if let Some((k, rest)) = part.split_once(" in ") {
            reqs.push(Req::In(k.trim().into(), set(rest)?));
        } else {
            reqs.push(Req::Exists(part.trim().into()));
        }
    }
    Ok(reqs)
}
