//! Sign-in, tokens, sessions with CSRF, TOTP, lockout, roles, rate limits and idempotency.

use reqwest::Method;
use serde_json::json;
use switchboard_testkit::{dbs, Db, TestApp};

#[tokio::test]
async fn tokens_refresh_rotate_and_sign_out_revokes() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let r = app
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                Some(json!({"email": t.owner_email, "password": t.owner_password})),
            )
            .await
            .expect(200);
        let access = r.body["access_token"].as_str().unwrap().to_owned();
        let refresh = r.body["refresh_token"].as_str().unwrap().to_owned();
        assert!(access.starts_with("sb_at_") && refresh.starts_with("sb_rt_"));
        let me = app
            .call(Method::GET, "/v1/me", Some(&access), None)
            .await
            .expect(200);
        assert_eq!(me.body["tenants"][0]["role"], "owner");

        let r2 = app
            .call(
                Method::POST,
                "/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": refresh})),
            )
            .await
            .expect(200);
        let access2 = r2.body["access_token"].as_str().unwrap().to_owned();
        // The old pair died with the rotation; reusing the refresh token fails.
        app.call(Method::GET, "/v1/me", Some(&access), None)
            .await
            .expect_problem(401, "unauthenticated");
        app.call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await
        .expect_problem(401, "unauthenticated");
        app.call(Method::GET, "/v1/me", Some(&access2), None)
            .await
            .expect(200);

        // Access tokens expire.
        app.clock.advance_ms(16 * 60 * 1000);
        app.call(Method::GET, "/v1/me", Some(&access2), None)
            .await
            .expect_problem(401, "unauthenticated");

        // A client still sending its expired token can refresh and sign in again.
        let refresh2 = r2.body["refresh_token"].as_str().unwrap().to_owned();
        let stale = app
            .request(Method::POST, "/v1/auth/refresh")
            .bearer_auth(&access2)
            .json(&json!({"refresh_token": refresh2}));
        app.send(stale).await.expect(200);
        let stale = app
            .request(Method::POST, "/v1/auth/token")
            .bearer_auth(&access2)
            .json(&json!({"email": t.owner_email, "password": t.owner_password}));
        app.send(stale).await.expect(200);

        let access3 = app.sign_in(&t.owner_email, &t.owner_password).await;
        app.call(Method::POST, "/v1/auth/logout", Some(&access3), None)
            .await
            .expect(204);
        app.call(Method::GET, "/v1/me", Some(&access3), None)
            .await
            .expect_problem(401, "unauthenticated");

        // Forged credentials of every shape.
        let forged_key = format!("{}x", &t.key[..t.key.len() - 1]);
        for bad in [
            "sb_at_forged",
            forged_key.as_str(),
            "sb_live_nope_nope",
            "hello",
            "sb_cs_'; DROP TABLE sessions;--",
        ] {
            app.call(Method::GET, "/v1/me", Some(bad), None)
                .await
                .expect_problem(401, "unauthenticated");
        }
        let r = app
            .send(
                app.request(Method::GET, "/v1/me")
                    .header("authorization", "Basic Zm9vOmJhcg=="),
            )
            .await;
        r.expect_problem(401, "unauthenticated");
        app.stop().await;
    }
}

