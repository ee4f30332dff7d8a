//! Which apps this replica handles. Placeholder until sharding lands: all.

use driftless_api::Application;

/// This replica's share of the apps.
#[derive(Clone, Default)]
pub struct Share;

/// Held while a reconcile of an app runs.
pub struct Held;

impl Share {
    /// Every app.
    pub fn all() -> Share {
        Share
    }

    /// Holds `app` for a reconcile, if it is this replica's.
    pub fn hold(&self, _app: &Application) -> Option<Held> {
        Some(Held)
    }
}
