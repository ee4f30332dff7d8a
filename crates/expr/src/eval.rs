//! Walks the tree over an environment: variables converted from JSON on
//! first use, short-circuit `and`/`or`/`??`/`?:`, nil-safe chains (`a?.b.c`
//! is nil when `a` is), member access with expr's errors (a field of nil
//! fails, naming the path), predicates over lists, and a step budget so
//! that no expression runs for long whatever the data.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use regex::{Regex, RegexBuilder};
use serde_json::Value as Json;

use crate::ast::{BinOp, Node, NodeKind, Pred, UnOp};
use crate::builtins;
use crate::ops;
use crate::parser::REGEX_SIZE_LIMIT;
use crate::value::V;
use crate::{Env, ExprError, Value};

/// Steps an evaluation may take: a node evaluated, an element visited, a
/// 256-byte piece of a string built or matched.
const MAX_STEPS: u64 = 2_000_000;

/// Regexes built from patterns computed at run time, kept per run.
const MAX_CACHED_REGEXES: usize = 16;

/// Evaluates `node` over `env`.
pub(crate) fn run(node: &Node, env: &Env) -> Result<Value, ExprError> {
    let mut eval = Eval { env, vars: HashMap::new(), scopes: Vec::new(), steps: 0, regexes: HashMap::new() };
    Ok(eval.eval(node)?.to_value())
}

struct Eval<'e> {
    env: &'e Env,
    /// Variables converted so far.
    vars: HashMap<String, V>,
    /// The element (and its index) of each enclosing predicate.
    scopes: Vec<(V, usize)>,
    steps: u64,
    regexes: HashMap<String, Regex>,
}

/// Where a path of literal keys leads in the JSON of a variable.
enum Lookup<'j> {
    Found(&'j Json),
    /// Nil: a missing key, or a `?.` that met nil (either way the value is nil).
    Nil,
    /// Not a plain path, or one that fails: evaluated the general way.
    Other,
}

fn run_error(at: usize, message: impl std::fmt::Display) -> ExprError {
    ExprError::Run(format!("{message} (at character {at})"))
}

