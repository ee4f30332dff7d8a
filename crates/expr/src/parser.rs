//! expr-lang's grammar, as its parser reads it: precedence climbing over
//! the binary operators (`??` binds tightest, then `**`, `* / %`, `+ -`,
//! comparisons, `and`, `or`), unary `not`/`!` above comparisons, chained
//! comparisons (`a < b < c` is `a < b and b < c`), the ternary at the top,
//! member access, indexes, slices and calls after a primary. Names of
//! functions and of Argo CD's namespaces (`time`, `strings`, `repo`,
//! `sync`) are resolved here; what driftless does not evaluate is refused
//! as `ExprError::Unsupported` naming it.

use regex::RegexBuilder;

use crate::ExprError;
use crate::ast::{BinOp, Func, MAX_DEPTH, Node, NodeKind, Pred, UnOp};
use crate::lexer::{Kind, Token, lex};

/// The most compiled regex a `matches` may build (bytes).
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Parses `src` into a tree.
pub(crate) fn parse(src: &str) -> Result<Node, ExprError> {
    let tokens = lex(src)?;
    let mut parser = Parser { tokens, pos: 0, nesting: 0, predicates: 0 };
    let node = parser.expression(0)?;
    let last = parser.current();
    if !matches!(last.kind, Kind::Eof) {
        return Err(parser.unexpected());
    }
    Ok(node)
}

/// Builtins: name, function, fewest and most arguments.
const BUILTINS: &[(&str, Func, usize, usize)] = &[
    ("len", Func::Len, 1, 1),
    ("lower", Func::Lower, 1, 1),
    ("upper", Func::Upper, 1, 1),
    ("trim", Func::Trim, 1, 2),
    ("trimPrefix", Func::TrimPrefix, 2, 2),
    ("trimSuffix", Func::TrimSuffix, 2, 2),
    ("hasPrefix", Func::HasPrefix, 2, 2),
    ("hasSuffix", Func::HasSuffix, 2, 2),
    ("split", Func::Split, 2, 2),
    ("join", Func::Join, 1, 2),
    ("replace", Func::Replace, 3, 3),
    ("indexOf", Func::IndexOf, 2, 2),
    ("lastIndexOf", Func::LastIndexOf, 2, 2),
    ("string", Func::String, 1, 1),
    ("int", Func::Int, 1, 1),
    ("float", Func::Float, 1, 1),
    ("abs", Func::Abs, 1, 1),
    ("ceil", Func::Ceil, 1, 1),
    ("floor", Func::Floor, 1, 1),
    ("round", Func::Round, 1, 1),
    ("max", Func::Max, 1, usize::MAX),
    ("min", Func::Min, 1, usize::MAX),
    ("first", Func::First, 1, 1),
    ("last", Func::Last, 1, 1),
    ("keys", Func::Keys, 1, 1),
    ("values", Func::Values, 1, 1),
    ("type", Func::Type, 1, 1),
    ("get", Func::Get, 2, 2),
    ("now", Func::Now, 0, 0),
    ("duration", Func::Duration, 1, 1),
    ("date", Func::Date, 1, 1),
];

/// Argo CD's `time.*` and `strings.*` functions (`strings.ReplaceAll` is
/// Argo CD's; the others are Go's functions of the same name, cheap to
/// offer).
const NAMESPACED: &[(&str, Func, usize, usize)] = &[
    ("time.Now", Func::Now, 0, 0),
    ("time.Parse", Func::TimeParse, 1, 1),
    ("strings.ReplaceAll", Func::Replace, 3, 3),
    ("strings.ToUpper", Func::Upper, 1, 1),
    ("strings.ToLower", Func::Lower, 1, 1),
    ("strings.TrimSpace", Func::Trim, 1, 1),
    ("strings.HasPrefix", Func::HasPrefix, 2, 2),
    ("strings.HasSuffix", Func::HasSuffix, 2, 2),
    ("strings.Contains", Func::Contains, 2, 2),
    ("strings.Split", Func::Split, 2, 2),
];

/// Argo CD's `time` constants: durations in nanoseconds.
const TIME_DURATIONS: &[(&str, i64)] = &[
    ("Nanosecond", 1),
    ("Microsecond", 1_000),
    ("Millisecond", 1_000_000),
    ("Second", 1_000_000_000),
    ("Minute", 60_000_000_000),
    ("Hour", 3_600_000_000_000),
];

