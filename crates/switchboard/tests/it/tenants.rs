//! The tenant lifecycle: provisioning, partner scoping, suspension, deletion and purge.

use reqwest::Method;
use serde_json::json;
use switchboard_store::Access;
use switchboard_testkit::{dbs, unique, TestApp};

#[tokio::test]
async fn provisioning_creates_tenant_owner_and_key_and_refuses_duplicates() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let slug = unique("acme");
        let body = json!({"slug": slug, "name": "Acme Ünïcode Inc. 🚀", "plan": "professional", "admin_email": format!("Boss@{slug}.TEST")});
        let r = app
            .call(
                Method::POST,
                "/v1/tenants",
                Some(&app.platform_token),
                Some(body.clone()),
            )
            .await
            .expect(201);
        assert_eq!(r.body["tenant"]["status"], "active");
        assert_eq!(r.body["tenant"]["plan"], "professional");
        assert_eq!(r.body["tenant"]["name"], "Acme Ünïcode Inc. 🚀");
        assert_eq!(
            r.body["admin"]["email"],
            format!("boss@{slug}.test"),
            "emails are normalised"
        );
        let password = r.body["admin"]["generated_password"]
            .as_str()
            .unwrap()
            .to_owned();
        let key = r.body["api_key"].as_str().unwrap().to_owned();
        app.call(Method::GET, "/v1/me", Some(&key), None)
            .await
            .expect(200);
        app.sign_in(&format!("boss@{slug}.test"), &password).await;

        app.call(
            Method::POST,
            "/v1/tenants",
            Some(&app.platform_token),
            Some(body),
        )
        .await
        .expect_problem(409, "conflict");
        let r = app.call(Method::POST, "/v1/tenants", Some(&app.platform_token), Some(json!({"slug": unique("x"), "name": "x", "admin_email": "a@b.test", "region": "mars"}))).await;
        assert_eq!(
            r.expect_problem(422, "validation_failed").body["errors"][0]["field"],
            "region"
        );
        // Walk the cursor pages (the PostgreSQL database is shared by every test).
        let mut after = String::new();
        let mut found = false;
        loop {
            let path = format!("/v1/tenants?limit=50{after}");
            let page = app
                .call(Method::GET, &path, Some(&app.platform_token), None)
                .await
                .expect(200);
            found |= page.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["slug"] == slug.as_str());
            match page.body["next_cursor"].as_str() {
                Some(c) => after = format!("&after={c}"),
                None => break,
            }
        }
        assert!(found, "{db:?}: the new tenant is listed");
        app.stop().await;
    }
}

#[tokio::test]
async fn partner_admins_manage_only_their_own_tenants() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let mk_partner = |slug: String| {
            app.call(
                Method::POST,
                "/v1/partners",
                Some(&app.platform_token),
                Some(json!({"slug": slug, "name": "Reseller"})),
            )
        };
        let p1 = mk_partner(unique("p")).await.expect(201).body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let p2 = mk_partner(unique("p")).await.expect(201).body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let email = format!("{}@reseller.test", unique("pa"));
        let r = app
            .call(
                Method::POST,
                &format!("/v1/partners/{p1}/admins"),
                Some(&app.platform_token),
                Some(json!({"email": email, "password": "partner admin password"})),
            )
            .await
            .expect(201);
        assert!(r.body["generated_password"].is_null());
        let token = app.sign_in(&email, "partner admin password").await;
        // One partner per administrator.
        app.call(
            Method::POST,
            &format!("/v1/partners/{p2}/admins"),
            Some(&app.platform_token),
            Some(json!({"email": email})),
        )
        .await
        .expect_problem(409, "conflict");

        let r = app.call(Method::POST, "/v1/tenants", Some(&token), Some(json!({"slug": unique("pt"), "name": "Partner tenant", "admin_email": "o@pt.test"}))).await.expect(201);
        assert_eq!(
            r.body["tenant"]["partner_id"],
            p1.as_str(),
            "partner tenants belong to the partner"
        );
        let own = r.body["tenant"]["id"].as_str().unwrap().to_owned();
        app.call(Method::POST, "/v1/tenants", Some(&token), Some(json!({"slug": unique("pt"), "name": "x", "admin_email": "o@pt.test", "partner_id": p2}))).await.expect_problem(403, "forbidden");
        let other = app.tenant().await;
        app.call(
            Method::GET,
            &format!("/v1/tenants/{}", other.id),
            Some(&token),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        app.call(
            Method::POST,
            &format!("/v1/tenants/{}/suspend", other.id),
            Some(&token),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        let listed = app
            .call(Method::GET, "/v1/tenants", Some(&token), None)
            .await
            .expect(200);
        let ids: Vec<_> = listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, vec![own.clone()]);
        app.call(
            Method::POST,
            &format!("/v1/tenants/{own}/suspend"),
            Some(&token),
            None,
        )
        .await
        .expect(200);
        app.call(Method::GET, "/v1/partners", Some(&token), None)
            .await
            .expect_problem(403, "forbidden");
        app.stop().await;
    }
}

