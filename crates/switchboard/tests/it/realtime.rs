//! The agents' WebSocket: committed events pushed live, filtered by topic, resumable with a
//! cursor, never across tenants; typing and presence; bad input refused.

use crate::conversations::{customer_writes, inbox};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_testkit::{dbs, TestApp, WsClient};

async fn connect(app: &TestApp, key: &str, query: &str) -> (WsClient, i64) {
    let mut ws = app
        .ws(&format!("/v1/realtime{query}"), Some(key), &[])
        .await
        .unwrap_or_else(|(s, b)| panic!("upgrade refused: {s} {b}"));
    let ready = ws.next_of("ready").await;
    let cursor = ready["cursor"].as_i64().unwrap();
    (ws, cursor)
}

/// The next event frame's `(type, cursor, data)`.
async fn next_event(ws: &mut WsClient) -> (String, i64, Value) {
    let f = ws.next_of("event").await;
    (
        f["event"]["type"].as_str().unwrap().to_owned(),
        f["cursor"].as_i64().unwrap(),
        f["event"]["data"].clone(),
    )
}

/// Events until one of `kind` arrives; returns it.
async fn event_of(ws: &mut WsClient, kind: &str) -> (i64, Value) {
    loop {
        let (t, c, d) = next_event(ws).await;
        if t == kind {
            return (c, d);
        }
    }
}

