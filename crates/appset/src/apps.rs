//! The Applications a set's generators and template make (pure): one per
//! element, named, placed in the set's namespace, owned by the set, each
//! checked; an error names the generator, the element and the field.

use std::collections::BTreeMap;

use driftless_api::{Application, ApplicationSet, ApplicationSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use serde_json::Value;

use crate::Params;
use crate::generators::Output;
use crate::template::{Renderer, TemplateError, apply_patch, merged};

/// The finalizer that makes deleting an app delete its resources.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// Why a set made no Applications.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppsError {
    /// One element's Application.
    #[error("{generator} element {element} ({summary}): {error}")]
    Element {
        /// `spec.generators[i]`.
        generator: String,
        /// Its index among the generator's elements.
        element: usize,
        /// A few of its parameters, to find it by.
        summary: String,
        /// What went wrong.
        error: TemplateError,
    },
    /// The set's template, or a generator's, could not be read whole.
    #[error("{generator}: its template: {reason}")]
    Template {
        /// `spec.generators[i]`.
        generator: String,
        /// Why.
        reason: String,
    },
    /// Two elements made Applications of one name.
    #[error("{first} and {second} both make the Application {name:?}: names must be unique")]
    Duplicate {
        /// The name.
        name: String,
        /// The first element (`spec.generators[i] element j`).
        first: String,
        /// The second.
        second: String,
    },
}

/// The Applications `set` makes of its generators' `outputs`.
pub fn applications(set: &ApplicationSet, outputs: &[Output<'_>], renderer: &Renderer) -> Result<Vec<Application>, AppsError> {
    let mut apps = Vec::new();
    let mut made_by: BTreeMap<String, String> = BTreeMap::new();
    for output in outputs {
        let template = merged(&set.spec.template, output.template)
            .map_err(|e| AppsError::Template { generator: output.at.clone(), reason: e.to_string() })?;
        for (i, params) in output.elements.iter().enumerate() {
            let fail = |error| AppsError::Element { generator: output.at.clone(), element: i, summary: summary(params), error };
            let app = application(set, &template, params, renderer).map_err(fail)?;
            let by = format!("{} element {i}", output.at);
            if let Some(first) = made_by.insert(app.name_any(), by.clone()) {
                return Err(AppsError::Duplicate { name: app.name_any(), first, second: by });
            }
            apps.push(app);
        }
    }
    Ok(apps)
}

/// The first parameters of an element, short, to say which it is.
fn summary(params: &Params) -> String {
    let flat = crate::params::flatten(params);
    let mut parts: Vec<String> = flat
        .iter()
        .take(3)
        .map(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            let v: String = v.chars().take(40).collect();
            format!("{k}={v}")
        })
        .collect();
    if flat.len() > 3 {
        parts.push("...".into());
    }
    parts.join(", ")
}

fn application(set: &ApplicationSet, template: &Value, params: &Params, renderer: &Renderer) -> Result<Application, TemplateError> {
    let mut rendered = renderer.value(template, params, "spec.template")?;
    if let Some(patch) = set.spec.template_patch.as_deref().filter(|p| !p.trim().is_empty()) {
        apply_patch(renderer, &mut rendered, patch, params)?;
    }
    let invalid = |field: &str, reason: String| TemplateError::Invalid { field: format!("spec.template.{field}"), reason };
    let meta = rendered.get("metadata").cloned().unwrap_or_default();
    let text_map = |key: &str| -> Result<BTreeMap<String, String>, TemplateError> {
        serde_json::from_value::<Option<BTreeMap<String, String>>>(meta.get(key).cloned().unwrap_or_default())
            .map(Option::unwrap_or_default)
            .map_err(|e| invalid(&format!("metadata.{key}"), e.to_string()))
    };
    let name = meta.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    if !driftless_api::is_dns_subdomain(&name) {
        return Err(invalid("metadata.name", format!("{name:?} is not a valid Application name (a DNS-1123 subdomain)")));
    }
    let mut finalizers: Vec<String> = serde_json::from_value::<Option<Vec<String>>>(meta.get("finalizers").cloned().unwrap_or_default())
        .map_err(|e| invalid("metadata.finalizers", e.to_string()))?
        .unwrap_or_default();
    let preserve = set.spec.sync_policy.as_ref().is_some_and(|p| p.preserve_resources_on_deletion);
    if preserve {
        finalizers.retain(|f| !f.starts_with(RESOURCES_FINALIZER));
    } else if !finalizers.iter().any(|f| f.starts_with(RESOURCES_FINALIZER)) {
        finalizers.push(RESOURCES_FINALIZER.to_string());
    }
    let spec_value = rendered.get("spec").cloned().unwrap_or_default();
    let spec: ApplicationSpec = serde_path_to_error::deserialize(spec_value).map_err(|e| {
        let path = e.path().to_string();
        invalid(&format!("spec{}", if path == "." { String::new() } else { format!(".{path}") }), e.inner().to_string())
    })?;
    if spec.destination.server.as_deref().unwrap_or_default().is_empty() && spec.destination.name.as_deref().unwrap_or_default().is_empty()
    {
        return Err(invalid("spec.destination", "names neither a server nor a cluster name".into()));
    }
    Ok(Application {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: set.namespace(),
            labels: Some(text_map("labels")?).filter(|m| !m.is_empty()),
            annotations: Some(text_map("annotations")?).filter(|m| !m.is_empty()),
            finalizers: Some(finalizers).filter(|f| !f.is_empty()),
            owner_references: owner(set).map(|o| vec![o]),
            ..Default::default()
        },
        spec,
        ..Default::default()
    })
}

/// The ownerReference an app of `set` carries: the set's deletion
/// deletes it (Kubernetes' garbage collector).
pub fn owner(set: &ApplicationSet) -> Option<OwnerReference> {
    set.controller_owner_ref(&())
}
