//! Hostile input: many thousands of random token soups, garbage text,
//! mutated catalog triggers and generated expressions compile and run
//! without panicking; deep nesting, long chains, huge numbers and costly
//! evaluations end in errors, not in a blown stack or a run that never
//! ends.

use driftless_expr::{Env, ExprError, MAX_SOURCE_LEN, compile};
use serde_json::json;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// An environment whose app lists `resources` resources.
fn env_with(resources: usize) -> Env {
    let resources: Vec<_> = (0..resources)
        .map(|i| json!({"kind": if i % 3 == 0 { "Service" } else { "Deployment" }, "name": format!("r{i}"), "health": {"status": "Healthy"}}))
        .collect();
    let vars = json!({
        "app": {
            "metadata": {"name": "guestbook", "annotations": {"a/b": "c"}, "deletionTimestamp": null},
            "status": {
                "operationState": {"phase": "Succeeded", "startedAt": "2024-05-01T12:00:00Z", "syncResult": {"revision": "abc"}},
                "health": {"status": "Healthy", "lastTransitionTime": "2024-05-01T12:01:00Z"},
                "resources": resources,
            },
            "big": "x".repeat(100_000),
            "n": 9_223_372_036_854_775_807i64,
            "f": 1.5,
        },
    });
    let serde_json::Value::Object(vars) = vars else { unreachable!() };
    Env { vars, now: "2024-05-01T12:10:00Z".parse().unwrap() }
}

fn env() -> Env {
    env_with(20)
}

/// Compiles and runs `src`; any outcome but a panic is fine.
fn exercise(src: &str, env: &Env) -> Result<(), ExprError> {
    compile(src)?.run(env).map(|_| ())
}

const TOKENS: &[&str] = &[
    "app",
    ".",
    "?.",
    "metadata",
    "status",
    "operationState",
    "phase",
    "name",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    ",",
    ":",
    "?",
    "??",
    "'Succeeded'",
    "\"x\"",
    "`raw`",
    "0",
    "1",
    "-1",
    "1.5",
    "1e308",
    "1e-308",
    "9223372036854775807",
    "9223372036854775808",
    "0x7FFFFFFFFFFFFFFF",
    "0b101",
    "0o17",
    "1_000",
    "true",
    "false",
    "nil",
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "^",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "!",
    "not",
    "and",
    "or",
    "&&",
    "||",
    "in",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "'a+'",
    "'(a*)*b'",
    "#",
    "#index",
    "..",
    "|",
    "let",
    "=",
    ";",
    "::",
    "len",
    "all",
    "any",
    "none",
    "one",
    "filter",
    "map",
    "count",
    "sum",
    "find",
    "findIndex",
    "reduce",
    "time",
    "Now",
    "Parse",
    "Sub",
    "Minutes",
    "Before",
    "Format",
    "strings",
    "ReplaceAll",
    "repo",
    "sync",
    "now",
    "duration",
    "date",
    "'1h'",
    "'2024-05-01T12:00:00Z'",
    "upper",
    "split",
    "join",
    "max",
    "min",
    "int",
    "float",
    "string",
    "get",
    "keys",
    "big",
    "n",
    "f",
    "resources",
    "é",
    "日本",
    "🦀",
    "\u{0}",
    "\\",
    "'\\u",
    "'\\x4",
    "/*",
    "*/",
    "//",
    "\n",
    " ",
];

#[test]
fn random_token_soups_never_panic() {
    let env = env();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut compiled = 0;
    for _ in 0..30_000 {
        let len = 1 + rng.below(24);
        let src: Vec<&str> = (0..len).map(|_| rng.pick(TOKENS)).collect();
        let joined = if rng.below(2) == 0 { src.join(" ") } else { src.concat() };
        if compile(&joined).is_ok() {
            compiled += 1;
        }
        let _ = exercise(&joined, &env);
    }
    // The soups reach the evaluator too, not only the parser's errors.
    assert!(compiled > 300, "only {compiled} soups compiled");
}

#[test]
fn garbage_text_never_panics() {
    let env = env();
    let mut rng = Rng(42);
    let alphabet: Vec<char> = "abcxyz_$019.,:;?!#|&*/%^+-=<>()[]{}'\"`\\ \t\né日🦀\u{0}\u{202e}\u{fffd}".chars().collect();
    for _ in 0..20_000 {
        let len = rng.below(40);
        let src: String = (0..len)
            .map(|_| {
                if rng.below(20) == 0 {
                    char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('x')
                } else {
                    alphabet[rng.below(alphabet.len())]
                }
            })
            .collect();
        let _ = exercise(&src, &env);
    }
}