#[tokio::test]
async fn revoked_and_expired_api_keys_stop_working() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let in_a_minute = switchboard_core::clock::rfc3339(app.clock_now() + 60_000);
        let r = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "short", "scopes": ["viewer"], "expires_at": in_a_minute})),
            )
            .await
            .expect(201);
        let (id, secret) = (
            r.body["api_key"]["id"].as_str().unwrap().to_owned(),
            r.body["secret"].as_str().unwrap().to_owned(),
        );
        assert!(secret.starts_with("sb_live_"));
        assert!(
            !r.text.contains("key_hash"),
            "hashes never leave the server"
        );
        app.call(Method::GET, "/v1/me", Some(&secret), None)
            .await
            .expect(200);
        app.clock.advance_ms(61_000);
        app.call(Method::GET, "/v1/me", Some(&secret), None)
            .await
            .expect_problem(401, "unauthenticated");

        let r = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "revoke me", "scopes": ["viewer"]})),
            )
            .await
            .expect(201);
        let (id2, secret2) = (
            r.body["api_key"]["id"].as_str().unwrap().to_owned(),
            r.body["secret"].as_str().unwrap().to_owned(),
        );
        app.call(Method::GET, "/v1/me", Some(&secret2), None)
            .await
            .expect(200);
        let revoked = app
            .call(
                Method::DELETE,
                &format!("/v1/api-keys/{id2}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert!(revoked.body["revoked_at"].is_string());
        app.call(Method::GET, "/v1/me", Some(&secret2), None)
            .await
            .expect_problem(401, "unauthenticated");
        let listed = app
            .call(
                Method::GET,
                &format!("/v1/api-keys/{id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(listed.body["id"], id);
        app.stop().await;
    }
}

#[tokio::test]
async fn roles_limit_what_each_member_may_do() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let mut tokens = std::collections::HashMap::new();
        for role in ["admin", "agent", "viewer", "auditor"] {
            let email = format!("{role}@{}.test", t.slug);
            app.call(
                Method::POST,
                "/v1/users",
                Some(&t.key),
                Some(json!({"email": email, "role": role, "password": "a long enough password"})),
            )
            .await
            .expect(201);
            let token = app.sign_in(&email, "a long enough password").await;
            tokens.insert(role, token);
        }
        let as_role = |role: &str, method: Method, path: &str, body: Option<serde_json::Value>| {
            let mut req = app
                .request(method, path)
                .bearer_auth(&tokens[role])
                .header("x-switchboard-tenant", &t.slug);
            if let Some(b) = body {
                req = req.json(&b);
            }
            app.send(req)
        };
        let new_key = json!({"name": "k", "scopes": ["viewer"]});
        as_role("admin", Method::POST, "/v1/api-keys", Some(new_key.clone()))
            .await
            .expect(201);
        for role in ["agent", "viewer", "auditor"] {
            as_role(role, Method::POST, "/v1/api-keys", Some(new_key.clone()))
                .await
                .expect_problem(403, "forbidden");
        }
        as_role("auditor", Method::GET, "/v1/audit-events", None)
            .await
            .expect(200);
        as_role("agent", Method::GET, "/v1/audit-events", None)
            .await
            .expect_problem(403, "forbidden");
        as_role("viewer", Method::GET, "/v1/users", None)
            .await
            .expect(200);
        as_role("auditor", Method::GET, "/v1/users", None)
            .await
            .expect_problem(403, "forbidden");
        // Admins cannot mint owners; nobody removes the last owner.
        as_role(
            "admin",
            Method::POST,
            "/v1/users",
            Some(json!({"email": "o2@x.test", "role": "owner"})),
        )
        .await
        .expect_problem(403, "forbidden");
        let me = app
            .call(
                Method::GET,
                "/v1/me",
                Some(&app.sign_in(&t.owner_email, &t.owner_password).await),
                None,
            )
            .await;
        let owner_id = me.body["user_id"].as_str().unwrap().to_owned();
        app.call(
            Method::DELETE,
            &format!("/v1/memberships/{owner_id}"),
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(403, "forbidden");
        let owner_token = app.sign_in(&t.owner_email, &t.owner_password).await;
        let r = app
            .send(
                app.request(Method::DELETE, &format!("/v1/memberships/{owner_id}"))
                    .bearer_auth(&owner_token)
                    .header("x-switchboard-tenant", &t.id),
            )
            .await;
        r.expect_problem(409, "conflict");
        // Tenant management is for platform and partner administrators only.
        app.call(Method::GET, "/v1/tenants", Some(&t.key), None)
            .await
            .expect_problem(403, "forbidden");
        as_role("admin", Method::GET, "/v1/tenants", None)
            .await
            .expect_problem(403, "forbidden");
        // A person must say which tenant they act in.
        app.call(Method::GET, "/v1/users", Some(&tokens["admin"]), None)
            .await
            .expect_problem(400, "bad_request");
        // Duplicate members conflict.
        let dup = json!({"email": format!("agent@{}.test", t.slug), "role": "viewer"});
        app.call(Method::POST, "/v1/users", Some(&t.key), Some(dup))
            .await
            .expect_problem(409, "conflict");
        app.stop().await;
    }
}

#[tokio::test]
async fn repeated_failures_lock_the_account_and_are_audited() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        for _ in 0..5 {
            app.call(
                Method::POST,
                "/v1/auth/token",
                None,
                Some(json!({"email": t.owner_email, "password": "wrong password!"})),
            )
            .await
            .expect_problem(401, "unauthenticated");
        }
        // Locked: even the right password is refused, with Retry-After.
        let r = app
            .call(
                Method::POST,
                "/v1/auth/token",
                None,
                Some(json!({"email": t.owner_email, "password": t.owner_password})),
            )
            .await;
        let r = r.expect_problem(429, "account_locked");
        assert!(r.headers.get("retry-after").is_some());
        app.clock.advance_ms(16 * 60 * 1000);
        app.sign_in(&t.owner_email, &t.owner_password).await;

        let entries = app
            .core
            .store()
            .control(switchboard_store::Access::Read)
            .await
            .unwrap()
            .list_audit(&switchboard_store::model::AuditFilter {
                action: Some("auth.sign_in".into()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let mine: Vec<_> = entries
            .iter()
            .filter(|e| e.details["email"] == t.owner_email.as_str())
            .collect();
        assert!(
            mine.iter().filter(|e| e.outcome == "failure").count() >= 5,
            "{db:?}"
        );
        assert!(mine.iter().any(|e| e.outcome == "denied"));
        assert!(mine.iter().any(|e| e.outcome == "success"));
        assert!(
            entries
                .iter()
                .all(|e| !e.details.to_string().contains(&t.owner_password)),
            "passwords never reach the audit log"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn many_failures_from_one_address_are_slowed_down() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.auth.signin_failures_per_ip = 3).await;
    for i in 0..3 {
        app.call(
            Method::POST,
            "/v1/auth/token",
            None,
            Some(json!({"email": format!("nobody{i}@x.test"), "password": "whatever it is"})),
        )
        .await
        .expect_problem(401, "unauthenticated");
    }
    let r = app
        .call(
            Method::POST,
            "/v1/auth/token",
            None,
            Some(json!({"email": "nobody@x.test", "password": "whatever it is"})),
        )
        .await;
    r.expect_problem(429, "rate_limited");
    app.stop().await;
}

#[tokio::test]
async fn totp_is_required_once_enabled() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let token = app.sign_in(&t.owner_email, &t.owner_password).await;
        let e = app
            .call(Method::POST, "/v1/me/totp", Some(&token), None)
            .await
            .expect(200);
        let secret = e.body["secret"].as_str().unwrap().to_owned();
        assert!(e.body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/"));
        app.call(
            Method::POST,
            "/v1/me/totp/confirm",
            Some(&token),
            Some(json!({"code": "000000"})),
        )
        .await
        .expect_problem(422, "validation_failed");
        let code = switchboard_core::totp::code(&secret, app.clock_now()).unwrap();
        app.call(
            Method::POST,
            "/v1/me/totp/confirm",
            Some(&token),
            Some(json!({"code": code})),
        )
        .await
        .expect(204);

        let creds = json!({"email": t.owner_email, "password": t.owner_password});
        app.call(Method::POST, "/v1/auth/token", None, Some(creds))
            .await
            .expect_problem(401, "mfa_required");
        let bad = json!({"email": t.owner_email, "password": t.owner_password, "totp": "123456"});
        let r = app
            .call(Method::POST, "/v1/auth/token", None, Some(bad))
            .await;
        assert_eq!(r.status.as_u16(), 401);
        // The enrolment code's time step is used; the next sign-in takes the next code.
        app.clock.advance_ms(30_000);
        let code = switchboard_core::totp::code(&secret, app.clock_now()).unwrap();
        let good = json!({"email": t.owner_email, "password": t.owner_password, "totp": code});
        app.call(Method::POST, "/v1/auth/token", None, Some(good.clone()))
            .await
            .expect(200);
        // A code works once, even within its 30-second window.
        app.call(Method::POST, "/v1/auth/token", None, Some(good))
            .await
            .expect_problem(401, "unauthenticated");
        // Wrong codes count toward the lockout like wrong passwords: the replay was the first
        // failure since the last success; four more make the five that lock the account.
        for _ in 0..4 {
            let bad =
                json!({"email": t.owner_email, "password": t.owner_password, "totp": "000001"});
            app.call(Method::POST, "/v1/auth/token", None, Some(bad))
                .await;
        }
        app.clock.advance_ms(30_000);
        let code = switchboard_core::totp::code(&secret, app.clock_now()).unwrap();
        let right = json!({"email": t.owner_email, "password": t.owner_password, "totp": code});
        app.call(Method::POST, "/v1/auth/token", None, Some(right))
            .await
            .expect_problem(429, "account_locked");
        app.stop().await;
    }
}

#[tokio::test]
async fn console_sessions_use_httponly_cookies_and_csrf_tokens() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| c.server.secure_cookies = true).await;
    let t = app.tenant().await;
    let r = app
        .call(
            Method::POST,
            "/v1/auth/session",
            None,
            Some(json!({"email": t.owner_email, "password": t.owner_password})),
        )
        .await
        .expect(200);
    let cookie = r
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let csrf = r.body["csrf_token"].as_str().unwrap().to_owned();
    let with_cookie = |m: Method, p: &str| {
        app.request(m, p)
            .header("cookie", &session)
            .header("x-switchboard-tenant", &t.slug)
    };
    app.send(with_cookie(Method::GET, "/v1/users"))
        .await
        .expect(200);
    let body = json!({"name": "from console", "scopes": ["viewer"]});
    app.send(with_cookie(Method::POST, "/v1/api-keys").json(&body))
        .await
        .expect_problem(403, "csrf_failed");
    app.send(
        with_cookie(Method::POST, "/v1/api-keys")
            .header("x-csrf-token", "guess")
            .json(&body),
    )
    .await
    .expect_problem(403, "csrf_failed");
    app.send(
        with_cookie(Method::POST, "/v1/api-keys")
            .header("x-csrf-token", &csrf)
            .json(&body),
    )
    .await
    .expect(201);
    app.stop().await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.rate_limit.per_principal_per_sec = 1.0;
        c.rate_limit.per_principal_burst = 3.0;
    })
    .await;
    let t = app.tenant_direct().await;
    for _ in 0..3 {
        app.call(Method::GET, "/v1/me", Some(&t.key), None)
            .await
            .expect(200);
    }
    let r = app
        .call(Method::GET, "/v1/me", Some(&t.key), None)
        .await
        .expect_problem(429, "rate_limited");
    assert_eq!(r.headers.get("retry-after").unwrap(), "1");
    app.clock.advance_ms(1000);
    app.call(Method::GET, "/v1/me", Some(&t.key), None)
        .await
        .expect(200);
    app.stop().await;
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_response() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let post = |key: &str, body: serde_json::Value| {
            app.send(
                app.request(Method::POST, "/v1/users")
                    .bearer_auth(&t.key)
                    .header("idempotency-key", key)
                    .json(&body),
            )
        };
        let body =
            json!({"email": "idem@x.test", "role": "agent", "password": "a long enough password"});
        let first = post("k-1", body.clone()).await.expect(201);
        let again = post("k-1", body.clone()).await.expect(201);
        assert_eq!(again.body, first.body);
        assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
        post("k-1", json!({"email": "other@x.test", "role": "agent"}))
            .await
            .expect_problem(422, "idempotency_key_reused");
        let users = app
            .call(Method::GET, "/v1/users", Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(
            users.body["data"].as_array().unwrap().len(),
            2,
            "owner + one member, not two"
        );
        // Errors are replayed too (they are the outcome of that request).
        let mut dup = post("k-2", body.clone())
            .await
            .expect_problem(409, "conflict")
            .body;
        let mut replayed = post("k-2", body).await.expect_problem(409, "conflict").body;
        // Each request has its own id; the rest is the stored outcome.
        dup["request_id"].take();
        replayed["request_id"].take();
        assert_eq!(replayed, dup);
        // A response that carried a secret is not stored: the replay says so.
        let mk = || {
            app.send(
                app.request(Method::POST, "/v1/api-keys")
                    .bearer_auth(&t.key)
                    .header("idempotency-key", "k-3")
                    .json(&json!({"name": "once", "scopes": ["viewer"]})),
            )
        };
        let first = mk().await.expect(201);
        assert!(first.body["secret"].is_string());
        let replay = mk().await.expect_problem(409, "conflict");
        assert!(!replay.text.contains("sb_live_"));
        let bad = app.send(
            app.request(Method::POST, "/v1/api-keys")
                .bearer_auth(&t.key)
                .header("idempotency-key", "")
                .json(&json!({})),
        );
        bad.await.expect_problem(400, "bad_request");
        app.stop().await;
    }
}

