//! Scheduled messages, macros, participants and conversation custom attributes.

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_core::clock::rfc3339;
use switchboard_testkit::{dbs, TestApp, TestTenant};

const HOUR: i64 = 3_600_000;

async fn conversation(app: &TestApp, t: &TestTenant) -> String {
    let inbox = app
        .call(
            Method::POST,
            "/v1/inboxes",
            Some(&t.key),
            Some(json!({"name": switchboard_testkit::unique("in"), "channel": "api"})),
        )
        .await
        .expect(201);
    app.call(
        Method::POST,
        &format!(
            "/v1/inboxes/{}/messages",
            inbox.body["id"].as_str().unwrap()
        ),
        Some(&t.key),
        Some(json!({"contact": {"email": "ada@example.com"}, "content": "hello"})),
    )
    .await
    .expect(201)
    .body["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn thread(app: &TestApp, t: &TestTenant, conv: &str) -> Vec<Value> {
    app.call(
        Method::GET,
        &format!("/v1/conversations/{conv}/messages"),
        Some(&t.key),
        None,
    )
    .await
    .expect(200)
    .body["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn scheduled_messages_go_out_once_at_their_time_as_their_writer() {
    for db in dbs() {
        let app = TestApp::spawn_with(db, |cfg| cfg.jobs.concurrency = 0).await;
        let t = app.tenant().await;
        let b = app.tenant().await;
        let conv = conversation(&app, &t).await;
        let at = rfc3339(app.clock_now() + HOUR);
        let s = app
            .call(
                Method::POST,
                &format!("/v1/conversations/{conv}/scheduled-messages"),
                Some(&t.key),
                Some(json!({"content": "Following up on your order.", "send_at": at})),
            )
            .await
            .expect(201);
        let id = s.body["id"].as_str().unwrap().to_owned();
        let cancelled = app
            .call(
                Method::POST,
                &format!("/v1/conversations/{conv}/scheduled-messages"),
                Some(&t.key),
                Some(json!({"content": "never", "send_at": at})),
            )
            .await
            .expect(201)
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.call(
            Method::DELETE,
            &format!("/v1/scheduled-messages/{cancelled}"),
            Some(&t.key),
            None,
        )
        .await
        .expect(200);
        // Not yet.
        app.drain_jobs().await;
        assert_eq!(thread(&app, &t, &conv).await.len(), 1, "{db:?}");
        app.clock.advance_ms(HOUR);
        app.drain_jobs().await;
        let msgs = thread(&app, &t, &conv).await;
        assert_eq!(msgs.len(), 2, "{db:?}: only the one not cancelled");
        assert_eq!(msgs[1]["content"], "Following up on your order.");
        assert_eq!(msgs[1]["sender"]["type"], "api_key");
        let list = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}/scheduled-messages"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let status: Vec<(&str, &str)> = list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["id"].as_str().unwrap(), m["status"].as_str().unwrap()))
            .collect();
        assert!(
            status.contains(&(id.as_str(), "sent"))
                && status.contains(&(cancelled.as_str(), "cancelled")),
            "{status:?}"
        );
        app.call(
            Method::DELETE,
            &format!("/v1/scheduled-messages/{id}"),
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(409, "conflict");
        // Bad input and other tenants.
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/scheduled-messages"),
            Some(&t.key),
            Some(json!({"content": "late", "send_at": rfc3339(app.clock_now() - 1)})),
        )
        .await
        .expect_problem(422, "validation_failed");
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/scheduled-messages"),
            Some(&t.key),
            Some(json!({"content": "x", "send_at": "tomorrow"})),
        )
        .await
        .expect_problem(422, "validation_failed");
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/scheduled-messages"),
            Some(&b.key),
            Some(json!({"content": "x", "send_at": rfc3339(app.clock_now() + HOUR)})),
        )
        .await
        .expect_problem(404, "not_found");
        app.call(
            Method::DELETE,
            &format!("/v1/scheduled-messages/{id}"),
            Some(&b.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        // A revoked key's scheduled message fails instead of going out in its name.
        let key = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "bot", "scopes": ["agent"]})),
            )
            .await
            .expect(201);
        let secret = key.body["secret"].as_str().unwrap().to_owned();
        let later = app.call(Method::POST, &format!("/v1/conversations/{conv}/scheduled-messages"), Some(&secret),
            Some(json!({"content": "from a revoked key", "send_at": rfc3339(app.clock_now() + HOUR)}))).await.expect(201);
        app.call(
            Method::DELETE,
            &format!(
                "/v1/api-keys/{}",
                key.body["api_key"]["id"].as_str().unwrap()
            ),
            Some(&t.key),
            None,
        )
        .await;
        app.clock.advance_ms(HOUR);
        app.drain_jobs().await;
        let list = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}/scheduled-messages"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let failed = list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == later.body["id"])
            .unwrap()
            .clone();
        assert_eq!(failed["status"], "failed", "{db:?}: {failed}");
        assert_eq!(thread(&app, &t, &conv).await.len(), 2);
        app.stop().await;
    }
}

