//! One Rego module compiled by regorus, alone in its own engine (two modules
//! of the same package never mix their rules, and each finding names the
//! module it came from), and evaluated with bounds: a time limit per
//! evaluation, bounded `numbers.range`, capped findings and messages.

use std::num::NonZeroU32;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::Duration;

use regorus::utils::limits::{ExecutionTimerConfig, LimitError};
use regorus::{Engine, Value};

/// How long one rule of one module may run on one object.
pub(crate) const EVAL_LIMIT: Duration = Duration::from_millis(500);

/// How many elements `numbers.range` may produce: regorus allocates the
/// whole range up front, and a typo such as `numbers.range(0, 1e12)` would
/// otherwise abort the process.
const MAX_RANGE: i64 = 100_000;

/// Findings kept per rule and object, and the length of one message.
const MAX_FINDINGS: usize = 100;
const MAX_MESSAGE: usize = 1024;

/// The rules a module may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Blocks the sync.
    Deny,
    /// Reported only.
    Warn,
}

impl Rule {
    /// The rule's name in Rego.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Deny => "deny",
            Rule::Warn => "warn",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A module that parsed and compiled.
pub(crate) struct Compiled {
    /// Prepared once; an evaluation sets the input and reads the rules.
    engine: Mutex<Engine>,
    /// A pristine copy, restored should an evaluation panic midway.
    pristine: Engine,
    /// The rules it declares, with their paths (`data.<package>.deny`).
    rules: Vec<(Rule, String)>,
}

/// What one module said about one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Said {
    pub(crate) findings: Vec<(Rule, String)>,
    /// The evaluation failed (fail closed: this blocks like a deny).
    pub(crate) error: Option<String>,
    /// The failure was the time limit: not kept in the cache, a busy
    /// machine may be the cause.
    pub(crate) timed_out: bool,
}

impl Compiled {
    /// Parses and compiles `text`, named `name` in regorus' messages. Rego
    /// v1 (`deny contains msg if`) and v0 (`deny[msg] {`) both work. The
    /// error is regorus' message, or says what the module lacks.
    pub(crate) fn compile(name: &str, text: &str) -> Result<Compiled, String> {
        let v1 = load(name, text, false);
        let mut engine = match v1 {
            Ok(e) => e,
            Err(v1_error) => match load(name, text, true) {
                Ok(e) => e,
                // The error of the syntax the module seems to be written in.
                Err(v0_error) => return Err(if looks_v1(text) { v1_error } else { v0_error }),
            },
        };
        if let Some(cycle) = engine.get_modules().first().and_then(|m| crate::recursion::function_cycle(m)) {
            return Err(format!("{name}: recursive functions ({cycle}): Rego does not allow recursion"));
        }
        let package = engine.get_policy_package_components().map_err(|e| e.to_string())?;
        let package = package.first().ok_or("no package")?;
        let mut rules = Vec::new();
        for rule in [Rule::Deny, Rule::Warn] {
            if engine.has_declared_rule_rooted_at(name, rule.as_str()).map_err(|e| e.to_string())? {
                rules.push((rule, rule_path(&package.components, rule.as_str())));
            }
        }
        if rules.is_empty() {
            return Err("the module declares neither a `deny` nor a `warn` rule: it would check nothing".into());
        }
        // Preparing finds what only shows across the module (unknown
        // functions, recursion, unsafe variables); the engine stays prepared.
        engine.set_input(Value::new_object());
        for (_, path) in &rules {
            match catch_unwind(AssertUnwindSafe(|| engine.eval_rule(path.clone()))) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.downcast_ref::<LimitError>().is_some() => {}
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err("regorus panicked compiling the module".into()),
            }
        }
        let _ = engine.take_prints();
        Ok(Compiled { pristine: engine.clone(), engine: Mutex::new(engine), rules })
    }

    /// Evaluates every rule of the module on `input`.
    pub(crate) fn evaluate(&self, input: &Value) -> Said {
        let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        engine.set_input(input.clone());
        let mut said = Said::default();
        for (rule, path) in &self.rules {
            let outcome = catch_unwind(AssertUnwindSafe(|| engine.eval_rule(path.clone())));
            // print() output goes nowhere: it could show a Secret's values.
            let _ = engine.take_prints();
            match outcome {
                Ok(Ok(value)) => said.findings.extend(messages(&value).into_iter().map(|m| (*rule, m))),
                Ok(Err(e)) => {
                    said.timed_out = e.downcast_ref::<LimitError>().is_some_and(|l| matches!(l, LimitError::TimeLimitExceeded { .. }));
                    said.error = Some(if said.timed_out {
                        format!("{rule}: evaluation stopped after {EVAL_LIMIT:?} (the time limit of one rule on one object)")
                    } else {
                        format!("{rule}: {}", truncate(&e.to_string()))
                    });
                    break;
                }
                Err(_) => {
                    *engine = self.pristine.clone();
                    said.error = Some(format!("{rule}: regorus panicked evaluating the rule"));
                    break;
                }
            }
        }
        said
    }
}

