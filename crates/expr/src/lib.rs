//! The subset of expr-lang (github.com/expr-lang/expr) that Argo CD's
//! notification triggers use, over JSON variables: a trigger's `when`
//! (`app.status.operationState.phase in ['Error', 'Failed']`) and `oncePer`
//! (`app.status.operationState?.syncResult?.revision`).
//!
//! What is evaluated: literals (numbers, quoted and raw strings, `true`,
//! `false`, `nil`, arrays, maps), expr's operators with its precedence
//! (`not`/`!`, `**`, `* / %`, `+ -`, comparisons, `in`, `contains`,
//! `startsWith`, `endsWith`, `matches`, `and`/`&&`, `or`/`||`, `??`,
//! `?:`), member access (`a.b`, nil-safe `a?.b`, `a['k']`, `a[-1]`,
//! `a[1:3]`), expr's common builtins (`len`, `lower`, `upper`, `trim`,
//! `split`, `string`, `int`, `now`, `duration`, `date`...), the predicates
//! `all`, `any`, `none`, `one`, `filter`, `map`, `count`, `sum`, `find`,
//! `findIndex` (with `#`, `#index` and `.field`), and Argo CD's
//! environment: `time.Now()`, `time.Parse(s)` (RFC 3339), `time.Hour` and
//! the other units and layouts, `strings.ReplaceAll` (and Go's `ToUpper`,
//! `ToLower`, `TrimSpace`, `HasPrefix`, `HasSuffix`, `Contains`, `Split`),
//! with the methods of `time.Time` (`Sub`, `Before`, `After`, `Equal`,
//! `Add`, `Unix`, `Format`, `IsZero`...) and `time.Duration` (`Hours`,
//! `Minutes`, `Seconds`, `Milliseconds`, `String`...).
//!
//! As in Argo CD, which compiles expressions without declaring an
//! environment, an unknown top-level name is nil at run time, a missing
//! key of a map is nil, and a field of nil is an error (`cannot fetch
//! phase from nil: app.status.operationState is nil`); Argo CD counts a
//! `when` that fails as not triggered. Argo CD's `time`, `strings`,
//! `repo` and `sync` namespaces win over variables of the same names.
//! `repo.*` and `sync.*` (which ask Argo CD's repo server) compile but
//! fail at run time with `ExprError::Unsupported`; so does anything else
//! outside the subset at compile time (pipes, `let`, `..`, other builtins
//! and predicates), naming it.
//!
//! Bounded for any input: sources up to `MAX_SOURCE_LEN` bytes, trees
//! nested at most 100 deep, regexes of at most 1 MiB compiled, strings
//! built up to 1 MiB, and a budget of steps per run; nothing panics.

mod ast;
mod builtins;
mod eval;
mod gotime;
mod lexer;
mod ops;
mod parser;
mod value;

use serde_json::{Map, Value as Json};

/// The longest source `compile` accepts (bytes).
pub const MAX_SOURCE_LEN: usize = 64 * 1024;

/// A compiled expression.
#[derive(Debug, Clone)]
pub struct Program {
    source: String,
    root: ast::Node,
}

/// What can go wrong compiling or running an expression.
#[derive(Debug, thiserror::Error)]
pub enum ExprError {
    /// The text is not an expression.
    #[error("{message} (at character {offset})")]
    Parse {
        /// Where, in characters from the start.
        offset: usize,
        /// Why.
        message: String,
    },
    /// Valid expr-lang that driftless does not evaluate.
    #[error("not supported by driftless: {0}")]
    Unsupported(String),
    /// Evaluation failed (a field of nil, a type mismatch...).
    #[error("{0}")]
    Run(String),
}

/// The variables an expression sees, and the time `time.Now()` answers.
#[derive(Debug, Clone)]
pub struct Env {
    /// Top-level variables (`app`, ...).
    pub vars: Map<String, Json>,
    /// `time.Now()`.
    pub now: jiff::Timestamp,
}

/// A value an expression produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `nil`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    List(Vec<Value>),
    /// A map.
    Map(std::collections::BTreeMap<String, Value>),
    /// A `time.Time`.
    Time(jiff::Timestamp),
    /// A `time.Duration`.
    Duration(jiff::SignedDuration),
}

/// Compiles `src`: a syntax error is `ExprError::Parse` with its place,
/// valid expr-lang outside the subset `ExprError::Unsupported`.
pub fn compile(src: &str) -> Result<Program, ExprError> {
    if src.len() > MAX_SOURCE_LEN {
        return Err(ExprError::Parse {
            offset: 0,
            message: format!("expression too long ({} bytes; at most {MAX_SOURCE_LEN})", src.len()),
        });
    }
    let root = parser::parse(src)?;
    Ok(Program { source: src.to_string(), root })
}

impl Program {
    /// The text it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the program over `env`.
    pub fn run(&self, env: &Env) -> Result<Value, ExprError> {
        eval::run(&self.root, env)
    }
}
