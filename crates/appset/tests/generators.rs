//! Generators through `driftless_appset::applications`, the function the
//! controller and `appset generate` call: `values`, `selector` on the
//! elements, `flatList`, `clusterDecisionResource`, matrix and merge
//! nested two levels (a third refused), and `templatePatch`. The clusters
//! and decision resources come from a fixed `Sources`.

use std::collections::BTreeMap;

use driftless_api::{Application, ApplicationSet};
use driftless_appset::Sources;
use driftless_appset::generators::{ClusterEntry, GitTree};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use serde_json::{Value, json};

struct Fixed(driftless_source::AppTokens);

impl Sources for Fixed {
    async fn secret(&self, name: &str, _key: &str) -> Result<String, String> {
        Err(format!("no Secret {name}"))
    }

    async fn clusters(&self) -> Result<Vec<ClusterEntry>, String> {
        let entry = |name: &str, env: Option<&str>| ClusterEntry {
            name: name.into(),
            server: format!("https://{name}.example"),
            labels: env.map(|e| BTreeMap::from([("env".to_string(), e.to_string())])).unwrap_or_default(),
            ..Default::default()
        };
        Ok(vec![entry("in-cluster", None), entry("east", Some("prod")), entry("west", Some("dev"))])
    }

    async fn git(&self, repo: &str, _revision: &str) -> Result<GitTree, String> {
        Err(format!("no Git here: {repo}"))
    }

    async fn decisions(
        &self,
        config_map: &str,
        name: Option<&str>,
        _selector: Option<&LabelSelector>,
    ) -> Result<(BTreeMap<String, String>, Vec<Value>), String> {
        assert_eq!((config_map, name), ("ocm-placement", Some("placement")));
        let config =
            BTreeMap::from([("statusListKey".to_string(), "decisions".to_string()), ("matchKey".to_string(), "clusterName".to_string())]);
        // A decision naming no registered cluster makes no app.
        let resource = json!({"status": {"decisions": [{"clusterName": "east", "reason": "fits"}, {"clusterName": "gone"}]}});
        Ok((config, vec![resource]))
    }

    fn app_tokens(&self) -> &driftless_source::AppTokens {
        &self.0
    }
}

fn set(generators: Value) -> ApplicationSet {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "s", "namespace": "argocd", "uid": "u"},
        "spec": {
            "goTemplate": true,
            "generators": generators,
            "template": {"metadata": {"name": "unnamed"}, "spec": {
                "project": "default",
                "source": {"repoURL": "https://git.example/r.git", "path": "p"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"}
            }},
            "templatePatch": "metadata:\n  annotations:\n    patched-for: '{{ default \"none\" .name }}'\nspec:\n  syncPolicy:\n    automated:\n      prune: true\n"
        }
    }))
    .expect("a set")
}

async fn apps(generators: Value) -> Result<Vec<Application>, String> {
    driftless_appset::applications(&set(generators), &Fixed(Default::default())).await.map_err(|e| e.to_string())
}

fn named(name: &str) -> Value {
    json!({"metadata": {"name": name}})
}

#[tokio::test]
async fn values_selector_flat_list_decisions_and_two_levels_of_matrix_and_merge() {
    let generators = json!([
        // values are rendered with the element's parameters; the selector sees them.
        {"clusters": {"values": {"tier": "{{ .name }}-tier"}, "template": named("c-{{ .name }}-{{ .values.tier }}")},
         "selector": {"matchExpressions": [{"key": "values.tier", "operator": "In", "values": ["east-tier", "west-tier"]}]}},
        {"clusters": {"flatList": true, "template": named("flat-{{ len .clusters }}")}},
        {"clusterDecisionResource": {"configMapRef": "ocm-placement", "name": "placement", "values": {"via": "ocm"},
         "template": named("d-{{ .name }}-{{ .reason }}-{{ .values.via }}")}},
        {"matrix": {"generators": [
            {"list": {"elements": [{"env": "dev"}]}},
            {"merge": {"mergeKeys": ["app"], "generators": [
                {"list": {"elements": [{"app": "a", "x": "1"}, {"app": "b", "x": "2"}]}},
                {"list": {"elements": [{"app": "b", "x": "3"}]}}
            ]}}
        ], "template": named("m-{{ .env }}-{{ .app }}-{{ .x }}")}}
    ]);
    let made = apps(generators).await.unwrap();
    let names: Vec<String> = made.iter().map(|a| a.name_any()).collect();
    assert_eq!(names, ["c-east-east-tier", "c-west-west-tier", "flat-3", "d-east-fits-ocm", "m-dev-a-1", "m-dev-b-3"]);

    // templatePatch, as the controller renders it: per element, over the template.
    let east = &made[0];
    assert_eq!(east.annotations().get("patched-for").map(String::as_str), Some("east"));
    assert_eq!(made[4].annotations().get("patched-for").map(String::as_str), Some("none"));
    assert!(made.iter().all(|a| a.spec.sync_policy.as_ref().and_then(|p| p.automated.as_ref()).is_some_and(|a| a.prune)));
    assert_eq!(east.owner_references()[0].uid, "u");
}

#[tokio::test]
async fn matrix_and_merge_nest_two_levels_and_no_more() {
    let third = json!([{"matrix": {"generators": [
        {"list": {"elements": [{"a": "1"}]}},
        {"matrix": {"generators": [
            {"list": {"elements": [{"b": "1"}]}},
            {"merge": {"mergeKeys": ["c"], "generators": [{"list": {"elements": [{"c": "1"}]}}]}}
        ]}}
    ]}}]);
    let e = apps(third).await.unwrap_err();
    assert!(e.contains("spec.generators[0].matrix.generators[1].matrix.generators[1].merge") && e.contains("two levels"), "{e}");
}
