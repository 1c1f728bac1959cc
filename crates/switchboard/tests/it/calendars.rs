//! Business-hours calendars over the API.

use reqwest::Method;
use serde_json::json;
use switchboard_testkit::{dbs, TestApp};

fn london() -> serde_json::Value {
    let day = json!([["09:00", "17:00"]]);
    json!({"timezone": "Europe/London", "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day}, "holidays": ["2026-12-25"]})
}

#[tokio::test]
async fn calendars_answer_business_time_questions_and_stay_in_their_tenant() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let c = app
            .call(
                Method::POST,
                "/v1/business-calendars",
                Some(&t.key),
                Some(json!({"name": "UK support", "spec": london()})),
            )
            .await
            .expect(201);
        let id = c.body["id"].as_str().unwrap().to_owned();
        app.call(
            Method::POST,
            "/v1/business-calendars",
            Some(&t.key),
            Some(json!({"name": "UK support", "spec": london()})),
        )
        .await
        .expect_problem(409, "conflict");

        // Thursday 24 Dec 2026, 15:00 London: open; 4 business hours run out Monday 11:00
        // (Christmas and the weekend are closed); until Tuesday 09:00 holds 2 h + 8 h.
        let q = "at=2026-12-24T15:00:00Z&until=2026-12-29T09:00:00Z&budget_minutes=240";
        let e = app
            .call(
                Method::GET,
                &format!("/v1/business-calendars/{id}/evaluate?{q}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(e.body["open"], true, "{db:?}");
        assert_eq!(e.body["deadline_at"], "2026-12-28T11:00:00Z");
        assert_eq!(e.body["business_minutes"], 600.0);
        let e = app
            .call(
                Method::GET,
                &format!("/v1/business-calendars/{id}/evaluate?at=2026-12-25T10:00:00Z"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(e.body["open"], false);
        assert_eq!(e.body["next_open_at"], "2026-12-28T09:00:00Z");

        // Bad specs are refused field by field; nothing is stored.
        let mut bad = london();
        bad["timezone"] = json!("Mars/Base");
        bad["hours"]["sat"] = json!([["18:00", "09:00"]]);
        let r = app
            .call(
                Method::POST,
                "/v1/business-calendars",
                Some(&t.key),
                Some(json!({"name": "Bad", "spec": bad})),
            )
            .await
            .expect_problem(422, "validation_failed");
        let fields: Vec<_> = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(fields, ["spec.hours.sat[0]", "spec.timezone"]);
        let r = app
            .call(
                Method::POST,
                "/v1/business-calendars",
                Some(&t.key),
                Some(json!({"name": "Bad", "spec": {"timezone": "UTC", "hours": {"funday": []}}})),
            )
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "spec");
        app.call(
            Method::GET,
            &format!("/v1/business-calendars/{id}/evaluate?at=tomorrow"),
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(422, "validation_failed");
        for q in [
            "at=2026-01-01T00:00:00Z&until=2099-01-01T00:00:00Z",
            "until=2099-01-01T00:00:00Z",
            "budget_minutes=100001",
        ] {
            app.call(
                Method::GET,
                &format!("/v1/business-calendars/{id}/evaluate?{q}"),
                Some(&t.key),
                None,
            )
            .await
            .expect_problem(422, "validation_failed");
        }
        assert_eq!(
            app.call(Method::GET, "/v1/business-calendars", Some(&t.key), None)
                .await
                .expect(200)
                .body["data"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // Another tenant's calendar is not there; agents cannot change calendars.
        for (m, path) in [
            (Method::GET, format!("/v1/business-calendars/{id}")),
            (Method::DELETE, format!("/v1/business-calendars/{id}")),
            (Method::GET, format!("/v1/business-calendars/{id}/evaluate")),
        ] {
            app.call(m, &path, Some(&other.key), None)
                .await
                .expect_problem(404, "not_found");
        }
        let agent = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "a", "scopes": ["agent"]})),
            )
            .await
            .expect(201);
        let agent = agent.body["secret"].as_str().unwrap().to_owned();
        app.call(
            Method::PATCH,
            &format!("/v1/business-calendars/{id}"),
            Some(&agent),
            Some(json!({"name": "Mine"})),
        )
        .await
        .expect_problem(403, "forbidden");
        let mut late = london();
        late["hours"]["mon"] = json!([["12:00", "20:00"]]);
        let p = app
            .call(
                Method::PATCH,
                &format!("/v1/business-calendars/{id}"),
                Some(&t.key),
                Some(json!({"spec": late})),
            )
            .await
            .expect(200);
        assert_eq!(p.body["spec"]["hours"]["mon"][0][1], "20:00");
        app.call(
            Method::DELETE,
            &format!("/v1/business-calendars/{id}"),
            Some(&t.key),
            None,
        )
        .await
        .expect(204);
        app.stop().await;
    }
}