/// A fresh engine with the module loaded, bounded, with driftless' builtins.
fn load(name: &str, text: &str, v0: bool) -> Result<Engine, String> {
    shallow(text).map_err(|e| format!("{name}: {e}"))?;
    let mut engine = Engine::new();
    engine.set_rego_v0(v0);
    engine.set_execution_timer_config(ExecutionTimerConfig { limit: EVAL_LIMIT, check_interval: NonZeroU32::new(64).expect("non-zero") });
    engine.set_gather_prints(true);
    restrict(&mut engine).map_err(|e| e.to_string())?;
    engine.add_policy(name.to_string(), text.to_string()).map_err(|e| e.to_string())?;
    Ok(engine)
}

/// How deep brackets and unary minus signs may nest. regorus' parser
/// limits most expressions to 32 levels, but nested arrays and chains of
/// `-` recurse without a limit until the stack overflows (which aborts the
/// process): they are refused before the parser sees them.
const MAX_NESTING: usize = 32;

/// Refuses text nested deeper than [`MAX_NESTING`] (strings and comments
/// skipped), naming the line.
fn shallow(text: &str) -> Result<(), String> {
    let (mut depth, mut minus, mut line) = (0usize, 0usize, 1usize);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(s) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        '\n' => {
                            line += 1;
                            break;
                        }
                        _ => {}
                    }
                }
            }
            '`' => {
                for s in chars.by_ref() {
                    line += usize::from(s == '\n');
                    if s == '`' {
                        break;
                    }
                }
            }
            '#' => {
                for s in chars.by_ref() {
                    if s == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth = depth.saturating_sub(1),
            '-' => minus += 1,
            '\n' => line += 1,
            _ => {}
        }
        if !matches!(c, '-' | ' ' | '\t' | '\r' | '\n' | '(') {
            minus = 0;
        }
        if depth > MAX_NESTING || minus > MAX_NESTING {
            return Err(format!("line {line}: nested more than {MAX_NESTING} levels deep"));
        }
    }
    Ok(())
}

/// Whether `text` uses Rego v1's keywords (to pick which parser's error to show).
fn looks_v1(text: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).any(|w| matches!(w, "if" | "contains" | "rego.v1"))
}

/// Overrides the builtins that would make a verdict depend on something
/// other than the module and its input, or that allocate without bound.
/// regorus calls an extension before a builtin of the same name.
fn restrict(engine: &mut Engine) -> anyhow::Result<()> {
    engine.add_extension(
        "rand.intn".into(),
        2,
        Box::new(|_: Vec<Value>| anyhow::bail!("rand.intn is not available: a policy's verdict is cached by content and must not vary")),
    )?;
    engine.add_extension("numbers.range".into(), 2, Box::new(|args: Vec<Value>| range("numbers.range", &args[0], &args[1], None)))?;
    engine.add_extension(
        "numbers.range_step".into(),
        3,
        Box::new(|args: Vec<Value>| range("numbers.range_step", &args[0], &args[1], Some(&args[2]))),
    )?;
    Ok(())
}

/// `numbers.range` and `numbers.range_step` as OPA defines them, refusing
/// more than [`MAX_RANGE`] elements.
fn range(name: &str, from: &Value, to: &Value, step: Option<&Value>) -> anyhow::Result<Value> {
    let int = |v: &Value, what: &str| -> anyhow::Result<i64> {
        match v {
            Value::Number(n) if n.is_integer() => n.as_i64().ok_or_else(|| anyhow::anyhow!("{name}: {what} is out of range")),
            _ => anyhow::bail!("{name}: {what} must be an integer"),
        }
    };
    let (from, to) = (int(from, "the first operand")?, int(to, "the second operand")?);
    let step = match step {
        Some(s) => int(s, "the step")?,
        None => 1,
    };
    if step <= 0 {
        anyhow::bail!("{name}: the step must be a positive integer");
    }
    let count = (i128::from(to) - i128::from(from)).abs() / i128::from(step) + 1;
    if count > i128::from(MAX_RANGE) {
        anyhow::bail!("{name}: {count} elements exceed the limit of {MAX_RANGE}");
    }
    let sign = if to >= from { 1 } else { -1 };
    Ok(Value::from((0..count as i64).map(|i| Value::from(from + sign * i * step)).collect::<Vec<Value>>()))
}

