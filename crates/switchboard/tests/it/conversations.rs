//! Inboxes, conversations and messages.

use reqwest::Method;
use serde_json::json;
use switchboard_testkit::{dbs, TestApp};

pub(crate) async fn inbox(app: &TestApp, key: &str, name: &str) -> String {
    let r = app
        .call(
            Method::POST,
            "/v1/inboxes",
            Some(key),
            Some(json!({"name": name, "channel": "api"})),
        )
        .await
        .expect(201);
    r.body["id"].as_str().unwrap().to_owned()
}

/// A new agent of tenant `t` with `availability`, taking `inbox`'s conversations; their user id.
pub(crate) async fn inbox_agent(
    app: &TestApp,
    t: &switchboard_testkit::TestTenant,
    inbox: &str,
    name: &str,
    availability: &str,
) -> String {
    let email = format!("{name}@{}.test", t.slug);
    let r = app
        .call(
            Method::POST,
            "/v1/users",
            Some(&t.key),
            Some(json!({"email": email, "role": "agent", "password": "a long enough password"})),
        )
        .await
        .expect(201);
    let id = r.body["user"]["id"].as_str().unwrap().to_owned();
    let token = app.sign_in(&email, "a long enough password").await;
    let req = app
        .request(Method::PUT, "/v1/me/availability")
        .bearer_auth(&token)
        .header("x-switchboard-tenant", &t.slug)
        .json(&json!({"availability": availability}));
    app.send(req).await.expect(200);
    app.call(
        Method::POST,
        &format!("/v1/inboxes/{inbox}/members"),
        Some(&t.key),
        Some(json!({"user_id": id})),
    )
    .await
    .expect(204);
    id
}

