//! Sprig's list and dict functions.

use std::collections::BTreeMap;

use super::{Entry, Ty, as_list, need_int, string, string_list, strval, to_i64};
use crate::exec::map_of;
use crate::funcs::misc::empty;
use crate::value::{Heap, MAX_NESTING, Res, Value, fault, too_deep};

const A: Ty = Ty::Any;
const M: Ty = Ty::Map;
const S: Ty = Ty::Str;
const I: Ty = Ty::Int;

/// Lists made by `until`, `untilStep`, `seq` have at most this many elements.
const MAX_RANGE: i64 = 1 << 20;

pub(crate) const ENTRIES: &[Entry] = &[
    ("list", &[], Some(A), |h, a| h.new_list(a.to_vec())),
    ("tuple", &[], Some(A), |h, a| h.new_list(a.to_vec())),
    ("dict", &[], Some(A), dict),
    ("get", &[M, S], None, |h, a| Ok(map_ref(h, &a[0]).and_then(|m| m.get(str_of(&a[1])).cloned()).unwrap_or_else(|| Value::str("")))),
    ("set", &[M, S, A], None, |h, a| {
        let Value::Map(id) = a[0] else { return fault("assignment to entry in nil map") };
        h.charge(1)?;
        h.map_mut(id).insert(str_of(&a[1]).to_string(), a[2].clone());
        Ok(a[0].clone())
    }),
    ("unset", &[M, S], None, |h, a| {
        if let Value::Map(id) = a[0] {
            h.map_mut(id).remove(str_of(&a[1]));
        }
        Ok(a[0].clone())
    }),
    ("hasKey", &[M, S], None, |h, a| Ok(Value::Bool(map_ref(h, &a[0]).is_some_and(|m| m.contains_key(str_of(&a[1])))))),
    ("pluck", &[S], Some(M), |h, a| {
        let key = str_of(&a[0]);
        let found: Vec<Value> = a[1..].iter().filter_map(|d| map_ref(h, d).and_then(|m| m.get(key).cloned())).collect();
        h.new_list(found)
    }),
    ("keys", &[], Some(M), |h, a| {
        let keys: Vec<String> = a.iter().filter_map(|d| map_ref(h, d)).flat_map(|m| m.keys().cloned()).collect();
        string_list(h, keys)
    }),
    ("values", &[M], None, |h, a| {
        let vals: Vec<Value> = map_ref(h, &a[0]).map(|m| m.values().cloned().collect()).unwrap_or_default();
        h.new_list(vals)
    }),
    ("pick", &[M], Some(S), |h, a| pick(h, a, true)),
    ("omit", &[M], Some(S), |h, a| pick(h, a, false)),
    ("merge", &[M], Some(M), |h, a| merge(h, a, false)),
    ("mustMerge", &[M], Some(M), |h, a| merge(h, a, false)),
    ("mergeOverwrite", &[M], Some(M), |h, a| merge(h, a, true)),
    ("mustMergeOverwrite", &[M], Some(M), |h, a| merge(h, a, true)),
    ("dig", &[], Some(A), dig),
    ("append", &[A, A], None, |h, a| push(h, a, false, "push")),
    ("push", &[A, A], None, |h, a| push(h, a, false, "push")),
    ("mustAppend", &[A, A], None, |h, a| push(h, a, false, "push")),
    ("mustPush", &[A, A], None, |h, a| push(h, a, false, "push")),
    ("prepend", &[A, A], None, |h, a| push(h, a, true, "prepend")),
    ("mustPrepend", &[A, A], None, |h, a| push(h, a, true, "prepend")),
    ("first", &[A], None, |h, a| pick_one(h, &a[0], "first", |l| l.first().cloned())),
    ("mustFirst", &[A], None, |h, a| pick_one(h, &a[0], "first", |l| l.first().cloned())),
    ("last", &[A], None, |h, a| pick_one(h, &a[0], "last", |l| l.last().cloned())),
    ("mustLast", &[A], None, |h, a| pick_one(h, &a[0], "last", |l| l.last().cloned())),
    ("rest", &[A], None, |h, a| sub_list(h, &a[0], "rest", |l| l.get(1..).map(<[Value]>::to_vec))),
    ("mustRest", &[A], None, |h, a| sub_list(h, &a[0], "rest", |l| l.get(1..).map(<[Value]>::to_vec))),
    ("initial", &[A], None, |h, a| sub_list(h, &a[0], "initial", |l| l.len().checked_sub(1).map(|n| l[..n].to_vec()))),
    ("mustInitial", &[A], None, |h, a| sub_list(h, &a[0], "initial", |l| l.len().checked_sub(1).map(|n| l[..n].to_vec()))),
    ("reverse", &[A], None, |h, a| sub_list(h, &a[0], "reverse", |l| Some(l.iter().rev().cloned().collect()))),
    ("mustReverse", &[A], None, |h, a| sub_list(h, &a[0], "reverse", |l| Some(l.iter().rev().cloned().collect()))),
    ("uniq", &[A], None, |h, a| uniq(h, &a[0])),
    ("mustUniq", &[A], None, |h, a| uniq(h, &a[0])),
    ("without", &[A], Some(A), without),
    ("mustWithout", &[A], Some(A), without),
    ("has", &[A, A], None, has),
    ("mustHas", &[A, A], None, has),
    ("compact", &[A], None, compact),
    ("mustCompact", &[A], None, compact),
    ("slice", &[A], Some(A), slice),
    ("mustSlice", &[A], Some(A), slice),
    ("concat", &[], Some(A), |h, a| {
        let mut out = Vec::new();
        for l in a {
            match as_list(h, l) {
                Some(items) => out.extend(items),
                None => return fault(format!("Cannot concat type {} as list", l.type_name())),
            }
        }
        h.new_list(out)
    }),
    ("chunk", &[I, A], None, chunk),
    ("mustChunk", &[I, A], None, chunk),
    ("until", &[I], None, |h, a| {
        let n = need_int(&a[0])?;
        ints(h, 0, n, if n < 0 { -1 } else { 1 })
    }),
    ("untilStep", &[I, I, I], None, |h, a| ints(h, need_int(&a[0])?, need_int(&a[1])?, need_int(&a[2])?)),
    ("seq", &[], Some(I), seq),
    ("deepCopy", &[A], None, |h, a| h.deep_copy(&a[0], 0)),
    ("mustDeepCopy", &[A], None, |h, a| h.deep_copy(&a[0], 0)),
];

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn map_ref<'h>(h: &'h Heap, v: &Value) -> Option<&'h BTreeMap<String, Value>> {
    match v {
        Value::Map(id) => Some(h.map(*id)),
        _ => None,
    }
}