/// `data.<package>.<rule>`, string components in brackets.
fn rule_path(components: &[String], rule: &str) -> String {
    let mut path = String::from("data");
    for c in components.iter().map(String::as_str).chain([rule]) {
        let ident = c.chars().next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if ident {
            path.push('.');
            path.push_str(c);
        } else {
            path.push('[');
            path.push_str(&serde_json::to_string(c).unwrap_or_default());
            path.push(']');
        }
    }
    path
}

/// The messages a `deny`/`warn` rule produced: a set or array of strings,
/// or of objects with `msg`; `true` for a boolean rule. Anything else is
/// kept as its JSON (a deny with an odd value still denies).
fn messages(value: &Value) -> Vec<String> {
    let each: Vec<&Value> = match value {
        Value::Undefined | Value::Null | Value::Bool(false) => return Vec::new(),
        Value::Set(s) => s.iter().collect(),
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.is_empty() => return Vec::new(),
        other => vec![other],
    };
    let mut out: Vec<String> = each.into_iter().take(MAX_FINDINGS).map(message).collect();
    out.sort();
    out.dedup();
    out
}

fn message(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.to_string(),
        Value::Bool(true) => "denied (the rule is true)".into(),
        Value::Object(o) => match o.get(&Value::from("msg")) {
            Some(Value::String(s)) => s.to_string(),
            _ => serde_json::to_string(v).unwrap_or_default(),
        },
        _ => serde_json::to_string(v).unwrap_or_default(),
    };
    truncate(&text)
}