#[test]
fn mutated_catalog_triggers_never_panic() {
    let env = env();
    let seeds = [
        "app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy' and !time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.finishedAt))",
        "time.Now().Sub(time.Parse(app.status.operationState.startedAt)).Minutes() >= 5",
        "app.status.operationState?.syncResult?.revision",
        "app.metadata.annotations['a/b'] != nil && any(app.status.resources, {.kind == 'Service' and #index > 2})",
        "filter(app.status.resources, .name matches '^r[0-9]+$')[0:3] ?? [] ",
    ];
    let mut rng = Rng(7);
    let pieces = ["(", ")", "[", "]", "'", "\"", ".", "?.", "??", "!", "not ", " in ", "#", "{", "}", ",", "0", "-", "nil", "é"];
    for i in 0..20_000 {
        let mut src: Vec<char> = seeds[i % seeds.len()].chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(src.len() + 1);
            match rng.below(3) {
                0 if !src.is_empty() => {
                    src.remove(at.min(src.len() - 1));
                }
                1 => {
                    for (k, c) in rng.pick(&pieces).chars().enumerate() {
                        src.insert(at + k, c);
                    }
                }
                _ => {
                    let (a, b) = (rng.below(src.len().max(1)), rng.below(src.len().max(1)));
                    if a < src.len() && b < src.len() {
                        src.swap(a, b);
                    }
                }
            }
        }
        let src: String = src.into_iter().collect();
        let _ = exercise(&src, &env);
    }
}

/// A random well-formed expression of at most `depth` levels.
fn generate(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 || rng.below(4) == 0 {
        let leaves = [
            "app.metadata.name",
            "app.status.operationState.phase",
            "app.status.operationState?.syncResult?.revision",
            "app.status.resources",
            "app.n",
            "app.f",
            "app.big",
            "app.missing",
            "1",
            "0",
            "-3",
            "2.5",
            "'Succeeded'",
            "nil",
            "true",
            "false",
            "[1, 'a', nil]",
            "{k: 1}",
            "time.Now()",
            "time.Hour",
            "duration('90s')",
            "#",
        ];
        return rng.pick(&leaves).to_string();
    }
    let d = depth - 1;
    match rng.below(12) {
        0 => format!("({} {} {})", generate(rng, d), rng.pick(&["+", "-", "*", "/", "%", "**", "??"]), generate(rng, d)),
        1 => format!(
            "({} {} {})",
            generate(rng, d),
            rng.pick(&["==", "!=", "<", ">=", "in", "not in", "contains", "matches", "startsWith"]),
            generate(rng, d)
        ),
        2 => format!("({} {} {})", generate(rng, d), rng.pick(&["and", "or"]), generate(rng, d)),
        3 => format!("({} ? {} : {})", generate(rng, d), generate(rng, d), generate(rng, d)),
        4 => format!("{}(({}))", rng.pick(&["!", "-", "not ", "+"]), generate(rng, d)),
        5 => format!(
            "({}){}",
            generate(rng, d),
            rng.pick(&[".name", "?.kind", "[0]", "[-1]", "[1:]", "['a/b']", ".Minutes()", ".Sub(time.Now())", ".String()"])
        ),
        6 => format!(
            "{}({})",
            rng.pick(&["len", "upper", "string", "int", "float", "abs", "first", "keys", "type", "trim", "time.Parse", "duration", "date"]),
            generate(rng, d)
        ),
        7 => format!(
            "{}({}, {{{}}})",
            rng.pick(&["all", "any", "none", "one", "filter", "map", "count", "sum", "find", "findIndex"]),
            generate(rng, d),
            generate(rng, d)
        ),
        8 => format!("[{}, {}]", generate(rng, d), generate(rng, d)),
        9 => format!("{{a: {}, 'b': {}}}", generate(rng, d), generate(rng, d)),
        10 => format!(
            "{}({}, {})",
            rng.pick(&["max", "min", "split", "join", "get", "hasPrefix", "indexOf", "strings.Contains"]),
            generate(rng, d),
            generate(rng, d)
        ),
        _ => format!("map(app.status.resources, {{{}}})", generate(rng, d)),
    }
}

