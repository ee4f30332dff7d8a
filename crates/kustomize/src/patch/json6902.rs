//! RFC 6902 JSON patch: add, remove, replace, move, copy, test.

use serde_json::Value;

/// Applies every operation of `ops` (a JSON array) to `doc`.
pub fn apply(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let list = ops.as_array().ok_or("a JSON 6902 patch must be a list of operations")?;
    for op in list {
        apply_op(doc, op)?;
    }
    Ok(())
}

fn str_field<'a>(op: &'a Value, f: &str) -> Result<&'a str, String> {
    op.get(f).and_then(Value::as_str).ok_or_else(|| format!("operation {op} needs a string `{f}`"))
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let kind = str_field(op, "op")?;
    let path = str_field(op, "path")?;
    match kind {
        "add" => add(doc, path, value(op)?.clone()),
        "remove" => remove(doc, path).map(|_| ()),
        "replace" => {
            let target = pointer_mut(doc, path).ok_or_else(|| format!("replace operation does not apply: doc is missing key: {path}"))?;
            *target = value(op)?.clone();
            Ok(())
        }
        "move" => {
            let from = str_field(op, "from")?;
            let v = remove(doc, from)?;
            add(doc, path, v)
        }
        "copy" => {
            let from = str_field(op, "from")?;
            let v = pointer(doc, from).cloned().ok_or_else(|| format!("copy from missing path {from}"))?;
            add(doc, path, v)
        }
        "test" => {
            let actual = pointer(doc, path);
            if actual != Some(value(op)?) {
                return Err(format!("testing value {path} failed"));
            }
            Ok(())
        }
        other => Err(format!("unknown JSON patch operation `{other}`; use add, remove, replace, move, copy or test")),
    }
}

fn value(op: &Value) -> Result<&Value, String> {
    op.get("value").ok_or_else(|| format!("operation {op} needs a `value`"))
}

fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path.strip_prefix('/').ok_or_else(|| format!("JSON pointer `{path}` must start with /"))?;
    Ok(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

fn pointer<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = doc;
    for t in tokens(path).ok()? {
        cur = match cur {
            Value::Object(m) => m.get(&t)?,
            Value::Array(a) => a.get(t.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn pointer_mut<'a>(doc: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut cur = doc;
    for t in tokens(path).ok()? {
        cur = match cur {
            Value::Object(m) => m.get_mut(&t)?,
            Value::Array(a) => a.get_mut(t.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let mut toks = tokens(path)?;
    let last = toks.pop().ok_or("cannot address the document root")?;
    let parent_path: String = toks.iter().map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1"))).collect();
    let p = pointer_mut(doc, &parent_path).ok_or_else(|| format!("add operation does not apply: doc is missing path: {path}"))?;
    Ok((p, last))
}

fn add(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = v;
        return Ok(());
    }
    let (p, last) = parent(doc, path)?;
    match p {
        Value::Object(m) => {
            m.insert(last, v);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(v);
                return Ok(());
            }
            let i: usize = last.parse().map_err(|_| format!("invalid array index `{last}` in {path}"))?;
            if i > a.len() {
                return Err(format!("add operation does not apply: index {i} out of range in {path}"));
            }
            a.insert(i, v);
            Ok(())
        }
        _ => Err(format!("add operation does not apply: {path} has no container parent")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (p, last) = parent(doc, path)?;
    match p {
        Value::Object(m) => m.remove(&last).ok_or_else(|| format!("remove operation does not apply: doc is missing key: {path}")),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| format!("invalid array index `{last}` in {path}"))?;
            if i >= a.len() {
                return Err(format!("remove operation does not apply: index {i} out of range in {path}"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("remove operation does not apply: {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ops() {
        let mut d = json!({"a": {"b": [1, 2]}, "x/y": 1});
        apply(
            &mut d,
            &json!([
                {"op": "add", "path": "/a/b/-", "value": 3},
                {"op": "add", "path": "/a/b/0", "value": 0},
                {"op": "replace", "path": "/x~1y", "value": 2},
                {"op": "copy", "from": "/a/b", "path": "/c"},
                {"op": "move", "from": "/c", "path": "/d"},
                {"op": "remove", "path": "/a/b/1"},
                {"op": "test", "path": "/x~1y", "value": 2}
            ]),
        )
        .unwrap();
        assert_eq!(d, json!({"a": {"b": [0, 2, 3]}, "x/y": 2, "d": [0, 1, 2, 3]}));
        assert!(apply(&mut d, &json!([{"op": "test", "path": "/x~1y", "value": 3}])).is_err());
    }
}
