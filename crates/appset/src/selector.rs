//! Label selectors as generators use them: over cluster Secrets' labels,
//! and (`selector` on any generator) over an element's flattened
//! parameters.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `labels` satisfy `selector` (no selector, or an empty one,
/// selects everything). An operator Kubernetes does not know is an error.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    for (k, v) in selector.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return Ok(false);
        }
    }
    for (i, req) in selector.match_expressions.iter().flatten().enumerate() {
        let value = labels.get(&req.key);
        let values = req.values.as_deref().unwrap_or_default();
        let ok = match req.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => {
                return Err(format!("matchExpressions[{i}].operator: {other:?} is not one of In, NotIn, Exists, DoesNotExist"));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement { key: key.into(), operator: op.into(), values: Some(values.iter().map(|v| v.to_string()).collect()) }
    }

    #[test]
    fn labels_and_expressions_all_must_hold() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("env", "prod")])),
            match_expressions: Some(vec![expr("tier", "In", &["web", "api"]), expr("legacy", "DoesNotExist", &[])]),
        };
        assert_eq!(matches(&sel, &labels(&[("env", "prod"), ("tier", "web")])), Ok(true));
        assert_eq!(matches(&sel, &labels(&[("env", "prod"), ("tier", "db")])), Ok(false));
        assert_eq!(matches(&sel, &labels(&[("env", "prod"), ("tier", "web"), ("legacy", "")])), Ok(false));
        assert_eq!(matches(&sel, &labels(&[("env", "dev"), ("tier", "web")])), Ok(false));
        let not_in = LabelSelector { match_expressions: Some(vec![expr("env", "NotIn", &["prod"])]), ..Default::default() };
        assert_eq!(matches(&not_in, &labels(&[])), Ok(true), "NotIn holds for an absent key, as in Kubernetes");
        assert_eq!(matches(&LabelSelector::default(), &labels(&[("a", "b")])), Ok(true));
    }

    #[test]
    fn an_unknown_operator_is_named() {
        let sel = LabelSelector { match_expressions: Some(vec![expr("env", "Like", &["p%"])]), ..Default::default() };
        assert!(matches(&sel, &labels(&[])).unwrap_err().contains("matchExpressions[0].operator: \"Like\""));
    }
}