#[tokio::test]
async fn suspended_tenants_answer_403_until_resumed() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let owner = app.sign_in(&t.owner_email, &t.owner_password).await;
        app.call(
            Method::POST,
            &format!("/v1/tenants/{}/suspend", t.id),
            Some(&app.platform_token),
            None,
        )
        .await
        .expect(200);
        app.call(Method::GET, "/v1/users", Some(&t.key), None)
            .await
            .expect_problem(403, "tenant_suspended");
        app.call(
            Method::POST,
            "/v1/api-keys",
            Some(&t.key),
            Some(json!({"name": "x", "scopes": ["viewer"]})),
        )
        .await
        .expect_problem(403, "tenant_suspended");
        let r = app
            .send(
                app.request(Method::GET, "/v1/audit-events")
                    .bearer_auth(&owner)
                    .header("x-switchboard-tenant", &t.slug),
            )
            .await;
        r.expect_problem(403, "tenant_suspended");
        app.call(
            Method::POST,
            &format!("/v1/tenants/{}/suspend", t.id),
            Some(&app.platform_token),
            None,
        )
        .await
        .expect_problem(409, "conflict");
        app.call(
            Method::POST,
            &format!("/v1/tenants/{}/resume", t.id),
            Some(&app.platform_token),
            None,
        )
        .await
        .expect(200);
        app.call(Method::GET, "/v1/users", Some(&t.key), None)
            .await
            .expect(200);
        app.stop().await;
    }
}

