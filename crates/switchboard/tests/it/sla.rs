//! SLA policies and clocks (warnings, breaches, pauses, business hours) with a controlled clock;
//! notifications for mentions, assignments and SLA events, delivered to their person only.

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_testkit::{dbs, TestApp, TestTenant};

const MIN: i64 = 60_000;

async fn setup(app: &TestApp, t: &TestTenant) -> (String, String) {
    let policy = app
        .call(Method::POST, "/v1/sla-policies", Some(&t.key), Some(json!({"name": "Standard",
            "first_response_ms": 10 * MIN, "next_response_ms": 30 * MIN, "resolution_ms": 60 * MIN})))
        .await
        .expect(201);
    let inbox = app
        .call(
            Method::POST,
            "/v1/inboxes",
            Some(&t.key),
            Some(json!({"name": "Web", "channel": "api"})),
        )
        .await
        .expect(201);
    let inbox_id = inbox.body["id"].as_str().unwrap().to_owned();
    app.call(
        Method::PUT,
        &format!("/v1/inboxes/{inbox_id}/sla"),
        Some(&t.key),
        Some(json!({"sla_policy_id": policy.body["id"]})),
    )
    .await
    .expect(204);
    (policy.body["id"].as_str().unwrap().to_owned(), inbox_id)
}

async fn customer_writes(app: &TestApp, t: &TestTenant, inbox: &str, text: &str) -> String {
    app.call(
        Method::POST,
        &format!("/v1/inboxes/{inbox}/messages"),
        Some(&t.key),
        Some(json!({"contact": {"email": "ada@example.com"}, "content": text})),
    )
    .await
    .expect(201)
    .body["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn sla(app: &TestApp, t: &TestTenant, conv: &str) -> Value {
    app.call(
        Method::GET,
        &format!("/v1/conversations/{conv}/sla"),
        Some(&t.key),
        None,
    )
    .await
    .expect(200)
    .body
}

fn target<'a>(sla: &'a Value, name: &str) -> &'a Value {
    sla["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == name)
        .unwrap()
}

async fn owner(app: &TestApp, t: &TestTenant) -> (String, String) {
    let token = app.sign_in(&t.owner_email, &t.owner_password).await;
    let me = app
        .send(app.request(Method::GET, "/v1/me").bearer_auth(&token))
        .await
        .expect(200);
    (token, me.body["user_id"].as_str().unwrap().to_owned())
}