#[tokio::test]
async fn macros_run_their_steps_as_the_agent() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let b = app.tenant().await;
        let conv = conversation(&app, &t).await;
        app.call(
            Method::POST,
            "/v1/labels",
            Some(&t.key),
            Some(json!({"name": "billing", "colour": "#112233"})),
        )
        .await
        .expect(201);
        let m = app
            .call(
                Method::POST,
                "/v1/macros",
                Some(&t.key),
                Some(json!({"name": "Refund done", "actions": [
                    {"type": "add_labels", "labels": ["billing"]},
                    {"type": "send_message", "content": "Your refund is on its way."},
                    {"type": "add_note", "content": "refund issued"},
                    {"type": "set_status", "status": "resolved"}
                ]})),
            )
            .await
            .expect(201);
        let id = m.body["id"].as_str().unwrap().to_owned();
        let r = app
            .call(
                Method::POST,
                &format!("/v1/conversations/{conv}/macros/{id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(r.body["status"], "resolved", "{db:?}");
        let detail = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(detail.body["labels"], json!(["billing"]));
        let msgs = thread(&app, &t, &conv).await;
        assert_eq!(msgs.len(), 3);
        assert_eq!(
            (msgs[2]["private"].as_bool(), msgs[2]["content"].as_str()),
            (Some(true), Some("refund issued"))
        );
        // Refused: unknown steps, snoozing, empty; another tenant's macro; a failing step is named.
        for bad in [
            json!({"name": "x", "actions": [{"type": "drop_table"}]}),
            json!({"name": "x", "actions": [{"type": "set_status", "status": "snoozed"}]}),
            json!({"name": "x", "actions": []}),
        ] {
            app.call(Method::POST, "/v1/macros", Some(&t.key), Some(bad))
                .await
                .expect_problem(422, "validation_failed");
        }
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/macros/{id}"),
            Some(&b.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        let bad_step = app
            .call(
                Method::POST,
                "/v1/macros",
                Some(&t.key),
                Some(json!({"name": "Ghost", "actions": [
            {"type": "assign_agent", "user_id": "usr_01jd0000000000000000000000"}]})),
            )
            .await
            .expect(201);
        let err = app
            .call(
                Method::POST,
                &format!(
                    "/v1/conversations/{conv}/macros/{}",
                    bad_step.body["id"].as_str().unwrap()
                ),
                Some(&t.key),
                None,
            )
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(
            err.body["errors"][0]["field"], "actions[0].assignee_id",
            "{}",
            err.text
        );
        let viewer = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "ro", "scopes": ["viewer"]})),
            )
            .await
            .expect(201);
        app.call(
            Method::POST,
            "/v1/macros",
            Some(viewer.body["secret"].as_str().unwrap()),
            Some(json!({"name": "v", "actions": [{"type": "unassign"}]})),
        )
        .await
        .expect_problem(403, "forbidden");
        app.stop().await;
    }
}