/// Argo CD's `time` constants: Go's layouts.
const TIME_LAYOUTS: &[(&str, &str)] = &[
    ("Layout", "01/02 03:04:05PM '06 -0700"),
    ("ANSIC", "Mon Jan _2 15:04:05 2006"),
    ("UnixDate", "Mon Jan _2 15:04:05 MST 2006"),
    ("RubyDate", "Mon Jan 02 15:04:05 -0700 2006"),
    ("RFC822", "02 Jan 06 15:04 MST"),
    ("RFC822Z", "02 Jan 06 15:04 -0700"),
    ("RFC850", "Monday, 02-Jan-06 15:04:05 MST"),
    ("RFC1123", "Mon, 02 Jan 2006 15:04:05 MST"),
    ("RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700"),
    ("RFC3339", "2006-01-02T15:04:05Z07:00"),
    ("RFC3339Nano", "2006-01-02T15:04:05.999999999Z07:00"),
    ("Kitchen", "3:04PM"),
    ("Stamp", "Jan _2 15:04:05"),
    ("StampMilli", "Jan _2 15:04:05.000"),
    ("StampMicro", "Jan _2 15:04:05.000000"),
    ("StampNano", "Jan _2 15:04:05.000000000"),
];

/// Namespaces whose functions need Argo CD's repo server or sync state.
const UNAVAILABLE_NAMESPACES: [&str; 2] = ["repo", "sync"];

/// Predicate functions: name, function, whether the predicate is optional.
const PREDICATES: &[(&str, Pred, bool)] = &[
    ("all", Pred::All, false),
    ("any", Pred::Any, false),
    ("none", Pred::None, false),
    ("one", Pred::One, false),
    ("filter", Pred::Filter, false),
    ("map", Pred::Map, false),
    ("count", Pred::Count, true),
    ("sum", Pred::Sum, true),
    ("find", Pred::Find, false),
    ("findIndex", Pred::FindIndex, false),
];

/// Methods of `time.Time` and `time.Duration` and their argument counts.
pub(crate) const METHODS: &[(&str, usize)] = &[
    ("Sub", 1),
    ("Before", 1),
    ("After", 1),
    ("Equal", 1),
    ("Add", 1),
    ("Unix", 0),
    ("UnixMilli", 0),
    ("UnixNano", 0),
    ("Format", 1),
    ("IsZero", 0),
    ("UTC", 0),
    ("Year", 0),
    ("YearDay", 0),
    ("Day", 0),
    ("Hour", 0),
    ("Minute", 0),
    ("Second", 0),
    ("String", 0),
    ("Hours", 0),
    ("Minutes", 0),
    ("Seconds", 0),
    ("Milliseconds", 0),
    ("Microseconds", 0),
    ("Nanoseconds", 0),
    ("Abs", 0),
];

/// Binary operators: precedence and right associativity, as expr's table.
fn binary(op: &str) -> Option<(u16, bool)> {
    Some(match op {
        "|" => (0, false),
        "or" | "||" => (10, false),
        "and" | "&&" => (15, false),
        "==" | "!=" | "<" | ">" | "<=" | ">=" | "in" | "matches" | "contains" | "startsWith" | "endsWith" => (20, false),
        ".." => (25, false),
        "+" | "-" => (30, false),
        "*" | "/" | "%" => (60, false),
        "**" | "^" => (100, true),
        "??" => (500, false),
        _ => return None,
    })
}

fn is_comparison(op: &str) -> bool {
    binary(op).is_some_and(|(p, _)| p == 20)
}

/// Operators that `not` may precede (`not in`, `not matches`...).
fn negatable(op: &str) -> bool {
    matches!(op, "in" | "matches" | "contains" | "startsWith" | "endsWith")
}

fn unsupported(what: impl Into<String>) -> ExprError {
    ExprError::Unsupported(what.into())
}

fn boxed(n: Node) -> Box<Node> {
    Box::new(n)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Recursion depth of `expression`, bounded by `MAX_DEPTH`.
    nesting: usize,
    /// How many predicate bodies enclose the current token (`#` is valid
    /// only inside one).
    predicates: usize,
}

