//! Bad input gets a clear 4xx problem and changes nothing; hostile strings are stored verbatim
//! or rejected cleanly.

use reqwest::Method;
use serde_json::json;
use switchboard_testkit::{dbs, TestApp};

#[tokio::test]
async fn malformed_unknown_wrong_and_oversized_bodies_are_refused() {
    for db in dbs() {
        let app = TestApp::spawn_with(db, |c| c.server.body_limit_bytes = 4096).await;
        let t = app.tenant().await;
        let keys_before = app
            .call(Method::GET, "/v1/api-keys", Some(&t.key), None)
            .await
            .expect(200)
            .text;
        let post = |body: &'static str| {
            app.request(Method::POST, "/v1/api-keys")
                .bearer_auth(&t.key)
                .header("content-type", "application/json")
                .body(body)
        };

        app.send(post("{\"name\": \"x\", "))
            .await
            .expect_problem(400, "malformed_request");
        app.send(post(""))
            .await
            .expect_problem(400, "malformed_request");
        let r = app
            .send(post(
                "{\"name\": \"x\", \"scopes\": [\"admin\"], \"colour\": \"red\"}",
            ))
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "colour", "{}", r.text);
        let r = app
            .send(post("{\"name\": 5, \"scopes\": [\"admin\"]}"))
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "name", "{}", r.text);
        let r = app
            .send(post("{\"name\": \"x\", \"scopes\": [\"admin\", \"root\"]}"))
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "scopes[1]", "{}", r.text);
        let r = app
            .send(post(
                "{\"name\": \"x\", \"scopes\": [\"admin\"], \"expires_at\": \"tomorrow\"}",
            ))
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "expires_at");
        let big = format!(
            "{{\"name\": \"{}\", \"scopes\": [\"admin\"]}}",
            "a".repeat(8192)
        );
        app.send(
            app.request(Method::POST, "/v1/api-keys")
                .bearer_auth(&t.key)
                .header("content-type", "application/json")
                .body(big),
        )
        .await
        .expect_problem(413, "payload_too_large");
        app.send(
            app.request(Method::POST, "/v1/api-keys")
                .bearer_auth(&t.key)
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await
        .expect_problem(415, "unsupported_media_type");
        let r = app
            .send(
                app.request(Method::GET, "/v1/api-keys?limit=0")
                    .bearer_auth(&t.key),
            )
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "limit");
        let r = app
            .send(
                app.request(Method::GET, "/v1/api-keys?sort=desc")
                    .bearer_auth(&t.key),
            )
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "sort");
        app.send(app.request(Method::GET, "/v1/nowhere").bearer_auth(&t.key))
            .await
            .expect_problem(404, "not_found");
        app.send(app.request(Method::PUT, "/v1/api-keys").bearer_auth(&t.key))
            .await
            .expect_problem(405, "method_not_allowed");
        app.send(
            app.request(Method::GET, "/v1/api-keys/key_not-an-id")
                .bearer_auth(&t.key),
        )
        .await
        .expect_problem(404, "not_found");
        app.send(
            app.request(Method::GET, "/v1/api-keys/..%2F..%2Fetc%2Fpasswd")
                .bearer_auth(&t.key),
        )
        .await
        .expect_problem(404, "not_found");

        // Every problem carries the request id for support.
        let r = app.send(post("nope")).await;
        assert_eq!(
            r.body["request_id"].as_str(),
            r.headers.get("x-request-id").and_then(|v| v.to_str().ok())
        );

        assert_eq!(
            app.call(Method::GET, "/v1/api-keys", Some(&t.key), None)
                .await
                .text,
            keys_before,
            "{db:?}: a refused request changed data"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn hostile_strings_are_stored_verbatim_or_rejected_cleanly() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        for name in [
            "Robert'); DROP TABLE api_keys;--",
            "\" OR 1=1 --",
            "Zoë 東京 🚀 \u{202e}RTL",
            "%_\\ wildcards",
            "<script>alert(1)</script>",
        ] {
            let r = app
                .call(
                    Method::POST,
                    "/v1/api-keys",
                    Some(&t.key),
                    Some(json!({"name": name, "scopes": ["viewer"]})),
                )
                .await
                .expect(201);
            let id = r.body["api_key"]["id"].as_str().unwrap().to_owned();
            let back = app
                .call(
                    Method::GET,
                    &format!("/v1/api-keys/{id}"),
                    Some(&t.key),
                    None,
                )
                .await
                .expect(200);
            assert_eq!(back.body["name"], name, "{db:?}");
        }
        // NUL and other control characters are refused, not truncated.
        let r = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "nul\u{0}byte", "scopes": ["viewer"]})),
            )
            .await;
        r.expect_problem(422, "validation_failed");
        // Slugs never carry SQL or paths.
        for slug in ["acme'; DROP TABLE tenants;--", "../etc", "UPPER", "a"] {
            let r = app
                .call(
                    Method::POST,
                    "/v1/tenants",
                    Some(&app.platform_token),
                    Some(json!({"slug": slug, "name": "x", "admin_email": "x@y.test"})),
                )
                .await;
            let r = r.expect_problem(422, "validation_failed");
            assert_eq!(r.body["errors"][0]["field"], "slug");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn health_readiness_metrics_openapi_and_docs_are_served() {
    let app = TestApp::spawn(switchboard_testkit::Db::Sqlite).await;
    assert_eq!(
        app.send(app.request(Method::GET, "/healthz"))
            .await
            .expect(200)
            .text,
        "ok"
    );
    assert_eq!(
        app.send(app.request(Method::GET, "/readyz"))
            .await
            .expect(200)
            .text,
        "ready"
    );
    app.send(app.request(Method::GET, "/v1/me"))
        .await
        .expect_problem(401, "unauthenticated");
    let m = app
        .send(app.request(Method::GET, "/metrics"))
        .await
        .expect(200)
        .text;
    assert!(m.contains("switchboard_http_requests_total"), "{m}");
    assert!(
        m.contains("route=\"/v1/me\""),
        "metrics use route templates: {m}"
    );
    let doc = app
        .send(app.request(Method::GET, "/openapi.json"))
        .await
        .expect(200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc.body["paths"]["/v1/tenants"]["post"].is_object());
    let html = app
        .send(app.request(Method::GET, "/docs"))
        .await
        .expect(200)
        .text;
    assert!(
        html.contains("/openapi.json") && !html.contains("https://"),
        "docs page must not load from a CDN"
    );
    app.stop().await;
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.json"
    ))
    .unwrap_or_default();
    let generated = switchboard_api::openapi_json();
    assert!(
        committed.trim() == generated.trim(),
        "docs/openapi.json is stale: run `cargo run -q -- openapi > docs/openapi.json`"
    );
}
