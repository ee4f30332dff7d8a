//! The language as expr-lang defines it, case by case: literals,
//! precedence, short-circuits, nil safety, builtins, time and duration
//! methods, Go's `%v`, and the errors for bad syntax and for what
//! driftless does not evaluate.

use driftless_expr::{Env, ExprError, Value, compile};
use serde_json::json;

fn env() -> Env {
    let vars = json!({
        "app": {
            "metadata": {"name": "guestbook", "labels": {"team": "web"}, "annotations": {"a/b": "c"}},
            "status": {"operationState": null, "health": {"status": "Healthy"}},
            "list": [1, 2.5, "x", null, true],
            "n": 7,
            "f": 2.0,
            "big": 1e21,
        },
        "flag": false,
    });
    let serde_json::Value::Object(vars) = vars else { unreachable!() };
    Env { vars, now: "2024-05-01T12:00:00Z".parse().unwrap() }
}

fn eval(src: &str) -> Result<Value, ExprError> {
    compile(src)?.run(&env())
}

/// The `%v` of the result, or `error: ...`.
fn show(src: &str) -> String {
    match eval(src) {
        Ok(v) => v.to_go_string(),
        Err(e) => format!("error: {e}"),
    }
}

fn check(cases: &[(&str, &str)]) {
    for (src, want) in cases {
        assert_eq!(show(src), *want, "{src}");
    }
}