/// A customer with `email` writes `content` into `inbox`; the id of the conversation it lands in.
pub(crate) async fn customer_writes(
    app: &TestApp,
    key: &str,
    inbox: &str,
    email: &str,
    content: &str,
) -> String {
    let r = app
        .call(
            Method::POST,
            &format!("/v1/inboxes/{inbox}/messages"),
            Some(key),
            Some(json!({"contact": {"email": email}, "content": content})),
        )
        .await
        .expect(201);
    r.body["conversation"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_customer_message_finds_its_conversation_and_waits_for_a_reply() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Website").await;
        let inbound_url = format!("/v1/inboxes/{inbox_id}/messages");
        let send = |content: &str| {
            let body =
                json!({"contact": {"email": "Ada@Example.com", "name": "Ada"}, "content": content});
            app.call(Method::POST, &inbound_url, Some(&t.key), Some(body))
        };
        let first = send("My card was charged twice").await.expect(201);
        assert_eq!(first.body["created"], true, "{db:?}");
        assert_eq!(first.body["conversation"]["number"], 1);
        assert_eq!(first.body["message"]["direction"], "incoming");
        assert_eq!(first.body["message"]["sender"]["type"], "contact");
        let id = first.body["conversation"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(first.body["conversation"]["waiting_since"].is_string());
        let again = send("Any news?").await.expect(201);
        assert_eq!(again.body["created"], false);
        assert_eq!(again.body["conversation"]["id"], id.as_str());
        let contacts = app
            .call(
                Method::GET,
                "/v1/contacts?email=ada%40example.com",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(
            contacts.body["data"].as_array().unwrap().len(),
            1,
            "the contact was created once"
        );

        // A private note leaves the customer waiting; a reply does not.
        let path = format!("/v1/conversations/{id}/messages");
        app.call(
            Method::POST,
            &path,
            Some(&t.key),
            Some(json!({"content": "Checking with billing", "private": true})),
        )
        .await
        .expect(201);
        let c = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert!(c.body["waiting_since"].is_string());
        app.call(
            Method::POST,
            &path,
            Some(&t.key),
            Some(json!({"content": "Refunded, sorry!"})),
        )
        .await
        .expect(201);
        let c = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert!(c.body["waiting_since"].is_null());
        let directions: Vec<_> = c.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["direction"].as_str().unwrap().to_owned(),
                    m["private"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            directions,
            [
                ("incoming".into(), false),
                ("incoming".into(), false),
                ("outgoing".into(), true),
                ("outgoing".into(), false)
            ]
        );

        // Resolved, then the customer writes again: reopened, not a new conversation.
        app.call(
            Method::PATCH,
            &format!("/v1/conversations/{id}"),
            Some(&t.key),
            Some(json!({"status": "resolved"})),
        )
        .await
        .expect(200);
        let reopened = send("It happened again").await.expect(201);
        assert_eq!(reopened.body["created"], false);
        assert_eq!(reopened.body["conversation"]["status"], "open");
        let audit = app
            .call(
                Method::GET,
                &format!("/v1/audit-events?action=conversation.status_changed&target_id={id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(
            audit.body["data"][0]["details"]["reason"],
            "customer_message"
        );
        assert_eq!(audit.body["data"][1]["details"]["to"], "resolved");
        app.stop().await;
    }
}

#[tokio::test]
async fn display_numbers_are_never_duplicated_under_concurrency() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Busy").await;
        let inbound_url = format!("/v1/inboxes/{inbox_id}/messages");
        let mut sends = Vec::new();
        for i in 0..20 {
            let body = json!({"contact": {"external_id": format!("c-{i}")}, "content": format!("hello {i}")});
            sends.push(app.call(Method::POST, &inbound_url, Some(&t.key), Some(body)));
        }
        let mut numbers: Vec<i64> = futures::future::join_all(sends)
            .await
            .into_iter()
            .map(|r| {
                r.expect(201).body["conversation"]["number"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        numbers.sort_unstable();
        let before = numbers.len();
        numbers.dedup();
        assert_eq!(numbers.len(), before, "{db:?}: duplicate display numbers");
        // Numbers are per tenant.
        let other = app.tenant().await;
        let other_inbox = inbox(&app, &other.key, "Busy").await;
        let r = app
            .call(
                Method::POST,
                &format!("/v1/inboxes/{other_inbox}/messages"),
                Some(&other.key),
                Some(json!({"contact": {"external_id": "x"}, "content": "hi"})),
            )
            .await
            .expect(201);
        assert_eq!(r.body["conversation"]["number"], 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn conversation_changes_are_validated_and_stay_in_their_tenant() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Main").await;
        let inbound_url = format!("/v1/inboxes/{inbox_id}/messages");
        let r = app
            .call(
                Method::POST,
                &inbound_url,
                Some(&t.key),
                Some(json!({"contact": {"phone": "+14155552671"}, "content": "help"})),
            )
            .await
            .expect(201);
        let id = r.body["conversation"]["id"].as_str().unwrap().to_owned();
        let contact_id = r.body["conversation"]["contact_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("/v1/conversations/{id}");
        let inbound = format!("/v1/inboxes/{inbox_id}/messages");

        for (body, field) in [
            (
                json!({"contact": {"name": "Nobody"}, "content": "x"}),
                "contact",
            ),
            (
                json!({"contact": {"email": "a@b.test"}, "content": "   "}),
                "content",
            ),
            (
                json!({"contact": {"email": "a@b.test"}, "content": "nul\u{0}"}),
                "content",
            ),
            (
                json!({"contact": {"email": "a@b.test"}, "content": "x".repeat(64 * 1024 + 1)}),
                "content",
            ),
            (
                json!({"contact": {"email": "not-an-email"}, "content": "x"}),
                "email",
            ),
        ] {
            let r = app
                .call(Method::POST, &inbound, Some(&t.key), Some(body))
                .await
                .expect_problem(422, "validation_failed");
            assert_eq!(r.body["errors"][0]["field"], field, "{db:?}: {}", r.text);
        }
        let past = switchboard_core::clock::rfc3339(app.clock_now() - 1000);
        let future = switchboard_core::clock::rfc3339(app.clock_now() + 3_600_000);
        for (body, field) in [
            (json!({"status": "snoozed"}), "snoozed_until"),
            (
                json!({"status": "snoozed", "snoozed_until": past}),
                "snoozed_until",
            ),
            (
                json!({"status": "open", "snoozed_until": future}),
                "snoozed_until",
            ),
            (
                json!({"assignee_id": "usr_01jd8x3k9m2v4q6r8s0t2w4y6z"}),
                "assignee_id",
            ),
            (
                json!({"team_id": "team_01jd8x3k9m2v4q6r8s0t2w4y6z"}),
                "team_id",
            ),
            (json!({"priority": "asap"}), "priority"),
        ] {
            let r = app
                .call(Method::PATCH, &path, Some(&t.key), Some(body))
                .await
                .expect_problem(422, "validation_failed");
            assert_eq!(r.body["errors"][0]["field"], field, "{}", r.text);
        }
        let snoozed = app
            .call(
                Method::PATCH,
                &path,
                Some(&t.key),
                Some(json!({"status": "snoozed", "snoozed_until": future, "priority": "high"})),
            )
            .await
            .expect(200);
        assert_eq!(snoozed.body["status"], "snoozed");
        assert_eq!(snoozed.body["priority"], "high");
        let owner = app
            .call(Method::GET, "/v1/users", Some(&t.key), None)
            .await
            .expect(200);
        let owner_id = owner.body["data"][0]["id"].as_str().unwrap().to_owned();
        let assigned = app
            .call(
                Method::PATCH,
                &path,
                Some(&t.key),
                Some(json!({"assignee_id": owner_id})),
            )
            .await
            .expect(200);
        assert_eq!(assigned.body["assignee_id"], owner_id.as_str());
        let mine = app
            .call(
                Method::GET,
                &format!("/v1/conversations?assignee_id={owner_id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(mine.body["data"].as_array().unwrap().len(), 1);
        let unassigned = app
            .call(
                Method::GET,
                "/v1/conversations?unassigned=true",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(unassigned.body["data"].as_array().unwrap().len(), 0);

        // Another tenant sees nothing and changes nothing.
        let before = app
            .call(Method::GET, &path, Some(&t.key), None)
            .await
            .expect(200)
            .text;
        for (m, p, body) in [
            (Method::GET, path.clone(), None),
            (
                Method::PATCH,
                path.clone(),
                Some(json!({"status": "resolved"})),
            ),
            (
                Method::POST,
                format!("{path}/messages"),
                Some(json!({"content": "hijack"})),
            ),
            (
                Method::POST,
                inbound.clone(),
                Some(json!({"contact": {"email": "x@y.test"}, "content": "x"})),
            ),
        ] {
            app.call(m, &p, Some(&other.key), body)
                .await
                .expect_problem(404, "not_found");
        }
        assert_eq!(
            app.call(Method::GET, "/v1/conversations", Some(&other.key), None)
                .await
                .expect(200)
                .body["data"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            app.call(Method::GET, &path, Some(&t.key), None)
                .await
                .expect(200)
                .text,
            before,
            "{db:?}"
        );

        // Viewers read but do not write; auditors do not read.
        let viewer = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "v", "scopes": ["viewer"]})),
            )
            .await
            .expect(201);
        let viewer = viewer.body["secret"].as_str().unwrap().to_owned();
        app.call(Method::GET, &path, Some(&viewer), None)
            .await
            .expect(200);
        app.call(
            Method::POST,
            &format!("{path}/messages"),
            Some(&viewer),
            Some(json!({"content": "x"})),
        )
        .await
        .expect_problem(403, "forbidden");

        // A contact with conversations is merged, not deleted; merging moves its conversations.
        app.call(
            Method::DELETE,
            &format!("/v1/contacts/{contact_id}"),
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(409, "conflict");
        let keep = app
            .call(
                Method::POST,
                "/v1/contacts",
                Some(&t.key),
                Some(json!({"name": "Survivor"})),
            )
            .await
            .expect(201);
        let keep_id = keep.body["id"].as_str().unwrap().to_owned();
        app.call(
            Method::POST,
            &format!("/v1/contacts/{keep_id}/merge"),
            Some(&t.key),
            Some(json!({"duplicate_id": contact_id})),
        )
        .await
        .expect(200);
        let moved = app
            .call(Method::GET, &path, Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(moved.body["contact_id"], keep_id.as_str());
        app.stop().await;
    }
}

#[tokio::test]
async fn auto_assignment_takes_turns_among_available_agents_within_capacity() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Support").await;
        let mut agents = Vec::new();
        for (name, availability) in [("a1", "online"), ("a2", "online"), ("a3", "busy")] {
            agents.push(inbox_agent(&app, &t, &inbox_id, name, availability).await);
        }
        let stranger = app
            .call(Method::GET, "/v1/users", Some(&other.key), None)
            .await
            .expect(200)
            .body["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app
            .call(
                Method::POST,
                &format!("/v1/inboxes/{inbox_id}/members"),
                Some(&t.key),
                Some(json!({"user_id": stranger})),
            )
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "user_id");
        app.call(
            Method::PATCH,
            &format!("/v1/inboxes/{inbox_id}"),
            Some(&other.key),
            Some(json!({"assignment_policy": "round_robin"})),
        )
        .await
        .expect_problem(404, "not_found");

        let inbound_url = format!("/v1/inboxes/{inbox_id}/messages");
        let mut n = 0;
        let mut send = || {
            n += 1;
            app.call(
                Method::POST,
                &inbound_url,
                Some(&t.key),
                Some(json!({"contact": {"external_id": format!("cust-{n}")}, "content": "help"})),
            )
        };
        // Policy none: nobody is assigned.
        let r = send().await.expect(201);
        assert!(r.body["conversation"]["assignee_id"].is_null(), "{db:?}");

        app.call(
            Method::PATCH,
            &format!("/v1/inboxes/{inbox_id}"),
            Some(&t.key),
            Some(json!({"assignment_policy": "round_robin"})),
        )
        .await
        .expect(200);
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(
                send().await.expect(201).body["conversation"]["assignee_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert!(
            !got.contains(&agents[2]),
            "{db:?}: a busy agent was assigned"
        );
        assert_ne!(got[0], got[1], "round robin takes turns: {got:?}");
        assert_eq!(got[0], got[2]);
        assert_eq!(got[1], got[3]);
        let audit = app
            .call(
                Method::GET,
                "/v1/audit-events?action=conversation.assigned&limit=1",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(
            audit.body["data"][0]["actor"],
            json!({"type": "automation", "id": "auto_assignment"})
        );

        // Capacity: an agent at their limit is skipped.
        let full = got[0].clone();
        app.call(
            Method::PATCH,
            &format!("/v1/memberships/{full}"),
            Some(&t.key),
            Some(json!({"capacity": 2})),
        )
        .await
        .expect(200);
        for _ in 0..2 {
            let a = send().await.expect(201).body["conversation"]["assignee_id"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_ne!(a, full, "{db:?}: an agent over capacity was assigned");
        }

        // Balanced: the least loaded online agent under capacity wins.
        app.call(
            Method::PATCH,
            &format!("/v1/memberships/{full}"),
            Some(&t.key),
            Some(json!({"capacity": null})),
        )
        .await
        .expect(200);
        app.call(
            Method::PATCH,
            &format!("/v1/inboxes/{inbox_id}"),
            Some(&t.key),
            Some(json!({"assignment_policy": "balanced"})),
        )
        .await
        .expect(200);
        let a = send().await.expect(201).body["conversation"]["assignee_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(a, full, "{db:?}: 2 open beat 4 open");
        let detail = app
            .call(
                Method::GET,
                &format!("/v1/inboxes/{inbox_id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(detail.body["assignment_policy"], "balanced");
        assert_eq!(detail.body["agents"].as_array().unwrap().len(), 3);
        app.stop().await;
    }
}

#[tokio::test]
async fn labels_filter_conversations_and_canned_responses_complete_short_codes() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Main").await;
        let inbound_url = format!("/v1/inboxes/{inbox_id}/messages");
        let mut ids = Vec::new();
        for n in 0..2 {
            let r = app
                .call(
                    Method::POST,
                    &inbound_url,
                    Some(&t.key),
                    Some(json!({"contact": {"external_id": format!("l-{n}")}, "content": "hi"})),
                )
                .await
                .expect(201);
            ids.push(r.body["conversation"]["id"].as_str().unwrap().to_owned());
        }
        let billing = app
            .call(
                Method::POST,
                "/v1/labels",
                Some(&t.key),
                Some(json!({"name": "billing", "colour": "#1F6FEB"})),
            )
            .await
            .expect(201);
        assert_eq!(billing.body["colour"], "#1f6feb");
        let billing_id = billing.body["id"].as_str().unwrap().to_owned();
        app.call(
            Method::POST,
            "/v1/labels",
            Some(&t.key),
            Some(json!({"name": "vip", "colour": "#000000"})),
        )
        .await
        .expect(201);
        app.call(
            Method::POST,
            "/v1/labels",
            Some(&t.key),
            Some(json!({"name": "billing", "colour": "#000000"})),
        )
        .await
        .expect_problem(409, "conflict");
        for (body, field) in [
            (json!({"name": "Bad Name", "colour": "#000000"}), "name"),
            (json!({"name": "ok", "colour": "red"}), "colour"),
        ] {
            let r = app
                .call(Method::POST, "/v1/labels", Some(&t.key), Some(body))
                .await
                .expect_problem(422, "validation_failed");
            assert_eq!(r.body["errors"][0]["field"], field);
        }
        // Another tenant's label of the same name does not exist here.
        app.call(
            Method::POST,
            "/v1/labels",
            Some(&other.key),
            Some(json!({"name": "urgent", "colour": "#ff0000"})),
        )
        .await
        .expect(201);

        let set = app
            .call(
                Method::PUT,
                &format!("/v1/conversations/{}/labels", ids[0]),
                Some(&t.key),
                Some(json!({"labels": ["vip", "billing", "billing"]})),
            )
            .await
            .expect(200);
        let names: Vec<_> = set.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["billing", "vip"], "{db:?}");
        let r = app
            .call(
                Method::PUT,
                &format!("/v1/conversations/{}/labels", ids[1]),
                Some(&t.key),
                Some(json!({"labels": ["urgent"]})),
            )
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "labels[0]");
        app.call(
            Method::PUT,
            &format!("/v1/conversations/{}/labels", ids[0]),
            Some(&other.key),
            Some(json!({"labels": []})),
        )
        .await
        .expect_problem(404, "not_found");

        let filtered = app
            .call(
                Method::GET,
                &format!("/v1/conversations?label_id={billing_id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let found: Vec<_> = filtered.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(found, [ids[0].clone()]);
        let detail = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{}", ids[0]),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(detail.body["labels"], json!(["billing", "vip"]));
        app.call(
            Method::DELETE,
            &format!("/v1/labels/{billing_id}"),
            Some(&t.key),
            None,
        )
        .await
        .expect(204);
        let detail = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{}", ids[0]),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(detail.body["labels"], json!(["vip"]));

        // Canned responses: `/ref` completes to every short code starting with `ref`.
        for (code, text) in [
            ("refund", "Your refund is on its way."),
            ("refund-late", "Refunds take 5 days."),
            ("hello", "Hi there!"),
        ] {
            app.call(
                Method::POST,
                "/v1/canned-responses",
                Some(&t.key),
                Some(json!({"short_code": code, "content": text})),
            )
            .await
            .expect(201);
        }
        app.call(
            Method::POST,
            "/v1/canned-responses",
            Some(&t.key),
            Some(json!({"short_code": "hello", "content": "dup"})),
        )
        .await
        .expect_problem(409, "conflict");
        let listed = app
            .call(
                Method::GET,
                "/v1/canned-responses?prefix=%2Fref",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let codes: Vec<_> = listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["short_code"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(codes, ["refund", "refund-late"]);
        let wild = app
            .call(
                Method::GET,
                "/v1/canned-responses?prefix=%25",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(
            wild.body["data"].as_array().unwrap().len(),
            0,
            "% is not a wildcard"
        );
        assert_eq!(
            app.call(Method::GET, "/v1/canned-responses", Some(&other.key), None)
                .await
                .expect(200)
                .body["data"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn simultaneous_first_messages_from_one_person_share_one_contact_and_conversation() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Rush").await;
        let url = format!("/v1/inboxes/{inbox_id}/messages");
        let sends: Vec<_> = (0..10)
            .map(|i| app.call(Method::POST, &url, Some(&t.key), Some(json!({"contact": {"email": "rush@example.com"}, "content": format!("m{i}")}))))
            .collect();
        let replies = futures::future::join_all(sends).await;
        let mut conversations: Vec<String> = replies
            .into_iter()
            .map(|r| {
                r.expect(201).body["conversation"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        conversations.dedup();
        assert_eq!(
            conversations.len(),
            1,
            "{db:?}: one person, one conversation"
        );
        let contacts = app
            .call(
                Method::GET,
                "/v1/contacts?email=rush%40example.com",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(contacts.body["data"].as_array().unwrap().len(), 1);
        let detail = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{}", conversations[0]),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(
            detail.body["messages"].as_array().unwrap().len(),
            10,
            "no message lost"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn only_agents_take_conversations_and_leavers_give_theirs_back() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Desk").await;
        let viewer = app
            .call(
                Method::POST,
                "/v1/users",
                Some(&t.key),
                Some(json!({"email": "v@desk.test", "role": "viewer"})),
            )
            .await
            .expect(201);
        let viewer_id = viewer.body["user"]["id"].as_str().unwrap().to_owned();
        let agent = app
            .call(
                Method::POST,
                "/v1/users",
                Some(&t.key),
                Some(json!({"email": "a@desk.test", "role": "agent"})),
            )
            .await
            .expect(201);
        let agent_id = agent.body["user"]["id"].as_str().unwrap().to_owned();
        let r = app
            .call(
                Method::POST,
                &format!("/v1/inboxes/{inbox_id}/members"),
                Some(&t.key),
                Some(json!({"user_id": viewer_id})),
            )
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "user_id");
        let c = app
            .call(
                Method::POST,
                &format!("/v1/inboxes/{inbox_id}/messages"),
                Some(&t.key),
                Some(json!({"contact": {"external_id": "z"}, "content": "hi"})),
            )
            .await
            .expect(201);
        let id = c.body["conversation"]["id"].as_str().unwrap().to_owned();
        let first_wait = c.body["conversation"]["waiting_since"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("/v1/conversations/{id}");
        app.call(
            Method::PATCH,
            &path,
            Some(&t.key),
            Some(json!({"assignee_id": viewer_id})),
        )
        .await
        .expect_problem(422, "validation_failed");
        app.call(
            Method::PATCH,
            &path,
            Some(&t.key),
            Some(json!({"assignee_id": agent_id})),
        )
        .await
        .expect(200);
        app.call(
            Method::DELETE,
            &format!("/v1/memberships/{agent_id}"),
            Some(&t.key),
            None,
        )
        .await
        .expect(204);
        let after = app
            .call(Method::GET, &path, Some(&t.key), None)
            .await
            .expect(200);
        assert!(
            after.body["assignee_id"].is_null(),
            "{db:?}: a leaver's conversations are unassigned"
        );

        // Resolving ends the wait; a later message starts a new one.
        app.call(
            Method::PATCH,
            &path,
            Some(&t.key),
            Some(json!({"status": "resolved"})),
        )
        .await
        .expect(200);
        app.clock.advance_ms(86_400_000);
        let again = app
            .call(
                Method::POST,
                &format!("/v1/inboxes/{inbox_id}/messages"),
                Some(&t.key),
                Some(json!({"contact": {"external_id": "z"}, "content": "back"})),
            )
            .await
            .expect(201);
        assert_ne!(
            again.body["conversation"]["waiting_since"]
                .as_str()
                .unwrap(),
            first_wait
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn long_threads_are_paged_oldest_first_and_stay_in_their_tenant() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Long").await;
        let id = customer_writes(&app, &t.key, &inbox_id, "long@example.com", "m0").await;
        let thread = format!("/v1/conversations/{id}/messages");
        for n in 1..105 {
            app.call(
                Method::POST,
                &thread,
                Some(&t.key),
                Some(json!({"content": format!("m{n}")})),
            )
            .await
            .expect(201);
        }

        let detail = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let first = detail.body["messages"].as_array().unwrap();
        assert_eq!(first.len(), 100, "{db:?}: the detail carries one page");
        assert_eq!(first[0]["content"], "m0");
        assert_eq!(
            detail.body["messages_next_cursor"], first[99]["id"],
            "{db:?}: the cursor continues after the last shown message"
        );

        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let url = match &after {
                Some(c) => format!("{thread}?limit=40&after={c}"),
                None => format!("{thread}?limit=40"),
            };
            let page = app
                .call(Method::GET, &url, Some(&t.key), None)
                .await
                .expect(200);
            pages += 1;
            for m in page.body["data"].as_array().unwrap() {
                seen.push(m["content"].as_str().unwrap().to_owned());
            }
            match page.body["next_cursor"].as_str() {
                Some(c) => after = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3, "{db:?}: 105 messages in pages of 40");
        let expected: Vec<String> = (0..105).map(|n| format!("m{n}")).collect();
        assert_eq!(seen, expected, "{db:?}: every message once, oldest first");

        let rest = app
            .call(
                Method::GET,
                &format!(
                    "{thread}?after={}",
                    detail.body["messages_next_cursor"].as_str().unwrap()
                ),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(rest.body["data"].as_array().unwrap().len(), 5);

        for bad in ["limit=0", "limit=201", "limit=ten", "order=desc"] {
            app.call(Method::GET, &format!("{thread}?{bad}"), Some(&t.key), None)
                .await
                .expect_problem(422, "validation_failed");
        }
        // A cursor is only ever compared, never spliced into SQL.
        let hostile = app
            .call(
                Method::GET,
                &format!("{thread}?after=zzz%27%20OR%20%271%27%3D%271"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(hostile.body["data"].as_array().unwrap().len(), 0);

        // Another tenant's key, or an id that is not a conversation, finds nothing.
        app.call(Method::GET, &thread, Some(&other.key), None)
            .await
            .expect_problem(404, "not_found");
        app.call(
            Method::GET,
            "/v1/conversations/%2E%2E%2Fusers/messages",
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        app.call(
            Method::GET,
            "/v1/conversations/cnv_01jd8x3k9m2v4q6r8s0t2w4y6z/messages",
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        app.stop().await;
    }
}

#[tokio::test]
async fn snoozed_conversations_open_again_when_their_snooze_ends() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let inbox_id = inbox(&app, &t.key, "Snooze").await;
        let their_inbox = inbox(&app, &other.key, "Theirs").await;
        let theirs =
            customer_writes(&app, &other.key, &their_inbox, "plain@example.com", "hi").await;
        let their_path = format!("/v1/conversations/{theirs}");
        app.call(
            Method::PATCH,
            &their_path,
            Some(&other.key),
            Some(json!({"status": "snoozed",
                "snoozed_until": switchboard_core::clock::rfc3339(app.clock_now() + 10 * 3_600_000)})),
        )
        .await
        .expect(200);
        let start = |email: &'static str| {
            let (app, key, inbox_id) = (&app, t.key.clone(), inbox_id.clone());
            async move {
                let id = customer_writes(app, &key, &inbox_id, email, "hi").await;
                format!("/v1/conversations/{id}")
            }
        };
        let hour = 3_600_000;
        let at = |offset: i64| switchboard_core::clock::rfc3339(app.clock_now() + offset);
        let snooze = |path: String, until: String| {
            let app = &app;
            let key = t.key.clone();
            async move {
                app.call(
                    Method::PATCH,
                    &path,
                    Some(&key),
                    Some(json!({"status": "snoozed", "snoozed_until": until})),
                )
                .await
                .expect(200);
            }
        };
        let status = |path: String| {
            let app = &app;
            let key = t.key.clone();
            async move {
                app.call(Method::GET, &path, Some(&key), None)
                    .await
                    .expect(200)
                    .body["status"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };

        // Plain: snoozed for an hour, open again after it.
        let plain = start("plain@example.com").await;
        snooze(plain.clone(), at(hour)).await;
        // Re-snoozed: the first wake-up is stale and must not open it early.
        let later = start("later@example.com").await;
        snooze(later.clone(), at(hour)).await;
        snooze(later.clone(), at(3 * hour)).await;
        // The customer writes first: it is already open, and stays as the agent left it.
        let early = start("early@example.com").await;
        snooze(early.clone(), at(hour)).await;
        start("early@example.com").await;
        app.call(
            Method::PATCH,
            &early,
            Some(&t.key),
            Some(json!({"status": "resolved"})),
        )
        .await
        .expect(200);

        app.drain_jobs().await;
        assert_eq!(status(plain.clone()).await, "snoozed", "{db:?}: not yet");

        app.clock.advance_ms(hour + 1000);
        app.drain_jobs().await;
        let woken = app
            .call(Method::GET, &plain, Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(woken.body["status"], "open", "{db:?}");
        assert!(woken.body["snoozed_until"].is_null());
        assert_eq!(status(later.clone()).await, "snoozed", "{db:?}: re-snoozed");
        assert_eq!(status(early.clone()).await, "resolved", "{db:?}");

        app.clock.advance_ms(2 * hour);
        app.drain_jobs().await;
        assert_eq!(status(later.clone()).await, "open", "{db:?}");

        let audit = app
            .call(
                Method::GET,
                "/v1/audit-events?action=conversation.status_changed&actor_id=snooze",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let entries = audit.body["data"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{db:?}: one entry per wake-up");
        assert!(entries.iter().all(|e| e["actor"]["type"] == "automation"));

        // The other tenant's conversation and records are untouched by the wake-ups.
        let their_status = app
            .call(Method::GET, &their_path, Some(&other.key), None)
            .await
            .expect(200);
        assert_eq!(their_status.body["status"], "snoozed", "{db:?}");
        let theirs = app
            .call(
                Method::GET,
                "/v1/audit-events?action=conversation.status_changed&actor_id=snooze",
                Some(&other.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(theirs.body["data"].as_array().unwrap().len(), 0);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_duplicate_conversation_merges_into_the_one_kept() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let chat = inbox(&app, &t.key, "Chat").await;
        let api = inbox(&app, &t.key, "Api").await;
        let keep = customer_writes(
            &app,
            &t.key,
            &chat,
            "ana@example.com",
            "where is my invoice",
        )
        .await;
        app.call(
            Method::POST,
            &format!("/v1/conversations/{keep}/messages"),
            Some(&t.key),
            Some(json!({"content": "sent it again"})),
        )
        .await
        .expect(201);
        let dup = customer_writes(
            &app,
            &t.key,
            &api,
            "ana@example.com",
            "also the parcel is late",
        )
        .await;
        let bobs = customer_writes(&app, &t.key, &chat, "bob@example.com", "hello").await;
        app.call(
            Method::POST,
            "/v1/labels",
            Some(&t.key),
            Some(json!({"name": "shipping", "colour": "#00aa00"})),
        )
        .await
        .expect(201);
        app.call(
            Method::PUT,
            &format!("/v1/conversations/{dup}/labels"),
            Some(&t.key),
            Some(json!({"labels": ["shipping"]})),
        )
        .await
        .expect(200);
        let their_inbox = inbox(&app, &other.key, "X").await;
        let theirs = customer_writes(&app, &other.key, &their_inbox, "ana@example.com", "x").await;
        let merge = format!("/v1/conversations/{keep}/merge");

        // Refused, and nothing changes: itself, another customer's, another tenant's, junk.
        for (body, status, code) in [
            (json!({"duplicate_id": keep}), 422, "validation_failed"),
            (json!({"duplicate_id": bobs}), 422, "validation_failed"),
            (json!({"duplicate_id": theirs}), 404, "not_found"),
            (
                json!({"duplicate_id": "../../etc"}),
                422,
                "validation_failed",
            ),
            (
                json!({"duplicate_id": dup, "force": true}),
                422,
                "validation_failed",
            ),
        ] {
            app.call(Method::POST, &merge, Some(&t.key), Some(body))
                .await
                .expect_problem(status, code);
        }
        app.call(
            Method::POST,
            &format!("/v1/conversations/{keep}/merge"),
            Some(&other.key),
            Some(json!({"duplicate_id": theirs})),
        )
        .await
        .expect_problem(404, "not_found");
        for id in [&dup, &bobs] {
            app.call(
                Method::GET,
                &format!("/v1/conversations/{id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        }
        app.call(
            Method::GET,
            &format!("/v1/conversations/{theirs}"),
            Some(&other.key),
            None,
        )
        .await
        .expect(200);

        app.call(
            Method::PATCH,
            &format!("/v1/conversations/{keep}"),
            Some(&t.key),
            Some(json!({"status": "resolved"})),
        )
        .await
        .expect(200);
        let merged = app
            .call(
                Method::POST,
                &merge,
                Some(&t.key),
                Some(json!({"duplicate_id": dup})),
            )
            .await
            .expect(200);
        assert_eq!(
            merged.body["status"], "open",
            "{db:?}: a waiting customer does not hide in a resolved conversation"
        );
        assert!(
            !merged.body["waiting_since"].is_null(),
            "{db:?}: the customer still waits for an answer about the parcel"
        );
        app.call(
            Method::GET,
            &format!("/v1/conversations/{dup}"),
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        let detail = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{keep}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let thread: Vec<_> = detail.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            thread,
            [
                "where is my invoice",
                "sent it again",
                "also the parcel is late"
            ],
            "{db:?}: one thread in the order it happened"
        );
        assert_eq!(detail.body["labels"], json!(["shipping"]), "{db:?}");

        let hits = app
            .call(
                Method::GET,
                "/v1/search/messages?q=parcel",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(hits.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(
            hits.body["data"][0]["conversation_id"], keep,
            "{db:?}: search follows the moved message"
        );

        let audit = app
            .call(
                Method::GET,
                "/v1/audit-events?action=conversation.merged",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let entries = audit.body["data"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["details"]["merged"]["conversation_id"], dup);
        assert_eq!(entries[0]["details"]["messages_moved"], 1);
        app.stop().await;
    }
}
