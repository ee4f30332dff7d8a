//! The web UI: six HTML pages and the CSS, JavaScript and icons they use,
//! all embedded in the binary (no Node at build time, no third-party
//! front-end code). Pages are static shells; their scripts read the JSON API
//! and the SSE stream with the session cookie, so the UI sees exactly what
//! the API lets the user see.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset { name: $name, content_type: $type, body: include_bytes!(concat!("../../assets/", $name)) }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Everything under `/assets/`, plus the pages (served at their own paths).
const ASSETS: &[Asset] = &[
    asset!("login.html", HTML),
    asset!("applications.html", HTML),
    asset!("application.html", HTML),
    asset!("clusters.html", HTML),
    asset!("applicationsets.html", HTML),
    asset!("applicationset.html", HTML),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("common.js", JS),
    asset!("login.js", JS),
    asset!("list.js", JS),
    asset!("app.js", JS),
    asset!("tree.js", JS),
    asset!("clusters.js", JS),
    asset!("appsets.js", JS),
    asset!("appset.js", JS),
    asset!("appset-view.js", JS),
    asset!("events-view.js", JS),
    asset!("deps-view.js", JS),
    asset!("yaml.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// Our pages run only our own scripts and styles, and never inside a frame.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The UI's routes: `/` (to the list), `/login`, `/applications`,
/// `/applications/{namespace}/{name}`, `/applicationsets`,
/// `/applicationsets/{namespace}/{name}`, `/clusters` and `/assets/{file}`. Authentication
/// is the caller's: it redirects anonymous page requests to `/login`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/applications") }))
        .route("/login", get(|h: HeaderMap| async move { page("login.html", &h) }))
        .route("/applications", get(|h: HeaderMap| async move { page("applications.html", &h) }))
        .route("/applications/{namespace}/{name}", get(|h: HeaderMap| async move { page("application.html", &h) }))
        .route("/clusters", get(|h: HeaderMap| async move { page("clusters.html", &h) }))
        .route("/applicationsets", get(|h: HeaderMap| async move { page("applicationsets.html", &h) }))
        .route("/applicationsets/{namespace}/{name}", get(|h: HeaderMap| async move { page("applicationset.html", &h) }))
        .route("/assets/{file}", get(|Path(file): Path<String>, h: HeaderMap| async move { asset(&file, &h) }))
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

fn page(name: &str, request: &HeaderMap) -> Response {
    let mut response = asset(name, request);
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response.headers_mut().insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Serves an embedded file with an ETag, so browsers revalidate cheaply
/// instead of caching a stale UI across upgrades.
fn asset(name: &str, request: &HeaderMap) -> Response {
    let Some(asset) = find(name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let etag = etag(asset.body);
    let common = [(header::ETAG, etag.clone()), (header::CACHE_CONTROL, "no-cache".to_owned())];
    if request.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let content_type = [(header::CONTENT_TYPE, asset.content_type), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")];
    (common, content_type, asset.body).into_response()
}

/// FNV-1a of the content: stable across builds of the same file.
fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    /// The UI served on a loopback port, as the browser sees it.
    async fn serve() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        tokio::spawn(async move { axum::serve(listener, router::<()>()).await });
        format!("http://{addr}")
    }

    async fn get(base: &str, path: &str, if_none_match: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = Request::get(format!("{base}{path}"));
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
        let response = client.request(request.body(Body::empty()).expect("a request")).await.expect("a response");
        let (parts, body) = response.into_parts();
        (parts.status, parts.headers, body.collect().await.expect("the body").to_bytes().to_vec())
    }

    fn header_of(headers: &HeaderMap, name: header::HeaderName) -> &str {
        headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    #[tokio::test]
    async fn pages_are_html_with_a_strict_policy() {
        let base = serve().await;
        for path in [
            "/login",
            "/applications",
            "/applications/argocd/guestbook",
            "/clusters",
            "/applicationsets",
            "/applicationsets/argocd/guestbook",
        ] {
            let (status, headers, body) = get(&base, path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(header_of(&headers, header::CONTENT_TYPE), HTML, "{path}");
            assert!(header_of(&headers, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"), "{path}");
            assert!(body.starts_with(b"<!doctype html>"), "{path}");
        }
        let (status, headers, _) = get(&base, "/", None).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(header_of(&headers, header::LOCATION), "/applications");
    }

    #[tokio::test]
    async fn assets_revalidate_by_etag() {
        let base = serve().await;
        let (status, headers, body) = get(&base, "/assets/app.js", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header_of(&headers, header::CONTENT_TYPE), JS);
        assert_eq!(body, find("app.js").expect("embedded").body);
        let tag = header_of(&headers, header::ETAG).to_owned();
        assert_eq!(get(&base, "/assets/app.js", Some(&tag)).await.0, StatusCode::NOT_MODIFIED);
        assert_eq!(get(&base, "/assets/app.js", Some("\"other\"")).await.0, StatusCode::OK);
        assert_eq!(get(&base, "/assets/nope.js", None).await.0, StatusCode::NOT_FOUND);
        assert_eq!(get(&base, "/assets/..%2Fsrc%2Fui%2Fmod.rs", None).await.0, StatusCode::NOT_FOUND);
    }

    /// Every page and script loads only assets that exist, so a renamed
    /// file cannot silently break the UI.
    #[test]
    fn references_name_embedded_assets() {
        for file in ASSETS.iter().filter(|a| a.content_type == HTML || a.content_type == JS) {
            let text = std::str::from_utf8(file.body).expect("UTF-8 text");
            let pattern = if file.content_type == HTML { "/assets/" } else { "from './" };
            for reference in text.split(pattern).skip(1) {
                let name: String = reference.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').collect();
                assert!(find(&name).is_some(), "{} refers to missing asset {name}", file.name);
            }
        }
    }
}
