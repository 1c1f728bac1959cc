//! The console's and the widget's own static files, compiled into the binary. Each is served
//! with a strong validator (a hash of its bytes) so browsers revalidate cheaply.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/console.js"),
    },
];

/// The widget script sites embed.
pub const WIDGET_JS: &str = include_str!("../assets/widget.js");

fn serve(headers: &HeaderMap, content_type: &'static str, body: &'static str) -> Response {
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(body.as_bytes()))[..16]
    );
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        body.into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300, must-revalidate"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    res
}

/// `GET /app/static/{name}`.
pub async fn console_asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => serve(&headers, a.content_type, a.body),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /widget.js`: any site may load it.
pub async fn widget_js(headers: HeaderMap) -> Response {
    let mut res = serve(&headers, "text/javascript; charset=utf-8", WIDGET_JS);
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzipped(s: &str) -> usize {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(s.as_bytes()).unwrap();
        e.finish().unwrap().len()
    }

    /// The budget: sites load the widget on every page, so it stays under 30 KB gzipped.
    #[test]
    fn the_widget_stays_small() {
        let size = gzipped(WIDGET_JS);
        assert!(size < 30 * 1024, "widget.js is {size} bytes gzipped");
    }

    #[test]
    fn assets_revalidate_by_etag() {
        let first = serve(&HeaderMap::new(), "text/css", "a{}");
        let etag = first.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            serve(&h, "text/css", "a{}").status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(serve(&h, "text/css", "b{}").status(), StatusCode::OK);
    }

    #[test]
    fn no_inline_handlers_or_eval_in_our_scripts() {
        // A strict CSP forbids eval and string timers; our scripts must not need them.
        for js in [WIDGET_JS, ASSETS[1].body] {
            assert!(!js.contains("eval("), "eval in a script");
            assert!(!js.contains("new Function"), "new Function in a script");
            assert!(
                !js.contains("setAttribute(\"style\""),
                "inline style attribute"
            );
        }
    }
}