#[tokio::test]
async fn agents_receive_committed_events_live_and_only_for_their_topics() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let sales = inbox(&app, &t.key, "Sales").await;
        let support = inbox(&app, &t.key, "Support").await;
        let (mut all, _) = connect(&app, &t.key, "").await;
        let (mut sales_only, _) = connect(&app, &t.key, &format!("?topics=inbox:{sales}")).await;

        let conv = customer_writes(
            &app,
            &t.key,
            &support,
            "ada@example.com",
            "Where is my parcel?",
        )
        .await;
        let (cursor, data) = event_of(&mut all, "message.created").await;
        assert_eq!(data["conversation_id"], conv.as_str(), "{db:?}");
        assert_eq!(data["inbox_id"], support.as_str());
        assert_eq!(data["content"], "Where is my parcel?");
        assert!(cursor > 0);

        // The Sales socket saw nothing of Support: its first event is Sales' own.
        customer_writes(&app, &t.key, &sales, "bob@example.com", "Price list please").await;
        let (kind, _, data) = next_event(&mut sales_only).await;
        assert_eq!(kind, "conversation.created", "{db:?}");
        assert_eq!(data["inbox_id"], sales.as_str());

        // Envelope fields, as integrators get them.
        let f = all.next_of("event").await;
        let e = &f["event"];
        assert_eq!(e["tenant_id"], t.id.as_str());
        assert!(e["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(e["version"], 1);
        assert!(e["occurred_at"].is_string());
        assert!(e["actor"]["type"].is_string());
        assert!(f["cursor"].as_i64().unwrap() > cursor, "cursors grow");

        // A conversation topic; private notes reach agents.
        let (mut one, _) = connect(&app, &t.key, &format!("?topics=conversation:{conv}")).await;
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/messages"),
            Some(&t.key),
            Some(json!({"content": "checking with the warehouse", "private": true})),
        )
        .await
        .expect(201);
        let (_, data) = event_of(&mut one, "message.created").await;
        assert_eq!(data["private"], true);
        assert_eq!(data["content"], "checking with the warehouse");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_reconnect_with_the_cursor_replays_everything_missed_exactly_once() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Web").await;
        let (mut ws, _) = connect(&app, &t.key, "").await;
        customer_writes(&app, &t.key, &inbox_id, "ada@example.com", "first").await;
        let (seen, _) = event_of(&mut ws, "message.created").await;
        ws.close().await;

        for i in 0..5 {
            customer_writes(
                &app,
                &t.key,
                &inbox_id,
                "ada@example.com",
                &format!("missed {i}"),
            )
            .await;
        }
        let (mut back, ready) = connect(&app, &t.key, &format!("?cursor={seen}")).await;
        assert_eq!(ready, seen, "{db:?}");
        let mut contents = Vec::new();
        let mut last = seen;
        while contents.len() < 5 {
            let (kind, cursor, data) = next_event(&mut back).await;
            assert_eq!(cursor, last + 1, "no gap, no duplicate ({db:?})");
            last = cursor;
            if kind == "message.created" {
                contents.push(data["content"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(
            contents,
            (0..5).map(|i| format!("missed {i}")).collect::<Vec<_>>()
        );
        // Then live, continuing the same sequence.
        customer_writes(&app, &t.key, &inbox_id, "ada@example.com", "live again").await;
        let (kind, cursor, data) = next_event(&mut back).await;
        assert_eq!((kind.as_str(), cursor), ("message.created", last + 1));
        assert_eq!(data["content"], "live again");
        app.stop().await;
    }
}

#[tokio::test]
async fn many_concurrent_writers_arrive_in_one_gapless_sequence() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Web").await;
        let (mut ws, start) = connect(&app, &t.key, "").await;
        let writers = (0..20).map(|i| {
            let app = &app;
            let key = t.key.clone();
            let inbox_id = inbox_id.clone();
            async move {
                customer_writes(app, &key, &inbox_id, &format!("c{i}@example.com"), "hello").await
            }
        });
        futures::future::join_all(writers).await;
        let mut messages = 0;
        let mut last = start;
        while messages < 20 {
            let (kind, cursor, _) = next_event(&mut ws).await;
            assert_eq!(cursor, last + 1, "{db:?}");
            last = cursor;
            messages += usize::from(kind == "message.created");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn sockets_never_see_or_reach_another_tenant() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let a = app.tenant().await;
        let b = app.tenant().await;
        let a_inbox = inbox(&app, &a.key, "Web").await;
        let b_inbox = inbox(&app, &b.key, "Web").await;
        let b_conv =
            customer_writes(&app, &b.key, &b_inbox, "eve@example.com", "secret of B").await;

        // Another tenant's inbox or conversation as a topic: 404, as if it did not exist.
        for topic in [format!("inbox:{b_inbox}"), format!("conversation:{b_conv}")] {
            let (status, body) = app
                .ws(&format!("/v1/realtime?topics={topic}"), Some(&a.key), &[])
                .await
                .unwrap_err();
            assert_eq!(
                (status, body["code"].as_str()),
                (404, Some("not_found")),
                "{db:?}"
            );
        }
        // Naming tenant B while holding A's key does not switch tenants.
        let (status, _) = app
            .ws(&format!("/v1/realtime?tenant={}", b.id), Some(&a.key), &[])
            .await
            .unwrap_err();
        assert_eq!(status, 404, "{db:?}");
        let (mut ws, _) = connect(&app, &a.key, "").await;
        ws.send_json(&json!({"type": "subscribe", "topic": format!("conversation:{b_conv}")}))
            .await;
        let err = ws.next_of("error").await;
        assert_eq!(err["code"], "not_found");
        ws.send_json(&json!({"type": "typing", "conversation_id": b_conv, "typing": true}))
            .await;
        assert_eq!(ws.next_of("error").await["code"], "not_found");

        customer_writes(
            &app,
            &b.key,
            &b_inbox,
            "eve@example.com",
            "more secrets of B",
        )
        .await;
        customer_writes(&app, &a.key, &a_inbox, "ada@example.com", "hello from A").await;
        // A's socket: its first event is A's own; nothing of B's, ever.
        let (kind, _, data) = next_event(&mut ws).await;
        assert_eq!(
            (kind.as_str(), data["email"].as_str()),
            ("contact.created", Some("ada@example.com")),
            "{db:?}"
        );
        let (kind, _, data) = next_event(&mut ws).await;
        assert_eq!(kind, "conversation.created");
        assert_eq!(data["inbox_id"], a_inbox.as_str());
        let (_, data) = event_of(&mut ws, "message.created").await;
        assert_eq!(data["content"], "hello from A");
        assert!(ws.next_within(Duration::from_millis(300)).await.is_none());
        app.stop().await;
    }
}

#[tokio::test]
async fn typing_reaches_the_other_agents_and_presence_follows_connections() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Web").await;
        let conv = customer_writes(&app, &t.key, &inbox_id, "ada@example.com", "hi").await;
        let (mut watcher, _) = connect(&app, &t.key, "").await;
        let owner = app.sign_in(&t.owner_email, &t.owner_password).await;
        let (mut agent, _) = connect(&app, &owner, &format!("?tenant={}", t.slug)).await;
        let online = watcher.next_of("presence").await;
        assert_eq!(online["online"], true, "{db:?}");
        let user_id = online["user_id"].as_str().unwrap().to_owned();
        assert!(user_id.starts_with("usr_"));

        agent
            .send_json(&json!({"type": "typing", "conversation_id": conv, "typing": true}))
            .await;
        let typing = watcher.next_of("typing").await;
        assert_eq!(typing["conversation_id"], conv.as_str());
        assert_eq!(typing["inbox_id"], inbox_id.as_str());
        assert_eq!(typing["actor"]["id"], user_id.as_str());
        assert_eq!(typing["typing"], true);
        // Not echoed to the typist.
        agent.send_json(&json!({"type": "ping"})).await;
        assert_eq!(agent.next_json().await["type"], "pong");

        agent.close().await;
        let offline = watcher.next_of("presence").await;
        assert_eq!(
            (offline["user_id"].as_str(), offline["online"].as_bool()),
            (Some(user_id.as_str()), Some(false))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_requests_and_frames_are_refused_without_side_effects() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Web").await;
        let refused = |query: &'static str, token: Option<String>| {
            let app = &app;
            async move {
                app.ws(&format!("/v1/realtime{query}"), token.as_deref(), &[])
                    .await
                    .unwrap_err()
            }
        };
        assert_eq!(refused("", None).await.0, 401, "{db:?}");
        assert_eq!(
            refused("?topics=everything", Some(t.key.clone())).await.0,
            422
        );
        assert_eq!(
            refused("?topics=inbox:../../etc/passwd", Some(t.key.clone()))
                .await
                .0,
            422
        );
        assert_eq!(refused("?cursor=-1", Some(t.key.clone())).await.0, 422);
        assert_eq!(
            refused("?cursor=999999999", Some(t.key.clone())).await.0,
            422
        );
        assert_eq!(refused("?bogus=1", Some(t.key.clone())).await.0, 422);
        // A plain GET is not an upgrade.
        app.call(Method::GET, "/v1/realtime", Some(&t.key), None)
            .await
            .expect_problem(400, "bad_request");

        let (mut ws, _) = connect(&app, &t.key, "").await;
        ws.send_text("not json").await;
        assert_eq!(ws.next_of("error").await["code"], "bad_frame");
        ws.send_json(&json!({"type": "subscribe", "topic": "inbox:nope"}))
            .await;
        assert_eq!(ws.next_of("error").await["code"], "bad_topic");
        ws.send_json(&json!({"type": "subscribe", "topic": format!("inbox:{inbox_id}")}))
            .await;
        assert_eq!(
            ws.next_of("subscribed").await["topic"],
            format!("inbox:{inbox_id}")
        );
        // Still open after bad frames.
        ws.send_json(&json!({"type": "ping"})).await;
        assert_eq!(ws.next_of("pong").await["type"], "pong");
        // An oversized frame closes the socket.
        ws.send_text(&"x".repeat(64 * 1024)).await;
        assert!(ws.closed().await, "{db:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_socket_whose_credentials_are_revoked_is_closed_and_viewers_cannot_type() {
    for db in dbs() {
        let app = TestApp::spawn_with(db, |cfg| cfg.realtime.reauthorize_secs = 1).await;
        let t = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Web").await;
        let conv = customer_writes(&app, &t.key, &inbox_id, "ada@example.com", "hi").await;
        let made = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "ro", "scopes": ["viewer"]})),
            )
            .await
            .expect(201);
        let (key, key_id) = (
            made.body["secret"].as_str().unwrap().to_owned(),
            made.body["api_key"]["id"].as_str().unwrap().to_owned(),
        );
        let (mut ws, _) = connect(&app, &key, "").await;
        ws.send_json(&json!({"type": "typing", "conversation_id": conv, "typing": true}))
            .await;
        assert_eq!(ws.next_of("error").await["code"], "forbidden", "{db:?}");
        app.call(
            Method::DELETE,
            &format!("/v1/api-keys/{key_id}"),
            Some(&t.key),
            None,
        )
        .await;
        assert_eq!(ws.next_of("error").await["code"], "unauthenticated");
        assert!(ws.closed().await, "{db:?}: the revoked key's socket closes");
        app.stop().await;
    }
}
