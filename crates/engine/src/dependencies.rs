//! Dependencies between Applications (pure): what an app waits for before it
//! syncs, declared with the annotation `driftless.dev/depends-on` (an
//! annotation, so that Argo CD's CRD schema still accepts the manifest).
//!
//! - [`Dependencies::of`] parses the annotations: a comma-separated list of
//!   `namespace/name` or `name` (the app's own namespace), globs allowed
//!   (`argocd/crds-*`), and an optional CEL readiness expression
//!   (`driftless.dev/depends-on-ready`) over `dep` and `self`, as Flux 2.7's;
//! - [`assess`] says what an app waits for and why, or the cycle it is in;
//! - [`graph`] is what the UI draws.
//!
//! By default a dependency is ready when it is Synced and Healthy at its
//! current spec, judged as a child app is ([`driftless_health::application_readiness`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;

use driftless_api::{Application, HealthStatusCode, glob_match, is_dns_label, is_dns_subdomain};
use kube::ResourceExt;
use serde::Serialize;

/// The apps an app waits for.
pub const ANNOTATION_DEPENDS_ON: &str = "driftless.dev/depends-on";
/// A CEL expression over `dep` and `self` saying when a dependency is ready.
pub const ANNOTATION_DEPENDS_ON_READY: &str = "driftless.dev/depends-on-ready";

/// At most this many items in `depends-on`, and bytes in either annotation:
/// more is a mistake, and bounds the work of every reconcile.
const MAX_ITEMS: usize = 256;
const MAX_LIST_BYTES: usize = 64 * 1024;
/// CEL's parser recurses: the source is bounded before it sees it, and
/// judged on a stack of [`CEL_STACK`] bytes (a 2 MiB one overflows at a
/// depth of about 100 in a debug build, 16 MiB at about 500).
const MAX_EXPR_BYTES: usize = 4096;
const MAX_EXPR_DEPTH: usize = 64;
const CEL_STACK: usize = 16 << 20;
/// Comprehensions (`all`, `map`, ...) multiply each other's work.
const MAX_COMPREHENSIONS: usize = 2;

/// Why an app's dependencies cannot be judged; each names its annotation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    /// `depends-on` is longer than allowed.
    #[error("annotation {ANNOTATION_DEPENDS_ON}: {0} bytes, at most {MAX_LIST_BYTES}")]
    ListTooLong(usize),
    /// `depends-on` names too many items.
    #[error("annotation {ANNOTATION_DEPENDS_ON}: {0} items, at most {MAX_ITEMS}")]
    TooManyItems(usize),
    /// An item of `depends-on` is not `namespace/name` or `name`.
    #[error("annotation {ANNOTATION_DEPENDS_ON}: item {position} {item:?}: {reason}")]
    BadItem {
        /// 1-based.
        position: usize,
        /// The item as written (bounded).
        item: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `depends-on-ready` is not a CEL expression driftless accepts.
    #[error("annotation {ANNOTATION_DEPENDS_ON_READY}: {0}")]
    BadExpression(String),
    /// The app is part of a cycle: the path, from the app back to it.
    #[error("dependency cycle: {0}")]
    Cycle(String),
}

/// An app's namespace and name, shown `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AppKey {
    /// The app's namespace.
    pub namespace: String,
    /// The app's name.
    pub name: String,
}

impl AppKey {
    /// The key of `app`.
    pub fn of(app: &Application) -> AppKey {
        AppKey { namespace: app.namespace().unwrap_or_default(), name: app.name_any() }
    }
}

impl fmt::Display for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One item of `depends-on`: globs over a namespace and a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    namespace: String,
    name: String,
}

impl Pattern {
    /// Whether `key` is one of the apps this item names.
    pub fn matches(&self, key: &AppKey) -> bool {
        glob_match(&self.namespace, &key.namespace) && glob_match(&self.name, &key.name)
    }

