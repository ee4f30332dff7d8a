//! The subset of expr-lang (github.com/expr-lang/expr) that Argo CD's
//! notification triggers use, over JSON variables. (Skeleton: the parser
//! and evaluator are being written.)

use serde_json::{Map, Value as Json};

/// A compiled expression.
#[derive(Debug, Clone)]
pub struct Program {
    source: String,
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

/// Compiles `src`.
pub fn compile(src: &str) -> Result<Program, ExprError> {
    Err(ExprError::Unsupported(format!("expressions are not evaluated yet: {src}")))
}

impl Program {
    /// The text it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the program over `env`.
    pub fn run(&self, _env: &Env) -> Result<Value, ExprError> {
        Err(ExprError::Unsupported(self.source.clone()))
    }
}

impl Value {
    /// Go's `fmt.Sprintf("%v", v)` of the value (`<nil>` for nil), as
    /// Argo CD turns a trigger's `oncePer` into a key.
    pub fn to_go_string(&self) -> String {
        String::new()
    }
}
