//! Finds functions of a module that call themselves, directly or through
//! others. Rego forbids recursion, but regorus only catches it for rules at
//! run time: a recursive function would recurse until the stack overflows,
//! which aborts the process. Cycles through a rule are left to regorus (it
//! reports them when the rule is met a second time).

use std::collections::{BTreeMap, BTreeSet};

use regorus::unstable::{Expr, Literal, Module, Query, Rule, RuleHead};

/// The first cycle among the module's functions, as `f -> g -> f`.
pub(crate) fn function_cycle(module: &Module) -> Option<String> {
    let package = path(&module.package.refr).unwrap_or_default();
    let local = format!("data.{package}.");
    // import data.x.y as z: `z.f` means `data.x.y.f`.
    let aliases: BTreeMap<String, String> = module
        .imports
        .iter()
        .filter_map(|i| {
            let target = path(&i.refr)?;
            let alias =
                i.r#as.as_ref().map(|a| a.text().to_string()).unwrap_or_else(|| target.rsplit('.').next().unwrap_or_default().into());
            Some((alias, target))
        })
        .collect();
    let resolve = |name: String| -> String {
        let (first, rest) = name.split_once('.').unwrap_or((&name, ""));
        let full = match aliases.get(first) {
            Some(target) if rest.is_empty() => target.clone(),
            Some(target) => format!("{target}.{rest}"),
            None => name.clone(),
        };
        full.strip_prefix(&local).map(String::from).unwrap_or(full)
    };

    let mut calls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in &module.policy {
        let Rule::Spec { head: RuleHead::Func { refr, args, assign, .. }, bodies, .. } = rule.as_ref() else { continue };
        let Some(name) = path(refr) else { continue };
        let mut called = Vec::new();
        for a in args {
            expr_calls(a, &mut called);
        }
        for a in assign.iter().chain(bodies.iter().filter_map(|b| b.assign.as_ref())) {
            expr_calls(&a.value, &mut called);
        }
        for b in bodies {
            query_calls(&b.query, &mut called);
        }
        calls.entry(name).or_default().extend(called.into_iter().map(&resolve));
    }
    // Depth-first search; `on_path` holds the functions being explored.
    let mut done = BTreeSet::new();
    for start in calls.keys() {
        let mut on_path: Vec<(&String, Vec<&String>)> = Vec::new();
        if done.contains(start) {
            continue;
        }
        on_path.push((start, calls[start].iter().filter(|c| calls.contains_key(*c)).collect()));
        while let Some((_, next)) = on_path.last_mut() {
            let Some(callee) = next.pop() else {
                let (finished, _) = on_path.pop().expect("not empty");
                done.insert(finished.clone());
                continue;
            };
            if let Some(at) = on_path.iter().position(|(f, _)| *f == callee) {
                let mut cycle: Vec<&str> = on_path[at..].iter().map(|(f, _)| f.as_str()).collect();
                cycle.push(callee);
                return Some(cycle.join(" -> "));
            }
            if !done.contains(callee) {
                on_path.push((callee, calls[callee].iter().filter(|c| calls.contains_key(*c)).collect()));
            }
        }
    }
    None
}

/// `a.b.c` for a reference made of a variable and fields, else None.
fn path(e: &Expr) -> Option<String> {
    match e {
        Expr::Var { span, .. } => Some(span.text().to_string()),
        Expr::RefDot { refr, field, .. } => Some(format!("{}.{}", path(refr)?, field.0.text())),
        Expr::RefBrack { refr, index, .. } => match index.as_ref() {
            Expr::String { value, .. } => Some(format!("{}.{}", path(refr)?, value.as_string().ok()?)),
            _ => None,
        },
        _ => None,
    }
}

fn query_calls(q: &Query, out: &mut Vec<String>) {
    for stmt in &q.stmts {
        match &stmt.literal {
            Literal::SomeVars { .. } => {}
            Literal::SomeIn { key, value, collection, .. } => {
                for e in key.iter().chain([value, collection]) {
                    expr_calls(e, out);
                }
            }
            Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => expr_calls(expr, out),
            Literal::Every { domain, query, .. } => {
                expr_calls(domain, out);
                query_calls(query, out);
            }
        }
        // `with f as g` makes calls of f calls of g.
        for w in &stmt.with_mods {
            expr_calls(&w.refr, out);
            expr_calls(&w.r#as, out);
            out.extend(path(&w.r#as));
        }
    }
}

fn expr_calls(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Call { fcn, params, .. } => {
            out.extend(path(fcn));
            for p in params {
                expr_calls(p, out);
            }
        }
        Expr::String { .. } | Expr::RawString { .. } | Expr::Number { .. } | Expr::Bool { .. } | Expr::Null { .. } | Expr::Var { .. } => {}
        Expr::Array { items, .. } | Expr::Set { items, .. } => items.iter().for_each(|i| expr_calls(i, out)),
        Expr::Object { fields, .. } => {
            for (_, k, v) in fields {
                expr_calls(k, out);
                expr_calls(v, out);
            }
        }
        Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
            expr_calls(term, out);
            query_calls(query, out);
        }
        Expr::ObjectCompr { key, value, query, .. } => {
            expr_calls(key, out);
            expr_calls(value, out);
            query_calls(query, out);
        }
        Expr::UnaryExpr { expr, .. } => expr_calls(expr, out),
        Expr::RefDot { refr, .. } => expr_calls(refr, out),
        Expr::RefBrack { refr, index, .. } => {
            expr_calls(refr, out);
            expr_calls(index, out);
        }
        Expr::BinExpr { lhs, rhs, .. }
        | Expr::BoolExpr { lhs, rhs, .. }
        | Expr::ArithExpr { lhs, rhs, .. }
        | Expr::AssignExpr { lhs, rhs, .. } => {
            expr_calls(lhs, out);
            expr_calls(rhs, out);
        }
        Expr::Membership { key, value, collection, .. } => {
            for e in key.iter().chain([value, collection]) {
                expr_calls(e, out);
            }
        }
        // Variants of regorus features driftless does not enable.
        #[allow(unreachable_patterns)]
        _ => {}
    }
}