    /// The one app this item names, when it has no glob.
    fn literal(&self) -> Option<AppKey> {
        let plain = |s: &str| !s.contains(['*', '?']);
        (plain(&self.namespace) && plain(&self.name)).then(|| AppKey { namespace: self.namespace.clone(), name: self.name.clone() })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What an app waits for, parsed from its annotations.
#[derive(Debug)]
pub struct Dependencies {
    /// The items of `depends-on`, in order.
    pub patterns: Vec<Pattern>,
    /// The readiness expression, if any (else Synced and Healthy).
    ready: Option<Readiness>,
}

impl Dependencies {
    /// The dependencies `app` declares; `None` without (or with an empty)
    /// `depends-on`.
    pub fn of(app: &Application) -> Result<Option<Dependencies>, DependencyError> {
        let annotations = app.annotations();
        let Some(list) = annotations.get(ANNOTATION_DEPENDS_ON).filter(|l| !l.trim().is_empty()) else { return Ok(None) };
        let patterns = parse_list(list, &app.namespace().unwrap_or_default())?;
        let ready =
            annotations.get(ANNOTATION_DEPENDS_ON_READY).filter(|e| !e.trim().is_empty()).map(|e| Readiness::bounded(e)).transpose()?;
        Ok(Some(Dependencies { patterns, ready }))
    }

    /// Whether `key` is among the apps this one waits for.
    pub fn names(&self, key: &AppKey) -> bool {
        self.patterns.iter().any(|p| p.matches(key))
    }

    /// Whether readiness is a CEL expression, which may read any field of a
    /// dependency (so any change of one may change it).
    pub fn has_expression(&self) -> bool {
        self.ready.is_some()
    }
}

/// Parses `depends-on`: items separated by commas, each `namespace/name` or
/// `name` (in `own_namespace`), `*` and `?` allowed as in AppProject globs.
pub fn parse_list(list: &str, own_namespace: &str) -> Result<Vec<Pattern>, DependencyError> {
    if list.len() > MAX_LIST_BYTES {
        return Err(DependencyError::ListTooLong(list.len()));
    }
    let items: Vec<&str> = list.split(',').collect();
    if items.len() > MAX_ITEMS {
        return Err(DependencyError::TooManyItems(items.len()));
    }
    let mut patterns = Vec::with_capacity(items.len());
    for (i, raw) in items.iter().enumerate() {
        let item = raw.trim();
        let bad = |reason| DependencyError::BadItem { position: i + 1, item: item.chars().take(80).collect(), reason };
        let (namespace, name) = match item.split_once('/') {
            _ if item.is_empty() => return Err(bad("empty (two commas in a row, or one at an end?)")),
            Some((_, name)) if name.contains('/') => return Err(bad("more than one '/': write namespace/name")),
            Some((namespace, name)) => (namespace, name),
            None => (own_namespace, item),
        };
        if !glob_of(namespace, false) {
            return Err(bad("the namespace is not a namespace name or a glob of one (a-z, 0-9, '-', '*', '?')"));
        }
        if !glob_of(name, true) {
            return Err(bad("the name is not an Application name or a glob of one (a-z, 0-9, '-', '.', '*', '?')"));
        }
        patterns.push(Pattern { namespace: namespace.to_string(), name: name.to_string() });
    }
    Ok(patterns)
}

/// Whether `s` is a DNS label (a subdomain when `dots`), or a glob of one.
fn glob_of(s: &str, dots: bool) -> bool {
    if !s.contains(['*', '?']) {
        return if dots { is_dns_subdomain(s) } else { is_dns_label(s) };
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '*' | '?') || (dots && c == '.');
    s.len() <= 253 && s.chars().all(allowed) && !s.contains("..") && !s.starts_with('.')
}

/// A `depends-on-ready` expression, its size bounded.
#[derive(Debug)]
struct Readiness {
    source: String,
}

impl Readiness {
    /// Checks the bounds of `source`: CEL's parser and evaluator recurse, a
    /// level per bracket, operator or field access (tens of KiB each in a
    /// debug build), so a deep enough expression would overflow the stack.
    /// Compiled by [`Readiness::judge`], on a stack sized for the bound.
    fn bounded(source: &str) -> Result<Readiness, DependencyError> {
        let bad = |why: String| DependencyError::BadExpression(why);
        if source.len() > MAX_EXPR_BYTES {
            return Err(bad(format!("{} bytes, at most {MAX_EXPR_BYTES}", source.len())));
        }
        if depth(source) > MAX_EXPR_DEPTH {
            return Err(bad(format!("more than {MAX_EXPR_DEPTH} brackets, operators and field accesses deep")));
        }
        if comprehensions(source) > MAX_COMPREHENSIONS {
            return Err(bad(format!("more than {MAX_COMPREHENSIONS} of all, exists, exists_one, map and filter")));
        }
        Ok(Readiness { source: source.to_string() })
    }

    /// Whether each of `deps` is ready for `me` (the expression must yield
    /// a bool; an evaluation error says why not), or why the expression
    /// does not compile. Runs on its own thread, with a stack the bound of
    /// [`Readiness::bounded`] cannot exhaust.
    fn judge(&self, deps: &[serde_json::Value], me: &serde_json::Value) -> Result<Vec<Result<bool, String>>, DependencyError> {
        let run = || {
            let program = cel::Program::compile(&self.source)
                .map_err(|e| DependencyError::BadExpression(format!("does not parse: {}", first_line(&e.to_string()))))?;
            let me = cel::to_value(me).map_err(|e| DependencyError::BadExpression(format!("self: {e}")))?;
            Ok(deps
                .iter()
                .map(|dep| {
                    let mut context = cel::Context::default();
                    context.add_variable_from_value("self", me.clone());
                    context.add_variable_from_value("dep", cel::to_value(dep).map_err(|e| format!("dep: {e}"))?);
                    match program.execute(&context) {
                        Ok(cel::Value::Bool(b)) => Ok(b),
                        Ok(other) => Err(format!("{ANNOTATION_DEPENDS_ON_READY} gave {:?}, not a bool", other.type_of())),
                        // CEL's errors may quote whole values: one line, capped.
                        Err(e) => Err(format!("{ANNOTATION_DEPENDS_ON_READY}: {}", first_line(&e.to_string()))),
                    }
                })
                .collect())
        };
        std::thread::scope(|s| {
            let thread = std::thread::Builder::new().stack_size(CEL_STACK).spawn_scoped(s, run);
            match thread.map(|t| t.join()) {
                Ok(Ok(judged)) => judged,
                _ => Err(DependencyError::BadExpression("could not be evaluated".into())),
            }
        })
    }
}

/// What a readiness expression sees of an app (`dep`, `self`): its name,
/// labels and state, never its spec or annotations, which may hold values
/// (Helm's) of another team's app, nor the text of its messages.
fn cel_view(app: &Application) -> serde_json::Value {
    let status = app.status.clone().unwrap_or_default();
    let resources: Vec<serde_json::Value> = status
        .resources
        .iter()
        .map(|r| {
            serde_json::json!({
                "group": r.group, "kind": r.kind, "namespace": r.namespace, "name": r.name,
                "status": r.status, "health": { "status": r.health.as_ref().map(|h| h.status) },
            })
        })
        .collect();
    serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": app.metadata.name, "namespace": app.metadata.namespace,
            "labels": app.metadata.labels.clone().unwrap_or_default(), "generation": app.metadata.generation,
        },
        "spec": { "project": app.spec.project },
        "status": {
            "sync": { "status": status.sync.status, "revision": status.sync.revision, "revisions": status.sync.revisions },
            "health": { "status": status.health.status },
            "operationState": status.operation_state.as_ref().map(|o| serde_json::json!({ "phase": o.phase })),
            "conditions": status.conditions.iter().map(|c| serde_json::json!({ "type": c.type_ })).collect::<Vec<_>>(),
            "reconciledAt": status.reconciled_at,
            "resources": resources,
        },
    })
}