#[tokio::test]
async fn deleting_a_tenant_purges_every_row_it_owns_and_nothing_else() {
    for db in dbs() {
        let app = TestApp::spawn_with(db, |c| {
            c.jobs.concurrency = 0;
            c.webhooks.allow_private = vec!["127.0.0.1/32".into()];
            c.ai.allow_private = vec!["127.0.0.1/32".into()];
        })
        .await;
        let hook = switchboard_testkit::HttpReceiver::start(500, "down").await;
        let llm = switchboard_testkit::HttpReceiver::start(
            200,
            &crate::ai::completion(
                &json!({"action": "reply", "text": "Use Cancel Order.", "citations": [1]}),
                50,
            ),
        )
        .await;
        let doomed = app.tenant().await;
        let kept = app.tenant().await;
        for t in [&doomed, &kept] {
            app.call(
                Method::POST,
                "/v1/users",
                Some(&t.key),
                Some(json!({"email": format!("m@{}.test", t.slug), "role": "agent"})),
            )
            .await
            .expect(201);
            app.call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "k", "scopes": ["viewer"]})),
            )
            .await
            .expect(201);
            let inbox = app
                .call(
                    Method::POST,
                    "/v1/inboxes",
                    Some(&t.key),
                    Some(json!({"name": "In", "channel": "api"})),
                )
                .await
                .expect(201);
            let msg = json!({"contact": {"external_id": "p-1"}, "content": "hello"});
            let received = app
                .call(
                    Method::POST,
                    &format!(
                        "/v1/inboxes/{}/messages",
                        inbox.body["id"].as_str().unwrap()
                    ),
                    Some(&t.key),
                    Some(msg),
                )
                .await
                .expect(201);
            let conversation = received.body["conversation"]["id"].as_str().unwrap();
            app.send(
                app.request(
                    Method::POST,
                    &format!("/v1/conversations/{conversation}/attachments?filename=a.txt"),
                )
                .bearer_auth(&t.key)
                .body("an attachment"),
            )
            .await
            .expect(201);
            let policy = app
                .call(
                    Method::POST,
                    "/v1/sla-policies",
                    Some(&t.key),
                    Some(json!({"name": "p", "first_response_ms": 600000})),
                )
                .await
                .expect(201);
            app.call(
                Method::PUT,
                &format!("/v1/conversations/{conversation}/sla"),
                Some(&t.key),
                Some(json!({"sla_policy_id": policy.body["id"]})),
            )
            .await
            .expect(200);
            let people = app
                .call(Method::GET, "/v1/users", Some(&t.key), None)
                .await
                .expect(200);
            app.call(
                Method::PATCH,
                &format!("/v1/conversations/{conversation}"),
                Some(&t.key),
                Some(json!({"assignee_id": people.body["data"][0]["id"]})),
            )
            .await
            .expect(200);
            app.call(
                Method::PATCH,
                &format!("/v1/conversations/{conversation}"),
                Some(&t.key),
                Some(json!({"status": "resolved"})),
            )
            .await
            .expect(200);
            let later = switchboard_core::clock::rfc3339(app.clock_now() + 3_600_000);
            app.call(
                Method::POST,
                &format!("/v1/conversations/{conversation}/scheduled-messages"),
                Some(&t.key),
                Some(json!({"content": "later", "send_at": later})),
            )
            .await
            .expect(201);
            app.call(
                Method::POST,
                "/v1/macros",
                Some(&t.key),
                Some(json!({"name": "m", "actions": [{"type": "unassign"}]})),
            )
            .await
            .expect(201);
            let (portal, _, _) = crate::kb::help_centre(&app, t, &["cancel_order"], &[]).await;
            app.call(
                Method::PUT,
                "/v1/ai/settings",
                Some(&t.key),
                Some(json!({"enabled": true, "portal_id": portal,
                    "generative": {"base_url": format!("{}v1", llm.url), "model": "m"}})),
            )
            .await
            .expect(200);
            let asked = app
                .call(
                    Method::POST,
                    &format!("/v1/inboxes/{}/messages", inbox.body["id"].as_str().unwrap()),
                    Some(&t.key),
                    Some(json!({"contact": {"email": "ai@example.com"}, "content": "How can I cancel my order?"})),
                )
                .await
                .expect(201);
            let asked = asked.body["conversation"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let started = std::time::Instant::now();
            loop {
                let d = app
                    .call(
                        Method::GET,
                        &format!("/v1/conversations/{asked}/ai-answers"),
                        Some(&t.key),
                        None,
                    )
                    .await
                    .expect(200);
                if d.body["data"][0]["action"] == "reply" {
                    break;
                }
                assert!(started.elapsed().as_secs() < 10, "no AI answer: {}", d.text);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let rule = app
                .call(
                    Method::POST,
                    "/v1/automation/rules",
                    Some(&t.key),
                    Some(
                        json!({"name": "r", "trigger": {"type": "conversation_updated"},
                        "actions": [{"type": "add_note", "content": "seen"}]}),
                    ),
                )
                .await
                .expect(201)
                .body["id"]
                .as_str()
                .unwrap()
                .to_owned();
            app.call(
                Method::PATCH,
                &format!("/v1/conversations/{conversation}"),
                Some(&t.key),
                Some(json!({"priority": "high"})),
            )
            .await
            .expect(200);
            let started = std::time::Instant::now();
            loop {
                let runs = app
                    .call(
                        Method::GET,
                        &format!("/v1/automation/rules/{rule}/runs"),
                        Some(&t.key),
                        None,
                    )
                    .await
                    .expect(200);
                if runs.body["data"][0]["outcome"] == "applied" {
                    break;
                }
                assert!(
                    started.elapsed().as_secs() < 10,
                    "the rule never ran: {}",
                    runs.text
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            app.call(
                Method::PUT,
                "/v1/triage/settings",
                Some(&t.key),
                Some(json!({"languages": ["eng"]})),
            )
            .await
            .expect(200);
            app.send(
                app.request(Method::PUT, "/v1/triage/models/purged")
                    .bearer_auth(&t.key)
                    .body(tiny_model_bytes()),
            )
            .await
            .expect(201);
            // A webhook endpoint whose one delivery (its own creation event) fails: an attempt, a
            // delivery waiting for its retry (no worker runs it here), and the dispatcher's cursor.
            let endpoint = app
                .call(
                    Method::POST,
                    "/v1/webhooks",
                    Some(&t.key),
                    Some(json!({"url": hook.url, "event_types": ["webhook_endpoint.created"]})),
                )
                .await
                .expect(201)
                .body["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let mut waited = 0;
            while app
                .call(
                    Method::GET,
                    &format!("/v1/webhooks/{endpoint}/deliveries?status=pending"),
                    Some(&t.key),
                    None,
                )
                .await
                .expect(200)
                .body["data"]
                .as_array()
                .unwrap()
                .is_empty()
            {
                waited += 1;
                assert!(waited < 500, "the failed delivery was never recorded");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            app.call(
                Method::PUT,
                &format!(
                    "/v1/conversations/{conversation}/participants/{}",
                    people.body["data"][0]["id"].as_str().unwrap()
                ),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
            let widget = app
                .call(
                    Method::POST,
                    "/v1/inboxes",
                    Some(&t.key),
                    Some(json!({"name": "Web", "channel": "widget"})),
                )
                .await
                .expect(201);
            let settings = app
                .call(
                    Method::GET,
                    &format!("/v1/inboxes/{}/widget", widget.body["id"].as_str().unwrap()),
                    Some(&t.key),
                    None,
                )
                .await
                .expect(200);
            app.call(
                Method::POST,
                &format!(
                    "/widget/v1/{}/sessions",
                    settings.body["public_id"].as_str().unwrap()
                ),
                None,
                Some(json!({})),
            )
            .await
            .expect(201);
            let users = app
                .call(Method::GET, "/v1/users", Some(&t.key), None)
                .await
                .expect(200);
            let inboxes = app
                .call(Method::GET, "/v1/inboxes", Some(&t.key), None)
                .await
                .expect(200);
            let member = json!({"user_id": users.body["data"][0]["id"]});
            app.call(
                Method::POST,
                &format!(
                    "/v1/inboxes/{}/members",
                    inboxes.body["data"][0]["id"].as_str().unwrap()
                ),
                Some(&t.key),
                Some(member),
            )
            .await
            .expect(204);
            app.call(
                Method::POST,
                "/v1/labels",
                Some(&t.key),
                Some(json!({"name": "l", "colour": "#000000"})),
            )
            .await
            .expect(201);
            app.call(
                Method::POST,
                "/v1/canned-responses",
                Some(&t.key),
                Some(json!({"short_code": "hi", "content": "Hello"})),
            )
            .await
            .expect(201);
            let conversations = app
                .call(Method::GET, "/v1/conversations", Some(&t.key), None)
                .await
                .expect(200);
            let cid = conversations.body["data"][0]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            app.call(
                Method::PUT,
                &format!("/v1/conversations/{cid}/labels"),
                Some(&t.key),
                Some(json!({"labels": ["l"]})),
            )
            .await
            .expect(200);
            let cal = json!({"name": "Hours", "spec": {"timezone": "UTC"}});
            app.call(
                Method::POST,
                "/v1/business-calendars",
                Some(&t.key),
                Some(cal),
            )
            .await
            .expect(201);
            let team = app
                .call(
                    Method::POST,
                    "/v1/teams",
                    Some(&t.key),
                    Some(json!({"name": "T"})),
                )
                .await
                .expect(201);
            let users = app
                .call(Method::GET, "/v1/users", Some(&t.key), None)
                .await
                .expect(200);
            let user = json!({"user_id": users.body["data"][0]["id"]});
            app.call(
                Method::POST,
                &format!("/v1/teams/{}/members", team.body["id"].as_str().unwrap()),
                Some(&t.key),
                Some(user),
            )
            .await
            .expect(204);
            let def =
                json!({"applies_to": "contact", "key": "tier", "label": "Tier", "kind": "text"});
            app.call(
                Method::POST,
                "/v1/attribute-definitions",
                Some(&t.key),
                Some(def),
            )
            .await
            .expect(201);
            let company = app
                .call(
                    Method::POST,
                    "/v1/companies",
                    Some(&t.key),
                    Some(json!({"name": "Co"})),
                )
                .await
                .expect(201);
            let contact = json!({"email": "c@x.test", "company_id": company.body["id"]});
            app.call(Method::POST, "/v1/contacts", Some(&t.key), Some(contact))
                .await
                .expect(201);
            app.call(
                Method::POST,
                "/v1/invitations",
                Some(&t.key),
                Some(json!({"email": "invitee@x.test", "role": "agent"})),
            )
            .await
            .expect(201);
        }
        let counts = |slug: String| {
            let core = app.core.clone();
            async move {
                let t = core.find_tenant(&slug).await.unwrap();
                let access = core.operator_access(&t).await.map(|a| a.ctx);
                let ctx = match access {
                    Ok(c) => c,
                    Err(_) => crate::store::ctx(&t),
                };
                core.store()
                    .tenant(&ctx, Access::Read)
                    .await
                    .unwrap()
                    .count_rows()
                    .await
                    .unwrap()
            }
        };
        let before = counts(doomed.slug.clone()).await;
        let kept_before = counts(kept.slug.clone()).await;
        assert!(
            before.values().all(|n| *n > 0),
            "{db:?}: every tenant table has rows before: {before:?}"
        );

        app.call(
            Method::DELETE,
            &format!("/v1/tenants/{}", doomed.id),
            Some(&app.platform_token),
            None,
        )
        .await
        .expect(202);
        // Gone for its users at once, before the purge has run.
        app.call(Method::GET, "/v1/users", Some(&doomed.key), None)
            .await
            .expect_problem(401, "unauthenticated");
        app.call(
            Method::POST,
            &format!("/v1/tenants/{}/resume", doomed.id),
            Some(&app.platform_token),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        app.drain_jobs().await;
        // On the shared PostgreSQL database another test's worker may have claimed the job:
        // wait for its outcome, whoever runs it.
        let mut after = counts(doomed.slug.clone()).await;
        for _ in 0..100 {
            if after.values().all(|n| *n == 0) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            after = counts(doomed.slug.clone()).await;
        }
        assert!(
            after.values().all(|n| *n == 0),
            "{db:?}: rows left after purge: {after:?}"
        );
        assert_eq!(
            counts(kept.slug.clone()).await,
            kept_before,
            "{db:?}: purge touched another tenant"
        );
        let platform = app
            .core
            .store()
            .control(Access::Read)
            .await
            .unwrap()
            .list_audit(&switchboard_store::model::AuditFilter {
                action: Some("tenant.purged".into()),
                target_id: Some(doomed.id.clone()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(
            platform.len(),
            1,
            "the purge is audited on the platform chain"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn the_background_worker_runs_the_purge_and_expired_records_are_swept() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let token = app.sign_in(&t.owner_email, &t.owner_password).await;
        app.call(
            Method::DELETE,
            &format!("/v1/tenants/{}", t.id),
            Some(&app.platform_token),
            None,
        )
        .await
        .expect(202);
        let tenant = app.core.find_tenant(&t.slug).await.unwrap();
        let ctx = crate::store::ctx(&tenant);
        let mut remaining = i64::MAX;
        for _ in 0..100 {
            remaining = app
                .core
                .store()
                .tenant(&ctx, Access::Read)
                .await
                .unwrap()
                .count_rows()
                .await
                .unwrap()
                .values()
                .sum();
            if remaining == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(remaining, 0, "{db:?}: the worker did not purge the tenant");

        // Sessions past their expiry are deleted by the sweep; live ones stay.
        app.clock.advance_ms(13 * 3600 * 1000);
        let live = app.sign_in(&t.owner_email, &t.owner_password).await;
        let (sessions, _) = app.core.sweep_expired().await.unwrap();
        assert!(sessions >= 1, "{db:?}: expired access token swept");
        app.call(Method::GET, "/v1/me", Some(&token), None)
            .await
            .expect_problem(401, "unauthenticated");
        app.call(Method::GET, "/v1/me", Some(&live), None)
            .await
            .expect(200);
        app.stop().await;
    }
}

/// The bytes of a small intent model.
fn tiny_model_bytes() -> Vec<u8> {
    use switchboard_nlp::dataset::Example;
    use switchboard_nlp::intent::{IntentModel, TrainOptions};
    let data: Vec<Example> = ["refund please", "money back", "lost card", "card stolen"]
        .iter()
        .enumerate()
        .map(|(i, t)| Example {
            text: (*t).to_owned(),
            label: if i < 2 { "refund" } else { "card" }.to_owned(),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sbintent");
    IntentModel::train(&data, None, &TrainOptions::default())
        .unwrap()
        .save(&path)
        .unwrap();
    std::fs::read(path).unwrap()
}
