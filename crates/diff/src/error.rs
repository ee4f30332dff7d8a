//! Errors raised while compiling [`crate::DiffOptions`].

/// Why an `ignoreDifferences` rule could not be compiled. Each variant names
/// the offending rule (its index in the list and its kind) and the bad text, so
/// the message can be shown to the user as-is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A rule without `kind`: it could never match anything, which is surely a
    /// mistake rather than an intention.
    #[error("ignoreDifferences[{index}]: kind must not be empty")]
    MissingKind {
        /// Position of the rule in the list.
        index: usize,
    },
    /// A `jsonPointers` entry that is not an RFC 6901 pointer.
    #[error("ignoreDifferences[{index}] (kind {kind}): invalid JSON pointer {pointer:?}: {reason}")]
    InvalidJsonPointer {
        /// Position of the rule in the list.
        index: usize,
        /// The rule's kind.
        kind: String,
        /// The pointer as written.
        pointer: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `jqPathExpressions` entry that does not parse or compile.
    #[error("ignoreDifferences[{index}] (kind {kind}): invalid jq path expression {expression:?}: {reason}")]
    InvalidJqExpression {
        /// Position of the rule in the list.
        index: usize,
        /// The rule's kind.
        kind: String,
        /// The expression as written.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },
}
