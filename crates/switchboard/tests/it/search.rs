//! Full-text search: per tenant, with filters, and safe with any typed text.

use reqwest::Method;
use serde_json::json;
use switchboard_testkit::{dbs, Reply, TestApp};

async fn get(app: &TestApp, key: &str, path: &str) -> Reply {
    app.call(Method::GET, path, Some(key), None).await
}

#[tokio::test]
async fn search_finds_words_in_the_callers_tenant_only() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let a = app.tenant().await;
        let b = app.tenant().await;
        let mut conversation_of = std::collections::HashMap::new();
        for (t, who, text) in [
            (&a, "ana", "My refund for order 1234 never arrived"),
            (&a, "bo", "Password reset email is missing"),
            (&b, "cy", "My refund for order 1234 never arrived"),
        ] {
            let inbox = app
                .call(
                    Method::POST,
                    "/v1/inboxes",
                    Some(&t.key),
                    Some(json!({"name": format!("in-{who}"), "channel": "api"})),
                )
                .await
                .expect(201);
            let body = json!({"contact": {"email": format!("{who}@example.com"), "name": format!("{who} Smith")}, "content": text});
            let r = app
                .call(
                    Method::POST,
                    &format!(
                        "/v1/inboxes/{}/messages",
                        inbox.body["id"].as_str().unwrap()
                    ),
                    Some(&t.key),
                    Some(body),
                )
                .await
                .expect(201);
            conversation_of.insert(
                who,
                r.body["conversation"]["id"].as_str().unwrap().to_owned(),
            );
        }

        // The same words live in both tenants; each sees only its own.
        let hits = get(&app, &a.key, "/v1/search/messages?q=refund%20order")
            .await
            .expect(200);
        let found: Vec<_> = hits.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["conversation_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(found, [conversation_of["ana"].clone()], "{db:?}");
        let hits = get(&app, &b.key, "/v1/search/conversations?q=REFUND")
            .await
            .expect(200);
        let found: Vec<_> = hits.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(found, [conversation_of["cy"].clone()], "{db:?}");
        // Every word must match.
        assert_eq!(
            get(&app, &a.key, "/v1/search/messages?q=refund%20password")
                .await
                .expect(200)
                .body["data"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        // Filters narrow the hits.
        assert_eq!(
            get(&app, &a.key, "/v1/search/messages?q=refund&status=resolved")
                .await
                .expect(200)
                .body["data"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            get(&app, &a.key, "/v1/search/messages?q=refund&status=open")
                .await
                .expect(200)
                .body["data"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        // Contacts by name.
        let people = get(&app, &a.key, "/v1/search/contacts?q=smith")
            .await
            .expect(200);
        let mut names: Vec<_> = people.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["ana Smith", "bo Smith"], "{db:?}");

        // Typed text is never query syntax.
        for q in [
            "%22",
            "refund%22%20OR%20%22",
            "content%3Arefund",
            "*",
            "NEAR(refund",
            "%27%3B%20DROP%20TABLE%20messages%3B--",
        ] {
            get(&app, &a.key, &format!("/v1/search/messages?q={q}"))
                .await
                .expect(200);
        }
        get(&app, &a.key, "/v1/search/messages?q=%20%20")
            .await
            .expect_problem(422, "validation_failed");
        get(&app, &a.key, "/v1/search/messages?q=x&since=yesterday")
            .await
            .expect_problem(422, "validation_failed");
        // Updating a contact updates what search finds.
        let ana = get(&app, &a.key, "/v1/contacts?email=ana%40example.com")
            .await
            .expect(200)
            .body["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.call(
            Method::PATCH,
            &format!("/v1/contacts/{ana}"),
            Some(&a.key),
            Some(json!({"name": "Anastasia Jones"})),
        )
        .await
        .expect(200);
        assert_eq!(
            get(&app, &a.key, "/v1/search/contacts?q=anastasia")
                .await
                .expect(200)
                .body["data"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            get(&app, &a.key, "/v1/search/contacts?q=smith")
                .await
                .expect(200)
                .body["data"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        app.stop().await;
    }
}
