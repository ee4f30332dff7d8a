//! jq path expressions (`jqPathExpressions`), evaluated with jaq.
//!
//! Argo CD runs `del(EXPR)` with gojq. We compile `path(EXPR)` instead and
//! delete the yielded paths ourselves: same effect, and the paths stay in our
//! own representation, so no jaq value has to be converted back to JSON.

use crate::pointer::Seg;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;
use serde::Deserialize;
use serde_json::Value;

/// The jaq filter type we compile to (values are jaq-json's `Val`).
type JaqFilter = jaq_core::Filter<data::JustLut<Val>>;

/// Bound on the paths one expression may yield for one object: a runaway
/// expression (`recurse` over something huge, `range(1e9)`) must not stall
/// the controller. Real Kubernetes objects stay far below it.
const MAX_PATHS: usize = 100_000;

/// A compiled `jqPathExpressions` entry.
pub(crate) struct JqPath {
    filter: JaqFilter,
}

impl std::fmt::Debug for JqPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JqPath")
    }
}

impl JqPath {
    /// Parses and compiles `expression`; the error text says what is wrong.
    pub(crate) fn compile(expression: &str) -> Result<Self, String> {
        // Alone first: wrapped, an unbalanced `.a) | (.b` would slip through.
        build(expression)?;
        // The newline keeps a trailing `# comment` from swallowing the `)`.
        let filter = build(&format!("path({expression}\n)"))?;
        Ok(Self { filter })
    }

    /// The paths the expression yields on `doc`. A runtime error (for
    /// example iterating over a missing field) yields no paths at all: Argo
    /// CD, too, leaves an object alone when the rule's jq program fails on it.
    /// A path we cannot delete (a slice) is skipped.
    pub(crate) fn paths(&self, doc: &Value) -> Vec<Vec<Seg>> {
        let Ok(input) = Val::deserialize(doc) else {
            return Vec::new();
        };
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let outputs = self.filter.id.run((ctx, input)).map(unwrap_valr);
        let mut out = Vec::new();
        for result in outputs.take(MAX_PATHS) {
            match result {
                Ok(v) => out.extend(to_path(&v, doc)),
                Err(_) => return Vec::new(),
            }
        }
        out
    }
}

/// Parses and compiles one jq program with jaq's standard library.
fn build(code: &str) -> Result<JaqFilter, String> {
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
    let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs());
    let arena = Arena::default();
    let modules = Loader::new(defs).load(&arena, File { code, path: () }).map_err(|errs| load_errors(&errs))?;
    Compiler::default().with_funs(funs).compile(modules).map_err(|errs| compile_errors(&errs))
}

/// Converts a jaq path (an array of keys and indices) to our segments,
/// resolving negative indices (`.[-1]`) against the arrays in `doc`.
fn to_path(v: &Val, doc: &Value) -> Option<Vec<Seg>> {
    let Val::Arr(items) = v else { return None };
    let mut cur = Some(doc);
    let mut path = Vec::with_capacity(items.len());
    for item in items.iter() {
        let seg = match item {
            Val::TStr(b) => Seg::Key(String::from_utf8_lossy(b).into_owned()),
            Val::Num(n) => {
                let i = n.as_isize()?;
                let index = match usize::try_from(i) {
                    Ok(i) => i,
                    Err(_) => {
                        let len = cur.and_then(Value::as_array).map(Vec::len)?;
                        len.checked_sub(i.unsigned_abs())?
                    }
                };
                Seg::Index(index)
            }
            // Slices (`.[1:3]`) and other exotic paths are not deletable keys.
            _ => return None,
        };
        cur = match (&seg, cur) {
            (Seg::Key(k), Some(Value::Object(m))) => m.get(k),
            (Seg::Index(i), Some(Value::Array(a))) => a.get(*i),
            _ => None,
        };
        path.push(seg);
    }
    Some(path)
}

fn load_errors<P>(errs: &jaq_core::load::Errors<&str, P>) -> String {
    use jaq_core::load::Error;
    let mut msgs = Vec::new();
    for (_, err) in errs {
        match err {
            Error::Io(items) => msgs.extend(items.iter().map(|(path, e)| format!("cannot load {path}: {e}"))),
            Error::Lex(items) => {
                msgs.extend(items.iter().map(|(expect, at)| format!("expected {} near {:?}", expect.as_str(), near(at))));
            }
            Error::Parse(items) => {
                msgs.extend(items.iter().map(|(expect, at)| format!("expected {} near {:?}", expect.as_str(), near(at))));
            }
        }
    }
    msgs.join("; ")
}

fn compile_errors<P>(errs: &jaq_core::compile::Errors<&str, P>) -> String {
    let msgs: Vec<String> =
        errs.iter().flat_map(|(_, list)| list.iter()).map(|(name, undefined)| format!("undefined {} {name}", undefined.as_str())).collect();
    msgs.join("; ")
}

/// The start of the unparsed rest, enough to locate the problem; the closing
/// `)` we added is not the user's, so leave it out.
fn near(rest: &str) -> String {
    let rest = rest.strip_suffix("\n)").unwrap_or(rest);
    if rest.is_empty() {
        return "end of expression".to_owned();
    }
    rest.chars().take(20).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn compiled_paths_are_shareable() {
        assert_send_sync::<JqPath>();
    }

    #[test]
    fn yields_paths_of_selected_elements() {
        let jq = JqPath::compile(r#".spec.containers[] | select(.name == "istio-proxy")"#).expect("compiles");
        let doc = json!({"spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}]}});
        assert_eq!(jq.paths(&doc), vec![vec![Seg::Key("spec".into()), Seg::Key("containers".into()), Seg::Index(1)]]);
    }

    #[test]
    fn negative_indices_resolve_against_the_array() {
        let jq = JqPath::compile(".spec.containers[-1]").expect("compiles");
        let doc = json!({"spec": {"containers": [{"name": "app"}, {"name": "sidecar"}]}});
        assert_eq!(jq.paths(&doc), vec![vec![Seg::Key("spec".into()), Seg::Key("containers".into()), Seg::Index(1)]]);
    }

    #[test]
    fn runtime_error_yields_nothing() {
        let jq = JqPath::compile(".spec.missing[] | .x").expect("compiles");
        assert!(jq.paths(&json!({"spec": {}})).is_empty());
    }

    #[test]
    fn reports_syntax_and_undefined() {
        let e = JqPath::compile(".spec | select(.a ==").expect_err("bad syntax");
        assert!(!e.is_empty());
        assert!(JqPath::compile(".a) | (.b").is_err());
        assert!(JqPath::compile(".a # comment").is_ok());
        let e = JqPath::compile(".spec | nosuchfn").expect_err("undefined");
        assert!(e.contains("nosuchfn"), "{e}");
    }
}