/// `source` without its `//` comments (outside string literals), so that
/// a comment cannot hide a call from [`comprehensions`].
fn without_comments(source: &str) -> String {
    let (mut out, mut quote, mut chars) = (String::new(), None::<char>, source.chars().peekable());
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                out.push(c);
                out.extend(chars.next());
            }
            (Some(q), _) if c == q => {
                quote = None;
                out.push(c);
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '/') if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// How many comprehensions `source` calls: each loops over a list of the
/// dependency (its resources may be thousands), so nested ones multiply.
fn comprehensions(source: &str) -> usize {
    let compact: String = without_comments(source).chars().filter(|c| !c.is_whitespace()).collect();
    ["all", "exists", "exists_one", "map", "filter"].iter().map(|m| compact.matches(&format!(".{m}(")).count()).sum()
}

/// How deep CEL's parser may recurse on `source`: brackets, operators and
/// field accesses outside string literals (roughly: one in a string only
/// makes the bound stricter).
fn depth(source: &str) -> usize {
    let (mut depth, mut deepest, mut operators) = (0usize, 0usize, 0usize);
    for c in source.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '.' | '+' | '-' | '*' | '/' | '%' | '!' | '&' | '|' | '=' | '<' | '>' | '?' | ':' | ',' => operators += 1,
            _ => {}
        }
        deepest = deepest.max(depth);
    }
    deepest + operators
}

