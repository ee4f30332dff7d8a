//! Metadata transformers: namespace, name prefix/suffix, labels, annotations.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::fieldspec::{self, FieldSpec, visit};
use crate::resource::{Resource, is_namespaced};
use crate::types::Label;

/// `namespace:` — sets metadata.namespace on namespaced objects, renames
/// Namespace objects, and fixes `default` RBAC subjects and webhook services.
pub fn namespace(resources: &mut [Resource], ns: &str, extra: &[FieldSpec]) {
    for r in resources.iter_mut() {
        let gvk = r.gvk();
        if gvk.kind == "Namespace" {
            r.set_name(ns);
            continue;
        }
        if is_namespaced(&gvk.kind) {
            r.set_namespace(ns);
        }
        if (gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects")
        {
            for s in subjects.iter_mut() {
                if let Value::Object(m) = s
                    && m.get("name").and_then(Value::as_str) == Some("default")
                {
                    m.insert("namespace".into(), Value::String(ns.into()));
                }
            }
        }
        let mut specs: Vec<FieldSpec> = vec![
            FieldSpec::new("APIService", "apiregistration.k8s.io", "", "spec/service/namespace", true),
            FieldSpec::new(
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                "",
                "spec/conversion/webhook/clientConfig/service/namespace",
                false,
            ),
        ];
        specs.extend(extra.iter().cloned());
        for fs in specs.iter().filter(|f| f.applies_to(&gvk)) {
            let _ = visit::<()>(&mut r.obj, &fs.path, fs.create, &mut |v| {
                *v = Value::String(ns.into());
                Ok(())
            });
        }
    }
}

/// Kinds whose names never get a prefix or suffix.
fn skip_prefix(kind: &str) -> bool {
    matches!(kind, "CustomResourceDefinition" | "APIService" | "Namespace")
}

/// `namePrefix` / `nameSuffix`.
pub fn prefix_suffix(resources: &mut [Resource], prefix: &str, suffix: &str) {
    for r in resources.iter_mut() {
        if skip_prefix(r.kind()) {
            continue;
        }
        let n = format!("{prefix}{}{suffix}", r.name());
        r.set_name(&n);
        if !prefix.is_empty() {
            r.affixes.0.push(prefix.to_string());
        }
        if !suffix.is_empty() {
            r.affixes.1.push(suffix.to_string());
        }
    }
}

/// Sets `pairs` into the mapping at every applicable spec.
fn set_pairs(resources: &mut [Resource], specs: &[FieldSpec], pairs: &BTreeMap<String, String>) {
    if pairs.is_empty() {
        return;
    }
    for r in resources.iter_mut() {
        let gvk = r.gvk();
        for fs in specs.iter().filter(|f| f.applies_to(&gvk)) {
            let _ = visit::<()>(&mut r.obj, &fs.path, fs.create, &mut |v| {
                if v.is_null() {
                    *v = Value::Object(Map::new());
                }
                if let Value::Object(m) = v {
                    for (k, val) in pairs {
                        m.insert(k.clone(), Value::String(val.clone()));
                    }
                }
                Ok(())
            });
        }
    }
}

/// `commonLabels`: metadata, selectors and templates.
pub fn common_labels(resources: &mut [Resource], pairs: &BTreeMap<String, String>, extra: &[FieldSpec]) {
    let mut specs = fieldspec::common_label_specs();
    specs.extend(extra.iter().cloned());
    set_pairs(resources, &specs, pairs);
}

/// One `labels` entry.
pub fn labels(resources: &mut [Resource], label: &Label, extra: &[FieldSpec]) {
    let mut specs = vec![FieldSpec::new("", "", "", "metadata/labels", true)];
    if label.include_selectors {
        specs = fieldspec::common_label_specs();
        specs.extend(extra.iter().cloned());
    } else if label.include_templates {
        specs = fieldspec::label_template_specs();
    }
    for f in &label.fields {
        specs.push(FieldSpec::new(&f.kind, &f.group, &f.version, &f.path, f.create));
    }
    set_pairs(resources, &specs, &label.pairs);
}

/// `commonAnnotations`.
pub fn common_annotations(resources: &mut [Resource], pairs: &BTreeMap<String, String>, extra: &[FieldSpec]) {
    let mut specs = fieldspec::common_annotation_specs();
    specs.extend(extra.iter().cloned());
    set_pairs(resources, &specs, pairs);
}
