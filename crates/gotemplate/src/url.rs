//! URLs as Go's net/url splits and joins them, for `urlParse` and `urlJoin`.

use std::fmt;

#[derive(Default)]
pub(crate) struct GoUrl {
    pub scheme: String,
    pub host: String,
    pub path: String,
    pub query: String,
    pub opaque: String,
    pub fragment: String,
    pub userinfo: String,
}

impl GoUrl {
    pub fn parse(text: &str) -> Result<GoUrl, String> {
        if text.chars().any(|c| c.is_ascii_control()) {
            return Err(format!("parse {text:?}: net/url: invalid control character in URL"));
        }
        let mut u = GoUrl::default();
        let (rest, fragment) = text.split_once('#').unwrap_or((text, ""));
        u.fragment = fragment.to_string();
        let mut rest = rest;
        if let Some(i) = rest.find(':') {
            let scheme = &rest[..i];
            let valid = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if valid {
                u.scheme = scheme.to_ascii_lowercase();
                rest = &rest[i + 1..];
            } else if i == 0 {
                return Err(format!("parse {text:?}: missing protocol scheme"));
            }
        }
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        u.query = query.to_string();
        if !u.scheme.is_empty() && !rest.starts_with('/') {
            u.opaque = rest.to_string();
            return Ok(u);
        }
        let rest = if let Some(auth) = rest.strip_prefix("//") {
            let end = auth.find('/').unwrap_or(auth.len());
            let authority = &auth[..end];
            match authority.rsplit_once('@') {
                Some((user, host)) => {
                    u.userinfo = user.to_string();
                    u.host = host.to_string();
                }
                None => u.host = authority.to_string(),
            }
            &auth[end..]
        } else {
            rest
        };
        u.path = rest.to_string();
        Ok(u)
    }

    /// The host without its port (and without IPv6 brackets).
    pub fn hostname(&self) -> String {
        let h = &self.host;
        if let Some(v6) = h.strip_prefix('[') {
            return v6.split(']').next().unwrap_or_default().to_string();
        }
        h.split(':').next().unwrap_or_default().to_string()
    }
}

impl fmt::Display for GoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.scheme.is_empty() {
            write!(f, "{}:", self.scheme)?;
        }
        if !self.opaque.is_empty() {
            write!(f, "{}", self.opaque)?;
        } else {
            if !self.scheme.is_empty() || !self.host.is_empty() || !self.userinfo.is_empty() {
                if !self.host.is_empty() || !self.path.is_empty() || !self.userinfo.is_empty() {
                    write!(f, "//")?;
                }
                if !self.userinfo.is_empty() {
                    write!(f, "{}@", self.userinfo)?;
                }
                write!(f, "{}", self.host)?;
            }
            if !self.path.is_empty() && !self.path.starts_with('/') && !self.host.is_empty() {
                write!(f, "/")?;
            }
            write!(f, "{}", self.path)?;
        }
        if !self.query.is_empty() {
            write!(f, "?{}", self.query)?;
        }
        if !self.fragment.is_empty() {
            write!(f, "#{}", self.fragment)?;
        }
        Ok(())
    }
}