async fn notifications(app: &TestApp, token: &str, t: &TestTenant) -> Vec<Value> {
    app.send(
        app.request(Method::GET, "/v1/notifications")
            .bearer_auth(token)
            .header("x-switchboard-tenant", &t.slug),
    )
    .await
    .expect(200)
    .body["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn first_response_warns_breaches_and_notifies_the_assignee() {
    for db in dbs() {
        let app = TestApp::spawn_with(db, |cfg| cfg.jobs.concurrency = 0).await;
        let t = app.tenant().await;
        let (_, inbox) = setup(&app, &t).await;
        let (token, owner_id) = owner(&app, &t).await;
        let conv = customer_writes(&app, &t, &inbox, "help!").await;
        app.call(
            Method::PATCH,
            &format!("/v1/conversations/{conv}"),
            Some(&t.key),
            Some(json!({"assignee_id": owner_id})),
        )
        .await
        .expect(200);
        let s = sla(&app, &t, &conv).await;
        let first = target(&s, "first_response");
        assert_eq!(
            (first["running"].as_bool(), first["budget_ms"].as_i64()),
            (Some(true), Some(10 * MIN)),
            "{db:?}: {s}"
        );

        app.clock.advance_ms(8 * MIN);
        app.drain_jobs().await;
        let s = sla(&app, &t, &conv).await;
        assert_eq!(
            (
                target(&s, "first_response")["warned"].as_bool(),
                target(&s, "first_response")["breached"].as_bool()
            ),
            (Some(true), Some(false)),
            "{db:?}"
        );
        app.clock.advance_ms(2 * MIN);
        app.drain_jobs().await;
        let s = sla(&app, &t, &conv).await;
        assert_eq!(
            target(&s, "first_response")["breached"],
            true,
            "{db:?}: {s}"
        );
        let kinds: Vec<String> = notifications(&app, &token, &t)
            .await
            .iter()
            .map(|n| n["kind"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            kinds.contains(&"sla_warning".to_owned()) && kinds.contains(&"sla_breach".to_owned()),
            "{kinds:?}"
        );
        // Breached once, however often the check runs.
        app.clock.advance_ms(MIN);
        app.drain_jobs().await;
        let breaches = notifications(&app, &token, &t)
            .await
            .iter()
            .filter(|n| n["kind"] == "sla_breach")
            .count();
        assert_eq!(breaches, 1);
        // The events are in the audit log under the automation actor.
        let audit = app
            .call(
                Method::GET,
                "/v1/audit-events?action=sla.breached",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(
            audit.body["data"][0]["actor"]["type"], "automation",
            "{}",
            audit.text
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn pending_pauses_the_clock_and_replies_meet_their_targets() {
    for db in dbs() {
        let app = TestApp::spawn_with(db, |cfg| cfg.jobs.concurrency = 0).await;
        let t = app.tenant().await;
        let (_, inbox) = setup(&app, &t).await;
        let conv = customer_writes(&app, &t, &inbox, "question").await;
        app.clock.advance_ms(4 * MIN);
        app.call(
            Method::PATCH,
            &format!("/v1/conversations/{conv}"),
            Some(&t.key),
            Some(json!({"status": "pending"})),
        )
        .await
        .expect(200);
        app.clock.advance_ms(100 * MIN);
        app.drain_jobs().await;
        let s = sla(&app, &t, &conv).await;
        let first = target(&s, "first_response");
        assert_eq!(
            (
                first["running"].as_bool(),
                first["used_ms"].as_i64(),
                first["breached"].as_bool()
            ),
            (Some(false), Some(4 * MIN), Some(false)),
            "{db:?}: {s}"
        );
        // Back to open: six minutes left.
        app.call(
            Method::PATCH,
            &format!("/v1/conversations/{conv}"),
            Some(&t.key),
            Some(json!({"status": "open"})),
        )
        .await
        .expect(200);
        let s = sla(&app, &t, &conv).await;
        let due = target(&s, "first_response")["due_at"]
            .as_str()
            .unwrap()
            .to_owned();
        let expected = switchboard_core::clock::rfc3339(app.clock_now() + 6 * MIN);
        assert_eq!(due, expected, "{db:?}");
        // An agent's reply meets it; the customer's next question starts the next-response clock.
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/messages"),
            Some(&t.key),
            Some(json!({"content": "answer"})),
        )
        .await
        .expect(201);
        let s = sla(&app, &t, &conv).await;
        assert!(target(&s, "first_response")["met_at"].is_string());
        customer_writes(&app, &t, &inbox, "follow-up").await;
        let s = sla(&app, &t, &conv).await;
        let next = target(&s, "next_response");
        assert_eq!(
            (next["running"].as_bool(), next["cycle"].as_i64()),
            (Some(true), Some(1)),
            "{s}"
        );
        app.clock.advance_ms(31 * MIN);
        app.drain_jobs().await;
        assert_eq!(
            target(&sla(&app, &t, &conv).await, "next_response")["breached"],
            true
        );
        // Resolving meets the resolution target.
        app.call(
            Method::PATCH,
            &format!("/v1/conversations/{conv}"),
            Some(&t.key),
            Some(json!({"status": "resolved"})),
        )
        .await
        .expect(200);
        assert!(target(&sla(&app, &t, &conv).await, "resolution")["met_at"].is_string());
        app.stop().await;
    }
}

#[tokio::test]
async fn sla_input_is_checked_and_never_crosses_tenants() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let a = app.tenant().await;
        let b = app.tenant().await;
        let (policy_a, inbox_a) = setup(&app, &a).await;
        let conv_a = customer_writes(&app, &a, &inbox_a, "hi").await;
        let (_, inbox_b) = setup(&app, &b).await;
        let conv_b = customer_writes(&app, &b, &inbox_b, "hi").await;
        for bad in [
            json!({"name": "none"}),
            json!({"name": "tiny", "first_response_ms": 10}),
            json!({"name": "pct", "first_response_ms": 600000, "warning_percent": 150}),
            json!({"name": "cal", "first_response_ms": 600000, "calendar_id": "cal_01jd0000000000000000000000"}),
        ] {
            app.call(Method::POST, "/v1/sla-policies", Some(&a.key), Some(bad))
                .await
                .expect_problem(422, "validation_failed");
        }
        app.call(
            Method::POST,
            "/v1/sla-policies",
            Some(&a.key),
            Some(json!({"name": "Standard", "first_response_ms": 600000})),
        )
        .await
        .expect_problem(409, "conflict");
        // B cannot use, see or change A's.
        app.call(
            Method::PUT,
            &format!("/v1/conversations/{conv_b}/sla"),
            Some(&b.key),
            Some(json!({"sla_policy_id": policy_a})),
        )
        .await
        .expect_problem(422, "validation_failed");
        app.call(
            Method::GET,
            &format!("/v1/conversations/{conv_a}/sla"),
            Some(&b.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        app.call(
            Method::PUT,
            &format!("/v1/inboxes/{inbox_a}/sla"),
            Some(&b.key),
            Some(json!({"sla_policy_id": null})),
        )
        .await
        .expect_problem(404, "not_found");
        app.call(
            Method::DELETE,
            &format!("/v1/sla-policies/{policy_a}"),
            Some(&b.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        let list = app
            .call(Method::GET, "/v1/sla-policies", Some(&b.key), None)
            .await
            .expect(200);
        assert_eq!(list.body["data"].as_array().unwrap().len(), 1, "{db:?}");
        // Applying again would wipe the clocks' warnings and breaches.
        app.call(
            Method::PUT,
            &format!("/v1/conversations/{conv_a}/sla"),
            Some(&a.key),
            Some(json!({"sla_policy_id": policy_a})),
        )
        .await
        .expect_problem(409, "conflict");
        // A policy in use cannot be deleted.
        app.call(
            Method::DELETE,
            &format!("/v1/sla-policies/{policy_a}"),
            Some(&a.key),
            None,
        )
        .await
        .expect_problem(409, "conflict");
        app.stop().await;
    }
}

#[tokio::test]
async fn mentions_notify_the_mentioned_person_only() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let email = format!("agent@{}.test", t.slug);
        let agent = app
            .call(
                Method::POST,
                "/v1/users",
                Some(&t.key),
                Some(
                    json!({"email": email, "role": "agent", "password": "a long enough password"}),
                ),
            )
            .await
            .expect(201);
        let agent_id = agent.body["user"]["id"].as_str().unwrap().to_owned();
        let agent_token = app.sign_in(&email, "a long enough password").await;
        let (owner_token, _) = owner(&app, &t).await;
        let (_, inbox) = setup(&app, &t).await;
        let conv = customer_writes(&app, &t, &inbox, "hi").await;

        let (mut agent_ws, mut owner_ws) = {
            let a = app
                .ws(
                    &format!("/v1/realtime?tenant={}", t.slug),
                    Some(&agent_token),
                    &[],
                )
                .await
                .unwrap();
            let o = app
                .ws(
                    &format!("/v1/realtime?tenant={}", t.slug),
                    Some(&owner_token),
                    &[],
                )
                .await
                .unwrap();
            (a, o)
        };
        agent_ws.next_of("ready").await;
        owner_ws.next_of("ready").await;
        app.call(Method::POST, &format!("/v1/conversations/{conv}/messages"), Some(&owner_token),
            Some(json!({"content": format!("@{email} can you take this? cc @nobody"), "private": true}))).await;
        let owner_note = app
            .send(
                app.request(Method::POST, &format!("/v1/conversations/{conv}/messages"))
                    .bearer_auth(&owner_token)
                    .header("x-switchboard-tenant", &t.slug)
                    .json(&json!({"content": format!("@{agent_id} ping"), "private": true})),
            )
            .await;
        owner_note.expect(201);
        let mine = notifications(&app, &agent_token, &t).await;
        assert!(!mine.is_empty(), "{db:?}");
        assert!(mine
            .iter()
            .all(|n| n["kind"] == "mention" && n["conversation_id"] == conv.as_str()));
        assert!(
            notifications(&app, &owner_token, &t)
                .await
                .iter()
                .all(|n| n["kind"] != "mention"),
            "the writer is not notified"
        );
        // Pushed to the agent's socket, not the owner's.
        loop {
            let f = agent_ws.next_of("event").await;
            if f["event"]["type"] == "notification.created" {
                assert_eq!(f["event"]["data"]["user_id"], agent_id.as_str());
                break;
            }
        }
        while let Some(f) = owner_ws
            .next_within(std::time::Duration::from_millis(300))
            .await
        {
            assert_ne!(f["event"]["type"], "notification.created", "{f}");
        }
        // Reading: one, then all; someone else's id is 404; API keys have none.
        let first = mine[0]["id"].as_str().unwrap();
        app.send(
            app.request(Method::POST, &format!("/v1/notifications/{first}/read"))
                .bearer_auth(&agent_token)
                .header("x-switchboard-tenant", &t.slug),
        )
        .await
        .expect(200);
        app.send(
            app.request(Method::POST, &format!("/v1/notifications/{first}/read"))
                .bearer_auth(&owner_token)
                .header("x-switchboard-tenant", &t.slug),
        )
        .await
        .expect_problem(404, "not_found");
        app.send(
            app.request(Method::POST, "/v1/notifications/read-all")
                .bearer_auth(&agent_token)
                .header("x-switchboard-tenant", &t.slug),
        )
        .await
        .expect(200);
        let unread = app
            .send(
                app.request(Method::GET, "/v1/notifications?unread=true")
                    .bearer_auth(&agent_token)
                    .header("x-switchboard-tenant", &t.slug),
            )
            .await
            .expect(200);
        assert!(unread.body["data"].as_array().unwrap().is_empty());
        app.call(Method::GET, "/v1/notifications", Some(&t.key), None)
            .await
            .expect_problem(403, "forbidden");
        app.call(
            Method::POST,
            &format!("/v1/notifications/{first}/read"),
            Some(&other.key),
            None,
        )
        .await
        .expect_problem(403, "forbidden");
        app.stop().await;
    }
}
