//! The streamer's dashboard and the OBS overlay: static files compiled into the binary.
//!
//! - `/` is the dashboard (fleet overview, focused channel, comparison, control plane). It asks
//!   for a bearer token and keeps it in the browser (session storage, or local storage when
//!   the user ticks "keep me signed in"); every API call sends it as a header, so there is no
//!   cookie to forge (CSRF-safe by construction).
//! - `/overlay/{login}` is the OBS browser source: a transparent page that reads an overlay
//!   token from the URL fragment (`#token=…`), which browsers never send to the server, so the
//!   token stays out of access logs and `Referer` headers.
//! - `/vendor/uplot-<version>/…` is the vendored chart library (`dashboard/vendor/README.md`).
//!
//! Every file is served with a strong `ETag` (a hash of its bytes) and answers
//! `If-None-Match` with 304, so a reload costs one small request per file. Application files
//! are revalidated on each load (`no-cache`); the vendored library has a versioned path and is
//! cached as immutable. The strict CSP of [`super::app`] applies to all of them: the pages
//! use no inline script or style and load nothing from another origin.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::AppState;

/// One file of the dashboard.
#[derive(Debug)]
struct Asset {
    /// URL path it is served at.
    path: &'static str,
    /// `Content-Type`.
    content_type: &'static str,
    /// The bytes.
    body: &'static [u8],
    /// Whether the path is versioned, so the file can be cached for good.
    immutable: bool,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

macro_rules! asset {
    ($path:literal, $file:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../../dashboard/", $file)),
            immutable: false,
        }
    };
    ($path:literal, $file:literal, $type:expr, immutable) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../../dashboard/", $file)),
            immutable: true,
        }
    };
}

/// The overlay page, served for every `/overlay/{login}` (its script reads the login from the
/// path and the token from the fragment).
const OVERLAY_HTML: Asset = asset!("/overlay/{login}", "overlay.html", HTML);

/// Every other file, by the path it is served at.
const ASSETS: &[Asset] = &[
    asset!("/", "index.html", HTML),
    asset!("/app.js", "app.js", JS),
    asset!("/style.css", "style.css", CSS),
    asset!("/favicon.svg", "favicon.svg", "image/svg+xml"),
    asset!("/js/api.js", "js/api.js", JS),
    asset!("/js/dom.js", "js/dom.js", JS),
    asset!("/js/format.js", "js/format.js", JS),
    asset!("/js/sse.js", "js/sse.js", JS),
    asset!("/js/charts.js", "js/charts.js", JS),
    asset!("/js/fleet.js", "js/fleet.js", JS),
    asset!("/js/channel.js", "js/channel.js", JS),
    asset!("/js/agent.js", "js/agent.js", JS),
    asset!("/js/tokens.js", "js/tokens.js", JS),
    asset!("/js/compare.js", "js/compare.js", JS),
    asset!("/js/prompt.js", "js/prompt.js", JS),
    asset!("/js/reports.js", "js/reports.js", JS),
    asset!("/js/copilot.js", "js/copilot.js", JS),
    asset!("/js/memory.js", "js/memory.js", JS),
    asset!("/js/actions.js", "js/actions.js", JS),
    asset!("/js/goals.js", "js/goals.js", JS),
    asset!("/js/playbooks.js", "js/playbooks.js", JS),
    asset!("/overlay.js", "overlay.js", JS),
    asset!("/overlay.css", "overlay.css", CSS),
    asset!(
        "/vendor/uplot-1.6.32/uPlot.iife.min.js",
        "vendor/uplot/uPlot.iife.min.js",
        JS,
        immutable
    ),
    asset!(
        "/vendor/uplot-1.6.32/uPlot.min.css",
        "vendor/uplot/uPlot.min.css",
        CSS,
        immutable
    ),
    asset!(
        "/vendor/uplot-1.6.32/LICENSE",
        "vendor/uplot/LICENSE",
        "text/plain; charset=utf-8",
        immutable
    ),
];

/// A strong validator for `body`: the first 128 bits of its SHA-256, quoted.
fn etag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
}

/// Whether an `If-None-Match` header names `tag` (or is `*`).
fn not_modified(headers: &HeaderMap, tag: &HeaderValue) -> bool {
    let Some(tag) = tag.to_str().ok() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().trim_start_matches("W/"))
        .any(|v| v == tag || v == "*")
}

fn respond(asset: &'static Asset, tag: &HeaderValue, request: &HeaderMap) -> Response {
    let cache = HeaderValue::from_static(if asset.immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    });
    if not_modified(request, tag) {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, tag.clone()), (header::CACHE_CONTROL, cache)],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::ETAG, tag.clone()),
            (header::CACHE_CONTROL, cache),
        ],
        asset.body,
    )
        .into_response()
}

fn serve(router: Router<AppState>, asset: &'static Asset) -> Router<AppState> {
    let tag = etag(asset.body);
    router.route(
        asset.path,
        get(move |headers: HeaderMap| async move { respond(asset, &tag, &headers) }),
    )
}

/// Routes for the dashboard's and the overlay's files.
pub fn routes() -> Router<AppState> {
    ASSETS
        .iter()
        .chain(std::iter::once(&OVERLAY_HTML))
        .fold(Router::new(), serve)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// Files in `dashboard/` that are documentation or test data, not served.
    const NOT_SERVED: &[&str] = &["headless.json", "vendor/README.md"];

    fn files(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, root, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy();
                out.insert(rel.replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_dashboard_file_is_served() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
        let mut on_disk = BTreeSet::new();
        files(&root, &root, &mut on_disk);
        let served: BTreeSet<&[u8]> = ASSETS
            .iter()
            .chain(std::iter::once(&OVERLAY_HTML))
            .map(|a| a.body)
            .collect();
        for file in on_disk.iter().filter(|f| !NOT_SERVED.contains(&f.as_str())) {
            let bytes = std::fs::read(root.join(file)).unwrap();
            assert!(
                served.contains(bytes.as_slice()),
                "dashboard/{file} is not in ASSETS (src/http/dashboard.rs)"
            );
        }
    }

    #[test]
    fn pages_reference_only_served_paths() {
        let paths: BTreeSet<&str> = ASSETS.iter().map(|a| a.path).collect();
        for page in [ASSETS[0].body, OVERLAY_HTML.body] {
            let page = std::str::from_utf8(page).unwrap();
            for attr in ["src=\"", "href=\""] {
                for rest in page.split(attr).skip(1) {
                    let url = rest.split('"').next().unwrap();
                    if url.starts_with('/') {
                        assert!(paths.contains(url), "{url} is linked but not served");
                    }
                }
            }
        }
    }

    #[test]
    fn etags_revalidate() {
        let tag = etag(b"hello");
        let mut headers = HeaderMap::new();
        assert!(!not_modified(&headers, &tag));
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"nope\", W/{}", tag.to_str().unwrap())).unwrap(),
        );
        assert!(not_modified(&headers, &tag));
        assert_ne!(etag(b"hello"), etag(b"hello!"));
    }
}
