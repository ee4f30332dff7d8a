//! Notifications in Argo CD's format: `argocd-notifications-cm` and
//! `argocd-notifications-secret` (services, templates, triggers,
//! subscriptions), rendered for an Application and delivered to Slack,
//! Teams, webhooks, email, GitHub and GitLab.

mod notification;
pub mod services;

pub use notification::{Destination, Notification};