fn first_line(s: &str) -> String {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(200).collect()
}

/// One dependency of an app, as [`assess`] found it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    /// The item of `depends-on` that names it.
    pub pattern: String,
    /// The app; `None` when the item matches no app.
    pub app: Option<AppKey>,
    /// Whether it is ready.
    pub ready: bool,
    /// Why not (or "ready").
    pub reason: String,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.app {
            Some(app) => write!(f, "{app}: {}", self.reason),
            None => write!(f, "{}: {}", self.pattern, self.reason),
        }
    }
}

/// What an app waits for.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    /// Each app it depends on (or item that matches none).
    pub dependencies: Vec<Dependency>,
    /// Why its dependencies cannot be judged: a bad annotation or
    /// expression, or a cycle it is part of. Nothing syncs meanwhile.
    pub error: Option<DependencyError>,
}

impl Assessment {
    /// Whether the app may sync: no error, every dependency ready.
    pub fn ready(&self) -> bool {
        self.error.is_none() && self.dependencies.iter().all(|d| d.ready)
    }

    /// What the app waits for, e.g. "waiting for argocd/operator:
    /// OutOfSync, Progressing"; `None` when ready or in error.
    pub fn waiting(&self) -> Option<String> {
        let waiting: Vec<String> = self.dependencies.iter().filter(|d| !d.ready).map(ToString::to_string).collect();
        (self.error.is_none() && !waiting.is_empty()).then(|| format!("waiting for {}", waiting.join("; ")))
    }
}

impl Serialize for DependencyError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// The apps, looked up by key.
pub struct Apps<'a> {
    all: &'a [Arc<Application>],
    by_key: HashMap<AppKey, &'a Application>,
}

impl<'a> Apps<'a> {
    /// An index of `all`, built once per assessment.
    pub fn new(all: &'a [Arc<Application>]) -> Apps<'a> {
        Apps { all, by_key: all.iter().map(|a| (AppKey::of(a), &**a)).collect() }
    }

    /// The apps `pattern` names, in a stable order.
    fn matching(&self, pattern: &Pattern) -> Vec<&'a Application> {
        if let Some(key) = pattern.literal() {
            return self.by_key.get(&key).copied().into_iter().collect();
        }
        let mut found: Vec<&Application> = self.all.iter().map(|a| &**a).filter(|a| pattern.matches(&AppKey::of(a))).collect();
        found.sort_by_key(|a| AppKey::of(a));
        found
    }

    /// The apps `app` depends on (unparsable annotations: none).
    fn dependencies_of(&self, app: &Application) -> Vec<&'a Application> {
        let Ok(Some(deps)) = Dependencies::of(app) else { return Vec::new() };
        let me = AppKey::of(app);
        let mut seen = HashSet::new();
        deps.patterns.iter().flat_map(|p| self.matching(p)).filter(|a| seen.insert(AppKey::of(a)) && AppKey::of(a) != me).collect()
    }

    /// The apps that depend on `key` (for reverse-order deletion).
    pub fn dependents_of(&self, key: &AppKey) -> Vec<AppKey> {
        let mut found: Vec<AppKey> = self
            .all
            .iter()
            .filter(|a| AppKey::of(a) != *key)
            .filter(|a| matches!(Dependencies::of(a), Ok(Some(d)) if d.names(key)))
            .map(|a| AppKey::of(a))
            .collect();
        found.sort();
        found
    }

    /// A cycle through `app`, as a path back to it, if there is one: a
    /// breadth-first search over what `app` reaches, so the shortest.
    fn cycle_through(&self, app: &Application) -> Option<Vec<AppKey>> {
        let start = AppKey::of(app);
        let mut parent: HashMap<AppKey, AppKey> = HashMap::new();
        let mut queue = VecDeque::from([app]);
        while let Some(a) = queue.pop_front() {
            let from = AppKey::of(a);
            for dep in self.dependencies_of(a) {
                let key = AppKey::of(dep);
                if key == start {
                    let mut path = vec![start.clone(), from.clone()];
                    let mut at = from;
                    while let Some(p) = parent.get(&at) {
                        path.push(p.clone());
                        at = p.clone();
                    }
                    path.reverse();
                    return Some(path);
                }
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(key) {
                    e.insert(from.clone());
                    queue.push_back(dep);
                }
            }
        }
        None
    }
}

