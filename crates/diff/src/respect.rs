//! `RespectIgnoreDifferences=true`: on sync, the fields an ignore rule names
//! keep their live values instead of being reset to Git's.

use serde_json::Value;

use crate::options::{DiffOptions, Identity};
use crate::pointer::{self, Seg};

/// `desired` with every field that a matching ignore rule names (JSON
/// pointers and jq paths, looked up in both objects) taken from `live`, or
/// dropped where live has none. Fields ignored through
/// managedFieldsManagers are left to server-side apply, which already
/// leaves other managers' fields alone.
pub fn respect_ignored(desired: &Value, live: &Value, opts: &DiffOptions) -> Value {
    let id = Identity::of(live, Some(desired));
    let mut out = desired.clone();
    for rule in opts.matching(&id) {
        let mut paths: Vec<Vec<Seg>> = rule.pointers.clone();
        for jq in &rule.jq {
            paths.extend(jq.paths(live));
            paths.extend(jq.paths(desired));
        }
        paths.sort();
        paths.dedup();
        for path in paths {
            match get(live, &path) {
                Some(v) => set(&mut out, &path, v.clone()),
                None => {
                    pointer::remove(&mut out, &path);
                }
            }
        }
    }
    out
}

fn get<'a>(doc: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |cur, seg| match (cur, seg) {
        (Value::Object(m), Seg::Key(k)) => m.get(k),
        (Value::Array(a), Seg::Index(i)) => a.get(*i),
        (Value::Array(a), Seg::Key(k)) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Sets the value at `path`, creating missing objects on the way; a path
/// through a missing array element is left alone.
fn set(doc: &mut Value, path: &[Seg], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = doc;
    for seg in parents {
        let next = match (cur, seg) {
            (Value::Object(m), Seg::Key(k)) => Some(m.entry(k.clone()).or_insert_with(|| Value::Object(Default::default()))),
            (Value::Array(a), Seg::Index(i)) => a.get_mut(*i),
            (Value::Array(a), Seg::Key(k)) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (cur, last) {
        (Value::Object(m), Seg::Key(k)) => {
            m.insert(k.clone(), value);
        }
        (Value::Array(a), Seg::Index(i)) if *i < a.len() => a[*i] = value,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IgnoreDifference;
    use serde_json::json;

    #[test]
    fn ignored_fields_keep_their_live_values() {
        let opts = DiffOptions::new(&[IgnoreDifference {
            group: Some("apps".into()),
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into(), "/metadata/labels/scaled-by".into()],
            ..Default::default()
        }])
        .unwrap();
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "n", "labels": {"scaled-by": "git"}}, "spec": {"replicas": 1, "paused": false}});
        let live =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "n"}, "spec": {"replicas": 5}});
        let out = respect_ignored(&desired, &live, &opts);
        assert_eq!(out["spec"]["replicas"], 5, "live value kept");
        assert!(out["metadata"]["labels"].get("scaled-by").is_none(), "absent in live: not forced");
        assert_eq!(out["spec"]["paused"], false, "other fields come from Git");
        let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        assert_eq!(respect_ignored(&other, &other, &opts), other, "rules of other kinds do not apply");
    }
}