/// How an error names the value a node computes: `app.status.phase`,
/// `app.metadata.annotations['a/b']`, `list[0]`.
fn path(node: &Node) -> String {
    match &node.kind {
        NodeKind::Var(name) => name.clone(),
        NodeKind::Pointer(None) => "#".into(),
        NodeKind::Member { obj, key, optional } => {
            let dot = if *optional { "?." } else { "." };
            match &key.kind {
                NodeKind::Str(k) if is_name(k) => format!("{}{dot}{k}", path(obj)),
                NodeKind::Str(k) => format!("{}[{k:?}]", path(obj)),
                NodeKind::Int(i) => format!("{}[{i}]", path(obj)),
                _ => format!("{}[...]", path(obj)),
            }
        }
        NodeKind::Method { obj, name, .. } => format!("{}.{name}(...)", path(obj)),
        _ => format!("the expression at character {}", node.at),
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')
}

impl<'e> Eval<'e> {
    fn charge(&mut self, units: usize, at: usize) -> Result<(), ExprError> {
        self.steps = self.steps.saturating_add(units as u64);
        if self.steps > MAX_STEPS {
            return Err(run_error(at, format!("expression too costly (more than {MAX_STEPS} steps)")));
        }
        Ok(())
    }

    fn eval(&mut self, node: &Node) -> Result<V, ExprError> {
        self.charge(1, node.at)?;
        let at = node.at;
        Ok(match &node.kind {
            NodeKind::Nil => V::Nil,
            NodeKind::Bool(b) => V::Bool(*b),
            NodeKind::Int(i) => V::Int(*i),
            NodeKind::Float(f) => V::Float(*f),
            NodeKind::Str(s) => {
                self.charge(s.len() / 256, at)?;
                V::str(s)
            }
            NodeKind::Duration(d) => V::Duration(*d),
            NodeKind::Var(name) => self.var(name, at)?,
            NodeKind::Pointer(name) => {
                let Some((item, index)) = self.scopes.last() else {
                    return Err(run_error(at, "# used outside a predicate"));
                };
                if name.is_some() { V::Int(*index as i64) } else { item.clone() }
            }
            NodeKind::Array(items) => {
                let items = items.iter().map(|i| self.eval(i)).collect::<Result<Vec<_>, _>>()?;
                V::List(Rc::new(items))
            }
            NodeKind::Map(pairs) => {
                let mut map = BTreeMap::new();
                for (k, v) in pairs {
                    let key = match self.eval(k)? {
                        V::Str(s) => s.to_string(),
                        other => return Err(run_error(k.at, format!("a map key must be a string, not {}", other.type_name()))),
                    };
                    map.insert(key, self.eval(v)?);
                }
                V::Map(Rc::new(map))
            }
            NodeKind::Unary(op, operand) => self.unary(*op, operand, at)?,
            NodeKind::Binary(op, l, r) => self.binary(*op, l, r, at)?,
            NodeKind::MatchesLiteral(l, regex) => {
                let s = self.eval(l)?;
                self.matches(&s, regex, at)?
            }
            NodeKind::And(l, r) => V::Bool(self.truth(l, "and")? && self.truth(r, "and")?),
            NodeKind::Or(l, r) => V::Bool(self.truth(l, "or")? || self.truth(r, "or")?),
            NodeKind::Coalesce(l, r) => match self.eval(l)? {
                V::Nil => self.eval(r)?,
                v => v,
            },
            NodeKind::Cond(c, then, otherwise) => {
                if self.truth(c, "the condition of ?:")? {
                    self.eval(then)?
                } else {
                    self.eval(otherwise)?
                }
            }
            NodeKind::Member { .. } => match self.lookup(node) {
                Lookup::Found(json) => self.convert(json, at)?,
                Lookup::Nil => V::Nil,
                Lookup::Other => self.chain(node)?.unwrap_or(V::Nil),
            },
            NodeKind::Method { .. } | NodeKind::Slice { .. } => self.chain(node)?.unwrap_or(V::Nil),
            NodeKind::Call(func, args) => {
                let args = args.iter().map(|a| self.eval(a)).collect::<Result<Vec<_>, _>>()?;
                let cost = args.iter().map(|a| if let V::Str(s) = a { s.len() / 256 } else { 0 }).sum();
                self.charge(cost, at)?;
                builtins::call(*func, &args, self.env.now).map_err(|e| run_error(at, e))?
            }
            NodeKind::Predicate { pred, list, body } => self.predicate(*pred, list, body.as_deref(), at)?,
            NodeKind::Unavailable(name) => {
                return Err(ExprError::Unsupported(format!(
                    "{name} (Argo CD answers it from its repo server or sync state, which driftless does not offer to expressions)"
                )));
            }
        })
    }

    /// A top-level variable, converted from JSON once per run; nil when
    /// the environment lacks it.
    fn var(&mut self, name: &str, at: usize) -> Result<V, ExprError> {
        if let Some(v) = self.vars.get(name) {
            return Ok(v.clone());
        }
        let v = match self.env.vars.get(name) {
            Some(json) => self.convert(json, at)?,
            None => V::Nil,
        };
        self.vars.insert(name.to_string(), v.clone());
        Ok(v)
    }

    fn convert(&mut self, json: &Json, at: usize) -> Result<V, ExprError> {
        let mut cost = 0;
        let v = V::from_json(json, &mut cost);
        self.charge(cost, at)?;
        Ok(v)
    }

    /// A path of literal keys from a variable (`app.status.phase`,
    /// `app.metadata.annotations['a/b']`, `app.list[0]`) read in the JSON
    /// itself, so that only the value at its end is converted. Anything
    /// else (an error to report, a computed key) is `Other`, for `chain`.
    fn lookup(&self, node: &Node) -> Lookup<'e> {
        match &node.kind {
            NodeKind::Var(name) => self.env.vars.get(name).map_or(Lookup::Nil, Lookup::Found),
            NodeKind::Member { obj, key, optional } => match (self.lookup(obj), &key.kind) {
                (Lookup::Found(Json::Object(map)), NodeKind::Str(k)) => map.get(k.as_str()).map_or(Lookup::Nil, Lookup::Found),
                (Lookup::Found(Json::Array(items)), &NodeKind::Int(i)) => {
                    element(i, items.len()).map_or(Lookup::Other, |at| Lookup::Found(&items[at]))
                }
                (Lookup::Found(Json::Null) | Lookup::Nil, _) if *optional => Lookup::Nil,
                _ => Lookup::Other,
            },
            _ => Lookup::Other,
        }
    }

    /// A boolean operand of `what`; anything else is an error, as in expr.
    fn truth(&mut self, node: &Node, what: &str) -> Result<bool, ExprError> {
        match self.eval(node)? {
            V::Bool(b) => Ok(b),
            other => Err(run_error(node.at, format!("{what} needs a bool, but {} is {}", path(node), other.type_name()))),
        }
    }

    fn unary(&mut self, op: UnOp, operand: &Node, at: usize) -> Result<V, ExprError> {
        let v = self.eval(operand)?;
        Ok(match (op, v) {
            (UnOp::Not, V::Bool(b)) => V::Bool(!b),
            (UnOp::Neg, V::Int(i)) => V::Int(i.wrapping_neg()),
            (UnOp::Neg, V::Float(f)) => V::Float(-f),
            (UnOp::Neg, V::Duration(d)) => V::Duration(d.wrapping_neg()),
            (UnOp::Plus, v @ (V::Int(_) | V::Float(_) | V::Duration(_))) => v,
            (op, v) => {
                let symbol = match op {
                    UnOp::Not => "!",
                    UnOp::Neg => "-",
                    UnOp::Plus => "+",
                };
                return Err(run_error(
                    at,
                    format!("invalid operation: {symbol}{} ({} is {})", v.type_name(), path(operand), v.type_name()),
                ));
            }
        })
    }

    fn binary(&mut self, op: BinOp, l: &Node, r: &Node, at: usize) -> Result<V, ExprError> {
        let left = self.eval(l)?;
        let right = self.eval(r)?;
        let cost = match (&left, &right) {
            (_, V::List(items)) if op == BinOp::In => items.len(),
            (V::Str(a), V::Str(b)) => (a.len() + b.len()) / 256,
            _ => 0,
        };
        self.charge(cost, at)?;
        if op == BinOp::Matches {
            let V::Str(pattern) = &right else {
                return Err(run_error(at, format!("matches needs a pattern string, not {}", right.type_name())));
            };
            let regex = self.regex(pattern, at)?;
            return self.matches(&left, &regex, at);
        }
        ops::binary(op, &left, &right).map_err(|e| run_error(at, e))
    }

    fn regex(&mut self, pattern: &str, at: usize) -> Result<Regex, ExprError> {
        if let Some(r) = self.regexes.get(pattern) {
            return Ok(r.clone());
        }
        // Building a regex costs far more than a step.
        self.charge(1000 + pattern.len(), at)?;
        let regex = RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| run_error(at, format!("invalid regular expression: {e}")))?;
        if self.regexes.len() < MAX_CACHED_REGEXES {
            self.regexes.insert(pattern.to_string(), regex.clone());
        }
        Ok(regex)
    }

    fn matches(&mut self, s: &V, regex: &Regex, at: usize) -> Result<V, ExprError> {
        let V::Str(s) = s else {
            return Err(run_error(at, format!("matches needs a string, not {}", s.type_name())));
        };
        self.charge(s.len() / 256, at)?;
        Ok(V::Bool(regex.is_match(s)))
    }

    /// Member access, method calls and slices; `None` when a `?.` met nil,
    /// which ends the whole chain as nil.
    fn chain(&mut self, node: &Node) -> Result<Option<V>, ExprError> {
        let at = node.at;
        match &node.kind {
            NodeKind::Member { obj, key, optional } => {
                let Some(recv) = self.receiver(obj, *optional)? else { return Ok(None) };
                let key = self.eval(key)?;
                fetch(&recv, &key).map(Some).map_err(|e| {
                    let what = match &recv {
                        V::Nil => "nil".to_string(),
                        other => format!("a {}", other.type_name()),
                    };
                    run_error(at, format!("{e}: {} is {what}", path(obj)))
                })
            }
            NodeKind::Method { obj, name, args, optional } => {
                let Some(recv) = self.receiver(obj, *optional)? else { return Ok(None) };
                let args = args.iter().map(|a| self.eval(a)).collect::<Result<Vec<_>, _>>()?;
                builtins::method(&recv, name, &args).map(Some).map_err(|e| {
                    let detail = if matches!(recv, V::Nil) { format!(": {} is nil", path(obj)) } else { String::new() };
                    run_error(at, format!("{e}{detail}"))
                })
            }
            NodeKind::Slice { obj, from, to } => {
                let Some(recv) = self.receiver(obj, false)? else { return Ok(None) };
                let from = from.as_deref().map(|n| self.eval(n)).transpose()?;
                let to = to.as_deref().map(|n| self.eval(n)).transpose()?;
                slice(&recv, from.as_ref(), to.as_ref()).map(Some).map_err(|e| run_error(at, format!("{e} ({})", path(obj))))
            }
            _ => self.eval(node).map(Some),
        }
    }

    /// The value a member access or call applies to; `None` ends the chain.
    fn receiver(&mut self, obj: &Node, optional: bool) -> Result<Option<V>, ExprError> {
        let recv = match self.lookup(obj) {
            Lookup::Found(json) => Some(self.convert(json, obj.at)?),
            _ => self.chain(obj)?,
        };
        Ok(recv.filter(|v| !(optional && matches!(v, V::Nil))))
    }

    fn predicate(&mut self, pred: Pred, list: &Node, body: Option<&Node>, at: usize) -> Result<V, ExprError> {
        let items = match self.eval(list)? {
            V::List(items) => items,
            other => {
                return Err(run_error(at, format!("cannot iterate over {} ({} is {})", other.type_name(), path(list), other.type_name())));
            }
        };
        let mut kept = Vec::new();
        let mut count = 0i64;
        let mut sum = V::Int(0);
        for (index, item) in items.iter().enumerate() {
            self.charge(1, at)?;
            let result = match body {
                Some(body) => {
                    self.scopes.push((item.clone(), index));
                    let result = self.eval(body);
                    self.scopes.pop();
                    result?
                }
                None => item.clone(),
            };
            if matches!(pred, Pred::Map | Pred::Sum) {
                match pred {
                    Pred::Map => kept.push(result),
                    _ => sum = ops::binary(BinOp::Add, &sum, &result).map_err(|e| run_error(at, format!("sum: {e}")))?,
                }
                continue;
            }
            let V::Bool(hit) = result else {
                return Err(run_error(at, format!("the predicate must answer a bool, not {}", result.type_name())));
            };
            match (pred, hit) {
                (Pred::All, false) => return Ok(V::Bool(false)),
                (Pred::Any, true) => return Ok(V::Bool(true)),
                (Pred::None, true) => return Ok(V::Bool(false)),
                (Pred::Find, true) => return Ok(item.clone()),
                (Pred::FindIndex, true) => return Ok(V::Int(index as i64)),
                (Pred::Filter, true) => kept.push(item.clone()),
                (Pred::One | Pred::Count, true) => count += 1,
                _ => {}
            }
        }
        Ok(match pred {
            Pred::All | Pred::None => V::Bool(true),
            Pred::Any => V::Bool(false),
            Pred::One => V::Bool(count == 1),
            Pred::Count => V::Int(count),
            Pred::Sum => sum,
            Pred::Find => V::Nil,
            Pred::FindIndex => V::Int(-1),
            Pred::Filter | Pred::Map => V::List(Rc::new(kept)),
        })
    }
}

