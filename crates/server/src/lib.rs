//! The **server**: the HTTP JSON API (Argo CD's paths and shapes) and the
//! embedded web UI, reading the state the controller reports.
//!
//! Not implemented yet: see the issue "Web UI and HTTP API".
