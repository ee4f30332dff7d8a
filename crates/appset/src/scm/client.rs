//! The HTTP side of the SCM generators: GETs against one provider's API
//! with its token, pagination (GitHub's `Link` header, Gitea's `page`), and
//! the limits that keep a hostile or broken server from costing more than a
//! bounded amount: a timeout per request, a size per answer, a number of
//! entries per list. The token goes only to the API's own scheme, host and
//! port, and no error carries it.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, LINK, USER_AGENT};
use serde::de::DeserializeOwned;

/// The most entries one list (repositories, branches, pull requests, labels)
/// may have: beyond it the generator fails rather than loop on.
pub const MAX_ENTRIES: usize = 10_000;
/// The most pages one list may take (a server that pages one entry at a time
/// would otherwise cost 10,000 requests).
const MAX_PAGES: usize = 500;
/// The largest answer read.
const MAX_BODY: usize = 32 << 20;
const TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an SCM API gave no answer the generator can use. Each names the
/// provider and the URL (never credentials).
#[derive(Debug, thiserror::Error)]
pub enum ScmError {
    /// The repository (or organization) does not exist: HTTP 404.
    #[error("{provider}: GET {url}: not found (HTTP 404)")]
    NotFound {
        /// GitHub or Gitea.
        provider: &'static str,
        /// What was asked for.
        url: String,
    },
    /// Any other answer than a success.
    #[error("{provider}: GET {url}: HTTP {status}")]
    Status {
        /// GitHub or Gitea.
        provider: &'static str,
        /// What was asked for.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// No answer (connection, TLS, timeout).
    #[error("{provider}: GET {url}: {reason}")]
    Unreachable {
        /// GitHub or Gitea.
        provider: &'static str,
        /// What was asked for.
        url: String,
        /// Why.
        reason: String,
    },
    /// An answer that is not what the API returns.
    #[error("{provider}: GET {url}: the answer is not {provider}'s API's: {reason}")]
    Malformed {
        /// GitHub or Gitea.
        provider: &'static str,
        /// What was asked for.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A redirect or a next-page link to another host: not followed, so
    /// the token stays with the API.
    #[error("{provider}: GET {url}: points to another host ({to}); driftless sends the token only to {api}")]
    OtherHost {
        /// GitHub or Gitea.
        provider: &'static str,
        /// What was asked for.
        url: String,
        /// Where it pointed (scheme, host and port).
        to: String,
        /// The API's scheme, host and port.
        api: String,
    },
    /// A list longer than driftless reads.
    #[error("{provider}: {url} lists more than {limit} entries (or takes more than {pages} pages); driftless reads at most that many")]
    TooMany {
        /// GitHub or Gitea.
        provider: &'static str,
        /// The list.
        url: String,
        /// [`MAX_ENTRIES`].
        limit: usize,
        /// The page limit.
        pages: usize,
    },
}

impl ScmError {
    /// Whether the thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ScmError::NotFound { .. })
    }
}

/// How a provider's lists continue.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Paging {
    /// GitHub: `per_page=100`, the next page in the `Link` header.
    Link,
    /// Gitea: `limit` and `page=1,2,...` until a page comes back empty.
    Page,
}

/// One provider's API.
pub(crate) struct Api {
    provider: &'static str,
    /// Ends with `/`; paths are appended to it.
    base: Url,
    /// The Authorization header (`Bearer …`, `token …`); marked sensitive.
    auth: Option<HeaderValue>,
    /// The token itself, to scrub from anything an error quotes.
    token: Option<String>,
    paging: Paging,
    accept: &'static str,
    http: reqwest::Client,
}