/// `obj[key]`: a map's entry (nil when missing), a list's element
/// (negative from the end), a string's byte (as Go indexes strings).
fn fetch(obj: &V, key: &V) -> Result<V, String> {
    let out_of_range = |what: &str, len: usize| format!("index out of range: {} ({what} length is {len})", index_of(key));
    match (obj, key) {
        (V::Map(map), V::Str(k)) => Ok(map.get(&**k).cloned().unwrap_or(V::Nil)),
        (V::List(items), V::Int(_) | V::Float(_)) => {
            element(index_of(key), items.len()).map(|at| items[at].clone()).ok_or_else(|| out_of_range("array", items.len()))
        }
        (V::Str(s), V::Int(_) | V::Float(_)) => {
            element(index_of(key), s.len()).map(|at| V::Int(i64::from(s.as_bytes()[at]))).ok_or_else(|| out_of_range("string", s.len()))
        }
        (_, key) => Err(format!("cannot fetch {} from {}", key.brief(), obj.type_name())),
    }
}

/// The position of index `i` (negative: from the end) among `len`
/// elements, if there is one.
pub(crate) fn element(i: i64, len: usize) -> Option<usize> {
    let at = if i < 0 { i.checked_add(i64::try_from(len).ok()?)? } else { i };
    usize::try_from(at).ok().filter(|at| *at < len)
}

