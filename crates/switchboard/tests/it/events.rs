//! The event stream for integrators: polling by cursor and Server-Sent Events resumed with
//! `Last-Event-ID`; filters, bad cursors, roles and other tenants.

use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_testkit::{dbs, TestApp, TestTenant};

async fn inbox(app: &TestApp, t: &TestTenant) -> String {
    app.call(
        Method::POST,
        "/v1/inboxes",
        Some(&t.key),
        Some(json!({"name": "support", "channel": "api"})),
    )
    .await
    .expect(201)
    .body["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn send(app: &TestApp, t: &TestTenant, inbox: &str, text: &str) -> Value {
    app.call(
        Method::POST,
        &format!("/v1/inboxes/{inbox}/messages"),
        Some(&t.key),
        Some(json!({"contact": {"email": "sse@example.com"}, "content": text})),
    )
    .await
    .expect(201)
    .body
}

/// One Server-Sent Event.
#[derive(Debug)]
struct Sse {
    id: Option<i64>,
    data: Value,
}

/// Reads a `text/event-stream` response event by event.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(app: &TestApp, t: &TestTenant, query: &str, last_id: Option<i64>) -> Self {
        let mut req = app
            .request(Method::GET, &format!("/v1/events/stream{query}"))
            .bearer_auth(&t.key);
        if let Some(id) = last_id {
            req = req.header("last-event-id", id.to_string());
        }
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event with data (keep-alive comments are skipped).
    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !data.is_empty() {
                    return Sse {
                        id,
                        data: serde_json::from_str(&data).unwrap(),
                    };
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event of `kind`.
    async fn next_of(&mut self, kind: &str) -> Sse {
        loop {
            let e = self.next().await;
            if e.data["type"] == kind {
                return e;
            }
        }
    }
}

#[tokio::test]
async fn integrators_poll_events_by_cursor_with_filters() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let (a, b) = (app.tenant().await, app.tenant().await);
        let ib = inbox(&app, &a).await;
        send(&app, &a, &ib, "first").await;
        send(&app, &a, &ib, "second").await;
        let all = app
            .call(Method::GET, "/v1/events?limit=500", Some(&a.key), None)
            .await
            .expect(200);
        let data = all.body["data"].as_array().unwrap();
        assert!(data.len() >= 5, "{}", all.text);
        let cursors: Vec<i64> = data.iter().map(|e| e["cursor"].as_i64().unwrap()).collect();
        assert!(cursors.windows(2).all(|w| w[1] == w[0] + 1), "{cursors:?}");
        assert!(data
            .iter()
            .all(|e| e["event"]["tenant_id"] == a.id.as_str()));
        assert_eq!(all.body["has_more"], false);
        // Filtered, in pages.
        let page = app
            .call(
                Method::GET,
                "/v1/events?types=message.created&limit=1",
                Some(&a.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(page.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(page.body["data"][0]["event"]["data"]["content"], "first");
        assert_eq!(page.body["has_more"], true);
        let next = page.body["next_cursor"].as_i64().unwrap();
        let page2 = app
            .call(
                Method::GET,
                &format!("/v1/events?types=message.created&after={next}"),
                Some(&a.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(page2.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(page2.body["data"][0]["event"]["data"]["content"], "second");
        let fam = app
            .call(
                Method::GET,
                "/v1/events?types=conversation.*,contact.created",
                Some(&a.key),
                None,
            )
            .await
            .expect(200);
        assert!(fam.body["data"].as_array().unwrap().iter().all(|e| {
            let t = e["event"]["type"].as_str().unwrap();
            t.starts_with("conversation.") || t == "contact.created"
        }));
        // Another tenant sees only its own.
        let other = app
            .call(Method::GET, "/v1/events", Some(&b.key), None)
            .await
            .expect(200);
        assert!(other.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["event"]["tenant_id"] == b.id.as_str()));
        // Bad input.
        let head = *cursors.last().unwrap();
        for q in [
            format!("after={}", head + 1),
            "after=-1".to_owned(),
            "limit=0".to_owned(),
            "limit=501".to_owned(),
            "types=message.creatd".to_owned(),
            "types=%27%20OR%201%3D1".to_owned(),
        ] {
            app.call(Method::GET, &format!("/v1/events?{q}"), Some(&a.key), None)
                .await
                .expect_problem(422, "validation_failed");
        }
        app.call(Method::GET, "/v1/events?after=abc", Some(&a.key), None)
            .await
            .expect_problem(422, "validation_failed");
        app.call(Method::GET, "/v1/events", None, None)
            .await
            .expect(401);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_event_stream_pushes_events_and_resumes_from_last_event_id() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let (a, b) = (app.tenant().await, app.tenant().await);
        let ib = inbox(&app, &a).await;
        let mut stream = SseReader::open(&app, &a, "?types=message.created", None).await;
        let mut other = SseReader::open(&app, &b, "", None).await;
        send(&app, &a, &ib, "live one").await;
        let first = stream.next_of("message.created").await;
        assert_eq!(first.data["data"]["content"], "live one");
        assert_eq!(first.data["tenant_id"], a.id.as_str());
        let first_id = first.id.unwrap();
        drop(stream);
        // Written while nobody listens.
        send(&app, &a, &ib, "while away").await;
        send(&app, &a, &ib, "and again").await;
        let mut resumed = SseReader::open(&app, &a, "?types=message.created", Some(first_id)).await;
        let e1 = resumed.next().await;
        let e2 = resumed.next().await;
        assert_eq!(e1.data["data"]["content"], "while away");
        assert_eq!(e2.data["data"]["content"], "and again");
        assert!(e1.id.unwrap() > first_id && e2.id.unwrap() > e1.id.unwrap());
        send(&app, &a, &ib, "live two").await;
        assert_eq!(resumed.next().await.data["data"]["content"], "live two");
        // Tenant b's stream got nothing of a's: its first event is its own.
        let bi = inbox(&app, &b).await;
        let own = other.next().await;
        assert_eq!(own.data["tenant_id"], b.id.as_str());
        assert_eq!(own.data["data"]["inbox_id"], bi.as_str());
        // Bad cursors and filters are refused before the stream starts.
        for (q, last) in [
            ("?after=-5", None),
            ("?types=nope.*", None),
            ("", Some("not-a-number")),
        ] {
            let mut req = app
                .request(Method::GET, &format!("/v1/events/stream{q}"))
                .bearer_auth(&a.key);
            if let Some(l) = last {
                req = req.header("last-event-id", l);
            }
            let r = app.send(req).await;
            assert_eq!(r.status, 422, "{q} {last:?}: {}", r.text);
        }
        let r = app
            .send(
                app.request(Method::GET, "/v1/events/stream")
                    .bearer_auth(&a.key)
                    .header("last-event-id", "999999999"),
            )
            .await;
        assert_eq!(r.status, 422);
        app.stop().await;
    }
}
