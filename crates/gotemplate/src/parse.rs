//! The parser: items to a tree of nodes, with Go's checks (functions defined, variables
//! declared, `break`/`continue` inside `range`, `define` at the top level).

use std::collections::HashMap;
use std::fmt;

use crate::Error;
use crate::funcs;
use crate::lex::{Item, Tok, lex, line_of};

/// Nesting beyond this is refused, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 100;

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
    Template { pos: usize, name: String, pipe: Option<Pipe> },
    Break,
    Continue,
}

#[derive(Clone, Debug)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Clone, Debug)]
pub(crate) struct Cmd {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// A number literal: Go's untyped constant, typed when used.
#[derive(Clone, Debug)]
pub(crate) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub float: Option<f64>,
    /// Written as a float (`.`, exponent): an untyped float constant.
    pub is_float: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Arg {
    /// `.a.b` (empty chain: `.`).
    Field {
        pos: usize,
        chain: Vec<String>,
    },
    /// `$x.a.b`.
    Var {
        pos: usize,
        name: String,
        chain: Vec<String>,
    },
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Number(usize, Number),
    Str(usize, String),
    Func(usize, String),
    /// `(pipeline).a.b`.
    Pipe {
        pos: usize,
        pipe: Box<Pipe>,
        chain: Vec<String>,
    },
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. } | Arg::Var { pos, .. } | Arg::Pipe { pos, .. } => *pos,
            Arg::Dot(p) | Arg::Nil(p) | Arg::Bool(p, _) | Arg::Number(p, _) | Arg::Str(p, _) | Arg::Func(p, _) => *p,
        }
    }
}

/// The templates of one parse: the main one (`""`) and every `define`/`block`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tree {
    pub text: String,
    pub templates: HashMap<String, Vec<Node>>,
}

pub(crate) fn parse(text: &str) -> Result<Tree, Error> {
    let items = lex(text)?;
    let mut p = Parser { text, items, i: 0, vars: vec!["$".to_string()], range_depth: 0, depth: 0, templates: HashMap::new() };
    let main = p.list(true)?;
    if let Some(end) = main.1 {
        return Err(p.err_at(end.1, format!("unexpected {}", end.0)));
    }
    let mut templates = p.templates;
    templates.insert(String::new(), main.0);
    Ok(Tree { text: text.to_string(), templates })
}

struct Parser<'a> {
    text: &'a str,
    items: Vec<Item>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    templates: HashMap<String, Vec<Node>>,
}

