//! Stage 5, **health**: Healthy / Progressing / Degraded / Suspended /
//! Missing / Unknown for each live resource and for the app, as Argo CD
//! computes them, plus custom Lua checks. Pure functions over live objects.
//!
//! The rules and messages follow Argo CD's gitops-engine `pkg/health` and its
//! bundled resource customizations; where a kind has no rule there, a small
//! generic rule over `status.conditions` / `observedGeneration` stands in for
//! the many per-CRD Lua scripts Argo CD ships.

mod custom;
mod kinds;
mod obj;

use serde_json::Value;

pub use custom::{CHILD_HEALTH_KEY, CustomChecks, SettingError, child_health_setting, override_key};
/// The health vocabulary is the API's, shared by status, CLI, UI and events.
pub use driftless_api::{HealthStatus as Health, HealthStatusCode};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The live object is not a JSON object with string `apiVersion` and `kind`.
    #[error("invalid object: {0}")]
    InvalidObject(String),
    /// A key of `argocd-cm` holds a custom health check that cannot be used.
    #[error("invalid custom health check in argocd-cm key {key:?}: {reason}")]
    InvalidCustomCheck {
        /// The `argocd-cm` data key (or, for the older format, the
        /// `resource.customizations` entry) at fault.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting of `argocd-cm` that cannot be used.
    #[error(transparent)]
    InvalidSetting(#[from] SettingError),
}

/// The API group and kind of an object, from its `apiVersion` and `kind`.
pub(crate) struct GroupKind<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub kind: &'a str,
}

impl<'a> GroupKind<'a> {
    fn of(obj: &'a Value) -> Result<Self, Error> {
        if !obj.is_object() {
            return Err(Error::InvalidObject("not a JSON object".into()));
        }
        let api_version = obj::str_at(obj, &["apiVersion"]).ok_or_else(|| Error::InvalidObject("missing apiVersion".into()))?;
        let kind = obj::str_at(obj, &["kind"]).filter(|k| !k.is_empty()).ok_or_else(|| Error::InvalidObject("missing kind".into()))?;
        // "v1" is the core group; "apps/v1" is group "apps".
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Ok(GroupKind { group, version, kind })
    }

    /// Argo CD's override key: `group/Kind`, or just `Kind` for the core group.
    pub fn key(&self) -> String {
        if self.group.is_empty() { self.kind.to_string() } else { format!("{}/{}", self.group, self.kind) }
    }
}

/// The finalizer Argo CD puts on hooks; a hook being deleted keeps its real
/// health so the sync can still read its outcome.
const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// Health of one live object; `None` when the kind has no notion of health
/// (ConfigMap, Secret, Role, ...), as in Argo CD.
///
/// Order, as in Argo CD's `GetResourceHealth`: an object being deleted is
/// Progressing ("Pending deletion"); then a custom Lua check for its
/// group/kind, if any; then the built-in check for its kind; then, for kinds
/// without one, the generic condition rule. A child Application has no health
/// when `custom` says child health is off (`application.childHealth`).
///
/// Errors only when `obj` is not a Kubernetes object (no `apiVersion`/`kind`);
/// a failing custom check yields `Unknown` instead.
pub fn assess(obj: &Value, custom: &CustomChecks) -> Result<Option<Health>, Error> {
    let gk = GroupKind::of(obj)?;
    if obj::at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null())
        && !obj::array_at(obj, &["metadata", "finalizers"]).iter().any(|f| f.as_str() == Some(HOOK_FINALIZER))
    {
        return Ok(Some(Health::new(HealthStatusCode::Progressing, "Pending deletion")));
    }
    if let Some(health) = custom.run(&gk, obj) {
        return Ok(Some(health));
    }
    if !custom.child_health() && kinds::is_application(&gk) {
        return Ok(None);
    }
    Ok(kinds::assess(&gk, obj))
}

/// Whether `custom` judges objects of `group`/`kind` by the built-in checks
/// alone (no script covers the kind, and it is not an Application, which
/// `application.childHealth` decides): a health [`assess`]ed with
/// [`CustomChecks::none`] then holds under `custom` too.
pub fn judged_builtin(custom: &CustomChecks, group: &str, kind: &str) -> bool {
    let gk = GroupKind { group, version: "", kind };
    !custom.covers(&gk.key()) && !kinds::is_application(&gk)
}

/// Whether an Application is done with its current spec, as a child app
/// is judged ([`assess`]): Healthy only when Synced and Healthy with its
/// status of the spec it has now and no sync requested or running; else
/// why not, the message without the app's name ("is OutOfSync", "is
/// syncing"). Apps that wait for another (`driftless.dev/depends-on`) use it.
pub fn application_readiness(app: &Value) -> Health {
    kinds::application_judge(app)
}

/// The app's health: the worst of its resources' (empty -> Healthy).
///
/// Callers drop resources whose [`assess`] gave `None` before calling this,
/// as Argo CD ignores them.
pub fn aggregate<'a>(healths: impl IntoIterator<Item = &'a Health>) -> HealthStatusCode {
    healths.into_iter().map(|h| h.status).fold(HealthStatusCode::Healthy, |worst, s| if s.is_worse(worst) { s } else { worst })
}
