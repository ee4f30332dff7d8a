//! Resource tracking, as Argo CD configures it in `argocd-cm`
//! (`application.resourceTrackingMethod`, `application.instanceLabelKey`):
//! the one place that decides which app a live object belongs to, and what
//! a desired manifest carries to say so.

use std::collections::BTreeMap;

use driftless_api::{ANNOTATION_TRACKING_ID, Application, Manifest};
use kube::runtime::reflector::ObjectRef;
use serde_json::Value;

use crate::ResourceKey;

/// Argo CD's default instance label (`application.instanceLabelKey`).
pub const DEFAULT_LABEL_KEY: &str = "app.kubernetes.io/instance";

/// The longest label value Kubernetes accepts.
const LABEL_MAX: usize = 63;

/// `application.resourceTrackingMethod`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrackingMethod {
    /// The `argocd.argoproj.io/tracking-id` annotation, which names the app
    /// and the object itself (Argo CD 3's default).
    #[default]
    Annotation,
    /// The instance label holds the app's instance name (Argo CD 2's default).
    Label,
    /// The annotation tracks; the label is written too, for other tools
    /// (truncated to 63 characters, as Argo CD does).
    AnnotationAndLabel,
}

impl TrackingMethod {
    /// Parses Argo CD's spelling; empty is the default.
    pub fn parse(s: &str) -> Result<TrackingMethod, TrackingError> {
        match s.trim() {
            "" | "annotation" => Ok(TrackingMethod::Annotation),
            "label" => Ok(TrackingMethod::Label),
            "annotation+label" => Ok(TrackingMethod::AnnotationAndLabel),
            other => Err(TrackingError::UnknownMethod(other.chars().take(64).collect())),
        }
    }

    /// Argo CD's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingMethod::Annotation => "annotation",
            TrackingMethod::Label => "label",
            TrackingMethod::AnnotationAndLabel => "annotation+label",
        }
    }
}

/// Why tracking is misconfigured, or a manifest cannot be tracked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingError {
    /// `application.resourceTrackingMethod` is none of Argo CD's values.
    #[error("{0:?} is not a tracking method: use label, annotation or annotation+label")]
    UnknownMethod(String),
    /// `application.instanceLabelKey` is not a label key.
    #[error("{0:?} is not a label key (an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.')")]
    BadLabelKey(String),
    /// The instance name does not fit in a label value.
    #[error(
        "the app's instance name {0:?} does not fit in a label value (at most 63 letters, digits, '-', '_' or '.'): \
         use the annotation or annotation+label tracking method"
    )]
    LabelValue(String),
}

/// How objects are tied to their app: the method, the label key, and the
/// control-plane namespace (whose apps have their bare name as instance).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tracking {
    /// The method.
    pub method: TrackingMethod,
    /// The instance label's key.
    pub label_key: String,
    /// The control-plane namespace.
    pub control_plane: String,
}

impl Tracking {
    /// Argo CD 3's defaults: the annotation, `app.kubernetes.io/instance`.
    pub fn new(control_plane: &str) -> Tracking {
        Tracking { method: TrackingMethod::Annotation, label_key: DEFAULT_LABEL_KEY.into(), control_plane: control_plane.into() }
    }

    /// The method and label key `argocd-cm` sets (absent or empty: the defaults).
    pub fn with(self, method: Option<&str>, label_key: Option<&str>) -> Result<Tracking, TrackingError> {
        let method = TrackingMethod::parse(method.unwrap_or_default())?;
        let label_key = match label_key.map(str::trim).filter(|k| !k.is_empty()) {
            Some(k) if is_label_key(k) => k.to_string(),
            Some(k) => return Err(TrackingError::BadLabelKey(k.chars().take(300).collect())),
            None => self.label_key,
        };
        Ok(Tracking { method, label_key, ..self })
    }

    /// The app's name in tracking ids and instance labels: its bare name in
    /// the control-plane namespace, `<namespace>_<name>` elsewhere, as Argo
    /// CD names it.
    pub fn instance(&self, namespace: &str, name: &str) -> String {
        instance_name(&self.control_plane, namespace, name)
    }

    /// The instance name of `app`.
    pub fn instance_of(&self, app: &Application) -> String {
        self.instance(app.metadata.namespace.as_deref().unwrap_or_default(), app.metadata.name.as_deref().unwrap_or_default())
    }

    /// The Application an instance name stands for. Names and namespaces
    /// are DNS labels, so `_` separates them unambiguously; a bare name
    /// lives in the control plane.
    pub fn app_of(&self, instance: &str) -> Option<ObjectRef<Application>> {
        let (ns, name) = instance.split_once('_').unwrap_or((&self.control_plane, instance));
        (!name.is_empty() && !ns.is_empty()).then(|| ObjectRef::new(name).within(ns))
    }

