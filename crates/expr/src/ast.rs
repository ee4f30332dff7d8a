//! The parsed expression. Names of functions and namespaces (`len`,
//! `time.Parse`) are resolved by the parser, so evaluation never looks a
//! name up twice.

use regex::Regex;

use crate::ExprError;

/// The deepest tree accepted: evaluation recurses once per level, so this
/// bounds its stack whatever the input.
pub(crate) const MAX_DEPTH: usize = 100;

/// A node and the character offset where it starts (for error messages).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub at: usize,
    /// Levels of nodes from here down, this one included.
    depth: usize,
}

impl Node {
    /// A node over already built children; an error if the tree would get
    /// deeper than `MAX_DEPTH` (long chains such as `a + a + ... + a` build
    /// deep trees without deep parser recursion, so depth is checked here).
    pub fn new(kind: NodeKind, at: usize) -> Result<Node, ExprError> {
        let depth = 1 + kind.children().map(|c| c.depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(ExprError::Parse { offset: at, message: format!("expression nested too deeply (more than {MAX_DEPTH} levels)") });
        }
        Ok(Node { kind, at, depth })
    }
}

impl NodeKind {
    /// The direct sub-nodes.
    fn children(&self) -> Box<dyn Iterator<Item = &Node> + '_> {
        use std::iter::{empty, once};
        match self {
            NodeKind::Nil
            | NodeKind::Bool(_)
            | NodeKind::Int(_)
            | NodeKind::Float(_)
            | NodeKind::Str(_)
            | NodeKind::Duration(_)
            | NodeKind::Var(_)
            | NodeKind::Pointer(_)
            | NodeKind::Unavailable(_) => Box::new(empty()),
            NodeKind::Array(items) | NodeKind::Call(_, items) => Box::new(items.iter()),
            NodeKind::Map(pairs) => Box::new(pairs.iter().flat_map(|(k, v)| [k, v])),
            NodeKind::Unary(_, a) | NodeKind::MatchesLiteral(a, _) => Box::new(once(&**a)),
            NodeKind::Binary(_, a, b) | NodeKind::And(a, b) | NodeKind::Or(a, b) | NodeKind::Coalesce(a, b) => {
                Box::new([&**a, &**b].into_iter())
            }
            NodeKind::Member { obj, key, .. } => Box::new([&**obj, &**key].into_iter()),
            NodeKind::Cond(c, a, b) => Box::new([&**c, &**a, &**b].into_iter()),
            NodeKind::Slice { obj, from, to } => Box::new(once(&**obj).chain(from.as_deref()).chain(to.as_deref())),
            NodeKind::Method { obj, args, .. } => Box::new(once(&**obj).chain(args.iter())),
            NodeKind::Predicate { list, body, .. } => Box::new(once(&**list).chain(body.as_deref())),
        }
    }
}

/// What a node computes.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A constant `time.Duration` (`time.Hour`), in nanoseconds.
    Duration(i64),
    /// A top-level variable; nil when the environment lacks it.
    Var(String),
    /// `#` (None) or `#index` inside a predicate.
    Pointer(Option<String>),
    Array(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Unary(UnOp, Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    /// `s matches 'literal'`: the pattern compiled once, with the program.
    MatchesLiteral(Box<Node>, Box<Regex>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    /// `a ?? b`.
    Coalesce(Box<Node>, Box<Node>),
    /// `c ? a : b`.
    Cond(Box<Node>, Box<Node>, Box<Node>),
    /// `a.b`, `a?.b`, `a[k]`, `a?.[k]`.
    Member {
        obj: Box<Node>,
        key: Box<Node>,
        optional: bool,
    },
    /// `a[from:to]`.
    Slice {
        obj: Box<Node>,
        from: Option<Box<Node>>,
        to: Option<Box<Node>>,
    },
    /// `t.Sub(u)`: a method of a `time.Time` or `time.Duration`.
    Method {
        obj: Box<Node>,
        name: String,
        args: Vec<Node>,
        optional: bool,
    },
    /// A builtin or namespace function.
    Call(Func, Vec<Node>),
    /// `all(list, {...})` and its kin; `body` is absent for `count(list)`.
    Predicate {
        pred: Pred,
        list: Box<Node>,
        body: Option<Box<Node>>,
    },
    /// An Argo CD function driftless cannot answer (`repo.*`, `sync.*`):
    /// compiles, fails at run time naming it.
    Unavailable(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum UnOp {
    Not,
    Neg,
    Plus,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Contains,
    StartsWith,
    EndsWith,
    Matches,
}

impl BinOp {
    /// The operator as written, for error messages.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "**",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Contains => "contains",
            BinOp::StartsWith => "startsWith",
            BinOp::EndsWith => "endsWith",
            BinOp::Matches => "matches",
        }
    }
}

/// Functions: expr's builtins, and `time.*` / `strings.*` of Argo CD's
/// environment mapped onto them where they mean the same.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Func {
    Len,
    Lower,
    Upper,
    Trim,
    TrimPrefix,
    TrimSuffix,
    HasPrefix,
    HasSuffix,
    Contains,
    Split,
    Join,
    Replace,
    IndexOf,
    LastIndexOf,
    String,
    Int,
    Float,
    Abs,
    Ceil,
    Floor,
    Round,
    Max,
    Min,
    First,
    Last,
    Keys,
    Values,
    Type,
    Get,
    Now,
    Duration,
    Date,
    /// `time.Parse`: RFC 3339 only, as Argo CD's.
    TimeParse,
}

/// Predicate functions over a list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pred {
    All,
    Any,
    None,
    One,
    Filter,
    Map,
    Count,
    Sum,
    Find,
    FindIndex,
}
