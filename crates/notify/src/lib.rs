//! Notifications in Argo CD's format: `argocd-notifications-cm` and
//! `argocd-notifications-secret` (services, templates, triggers,
//! subscriptions), rendered for an Application and delivered to Slack,
//! Teams, webhooks, email, GitHub and GitLab.
//!
//! The core is pure: [`config`] parses, [`subscriptions`] finds who is
//! subscribed, [`plan`] evaluates triggers against the [`state`] kept on
//! the app and renders [`template`]s; [`controller`] is the loop that
//! delivers through [`services`] with retries.

pub mod config;
pub mod controller;
mod funcs;
mod notification;
pub mod plan;
pub mod services;
pub mod state;
pub mod subscriptions;
pub mod template;
pub mod trigger;

pub use notification::{Destination, Notification};
