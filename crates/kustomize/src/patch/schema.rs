//! Strategic-merge metadata (merge keys, strategies, field types) generated
//! from the Kubernetes OpenAPI document by `tools/gen_smp_schema.py`.

use std::collections::HashMap;

use serde_json::Value;

const SCHEMA_JSON: &str = include_str!("smp_schema.json");

/// Patch metadata of one field.
#[derive(Debug, Clone, Default)]
pub struct FieldMeta {
    /// Definition of the field value (or of list elements).
    pub type_name: Option<String>,
    /// The keys list elements merge on: kyaml takes
    /// `x-kubernetes-list-map-keys` when the field has a patch strategy
    /// (container ports merge on containerPort + protocol), else
    /// `x-kubernetes-patch-merge-key`. Empty when the list has no key.
    pub merge_keys: Vec<String>,
    /// `x-kubernetes-patch-strategy` contains `merge`.
    pub merge: bool,
}

/// The whole table: kinds to root definitions, definitions to fields.
pub struct Schema {
    gvk: HashMap<String, String>,
    defs: HashMap<String, HashMap<String, FieldMeta>>,
}

impl Schema {
    /// Parses the embedded table.
    pub fn load() -> Schema {
        let v: Value = serde_json::from_str(SCHEMA_JSON).unwrap_or(Value::Null);
        let mut gvk = HashMap::new();
        if let Some(m) = v.get("gvk").and_then(Value::as_object) {
            for (k, d) in m {
                if let Some(d) = d.as_str() {
                    gvk.insert(k.clone(), d.to_string());
                }
            }
        }
        let mut defs = HashMap::new();
        if let Some(m) = v.get("defs").and_then(Value::as_object) {
            for (name, fields) in m {
                let mut fm = HashMap::new();
                for (f, meta) in fields.as_object().into_iter().flatten() {
                    let arr = meta.as_array().cloned().unwrap_or_default();
                    let get_s = |i: usize| arr.get(i).and_then(Value::as_str).map(str::to_string);
                    let strat = get_s(3).unwrap_or_default();
                    let list_keys =
                        arr.get(4).and_then(Value::as_array).map(|ks| ks.iter().filter_map(Value::as_str).map(str::to_string).collect());
                    let merge_keys = list_keys.unwrap_or_else(|| get_s(2).into_iter().collect());
                    fm.insert(f.clone(), FieldMeta { type_name: get_s(0), merge_keys, merge: strat.split(',').any(|s| s == "merge") });
                }
                defs.insert(name.clone(), fm);
            }
        }
        Schema { gvk, defs }
    }

    /// Root definition for `apiVersion` + `kind`, if the kind is built in.
    pub fn root(&self, api_version: &str, kind: &str) -> Option<&str> {
        let (g, v) = api_version.split_once('/').unwrap_or(("", api_version));
        self.gvk.get(&format!("{g}/{v}/{kind}")).map(String::as_str)
    }

    /// Metadata of `field` in definition `def`.
    pub fn field(&self, def: Option<&str>, field: &str) -> Option<&FieldMeta> {
        self.defs.get(def?)?.get(field)
    }
}