    /// The instance an object's labels and annotations claim it for, by
    /// metadata alone (what a metadata-only watch sees): the label, or the
    /// tracking id's app part. An annotation's claim is checked against the
    /// object itself by [`Tracking::owner`].
    pub fn claimed<'a>(
        &self,
        labels: Option<&'a BTreeMap<String, String>>,
        annotations: Option<&'a BTreeMap<String, String>>,
    ) -> Option<&'a str> {
        let claim = match self.method {
            TrackingMethod::Label => labels.and_then(|l| l.get(&self.label_key)).map(String::as_str),
            TrackingMethod::Annotation | TrackingMethod::AnnotationAndLabel => {
                annotations.and_then(|a| a.get(ANNOTATION_TRACKING_ID)).and_then(|id| id.split_once(':')).map(|(i, _)| i)
            }
        };
        claim.filter(|i| !i.is_empty())
    }

    /// The instance `obj` belongs to, if any. With the annotation, only a
    /// tracking id that names the object itself counts: a copied manifest
    /// (or an object a controller made from a tracked template) belongs to
    /// no app.
    pub fn owner<'a>(&self, obj: &'a Value) -> Option<&'a str> {
        let meta = &obj["metadata"];
        match self.method {
            TrackingMethod::Label => meta["labels"][&self.label_key].as_str().filter(|i| !i.is_empty()),
            TrackingMethod::Annotation | TrackingMethod::AnnotationAndLabel => {
                let id = meta["annotations"][ANNOTATION_TRACKING_ID].as_str()?;
                let (instance, _) = id.split_once(':')?;
                (!instance.is_empty() && id == ResourceKey::of(obj).tracking_id(instance)).then_some(instance)
            }
        }
    }

    /// Whether two instance names stand for the same app: an app of the
    /// control plane is `name`, and `<namespace>_<name>` in the ids earlier
    /// driftless versions wrote for it (re-stamped at its next sync).
    pub fn same_app(&self, a: &str, b: &str) -> bool {
        a == b || self.app_of(a).is_some_and(|app| self.app_of(b) == Some(app))
    }

    /// Marks a desired manifest as the app's: the annotation, the label, or
    /// both, as the method says.
    pub fn stamp(&self, manifest: &mut Manifest, instance: &str) -> Result<(), TrackingError> {
        match self.method {
            TrackingMethod::Annotation => {}
            TrackingMethod::Label => {
                if !is_label_value(instance) {
                    return Err(TrackingError::LabelValue(instance.to_string()));
                }
                manifest.set_label(&self.label_key, instance);
                return Ok(());
            }
            TrackingMethod::AnnotationAndLabel => manifest.set_label(&self.label_key, &truncated(instance)),
        }
        let id = ResourceKey::of(manifest.value()).tracking_id(instance);
        manifest.set_annotation(ANNOTATION_TRACKING_ID, &id);
        Ok(())
    }
}

/// The instance name of the app `namespace`/`name` under the control plane
/// `control_plane` (see [`Tracking::instance`]): it does not depend on the method.
pub fn instance_name(control_plane: &str, namespace: &str, name: &str) -> String {
    if namespace == control_plane || namespace.is_empty() { name.to_string() } else { format!("{namespace}_{name}") }
}

/// The label written beside the annotation: at most 63 characters, ending
/// in a letter or digit, as Argo CD truncates it.
fn truncated(instance: &str) -> String {
    let mut v: String = instance.chars().take(LABEL_MAX).collect();
    while v.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        v.pop();
    }
    v
}

/// A label value: empty, or at most 63 characters of `[A-Za-z0-9-_.]`
/// beginning and ending with a letter or digit.
fn is_label_value(v: &str) -> bool {
    v.len() <= LABEL_MAX
        && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && v.chars().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && v.chars().last().is_none_or(|c| c.is_ascii_alphanumeric())
}