fn truncate(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(text: &str, input: &str) -> Said {
        let c = Compiled::compile("t.rego", text).expect("compiles");
        c.evaluate(&Value::from_json_str(input).unwrap())
    }

    #[test]
    fn v1_and_v0_syntax_both_work() {
        let v1 = "package t\ndeny contains msg if { input.x == 1; msg := \"one\" }\nwarn contains \"w\" if input.x == 1\n";
        let v0 = "package t\ndeny[msg] { input.x == 1; msg := \"one\" }\n";
        assert_eq!(said(v1, r#"{"x":1}"#).findings, vec![(Rule::Deny, "one".into()), (Rule::Warn, "w".into())]);
        assert_eq!(said(v0, r#"{"x":1}"#).findings, vec![(Rule::Deny, "one".into())]);
        assert!(said(v0, r#"{"x":2}"#).findings.is_empty());
    }

    #[test]
    fn odd_deny_values_still_deny_and_name_themselves() {
        let objects =
            "package t\ndeny contains {\"msg\": \"with msg\"} if true\ndeny contains {\"code\": 7} if true\ndeny contains 42 if true\n";
        let found: Vec<String> = said(objects, "{}").findings.into_iter().map(|(_, m)| m).collect();
        assert_eq!(found, vec!["42", "with msg", r#"{"code":7}"#]);
        assert_eq!(said("package t\ndeny := true\n", "{}").findings, vec![(Rule::Deny, "denied (the rule is true)".into())]);
        assert!(said("package t\ndeny := false\n", "{}").findings.is_empty());
    }

    #[test]
    fn broken_modules_say_why() {
        let e = Compiled::compile("cm/bad.rego", "package t\ndeny contains msg if {").err().unwrap();
        assert!(e.contains("cm/bad.rego"), "{e}");
        let e = Compiled::compile("t.rego", "package t\nallow := true\n").err().unwrap();
        assert!(e.contains("neither a `deny` nor a `warn`"), "{e}");
        // Network, environment, clock and randomness are not there at all.
        for (name, call) in [
            ("http.send", "http.send({\"method\": \"get\", \"url\": \"http://127.0.0.1:1\"})"),
            ("opa.runtime", "opa.runtime()"),
            ("time.now_ns", "time.now_ns()"),
            ("uuid.rfc4122", "uuid.rfc4122(\"x\")"),
        ] {
            let text = format!("package t\ndeny contains msg if {{ x := {call}; msg := sprintf(\"%v\", [x]) }}\n");
            let e = Compiled::compile("t.rego", &text).err().unwrap_or_else(|| panic!("{name} compiled"));
            assert!(e.contains(name) && e.contains("t.rego:2:"), "{e}");
        }
    }

    #[test]
    fn randomness_and_huge_ranges_are_refused_at_evaluation() {
        let r = said(
            "package t\ndeny contains msg if { input.x == 1; n := rand.intn(\"x\", 10); msg := sprintf(\"%d\", [n]) }\n",
            r#"{"x":1}"#,
        );
        assert!(r.error.as_deref().is_some_and(|e| e.contains("rand.intn is not available")), "{r:?}");
        let r = said(
            "package t\ndeny contains msg if { input.x == 1; r := numbers.range(0, 1000000000000); msg := sprintf(\"%d\", [count(r)]) }\n",
            r#"{"x":1}"#,
        );
        assert!(r.error.as_deref().is_some_and(|e| e.contains("exceed the limit")), "{r:?}");
        let r = said("package t\ndeny contains msg if { r := numbers.range(3, 1); msg := sprintf(\"%v\", [r]) }\n", "{}");
        assert_eq!(r.findings, vec![(Rule::Deny, "[3, 2, 1]".into())]);
        let r = said("package t\ndeny contains msg if { r := numbers.range_step(0, 10, 5); msg := sprintf(\"%v\", [r]) }\n", "{}");
        assert_eq!(r.findings, vec![(Rule::Deny, "[0, 5, 10]".into())]);
    }

    #[test]
    fn recursion_is_refused() {
        let direct = "package t\nf(x) := y if { y := f(x) }\ndeny contains m if { m := f(1) }\n";
        let e = Compiled::compile("t.rego", direct).err().unwrap();
        assert!(e.contains("recursive functions (f -> f)"), "{e}");
        let mutual = "package t\nimport data.t as me\nf(x) := y if { y := [v | v := g(x)] }\ng(x) := y if { some y in [me.f(x)] }\ndeny contains m if { m := f(1) }\n";
        let e = Compiled::compile("t.rego", mutual).err().unwrap();
        assert!(e.contains("recursive functions (f -> g -> f)"), "{e}");
        let mocked = "package t\nf(x) := x\ng(x) := y if { y := f(x) with f as g }\ndeny contains m if { m := g(1) }\n";
        assert!(Compiled::compile("t.rego", mocked).is_err(), "recursion through `with`");
        // A local variable named like the function is no call.
        let ok = "package t\nimage(c) := image if { image := c.image }\ndeny contains m if { m := image({\"image\": \"x\"}) }\n";
        assert!(Compiled::compile("t.rego", ok).is_ok());
        // Rules that depend on themselves are caught by regorus.
        let rules = "package t\na := b\nb := a\ndeny contains m if { m := a }\n";
        assert!(Compiled::compile("t.rego", rules).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_the_parser() {
        let deep = format!("package t\ndeny contains m if {{ m := {}1{} }}\n", "[\n".repeat(10_000), "]".repeat(10_000));
        let e = Compiled::compile("t.rego", &deep).err().unwrap();
        assert!(e.contains("t.rego: line 33: nested more than 32 levels deep"), "{e}");
        let minus = format!("package t\ndeny contains m if {{ m := {}1 }}\n", "- ".repeat(10_000));
        assert!(Compiled::compile("t.rego", &minus).err().unwrap().contains("nested more than 32"));
        // Strings, raw strings and comments do not count.
        let quoted =
            format!("package t\n# {}\ndeny contains m if {{ m := \"{}\"; `{}` != m }}\n", "[".repeat(99), "[".repeat(99), "-".repeat(99));
        assert!(Compiled::compile("t.rego", &quoted).is_ok());
    }

    #[test]
    fn expensive_rules_stop_at_the_limit() {
        let slow = "package t\ndeny contains msg if {\n  n := [x | some a in numbers.range(1, 90000); some b in numbers.range(1, 90000); x := a * b; x < 0]\n  msg := sprintf(\"%d\", [count(n)])\n}\n";
        let r = said(slow, "{}");
        assert!(r.timed_out, "{r:?}");
        assert!(r.error.as_deref().is_some_and(|e| e.contains("time limit")), "{r:?}");
    }

    #[test]
    fn packages_with_string_components_are_found() {
        let r = said("package t[\"a-b\"]\ndeny contains \"x\" if true\n", "{}");
        assert_eq!(r.findings, vec![(Rule::Deny, "x".into())]);
        assert_eq!(rule_path(&["a".into(), "b c".into()], "deny"), "data.a[\"b c\"].deny");
    }
}