/// An index: integers as they are, floats truncated (as expr's `ToInt`).
fn index_of(v: &V) -> i64 {
    match v {
        V::Int(i) => *i,
        V::Float(f) => *f as i64,
        _ => 0,
    }
}

/// `obj[from:to]` of a list or string, bounds clamped as expr clamps them.
fn slice(obj: &V, from: Option<&V>, to: Option<&V>) -> Result<V, String> {
    let len = match obj {
        V::List(items) => items.len(),
        V::Str(s) => s.len(),
        other => return Err(format!("cannot slice {}", other.type_name())),
    } as i64;
    let bound = |v: Option<&V>, default: i64| -> Result<i64, String> {
        let i = match v {
            None => default,
            Some(v @ (V::Int(_) | V::Float(_))) => index_of(v),
            Some(other) => return Err(format!("a slice bound must be a number, not {}", other.type_name())),
        };
        let i = if i < 0 { i.saturating_add(len) } else { i };
        Ok(i.clamp(0, len))
    };
    let end = bound(to, len)?;
    let start = bound(from, 0)?.min(end);
    let (start, end) = (start as usize, end as usize);
    Ok(match obj {
        V::List(items) => V::List(Rc::new(items[start..end].to_vec())),
        V::Str(s) => V::Str(Rc::from(String::from_utf8_lossy(&s.as_bytes()[start..end]).as_ref())),
        _ => V::Nil,
    })
}
