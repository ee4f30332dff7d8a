//! Execution: Go's text/template semantics over the parsed tree.

use std::collections::BTreeMap;

use crate::funcs::{self, Ty};
use crate::parse::{Arg, Branch, Cmd, Node, Number, Pipe, Tree};
use crate::value::{Fault, Heap, MAX_OUTPUT, Res, Value, too_big};
use crate::{Error, HostFuncs, MissingKey, Options};

/// Template calls nest at most this deep (Go allows more; Argo CD's templates never need it).
const MAX_TEMPLATE_DEPTH: usize = 100;
/// Control structures, parentheses and template calls together nest at most this deep.
const MAX_NESTING: usize = 300;
/// Evaluation steps (nodes, iterations, calls) per execution.
const MAX_STEPS: u64 = 2_000_000;

/// The node an error is reported at, as Go's `state.at`.
#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Arg(&'t Arg),
    Cmd(&'t Cmd),
    Pipe(&'t Pipe),
    Template(usize, &'t str, Option<&'t Pipe>),
}

enum Flow {
    Normal,
    Break,
    Continue,
}

/// An error on its way out: a message at a node, or a limit.
enum Stop {
    Msg(String),
    Limit(String),
}

impl From<Fault> for Stop {
    fn from(f: Fault) -> Stop {
        match f {
            Fault::Msg(m) => Stop::Msg(m),
            Fault::Limit(m) => Stop::Limit(m),
        }
    }
}

type R<T> = Result<T, Stop>;

fn msg<T>(m: impl Into<String>) -> R<T> {
    Err(Stop::Msg(m.into()))
}

pub(crate) struct Exec<'t> {
    tree: &'t Tree,
    pub heap: Heap,
    out: String,
    missing: MissingKey,
    vars: Vec<(&'t str, Value)>,
    at: At<'t>,
    name: &'t str,
    templates: usize,
    nesting: usize,
    steps: u64,
    host: Option<&'t HostFuncs>,
}

pub(crate) fn execute(tree: &Tree, data: &serde_json::Value, options: &Options, host: Option<&HostFuncs>) -> Result<String, Error> {
    let mut ex = Exec {
        tree,
        host,
        heap: Heap::default(),
        out: String::new(),
        missing: options.missing_key,
        vars: Vec::new(),
        at: At::None,
        name: "",
        templates: 0,
        nesting: 0,
        steps: 0,
    };
    let result = ex.run(data);
    match result {
        Ok(()) => Ok(ex.out),
        Err(Stop::Limit(reason)) => Err(Error::Limit { reason }),
        Err(Stop::Msg(reason)) => Err(ex.located(reason)),
    }
}

impl<'t> Exec<'t> {
    fn run(&mut self, data: &serde_json::Value) -> R<()> {
        // Nil data is Go's invalid value: fields of it print <no value>.
        let dot = match self.heap.import_json(data, 0)? {
            Value::Nil => Value::Missing,
            v => v,
        };
        let Some(main) = self.tree.templates.get("") else {
            return Ok(());
        };
        self.vars.push(("$", dot.clone()));
        self.walk_list(main, &dot).map(|_| ())
    }

    /// The error with Go's location: `template: :LINE:COL: executing "NAME" at <NODE>: REASON`.
    fn located(&self, reason: String) -> Error {
        let (pos, context) = match self.at {
            At::None => {
                return Error::Exec { line: 0, col: 0, reason: format!("executing {:?}: {reason}", self.name) };
            }
            At::Arg(a) => (a.pos(), a.to_string()),
            At::Cmd(c) => (c.pos, c.to_string()),
            At::Pipe(p) => (p.pos, p.to_string()),
            At::Template(pos, name, pipe) => (
                pos,
                match pipe {
                    Some(p) => format!("{{{{template {} {p}}}}}", crate::value::go_quote(name)),
                    None => format!("{{{{template {}}}}}", crate::value::go_quote(name)),
                },
            ),
        };
        let text = &self.tree.text;
        let pos = pos.min(text.len());
        let line = crate::lex::line_of(text, pos);
        let col = pos - text[..pos].rfind('\n').map_or(0, |i| i + 1);
        Error::Exec { line, col, reason: format!("executing {:?} at <{context}>: {reason}", self.name) }
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(Stop::Limit(format!("the template took more than {MAX_STEPS} steps")));
        }
        Ok(())
    }

    fn nest(&mut self) -> R<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Stop::Limit(format!("the template nests deeper than {MAX_NESTING} levels")));
        }
        Ok(())
    }

    fn write(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(too_big("output").into());
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, list: &'t [Node], dot: &Value) -> R<Flow> {
        for node in list {
            match self.walk(node, dot)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, node: &'t Node, dot: &Value) -> R<Flow> {
        self.step()?;
        match node {
            Node::Text(t) => self.write(t)?,
            Node::Action(pipe) => {
                let v = self.eval_pipe(pipe, dot)?;
                if pipe.decl.is_empty() {
                    let mut s = String::new();
                    self.heap.print(&v, &mut s)?;
                    self.write(&s)?;
                }
            }
            Node::If(b) | Node::With(b) => {
                let with = matches!(node, Node::With(_));
                self.nest()?;
                let mark = self.vars.len();
                let v = self.eval_pipe(&b.pipe, dot)?;
                let flow = if self.heap.truth(&v) {
                    self.walk_list(&b.list, if with { &v } else { dot })?
                } else if let Some(e) = &b.else_list {
                    self.walk_list(e, dot)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                self.nesting -= 1;
                return Ok(flow);
            }
            Node::Range(b) => {
                self.nest()?;
                let mark = self.vars.len();
                let r = self.walk_range(b, dot);
                self.vars.truncate(mark);
                self.nesting -= 1;
                return r.map(|_| Flow::Normal);
            }
            Node::Template { pos, name, pipe } => {
                self.at = At::Template(*pos, name, pipe.as_ref());
                let Some(list) = self.tree.templates.get(name) else {
                    return msg(format!("template {name:?} not defined"));
                };
                let new_dot = match pipe {
                    Some(p) => self.eval_pipe(p, dot)?,
                    None => Value::Missing,
                };
                if self.templates >= MAX_TEMPLATE_DEPTH {
                    self.at = At::Template(*pos, name, pipe.as_ref());
                    return msg(format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"));
                }
                self.templates += 1;
                self.nest()?;
                let vars = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
                let outer = std::mem::replace(&mut self.name, name.as_str());
                self.walk_list(list, &new_dot)?;
                self.name = outer;
                self.vars = vars;
                self.templates -= 1;
                self.nesting -= 1;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn walk_range(&mut self, b: &'t Branch, dot: &Value) -> R<()> {
        let v = self.eval_pipe(&b.pipe, dot)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => self.heap.list(*l).iter().enumerate().map(|(i, x)| (Value::Int(i as i64), x.clone())).collect(),
            Value::Map(m) => self.heap.map(*m).iter().map(|(k, x)| (Value::str(k.as_str()), x.clone())).collect(),
            Value::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    return msg(format!("can't use {n} to iterate over more than one variable"));
                }
                let n = *n;
                let mut iterations = 0..n.max(0);
                return self.range_ints(b, &mut iterations);
            }
            Value::Missing | Value::Nil => Vec::new(),
            other => {
                let mut s = String::new();
                self.heap.print(other, &mut s)?;
                return msg(format!("range can't iterate over {s}"));
            }
        };
        if items.is_empty() {
            if let Some(e) = &b.else_list {
                self.walk_list(e, dot)?;
            }
            return Ok(());
        }
        for (k, x) in items {
            if let Flow::Break = self.range_once(b, k, x)? {
                break;
            }
        }
        Ok(())
    }

    fn range_ints(&mut self, b: &'t Branch, it: &mut std::ops::Range<i64>) -> R<()> {
        if it.is_empty() {
            if let Some(e) = &b.else_list {
                let dot = Value::Missing;
                self.walk_list(e, &dot)?;
            }
            return Ok(());
        }
        for i in it {
            if let Flow::Break = self.range_once(b, Value::Int(i), Value::Int(i))? {
                break;
            }
        }
        Ok(())
    }

    fn range_once(&mut self, b: &'t Branch, key: Value, elem: Value) -> R<Flow> {
        self.step()?;
        let mark = self.vars.len();
        match b.pipe.decl.as_slice() {
            [] => {}
            [v] => self.set_var(v, elem.clone(), b.pipe.is_assign),
            [k, v, ..] => {
                self.set_var(k, key, b.pipe.is_assign);
                self.set_var(v, elem.clone(), b.pipe.is_assign);
            }
        }
        let flow = self.walk_list(&b.list, &elem)?;
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn set_var(&mut self, name: &'t str, v: Value, assign: bool) {
        if assign && let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            slot.1 = v;
            return;
        }
        self.vars.push((name, v));
    }

    fn eval_pipe(&mut self, pipe: &'t Pipe, dot: &Value) -> R<Value> {
        self.at = At::Pipe(pipe);
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_cmd(cmd, dot, value.take())?;
            // A nil interface becomes Go's invalid value after each command.
            value = Some(if let Value::Nil = v { Value::Missing } else { v });
        }
        let value = value.unwrap_or(Value::Missing);
        for name in &pipe.decl {
            if pipe.decl.len() == 1 {
                self.set_var(name, value.clone(), pipe.is_assign);
            }
        }
        Ok(value)
    }

    fn eval_cmd(&mut self, cmd: &'t Cmd, dot: &Value, last: Option<Value>) -> R<Value> {
        self.step()?;
        let first = &cmd.args[0];
        let has_args = cmd.args.len() > 1 || last.is_some();
        match first {
            Arg::Func(_, name) => {
                self.at = At::Arg(first);
                self.call(cmd, name, dot, last)
            }
            Arg::Field { chain, .. } => {
                self.at = At::Arg(first);
                self.chain(dot.clone(), chain, has_args)
            }
            Arg::Var { name, chain, .. } => {
                self.at = At::Arg(first);
                let v = self.var(name)?;
                self.chain(v, chain, has_args)
            }
            Arg::Pipe { pipe, chain, .. } => {
                self.not_a_function(cmd, last.is_some())?;
                let v = self.paren(pipe, dot)?;
                self.at = At::Arg(first);
                self.chain(v, chain, has_args)
            }
            _ => {
                self.at = At::Arg(first);
                self.not_a_function(cmd, last.is_some())?;
                match first {
                    Arg::Nil(_) => msg("nil is not a command"),
                    _ => self.eval_arg(first, Ty::Any, dot),
                }
            }
        }
    }

    fn paren(&mut self, pipe: &'t Pipe, dot: &Value) -> R<Value> {
        self.nest()?;
        let v = self.eval_pipe(pipe, dot);
        self.nesting -= 1;
        v
    }

    fn not_a_function(&mut self, cmd: &'t Cmd, has_last: bool) -> R<()> {
        if cmd.args.len() > 1 || has_last {
            return msg(format!("can't give argument to non-function {}", cmd.args[0]));
        }
        Ok(())
    }

    fn var(&self, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => msg(format!("undefined variable: {name}")),
        }
    }

    /// `.a.b.c` from `v`. Go names the receiver's static type in errors: the value's own for
    /// the first link, `interface {}` for values taken out of maps.
    fn chain(&mut self, mut v: Value, chain: &[String], has_args: bool) -> R<Value> {
        for (i, name) in chain.iter().enumerate() {
            let last = i + 1 == chain.len();
            v = self.field(&v, name, has_args && last, i > 0)?;
        }
        Ok(v)
    }

    fn field(&mut self, receiver: &Value, name: &str, has_args: bool, from_data: bool) -> R<Value> {
        match receiver {
            Value::Map(m) => {
                if has_args {
                    return msg(format!("{name} is not a method but has arguments"));
                }
                match self.heap.map(*m).get(name) {
                    Some(v) => Ok(v.clone()),
                    None => match self.missing {
                        MissingKey::Default => Ok(Value::Missing),
                        MissingKey::Zero => Ok(Value::Nil),
                        MissingKey::Error => msg(format!("map has no entry for key {name:?}")),
                    },
                }
            }
            Value::Missing => {
                if self.missing == MissingKey::Error {
                    return msg(format!("nil data; no entry for key {name:?}"));
                }
                Ok(Value::Missing)
            }
            Value::Nil => msg(format!("nil pointer evaluating interface {{}}.{name}")),
            other => {
                let ty = if from_data { "interface {}" } else { other.type_name() };
                msg(format!("can't evaluate field {name} in type {ty}"))
            }
        }
    }

    /// An argument converted to a parameter's type, with Go's messages.
    fn eval_arg(&mut self, arg: &'t Arg, ty: Ty, dot: &Value) -> R<Value> {
        self.at = At::Arg(arg);
        let v = match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => {
                return match ty {
                    Ty::Any | Ty::Map => Ok(Value::Nil),
                    _ => msg(format!("cannot assign nil to {}", ty.go_name())),
                };
            }
            Arg::Field { chain, .. } => self.chain(dot.clone(), chain, false)?,
            Arg::Var { name, chain, .. } => {
                let v = self.var(name)?;
                self.chain(v, chain, false)?
            }
            Arg::Pipe { pipe, chain, .. } => {
                let v = self.paren(pipe, dot)?;
                self.at = At::Arg(arg);
                let v = self.chain(v, chain, false)?;
                if let Value::Nil = v { Value::Missing } else { v }
            }
            Arg::Func(_, name) => {
                // A function named as an argument is called without arguments.
                let cmd_args: &'t [Arg] = std::slice::from_ref(arg);
                let v = self.call_args(name, cmd_args, dot, None, None)?;
                if let Value::Nil = v { Value::Missing } else { v }
            }
            Arg::Bool(_, b) => {
                return match ty {
                    Ty::Any | Ty::Bool => Ok(Value::Bool(*b)),
                    _ => msg(format!("expected {}; found {b}", ty.expected())),
                };
            }
            Arg::Str(_, s) => {
                return match ty {
                    Ty::Any | Ty::Str => Ok(Value::str(s.as_str())),
                    _ => msg(format!("expected {}; found {}", ty.expected(), arg)),
                };
            }
            Arg::Number(_, n) => return self.number(n, ty),
        };
        self.validate(v, ty)
    }

    fn number(&mut self, n: &Number, ty: Ty) -> R<Value> {
        match ty {
            Ty::Int => match n.int {
                Some(i) => Ok(Value::Int(i)),
                None => msg(format!("expected integer; found {}", n.text)),
            },
            Ty::Float => Ok(Value::Float(n.float.unwrap_or(0.0))),
            Ty::Any => {
                if n.is_float {
                    Ok(Value::Float(n.float.unwrap_or(0.0)))
                } else {
                    match n.int {
                        Some(i) => Ok(Value::Int(i)),
                        None => msg(format!("{} overflows int", n.text)),
                    }
                }
            }
            other => msg(format!("expected {}; found {}", other.expected(), n.text)),
        }
    }

    /// Go's validateType for values.
    fn validate(&mut self, v: Value, ty: Ty) -> R<Value> {
        let ok = match (&v, ty) {
            (_, Ty::Any) => return Ok(if let Value::Missing = v { Value::Nil } else { v }),
            (Value::Missing, Ty::Map) => return Ok(Value::Nil),
            (Value::Missing, _) => return msg(format!("invalid value; expected {}", ty.go_name())),
            (Value::Str(_), Ty::Str) | (Value::Int(_), Ty::Int) | (Value::Float(_), Ty::Float) => true,
            (Value::Bool(_), Ty::Bool) | (Value::Map(_), Ty::Map) => true,
            _ => false,
        };
        if ok {
            return Ok(v);
        }
        let got = if let Value::Nil = v { "interface {}" } else { v.type_name() };
        msg(format!("wrong type for value; expected {}; got {got}", ty.go_name()))
    }

    fn call(&mut self, cmd: &'t Cmd, name: &'t str, dot: &Value, last: Option<Value>) -> R<Value> {
        self.call_args(name, &cmd.args, dot, last, Some(cmd))
    }

    /// Calls function `name` with `args[1..]` (and the piped `last`), as Go's evalCall.
    fn call_args(&mut self, name: &'t str, all: &'t [Arg], dot: &Value, last: Option<Value>, cmd: Option<&'t Cmd>) -> R<Value> {
        self.step()?;
        let args = &all[1..];
        let n = args.len() + usize::from(last.is_some());
        let at_cmd = |s: &mut Self| {
            if let Some(c) = cmd {
                s.at = At::Cmd(c);
            }
        };
        // Go reports a wrong number of arguments at the function's name.
        let at_name = |s: &mut Self| s.at = At::Arg(&all[0]);
        // and/or: arguments are evaluated until one decides.
        if name == "and" || name == "or" {
            if n == 0 {
                at_name(self);
                return msg(format!("wrong number of args for {name}: want at least 1 got 0"));
            }
            let mut v = Value::Missing;
            for a in args {
                v = self.eval_arg(a, Ty::Any, dot)?;
                if self.heap.truth(&v) == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(l) = last {
                v = if let Value::Missing = l { Value::Nil } else { l };
            }
            return Ok(v);
        }
        // Data holds no functions: `call` reaches only the caller's host
        // functions, named by a field chain (`call .repo.RepoURLToHTTPS x`);
        // anything else fails as Go's does for data.
        if name == "call" {
            let Some(first) = args.first() else {
                at_name(self);
                return msg("wrong number of args for call: want at least 1 got 0");
            };
            if let Arg::Field { chain, .. } = first
                && let Some(f) = self.host.and_then(|h| h.get(&chain.join(".")))
            {
                let mut values = Vec::with_capacity(n);
                for a in &args[1..] {
                    let v = self.eval_arg(a, Ty::Any, dot)?;
                    values.push(self.heap.to_json(&v, 0).map_err(Stop::from)?);
                }
                if let Some(l) = last {
                    values.push(self.heap.to_json(&l, 0).map_err(Stop::from)?);
                }
                at_cmd(self);
                let out = f(&values).map_err(|e| Stop::Msg(format!("error calling call: {e}")))?;
                return self.heap.import_json(&out, 0).map_err(Stop::from);
            }
            let v = self.eval_arg(first, Ty::Any, dot)?;
            at_cmd(self);
            return msg(format!("error calling call: non-function {first} of type {}", v.type_name()));
        }
        let Some(f) = funcs::lookup(name) else {
            return msg(format!("{name:?} is not a defined function"));
        };
        let fixed = f.params.len();
        if f.variadic.is_some() {
            if n < fixed {
                at_name(self);
                return msg(format!("wrong number of args for {name}: want at least {fixed} got {n}"));
            }
        } else if n != fixed {
            at_name(self);
            return msg(format!("wrong number of args for {name}: want {fixed} got {n}"));
        }
        let mut argv = Vec::with_capacity(n);
        for (i, a) in args.iter().enumerate() {
            let ty = f.params.get(i).copied().or(f.variadic).unwrap_or(Ty::Any);
            argv.push(self.eval_arg(a, ty, dot)?);
        }
        if let Some(l) = last {
            let ty = f.params.get(args.len()).copied().or(f.variadic).unwrap_or(Ty::Any);
            argv.push(self.validate(l, ty)?);
        }
        at_cmd(self);
        match (f.call)(&mut self.heap, &argv) {
            Ok(v) => Ok(v),
            Err(Fault::Msg(m)) => msg(format!("error calling {name}: {m}")),
            Err(Fault::Limit(m)) => Err(Stop::Limit(m)),
        }
    }
}

/// A map from pairs, for functions (`dict`, `urlParse`, ...).
pub(crate) fn map_of(heap: &mut Heap, pairs: Vec<(String, Value)>) -> Res<Value> {
    heap.alloc(pairs.into_iter().collect::<BTreeMap<_, _>>())
}
