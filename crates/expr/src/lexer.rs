//! Tokens of expr-lang: numbers, strings (quoted with escapes, or raw in
//! backticks), identifiers, word operators (`and`, `in`, `matches`...) and
//! punctuation. Offsets are in characters, as `ExprError::Parse` reports them.

use crate::ExprError;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A number as written (`1_000`, `0x1F`, `1.5e3`): the parser reads it,
    /// and a map key keeps the text.
    Number(String),
    /// A string literal, unescaped.
    Str(String),
    /// A name (`app`, `true`, `nil`, `len`).
    Ident(String),
    /// An operator or bracket, word operators included.
    Op(&'static str),
    /// The end of the input.
    Eof,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub offset: usize,
}

impl Token {
    /// Whether it is the operator or bracket `op`.
    pub fn is(&self, op: &str) -> bool {
        matches!(self.kind, Kind::Op(o) if o == op)
    }

    /// How an error message shows it.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Number(n) => format!("number {n}"),
            Kind::Str(s) => format!("string {s:?}"),
            Kind::Ident(i) => format!("name {i}"),
            Kind::Op(o) => format!("{o:?}"),
            Kind::Eof => "end of expression".into(),
        }
    }
}

/// Word operators: names that are operators, not identifiers.
const WORDS: [&str; 9] = ["and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith", "let"];

/// Punctuation, the two-character operators first so that they win.
const PUNCT: [&str; 33] = [
    "!=", "==", "<=", ">=", "&&", "||", "??", "?.", "..", "**", "::", "+", "-", "*", "/", "%", "^", "!", "<", ">", "?", ":", ",", ".", "(",
    ")", "[", "]", "{", "}", "#", "|", ";",
];

/// `=` alone appears only in `let x = ...;`, which is refused later.
const ASSIGN: &str = "=";

/// Splits `src` into tokens, ending with `Eof`.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut lexer = Lexer { chars, pos: 0, tokens: Vec::new() };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    tokens: Vec<Token>,
}

