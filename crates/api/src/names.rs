//! Kubernetes object names, checked before a name given by a user (an API
//! path, a project's field) goes into a request to the API server.

/// An RFC 1123 label: what a namespace name must be.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// An RFC 1123 subdomain: what most object names (AppProjects,
/// ServiceAccounts) must be.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc_1123() {
        assert!(is_dns_label("team-a") && is_dns_subdomain("team.a-1"));
        for bad in ["", "-a", "a-", "A", "a_b", "../x", "a/b", "a..b", "é"] {
            assert!(!is_dns_subdomain(bad), "{bad:?}");
        }
        assert!(!is_dns_label("a.b"), "a label has no dot");
        assert!(!is_dns_label(&"a".repeat(64)) && !is_dns_subdomain(&"a".repeat(254)));
    }
}
