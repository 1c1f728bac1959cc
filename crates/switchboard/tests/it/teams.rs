//! Teams, availability and capacity.

use reqwest::Method;
use serde_json::json;
use switchboard_testkit::{dbs, TestApp};

#[tokio::test]
async fn teams_hold_tenant_members_and_agents_set_their_availability() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let agent = app.call(Method::POST, "/v1/users", Some(&t.key), Some(json!({"email": format!("agent@{}.test", t.slug), "role": "agent", "password": "a long enough password"}))).await.expect(201);
        let agent_id = agent.body["user"]["id"].as_str().unwrap().to_owned();
        assert_eq!(agent.body["user"]["availability"], "offline", "{db:?}");
        let outsider = app
            .call(Method::GET, "/v1/users", Some(&other.key), None)
            .await
            .expect(200);
        let outsider_id = outsider.body["data"][0]["id"].as_str().unwrap().to_owned();

        let team = app
            .call(
                Method::POST,
                "/v1/teams",
                Some(&t.key),
                Some(json!({"name": "Billing", "description": "Invoices and refunds"})),
            )
            .await
            .expect(201);
        let team_id = team.body["id"].as_str().unwrap().to_owned();
        app.call(
            Method::POST,
            "/v1/teams",
            Some(&t.key),
            Some(json!({"name": "Billing"})),
        )
        .await
        .expect_problem(409, "conflict");
        let other_team = app
            .call(
                Method::POST,
                "/v1/teams",
                Some(&other.key),
                Some(json!({"name": "Theirs"})),
            )
            .await
            .expect(201);
        let other_team = other_team.body["id"].as_str().unwrap().to_owned();

        let members = format!("/v1/teams/{team_id}/members");
        app.call(
            Method::POST,
            &members,
            Some(&t.key),
            Some(json!({"user_id": agent_id})),
        )
        .await
        .expect(204);
        app.call(
            Method::POST,
            &members,
            Some(&t.key),
            Some(json!({"user_id": agent_id})),
        )
        .await
        .expect_problem(409, "conflict");
        let r = app
            .call(
                Method::POST,
                &members,
                Some(&t.key),
                Some(json!({"user_id": outsider_id})),
            )
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "user_id");
        app.call(
            Method::POST,
            &format!("/v1/teams/{other_team}/members"),
            Some(&t.key),
            Some(json!({"user_id": agent_id})),
        )
        .await
        .expect_problem(404, "not_found");
        app.call(
            Method::GET,
            &format!("/v1/teams/{other_team}"),
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");

        // The agent sets their own availability; an admin sets their capacity.
        let token = app
            .sign_in(&format!("agent@{}.test", t.slug), "a long enough password")
            .await;
        let set = |v: &'static str| {
            app.send(
                app.request(Method::PUT, "/v1/me/availability")
                    .bearer_auth(&token)
                    .header("x-switchboard-tenant", &t.slug)
                    .json(&json!({"availability": v})),
            )
        };
        assert_eq!(
            set("online").await.expect(200).body["availability"],
            "online"
        );
        set("asleep").await.expect_problem(422, "validation_failed");
        app.call(
            Method::PUT,
            "/v1/me/availability",
            Some(&t.key),
            Some(json!({"availability": "online"})),
        )
        .await
        .expect_problem(400, "bad_request");
        let cap = format!("/v1/memberships/{agent_id}");
        assert_eq!(
            app.call(
                Method::PATCH,
                &cap,
                Some(&t.key),
                Some(json!({"capacity": 5}))
            )
            .await
            .expect(200)
            .body["capacity"],
            5
        );
        app.call(
            Method::PATCH,
            &cap,
            Some(&t.key),
            Some(json!({"capacity": -1})),
        )
        .await
        .expect_problem(422, "validation_failed");
        app.call(Method::PATCH, &cap, Some(&t.key), Some(json!({})))
            .await
            .expect_problem(422, "validation_failed");
        assert!(app
            .call(
                Method::PATCH,
                &cap,
                Some(&t.key),
                Some(json!({"capacity": null}))
            )
            .await
            .expect(200)
            .body["capacity"]
            .is_null());
        let agent_key = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "a", "scopes": ["agent"]})),
            )
            .await
            .expect(201);
        let agent_key = agent_key.body["secret"].as_str().unwrap().to_owned();
        app.call(
            Method::POST,
            "/v1/teams",
            Some(&agent_key),
            Some(json!({"name": "Mine"})),
        )
        .await
        .expect_problem(403, "forbidden");
        app.call(
            Method::PATCH,
            &cap,
            Some(&agent_key),
            Some(json!({"capacity": 99})),
        )
        .await
        .expect_problem(403, "forbidden");

        let detail = app
            .call(
                Method::GET,
                &format!("/v1/teams/{team_id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(detail.body["name"], "Billing");
        assert_eq!(detail.body["members"][0]["availability"], "online");

        // Leaving the tenant leaves its teams.
        app.call(
            Method::DELETE,
            &format!("/v1/memberships/{agent_id}"),
            Some(&t.key),
            None,
        )
        .await
        .expect(204);
        let detail = app
            .call(
                Method::GET,
                &format!("/v1/teams/{team_id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(
            detail.body["members"].as_array().unwrap().len(),
            0,
            "{db:?}"
        );
        app.call(
            Method::DELETE,
            &format!("/v1/teams/{team_id}"),
            Some(&t.key),
            None,
        )
        .await
        .expect(204);
        app.call(
            Method::GET,
            &format!("/v1/teams/{team_id}"),
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        app.stop().await;
    }
}
