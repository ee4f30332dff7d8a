//! Repository URLs in one normal form, so that two spellings of one
//! repository compare equal (webhooks, `driftless validate`).

/// A repository URL as `host/path`, lowercase: without scheme, user, port,
/// `.git` and trailing slashes, so that `https://Host/x.git`,
/// `ssh://git@host:22/x` and `git@host:x` read the same. Ports are ignored
/// as Argo CD ignores them (SSH and HTTPS reach one repository on two). A
/// local path or `file://` URL is its path.
pub fn normalise_url(url: &str) -> String {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let (authority, path) = match lower.split_once("://") {
        Some(("file", rest)) => ("", rest),
        Some((_, rest)) => rest.split_once('/').unwrap_or((rest, "")),
        // scp-like `user@host:path`: a colon before any slash.
        None => match lower.split_once(':') {
            Some((host, path)) if !host.contains('/') && !host.is_empty() => (host, path),
            _ => ("", lower.as_str()),
        },
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // `[::1]:22` keeps its brackets; `host:22` loses the port.
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.is_empty() => h,
        _ => host,
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path).trim_end_matches('/');
    if host.is_empty() { format!("/{path}") } else { format!("{host}/{path}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_one_repository_normalise_alike() {
        let forms = [
            "https://github.com/Org/Repo.git",
            "https://github.com/org/repo",
            "https://github.com/org/repo/",
            "http://GitHub.com/org/repo.git/",
            "ssh://git@github.com/org/repo.git",
            "ssh://git@github.com:22/org/repo",
            "git@github.com:org/repo.git",
            "git@github.com:/org/repo",
            "https://user:token@github.com/org/repo",
            "git://github.com/org/repo",
        ];
        for f in forms {
            assert_eq!(normalise_url(f), "github.com/org/repo", "{f}");
        }
        assert_ne!(normalise_url("https://github.com/org/other"), normalise_url(forms[0]));
        assert_ne!(normalise_url("https://gitlab.com/org/repo"), normalise_url(forms[0]));
        assert_eq!(normalise_url("file:///tmp/x/repo"), "/tmp/x/repo");
        assert_eq!(normalise_url("/tmp/x/repo/"), "/tmp/x/repo");
        assert_eq!(normalise_url("oci://127.0.0.1:5000/charts/web"), "127.0.0.1/charts/web");
        assert_eq!(normalise_url(""), "/");
    }
}
