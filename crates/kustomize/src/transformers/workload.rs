//! Workload transformers: `images` and `replicas`.

use serde_json::Value;

use crate::fieldspec::{self, FieldSpec, visit};
use crate::resource::Resource;
use crate::types::{Image, Replica};

/// Splits `name[:tag][@digest]` into the name and the rest (with its `:`/`@`).
fn split_image(image: &str) -> (&str, &str) {
    let at = image.find('@');
    let search_end = at.unwrap_or(image.len());
    // A `:` after the last `/` starts the tag; one before is a registry port.
    let slash = image[..search_end].rfind('/').map_or(0, |i| i + 1);
    let colon = image[slash..search_end].find(':').map(|i| i + slash);
    let cut = colon.or(at).unwrap_or(image.len());
    (&image[..cut], &image[cut..])
}

fn rewrite(image: &str, rule: &Image) -> Option<String> {
    let (name, rest) = split_image(image);
    if name != rule.name {
        return None;
    }
    let mut new_name = name.to_string();
    if !rule.new_name.is_empty() {
        new_name = rule.new_name.clone();
    }
    let mut tag = rest.to_string();
    if !rule.new_tag.is_empty() {
        tag = format!(":{}", rule.new_tag);
    }
    if !rule.digest.is_empty() {
        tag = if rule.new_tag.is_empty() { format!("@{}", rule.digest) } else { format!(":{}@{}", rule.new_tag, rule.digest) };
    }
    if !rule.tag_suffix.is_empty() && rule.new_tag.is_empty() && rule.digest.is_empty() {
        // kustomize v5.5 drops any digest and, as its image filter visits
        // each container twice, appends the suffix twice.
        let old = rest.split('@').next().unwrap_or("").trim_start_matches(':');
        tag = format!(":{old}{s}{s}", s = rule.tag_suffix);
    }
    Some(format!("{new_name}{tag}"))
}

/// Walks the whole object: any `containers` / `initContainers` list has
/// its `image` fields rewritten (kustomize's legacy image filter).
fn walk(v: &mut Value, rules: &[Image]) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "containers" || k == "initContainers" || k == "ephemeralContainers")
                    && let Value::Array(items) = child
                {
                    for it in items.iter_mut() {
                        if let Some(Value::String(img)) = it.get_mut("image") {
                            for rule in rules {
                                if let Some(n) = rewrite(img, rule) {
                                    *img = n;
                                    break;
                                }
                            }
                        }
                    }
                }
                walk(child, rules);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| walk(i, rules)),
        _ => {}
    }
}

/// `images:`.
pub fn images(resources: &mut [Resource], rules: &[Image], extra: &[FieldSpec]) {
    for r in resources.iter_mut() {
        for rule in rules {
            walk(&mut r.obj, std::slice::from_ref(rule));
        }
        // Extra specs (from `configurations`) point straight at image strings.
        let gvk = r.gvk();
        for fs in extra.iter().filter(|f| f.applies_to(&gvk)) {
            let _ = visit::<()>(&mut r.obj, &fs.path, false, &mut |v| {
                if let Value::String(img) = v
                    && let Some(n) = rules.iter().find_map(|rule| rewrite(img, rule))
                {
                    *img = n;
                }
                Ok(())
            });
        }
    }
}

/// `replicas:` — matched by current or previous name. Like kustomize, a
/// name that matches no Deployment, StatefulSet, ReplicaSet or
/// ReplicationController (or extra spec) is an error.
pub fn replicas(resources: &mut [Resource], rules: &[Replica], extra: &[FieldSpec]) -> Result<(), String> {
    let mut specs = fieldspec::replica_specs();
    specs.extend(extra.iter().cloned());
    for rule in rules {
        let mut found = false;
        for r in resources.iter_mut() {
            if !r.names.contains(&rule.name) {
                continue;
            }
            let gvk = r.gvk();
            for fs in specs.iter().filter(|f| f.applies_to(&gvk)) {
                found = true;
                let _ = visit::<()>(&mut r.obj, &fs.path, fs.create, &mut |v| {
                    *v = Value::from(rule.count);
                    Ok(())
                });
            }
        }
        if !found {
            let kinds: Vec<String> = specs.iter().map(|f| f.kind.clone()).collect();
            return Err(format!(
                "resource with name {} does not match a config with the following kinds {kinds:?}; check the name",
                rule.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_images() {
        assert_eq!(split_image("nginx:1.2"), ("nginx", ":1.2"));
        assert_eq!(split_image("reg:5000/app"), ("reg:5000/app", ""));
        assert_eq!(split_image("reg:5000/app:v1@sha256:ab"), ("reg:5000/app", ":v1@sha256:ab"));
        assert_eq!(split_image("app@sha256:ab"), ("app", "@sha256:ab"));
    }
}