impl Parser {
    fn current(&self) -> &Token {
        // The token list always ends with Eof, and `advance` stops there.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) {
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ExprError {
        ExprError::Parse { offset, message: message.into() }
    }

    fn unexpected(&self) -> ExprError {
        let token = self.current();
        self.error_at(token.offset, format!("unexpected {}", token.describe()))
    }

    fn expect(&mut self, op: &str) -> Result<(), ExprError> {
        if self.current().is(op) {
            self.advance();
            Ok(())
        } else {
            let token = self.current();
            Err(self.error_at(token.offset, format!("expected {op:?}, found {}", token.describe())))
        }
    }

    fn expression(&mut self, precedence: u16) -> Result<Node, ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            let at = self.current().offset;
            return Err(self.error_at(at, format!("expression nested too deeply (more than {MAX_DEPTH} levels)")));
        }
        let node = self.expression_inner(precedence);
        self.nesting -= 1;
        node
    }

    fn expression_inner(&mut self, precedence: u16) -> Result<Node, ExprError> {
        if precedence == 0 && self.current().is("let") {
            return Err(unsupported("variable declarations (let)"));
        }
        let mut left = self.primary()?;
        let mut previous: Option<&'static str> = None;
        loop {
            let token = self.current().clone();
            let Kind::Op(mut op) = token.kind else { break };
            let mut negated_at = None;
            if op == "not" {
                let next = self.tokens.get(self.pos + 1).cloned();
                match next.map(|t| t.kind) {
                    Some(Kind::Op(o)) if negatable(o) => {
                        if binary(o).is_some_and(|(p, _)| p >= precedence) {
                            self.advance();
                            negated_at = Some(token.offset);
                            op = o;
                        } else {
                            break;
                        }
                    }
                    _ => {
                        self.advance();
                        return Err(self.unexpected());
                    }
                }
            }
            let Some((prec, right_assoc)) = binary(op) else { break };
            if prec < precedence {
                break;
            }
            let at = self.current().offset;
            self.advance();
            match op {
                "|" => return Err(unsupported("the pipe operator |")),
                ".." => return Err(unsupported("ranges (..)")),
                _ => {}
            }
            if previous == Some("??") && op != "??" {
                return Err(
                    self.error_at(at, format!("operator {op} and coalesce expressions (??) cannot be mixed; wrap either in parentheses"))
                );
            }
            left = if is_comparison(op) {
                self.comparison(left, op, at, prec)?
            } else {
                let right = self.expression(if right_assoc { prec } else { prec + 1 })?;
                binary_node(op, left, right, at)?
            };
            if let Some(not_at) = negated_at {
                left = Node::new(NodeKind::Unary(UnOp::Not, boxed(left)), not_at)?;
            }
            previous = Some(op);
        }
        if precedence == 0 {
            left = self.conditional(left)?;
        }
        Ok(left)
    }

    /// `a < b < c`: each comparison's right side is the next one's left.
    fn comparison(&mut self, mut left: Node, mut op: &'static str, mut at: usize, prec: u16) -> Result<Node, ExprError> {
        let mut root: Option<Node> = None;
        loop {
            let right = self.expression(prec + 1)?;
            let cmp = binary_node(op, left, right.clone(), at)?;
            root = Some(match root {
                None => cmp,
                Some(r) => Node::new(NodeKind::And(boxed(r), boxed(cmp)), at)?,
            });
            left = right;
            match self.current().kind {
                Kind::Op(o) if is_comparison(o) => {
                    op = o;
                    at = self.current().offset;
                    self.advance();
                }
                _ => break,
            }
        }
        // The loop runs at least once.
        root.ok_or_else(|| self.error_at(at, "empty comparison"))
    }

    fn conditional(&mut self, mut node: Node) -> Result<Node, ExprError> {
        while self.current().is("?") {
            let at = self.current().offset;
            self.advance();
            let (then, otherwise) = if self.current().is(":") {
                self.advance();
                (node.clone(), self.expression(0)?)
            } else {
                let then = self.expression(0)?;
                self.expect(":")?;
                (then, self.expression(0)?)
            };
            node = Node::new(NodeKind::Cond(boxed(node), boxed(then), boxed(otherwise)), at)?;
        }
        Ok(node)
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let token = self.current().clone();
        if let Kind::Op(op) = token.kind {
            let unary = match op {
                "not" | "!" => Some((UnOp::Not, 50)),
                "-" => Some((UnOp::Neg, 90)),
                "+" => Some((UnOp::Plus, 90)),
                _ => None,
            };
            if let Some((unop, prec)) = unary {
                self.advance();
                let operand = self.expression(prec)?;
                let node = Node::new(NodeKind::Unary(unop, boxed(operand)), token.offset)?;
                return self.postfix(node);
            }
            match op {
                "(" => {
                    self.advance();
                    let inner = self.expression(0)?;
                    self.expect(")")?;
                    return self.postfix(inner);
                }
                "#" | "." if self.predicates == 0 => {
                    return Err(self.error_at(token.offset, "cannot use pointer accessor outside predicate"));
                }
                "#" => {
                    self.advance();
                    let mut name = None;
                    if let Kind::Ident(n) = &self.current().kind {
                        if n != "index" {
                            return Err(unsupported(format!("the pointer #{n}")));
                        }
                        name = Some(n.clone());
                        self.advance();
                    }
                    let node = Node::new(NodeKind::Pointer(name), token.offset)?;
                    return self.postfix(node);
                }
                // `.field` in a predicate is `#.field`: the `.` is left for postfix.
                "." => {
                    let node = Node::new(NodeKind::Pointer(None), token.offset)?;
                    return self.postfix(node);
                }
                "::" => return Err(unsupported("the :: operator")),
                _ => {}
            }
        }
        self.secondary()
    }

    fn secondary(&mut self) -> Result<Node, ExprError> {
        let token = self.current().clone();
        let at = token.offset;
        let node = match token.kind {
            Kind::Ident(name) => {
                self.advance();
                match name.as_str() {
                    "true" => return Node::new(NodeKind::Bool(true), at),
                    "false" => return Node::new(NodeKind::Bool(false), at),
                    "nil" => return Node::new(NodeKind::Nil, at),
                    "time" | "strings" | "repo" | "sync" => self.namespaced(&name, at)?,
                    _ if self.current().is("(") => self.call(&name, at)?,
                    _ => Node::new(NodeKind::Var(name), at)?,
                }
            }
            Kind::Number(text) => {
                self.advance();
                return Node::new(number(&text).map_err(|m| self.error_at(at, m))?, at);
            }
            Kind::Str(s) => {
                self.advance();
                Node::new(NodeKind::Str(s), at)?
            }
            Kind::Op("[") => self.array()?,
            Kind::Op("{") => self.map()?,
            _ => return Err(self.unexpected()),
        };
        self.postfix(node)
    }

    /// `time.Parse(...)`, `time.Hour`, `strings.ReplaceAll(...)`,
    /// `repo.GetCommitMetadata(...)`: Argo CD's namespaces win over
    /// variables of the same name, as its environment sets them last.
    fn namespaced(&mut self, namespace: &str, at: usize) -> Result<Node, ExprError> {
        if !self.current().is(".") {
            return Err(unsupported(format!("the {namespace} namespace as a value")));
        }
        self.advance();
        let Kind::Ident(member) = self.current().kind.clone() else {
            return Err(self.error_at(self.current().offset, "expected name"));
        };
        self.advance();
        let full = format!("{namespace}.{member}");
        if self.current().is("(") {
            if UNAVAILABLE_NAMESPACES.contains(&namespace) {
                self.arguments()?;
                return Node::new(NodeKind::Unavailable(full), at);
            }
            let Some(&(_, func, min, max)) = NAMESPACED.iter().find(|(n, ..)| *n == full) else {
                return Err(unsupported(format!("the function {full}")));
            };
            let args = self.arguments()?;
            check_arity(&full, args.len(), min, max, at)?;
            return Node::new(NodeKind::Call(func, args), at);
        }
        if namespace == "time" {
            if let Some((_, nanos)) = TIME_DURATIONS.iter().find(|(n, _)| *n == member) {
                return Node::new(NodeKind::Duration(*nanos), at);
            }
            if let Some((_, layout)) = TIME_LAYOUTS.iter().find(|(n, _)| *n == member) {
                return Node::new(NodeKind::Str((*layout).to_string()), at);
            }
        }
        Err(unsupported(format!("{full} as a value")))
    }

    fn call(&mut self, name: &str, at: usize) -> Result<Node, ExprError> {
        if let Some(&(_, pred, optional)) = PREDICATES.iter().find(|(n, ..)| *n == name) {
            return self.predicate(name, pred, optional, at);
        }
        let Some(&(_, func, min, max)) = BUILTINS.iter().find(|(n, ..)| *n == name) else {
            return Err(unsupported(format!("the function {name}")));
        };
        let args = self.arguments()?;
        check_arity(name, args.len(), min, max, at)?;
        Node::new(NodeKind::Call(func, args), at)
    }

    /// `all(list, {# > 1})`, `filter(list, .phase == 'Failed')`.
    fn predicate(&mut self, name: &str, pred: Pred, optional: bool, at: usize) -> Result<Node, ExprError> {
        self.expect("(")?;
        let list = self.expression(0)?;
        let mut body = None;
        if self.current().is(",") {
            self.advance();
            if !self.current().is(")") {
                body = Some(boxed(self.predicate_body()?));
            }
        }
        if self.current().is(",") {
            self.advance();
        }
        self.expect(")")?;
        if body.is_none() && !optional {
            return Err(self.error_at(at, format!("{name} expects a list and a predicate")));
        }
        Node::new(NodeKind::Predicate { pred, list: boxed(list), body }, at)
    }

    fn predicate_body(&mut self) -> Result<Node, ExprError> {
        let braced = self.current().is("{");
        if braced {
            self.advance();
        }
        self.predicates += 1;
        let body = self.expression(0);
        self.predicates -= 1;
        let body = body?;
        if braced {
            self.expect("}")?;
        }
        Ok(body)
    }

    fn arguments(&mut self) -> Result<Vec<Node>, ExprError> {
        self.expect("(")?;
        self.separated(")", |p| p.expression(0))
    }

    fn array(&mut self) -> Result<Node, ExprError> {
        let at = self.current().offset;
        self.expect("[")?;
        let items = self.separated("]", |p| p.expression(0))?;
        Node::new(NodeKind::Array(items), at)
    }

    /// `{key: value, 'quoted': v, 1: v, (computed): v}`.
    fn map(&mut self) -> Result<Node, ExprError> {
        let at = self.current().offset;
        self.expect("{")?;
        let pairs = self.separated("}", Parser::pair)?;
        Node::new(NodeKind::Map(pairs), at)
    }

    fn pair(&mut self) -> Result<(Node, Node), ExprError> {
        let token = self.current().clone();
        let key = match token.kind {
            Kind::Number(text) | Kind::Str(text) | Kind::Ident(text) => {
                self.advance();
                Node::new(NodeKind::Str(text), token.offset)?
            }
            Kind::Op("(") => self.expression(0)?,
            _ => {
                return Err(self.error_at(
                    token.offset,
                    format!(
                        "a map key must be a quoted string, a number, a name, or an expression in parentheses (found {})",
                        token.describe()
                    ),
                ));
            }
        };
        self.expect(":")?;
        Ok((key, self.expression(0)?))
    }

    /// Items separated by commas (a trailing one allowed) up to `close`,
    /// which it consumes.
    fn separated<T>(&mut self, close: &str, mut item: impl FnMut(&mut Parser) -> Result<T, ExprError>) -> Result<Vec<T>, ExprError> {
        let mut items = Vec::new();
        while !self.current().is(close) {
            if !items.is_empty() {
                self.expect(",")?;
                if self.current().is(close) {
                    break;
                }
            }
            items.push(item(self)?);
        }
        self.expect(close)?;
        Ok(items)
    }

    /// Member access, indexes, slices and method calls after a primary.
    fn postfix(&mut self, mut node: Node) -> Result<Node, ExprError> {
        loop {
            let token = self.current().clone();
            let optional = token.is("?.");
            if token.is(".") || optional {
                self.advance();
                if optional && self.current().is("[") {
                    node = self.index(node, true)?;
                    continue;
                }
                let name_token = self.current().clone();
                let name = match name_token.kind {
                    Kind::Ident(n) => n,
                    Kind::Op(o) if o.chars().all(char::is_alphabetic) => o.to_string(),
                    _ => return Err(self.error_at(name_token.offset, "expected name")),
                };
                self.advance();
                node = if self.current().is("(") {
                    let Some(&(_, arity)) = METHODS.iter().find(|(n, _)| *n == name) else {
                        return Err(unsupported(format!("the method {name}")));
                    };
                    let args = self.arguments()?;
                    check_arity(&name, args.len(), arity, arity, name_token.offset)?;
                    Node::new(NodeKind::Method { obj: boxed(node), name, args, optional }, name_token.offset)?
                } else {
                    let key = Node::new(NodeKind::Str(name), name_token.offset)?;
                    Node::new(NodeKind::Member { obj: boxed(node), key: boxed(key), optional }, name_token.offset)?
                };
            } else if token.is("[") {
                node = self.index(node, false)?;
            } else {
                return Ok(node);
            }
        }
    }

    /// `a[k]`, `a[from:to]`, `a[:to]`, `a[from:]`.
    fn index(&mut self, node: Node, optional: bool) -> Result<Node, ExprError> {
        let at = self.current().offset;
        self.expect("[")?;
        let from = if self.current().is(":") { None } else { Some(self.expression(0)?) };
        if self.current().is(":") {
            self.advance();
            let to = if self.current().is("]") { None } else { Some(boxed(self.expression(0)?)) };
            self.expect("]")?;
            return Node::new(NodeKind::Slice { obj: boxed(node), from: from.map(boxed), to }, at);
        }
        self.expect("]")?;
        // `from` is present: a missing one is followed by `:`, handled above.
        let key = from.ok_or_else(|| self.error_at(at, "expected an index"))?;
        Node::new(NodeKind::Member { obj: boxed(node), key: boxed(key), optional }, at)
    }
}