/// What ended a list: `{{end}}` or `{{else ...}}` (name, position).
type Ender = Option<(&'static str, usize)>;

impl Parser<'_> {
    fn err_at(&self, pos: usize, reason: impl Into<String>) -> Error {
        Error::Parse {
            line: line_of(self.text, pos),
            col: pos - self.text[..pos.min(self.text.len())].rfind('\n').map_or(0, |i| i + 1),
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<&Item> {
        self.items.get(self.i)
    }

    fn next(&mut self) -> Option<Item> {
        let it = self.items.get(self.i).cloned();
        self.i += 1;
        it
    }

    fn pos(&self) -> usize {
        self.peek().map_or(self.text.len(), |it| it.pos)
    }

    fn next_non_space(&mut self) -> Option<Item> {
        while matches!(self.peek(), Some(Item { tok: Tok::Space, .. })) {
            self.i += 1;
        }
        self.next()
    }

    fn peek_non_space(&mut self) -> Option<&Item> {
        while matches!(self.peek(), Some(Item { tok: Tok::Space, .. })) {
            self.i += 1;
        }
        self.peek()
    }

    fn expect_close(&mut self, context: &str) -> Result<(), Error> {
        match self.next_non_space() {
            Some(Item { tok: Tok::Close, .. }) => Ok(()),
            Some(it) => Err(self.err_at(it.pos, format!("unexpected {} in {context}", describe(&it.tok)))),
            None => Err(self.err_at(self.text.len(), format!("unclosed action in {context}"))),
        }
    }

    fn enter(&mut self, pos: usize) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(pos, "max expression depth exceeded"));
        }
        Ok(())
    }

    /// Parses nodes until EOF (top) or an `{{end}}`/`{{else}}` (returned, not consumed
    /// beyond the keyword).
    fn list(&mut self, top: bool) -> Result<(Vec<Node>, Ender), Error> {
        let mut nodes = Vec::new();
        while let Some(item) = self.next() {
            match item.tok {
                Tok::Text(t) => nodes.push(Node::Text(t)),
                Tok::Open => {
                    let Some(kw) = self.peek_non_space().cloned() else {
                        return Err(self.err_at(item.pos, "unclosed action"));
                    };
                    if let Tok::Keyword(k) = kw.tok {
                        match k {
                            "end" | "else" => {
                                self.i += 1;
                                return Ok((nodes, Some((if k == "end" { "{{end}}" } else { "{{else}}" }, kw.pos))));
                            }
                            "define" => {
                                self.i += 1;
                                if !top {
                                    return Err(self.err_at(kw.pos, "unexpected <define> in command"));
                                }
                                self.define()?;
                                continue;
                            }
                            _ => {}
                        }
                    }
                    nodes.push(self.action(top)?);
                }
                other => return Err(self.err_at(item.pos, format!("unexpected {}", describe(&other)))),
            }
        }
        Ok((nodes, None))
    }

    fn action(&mut self, top: bool) -> Result<Node, Error> {
        let Some(item) = self.peek_non_space().cloned() else {
            return Err(self.err_at(self.text.len(), "unclosed action"));
        };
        if let Tok::Keyword(k) = item.tok {
            self.i += 1;
            return match k {
                "if" => Ok(Node::If(self.branch("if", item.pos)?)),
                "with" => Ok(Node::With(self.branch("with", item.pos)?)),
                "range" => {
                    self.range_depth += 1;
                    let b = self.branch("range", item.pos);
                    self.range_depth -= 1;
                    Ok(Node::Range(b?))
                }
                "template" => self.template(item.pos),
                "block" => self.block(item.pos, top),
                "break" | "continue" => {
                    if self.range_depth == 0 {
                        return Err(self.err_at(item.pos, format!("{{{{{k}}}}} outside {{{{range}}}}")));
                    }
                    self.expect_close(&format!("{{{{{k}}}}}"))?;
                    Ok(if k == "break" { Node::Break } else { Node::Continue })
                }
                other => Err(self.err_at(item.pos, format!("unexpected <{other}> in command"))),
            };
        }
        let pipe = self.pipeline("command", true)?;
        Ok(Node::Action(pipe))
    }

    /// `if`/`with`/`range`: pipeline, list, optional else (with `else if`/`else with` chains).
    fn branch(&mut self, kind: &'static str, pos: usize) -> Result<Branch, Error> {
        self.enter(pos)?;
        let vars_len = self.vars.len();
        let pipe = self.pipeline(kind, kind == "range")?;
        let (list, ender) = self.list(false)?;
        let mut else_list = None;
        match ender {
            None => return Err(self.err_at(self.text.len(), "unexpected EOF")),
            Some(("{{end}}", _)) => self.expect_close("end")?,
            Some((_, epos)) => {
                // `{{else if ...}}` / `{{else with ...}}`: a nested branch sharing our {{end}}.
                let chained = match self.peek_non_space() {
                    Some(Item { tok: Tok::Keyword(k), .. }) if (*k == "if" || *k == "with") && kind != "range" => Some(*k),
                    _ => None,
                };
                if let Some(k) = chained {
                    let kpos = self.pos();
                    self.i += 1;
                    let nested = self.branch(k, kpos)?;
                    else_list = Some(vec![if k == "if" { Node::If(nested) } else { Node::With(nested) }]);
                } else {
                    self.expect_close("else")?;
                    let (l, end) = self.list(false)?;
                    match end {
                        Some(("{{end}}", _)) => self.expect_close("end")?,
                        Some((e, p)) => return Err(self.err_at(p, format!("expected end; found {e}"))),
                        None => return Err(self.err_at(epos, "unexpected EOF")),
                    }
                    else_list = Some(l);
                }
            }
        }
        self.vars.truncate(vars_len);
        self.depth -= 1;
        Ok(Branch { pipe, list, else_list })
    }

    fn template_name(&mut self, context: &str) -> Result<(usize, String), Error> {
        match self.next_non_space() {
            Some(Item { tok: Tok::Str(s), pos }) => Ok((pos, s)),
            Some(it) => Err(self.err_at(it.pos, format!("unexpected {} in {context} clause", describe(&it.tok)))),
            None => Err(self.err_at(self.text.len(), format!("unexpected EOF in {context} clause"))),
        }
    }

    fn template(&mut self, _pos: usize) -> Result<Node, Error> {
        let (pos, name) = self.template_name("template")?;
        let pipe = match self.peek_non_space() {
            Some(Item { tok: Tok::Close, .. }) => {
                self.i += 1;
                None
            }
            _ => Some(self.pipeline("template", false)?),
        };
        Ok(Node::Template { pos, name, pipe })
    }

    fn define(&mut self) -> Result<(), Error> {
        let (pos, name) = self.template_name("define")?;
        self.expect_close("define")?;
        self.body(pos, name)
    }

    /// A `define`d body, with its own variables (`$` only).
    fn body(&mut self, pos: usize, name: String) -> Result<(), Error> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let ranges = std::mem::replace(&mut self.range_depth, 0);
        let (list, end) = self.list(false)?;
        self.vars = vars;
        self.range_depth = ranges;
        match end {
            Some(("{{end}}", _)) => self.expect_close("end")?,
            Some((e, p)) => return Err(self.err_at(p, format!("unexpected {e}"))),
            None => return Err(self.err_at(self.text.len(), "unexpected EOF")),
        }
        let empty = list.iter().all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
        match self.templates.get(&name) {
            Some(old) if !empty && !old.iter().all(|n| matches!(n, Node::Text(t) if t.trim().is_empty())) => {
                Err(self.err_at(pos, format!("template: multiple definition of template {name:?}")))
            }
            Some(_) if empty => Ok(()),
            _ => {
                self.templates.insert(name, list);
                Ok(())
            }
        }
    }

    fn block(&mut self, _pos: usize, top: bool) -> Result<Node, Error> {
        let (pos, name) = self.template_name("block")?;
        if !top {
            return Err(self.err_at(pos, "unexpected <block> in command"));
        }
        let pipe = self.pipeline("block", false)?;
        self.enter(pos)?;
        self.body(pos, name.clone())?;
        self.depth -= 1;
        Ok(Node::Template { pos, name, pipe: Some(pipe) })
    }

    /// A pipeline up to `}}` (consumed), with an optional declaration.
    fn pipeline(&mut self, context: &str, allow_decl: bool) -> Result<Pipe, Error> {
        let start = self.pos();
        let mut decl = Vec::new();
        let mut is_assign = false;
        // Declarations: `$x :=`, `$x =`, and in range `$i, $v :=`.
        let save = self.i;
        if let Some(Item { tok: Tok::Var(v), pos }) = self.peek_non_space().cloned() {
            self.i += 1;
            let after = self.peek_non_space().map(|it| it.tok.clone());
            match after {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    self.i += 1;
                    is_assign = after == Some(Tok::Assign);
                    if is_assign && !self.vars.contains(&v) {
                        return Err(self.err_at(pos, format!("undefined variable: {v}")));
                    }
                    decl.push(v);
                }
                Some(Tok::Comma) if allow_decl && context == "range" => {
                    self.i += 1;
                    match self.next_non_space() {
                        Some(Item { tok: Tok::Var(v2), .. }) => {
                            match self.next_non_space().map(|it| it.tok) {
                                Some(Tok::Declare) => {}
                                Some(Tok::Assign) => {
                                    is_assign = true;
                                }
                                Some(Tok::Comma) => return Err(self.err_at(pos, "too many declarations in range")),
                                _ => return Err(self.err_at(pos, "range can only initialize variables")),
                            }
                            decl.push(v);
                            decl.push(v2);
                        }
                        _ => return Err(self.err_at(pos, "range can only initialize variables")),
                    }
                }
                _ => self.i = save,
            }
        } else {
            self.i = save;
        }
        let mut cmds = Vec::new();
        loop {
            match self.peek_non_space().map(|it| it.tok.clone()) {
                Some(Tok::Close) if cmds.is_empty() => {
                    return Err(self.err_at(start, format!("missing value for {context}")));
                }
                Some(Tok::Close) => {
                    self.i += 1;
                    break;
                }
                Some(Tok::RParen) if context == "parenthesized pipeline" => {
                    if cmds.is_empty() {
                        return Err(self.err_at(start, format!("missing value for {context}")));
                    }
                    self.i += 1;
                    break;
                }
                None => return Err(self.err_at(self.text.len(), format!("unclosed action in {context}"))),
                _ => {}
            }
            cmds.push(self.command()?);
            match self.peek_non_space().map(|it| it.tok.clone()) {
                Some(Tok::Pipe) => {
                    self.i += 1;
                }
                Some(Tok::Close) | Some(Tok::RParen) => {}
                Some(t) => {
                    let p = self.pos();
                    return Err(self.err_at(p, format!("unexpected {} in operand", describe(&t))));
                }
                None => return Err(self.err_at(self.text.len(), format!("unclosed action in {context}"))),
            }
        }
        // Declared variables are visible after the declaration (Go adds them here).
        if !is_assign {
            for v in &decl {
                self.vars.push(v.clone());
            }
        }
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if let Some(a) = c.args.first()
                && !matches!(a, Arg::Func(..) | Arg::Field { .. } | Arg::Var { .. } | Arg::Pipe { .. })
            {
                return Err(self.err_at(a.pos(), format!("non executable command in pipeline stage {}", i + 1)));
            }
        }
        Ok(Pipe { pos: start, decl, is_assign, cmds })
    }

    fn command(&mut self) -> Result<Cmd, Error> {
        let pos = self.pos();
        let mut args = Vec::new();
        loop {
            // Operands are separated by spaces; `|`, `)` and `}}` end the command.
            let Some(it) = self.peek_non_space().cloned() else {
                return Err(self.err_at(self.text.len(), "unclosed action"));
            };
            match it.tok {
                Tok::Close | Tok::RParen | Tok::Pipe => break,
                _ => {}
            }
            args.push(self.operand()?);
            match self.peek().map(|it| it.tok.clone()) {
                Some(Tok::Space) | Some(Tok::Close) | Some(Tok::RParen) | Some(Tok::Pipe) => {}
                Some(t) => {
                    let p = self.pos();
                    return Err(self.err_at(p, format!("unexpected {} in operand", describe(&t))));
                }
                None => {}
            }
        }
        if args.is_empty() {
            return Err(self.err_at(pos, "missing value for command"));
        }
        Ok(Cmd { pos, args })
    }

    /// One operand: a term and any `.field` chain after it.
    fn operand(&mut self) -> Result<Arg, Error> {
        let Some(it) = self.next() else {
            return Err(self.err_at(self.text.len(), "unclosed action"));
        };
        let pos = it.pos;
        let mut arg = match it.tok {
            Tok::Ident(name) => {
                if !funcs::exists(&name) {
                    return Err(self.err_at(pos, format!("function {name:?} not defined")));
                }
                Arg::Func(pos, name)
            }
            Tok::Dot => Arg::Dot(pos),
            Tok::Nil => Arg::Nil(pos),
            Tok::Bool(b) => Arg::Bool(pos, b),
            Tok::Field(f) => Arg::Field { pos, chain: vec![f] },
            Tok::Var(v) => {
                if !self.vars.contains(&v) {
                    return Err(self.err_at(pos, format!("undefined variable {v:?}")));
                }
                Arg::Var { pos, name: v, chain: Vec::new() }
            }
            Tok::Str(s) => Arg::Str(pos, s),
            Tok::Number(n) => Arg::Number(pos, parse_number(&n).ok_or_else(|| self.err_at(pos, format!("bad number syntax: {n:?}")))?),
            Tok::Char(c) => {
                let ch = char_value(&c).ok_or_else(|| self.err_at(pos, format!("malformed character constant: {c}")))?;
                Arg::Number(pos, Number { text: c, int: Some(ch as i64), float: Some(ch as u32 as f64), is_float: false })
            }
            Tok::LParen => {
                self.enter(pos)?;
                let pipe = self.pipeline("parenthesized pipeline", false)?;
                self.depth -= 1;
                Arg::Pipe { pos, pipe: Box::new(pipe), chain: Vec::new() }
            }
            other => return Err(self.err_at(pos, format!("unexpected {} in operand", describe(&other)))),
        };
        // A chain of fields: its position is that of the first link after the term.
        let mut chain_pos = None;
        while let Some(Item { tok: Tok::Field(f), pos: fpos }) = self.peek().cloned() {
            self.i += 1;
            chain_pos.get_or_insert(fpos);
            match &mut arg {
                Arg::Field { chain, .. } | Arg::Var { chain, .. } | Arg::Pipe { chain, .. } => chain.push(f),
                Arg::Dot(_) => arg = Arg::Field { pos: fpos, chain: vec![f] },
                other => {
                    return Err(self.err_at(fpos, format!("unexpected . after term {:?}", other_text(other))));
                }
            }
        }
        if let (Some(p), Arg::Field { pos, .. } | Arg::Var { pos, .. }) = (chain_pos, &mut arg) {
            *pos = p;
        }
        Ok(arg)
    }
}