/// What `app` waits for among `all` (every Application, itself included):
/// each dependency and whether it is ready, or the error that holds it
/// (bad annotations, a cycle it is part of).
pub fn assess(app: &Application, all: &[Arc<Application>]) -> Assessment {
    // Most apps declare none: no index for them.
    if !app.annotations().contains_key(ANNOTATION_DEPENDS_ON) {
        return Assessment::default();
    }
    assess_in(app, &Apps::new(all))
}

/// [`assess`] over an index already built (the graph assesses many apps).
pub fn assess_in(app: &Application, apps: &Apps<'_>) -> Assessment {
    let deps = match Dependencies::of(app) {
        Ok(Some(deps)) => deps,
        Ok(None) => return Assessment::default(),
        Err(e) => return Assessment { dependencies: Vec::new(), error: Some(e) },
    };
    if let Some(path) = apps.cycle_through(app) {
        let path: Vec<String> = path.iter().map(ToString::to_string).collect();
        return Assessment { dependencies: Vec::new(), error: Some(DependencyError::Cycle(path.join(" -> "))) };
    }
    let me = AppKey::of(app);
    let mut found: Vec<(&Pattern, Option<&Application>)> = Vec::new();
    let mut seen = HashSet::new();
    for pattern in &deps.patterns {
        let matched: Vec<&Application> = apps.matching(pattern).into_iter().filter(|a| AppKey::of(a) != me).collect();
        if matched.is_empty() {
            found.push((pattern, None));
        }
        found.extend(matched.into_iter().filter(|a| seen.insert(AppKey::of(a))).map(|a| (pattern, Some(a))));
    }
    let judged: Vec<(bool, String)> = match &deps.ready {
        None => found
            .iter()
            .filter_map(|(_, a)| *a)
            .map(|dep| {
                let (ready, reason) = default_readiness(dep);
                // Another namespace is another team's: its sync and health
                // words, not its messages, go on this app.
                if dep.metadata.namespace == app.metadata.namespace {
                    (ready, reason)
                } else {
                    (ready, reason.split(" (").next().unwrap_or_default().to_string())
                }
            })
            .collect(),
        Some(expr) => {
            let json: Vec<serde_json::Value> = found.iter().filter_map(|(_, a)| *a).map(cel_view).collect();
            match expr.judge(&json, &cel_view(app)) {
                Ok(each) => each
                    .into_iter()
                    .map(|r| match r {
                        Ok(true) => (true, "ready".to_string()),
                        Ok(false) => (false, format!("{ANNOTATION_DEPENDS_ON_READY} is false")),
                        Err(e) => (false, e),
                    })
                    .collect(),
                Err(e) => return Assessment { dependencies: Vec::new(), error: Some(e) },
            }
        }
    };
    let mut judged = judged.into_iter();
    let mut dependencies = Vec::new();
    for (pattern, dep) in found {
        let (app, (ready, reason)) = match dep {
            Some(dep) => (Some(AppKey::of(dep)), judged.next().unwrap_or_default()),
            None => (None, (false, if pattern.literal().is_some() { "no such app" } else { "no app matches" }.to_string())),
        };
        dependencies.push(Dependency { pattern: pattern.to_string(), app, ready, reason });
    }
    Assessment { dependencies, error: None }
}