fn dict(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let mut pairs = Vec::new();
    for pair in a.chunks(2) {
        let key = strval(h, &pair[0])?;
        pairs.push((key, pair.get(1).cloned().unwrap_or_else(|| Value::str(""))));
    }
    map_of(h, pairs)
}

fn pick(h: &mut Heap, a: &[Value], keep: bool) -> Res<Value> {
    let keys: Vec<&str> = a[1..].iter().map(str_of).collect();
    let picked: Vec<(String, Value)> = map_ref(h, &a[0])
        .map(|m| m.iter().filter(|(k, _)| keys.contains(&k.as_str()) == keep).map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    map_of(h, picked)
}

/// mergo's Merge: `dst` changed in place; maps merged deeply; without `overwrite` only
/// missing or empty values are filled, with it non-empty sources win.
fn merge(h: &mut Heap, a: &[Value], overwrite: bool) -> Res<Value> {
    let Value::Map(dst) = a[0] else {
        return fault("src and dst must be of same type");
    };
    for src in &a[1..] {
        if let Value::Map(src) = src {
            merge_into(h, dst, *src, overwrite, 0)?;
        }
    }
    Ok(a[0].clone())
}

fn merge_into(h: &mut Heap, dst: usize, src: usize, overwrite: bool, depth: usize) -> Res<()> {
    if depth > MAX_NESTING {
        return Err(too_deep());
    }
    let entries: Vec<(String, Value)> = h.map(src).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, sv) in entries {
        let dv = h.map(dst).get(&k).cloned();
        match (dv, &sv) {
            (Some(Value::Map(d)), Value::Map(s)) if d != *s => merge_into(h, d, *s, overwrite, depth + 1)?,
            (Some(dv), _) => {
                if (overwrite && !empty(h, &sv)) || (empty(h, &dv) && !empty(h, &sv)) {
                    h.map_mut(dst).insert(k, sv);
                }
            }
            (None, _) => {
                h.charge(1)?;
                h.map_mut(dst).insert(k, sv);
            }
        }
    }
    Ok(())
}

/// `dig "a" "b" DEFAULT $dict`.
fn dig(h: &mut Heap, a: &[Value]) -> Res<Value> {
    if a.len() < 3 {
        return fault("dig needs at least three arguments");
    }
    let Value::Map(mut cur) = a[a.len() - 1] else {
        return fault(format!("interface conversion: interface {{}} is {}, not map[string]interface {{}}", a[a.len() - 1].type_name()));
    };
    let default = a[a.len() - 2].clone();
    let keys = &a[..a.len() - 2];
    for (i, k) in keys.iter().enumerate() {
        let Value::Str(k) = k else {
            return fault(format!("interface conversion: interface {{}} is {}, not string", k.type_name()));
        };
        let Some(step) = h.map(cur).get(&**k).cloned() else {
            return Ok(default);
        };
        if i + 1 == keys.len() {
            return Ok(step);
        }
        match step {
            Value::Map(m) => cur = m,
            other => {
                return fault(format!("interface conversion: interface {{}} is {}, not map[string]interface {{}}", other.type_name()));
            }
        }
    }
    Ok(default)
}