impl Api {
    /// An API at `base` (absolute http(s) URL, its path ending in `/`).
    /// Errors name the generator's field they come from (`api`, `tokenRef`).
    /// `scheme` prefixes the token in the Authorization header; `insecure`
    /// skips TLS verification.
    pub(crate) fn new(
        provider: &'static str,
        base: Url,
        token: Option<String>,
        scheme: &str,
        paging: Paging,
        accept: &'static str,
        insecure: bool,
    ) -> Result<Api, String> {
        driftless_source::install_crypto_provider();
        let origin = base.origin();
        // Redirects are followed within the API's origin only; a redirect
        // elsewhere comes back as the 3xx and is refused below.
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() < 10 && attempt.url().origin() == origin { attempt.follow() } else { attempt.stop() }
        });
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(policy)
            .danger_accept_invalid_certs(insecure)
            .build()
            .map_err(|e| format!("api: cannot build an HTTP client for {provider}: {e}"))?;
        let token = token.filter(|t| !t.is_empty());
        let auth = match &token {
            Some(t) => {
                let mut v = HeaderValue::from_str(&format!("{scheme} {t}")).map_err(|_| {
                    "tokenRef: the token holds characters an HTTP header cannot carry (a line break inside it?)".to_string()
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(Api { provider, base, auth, token, paging, accept, http })
    }

    /// The URL of `segments` (each percent-encoded as one path segment)
    /// below the base, with `query`.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut().expect("an http(s) URL has a path").pop_if_empty().extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Whether `url` exists: true for a success, false for 404.
    pub(crate) async fn exists(&self, url: Url) -> Result<bool, ScmError> {
        match self.send(&url).await {
            Ok(_) => Ok(true),
            Err(ScmError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// GETs `url` and decodes its JSON.
    pub(crate) async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, ScmError> {
        let resp = self.send(&url).await?;
        let body = self.body(&url, resp).await?;
        self.decode(&url, &body)
    }

    /// Every entry of the list at `url`, page after page.
    pub(crate) async fn list<T: DeserializeOwned>(&self, mut url: Url) -> Result<Vec<T>, ScmError> {
        let first = url.clone();
        let page_size = match self.paging {
            Paging::Link => ("per_page", "100"),
            Paging::Page => ("limit", "50"),
        };
        url.query_pairs_mut().append_pair(page_size.0, page_size.1);
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut this = url.clone();
            if let Paging::Page = self.paging {
                this.query_pairs_mut().append_pair("page", &page.to_string());
            }
            let resp = self.send(&this).await?;
            let next = match self.paging {
                Paging::Link => next_link(resp.headers().get(LINK)),
                Paging::Page => None,
            };
            let body = self.body(&this, resp).await?;
            let entries: Vec<T> = self.decode(&this, &body)?;
            let empty = entries.is_empty();
            all.extend(entries);
            if all.len() > MAX_ENTRIES {
                break;
            }
            match self.paging {
                Paging::Page if empty => return Ok(all),
                Paging::Page => {}
                Paging::Link => match next {
                    None => return Ok(all),
                    Some(n) => {
                        let n = this.join(&n).map_err(|e| self.malformed(&this, format!("its Link header is not a URL: {e}")))?;
                        self.same_origin(&this, &n)?;
                        url = n;
                    }
                },
            }
        }
        Err(ScmError::TooMany { provider: self.provider, url: self.show(&first), limit: MAX_ENTRIES, pages: MAX_PAGES })
    }

    /// A listing of this API is not what it returns (`reason`).
    pub(crate) fn malformed_listing(&self, reason: String) -> ScmError {
        self.malformed(&self.base, reason)
    }

    /// What this API lists adds up to more than [`MAX_ENTRIES`].
    pub(crate) fn too_many(&self) -> ScmError {
        ScmError::TooMany { provider: self.provider, url: self.show(&self.base), limit: MAX_ENTRIES, pages: MAX_PAGES }
    }

    async fn send(&self, url: &Url) -> Result<reqwest::Response, ScmError> {
        self.same_origin(url, url)?;
        let mut req = self.http.get(url.clone()).header(ACCEPT, self.accept).header(USER_AGENT, "driftless");
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        let resp = req.send().await.map_err(|e| self.unreachable(url, driftless_source::error_chain(&e)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status.is_redirection() {
            let to = resp.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()).and_then(|l| url.join(l).ok());
            if let Some(to) = to
                && to.origin() != self.base.origin()
            {
                return Err(self.other_host(url, &to));
            }
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(ScmError::NotFound { provider: self.provider, url: self.show(url) });
        }
        Err(ScmError::Status { provider: self.provider, url: self.show(url), status: status.as_u16() })
    }

    /// The body, at most [`MAX_BODY`] bytes.
    async fn body(&self, url: &Url, mut resp: reqwest::Response) -> Result<Vec<u8>, ScmError> {
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.unreachable(url, driftless_source::error_chain(&e)))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(self.malformed(url, format!("larger than {} MiB", MAX_BODY >> 20)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn decode<T: DeserializeOwned>(&self, url: &Url, body: &[u8]) -> Result<T, ScmError> {
        serde_json::from_slice(body).map_err(|e| self.malformed(url, e.to_string()))
    }

    fn same_origin(&self, from: &Url, to: &Url) -> Result<(), ScmError> {
        if to.origin() == self.base.origin() { Ok(()) } else { Err(self.other_host(from, to)) }
    }

    fn other_host(&self, url: &Url, to: &Url) -> ScmError {
        ScmError::OtherHost {
            provider: self.provider,
            url: self.show(url),
            to: self.scrub(to.origin().ascii_serialization()),
            api: self.base.origin().ascii_serialization(),
        }
    }

    fn unreachable(&self, url: &Url, reason: String) -> ScmError {
        ScmError::Unreachable { provider: self.provider, url: self.show(url), reason: self.scrub(reason) }
    }

    fn malformed(&self, url: &Url, reason: String) -> ScmError {
        ScmError::Malformed { provider: self.provider, url: self.show(url), reason: self.scrub(reason) }
    }

    /// `url` as errors show it: no user info, no token.
    fn show(&self, url: &Url) -> String {
        let mut u = url.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        self.scrub(u.to_string())
    }

    /// `text` without the token (a hostile server may echo it back in a
    /// field that fails to decode, or in a link).
    fn scrub(&self, text: String) -> String {
        match &self.token {
            Some(t) if text.contains(t.as_str()) => text.replace(t.as_str(), "<token>"),
            _ => text,
        }
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: Option<&HeaderValue>) -> Option<String> {
    let text = header?.to_str().ok()?;
    text.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_page() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        let github = r#"<https://api.github.com/organizations/1/repos?per_page=100&page=2>; rel="next", <https://api.github.com/organizations/1/repos?per_page=100&page=5>; rel="last""#;
        assert_eq!(next_link(Some(&h(github))).as_deref(), Some("https://api.github.com/organizations/1/repos?per_page=100&page=2"));
        let last = r#"<https://x/repos?page=1>; rel="prev", <https://x/repos?page=1>; rel="first""#;
        assert_eq!(next_link(Some(&h(last))), None);
        assert_eq!(next_link(None), None);
        for garbage in ["", ";", "<", "rel=\"next\"", "<a>; rel=\"nextish\"", ",,,;;;<>", "<>; rel=next"] {
            let got = next_link(Some(&h(garbage)));
            assert!(got.is_none() || got.as_deref() == Some(""), "{garbage:?} gave {got:?}");
        }
    }

    #[test]
    fn urls_encode_each_segment_and_keep_below_the_base() {
        let api = Api::new("GitHub", Url::parse("https://ghe.example/api/v3/").unwrap(), None, "Bearer", Paging::Link, "x", false).unwrap();
        let u = api.url(&["repos", "org", "repo", "branches", "feature/a b?#"], &[("ref", "a&b=c")]);
        assert_eq!(u.as_str(), "https://ghe.example/api/v3/repos/org/repo/branches/feature%2Fa%20b%3F%23?ref=a%26b%3Dc");
    }

    #[test]
    fn a_token_with_a_line_break_is_refused_without_quoting_it() {
        let e =
            Api::new("Gitea", Url::parse("http://127.0.0.1/api/v1/").unwrap(), Some("s3cret\nX".into()), "token", Paging::Page, "x", false)
                .err()
                .unwrap();
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn errors_show_urls_without_user_info_or_token() {
        let api = Api::new(
            "GitHub",
            Url::parse("https://u:p@ghe.example/api/v3/").unwrap(),
            Some("tok123".into()),
            "Bearer",
            Paging::Link,
            "x",
            false,
        )
        .unwrap();
        let shown = api.show(&Url::parse("https://u:p@ghe.example/api/v3/x?leak=tok123").unwrap());
        assert_eq!(shown, "https://ghe.example/api/v3/x?leak=<token>");
    }
}