/// Synced and Healthy at its current spec, nothing requested or running;
/// else "OutOfSync, Progressing" and what the judgement adds.
pub fn default_readiness(dep: &Application) -> (bool, String) {
    let judged = driftless_health::application_readiness(&judged_fields(dep));
    if judged.status == HealthStatusCode::Healthy {
        return (true, "ready".to_string());
    }
    let status = dep.status.clone().unwrap_or_default();
    let sync = serde_json::to_value(status.sync.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    let health = status.health.status.as_str();
    let mut reason = format!("{sync}, {health}");
    // What the judgement adds to the two ("has a sync requested", "is syncing").
    match judged.message {
        Some(why) if !why.starts_with(&format!("is {sync}")) && !why.starts_with(&format!("is {health}")) => {
            reason.push_str(&format!(" ({why})"))
        }
        _ => {}
    }
    (false, reason)
}

/// What the readiness judgement reads of an app, without its resources
/// and history: the controller judges every status write of every app.
fn judged_fields(app: &Application) -> serde_json::Value {
    let status = app.status.as_ref().map(|s| {
        let op = s.operation_state.as_ref().map(|o| serde_json::json!({ "phase": o.phase, "message": o.message }));
        serde_json::json!({ "sync": s.sync, "health": s.health, "conditions": s.conditions, "operationState": op })
    });
    // A spec holding a value not read whole (see `driftless_api::free`)
    // does not encode: its app is judged without it, not ready.
    let spec = serde_json::to_value(&app.spec).unwrap_or_default();
    serde_json::json!({
        "metadata": { "name": app.metadata.name },
        "spec": spec,
        "operation": app.operation,
        "status": status,
    })
}

/// A node of the dependency graph.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// The app.
    pub app: AppKey,
    /// Its sync status.
    pub sync: String,
    /// Its health.
    pub health: String,
    /// Whether it is ready for the apps that depend on it (by default).
    pub ready: bool,
    /// What it waits for, or its dependency error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// Whether it is part of a cycle.
    pub in_cycle: bool,
}

/// An edge: `from` depends on `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Edge {
    /// The dependent.
    pub from: AppKey,
    /// Its dependency.
    pub to: AppKey,
    /// Whether `from` finds `to` ready.
    pub ready: bool,
}

/// What the UI draws for one app: the apps it depends on, transitively,
/// and those that depend on it, transitively.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Graph {
    /// The app the graph is of.
    pub app: Option<AppKey>,
    /// What it waits for.
    pub assessment: Assessment,
    /// Every app of the graph.
    pub nodes: Vec<Node>,
    /// Who depends on whom.
    pub edges: Vec<Edge>,
}

/// The dependency graph around `app` among `all`.
pub fn graph(app: &Application, all: &[Arc<Application>]) -> Graph {
    let apps = Apps::new(all);
    let start = AppKey::of(app);
    // Both directions: what it reaches, and what reaches it.
    let mut keys: Vec<AppKey> = vec![start.clone()];
    let mut seen: HashSet<AppKey> = HashSet::from([start.clone()]);
    let mut i = 0;
    while i < keys.len() {
        let key = keys[i].clone();
        i += 1;
        let Some(a) = apps.by_key.get(&key) else { continue };
        let mut next: Vec<AppKey> = apps.dependencies_of(a).iter().map(|d| AppKey::of(d)).collect();
        next.extend(apps.dependents_of(&key));
        for k in next {
            if seen.insert(k.clone()) {
                keys.push(k);
            }
        }
    }
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for key in &keys {
        let Some(a) = apps.by_key.get(key) else { continue };
        let assessment = assess_in(a, &apps);
        for d in &assessment.dependencies {
            if let Some(to) = &d.app {
                edges.push(Edge { from: key.clone(), to: to.clone(), ready: d.ready });
            }
        }
        if matches!(assessment.error, Some(DependencyError::Cycle(_))) {
            for to in apps.dependencies_of(a) {
                edges.push(Edge { from: key.clone(), to: AppKey::of(to), ready: false });
            }
        }
        let status = a.status.clone().unwrap_or_default();
        nodes.push(Node {
            app: key.clone(),
            sync: serde_json::to_value(status.sync.status).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
            health: status.health.status.as_str().to_string(),
            ready: default_readiness(a).0,
            waiting: assessment.error.as_ref().map(ToString::to_string).or_else(|| assessment.waiting()),
            in_cycle: matches!(assessment.error, Some(DependencyError::Cycle(_))),
        });
    }
    Graph { app: Some(start), assessment: assess_in(app, &apps), nodes, edges }
}

#[cfg(test)]
mod tests;