fn list_or_err(h: &Heap, v: &Value, what: &str) -> Res<Vec<Value>> {
    match as_list(h, v) {
        Some(l) => Ok(l),
        None => fault(format!("Cannot {what} on type {}", v.type_name())),
    }
}

fn push(h: &mut Heap, a: &[Value], front: bool, what: &str) -> Res<Value> {
    let mut l = list_or_err(h, &a[0], what)?;
    if front {
        l.insert(0, a[1].clone());
    } else {
        l.push(a[1].clone());
    }
    h.new_list(l)
}

fn pick_one(h: &mut Heap, v: &Value, what: &str, f: fn(&[Value]) -> Option<Value>) -> Res<Value> {
    let l = list_or_err(h, v, &format!("find {what}"))?;
    Ok(f(&l).unwrap_or(Value::Nil))
}

fn sub_list(h: &mut Heap, v: &Value, what: &str, f: fn(&[Value]) -> Option<Vec<Value>>) -> Res<Value> {
    let l = list_or_err(h, v, &format!("find {what}"))?;
    // An empty list gives Go's nil slice, which prints as [].
    let out = f(&l).unwrap_or_default();
    h.new_list(out)
}

fn uniq(h: &mut Heap, v: &Value) -> Res<Value> {
    let l = list_or_err(h, v, "find uniq")?;
    let mut out: Vec<Value> = Vec::new();
    for x in l {
        if !out.iter().any(|y| h.deep_equal(y, &x, 0)) {
            out.push(x);
        }
    }
    h.new_list(out)
}

fn without(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let l = list_or_err(h, &a[0], "find without")?;
    let out: Vec<Value> = l.into_iter().filter(|x| !a[1..].iter().any(|o| h.deep_equal(o, x, 0))).collect();
    h.new_list(out)
}

fn has(h: &mut Heap, a: &[Value]) -> Res<Value> {
    if a[1].is_nil() {
        return Ok(Value::Bool(false));
    }
    let l = list_or_err(h, &a[1], "find has")?;
    Ok(Value::Bool(l.iter().any(|x| h.deep_equal(x, &a[0], 0))))
}

fn compact(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let l = list_or_err(h, &a[0], "compact")?;
    let out: Vec<Value> = l.into_iter().filter(|x| !empty(h, x)).collect();
    h.new_list(out)
}

/// Sprig's slice (it replaces Go's builtin): lists only, `slice $l START [END]`.
fn slice(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let l = match as_list(h, &a[0]) {
        Some(l) => l,
        None => return fault(format!("list should be type of slice or array but {}", a[0].type_name())),
    };
    if l.is_empty() {
        return Ok(Value::Nil);
    }
    let start = a.get(1).map_or(0, to_i64);
    let end = if a.len() < 3 { l.len() as i64 } else { to_i64(&a[2]) };
    if start < 0 || end < start || end as usize > l.len() {
        return fault(format!("reflect: slice index out of range [{start}:{end}]"));
    }
    h.new_list(l[start as usize..end as usize].to_vec())
}

fn chunk(h: &mut Heap, a: &[Value]) -> Res<Value> {
    let size = need_int(&a[0])?;
    let l = list_or_err(h, &a[1], "chunk")?;
    if size <= 0 {
        return fault("runtime error: integer divide by zero");
    }
    let mut out = Vec::new();
    for c in l.chunks(size as usize) {
        out.push(h.new_list(c.to_vec())?);
    }
    h.new_list(out)
}

/// Sprig's untilStep.
fn int_range(start: i64, stop: i64, step: i64) -> Res<Vec<i64>> {
    let mut v = Vec::new();
    let ok = if stop < start { step < 0 } else { step > 0 };
    if !ok {
        return Ok(v);
    }
    let mut i = start;
    while (stop < start && i > stop) || (stop >= start && i < stop) {
        if v.len() as i64 >= MAX_RANGE {
            return Err(crate::value::Fault::Limit(format!("a range of more than {MAX_RANGE} numbers")));
        }
        v.push(i);
        i = match i.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(v)
}

fn ints(h: &mut Heap, start: i64, stop: i64, step: i64) -> Res<Value> {
    let v = int_range(start, stop, step)?.into_iter().map(Value::Int).collect();
    h.new_list(v)
}

fn seq(_: &mut Heap, a: &[Value]) -> Res<Value> {
    let p: Vec<i64> = a.iter().map(to_i64).collect();
    let nums = match p.as_slice() {
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            int_range(1, end.saturating_add(inc), inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            int_range(*start, end.saturating_add(step), step)?
        }
        [start, step, end] => {
            let inc = if end < start {
                if *step > 0 {
                    return string("");
                }
                -1
            } else {
                1
            };
            int_range(*start, end.saturating_add(inc), *step)?
        }
        _ => Vec::new(),
    };
    string(nums.iter().map(i64::to_string).collect::<Vec<_>>().join(" "))
}
