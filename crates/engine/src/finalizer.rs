//! The cascade finalizer, set or removed before an app is deleted, for the
//! CLI and the server alike: with it, the controller deletes the app's
//! resources before the app goes.

use driftless_api::{Application, RESOURCES_FINALIZER};
use kube::Api;
use kube::api::{Patch, PatchParams};

/// Puts [`RESOURCES_FINALIZER`] on `app` (`cascade`) or takes it off.
///
/// The patch carries `app`'s resourceVersion, so a concurrent change (the
/// controller writes status all the time) makes it fail rather than drop
/// someone else's finalizer; it then reads the app again and retries, up to
/// five times.
pub async fn set_cascade(api: &Api<Application>, mut app: Application, cascade: bool) -> Result<(), kube::Error> {
    let name = app.metadata.name.clone().unwrap_or_default();
    for attempt in 1..=5 {
        let finalizers = app.metadata.finalizers.clone().unwrap_or_default();
        if cascade == finalizers.iter().any(|f| f == RESOURCES_FINALIZER) {
            return Ok(());
        }
        let mut want: Vec<String> = finalizers.into_iter().filter(|f| f != RESOURCES_FINALIZER).collect();
        if cascade {
            want.push(RESOURCES_FINALIZER.to_string());
        }
        let patch = serde_json::json!({ "metadata": { "finalizers": want, "resourceVersion": app.metadata.resource_version } });
        match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 5 => app = api.get(&name).await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