#[test]
fn literals() {
    check(&[
        ("42", "42"),
        ("1_000_000", "1000000"),
        ("0x1F + 0o17 + 0b11", "49"),
        ("1.5", "1.5"),
        ("1e3", "1000"),
        ("2.5e-3", "0.0025"),
        ("'single' + \"double\"", "singledouble"),
        (r#""tab\tnew\nline\u00e9\x41""#, "tab\tnew\nline\u{e9}A"),
        ("`raw \\n string`", "raw \\n string"),
        ("true", "true"),
        ("nil", "<nil>"),
        ("[1, 'a', nil, [true]]", "[1 a <nil> [true]]"),
        ("{b: 1, 'a': [2], 3: 'x', ('c' + 'd'): nil}", "map[3:x a:[2] b:1 cd:<nil>]"),
        ("[1, 2,]", "[1 2]"),
        ("{}", "map[]"),
    ]);
}

#[test]
fn operators_follow_exprs_precedence() {
    check(&[
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("2 ** 3 ** 2", "512"),
        ("2 ^ 10", "1024"),
        ("-2 ** 2", "-4"),
        ("10 - 4 - 3", "3"),
        ("7 / 2", "3.5"),
        ("7 % 3", "1"),
        ("1 + 2 == 3", "true"),
        ("!true == false", "true"),
        ("not false and false", "false"),
        ("true or false and false", "true"),
        ("1 < 2 < 3", "true"),
        ("3 > 2 > 2", "false"),
        ("'a' + 'b' == 'ab'", "true"),
        ("1 == 1.0", "true"),
        ("'abc' contains 'b' and 'abc' startsWith 'a' and 'abc' endsWith 'c'", "true"),
        ("'abc' not contains 'z'", "true"),
        ("'v1.2.3' matches '^v[0-9]+\\\\.'", "true"),
        ("'x' not matches 'y'", "true"),
        ("2 in [1, 2]", "true"),
        ("'team' in app.metadata.labels", "true"),
        ("'x' not in app.metadata.labels", "true"),
        ("1 in nil", "false"),
        ("nil ?? 'default'", "default"),
        ("app.missing ?? app.metadata.name", "guestbook"),
        ("1 + (nil ?? 2)", "3"),
        ("true ? 'yes' : 'no'", "yes"),
        ("app.n > 5 ? app.n * 2 : 0", "14"),
        ("false ? 1 : true ? 2 : 3", "2"),
        ("'b' > 'a' && 'B' < 'a'", "true"),
    ]);
}

#[test]
fn and_or_and_coalesce_short_circuit() {
    // The right side would fail: it is never evaluated.
    check(&[
        ("false and app.status.operationState.phase == 'x'", "false"),
        ("true or app.status.operationState.phase == 'x'", "true"),
        ("app.status.operationState != nil && app.status.operationState.phase == 'x'", "false"),
        ("'set' ?? app.status.operationState.phase", "set"),
        ("true ? 1 : app.status.operationState.phase", "1"),
    ]);
    assert!(show("true and app.status.operationState.phase == 'x'").contains("cannot fetch phase from nil"));
    assert!(show("1 and true").starts_with("error: and needs a bool, but the expression at character 0 is int"));
    assert!(show("app.n or true").contains("or needs a bool, but app.n is int"));
    assert!(show("nil ? 1 : 2").contains("the condition of ?: needs a bool"));
}

#[test]
fn member_access_and_nil_safety() {
    check(&[
        ("app.metadata.name", "guestbook"),
        ("app['metadata']['name']", "guestbook"),
        ("app.metadata.annotations['a/b']", "c"),
        ("app.metadata.missing", "<nil>"),
        ("unknownVariable", "<nil>"),
        ("unknownVariable == nil", "true"),
        ("app.status.operationState?.phase", "<nil>"),
        ("app.status.operationState?.syncResult.revision", "<nil>"),
        ("app.status.operationState?.syncResult?.revision", "<nil>"),
        ("unknownVariable?.a?.b", "<nil>"),
        ("app?.metadata?.name", "guestbook"),
        ("app.list[0]", "1"),
        ("app.list[-1]", "true"),
        ("app.list[1:3]", "[2.5 x]"),
        ("app.list[:2]", "[1 2.5]"),
        ("app.list[3:]", "[<nil> true]"),
        ("app.list[-2:]", "[<nil> true]"),
        ("app.list[4:1]", "[]"),
        ("app.metadata.name[1:4]", "ues"),
        ("app.list[1.9]", "2.5"),
        ("app.metadata?.['labels'].team", "web"),
    ]);
    let err = show("app.status.operationState.phase");
    assert_eq!(err, "error: cannot fetch phase from nil: app.status.operationState is nil (at character 26)");
    assert_eq!(show("app.list[5]"), "error: index out of range: 5 (array length is 5): app.list is a array (at character 8)");
    assert!(show("app.metadata.name.first").contains("cannot fetch first from string: app.metadata.name is a string"));
    assert!(show("app.list['x']").contains("cannot fetch x from array"));
    assert!(show("app.metadata.labels[1]").contains("cannot fetch 1 from map"));
    assert!(show("app.n[1:2]").contains("cannot slice int (app.n)"));
}

#[test]
fn builtins() {
    check(&[
        ("len('héllo')", "6"),
        ("len(app.list)", "5"),
        ("len(app.metadata)", "3"),
        ("lower('ABC') + upper('def')", "abcDEF"),
        ("trim('  x  ') + trim('--y--', '-')", "xy"),
        ("trimPrefix('v1.2', 'v') + trimSuffix('a.yaml', '.yaml')", "1.2a"),
        ("hasPrefix('guestbook', 'guest') && hasSuffix('guestbook', 'book')", "true"),
        ("split('a,b,c', ',')", "[a b c]"),
        ("split('ab', '')", "[a b]"),
        ("join(['a', 'b'], '-') + join(['c'])", "a-bc"),
        ("replace('a-b-c', '-', '+')", "a+b+c"),
        ("indexOf('abcabc', 'c') + lastIndexOf('abcabc', 'c')", "7"),
        ("indexOf('abc', 'z')", "-1"),
        ("string(1.5) + string(nil) + string([1, 'a'])", "1.5<nil>[1 a]"),
        ("int('42') + int(3.9) + int(1)", "46"),
        ("float('1.5') + float(1)", "2.5"),
        ("abs(-3) + abs(-1.5)", "4.5"),
        ("ceil(1.2) + floor(1.8) + round(2.5)", "6"),
        ("max(1, 3.5, 2) + min([4, 2, 8])", "5.5"),
        ("max('a', 'b')", "b"),
        ("first(app.list) + last([1, 2])", "3"),
        ("first([])", "<nil>"),
        ("keys(app.metadata.labels)", "[team]"),
        ("values({a: 1, b: 2})", "[1 2]"),
        ("type(1) + type(1.0) + type('') + type(nil) + type([]) + type({}) + type(now())", "intfloatstringnilarraymaptime.Time"),
        ("get(app.metadata.labels, 'team') + get(app.list, 2)", "webx"),
        ("get(app.list, 99)", "<nil>"),
        ("now()", "2024-05-01 12:00:00 +0000 UTC"),
        ("duration('1h30m')", "1h30m0s"),
        ("duration('1.5s').Milliseconds()", "1500"),
        ("date('2024-05-01T12:00:00+02:00')", "2024-05-01 10:00:00 +0000 UTC"),
        ("date('2024-05-01')", "2024-05-01 00:00:00 +0000 UTC"),
        ("date('2024-05-01 08:30:00')", "2024-05-01 08:30:00 +0000 UTC"),
        ("strings.ReplaceAll('a.b.c', '.', '/')", "a/b/c"),
        ("strings.ToUpper('x') + strings.ToLower('Y') + strings.TrimSpace(' z ')", "Xyz"),
        ("strings.Contains('abc', 'b') && strings.HasPrefix('abc', 'a') && strings.HasSuffix('abc', 'c')", "true"),
        ("strings.Split('a/b', '/')", "[a b]"),
    ]);
    for (src, words) in [
        ("len(nil)", "invalid argument for len (type nil)"),
        ("lower(1)", "lower expects a string, got int"),
        ("int('x')", "cannot parse \"x\" as an integer"),
        ("duration('soon')", "duration: cannot parse \"soon\""),
        ("date('tomorrow')", "date: cannot parse"),
        ("max([])", "max of an empty list"),
        ("max(1, 'a')", "cannot compare"),
        ("join([1])", "join expects a string, got int"),
        ("1 % 0", "integer divide by zero"),
        ("'a' + 1", "invalid operation: + (mismatched types string and int)"),
        ("-'a'", "invalid operation: -string"),
        ("!nil", "invalid operation: !nil"),
        ("'a' < 1", "invalid operation: < (mismatched types string and int)"),
        ("'a' in 'abc'", "operator \"in\" not defined on string"),
        ("1 in {a: 1}", "cannot use int as a key of a map"),
        ("'x' matches app.n", "matches needs a pattern string"),
        ("'x' matches ('(' + '')", "invalid regular expression"),
        ("all(app.n, # > 1)", "cannot iterate over int (app.n is int)"),
        ("all(nil, # > 1)", "cannot iterate over nil"),
        ("all([1], 1)", "the predicate must answer a bool, not int"),
        ("{(1): 2}", "a map key must be a string, not int"),
    ] {
        let got = show(src);
        assert!(got.starts_with("error: ") && got.contains(words), "{src}: {got}");
    }
}

#[test]
fn predicates() {
    check(&[
        ("all([1, 2, 3], # > 0)", "true"),
        ("all([], false)", "true"),
        ("any([1, 2, 3], {# == 2})", "true"),
        ("none([1, 2, 3], # > 5)", "true"),
        ("one([1, 2, 3], # > 2)", "true"),
        ("filter([1, 2, 3, 4], # % 2 == 0)", "[2 4]"),
        ("map([1, 2], # * 10)", "[10 20]"),
        ("map([1, 2], {#index})", "[0 1]"),
        ("count([true, false, true])", "2"),
        ("count([1, 2, 3], # >= 2)", "2"),
        ("sum([1, 2, 3.5])", "6.5"),
        ("sum([1, 2, 3], # * 2)", "12"),
        ("find([1, 2, 3], # > 1)", "2"),
        ("find([1, 2, 3], # > 5)", "<nil>"),
        ("findIndex([1, 2, 3], # == 3)", "2"),
        ("map([[1, 2], [3]], len(#))", "[2 1]"),
        ("map([[1, 2], [3]], sum(#))", "[3 3]"),
        ("all([[1, 2], [3]], {all(#, # > 0)})", "true"),
        ("filter([{n: 'a', v: 1}, {n: 'b', v: 2}], .v > 1)", "[map[n:b v:2]]"),
        ("map([{n: 'a'}], .n)", "[a]"),
    ]);
}

#[test]
fn time_and_duration_methods() {
    let t = "time.Parse('2024-05-01T10:30:15.250Z')";
    let cases = [
        (t.to_string(), "2024-05-01 10:30:15.25 +0000 UTC"),
        (format!("time.Now().Sub({t})"), "1h29m44.75s"),
        (format!("time.Now().Sub({t}).Hours()"), "1.495763888888889"),
        (format!("time.Now().Sub({t}).Minutes()"), "89.74583333333334"),
        (format!("time.Now().Sub({t}).Seconds()"), "5384.75"),
        (format!("time.Now().Sub({t}).Milliseconds()"), "5384750"),
        (format!("time.Now().Sub({t}).String()"), "1h29m44.75s"),
        (format!("{t}.Sub(time.Now()).Abs()"), "1h29m44.75s"),
        (format!("{t}.Before(time.Now()) && time.Now().After({t}) && {t}.Equal({t})"), "true"),
        (format!("{t}.Add(time.Hour * 2)"), "2024-05-01 12:30:15.25 +0000 UTC"),
        (format!("{t}.Add(-time.Minute)"), "2024-05-01 10:29:15.25 +0000 UTC"),
        (format!("{t}.Unix()"), "1714559415"),
        (format!("{t}.UnixMilli()"), "1714559415250"),
        (format!("{t}.Format(time.RFC3339)"), "2024-05-01T10:30:15Z"),
        (format!("{t}.Format(time.RFC3339Nano)"), "2024-05-01T10:30:15.25Z"),
        (format!("{t}.Format('Jan 2, 2006 at 3:04pm (MST)')"), "May 1, 2024 at 10:30am (UTC)"),
        (format!("{t}.Format('Monday 02/01/06 15h04')"), "Wednesday 01/05/24 10h30"),
        (format!("{t}.IsZero()"), "false"),
        (format!("{t}.Year() * 10000 + {t}.Day() * 100 + {t}.Hour()"), "20240110"),
        (format!("{t} < time.Now() && {t} == {t}"), "true"),
        (format!("time.Now() - {t}"), "1h29m44.75s"),
        (format!("{t} + duration('30m')"), "2024-05-01 11:00:15.25 +0000 UTC"),
        (format!("time.Now() - {t} > duration('1h')"), "true"),
        ("time.Parse('2024-05-01T12:00:00+02:00')".into(), "2024-05-01 10:00:00 +0000 UTC"),
        (
            "time.Hour + time.Minute * 2 + time.Second / 2".into(),
            "error: invalid operation: / (mismatched types time.Duration and int) (at character 42)",
        ),
        ("time.Hour * 1.5".into(), "1h30m0s"),
        ("time.Hour / time.Minute".into(), "60"),
        ("time.Millisecond * 1500".into(), "1.5s"),
        ("time.Hour > time.Minute".into(), "true"),
        ("[time.Second, time.Nanosecond]".into(), "[1s 1ns]"),
    ];
    for (src, want) in cases {
        assert_eq!(show(&src), want, "{src}");
    }
    for (src, words) in [
        ("time.Parse(nil)", "time.Parse expects a string, got nil"),
        ("time.Parse('2024-05-01')", "time.Parse: cannot parse \"2024-05-01\" as an RFC 3339 time"),
        ("time.Now().Sub('x')", "Sub expects a time.Time argument, got string"),
        ("time.Now().Add(1)", "Add expects a time.Duration argument, got int"),
        ("time.Now().Hours()", "time.Time has no method Hours"),
        ("time.Hour.Unix()", "time.Duration has no method Unix"),
        ("app.metadata.Before(time.Now())", "map has no method Before"),
        ("app.status.operationState.Unix()", "nil has no method Unix: app.status.operationState is nil"),
        ("time.Parse('9999-12-30T00:00:00Z').Add(time.Hour * 24)", "time out of range"),
    ] {
        let got = show(src);
        assert!(got.starts_with("error: ") && got.contains(words), "{src}: {got}");
    }
}

#[test]
fn go_strings_of_values() {
    check(&[
        ("nil", "<nil>"),
        ("true", "true"),
        ("-12", "-12"),
        ("1.0", "1"),
        ("0.1 + 0.2", "0.30000000000000004"),
        ("app.big", "1e+21"),
        ("1000000.0", "1e+06"),
        ("app.f", "2"),
        ("'text'", "text"),
        ("app.list", "[1 2.5 x <nil> true]"),
        ("{z: 1, a: {c: [1, 2], b: nil}}", "map[a:map[b:<nil> c:[1 2]] z:1]"),
        ("[]", "[]"),
        ("time.Parse('2024-01-02T03:04:05Z')", "2024-01-02 03:04:05 +0000 UTC"),
        ("duration('1h2m3s')", "1h2m3s"),
        ("duration('0s')", "0s"),
        ("duration('-90s')", "-1m30s"),
    ]);
    let v = eval("{a: [1, 2.5, time.Hour]}").unwrap();
    let Value::Map(m) = &v else { panic!("{v:?}") };
    assert_eq!(m["a"], Value::List(vec![Value::Int(1), Value::Float(2.5), Value::Duration(jiff::SignedDuration::from_hours(1))]));
    assert_eq!(eval("app.flag == nil && flag == false").unwrap().as_bool(), Some(true));
    assert_eq!(eval("1").unwrap().as_bool(), None);
}

#[test]
fn syntax_errors_say_where() {
    for (src, offset, words) in [
        ("", 0, "unexpected end of expression"),
        ("app.", 4, "expected name"),
        ("a ==", 4, "unexpected end of expression"),
        ("(1 + 2", 6, "expected \")\""),
        ("[1, 2", 5, "expected \",\""),
        ("'open", 0, "literal not terminated"),
        ("a ? b", 5, "expected \":\""),
        ("1 +* 2", 3, "unexpected \"*\""),
        ("a.b c", 4, "unexpected name c"),
        ("len()", 0, "not enough arguments to call len"),
        ("time.Parse('a', 'b')", 0, "too many arguments to call time.Parse"),
        ("a ?? b || c", 7, "cannot be mixed"),
        ("{a 1}", 3, "expected \":\""),
        ("{[1]: 2}", 1, "a map key must be"),
        ("x == 1 ~ 2", 7, "unexpected character '~'"),
        ("filter(a)", 0, "filter expects a list and a predicate"),
        ("#", 0, "cannot use pointer accessor outside predicate"),
        ("'é' + 0x", 6, "invalid integer literal 0x"),
        ("1e999", 0, "too large"),
        ("app.metadata.name.Before(", 25, "unexpected end of expression"),
    ] {
        match compile(src) {
            Err(ExprError::Parse { offset: o, message }) => {
                assert_eq!(o, offset, "{src}: {message}");
                assert!(message.contains(words), "{src}: {message}");
                let shown = ExprError::Parse { offset: o, message: message.clone() }.to_string();
                assert!(shown.ends_with(&format!("(at character {o})")), "{shown}");
            }
            other => panic!("{src}: {other:?}"),
        }
    }
}

#[test]
fn what_driftless_does_not_evaluate_is_named() {
    for (src, words) in [
        ("app.list | filter(# > 1)", "the pipe operator |"),
        ("1..5", "ranges (..)"),
        ("let x = 1; x + 1", "variable declarations (let)"),
        ("toJSON(app)", "the function toJSON"),
        ("myFunc(1)", "the function myFunc"),
        ("sortBy(app.list, #)", "the function sortBy"),
        ("reduce(app.list, #acc + #, 0)", "the function reduce"),
        ("time.Now().Month()", "the method Month"),
        ("time.Since(x)", "the function time.Since"),
        ("strings.Repeat('a', 3)", "the function strings.Repeat"),
        ("time.Parse", "time.Parse as a value"),
        ("strings", "the strings namespace as a value"),
        ("::len(1)", "the :: operator"),
    ] {
        match compile(src) {
            Err(ExprError::Unsupported(m)) => {
                assert!(m.contains(words), "{src}: {m}");
                assert!(ExprError::Unsupported(m).to_string().starts_with("not supported by driftless: "));
            }
            other => panic!("{src}: {other:?}"),
        }
    }
    match compile("sync.GetInfoItem(app, 'x')").unwrap().run(&env()) {
        Err(ExprError::Unsupported(m)) => assert!(m.contains("sync.GetInfoItem"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn programs_are_reusable_and_keep_their_source() {
    let program = compile("app.n + 1").unwrap();
    assert_eq!(program.source(), "app.n + 1");
    assert_eq!(program.run(&env()).unwrap(), Value::Int(8));
    assert_eq!(program.clone().run(&env()).unwrap(), Value::Int(8));
    let empty = Env { vars: serde_json::Map::new(), now: jiff::Timestamp::UNIX_EPOCH };
    assert!(program.run(&empty).unwrap_err().to_string().contains("cannot fetch n from nil: app is nil"));
    fn shareable<T: Send + Sync>(_: &T) {}
    shareable(&program);
}