#[test]
fn generated_expressions_evaluate_or_fail_cleanly() {
    let env = env();
    let mut rng = Rng(2024);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..15_000 {
        let depth = 1 + rng.below(6);
        let src = generate(&mut rng, depth);
        match exercise(&src, &env) {
            Ok(()) => ok += 1,
            Err(ExprError::Parse { message, .. }) if message.contains("outside predicate") => {}
            Err(ExprError::Parse { offset, message }) => panic!("{src}: generated text should parse: {message} at {offset}"),
            Err(_) => failed += 1,
        }
    }
    assert!(ok > 1_000 && failed > 1_000, "ok {ok}, failed {failed}");
}

#[test]
fn nesting_past_the_limit_is_a_parse_error_at_any_shape() {
    let env = env();
    let shapes: [(&str, &str, &str); 10] = [
        ("(", "1", ")"),
        ("[", "1", "]"),
        ("{a: ", "1", "}"),
        ("!", "true", ""),
        ("-", "1", ""),
        ("len(", "'x'", ")"),
        ("all([1], ", "true", ")"),
        ("true ? ", "1", " : 2"),
        ("(nil ?? ", "1", ")"),
        ("", "app", ".metadata"),
    ];
    for (open, leaf, close) in shapes {
        for depth in [10, 40, 99, 150, 5_000] {
            let src = format!("{}{leaf}{}", open.repeat(depth), close.repeat(depth));
            let result = exercise(&src, &env);
            if depth >= 150 {
                assert!(
                    matches!(result, Err(ExprError::Parse { ref message, .. }) if message.contains("nested too deeply")),
                    "{open}{leaf}{close} x{depth}: {result:?}"
                );
            }
        }
    }
    for op in ["+", "and", "==", "??", "in", "||", "**"] {
        let src = vec!["1"; 3_000].join(&format!(" {op} "));
        assert!(matches!(compile(&src), Err(ExprError::Parse { .. })), "{op}");
    }
}

#[test]
fn long_and_huge_inputs_are_refused_or_bounded() {
    let env = env();
    let too_long = format!("'{}'", "a".repeat(MAX_SOURCE_LEN));
    assert!(matches!(compile(&too_long), Err(ExprError::Parse { offset: 0, ref message }) if message.contains("too long")));
    let wide = format!("[{}]", vec!["app.metadata.name"; 3_000].join(","));
    assert!(exercise(&wide, &env).is_ok());
    for src in [
        "9223372036854775807 + 1",
        "-9223372036854775807 - 2",
        "9223372036854775807 * 9223372036854775807",
        "2 ** 100000",
        "1e308 * 10",
        "abs(-9223372036854775807 - 1)",
        "int(1e300)",
        "app.n + 1",
        "time.Hour * 9223372036854775807",
        "duration('2562047h47m16.854775807s') + time.Nanosecond",
    ] {
        compile(src).unwrap().run(&env).unwrap();
    }
}

#[test]
fn costly_evaluations_stop_with_an_error() {
    let env = env_with(200);
    let costly = [
        ("all(app.status.resources, all(app.status.resources, all(app.status.resources, true)))", "too costly"),
        ("map(app.status.resources, map(app.status.resources, map(app.status.resources, #)))", "too costly"),
        (&*format!("[{}]", vec!["app.status.resources"; 3_000].join(",")), "too costly"),
        (&*format!("len({})", vec!["app.big"; 20].join(" + ")), "string too long"),
        ("len(replace(app.big, 'x', app.big))", "string too long"),
        ("len(join(map(app.status.resources, app.big), ''))", "string too long"),
        (
            "upper(app.big + app.big + app.big + app.big + app.big + app.big + app.big + app.big + app.big + app.big + app.big)",
            "string too long",
        ),
    ];
    for (src, words) in costly {
        let err = compile(src).unwrap().run(&env).unwrap_err().to_string();
        assert!(err.contains(words), "{src}: {err}");
    }
    // Regexes that backtrack exponentially elsewhere run in linear time here; a huge one is refused.
    let redos = format!("'{}' matches '^(a+)+$'", "a".repeat(5_000));
    assert_eq!(compile(&redos).unwrap().run(&env).unwrap().as_bool(), Some(true));
    let huge = "'a' matches 'a{1000}{1000}'";
    assert!(matches!(compile(huge), Err(ExprError::Parse { ref message, .. }) if message.contains("invalid regular expression")));
    let dynamic = "'a' matches ('a{1000}' + '{1000}')";
    assert!(compile(dynamic).unwrap().run(&env).unwrap_err().to_string().contains("invalid regular expression"));
    // Many distinct patterns built at run time cost their compilation.
    let many = "all(app.status.resources, {.name matches ('^' + .name + '$')})";
    assert!(compile(many).unwrap().run(&env).is_ok());
}
