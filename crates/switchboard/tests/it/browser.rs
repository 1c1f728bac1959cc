//! End to end in headless Chromium (Debian's `chromium` and `chromium-driver`): an agent works
//! the console while a customer chats in the widget on another site whose page has a strict
//! Content-Security-Policy. Screenshots (desktop and 360 px wide) go to `target/screenshots/`.
//!
//! These run on SQLite only: they test the pages and scripts, which are the same on both
//! backends (the HTTP suites in `console.rs` and `widget.rs` cover PostgreSQL).

use super::console::member;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use reqwest::Method;
use serde_json::json;
use std::path::PathBuf;
use switchboard_core::clock::rfc3339;
use switchboard_testkit::webdriver::{Browser, Driver};
use switchboard_testkit::{dbs, TestApp, TestTenant};

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
}

/// A customer's website on its own origin, embedding the widget under a strict CSP (no inline
/// script or style anywhere). `identify` names the script that identifies the visitor, if any.
async fn customer_site(app_base: &str, public_id: &str, identify: Option<String>) -> String {
    let csp = format!(
        "default-src 'self'; script-src 'self' {app_base}; connect-src 'self' {app_base} {ws}; \
         style-src 'self'; img-src 'self' data: https://cdn.example.test; object-src 'none'; base-uri 'none'",
        ws = app_base.replace("http://", "ws://")
    );
    let identify_tag = if identify.is_some() {
        "<script src=\"/identify.js\"></script>"
    } else {
        ""
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Acme shop</title>\
         <link rel=\"stylesheet\" href=\"/site.css\"><script src=\"/csp-watch.js\"></script></head><body><h1>Acme shop</h1>\
         <p>Everything for your garden.</p>{identify_tag}\
         <script src=\"{app_base}/widget.js\" data-widget=\"{public_id}\" async></script></body></html>"
    );
    let identify = identify.unwrap_or_default();
    let router = axum::Router::new()
        .route(
            "/",
            get(move || {
                let page = page.clone();
                let csp = csp.clone();
                async move {
                    (
                        [
                            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
                            (header::CONTENT_SECURITY_POLICY, csp),
                        ],
                        page,
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/site.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css")],
                    "body{font-family:sans-serif;margin:40px;background:#fafafa}",
                )
            }),
        )
        // Records every Content-Security-Policy violation, so a test can prove there were none.
        .route(
            "/csp-watch.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript")],
                    "window.__cspViolations = []; document.addEventListener('securitypolicyviolation', \
                     function (e) { window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI); });",
                )
            }),
        )
        .route(
            "/identify.js",
            get(move || {
                let js = identify.clone();
                async move { ([(header::CONTENT_TYPE, "text/javascript")], js) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/")
}

async fn widget_inbox(app: &TestApp, t: &TestTenant) -> (String, String) {
    let r = app
        .call(
            Method::POST,
            "/v1/inboxes",
            Some(&t.key),
            Some(json!({"name": "Website", "channel": "widget"})),
        )
        .await
        .expect(201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let s = app
        .call(
            Method::PATCH,
            &format!("/v1/inboxes/{id}/widget"),
            Some(&t.key),
            Some(json!({"appearance": {"title": "Acme help", "greeting": "Hi! Ask us anything.", "colour": "#0a6e31"}})),
        )
        .await
        .expect(200);
    (
        s.body["public_id"].as_str().unwrap().to_owned(),
        s.body["hmac_secret"].as_str().unwrap().to_owned(),
    )
}

/// `selector` inside the widget's shadow root.
fn in_widget(selector: &str) -> String {
    format!(
        "var h = document.getElementById('switchboard-widget'); \
         return h && h.shadowRoot ? h.shadowRoot.querySelector({}) : null;",
        serde_json::to_string(selector).unwrap()
    )
}

async fn sign_in(b: &Browser, base: &str, email: &str, password: &str) {
    b.goto(&format!("{base}/app/login")).await;
    b.type_into(&b.find("#email").await, email).await;
    b.type_into(&b.find("#password").await, password).await;
    b.click(&b.find("#login-form button[type=submit]").await)
        .await;
    b.wait_for(
        "the inbox after sign-in",
        "return /\\/app\\/t\\/[^/]+\\/inbox/.test(location.pathname);",
        json!([]),
    )
    .await;
}

/// Every visible form control on the page has a label (its own `<label>` or `aria-label`).
async fn assert_labelled(b: &Browser, what: &str) {
    let unlabelled = b
        .run(
            "return Array.from(document.querySelectorAll('input, select, textarea'))\
               .filter(function (e) { return e.type !== 'hidden' && e.offsetParent !== null; })\
               .filter(function (e) { return e.labels.length === 0 && !e.getAttribute('aria-label'); })\
               .map(function (e) { return e.outerHTML; });",
            json!([]),
        )
        .await;
    assert_eq!(unlabelled, json!([]), "unlabelled controls on {what}");
}

/// Marks the page so a test can tell it was not reloaded since.
async fn mark(b: &Browser) {
    b.run("window.__unreloaded = true;", json!([])).await;
}

async fn still_marked(b: &Browser) -> bool {
    b.run("return window.__unreloaded === true;", json!([]))
        .await
        .as_bool()
        .unwrap_or(false)
}

#[tokio::test]
async fn an_agent_and_a_customer_chat_in_real_browsers() {
    let db = dbs().remove(0);
    let app = TestApp::spawn(db).await;
    let t = app.tenant().await;
    let (agent_email, agent_password) = member(&app, &t, "agent").await;
    let (public_id, _) = widget_inbox(&app, &t).await;
    let site = customer_site(&app.base, &public_id, None).await;
    let driver = Driver::start().await;
    let agent = driver.browser(1280, 900).await;
    let customer = driver.browser(1280, 900).await;

    // The agent signs in and waits on the inbox, live.
    sign_in(&agent, &app.base, &agent_email, &agent_password).await;
    agent
        .wait_for(
            "the live connection",
            "return document.querySelector('#conn.on');",
            json!([]),
        )
        .await;
    agent
        .wait_for(
            "presence",
            "return /^[1-9][0-9]* online$/.test(document.querySelector('#online').textContent);",
            json!([]),
        )
        .await;
    mark(&agent).await;

    // The customer opens the shop, sees the greeting in the brand's colours, and writes.
    customer.goto(&site).await;
    let launcher = customer
        .element_by_script("the launcher", &in_widget(".launcher"), json!([]))
        .await;
    customer.click(&launcher).await;
    let greeting = customer
        .wait_for(
            "the greeting",
            &format!(
                "var g = (function(){{{}}})(); return g && g.textContent;",
                in_widget(".greeting")
            ),
            json!([]),
        )
        .await;
    assert_eq!(greeting, "Hi! Ask us anything.");
    let title = customer
        .run(
            &format!(
                "return (function(){{{}}})().textContent;",
                in_widget("header h2")
            ),
            json!([]),
        )
        .await;
    assert_eq!(title, "Acme help");
    let input = customer
        .element_by_script("the message box", &in_widget("textarea"), json!([]))
        .await;
    customer
        .type_into(&input, "Hello, my order 1234 has not arrived")
        .await;
    customer
        .click(
            &customer
                .element_by_script("send", &in_widget("button.send"), json!([]))
                .await,
        )
        .await;
    customer
        .wait_for(
            "the customer's own message",
            &format!("var m = (function(){{{}}})(); return m && m.textContent.indexOf('order 1234') >= 0;", in_widget(".m.contact")),
            json!([]),
        )
        .await;
    customer
        .screenshot(&shots().join("widget-desktop.png"))
        .await;

    // The conversation appears in the agent's inbox without a reload.
    agent
        .wait_for(
            "the new conversation in the list",
            "return document.querySelectorAll('#rows .row').length > 0;",
            json!([]),
        )
        .await;
    assert!(still_marked(&agent).await, "the inbox reloaded");
    agent
        .screenshot(&shots().join("console-inbox-desktop.png"))
        .await;
    assert_labelled(&agent, "the inbox").await;
    // Keys: `/` searches, `j` selects the next conversation, Enter opens it.
    let body = agent.find("body").await;
    agent.type_into(&body, "/").await;
    assert_eq!(
        agent
            .run("return document.activeElement.id;", json!([]))
            .await,
        "q"
    );
    agent.run("document.activeElement.blur();", json!([])).await;
    agent.type_into(&body, "j").await;
    let selected = agent.find("#rows .row.kb a").await;
    agent.type_into(&selected, "\u{E007}").await;
    agent
        .wait_for(
            "the message in the conversation",
            "var t = document.querySelector('#timeline'); return t && t.textContent.indexOf('order 1234') >= 0 && document.querySelector('#conn.on');",
            json!([]),
        )
        .await;
    mark(&agent).await;
    assert_labelled(&agent, "the conversation").await;
    // `r` goes to the reply box.
    agent.type_into(&agent.find("body").await, "r").await;
    assert_eq!(
        agent
            .run("return document.activeElement.id;", json!([]))
            .await,
        "reply"
    );

    // The agent replies with a file; the customer sees both arrive.
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("label.png");
    std::fs::write(
        &png,
        [
            0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0,
            0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0,
        ],
    )
    .unwrap();
    agent
        .type_into(&agent.find("#attach").await, png.to_str().unwrap())
        .await;
    agent
        .wait_for(
            "the upload",
            "var v = document.querySelector('#attachment-ids').value; return v.indexOf('att_') === 0;",
            json!([]),
        )
        .await;
    agent
        .type_into(
            &agent.find("#reply").await,
            "Sorry about that! It ships today.",
        )
        .await;
    agent.click(&agent.find("#send").await).await;
    customer
        .wait_for(
            "the agent's reply in the widget",
            &format!("var m = (function(){{{}}})(); return m && m.textContent.indexOf('ships today') >= 0;", in_widget(".m.agent")),
            json!([]),
        )
        .await;
    assert!(still_marked(&agent).await, "replying reloaded the page");
    customer
        .wait_for(
            "the file in the widget",
            &format!("var a = (function(){{{}}})(); return a && a.textContent.indexOf('label.png') >= 0;", in_widget("a[data-attachment]")),
            json!([]),
        )
        .await;

    // The customer sends a file; the agent sees it in the open conversation.
    let photo = dir.path().join("photo.png");
    std::fs::copy(&png, &photo).unwrap();
    let file_input = customer
        .element_by_script("the file input", &in_widget("input[type=file]"), json!([]))
        .await;
    customer
        .type_into(&file_input, photo.to_str().unwrap())
        .await;
    agent
        .wait_for(
            "the customer's file in the timeline",
            "return document.querySelector('#timeline').textContent.indexOf('photo.png') >= 0;",
            json!([]),
        )
        .await;

    // The customer answers; the agent sees it in the open conversation without a reload.
    customer.type_into(&input, "Great, thank you!").await;
    customer
        .click(
            &customer
                .element_by_script("send", &in_widget("button.send"), json!([]))
                .await,
        )
        .await;
    agent
        .wait_for(
            "the customer's answer in the timeline",
            "return document.querySelector('#timeline').textContent.indexOf('Great, thank you') >= 0;",
            json!([]),
        )
        .await;
    assert!(still_marked(&agent).await, "the conversation reloaded");
    agent
        .screenshot(&shots().join("console-conversation-desktop.png"))
        .await;

    // The agent resolves; the customer is asked for a rating and gives one.
    // `a` assigns it to the agent, `e` resolves it: in place, without a reload.
    agent.type_into(&agent.find("body").await, "a").await;
    agent
        .wait_for(
            "the assignment",
            "return document.querySelector('.convo-head').textContent.indexOf('assigned to The agent') >= 0;",
            json!([]),
        )
        .await;
    agent.type_into(&agent.find("body").await, "e").await;
    agent
        .wait_for(
            "resolved",
            "return document.querySelector('#reopen');",
            json!([]),
        )
        .await;
    let five = customer
        .element_by_script(
            "the rating buttons",
            &in_widget(".csat:not([hidden]) button[data-rating='5']"),
            json!([]),
        )
        .await;
    customer
        .screenshot(&shots().join("widget-csat-desktop.png"))
        .await;
    customer.click(&five).await;
    customer
        .wait_for(
            "the thanks",
            &format!("var c = (function(){{{}}})(); return c && c.textContent.indexOf('Thank you') >= 0;", in_widget(".csat")),
            json!([]),
        )
        .await;
    let report = app
        .call(
            Method::GET,
            &format!(
                "/v1/reports/summary?since={}&until={}",
                rfc3339(app.clock_now() - 86_400_000).replace(':', "%3A"),
                rfc3339(app.clock_now() + 86_400_000).replace(':', "%3A")
            ),
            Some(&t.key),
            None,
        )
        .await
        .expect(200);
    assert_eq!(
        report.body["totals"]["csat"]["responses"], 1,
        "{}",
        report.body
    );
    assert_eq!(report.body["totals"]["csat"]["average_score"], 5.0);

    // Nothing the widget did broke the shop's Content-Security-Policy.
    let violations = customer
        .run("return window.__cspViolations;", json!([]))
        .await;
    assert_eq!(
        violations,
        json!([]),
        "CSP violations on the customer's page"
    );
    // The watcher does see violations: an inline style element is one.
    customer
        .run(
            "var s = document.createElement('style'); s.textContent = 'h1{color:red}'; document.head.appendChild(s);",
            json!([]),
        )
        .await;
    customer
        .wait_for(
            "the watcher to report",
            "return window.__cspViolations.length > 0;",
            json!([]),
        )
        .await;

    // The reports page draws the conversation just handled.
    agent
        .goto(&format!("{}/app/t/{}/reports", app.base, t.slug))
        .await;
    agent.find("svg.chart").await;
    agent
        .screenshot(&shots().join("console-reports-desktop.png"))
        .await;
    agent
        .goto(&format!("{}/app/t/{}/inbox?status=any", app.base, t.slug))
        .await;
    agent.click(&agent.find("#rows .row a").await).await;
    agent.find("#timeline").await;

    // The chat persists across page loads.
    customer.goto(&site).await;
    customer
        .wait_for(
            "the history after a reload",
            &format!("var l = (function(){{{}}})(); return l && l.textContent.indexOf('ships today') >= 0;", in_widget(".log")),
            json!([]),
        )
        .await;

    // Narrow screens: 360 px wide.
    agent.set_size(360, 780).await;
    customer.set_size(360, 780).await;
    agent
        .screenshot(&shots().join("console-conversation-360.png"))
        .await;
    customer
        .click(
            &customer
                .element_by_script("the launcher", &in_widget(".launcher"), json!([]))
                .await,
        )
        .await;
    customer.screenshot(&shots().join("widget-360.png")).await;
    let overflow = agent
        .run(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            json!([]),
        )
        .await;
    assert_eq!(overflow, true, "the console scrolls sideways at 360 px");

    agent.quit().await;
    customer.quit().await;
    driver.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_cannot_reply_and_a_wrong_identity_hash_is_refused() {
    let db = dbs().remove(0);
    let app = TestApp::spawn(db).await;
    let t = app.tenant().await;
    let conv = super::console::conversation(&app, &t, "Can someone help?").await;
    let (viewer_email, viewer_password) = member(&app, &t, "viewer").await;
    let (public_id, _secret) = widget_inbox(&app, &t).await;
    let driver = Driver::start().await;

    let viewer = driver.browser(1280, 900).await;
    sign_in(&viewer, &app.base, &viewer_email, &viewer_password).await;
    viewer
        .goto(&format!(
            "{}/app/t/{}/conversations/{conv}",
            app.base, t.slug
        ))
        .await;
    viewer.find("#read-only").await;
    let composer = viewer
        .run("return document.querySelector('#composer') === null && document.querySelector('#resolve') === null;", json!([]))
        .await;
    assert_eq!(composer, true);
    viewer
        .screenshot(&shots().join("console-viewer-desktop.png"))
        .await;

    // A page that identifies its visitor with a forged hash: refused, visibly, with no session.
    let forged = "window.addEventListener('switchboard:ready', function () { \
        window.$switchboard.setUser('customer-42', {identifier_hash: '00'.repeat(32), email: 'x@example.test'}); });";
    let site = customer_site(&app.base, &public_id, Some(forged.to_owned())).await;
    let customer = driver.browser(1280, 900).await;
    customer.goto(&site).await;
    let error = customer
        .wait_for(
            "the refusal",
            "return window.$switchboard && window.$switchboard.error;",
            json!([]),
        )
        .await;
    assert_eq!(error, "unauthenticated");
    customer
        .click(
            &customer
                .element_by_script("the launcher", &in_widget(".launcher"), json!([]))
                .await,
        )
        .await;
    let notice = customer
        .run(
            &format!(
                "return (function(){{{}}})().textContent;",
                in_widget(".notice")
            ),
            json!([]),
        )
        .await;
    assert_eq!(notice, "We could not confirm who you are.");
    let stored = customer
        .run(
            &format!("return localStorage.getItem('switchboard:{public_id}');"),
            json!([]),
        )
        .await;
    assert!(
        !stored.as_str().unwrap_or("{}").contains("token\":\""),
        "{stored}"
    );
    let contacts = app
        .call(Method::GET, "/v1/contacts?limit=200", Some(&t.key), None)
        .await
        .expect(200);
    assert!(!contacts.body.to_string().contains("customer-42"));

    viewer.quit().await;
    customer.quit().await;
    driver.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn a_verified_visitor_and_the_pre_chat_form() {
    use hmac::{Hmac, Mac};
    let db = dbs().remove(0);
    let app = TestApp::spawn(db).await;
    let t = app.tenant().await;
    let (public_id, secret) = widget_inbox(&app, &t).await;
    let driver = Driver::start().await;

    // The site's server signs its user's id; the page identifies the visitor with it.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"customer-7");
    let hash = hex::encode(mac.finalize().into_bytes());
    let identify = format!(
        "window.addEventListener('switchboard:ready', function () {{ \
         window.$switchboard.setUser('customer-7', {{identifier_hash: '{hash}', email: 'seven@example.test', name: 'Seven'}}); }});"
    );
    let site = customer_site(&app.base, &public_id, Some(identify)).await;
    let customer = driver.browser(1280, 900).await;
    customer.goto(&site).await;
    customer
        .wait_for(
            "the verified session",
            &format!("var s = JSON.parse(localStorage.getItem('switchboard:{public_id}') || '{{}}'); return s.verified === true;"),
            json!([]),
        )
        .await;
    customer
        .click(
            &customer
                .element_by_script("the launcher", &in_widget(".launcher"), json!([]))
                .await,
        )
        .await;
    let input = customer
        .element_by_script("the message box", &in_widget("textarea"), json!([]))
        .await;
    customer.type_into(&input, "Hello, it is me").await;
    customer
        .click(
            &customer
                .element_by_script("send", &in_widget("button.send"), json!([]))
                .await,
        )
        .await;
    customer
        .wait_for(
            "the message",
            &format!(
                "var m = (function(){{{}}})(); return m && m.textContent.indexOf('it is me') >= 0;",
                in_widget(".m.contact")
            ),
            json!([]),
        )
        .await;
    // With the chat closed, a reply shows as an unread count on the launcher.
    customer
        .click(
            &customer
                .element_by_script("close", &in_widget("header button"), json!([]))
                .await,
        )
        .await;
    let conversations = app
        .call(
            Method::GET,
            "/v1/conversations?status=open",
            Some(&t.key),
            None,
        )
        .await
        .expect(200);
    let conv = conversations.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(
        Method::POST,
        &format!("/v1/conversations/{conv}/messages"),
        Some(&t.key),
        Some(json!({"content": "We are on it"})),
    )
    .await
    .expect(201);
    let badge = customer
        .wait_for(
            "the unread badge",
            &format!(
                "var b = (function(){{{}}})(); return b && !b.hidden && b.textContent;",
                in_widget(".badge")
            ),
            json!([]),
        )
        .await;
    assert_eq!(badge, "1");
    customer
        .click(
            &customer
                .element_by_script("the launcher", &in_widget(".launcher"), json!([]))
                .await,
        )
        .await;
    let cleared = customer
        .run(
            &format!("return (function(){{{}}})().hidden;", in_widget(".badge")),
            json!([]),
        )
        .await;
    assert_eq!(cleared, true);

    let contacts = app
        .call(Method::GET, "/v1/contacts?limit=200", Some(&t.key), None)
        .await
        .expect(200);
    let seven = contacts.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["external_id"] == "customer-7")
        .unwrap_or_else(|| panic!("no verified contact: {}", contacts.body));
    assert_eq!(seven["email"], "seven@example.test");

    // With the pre-chat form on, an anonymous visitor is asked who they are first.
    app.call(
        Method::PATCH,
        &format!(
            "/v1/inboxes/{}/widget",
            inbox_of(&app, &t, &public_id).await
        ),
        Some(&t.key),
        Some(json!({"appearance": {"colour": "#0a6e31", "prechat": true}})),
    )
    .await
    .expect(200);
    let anon_site = customer_site(&app.base, &public_id, None).await;
    let anonymous = driver.browser(1280, 900).await;
    anonymous.set_size(360, 780).await;
    anonymous.goto(&anon_site).await;
    anonymous
        .click(
            &anonymous
                .element_by_script("the launcher", &in_widget(".launcher"), json!([]))
                .await,
        )
        .await;
    let pre_shown = anonymous
        .wait_for(
            "the pre-chat form",
            &format!(
                "var f = (function(){{{}}})(); return f && !f.hidden;",
                in_widget("form.pre")
            ),
            json!([]),
        )
        .await;
    assert_eq!(pre_shown, true);
    let composer_hidden = anonymous
        .run(
            &format!(
                "return (function(){{{}}})().hidden;",
                in_widget("form.composer")
            ),
            json!([]),
        )
        .await;
    assert_eq!(composer_hidden, true);
    anonymous
        .screenshot(&shots().join("widget-prechat-360.png"))
        .await;

    customer.quit().await;
    anonymous.quit().await;
    driver.stop().await;
    app.stop().await;
}

/// The inbox id behind a widget's public id.
async fn inbox_of(app: &TestApp, t: &TestTenant, public_id: &str) -> String {
    let inboxes = app
        .call(Method::GET, "/v1/inboxes", Some(&t.key), None)
        .await
        .expect(200);
    for i in inboxes.body["data"].as_array().unwrap() {
        let id = i["id"].as_str().unwrap();
        let s = app
            .call(
                Method::GET,
                &format!("/v1/inboxes/{id}/widget"),
                Some(&t.key),
                None,
            )
            .await;
        if s.status == 200 && s.body["public_id"] == public_id {
            return id.to_owned();
        }
    }
    panic!("no inbox for {public_id}");
}