fn other_text(a: &Arg) -> String {
    format!("{a}")
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Open => "\"{{\"".into(),
        Tok::Close => "\"}}\"".into(),
        Tok::Space => "space".into(),
        Tok::Ident(s) => format!("{s:?}"),
        Tok::Field(s) => format!("\".{s}\""),
        Tok::Var(s) => format!("{s:?}"),
        Tok::Dot => "\".\"".into(),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Number(s) | Tok::Char(s) => format!("{s:?}"),
        Tok::Bool(b) => format!("\"{b}\""),
        Tok::Nil => "\"nil\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Keyword(k) => format!("<{k}>"),
    }
}

/// A character constant's value (`'a'`, `'\n'`, `'\u00e9'`).
fn char_value(lit: &str) -> Option<char> {
    let inner = lit.strip_prefix('\'')?.strip_suffix('\'')?;
    if inner == "\"" {
        return Some('"');
    }
    if inner.starts_with('\\') {
        let s = crate::lex::unquote(&format!("\"{}\"", inner.replace("\\'", "\\x27")))?;
        let mut cs = s.chars();
        let c = cs.next()?;
        return cs.next().is_none().then_some(c);
    }
    let mut cs = inner.chars();
    let c = cs.next()?;
    cs.next().is_none().then_some(c)
}