fn parse_error(offset: usize, message: impl Into<String>) -> ExprError {
    ExprError::Parse { offset, message: message.into() }
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn push(&mut self, kind: Kind, offset: usize) {
        self.tokens.push(Token { kind, offset });
    }

    fn run(&mut self) -> Result<(), ExprError> {
        while let Some(c) = self.peek(0) {
            let start = self.pos;
            if c.is_whitespace() {
                self.pos += 1;
            } else if c == '/' && self.peek(1) == Some('/') {
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
            } else if c == '/' && self.peek(1) == Some('*') {
                self.block_comment()?;
            } else if c.is_ascii_digit() {
                let text = self.number();
                self.push(Kind::Number(text), start);
            } else if c == '"' || c == '\'' {
                let s = self.quoted(c)?;
                self.push(Kind::Str(s), start);
            } else if c == '`' {
                let s = self.raw()?;
                self.push(Kind::Str(s), start);
            } else if c.is_alphabetic() || c == '_' || c == '$' {
                let word: String = self.take_while(|c| c.is_alphanumeric() || c == '_' || c == '$');
                match WORDS.iter().find(|w| **w == word) {
                    Some(w) => self.push(Kind::Op(w), start),
                    None => self.push(Kind::Ident(word), start),
                }
            } else if let Some(op) = self.punct() {
                self.pos += op.chars().count();
                self.push(Kind::Op(op), start);
            } else {
                return Err(parse_error(start, format!("unexpected character {c:?}")));
            }
        }
        let end = self.pos;
        self.push(Kind::Eof, end);
        Ok(())
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek(0).filter(|c| keep(*c)) {
            out.push(c);
            self.pos += 1;
        }
        out
    }

    fn punct(&self) -> Option<&'static str> {
        let two: String = [self.peek(0), self.peek(1)].iter().flatten().collect();
        PUNCT.iter().copied().find(|p| two.starts_with(p)).or_else(|| (self.peek(0) == Some('=')).then_some(ASSIGN))
    }

    fn block_comment(&mut self) -> Result<(), ExprError> {
        let start = self.pos;
        self.pos += 2;
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some('*'), Some('/')) => {
                    self.pos += 2;
                    return Ok(());
                }
                (Some(_), _) => self.pos += 1,
                (None, _) => return Err(parse_error(start, "unclosed comment")),
            }
        }
    }

    /// Digits with `_`, hex/octal/binary prefixes, a fraction and an exponent.
    /// A `.` followed by another `.` is a range, not a fraction.
    fn number(&mut self) -> String {
        let mut text = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
        let is_prefixed = text.len() > 1 && matches!(&text[..2], "0x" | "0X" | "0o" | "0O" | "0b" | "0B");
        if !is_prefixed && self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            text.push('.');
            text.push_str(&self.take_while(|c| c.is_ascii_alphanumeric() || c == '_'));
        }
        // An exponent's sign: `1e-3`, `1.5E+2`.
        if !is_prefixed
            && (text.ends_with('e') || text.ends_with('E'))
            && matches!(self.peek(0), Some('+' | '-'))
            && self.peek(1).is_some_and(|c| c.is_ascii_digit())
        {
            text.push(self.peek(0).unwrap_or('+'));
            self.pos += 1;
            text.push_str(&self.take_while(|c| c.is_ascii_digit() || c == '_'));
        }
        text
    }

    fn raw(&mut self) -> Result<String, ExprError> {
        let start = self.pos;
        self.pos += 1;
        let s = self.take_while(|c| c != '`');
        if self.peek(0) != Some('`') {
            return Err(parse_error(start, "literal not terminated"));
        }
        self.pos += 1;
        Ok(s)
    }

    /// A string in `quote`s with Go's escapes: `\n`, `\t`, `\\`, `\'`,
    /// `\"`, `\xFF`, `\u00e9`, `\U0001F600`, `\101` (octal)...
    fn quoted(&mut self, quote: char) -> Result<String, ExprError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return Err(parse_error(start, "literal not terminated"));
            };
            self.pos += 1;
            if c == quote {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let at = self.pos - 1;
            let Some(e) = self.peek(0) else {
                return Err(parse_error(start, "literal not terminated"));
            };
            self.pos += 1;
            let simple = match e {
                'a' => Some('\u{7}'),
                'b' => Some('\u{8}'),
                'f' => Some('\u{c}'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\u{b}'),
                '\\' | '\'' | '"' | '`' => Some(e),
                _ => None,
            };
            if let Some(s) = simple {
                out.push(s);
                continue;
            }
            let (digits, radix) = match e {
                'x' => (2, 16),
                'u' => (4, 16),
                'U' => (8, 16),
                '0'..='7' => {
                    self.pos -= 1;
                    (3, 8)
                }
                _ => return Err(parse_error(at, format!("invalid escape \\{e}"))),
            };
            let code: String = (0..digits).filter_map(|i| self.peek(i)).collect();
            let value = (code.chars().count() == digits)
                .then(|| u32::from_str_radix(&code, radix).ok())
                .flatten()
                .ok_or_else(|| parse_error(at, format!("invalid escape \\{e}{code}")))?;
            self.pos += digits;
            let ch = char::from_u32(value).ok_or_else(|| parse_error(at, format!("invalid character code \\{e}{code}")))?;
            out.push(ch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Kind> {
        lex(src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn splits_operators_words_numbers_and_strings() {
        assert_eq!(
            kinds("a?.b not in ['x', \"y\\n\"] && 1.5e-3 ?? `r\\aw`"),
            vec![
                Kind::Ident("a".into()),
                Kind::Op("?."),
                Kind::Ident("b".into()),
                Kind::Op("not"),
                Kind::Op("in"),
                Kind::Op("["),
                Kind::Str("x".into()),
                Kind::Op(","),
                Kind::Str("y\n".into()),
                Kind::Op("]"),
                Kind::Op("&&"),
                Kind::Number("1.5e-3".into()),
                Kind::Op("??"),
                Kind::Str("r\\aw".into()),
                Kind::Eof,
            ]
        );
        assert_eq!(kinds("1..3"), vec![Kind::Number("1".into()), Kind::Op(".."), Kind::Number("3".into()), Kind::Eof]);
        assert_eq!(kinds("'\\u00e9\\x41\\101' // c\n /* d */"), vec![Kind::Str("éAA".into()), Kind::Eof]);
    }

    #[test]
    fn offsets_count_characters() {
        let tokens = lex("'é' == x").unwrap();
        assert_eq!(tokens[1].offset, 4);
        assert_eq!(tokens[2].offset, 7);
    }

    #[test]
    fn bad_literals_are_errors_with_offsets() {
        for (src, offset) in [("x == 'abc", 5), ("a @ b", 2), ("'\\q'", 1), ("'\\u12'", 1), ("/* x", 0), ("`x", 0)] {
            match lex(src) {
                Err(ExprError::Parse { offset: o, .. }) => assert_eq!(o, offset, "{src}"),
                other => panic!("{src}: {other:?}"),
            }
        }
    }
}
