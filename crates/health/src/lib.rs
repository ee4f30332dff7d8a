//! Stage 5, **health**: Healthy / Progressing / Degraded / Suspended /
//! Missing / Unknown for each live resource and for the app, as Argo CD
//! computes them, plus custom Lua checks. Pure functions over live objects.
//!
//! Not implemented yet: it arrives with the sync engine.