/// A label key: an optional DNS subdomain prefix and `/`, then a non-empty name.
fn is_label_key(k: &str) -> bool {
    let (prefix, name) = match k.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && is_label_value(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tracking(method: &str) -> Tracking {
        Tracking::new("argocd").with(Some(method), None).unwrap()
    }

    fn cm(labels: Value, annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "n", "labels": labels, "annotations": annotations}})
    }

    #[test]
    fn instance_names_follow_argo_cd() {
        let t = Tracking::new("argocd");
        assert_eq!(t.instance("argocd", "guestbook"), "guestbook");
        assert_eq!(t.instance("team-a", "web"), "team-a_web");
        assert_eq!(t.app_of("guestbook"), Some(ObjectRef::new("guestbook").within("argocd")));
        assert_eq!(t.app_of("team-a_web"), Some(ObjectRef::new("web").within("team-a")));
        assert_eq!(t.app_of(""), None);
        assert_eq!(t.app_of("team-a_"), None);
        assert_eq!(t.app_of("_web"), None);
        let other = Tracking::new("cd");
        assert_eq!(other.instance("cd", "web"), "web", "the control plane, whatever its name");
        assert_eq!(other.app_of("web"), Some(ObjectRef::new("web").within("cd")));
        assert!(other.same_app("web", "cd_web"), "the id an earlier version wrote");
        assert!(!other.same_app("web", "team_web") && !other.same_app("", "cd_"));
    }

    #[test]
    fn label_tracking_owns_by_the_label_alone() {
        let t = tracking("label");
        let deployed_by_argo_cd_2 = cm(json!({DEFAULT_LABEL_KEY: "guestbook"}), json!({}));
        assert_eq!(t.owner(&deployed_by_argo_cd_2), Some("guestbook"));
        let annotated = cm(json!({}), json!({ANNOTATION_TRACKING_ID: "guestbook:/ConfigMap:n/a"}));
        assert_eq!(t.owner(&annotated), None, "the annotation does not count with label tracking");
        let custom = Tracking::new("argocd").with(Some("label"), Some("argocd.argoproj.io/instance")).unwrap();
        assert_eq!(custom.owner(&cm(json!({"argocd.argoproj.io/instance": "web"}), json!({}))), Some("web"));
        assert_eq!(custom.owner(&deployed_by_argo_cd_2), None);
    }

    #[test]
    fn annotation_tracking_owns_only_the_object_the_id_names() {
        for method in ["annotation", "annotation+label"] {
            let t = tracking(method);
            let mut obj = cm(json!({DEFAULT_LABEL_KEY: "other"}), json!({ANNOTATION_TRACKING_ID: "app:/ConfigMap:n/a"}));
            assert_eq!(t.owner(&obj), Some("app"), "{method}: the annotation decides, not the label");
            obj["metadata"]["name"] = json!("copy");
            assert_eq!(t.owner(&obj), None, "{method}: a copy with the same annotation is nobody's");
            assert_eq!(t.owner(&cm(json!({DEFAULT_LABEL_KEY: "app"}), json!({}))), None, "{method}: a label alone");
        }
    }

    #[test]
    fn stamping_writes_what_the_method_says() {
        let manifest = || {
            Manifest::new(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}})).unwrap()
        };
        let stamped = |method: &str, instance: &str| {
            let mut m = manifest();
            tracking(method).stamp(&mut m, instance).map(|()| m.value()["metadata"].clone())
        };
        let a = stamped("annotation", "guestbook").unwrap();
        assert_eq!(a["annotations"][ANNOTATION_TRACKING_ID], "guestbook:apps/Deployment:prod/web");
        assert!(a["labels"].is_null());
        let l = stamped("label", "guestbook").unwrap();
        assert_eq!(l["labels"][DEFAULT_LABEL_KEY], "guestbook");
        assert!(l["annotations"].is_null());
        let long = format!("team_{}-x", "a".repeat(70));
        let both = stamped("annotation+label", &long).unwrap();
        assert_eq!(both["annotations"][ANNOTATION_TRACKING_ID], format!("{long}:apps/Deployment:prod/web"));
        let label = both["labels"][DEFAULT_LABEL_KEY].as_str().unwrap();
        assert!(label.len() <= 63 && long.starts_with(label) && label.ends_with('a'), "truncated: {label}");
        assert_eq!(stamped("label", &long), Err(TrackingError::LabelValue(long.clone())), "a label cannot hold it");
        // What is stamped is owned.
        for method in ["annotation", "label", "annotation+label"] {
            let mut m = manifest();
            tracking(method).stamp(&mut m, "team-a_web").unwrap();
            assert_eq!(tracking(method).owner(m.value()), Some("team-a_web"), "{method}");
        }
    }

    #[test]
    fn settings_are_checked() {
        assert!(matches!(Tracking::new("argocd").with(Some("labels"), None), Err(TrackingError::UnknownMethod(_))));
        assert_eq!(Tracking::new("argocd").with(Some(""), Some(" ")).unwrap(), Tracking::new("argocd"));
        for bad in ["a/b/c", "-x", "x/", "/x", "Foo.com/x", &"k".repeat(64), "sp ace"] {
            assert!(matches!(Tracking::new("argocd").with(None, Some(bad)), Err(TrackingError::BadLabelKey(_))), "{bad}");
        }
        for good in ["app.kubernetes.io/instance", "instance", "example.com/My_App.1"] {
            assert!(Tracking::new("argocd").with(None, Some(good)).is_ok(), "{good}");
        }
    }

    #[test]
    fn claims_by_metadata() {
        let labels = BTreeMap::from([(DEFAULT_LABEL_KEY.to_string(), "web".to_string())]);
        let annotations = BTreeMap::from([(ANNOTATION_TRACKING_ID.to_string(), "team_api:apps/Deployment:p/api".to_string())]);
        assert_eq!(tracking("label").claimed(Some(&labels), Some(&annotations)), Some("web"));
        assert_eq!(tracking("annotation").claimed(Some(&labels), Some(&annotations)), Some("team_api"));
        assert_eq!(tracking("annotation+label").claimed(Some(&labels), None), None);
        assert_eq!(tracking("label").claimed(None, None), None);
    }
}
