//! The rules a create of an ApplicationSet follows, shared by the API
//! (`api/applicationsets`) and the CLI (`driftless appset create`), and
//! how a set's Applications are found. Pure: no I/O.

use std::collections::BTreeMap;

use driftless_api::{Application, ApplicationSet};

/// Argo CD's `CheckInvalidGenerators`: an entry that sets no generator
/// Argo CD knows would generate nothing, silently.
pub fn check_generators(set: &ApplicationSet) -> Result<(), String> {
    match set.spec.generators.iter().position(|g| g.kinds().is_empty()) {
        Some(i) => Err(format!(
            "spec.generators[{i}]: no generator set (one of list, clusters, git, scmProvider, clusterDecisionResource, pullRequest, plugin, matrix, merge)"
        )),
        None => Ok(()),
    }
}

/// Whether `project` is a template (`{{...}}`): RBAC cannot judge it before
/// the set generates, so the API refuses to create such a set, as Argo CD
/// does.
pub fn templated(project: &str) -> bool {
    project.contains("{{")
}

/// Removes what the API server and the controller own (status,
/// resourceVersion, uid, timestamps, managed fields), which a manifest
/// exported from a cluster carries.
pub fn clear_server_fields(set: &mut ApplicationSet) {
    let meta = &mut set.metadata;
    (meta.resource_version, meta.uid, meta.creation_timestamp, meta.deletion_timestamp, meta.generation, meta.managed_fields) =
        (None, None, None, None, None, None);
    set.status = None;
}

/// Whether creating `set` over `existing` changes nothing (Argo CD's
/// idempotent create): the same spec, labels, annotations and finalizers.
pub fn unchanged(existing: &ApplicationSet, set: &ApplicationSet) -> bool {
    let (a, b) = (&existing.metadata, &set.metadata);
    let map = |m: &Option<BTreeMap<String, String>>| m.clone().unwrap_or_default();
    existing.spec == set.spec
        && map(&a.labels) == map(&b.labels)
        && map(&a.annotations) == map(&b.annotations)
        && a.finalizers.clone().unwrap_or_default() == b.finalizers.clone().unwrap_or_default()
}

/// An upsert, as Argo CD's: `set`'s spec replaces `current`'s, its labels
/// and annotations are merged in.
pub fn upsert_into(current: &mut ApplicationSet, set: &ApplicationSet) {
    current.spec = set.spec.clone();
    for (mine, theirs) in
        [(&mut current.metadata.labels, &set.metadata.labels), (&mut current.metadata.annotations, &set.metadata.annotations)]
    {
        mine.get_or_insert_with(BTreeMap::new).extend(theirs.clone().unwrap_or_default());
    }
}