fn check_arity(name: &str, got: usize, min: usize, max: usize, at: usize) -> Result<(), ExprError> {
    let message = if got < min {
        format!("not enough arguments to call {name} (expected {min}, got {got})")
    } else if got > max {
        format!("too many arguments to call {name} (expected {max}, got {got})")
    } else {
        return Ok(());
    };
    Err(ExprError::Parse { offset: at, message })
}

fn binary_node(op: &str, left: Node, right: Node, at: usize) -> Result<Node, ExprError> {
    let (l, r) = (boxed(left), boxed(right));
    let kind = match op {
        "and" | "&&" => NodeKind::And(l, r),
        "or" | "||" => NodeKind::Or(l, r),
        "??" => NodeKind::Coalesce(l, r),
        "matches" => match &r.kind {
            NodeKind::Str(pattern) => {
                let regex = RegexBuilder::new(pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| ExprError::Parse { offset: r.at, message: format!("invalid regular expression: {e}") })?;
                NodeKind::MatchesLiteral(l, Box::new(regex))
            }
            _ => NodeKind::Binary(BinOp::Matches, l, r),
        },
        _ => {
            let bin = match op {
                "+" => BinOp::Add,
                "-" => BinOp::Sub,
                "*" => BinOp::Mul,
                "/" => BinOp::Div,
                "%" => BinOp::Mod,
                "**" | "^" => BinOp::Pow,
                "==" => BinOp::Eq,
                "!=" => BinOp::Ne,
                "<" => BinOp::Lt,
                "<=" => BinOp::Le,
                ">" => BinOp::Gt,
                ">=" => BinOp::Ge,
                "in" => BinOp::In,
                "contains" => BinOp::Contains,
                "startsWith" => BinOp::StartsWith,
                "endsWith" => BinOp::EndsWith,
                other => return Err(ExprError::Parse { offset: at, message: format!("unknown operator {other}") }),
            };
            NodeKind::Binary(bin, l, r)
        }
    };
    Node::new(kind, at)
}

