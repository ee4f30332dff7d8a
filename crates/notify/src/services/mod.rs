//! The services notifications are delivered through (owned by the
//! services work: Slack, Teams, webhook, email, GitHub, GitLab).
