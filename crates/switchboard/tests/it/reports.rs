//! Reports with a controlled clock: response, reply and resolution times (also in business
//! hours), bot resolutions, reopened cycles, CSAT surveys answered by token, grouping, isolation.

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_core::clock::rfc3339;
use switchboard_testkit::{dbs, TestApp, TestTenant};

const MIN: i64 = 60_000;

async fn inbox(app: &TestApp, t: &TestTenant) -> String {
    app.call(
        Method::POST,
        "/v1/inboxes",
        Some(&t.key),
        Some(json!({"name": switchboard_testkit::unique("web"), "channel": "api"})),
    )
    .await
    .expect(201)
    .body["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn customer(app: &TestApp, t: &TestTenant, inbox: &str, who: &str) -> String {
    app.call(
        Method::POST,
        &format!("/v1/inboxes/{inbox}/messages"),
        Some(&t.key),
        Some(json!({"contact": {"email": who}, "content": "question"})),
    )
    .await
    .expect(201)
    .body["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn reply(app: &TestApp, t: &TestTenant, conv: &str) {
    app.call(
        Method::POST,
        &format!("/v1/conversations/{conv}/messages"),
        Some(&t.key),
        Some(json!({"content": "answer"})),
    )
    .await
    .expect(201);
}

async fn resolve(app: &TestApp, t: &TestTenant, conv: &str) {
    app.call(
        Method::PATCH,
        &format!("/v1/conversations/{conv}"),
        Some(&t.key),
        Some(json!({"status": "resolved"})),
    )
    .await
    .expect(200);
}

/// The survey answer links of these conversations (the admin endpoint; events never carry them).
async fn survey_paths(app: &TestApp, t: &TestTenant, conversations: &[&str]) -> Vec<String> {
    let tenant = app.core.find_tenant(&t.slug).await.unwrap();
    let ctx = crate::store::ctx(&tenant);
    let announced = app
        .core
        .events_after(&ctx, 0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.envelope.event_type == "csat.requested")
        .inspect(|e| {
            assert!(
                e.envelope.data.get("survey_path").is_none(),
                "no link in events"
            )
        })
        .count();
    assert_eq!(announced, conversations.len());
    let mut out = Vec::new();
    for c in conversations {
        let r = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{c}/csat"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        out.push(r.body["survey_path"].as_str().unwrap().to_owned());
    }
    out
}

async fn report(app: &TestApp, t: &TestTenant, since: i64, until: i64, extra: &str) -> Value {
    app.call(
        Method::GET,
        &format!(
            "/v1/reports/summary?since={}&until={}{extra}",
            urlencode(&rfc3339(since)),
            urlencode(&rfc3339(until))
        ),
        Some(&t.key),
        None,
    )
    .await
    .expect(200)
    .body
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('+', "%2B")
}

#[tokio::test]
async fn figures_follow_their_definitions() {
    for db in dbs() {
        let app = TestApp::spawn_with(db, |cfg| cfg.jobs.concurrency = 0).await;
        // Saturday 2026-11-28 10:00 UTC: outside the business calendar below.
        app.clock.set_ms(1_795_860_000_000);
        let t = app.tenant().await;
        let other = app.tenant().await;
        let start = app.clock_now();
        let inbox_id = inbox(&app, &t).await;
        let conv = customer(&app, &t, &inbox_id, "ada@example.com").await;
        app.clock.advance_ms(5 * MIN);
        reply(&app, &t, &conv).await; // first response 5 min, reply 5 min
        app.clock.advance_ms(10 * MIN);
        customer(&app, &t, &inbox_id, "ada@example.com").await;
        app.clock.advance_ms(2 * MIN);
        reply(&app, &t, &conv).await; // reply 2 min
        app.clock.advance_ms(3 * MIN);
        resolve(&app, &t, &conv).await; // resolution 20 min
                                        // A conversation nobody answered, resolved: a resolution without a person's reply.
        let quiet = customer(&app, &t, &inbox_id, "bob@example.com").await;
        app.clock.advance_ms(MIN);
        resolve(&app, &t, &quiet).await;
        // Reopened: a new cycle with its own first response.
        app.clock.advance_ms(10 * MIN);
        customer(&app, &t, &inbox_id, "ada@example.com").await;
        app.clock.advance_ms(4 * MIN);
        reply(&app, &t, &conv).await;

        let paths = survey_paths(&app, &t, &[&conv, &quiet]).await;
        assert_eq!(paths.len(), 2, "{db:?}: one survey per resolution");
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
            Method::GET,
            &format!("/v1/conversations/{conv}/csat"),
            Some(viewer.body["secret"].as_str().unwrap()),
            None,
        )
        .await
        .expect_problem(403, "forbidden");
        app.call(
            Method::GET,
            &format!("/v1/conversations/{conv}/csat"),
            Some(&other.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        app.call(
            Method::POST,
            &paths[0],
            None,
            Some(json!({"rating": 5, "comment": "great"})),
        )
        .await
        .expect(204);
        app.call(Method::POST, &paths[0], None, Some(json!({"rating": 1})))
            .await
            .expect_problem(409, "conflict");
        app.call(Method::POST, &paths[1], None, Some(json!({"rating": 9})))
            .await
            .expect_problem(422, "validation_failed");
        app.call(
            Method::POST,
            "/csat/nonsense.token",
            None,
            Some(json!({"rating": 3})),
        )
        .await
        .expect_problem(404, "not_found");
        let forged = paths[1].replace(&paths[1][6..32], other.id.trim_start_matches("ten_"));
        app.call(Method::POST, &forged, None, Some(json!({"rating": 3})))
            .await
            .expect_problem(404, "not_found");

        let until = app.clock_now() + MIN;
        let r = report(&app, &t, start, until, "").await;
        let m = &r["totals"];
        assert_eq!(m["conversations_created"], 2, "{db:?}: {r}");
        assert_eq!(m["conversations_resolved"], 2);
        assert_eq!(m["first_response_time"]["count"], 2, "one per cycle");
        assert_eq!(m["first_response_time"]["avg_ms"], (5 * MIN + 4 * MIN) / 2);
        assert_eq!(m["reply_time"]["count"], 3);
        assert_eq!(m["reply_time"]["avg_ms"], (5 * MIN + 2 * MIN + 4 * MIN) / 3);
        assert_eq!(m["resolution_time"]["avg_ms"], (20 * MIN + MIN) / 2);
        assert_eq!(
            (
                m["bot_resolutions"].as_i64(),
                m["bot_resolution_rate"].as_f64()
            ),
            (Some(1), Some(0.5))
        );
        assert_eq!(m["csat"]["surveys_sent"], 2);
        assert_eq!(m["csat"]["responses"], 1);
        assert_eq!(m["csat"]["response_rate"], 0.5);
        assert_eq!(m["csat"]["average_score"], 5.0);

        // In business hours (closed at the weekend) the same waits count nothing.
        let cal = app.call(Method::POST, "/v1/business-calendars", Some(&t.key), Some(json!({"name": "Office", "spec": {"timezone": "UTC",
            "hours": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]], "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]}}})))
            .await.expect(201);
        let r = report(
            &app,
            &t,
            start,
            until,
            &format!("&calendar_id={}", cal.body["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(
            r["totals"]["first_response_time_business"]["avg_ms"], 0,
            "{r}"
        );
        assert_eq!(
            r["totals"]["first_response_time"]["avg_ms"],
            (5 * MIN + 4 * MIN) / 2
        );

        // Grouped by day and by agent (replies came from the API key).
        let r = report(
            &app,
            &t,
            start,
            until,
            "&group_by=day&timezone=Europe%2FParis",
        )
        .await;
        assert_eq!(r["groups"].as_array().unwrap().len(), 1);
        assert_eq!(r["groups"][0]["key"], "2026-11-28");
        let r = report(&app, &t, start, until, "&group_by=agent").await;
        let keys: Vec<&str> = r["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["key"].as_str().unwrap())
            .collect();
        assert!(keys.iter().any(|k| k.starts_with("key_")), "{keys:?}");
        // Filtered to another inbox: nothing.
        let empty = inbox(&app, &t).await;
        let r = report(&app, &t, start, until, &format!("&inbox_id={empty}")).await;
        assert_eq!(r["totals"]["conversations_created"], 0);
        // Another tenant sees none of it.
        let r = app
            .call(
                Method::GET,
                &format!(
                    "/v1/reports/summary?since={}&until={}",
                    urlencode(&rfc3339(start)),
                    urlencode(&rfc3339(until))
                ),
                Some(&other.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(r.body["totals"]["conversations_created"], 0);
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_report_queries_are_refused() {
    let app = TestApp::spawn(switchboard_testkit::Db::Sqlite).await;
    let t = app.tenant().await;
    for q in [
        "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
        "since=2024-01-01T00:00:00Z&until=2026-01-01T00:00:00Z",
        "since=yesterday&until=2026-01-01T00:00:00Z",
        "since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z&group_by=year",
        "since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z&timezone=Mars%2FOlympus",
        "since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z&inbox_id=..%2F..%2Fetc",
        "since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z&calendar_id=cal_01jd0000000000000000000000",
        "until=2026-01-02T00:00:00Z",
    ] {
        app.call(Method::GET, &format!("/v1/reports/summary?{}", q.replace(':', "%3A")), Some(&t.key), None)
            .await
            .expect_problem(422, "validation_failed");
    }
    app.stop().await;
}

#[tokio::test]
async fn bot_time_before_a_hand_off_is_not_counted_and_bot_resolutions_are() {
    for db in dbs() {
        let app = TestApp::spawn_with(db, |cfg| cfg.jobs.concurrency = 0).await;
        let t = app.tenant().await;
        let start = app.clock_now();
        let inbox_id = inbox(&app, &t).await;
        let bot_reply = |conv: String| {
            let app = &app;
            let key = t.key.clone();
            async move {
                app.call(
                    Method::POST,
                    &format!("/v1/conversations/{conv}/messages"),
                    Some(&key),
                    Some(json!({"content": "I am the bot. How can I help?", "as_bot": true})),
                )
                .await
            }
        };
        // Handed off: the first response counts from the hand-off.
        let conv = customer(&app, &t, &inbox_id, "ada@example.com").await;
        app.clock.advance_ms(MIN);
        let m = bot_reply(conv.clone()).await.expect(201);
        assert_eq!(m.body["sender"]["type"], "bot", "{db:?}");
        app.clock.advance_ms(10 * MIN);
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/handoff"),
            Some(&t.key),
            None,
        )
        .await
        .expect(200);
        app.clock.advance_ms(2 * MIN);
        reply(&app, &t, &conv).await;
        // Answered and resolved by the bot alone.
        let solo = customer(&app, &t, &inbox_id, "bob@example.com").await;
        bot_reply(solo.clone()).await.expect(201);
        resolve(&app, &t, &solo).await;

        let r = report(&app, &t, start, app.clock_now() + MIN, "").await;
        let m = &r["totals"];
        assert_eq!(m["first_response_time"]["count"], 1, "{db:?}: {r}");
        assert_eq!(
            m["first_response_time"]["avg_ms"],
            2 * MIN,
            "counted from the hand-off"
        );
        assert_eq!(m["handoffs"], 1);
        assert_eq!(m["handoff_rate"], 0.5);
        assert_eq!(
            (
                m["bot_resolutions"].as_i64(),
                m["bot_resolution_rate"].as_f64()
            ),
            (Some(1), Some(1.0))
        );
        // Only API keys write as a bot.
        let token = app.sign_in(&t.owner_email, &t.owner_password).await;
        let r = app
            .send(
                app.request(Method::POST, &format!("/v1/conversations/{conv}/messages"))
                    .bearer_auth(&token)
                    .header("x-switchboard-tenant", &t.slug)
                    .json(&json!({"content": "beep", "as_bot": true})),
            )
            .await;
        r.expect_problem(422, "validation_failed");
        app.stop().await;
    }
}