#[tokio::test]
async fn participants_hear_about_customer_messages_and_attributes_are_typed() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let b = app.tenant().await;
        let conv = conversation(&app, &t).await;
        let token = app.sign_in(&t.owner_email, &t.owner_password).await;
        let me = app
            .send(app.request(Method::GET, "/v1/me").bearer_auth(&token))
            .await
            .expect(200);
        let owner = me.body["user_id"].as_str().unwrap().to_owned();
        let list = app
            .call(
                Method::PUT,
                &format!("/v1/conversations/{conv}/participants/{owner}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(list.body["data"], json!([owner]), "{db:?}");
        app.call(
            Method::PUT,
            &format!("/v1/conversations/{conv}/participants/usr_01jd0000000000000000000000"),
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(422, "validation_failed");
        app.call(
            Method::PUT,
            &format!("/v1/conversations/{conv}/participants/{owner}"),
            Some(&b.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        // The customer writes again: the participant is told.
        let inbox = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}"),
                Some(&t.key),
                None,
            )
            .await
            .body["inbox_id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.call(
            Method::POST,
            &format!("/v1/inboxes/{inbox}/messages"),
            Some(&t.key),
            Some(json!({"contact": {"email": "ada@example.com"}, "content": "any news?"})),
        )
        .await
        .expect(201);
        let notes = app
            .send(
                app.request(Method::GET, "/v1/notifications")
                    .bearer_auth(&token)
                    .header("x-switchboard-tenant", &t.slug),
            )
            .await
            .expect(200);
        assert!(
            notes.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["kind"] == "new_message"),
            "{}",
            notes.text
        );
        app.call(
            Method::DELETE,
            &format!("/v1/conversations/{conv}/participants/{owner}"),
            Some(&t.key),
            None,
        )
        .await
        .expect(204);

        // Custom attributes follow their definitions.
        app.call(Method::POST, "/v1/attribute-definitions", Some(&t.key),
            Some(json!({"applies_to": "conversation", "key": "order_id", "label": "Order", "kind": "text"}))).await.expect(201);
        let r = app
            .call(
                Method::PATCH,
                &format!("/v1/conversations/{conv}"),
                Some(&t.key),
                Some(json!({"custom_attributes": {"order_id": "A-1"}})),
            )
            .await
            .expect(200);
        assert_eq!(r.body["custom_attributes"]["order_id"], "A-1");
        app.call(
            Method::PATCH,
            &format!("/v1/conversations/{conv}"),
            Some(&t.key),
            Some(json!({"custom_attributes": {"undefined_key": 1}})),
        )
        .await
        .expect_problem(422, "validation_failed");
        app.call(
            Method::PATCH,
            &format!("/v1/conversations/{conv}"),
            Some(&t.key),
            Some(json!({"custom_attributes": {"order_id": 42}})),
        )
        .await
        .expect_problem(422, "validation_failed");
        let r = app
            .call(
                Method::PATCH,
                &format!("/v1/conversations/{conv}"),
                Some(&t.key),
                Some(json!({"custom_attributes": {"order_id": null}})),
            )
            .await
            .expect(200);
        assert_eq!(r.body["custom_attributes"], json!({}));
        app.stop().await;
    }
}

#[tokio::test]
async fn an_unanswered_assignment_moves_to_another_available_agent() {
    for db in dbs() {
        let app = TestApp::spawn_with(db, |cfg| cfg.jobs.concurrency = 0).await;
        let t = app.tenant().await;
        let inbox = app
            .call(
                Method::POST,
                "/v1/inboxes",
                Some(&t.key),
                Some(json!({"name": "Support", "channel": "api"})),
            )
            .await
            .expect(201);
        let inbox_id = inbox.body["id"].as_str().unwrap().to_owned();
        let mut agents = Vec::new();
        for name in ["a1", "a2"] {
            agents
                .push(crate::conversations::inbox_agent(&app, &t, &inbox_id, name, "online").await);
        }
        app.call(
            Method::PATCH,
            &format!("/v1/inboxes/{inbox_id}"),
            Some(&t.key),
            Some(json!({"reassign_after_ms": 10})),
        )
        .await
        .expect_problem(422, "validation_failed");
        app.call(
            Method::PATCH,
            &format!("/v1/inboxes/{inbox_id}"),
            Some(&t.key),
            Some(json!({"assignment_policy": "round_robin", "reassign_after_ms": 600_000})),
        )
        .await
        .expect(200);
        let conv = app
            .call(
                Method::POST,
                &format!("/v1/inboxes/{inbox_id}/messages"),
                Some(&t.key),
                Some(json!({"contact": {"email": "ada@example.com"}, "content": "help"})),
            )
            .await
            .expect(201);
        let conv_id = conv.body["conversation"]["id"].as_str().unwrap().to_owned();
        let first = conv.body["conversation"]["assignee_id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.clock.advance_ms(9 * 60_000);
        app.drain_jobs().await;
        let now = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv_id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(now.body["assignee_id"], first.as_str(), "{db:?}: not yet");
        app.clock.advance_ms(60_000);
        app.drain_jobs().await;
        let now = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv_id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let second = now.body["assignee_id"].as_str().unwrap().to_owned();
        assert_ne!(
            second, first,
            "{db:?}: reassigned after 10 minutes without a reply"
        );
        assert!(agents.contains(&second));
        let audit = app
            .call(
                Method::GET,
                "/v1/audit-events?action=conversation.assigned",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert!(audit.body["data"].as_array().unwrap().iter().any(|e| e["actor"]["id"] == "reassignment" && e["details"]["reason"] == "no_reply"), "{}", audit.text);
        // No bouncing back to the first agent during the same wait.
        app.clock.advance_ms(10 * 60_000);
        app.drain_jobs().await;
        let now = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv_id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(
            now.body["assignee_id"],
            second.as_str(),
            "{db:?}: one turn each per wait"
        );
        // Once answered, nothing moves.
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv_id}/messages"),
            Some(&t.key),
            Some(json!({"content": "on it"})),
        )
        .await
        .expect(201);
        app.clock.advance_ms(60 * 60_000);
        app.drain_jobs().await;
        let now = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv_id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(now.body["assignee_id"], second.as_str());
        app.stop().await;
    }
}