/// Go's number literal rules (as text/template/parse accepts them, without complex numbers).
pub(crate) fn parse_number(text: &str) -> Option<Number> {
    let clean = text.replace('_', "");
    if clean.contains("__") || text.ends_with('_') {
        return None;
    }
    let (neg, body) = match clean.as_bytes().first()? {
        b'-' => (true, &clean[1..]),
        b'+' => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains(['.', 'p']) { None } else { Some(i128::from_str_radix(h, 16).ok()?) }
    } else if let Some(o) = lower.strip_prefix("0o") {
        Some(i128::from_str_radix(o, 8).ok()?)
    } else if let Some(b) = lower.strip_prefix("0b") {
        Some(i128::from_str_radix(b, 2).ok()?)
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit()) {
        Some(i128::from_str_radix(&lower[1..], 8).ok()?)
    } else if !lower.is_empty() && lower.bytes().all(|c| c.is_ascii_digit()) {
        Some(lower.parse::<i128>().ok()?)
    } else {
        None
    };
    let sign = if neg { -1 } else { 1 };
    if let Some(v) = int {
        let v = v * sign;
        return Some(Number { text: text.to_string(), int: i64::try_from(v).ok(), float: Some(v as f64), is_float: false });
    }
    if lower.starts_with("0x") {
        return None; // hex floats: not supported
    }
    if !lower.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-')) {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    let f = f * sign as f64;
    // An integral float constant is also usable as an int, as in Go.
    let int = (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64);
    Some(Number { text: text.to_string(), int, float: Some(f), is_float: true })
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { chain, .. } => {
                for c in chain {
                    write!(f, ".{c}")?;
                }
                Ok(())
            }
            Arg::Var { name, chain, .. } => {
                write!(f, "{name}")?;
                for c in chain {
                    write!(f, ".{c}")?;
                }
                Ok(())
            }
            Arg::Dot(_) => write!(f, "."),
            Arg::Nil(_) => write!(f, "nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, n) => write!(f, "{}", n.text),
            Arg::Str(_, s) => write!(f, "{}", crate::value::go_quote(s)),
            Arg::Func(_, n) => write!(f, "{n}"),
            Arg::Pipe { pipe, chain, .. } => {
                write!(f, "({pipe})")?;
                for c in chain {
                    write!(f, ".{c}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(f, "{} {} ", self.decl.join(", "), if self.is_assign { "=" } else { ":=" })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                write!(f, " | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}
