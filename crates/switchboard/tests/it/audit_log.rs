//! Every change and sign-in leaves a chained audit entry in the same transaction; auditors can
//! list, filter, export and verify it.

use reqwest::Method;
use serde_json::json;
use switchboard_testkit::{dbs, TestApp};

#[tokio::test]
async fn changes_are_audited_with_actor_request_and_chain() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let r = app
            .send(
                app.request(Method::POST, "/v1/api-keys")
                    .bearer_auth(&t.key)
                    .header("user-agent", "audit-test/1.0")
                    .header("x-request-id", "req-audit-1")
                    .json(&json!({"name": "audited", "scopes": ["viewer"]})),
            )
            .await
            .expect(201);
        let key_id = r.body["api_key"]["id"].as_str().unwrap().to_owned();
        app.call(
            Method::DELETE,
            &format!("/v1/api-keys/{key_id}"),
            Some(&t.key),
            None,
        )
        .await
        .expect(200);

        let page = app
            .call(
                Method::GET,
                "/v1/audit-events?limit=200",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let entries = page.body["data"].as_array().unwrap();
        let actions: Vec<_> = entries
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            vec![
                "api_key.revoked",
                "api_key.created",
                "api_key.created",
                "member.added",
                "tenant.provisioned"
            ],
            "{db:?}"
        );
        let created = &entries[1];
        assert_eq!(created["target_id"], key_id.as_str());
        assert_eq!(created["actor"]["type"], "api_key");
        assert_eq!(created["user_agent"], "audit-test/1.0");
        assert_eq!(created["request_id"], "req-audit-1");
        assert_eq!(created["ip"], "127.0.0.1");
        assert_eq!(created["outcome"], "success");
        assert_eq!(created["prev_hash"], entries[2]["hash"], "entries chain");

        let filtered = app
            .call(
                Method::GET,
                &format!("/v1/audit-events?action=api_key.revoked&target_id={key_id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(filtered.body["data"].as_array().unwrap().len(), 1);
        let first = app
            .call(Method::GET, "/v1/audit-events?limit=2", Some(&t.key), None)
            .await
            .expect(200);
        let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
        let second = app
            .call(
                Method::GET,
                &format!("/v1/audit-events?limit=2&before={cursor}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(second.body["data"][0]["seq"], 3);
        app.call(
            Method::GET,
            "/v1/audit-events?since=yesterday",
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(422, "validation_failed");

        let export = app
            .send(
                app.request(Method::GET, "/v1/audit-events/export")
                    .bearer_auth(&t.key),
            )
            .await
            .expect(200);
        assert_eq!(
            export.headers.get("content-type").unwrap(),
            "application/x-ndjson"
        );
        let lines: Vec<serde_json::Value> = export
            .text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0]["seq"], 1);

        let verify = app
            .call(Method::GET, "/v1/audit-events/verify", Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(verify.body["ok"], true);
        assert_eq!(verify.body["entries"], 5);
        app.stop().await;
    }
}

#[tokio::test]
async fn client_addresses_come_only_from_trusted_proxy_hops() {
    let app = TestApp::spawn_with(switchboard_testkit::Db::Sqlite, |c| {
        c.server.forwarded_for_hops = 1
    })
    .await;
    let t = app.tenant_direct().await;
    // The client claims 203.0.113.9; our one proxy appended the address it really saw.
    let req = app
        .request(Method::POST, "/v1/api-keys")
        .bearer_auth(&t.key)
        .header("x-forwarded-for", "203.0.113.9, 198.51.100.7")
        .json(&json!({"name": "via proxy", "scopes": ["viewer"]}));
    app.send(req).await.expect(201);
    let page = app
        .call(
            Method::GET,
            "/v1/audit-events?action=api_key.created&limit=1",
            Some(&t.key),
            None,
        )
        .await
        .expect(200);
    assert_eq!(page.body["data"][0]["ip"], "198.51.100.7");
    app.stop().await;

    // Without trusted hops the header is ignored entirely.
    let app = TestApp::spawn(switchboard_testkit::Db::Sqlite).await;
    let t = app.tenant_direct().await;
    let req = app
        .request(Method::POST, "/v1/api-keys")
        .bearer_auth(&t.key)
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"name": "direct", "scopes": ["viewer"]}));
    app.send(req).await.expect(201);
    let page = app
        .call(
            Method::GET,
            "/v1/audit-events?action=api_key.created&limit=1",
            Some(&t.key),
            None,
        )
        .await
        .expect(200);
    assert_eq!(page.body["data"][0]["ip"], "127.0.0.1");
    app.stop().await;
}
