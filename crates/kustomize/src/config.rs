//! `configurations`: user field specs that extend kustomize's built-in
//! tables (name references, labels, annotations, namespace, images,
//! replicas, var references) — typically to teach it about CRDs.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::fieldspec::{FieldSpec, NameRef};
use crate::types::FieldSpecArg;

/// One configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    name_reference: Vec<NameRefArg>,
    #[serde(default)]
    common_labels: Vec<FieldSpecArg>,
    #[serde(default)]
    common_annotations: Vec<FieldSpecArg>,
    #[serde(default)]
    namespace: Vec<FieldSpecArg>,
    #[serde(default)]
    var_reference: Vec<FieldSpecArg>,
    #[serde(default)]
    images: Vec<FieldSpecArg>,
    #[serde(default)]
    replicas: Vec<FieldSpecArg>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NameRefArg {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    kind: String,
    #[serde(default)]
    field_specs: Vec<FieldSpecArg>,
}

/// Extra field specs gathered from every `configurations` file read so far.
#[derive(Debug, Default)]
pub struct Extra {
    pub name_refs: Vec<NameRef>,
    pub common_labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    pub var_reference: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
}

fn specs(v: &[FieldSpecArg]) -> Vec<FieldSpec> {
    v.iter().map(|f| FieldSpec::new(&f.kind, &f.group, &f.version, &f.path, f.create)).collect()
}

impl Extra {
    /// Parses one configuration file and adds its specs.
    pub fn load(&mut self, text: &str, file: &Path) -> Result<()> {
        let docs = crate::yaml::parse::parse_with(text, crate::yaml::parse::Mode::Patch)
            .map_err(|e| Error::Yaml { path: file.to_path_buf(), reason: e })?;
        for d in docs.into_iter().filter(|d| !d.is_null()) {
            let c: ConfigFile = serde_json::from_value(d).map_err(|e| Error::Field {
                path: file.to_path_buf(),
                field: "configurations".into(),
                reason: format!(
                    "{e}; valid sections are nameReference, commonLabels, commonAnnotations, namespace, varReference, images, replicas"
                ),
            })?;
            for n in c.name_reference {
                self.name_refs.push(NameRef {
                    target_kind: n.kind,
                    target_group: n.group,
                    target_version: n.version,
                    referrers: specs(&n.field_specs),
                });
            }
            self.common_labels.extend(specs(&c.common_labels));
            self.common_annotations.extend(specs(&c.common_annotations));
            self.namespace.extend(specs(&c.namespace));
            self.var_reference.extend(specs(&c.var_reference));
            self.images.extend(specs(&c.images));
            self.replicas.extend(specs(&c.replicas));
        }
        Ok(())
    }
}
