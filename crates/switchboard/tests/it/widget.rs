//! The web widget: settings, visitor sessions with Chatwoot-compatible identity verification,
//! conversations and messages through the public API, the visitor's WebSocket, abuse limits and
//! isolation.

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;
use switchboard_testkit::{dbs, Reply, TestApp, TestTenant};

fn identifier_hash(secret: &str, identifier: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(identifier.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A widget inbox; its id, public id and HMAC secret.
async fn widget_inbox(app: &TestApp, t: &TestTenant) -> (String, String, String) {
    let r = app
        .call(
            Method::POST,
            "/v1/inboxes",
            Some(&t.key),
            Some(json!({"name": switchboard_testkit::unique("site"), "channel": "widget"})),
        )
        .await
        .expect(201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let s = app
        .call(
            Method::GET,
            &format!("/v1/inboxes/{id}/widget"),
            Some(&t.key),
            None,
        )
        .await
        .expect(200);
    (
        id,
        s.body["public_id"].as_str().unwrap().to_owned(),
        s.body["hmac_secret"].as_str().unwrap().to_owned(),
    )
}

async fn session(app: &TestApp, public: &str, body: Value) -> Reply {
    app.call(
        Method::POST,
        &format!("/widget/v1/{public}/sessions"),
        None,
        Some(body),
    )
    .await
}

async fn visitor(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    let mut req = app.request(method, path).header("x-widget-session", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    app.send(req).await
}

async fn contact_count(app: &TestApp, t: &TestTenant) -> usize {
    app.call(Method::GET, "/v1/contacts?limit=200", Some(&t.key), None)
        .await
        .expect(200)
        .body["data"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn an_anonymous_visitor_chats_with_an_agent_and_never_sees_private_notes() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let (_, public, _) = widget_inbox(&app, &t).await;
        assert!(public.starts_with("wgt_"));
        let s = session(&app, &public, json!({"name": "Visitor"}))
            .await
            .expect(201);
        assert_eq!(s.body["verified"], false, "{db:?}");
        let token = s.body["session_token"].as_str().unwrap().to_owned();
        let base = format!("/widget/v1/{public}/conversations");

        let sent = visitor(
            &app,
            Method::POST,
            &base,
            &token,
            Some(json!({"content": "Do you ship to Iceland?"})),
        )
        .await
        .expect(201);
        let conv = sent.body["conversation"]["id"].as_str().unwrap().to_owned();
        assert_eq!(sent.body["message"]["author"], "contact");

        // The agents' side sees it, from this contact.
        let detail = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(detail.body["contact_id"], s.body["contact_id"]);
        for (content, private) in [
            ("Yes, in 5 days.", false),
            ("check the carrier first", true),
        ] {
            app.call(
                Method::POST,
                &format!("/v1/conversations/{conv}/messages"),
                Some(&t.key),
                Some(json!({"content": content, "private": private})),
            )
            .await
            .expect(201);
        }
        let thread = visitor(
            &app,
            Method::GET,
            &format!("{base}/{conv}/messages"),
            &token,
            None,
        )
        .await
        .expect(200);
        let seen: Vec<(&str, &str)> = thread.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["author"].as_str().unwrap(),
                    m["content"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("contact", "Do you ship to Iceland?"),
                ("agent", "Yes, in 5 days.")
            ],
            "{db:?}"
        );
        assert!(
            !thread.text.contains("usr_") && !thread.text.contains("key_"),
            "no agent ids: {}",
            thread.text
        );

        // A follow-up lands in the same conversation; the list shows it.
        visitor(
            &app,
            Method::POST,
            &format!("{base}/{conv}/messages"),
            &token,
            Some(json!({"content": "Great, thanks"})),
        )
        .await
        .expect(201);
        let list = visitor(&app, Method::GET, &base, &token, None)
            .await
            .expect(200);
        assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(list.body["data"][0]["id"], conv.as_str());
        app.stop().await;
    }
}

#[tokio::test]
async fn identity_verification_is_chatwoot_compatible_and_a_wrong_hash_changes_nothing() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let (inbox, public, secret) = widget_inbox(&app, &t).await;
        let before = contact_count(&app, &t).await;
        for bad in [
            json!({"identifier": "user-42", "identifier_hash": identifier_hash(&secret, "user-43")}),
            json!({"identifier": "user-42", "identifier_hash": identifier_hash("not the secret", "user-42")}),
            json!({"identifier": "user-42"}),
            json!({"identifier_hash": identifier_hash(&secret, "user-42")}),
        ] {
            session(&app, &public, bad)
                .await
                .expect_problem(401, "unauthenticated");
        }
        assert_eq!(
            contact_count(&app, &t).await,
            before,
            "no contact created ({db:?})"
        );

        let good = json!({"identifier": "user-42", "identifier_hash": identifier_hash(&secret, "user-42"),
                          "name": "Ada", "email": "ada@example.com"});
        let phone = session(&app, &public, good.clone()).await.expect(201);
        assert_eq!(phone.body["verified"], true);
        let phone_token = phone.body["session_token"].as_str().unwrap().to_owned();
        visitor(
            &app,
            Method::POST,
            &format!("/widget/v1/{public}/conversations"),
            &phone_token,
            Some(json!({"content": "written on my phone"})),
        )
        .await
        .expect(201);
        // Another device, same person: the same contact and its history.
        let laptop = session(&app, &public, good).await.expect(201);
        assert_eq!(laptop.body["contact_id"], phone.body["contact_id"]);
        let laptop_token = laptop.body["session_token"].as_str().unwrap();
        let list = visitor(
            &app,
            Method::GET,
            &format!("/widget/v1/{public}/conversations"),
            laptop_token,
            None,
        )
        .await
        .expect(200);
        assert_eq!(list.body["data"].as_array().unwrap().len(), 1, "{db:?}");
        let contact = app
            .call(
                Method::GET,
                &format!(
                    "/v1/contacts/{}",
                    phone.body["contact_id"].as_str().unwrap()
                ),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(contact.body["external_id"], "user-42");
        assert_eq!(contact.body["email"], "ada@example.com");

        // Required verification refuses anonymous visitors; rotation retires the old secret.
        let r = app
            .call(
                Method::PATCH,
                &format!("/v1/inboxes/{inbox}/widget"),
                Some(&t.key),
                Some(json!({"identity": "required", "rotate_secret": true})),
            )
            .await
            .expect(200);
        let new_secret = r.body["hmac_secret"].as_str().unwrap().to_owned();
        assert_ne!(new_secret, secret);
        session(&app, &public, json!({}))
            .await
            .expect_problem(401, "unauthenticated");
        session(&app, &public, json!({"identifier": "user-42", "identifier_hash": identifier_hash(&secret, "user-42")}))
            .await.expect_problem(401, "unauthenticated");
        session(&app, &public, json!({"identifier": "user-42", "identifier_hash": identifier_hash(&new_secret, "user-42")}))
            .await.expect(201);
        // Sessions opened before the rotation still work.
        visitor(
            &app,
            Method::GET,
            &format!("/widget/v1/{public}/conversations"),
            &phone_token,
            None,
        )
        .await
        .expect(200);
        app.stop().await;
    }
}

#[tokio::test]
async fn visitors_reach_only_their_own_conversations_in_their_own_widget() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let a = app.tenant().await;
        let b = app.tenant().await;
        let (_, pub_a, _) = widget_inbox(&app, &a).await;
        let (_, pub_b, _) = widget_inbox(&app, &b).await;
        let token = |r: Reply| r.body["session_token"].as_str().unwrap().to_owned();
        let alice = token(session(&app, &pub_a, json!({})).await.expect(201));
        let mallory = token(session(&app, &pub_a, json!({})).await.expect(201));
        let conv = visitor(
            &app,
            Method::POST,
            &format!("/widget/v1/{pub_a}/conversations"),
            &alice,
            Some(json!({"content": "my private question"})),
        )
        .await
        .expect(201)
        .body["conversation"]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Another visitor of the same widget: 404 on Alice's conversation, nothing listed.
        visitor(
            &app,
            Method::GET,
            &format!("/widget/v1/{pub_a}/conversations/{conv}/messages"),
            &mallory,
            None,
        )
        .await
        .expect_problem(404, "not_found");
        visitor(
            &app,
            Method::POST,
            &format!("/widget/v1/{pub_a}/conversations/{conv}/messages"),
            &mallory,
            Some(json!({"content": "injected"})),
        )
        .await
        .expect_problem(404, "not_found");
        let list = visitor(
            &app,
            Method::GET,
            &format!("/widget/v1/{pub_a}/conversations"),
            &mallory,
            None,
        )
        .await
        .expect(200);
        assert!(list.body["data"].as_array().unwrap().is_empty(), "{db:?}");
        // Alice's token on tenant B's widget: not a session there.
        visitor(
            &app,
            Method::GET,
            &format!("/widget/v1/{pub_b}/conversations"),
            &alice,
            None,
        )
        .await
        .expect_problem(401, "unauthenticated");
        // No token, a forged one, a malformed or unknown public id.
        app.call(
            Method::GET,
            &format!("/widget/v1/{pub_a}/conversations"),
            None,
            None,
        )
        .await
        .expect_problem(401, "unauthenticated");
        visitor(
            &app,
            Method::GET,
            &format!("/widget/v1/{pub_a}/conversations"),
            "forged",
            None,
        )
        .await
        .expect_problem(401, "unauthenticated");
        for bad in [
            "nope",
            "wgt_..%2F..%2Fetc%2Fpasswd",
            &pub_a.replace("wgt_", "wgt_0"),
        ] {
            session(&app, bad, json!({}))
                .await
                .expect_problem(404, "not_found");
        }
        // An API-channel inbox has no widget.
        let api = app
            .call(
                Method::POST,
                "/v1/inboxes",
                Some(&a.key),
                Some(json!({"name": "Backend", "channel": "api"})),
            )
            .await
            .expect(201);
        app.call(
            Method::GET,
            &format!("/v1/inboxes/{}/widget", api.body["id"].as_str().unwrap()),
            Some(&a.key),
            None,
        )
        .await
        .expect_problem(400, "bad_request");
        // Thread untouched by the refused writes.
        let thread = visitor(
            &app,
            Method::GET,
            &format!("/widget/v1/{pub_a}/conversations/{conv}/messages"),
            &alice,
            None,
        )
        .await
        .expect(200);
        assert_eq!(thread.body["data"].as_array().unwrap().len(), 1);
        // Settings are for administrators of the widget's own tenant.
        let (inbox_a, _, _) = widget_inbox(&app, &a).await;
        app.call(
            Method::GET,
            &format!("/v1/inboxes/{inbox_a}/widget"),
            Some(&b.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        let viewer = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&a.key),
                Some(json!({"name": "ro", "scopes": ["viewer"]})),
            )
            .await
            .expect(201);
        app.call(
            Method::GET,
            &format!("/v1/inboxes/{inbox_a}/widget"),
            Some(viewer.body["secret"].as_str().unwrap()),
            None,
        )
        .await
        .expect_problem(403, "forbidden");
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_input_and_abuse_limits() {
    let app = TestApp::spawn(switchboard_testkit::Db::Sqlite).await;
    let t = app.tenant().await;
    let (_, public, _) = widget_inbox(&app, &t).await;
    let token = session(&app, &public, json!({})).await.expect(201).body["session_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = format!("/widget/v1/{public}/conversations");
    visitor(
        &app,
        Method::POST,
        &base,
        &token,
        Some(json!({"content": ""})),
    )
    .await
    .expect_problem(422, "validation_failed");
    visitor(
        &app,
        Method::POST,
        &base,
        &token,
        Some(json!({"content": "x".repeat(70 * 1024)})),
    )
    .await
    .expect_problem(422, "validation_failed");
    visitor(
        &app,
        Method::POST,
        &base,
        &token,
        Some(json!({"content": "hi", "private": true})),
    )
    .await
    .expect_problem(422, "validation_failed");
    session(
        &app,
        &public,
        json!({"identifier": "x".repeat(300), "identifier_hash": "00"}),
    )
    .await
    .expect_problem(422, "validation_failed");
    // A visitor sending as fast as they can is slowed down.
    let mut limited = false;
    for i in 0..40 {
        let r = visitor(
            &app,
            Method::POST,
            &base,
            &token,
            Some(json!({"content": format!("spam {i}")})),
        )
        .await;
        if r.status.as_u16() == 429 {
            limited = true;
            break;
        }
        r.expect(201);
    }
    assert!(limited, "a session is rate limited");
    // Starting sessions from one address is limited too.
    let mut limited = false;
    for _ in 0..40 {
        let r = session(&app, &public, json!({})).await;
        if r.status.as_u16() == 429 {
            limited = true;
            break;
        }
        r.expect(201);
    }
    assert!(limited, "session creation per IP is rate limited");
    // Browsers on any site may call the public API (no credentials).
    let pre = app
        .send(
            app.request(Method::OPTIONS, &format!("/widget/v1/{public}/sessions"))
                .header("origin", "https://shop.example")
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "content-type,x-widget-session",
                ),
        )
        .await;
    assert!(pre.status.is_success(), "{}", pre.status);
    assert_eq!(
        pre.headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );
    app.stop().await;
}

#[tokio::test]
async fn the_visitor_socket_pushes_their_conversation_only_and_carries_typing_both_ways() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let (_, public, _) = widget_inbox(&app, &t).await;
        let token = |r: Reply| r.body["session_token"].as_str().unwrap().to_owned();
        let alice = token(session(&app, &public, json!({})).await.expect(201));
        let bob = token(session(&app, &public, json!({})).await.expect(201));
        let ws_path = format!("/widget/v1/{public}/realtime");

        // Header auth; the conversation the visitor starts is announced, then its messages.
        let mut ws = app
            .ws(&ws_path, None, &[("x-widget-session", &alice)])
            .await
            .unwrap();
        ws.next_of("ready").await;
        let conv = visitor(
            &app,
            Method::POST,
            &format!("/widget/v1/{public}/conversations"),
            &alice,
            Some(json!({"content": "hello"})),
        )
        .await
        .expect(201)
        .body["conversation"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            ws.next_of("conversation").await["conversation_id"],
            conv.as_str(),
            "{db:?}"
        );
        assert_eq!(ws.next_of("message").await["message"]["content"], "hello");

        // Bob's conversation and a private note never reach Alice; the agent's reply does.
        visitor(
            &app,
            Method::POST,
            &format!("/widget/v1/{public}/conversations"),
            &bob,
            Some(json!({"content": "bob here"})),
        )
        .await
        .expect(201);
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/messages"),
            Some(&t.key),
            Some(json!({"content": "internal: VIP", "private": true})),
        )
        .await
        .expect(201);
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/messages"),
            Some(&t.key),
            Some(json!({"content": "How can I help?"})),
        )
        .await
        .expect(201);
        let m = ws.next_of("message").await;
        assert_eq!(
            (
                m["message"]["author"].as_str(),
                m["message"]["content"].as_str()
            ),
            (Some("agent"), Some("How can I help?")),
            "{db:?}"
        );
        assert!(
            ws.next_within(Duration::from_millis(300)).await.is_none(),
            "nothing else"
        );

        // Typing: agent → visitor, visitor → agents.
        let owner = app.sign_in(&t.owner_email, &t.owner_password).await;
        let (mut agent, _) = {
            let mut a = app
                .ws(
                    &format!("/v1/realtime?tenant={}", t.slug),
                    Some(&owner),
                    &[],
                )
                .await
                .unwrap();
            let r = a.next_of("ready").await;
            (a, r)
        };
        agent
            .send_json(&json!({"type": "typing", "conversation_id": conv, "typing": true}))
            .await;
        let typing = ws.next_of("typing").await;
        assert_eq!(
            (typing["author"].as_str(), typing["typing"].as_bool()),
            (Some("agent"), Some(true))
        );
        ws.send_json(&json!({"type": "typing", "conversation_id": conv, "typing": true}))
            .await;
        let typing = agent.next_of("typing").await;
        assert_eq!(typing["actor"]["type"], "contact");
        // Typing into someone else's conversation is refused.
        let bobs = visitor(
            &app,
            Method::GET,
            &format!("/widget/v1/{public}/conversations"),
            &bob,
            None,
        )
        .await
        .body["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        ws.send_json(&json!({"type": "typing", "conversation_id": bobs, "typing": true}))
            .await;
        assert_eq!(ws.next_of("error").await["code"], "not_found");

        // A browser authenticates with its first frame; a bad token is refused and closed.
        let mut browser = app.ws(&ws_path, None, &[]).await.unwrap();
        browser
            .send_json(&json!({"type": "auth", "session_token": alice}))
            .await;
        assert_eq!(browser.next_json().await["type"], "ready");
        let mut forged = app.ws(&ws_path, None, &[]).await.unwrap();
        forged
            .send_json(&json!({"type": "auth", "session_token": "forged"}))
            .await;
        assert_eq!(forged.next_json().await["code"], "unauthenticated");
        assert!(forged.closed().await);
        let (status, _) = app
            .ws(&ws_path, None, &[("x-widget-session", "forged")])
            .await
            .unwrap_err();
        assert_eq!(status, 401);
        app.stop().await;
    }
}