/// A number literal as expr reads it: `_` separators, `0x`/`0o`/`0b`
/// integers, floats with `.` or an exponent, decimal integers.
fn number(text: &str) -> Result<NodeKind, String> {
    let clean = text.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)].into_iter().find(|(p, _)| lower.starts_with(p));
    if let Some((prefix, radix)) = radix {
        return i64::from_str_radix(&lower[prefix.len()..], radix)
            .map(NodeKind::Int)
            .map_err(|e| format!("invalid integer literal {text}: {e}"));
    }
    if lower.contains(['.', 'e']) {
        return match lower.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(NodeKind::Float(f)),
            Ok(_) => Err(format!("float literal {text} is too large")),
            Err(_) => Err(format!("invalid float literal {text}")),
        };
    }
    clean.parse::<i64>().map(NodeKind::Int).map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow => format!("integer literal {text} is too large"),
        _ => format!("invalid integer literal {text}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n: &Node) -> String {
        match &n.kind {
            NodeKind::Int(i) => i.to_string(),
            NodeKind::Var(v) => v.clone(),
            NodeKind::Str(s) => format!("'{s}'"),
            NodeKind::Bool(b) => b.to_string(),
            NodeKind::Unary(op, a) => format!("({op:?} {})", shape(a)),
            NodeKind::Binary(op, a, b) => format!("({} {} {})", shape(a), op.symbol(), shape(b)),
            NodeKind::And(a, b) => format!("({} and {})", shape(a), shape(b)),
            NodeKind::Or(a, b) => format!("({} or {})", shape(a), shape(b)),
            NodeKind::Coalesce(a, b) => format!("({} ?? {})", shape(a), shape(b)),
            NodeKind::Cond(c, a, b) => format!("({} ? {} : {})", shape(c), shape(a), shape(b)),
            NodeKind::Member { obj, key, optional } => {
                format!("{}{}[{}]", shape(obj), if *optional { "?." } else { "" }, shape(key))
            }
            other => format!("{other:?}"),
        }
    }

    fn parsed(src: &str) -> String {
        shape(&parse(src).unwrap())
    }

    #[test]
    fn precedence_follows_expr() {
        assert_eq!(parsed("1 + 2 * 3"), "(1 + (2 * 3))");
        assert_eq!(parsed("2 ** 3 ** 2"), "(2 ** (3 ** 2))");
        assert_eq!(parsed("a or b and c"), "(a or (b and c))");
        assert_eq!(parsed("!a == b"), "((Not a) == b)");
        assert_eq!(parsed("not a in b"), "((Not a) in b)");
        assert_eq!(parsed("a not in b"), "(Not (a in b))");
        assert_eq!(parsed("-a ** 2"), "(Neg (a ** 2))");
        assert_eq!(parsed("a + b ?? c"), "(a + (b ?? c))");
        assert_eq!(parsed("1 < 2 < 3"), "((1 < 2) and (2 < 3))");
        assert_eq!(parsed("a ? b : c ? 1 : 2"), "(a ? b : (c ? 1 : 2))");
        assert_eq!(parsed("a && b || c"), "((a and b) or c)");
        assert_eq!(parsed("a?.b.c['d']"), "a?.['b']['c']['d']");
    }

    #[test]
    fn refuses_what_is_not_evaluated() {
        for (src, what) in [
            ("a | upper()", "pipe"),
            ("1..3", "ranges"),
            ("let x = 1; x", "let"),
            ("toJSON(a)", "toJSON"),
            ("reduce(a, #acc + #)", "reduce"),
            ("t.Month()", "Month"),
            ("time.Sleep(1)", "time.Sleep"),
            ("time", "time namespace"),
            ("map(a, #acc)", "#acc"),
        ] {
            match parse(src) {
                Err(ExprError::Unsupported(m)) => assert!(m.contains(what), "{src}: {m}"),
                other => panic!("{src}: {other:?}"),
            }
        }
    }

    #[test]
    fn syntax_errors_name_the_place() {
        for (src, offset, words) in [
            ("a ==", 4, "unexpected end"),
            ("(a", 2, "expected \")\""),
            ("a ?? b + c", 7, "cannot be mixed"),
            ("len(a, b)", 0, "too many arguments"),
            ("# > 1", 0, "outside predicate"),
            ("a not b", 6, "unexpected name b"),
            ("99999999999999999999", 0, "too large"),
            ("'a' matches '('", 12, "invalid regular expression"),
            ("a b", 2, "unexpected name b"),
        ] {
            match parse(src) {
                Err(ExprError::Parse { offset: o, message }) => {
                    assert_eq!(o, offset, "{src}: {message}");
                    assert!(message.contains(words), "{src}: {message}");
                }
                other => panic!("{src}: {other:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_and_long_chains_are_bounded() {
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(matches!(parse(&deep), Err(ExprError::Parse { .. })));
        let chain = vec!["a"; 5000].join(" + ");
        assert!(matches!(parse(&chain), Err(ExprError::Parse { .. })));
        let unary = format!("{}a", "!".repeat(5000));
        assert!(matches!(parse(&unary), Err(ExprError::Parse { .. })));
        let wide = format!("[{}]", vec!["1"; 5000].join(","));
        assert!(parse(&wide).is_ok());
    }
}
