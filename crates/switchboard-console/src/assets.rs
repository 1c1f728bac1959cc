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

#[cfg(test)]
mod contrast {
    use super::ASSETS;
    use std::collections::HashMap;

    /// The `--name: #rrggbb` variables of the console's stylesheet.
    fn palette() -> HashMap<String, String> {
        let css = ASSETS[0].body;
        let root = &css[css.find(":root").unwrap()..];
        let root = &root[root.find('{').unwrap() + 1..root.find('}').unwrap()];
        root.split(';')
            .filter_map(|d| {
                let (k, v) = d.split_once(':')?;
                let v = v.trim();
                (k.trim().starts_with("--") && v.starts_with('#') && v.len() == 7)
                    .then(|| (k.trim().to_owned(), v.to_owned()))
            })
            .collect()
    }

    fn luminance(hex: &str) -> f64 {
        let v = u32::from_str_radix(&hex[1..], 16).unwrap();
        let c = |s: u32| {
            let c = f64::from((v >> s) & 255) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * c(16) + 0.7152 * c(8) + 0.0722 * c(0)
    }

    fn ratio(a: &str, b: &str) -> f64 {
        let (x, y) = (luminance(a), luminance(b));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    /// WCAG AA (4.5:1 for text) for every text colour on the backgrounds it is used on.
    #[test]
    fn text_colours_meet_wcag_aa() {
        let p = palette();
        let pairs = [
            ("--text", "--bg"),
            ("--text", "--panel"),
            ("--muted", "--bg"),
            ("--muted", "--panel"),
            ("--accent", "--panel"),
            ("--accent-text", "--accent"),
            ("--bad", "--panel"),
            ("--bad", "--mark"),
            ("--good", "--panel"),
            ("--warn", "--panel"),
            ("--text", "--note"),
        ];
        for (fg, bg) in pairs {
            let r = ratio(&p[fg], &p[bg]);
            assert!(r >= 4.5, "{fg} on {bg}: {r:.2}:1");
        }
        // The top bar's white text on its navy.
        assert!(ratio("#ffffff", "#14233c") >= 4.5);
    }
}