/// Whether `app` is one of `set`'s: in its namespace, with an
/// ownerReference to the set's uid.
pub fn owns(set: &ApplicationSet, app: &Application) -> bool {
    let uid = set.metadata.uid.as_deref().unwrap_or_default();
    !uid.is_empty()
        && app.metadata.namespace == set.metadata.namespace
        && app.metadata.owner_references.iter().flatten().any(|o| o.uid == uid && o.kind == "ApplicationSet")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn set(value: Value) -> Result<ApplicationSet, serde_json::Error> {
        serde_json::from_value(value)
    }

    fn minimal() -> ApplicationSet {
        set(json!({ "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": { "name": "a", "namespace": "argocd", "uid": "u1", "labels": { "x": "1" }, "resourceVersion": "7" },
            "spec": { "generators": [{ "list": { "elements": [] } }], "template": { "metadata": {}, "spec": { "destination": {}, "project": "p" } } } }))
        .expect("valid")
    }

    #[test]
    fn generators_argo_cd_does_not_know_are_refused_with_their_index() {
        let mut s = minimal();
        s.spec.generators.push(serde_json::from_value(json!({ "selector": {} })).expect("valid"));
        let e = check_generators(&s).expect_err("the second entry sets no generator");
        assert!(e.starts_with("spec.generators[1]: no generator set"), "{e}");
        s.spec.generators.pop();
        assert!(check_generators(&s).is_ok());
    }

    #[test]
    fn templated_projects_are_told_apart() {
        assert!(templated("{{.project}}") && templated("team-{{env}}"));
        assert!(!templated("team") && !templated("default"));
    }

    #[test]
    fn a_create_with_the_same_spec_and_metadata_changes_nothing_and_an_upsert_merges_labels() {
        let a = minimal();
        let mut b = a.clone();
        clear_server_fields(&mut b);
        assert!(b.metadata.resource_version.is_none() && b.metadata.uid.is_none());
        assert!(unchanged(&a, &b), "server-owned fields do not count");
        b.metadata.labels = Some(BTreeMap::from([("y".to_string(), "2".to_string())]));
        b.spec.template.spec.project = "q".into();
        assert!(!unchanged(&a, &b));
        let mut current = a.clone();
        upsert_into(&mut current, &b);
        assert_eq!(current.spec.project(), "q");
        assert_eq!(current.metadata.labels.expect("labels").len(), 2, "labels are merged, not replaced");
    }

    #[test]
    fn apps_are_the_sets_by_owner_uid_and_namespace() {
        let s = minimal();
        let app = |ns: &str, uid: &str, kind: &str| -> Application {
            serde_json::from_value(json!({ "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": { "name": "x", "namespace": ns, "ownerReferences": [{ "apiVersion": "argoproj.io/v1alpha1", "kind": kind, "name": "a", "uid": uid }] },
                "spec": { "destination": {} } }))
            .expect("valid app")
        };
        assert!(owns(&s, &app("argocd", "u1", "ApplicationSet")));
        assert!(!owns(&s, &app("argocd", "u2", "ApplicationSet")));
        assert!(!owns(&s, &app("other", "u1", "ApplicationSet")));
        assert!(!owns(&s, &app("argocd", "u1", "Deployment")));
        let mut unsaved = s.clone();
        unsaved.metadata.uid = None;
        assert!(!owns(&unsaved, &app("argocd", "", "ApplicationSet")), "a set without a uid owns nothing");
    }

    /// Garbage never panics the checks a create runs before anything is
    /// written: random JSON trees either fail to parse or are judged.
    #[test]
    fn random_bodies_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let keys = ["generators", "list", "git", "matrix", "merge", "template", "spec", "project", "metadata", "name", "{{", "selector"];
        fn tree(next: &mut dyn FnMut() -> u64, keys: &[&str], depth: u32) -> Value {
            let key = |next: &mut dyn FnMut() -> u64| keys[(next() % keys.len() as u64) as usize].to_string();
            match (next() % 6, depth) {
                (0, _) | (_, 0) => json!(key(next)),
                (1, _) => json!(next() % 1000),
                (2, _) => Value::Null,
                (3, _) => Value::Array((0..next() % 3).map(|_| tree(next, keys, depth - 1)).collect()),
                _ => Value::Object((0..next() % 4).map(|_| (key(next), tree(next, keys, depth - 1))).collect()),
            }
        }
        let (mut parsed, mut judged) = (0, 0);
        for i in 0..5000 {
            let mut body = json!({ "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": { "name": "a" } });
            // Half with a valid template, so that random generators are judged.
            body["spec"] = if i % 2 == 0 {
                tree(&mut next, &keys, 5)
            } else {
                let generators: Vec<Value> = (0..next() % 4).map(|_| tree(&mut next, &keys, 4)).collect();
                let project = keys[(next() % keys.len() as u64) as usize];
                json!({ "generators": generators, "template": { "metadata": {}, "spec": { "destination": {}, "project": project } } })
            };
            if let Ok(mut s) = set(body) {
                parsed += 1;
                judged += usize::from(check_generators(&s).is_ok() && !templated(s.spec.project()));
                clear_server_fields(&mut s);
            }
        }
        println!("{parsed} of 5000 random bodies parsed, {judged} passed the checks");
    }
}