/// Two owners demoting each other at the same moment never leave the tenant without an owner:
/// membership changes are serialised (on PostgreSQL by a lock only they take).
#[tokio::test]
async fn owners_demoting_each_other_at_once_leave_an_owner() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let a_token = app.sign_in(&t.owner_email, &t.owner_password).await;
        let b_email = format!("second-owner@{}.test", t.slug);
        let patch = |token: String, id: String, role: &'static str| {
            let req = app
                .request(Method::PATCH, &format!("/v1/memberships/{id}"))
                .bearer_auth(token)
                .header("x-switchboard-tenant", &t.id)
                .json(&json!({ "role": role }));
            app.send(req)
        };
        let a_id = app
            .call(Method::GET, "/v1/me", Some(&a_token), None)
            .await
            .expect(200)
            .body["user_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let b_id = app
            .send(
                app.request(Method::POST, "/v1/users")
                    .bearer_auth(&a_token)
                    .header("x-switchboard-tenant", &t.id)
                    .json(&json!({"email": b_email, "role": "owner", "password": "a long enough password"})),
            )
            .await
            .expect(201)
            .body["user"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let b_token = app.sign_in(&b_email, "a long enough password").await;
        let (ra, rb) = tokio::join!(
            patch(a_token.clone(), b_id.clone(), "admin"),
            patch(b_token.clone(), a_id.clone(), "admin")
        );
        let ok = [ra.status, rb.status].iter().filter(|s| **s == 200).count();
        assert_eq!(
            ok, 1,
            "{db:?}: exactly one demotion wins: {} / {}",
            ra.status, rb.status
        );
        let users = app
            .call(Method::GET, "/v1/users", Some(&t.key), None)
            .await
            .expect(200);
        let owners = users.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["role"] == "owner")
            .count();
        assert_eq!(owners, 1, "{db:?}: {}", users.body);
        app.stop().await;
    }
}
