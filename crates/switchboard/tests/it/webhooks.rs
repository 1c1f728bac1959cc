//! Webhook endpoints end to end: signed deliveries a reference implementation verifies, the
//! retry schedule run on the test clock, dead letters, replay and recovery, secret rotation,
//! endpoints switched off, hostile input and receivers, other tenants, and a dispatcher killed
//! mid-batch.

use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_testkit::{dbs, Captured, HttpReceiver, Reply, TestApp, TestTenant};
use switchboard_webhooks::signing::verify;
use switchboard_webhooks::Secret;

/// An app whose deliveries may reach receivers on this machine's loopback address.
async fn app_with(db: switchboard_testkit::Db, dispatch: bool) -> TestApp {
    TestApp::spawn_with(db, |c| {
        c.webhooks.allow_private = vec!["127.0.0.1/32".into()];
        c.webhooks.timeout_ms = 2000;
        c.webhooks.poll_ms = 50;
        c.webhooks.dispatch = dispatch;
        // No background worker: these tests move their clocks, and on a shared PostgreSQL a
        // worker would run other tests' jobs early by them.
        c.jobs.concurrency = 0;
    })
    .await
}

async fn inbox(app: &TestApp, t: &TestTenant) -> String {
    app.call(
        Method::POST,
        "/v1/inboxes",
        Some(&t.key),
        Some(json!({"name": "support", "channel": "api"})),
    )
    .await
    .expect(201)
    .body["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn send(app: &TestApp, t: &TestTenant, inbox: &str, who: &str, text: &str) -> Value {
    app.call(
        Method::POST,
        &format!("/v1/inboxes/{inbox}/messages"),
        Some(&t.key),
        Some(json!({"contact": {"email": format!("{who}@example.com")}, "content": text})),
    )
    .await
    .expect(201)
    .body
}

async fn create(app: &TestApp, t: &TestTenant, body: Value) -> Reply {
    app.call(Method::POST, "/v1/webhooks", Some(&t.key), Some(body))
        .await
}

/// Creates an endpoint and returns its id.
async fn endpoint_id(app: &TestApp, t: &TestTenant, body: Value) -> String {
    create(app, t, body).await.expect(201).body["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits (up to ten seconds) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The endpoint's attempt log (newest first) once it holds at least `n` rows. Attempts are
/// written after they are sent, so the log may trail the receiver by a moment.
async fn logged_attempts(app: &TestApp, t: &TestTenant, endpoint: &str, n: usize) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let log = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{endpoint}/attempts"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let rows = log.body["data"].as_array().cloned().unwrap_or_default();
        if rows.len() >= n {
            return rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "fewer than {n} attempts were logged: {}",
            log.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn of_type<'a>(taken: &'a [Captured], kind: &str) -> Vec<&'a Captured> {
    taken
        .iter()
        .filter(|c| serde_json::from_slice::<Value>(&c.body).unwrap()["type"] == kind)
        .collect()
}

/// Verifies a captured delivery with the Standard Webhooks reference library (Python).
fn python_verifies(secret: &str, c: &Captured) -> bool {
    use std::io::Write;
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .iter()
            .map(|h| ((*h).to_owned(), json!(c.header(h).unwrap())))
            .collect();
    let request = json!({"secret": secret, "headers": headers, "body": String::from_utf8(c.body.clone()).unwrap()});
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/verify_webhook.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test.sh installs standardwebhooks)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the standardwebhooks package is missing: {stderr}"
    );
    out.status.success()
}

fn rust_verifies(secret: &str, c: &Captured) -> bool {
    let ts: i64 = c.header("webhook-timestamp").unwrap().parse().unwrap();
    verify(
        &Secret::parse(secret).unwrap(),
        c.header("webhook-id").unwrap(),
        ts,
        c.header("webhook-signature").unwrap(),
        &c.body,
        ts,
    )
    .is_ok()
}

#[tokio::test]
async fn deliveries_are_signed_and_a_reference_implementation_verifies_them() {
    for db in dbs() {
        let app = app_with(db, true).await;
        let t = app.tenant().await;
        let receiver = HttpReceiver::start(200, "{}").await;
        let r = create(
            &app,
            &t,
            json!({"url": format!("{}hooks?source=sb", receiver.url), "description": "CRM",
                   "event_types": ["message.created", "conversation.*"],
                   "headers": {"X-Team": "support"}}),
        )
        .await
        .expect(201);
        let secret = r.body["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"));
        let endpoint = r.body["id"].as_str().unwrap().to_owned();
        assert!(endpoint.starts_with("ep_"));
        // The secret is shown once: never in reads.
        let read = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{endpoint}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert!(!read.text.contains(&secret[6..]), "{}", read.text);
        assert_eq!(read.body["headers"]["X-Team"], "support");

        let ib = inbox(&app, &t).await;
        let sent = send(&app, &t, &ib, "ada", "my parcel never arrived").await;
        until("message.created", || {
            !of_type(&receiver.taken(), "message.created").is_empty()
        })
        .await;
        let taken = receiver.taken();
        let d = of_type(&taken, "message.created")[0];
        assert_eq!(d.method, "POST");
        assert_eq!(d.path, "/hooks?source=sb");
        assert_eq!(d.header("x-team"), Some("support"));
        assert_eq!(d.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(body["tenant_id"], t.id.as_str());
        assert_eq!(body["version"], 1);
        assert_eq!(body["data"]["message_id"], sent["message"]["id"]);
        assert_eq!(body["actor"]["type"], "api_key");
        assert_eq!(d.header("webhook-id"), body["id"].as_str());
        assert!(rust_verifies(&secret, d));
        assert!(
            python_verifies(&secret, d),
            "the reference library refused our signature"
        );
        // Filtered: contact.created was not subscribed to, conversation.created was.
        assert!(of_type(&taken, "contact.created").is_empty());
        until("conversation.created", || {
            !of_type(&receiver.taken(), "conversation.created").is_empty()
        })
        .await;

        // A tampered body does not verify.
        let mut forged = d.clone();
        forged.body = d
            .body
            .iter()
            .map(|&b| if b == b'a' { b'b' } else { b })
            .collect();
        assert!(!python_verifies(&secret, &forged));
        assert!(!rust_verifies(&secret, &forged));

        // The attempt log and the statistics.
        let attempts = logged_attempts(&app, &t, &endpoint, 2).await;
        let first = attempts.last().unwrap();
        assert_eq!(first["status_code"], 200);
        assert_eq!(first["succeeded"], true);
        assert_eq!(first["cause"], "dispatch");
        assert_eq!(first["response_body"], "{}");
        let stats = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{endpoint}/stats"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(stats.body["success_rate"], 1.0);
        assert!(stats.body["latency_p99_ms"].as_i64().is_some());
        app.stop().await;
    }
}

#[tokio::test]
async fn a_rotated_secret_keeps_signing_beside_the_new_one_for_a_day() {
    for db in dbs() {
        let app = app_with(db, true).await;
        let t = app.tenant().await;
        let receiver = HttpReceiver::start(204, "").await;
        let r = create(
            &app,
            &t,
            json!({"url": receiver.url, "event_types": ["message.created"]}),
        )
        .await
        .expect(201);
        let (endpoint, old) = (
            r.body["id"].as_str().unwrap().to_owned(),
            r.body["secret"].as_str().unwrap().to_owned(),
        );
        let rotated = app
            .call(
                Method::POST,
                &format!("/v1/webhooks/{endpoint}/secret/rotate"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let new = rotated.body["secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        let ib = inbox(&app, &t).await;
        send(&app, &t, &ib, "bo", "hello").await;
        until("a delivery", || !receiver.taken().is_empty()).await;
        let d = receiver.taken()[0].clone();
        assert_eq!(d.header("webhook-signature").unwrap().split(' ').count(), 2);
        assert!(python_verifies(&old, &d) && python_verifies(&new, &d));
        // A day later only the new secret signs.
        app.clock.advance_ms(24 * 3_600_000 + 1000);
        send(&app, &t, &ib, "bo", "hello again").await;
        until("a second delivery", || receiver.taken().len() >= 2).await;
        let d = receiver.taken()[1].clone();
        assert_eq!(d.header("webhook-signature").unwrap().split(' ').count(), 1);
        assert!(rust_verifies(&new, &d));
        assert!(!rust_verifies(&old, &d));
        app.stop().await;
    }
}

#[tokio::test]
async fn failures_follow_the_retry_schedule_then_the_dead_letter_list_replay_and_recovery() {
    for db in dbs() {
        // The worker is off: the test runs each due retry itself, on its own clock.
        let app = TestApp::spawn_with(db, |c| {
            c.webhooks.allow_private = vec!["127.0.0.1/32".into()];
            c.webhooks.poll_ms = 50;
            c.jobs.concurrency = 0;
        })
        .await;
        let t = app.tenant().await;
        let receiver = HttpReceiver::start(500, r#"{"error":"down"}"#).await;
        let r = create(
            &app,
            &t,
            json!({"url": receiver.url, "event_types": ["message.created"]}),
        )
        .await
        .expect(201);
        let endpoint = r.body["id"].as_str().unwrap().to_owned();
        let ib = inbox(&app, &t).await;
        send(&app, &t, &ib, "cy", "is anyone there").await;
        until("the first attempt", || receiver.taken().len() == 1).await;
        let list = |status: &'static str| {
            let path = format!("/v1/webhooks/{endpoint}/deliveries?status={status}");
            let (app, key) = (&app, t.key.clone());
            async move { app.call(Method::GET, &path, Some(&key), None).await }
        };
        // Wait for the batch to be recorded.
        let mut waited = 0;
        loop {
            let p = list("pending").await.expect(200);
            if p.body["data"].as_array().unwrap().len() == 1 {
                break;
            }
            waited += 1;
            assert!(waited < 500, "the failed delivery was never recorded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let waits_s = [5, 300, 1800, 7200, 18000, 36000, 36000];
        for (i, wait) in waits_s.iter().enumerate() {
            let p = list("pending").await.expect(200);
            let d = &p.body["data"][0];
            assert_eq!(d["attempts"], i as i64 + 1);
            assert_eq!(d["last_status_code"], 500);
            // Due between 80% and 120% of the scheduled wait after the last attempt.
            let next =
                switchboard_core::clock::parse_rfc3339(d["next_attempt_at"].as_str().unwrap())
                    .unwrap();
            let delta = next - app.clock_now();
            assert!(
                delta >= wait * 800 && delta <= wait * 1200,
                "attempt {} after {delta} ms, expected ~{wait} s",
                i + 2
            );
            // Not a moment early.
            app.clock.advance_ms(delta - 1);
            app.drain_jobs().await;
            assert_eq!(receiver.taken().len(), i + 1);
            app.clock.advance_ms(1);
            app.drain_jobs().await;
            assert_eq!(
                receiver.taken().len(),
                i + 2,
                "attempt {} did not happen",
                i + 2
            );
        }
        // Eight attempts, then the dead-letter list.
        assert!(list("pending").await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .is_empty());
        let dead = list("dead").await.expect(200);
        assert_eq!(dead.body["data"][0]["attempts"], 8);
        let event_id = dead.body["data"][0]["event_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let log = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{endpoint}/attempts?event_id={event_id}&limit=5"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(log.body["data"].as_array().unwrap().len(), 5);
        assert_eq!(log.body["data"][0]["attempt"], 8);
        assert_eq!(log.body["data"][0]["cause"], "retry");
        let older = log.body["next_cursor"].as_str().unwrap();
        let log2 = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{endpoint}/attempts?event_id={event_id}&before={older}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(log2.body["data"].as_array().unwrap().len(), 3);
        assert_eq!(log2.body["data"][2]["attempt"], 1);
        assert!(log2.body["next_cursor"].is_null());
        // Five days have not passed: the endpoint is still on.
        let e = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{endpoint}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(e.body["enabled"], true);
        assert!(e.body["failing_since"].is_string());

        // The receiver is fixed: replay one message by hand.
        receiver.answer(200, "ok");
        let replayed = app
            .call(
                Method::POST,
                &format!("/v1/webhooks/{endpoint}/replay"),
                Some(&t.key),
                Some(json!({"event_id": event_id})),
            )
            .await
            .expect(200);
        assert_eq!(replayed.body["succeeded"], true);
        assert_eq!(replayed.body["cause"], "replay");
        assert_eq!(receiver.taken().len(), 9);
        assert!(list("dead").await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .is_empty());
        let e = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{endpoint}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert!(e.body["failing_since"].is_null());

        // Recovery: two more failures land on the dead-letter list, then come back at once.
        receiver.answer(503, "busy");
        let since = switchboard_core::clock::rfc3339(app.clock_now());
        send(&app, &t, &ib, "cy", "one").await;
        send(&app, &t, &ib, "cy", "two").await;
        until("two more attempts", || receiver.taken().len() == 11).await;
        for _ in 0..8 {
            app.clock.advance_ms(44_000 * 1000);
            app.drain_jobs().await;
        }
        let mut waited = 0;
        while list("dead").await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .len()
            < 2
        {
            waited += 1;
            assert!(waited < 500);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        receiver.answer(200, "ok");
        let before = receiver.taken().len();
        let rec = app
            .call(
                Method::POST,
                &format!("/v1/webhooks/{endpoint}/recover"),
                Some(&t.key),
                Some(json!({"since": since})),
            )
            .await
            .expect(202);
        assert_eq!(rec.body["scheduled"], 2);
        app.drain_jobs().await;
        assert_eq!(receiver.taken().len(), before + 2);
        assert!(list("dead").await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .is_empty());
        assert_eq!(
            list("succeeded").await.expect(200).body["data"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn an_endpoint_that_answers_gone_is_disabled_at_once_with_an_event() {
    for db in dbs() {
        let app = app_with(db, true).await;
        let t = app.tenant().await;
        let gone = HttpReceiver::start(410, "").await;
        let watcher = HttpReceiver::start(200, "").await;
        let e = endpoint_id(
            &app,
            &t,
            json!({"url": gone.url, "event_types": ["message.created"]}),
        )
        .await;
        create(
            &app,
            &t,
            json!({"url": watcher.url, "event_types": ["endpoint.disabled"]}),
        )
        .await
        .expect(201);
        let ib = inbox(&app, &t).await;
        send(&app, &t, &ib, "di", "hello").await;
        until("endpoint.disabled", || {
            !of_type(&watcher.taken(), "endpoint.disabled").is_empty()
        })
        .await;
        let ev: Value =
            serde_json::from_slice(&of_type(&watcher.taken(), "endpoint.disabled")[0].body)
                .unwrap();
        assert_eq!(ev["data"]["endpoint_id"], e.as_str());
        assert_eq!(ev["data"]["reason"], "gone");
        assert_eq!(ev["actor"]["type"], "system");
        let got = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{e}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(got.body["enabled"], false);
        assert_eq!(got.body["disabled_reason"], "gone");
        // Nothing more is sent to it.
        send(&app, &t, &ib, "di", "still there?").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(gone.taken().len(), 1);
        // Recovery is refused while it is off; enabling it clears the record.
        app.call(
            Method::POST,
            &format!("/v1/webhooks/{e}/recover"),
            Some(&t.key),
            Some(json!({"since": "2020-01-01T00:00:00Z"})),
        )
        .await
        .expect_problem(409, "conflict");
        let on = app
            .call(
                Method::PATCH,
                &format!("/v1/webhooks/{e}"),
                Some(&t.key),
                Some(json!({"enabled": true})),
            )
            .await
            .expect(200);
        assert!(on.body["disabled_reason"].is_null());
        app.stop().await;
    }
}

#[tokio::test]
async fn hostile_endpoint_settings_are_refused_and_change_nothing() {
    for db in dbs() {
        // No allow-list here: loopback is as forbidden as any private address.
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let long = format!("https://example.com/{}", "a".repeat(2000));
        let cases = [
            json!({"url": "ftp://example.com/hook"}),
            json!({"url": "file:///etc/passwd"}),
            json!({"url": "https://user:pass@example.com/hook"}),
            json!({"url": "http://127.0.0.1:8080/hook"}),
            json!({"url": "http://[::1]/hook"}),
            json!({"url": "http://169.254.169.254/latest/meta-data/"}),
            json!({"url": "http://[::ffff:10.0.0.1]/"}),
            json!({"url": "http://0x7f000001/"}),
            json!({"url": "http://localhost/hook"}),
            json!({"url": long}),
            json!({"url": "not a url"}),
            json!({"url": "https://example.com/", "event_types": ["message.creatd"]}),
            json!({"url": "https://example.com/", "event_types": ["*"]}),
            json!({"url": "https://example.com/", "headers": {"webhook-signature": "v1,forged"}}),
            json!({"url": "https://example.com/", "headers": {"Host": "internal"}}),
            json!({"url": "https://example.com/", "headers": {"X-Bad": "line\r\nInjected: yes"}}),
            json!({"url": "https://example.com/", "headers": {"Bad Name": "v"}}),
            json!({"url": "https://example.com/", "rate_limit_per_s": 0}),
            json!({"url": "https://example.com/", "description": "d".repeat(501)}),
        ];
        for body in cases {
            let r = create(&app, &t, body.clone()).await;
            assert_eq!(r.status, 422, "{body} → {} {}", r.status, r.text);
            assert_eq!(r.body["code"], "validation_failed", "{}", r.text);
        }
        // Malformed JSON and unknown fields.
        create(
            &app,
            &t,
            json!({"url": "https://example.com/", "secret": "mine"}),
        )
        .await
        .expect(422);
        let r = app
            .send(
                app.request(Method::POST, "/v1/webhooks")
                    .bearer_auth(&t.key)
                    .header("content-type", "application/json")
                    .body("{\"url\":"),
            )
            .await;
        assert!(r.status.is_client_error(), "{}", r.status);
        let list = app
            .call(Method::GET, "/v1/webhooks", Some(&t.key), None)
            .await
            .expect(200);
        assert!(list.body["data"].as_array().unwrap().is_empty());
        // An update is held to the same rules and leaves the endpoint as it was.
        let ok = create(&app, &t, json!({"url": "https://hooks.example.com/x"}))
            .await
            .expect(201);
        let id = ok.body["id"].as_str().unwrap();
        app.call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(&t.key),
            Some(json!({"url": "http://10.1.2.3/"})),
        )
        .await
        .expect(422);
        let e = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(e.body["url"], "https://hooks.example.com/x");
        // Unknown or malformed ids.
        for bad in ["ep_nope", "../../etc", "cnv_01h"] {
            let r = app
                .call(
                    Method::GET,
                    &format!("/v1/webhooks/{bad}"),
                    Some(&t.key),
                    None,
                )
                .await;
            assert_eq!(r.status, 404, "{bad}");
        }
        app.call(
            Method::GET,
            &format!("/v1/webhooks/{id}/attempts?limit=1000"),
            Some(&t.key),
            None,
        )
        .await
        .expect(422);
        app.call(
            Method::GET,
            &format!("/v1/webhooks/{id}/deliveries?status=everything"),
            Some(&t.key),
            None,
        )
        .await
        .expect(422);
        app.call(
            Method::POST,
            &format!("/v1/webhooks/{id}/recover"),
            Some(&t.key),
            Some(json!({"since": "yesterday"})),
        )
        .await
        .expect(422);
        app.call(
            Method::POST,
            &format!("/v1/webhooks/{id}/replay"),
            Some(&t.key),
            Some(json!({"event_id": "evt_nope"})),
        )
        .await
        .expect(404);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_tenant_never_sees_or_receives_another_tenants_webhooks() {
    for db in dbs() {
        let app = app_with(db, true).await;
        let (a, b) = (app.tenant().await, app.tenant().await);
        let (ra, rb) = (
            HttpReceiver::start(200, "").await,
            HttpReceiver::start(200, "").await,
        );
        let ea = endpoint_id(&app, &a, json!({"url": ra.url})).await;
        create(&app, &b, json!({"url": rb.url})).await.expect(201);
        let ib = inbox(&app, &a).await;
        send(&app, &a, &ib, "ann", "for tenant a only").await;
        until("tenant a's delivery", || {
            !of_type(&ra.taken(), "message.created").is_empty()
        })
        .await;
        let event: Value =
            serde_json::from_slice(&of_type(&ra.taken(), "message.created")[0].body).unwrap();
        let event_id = event["id"].as_str().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        for c in rb.taken() {
            let v: Value = serde_json::from_slice(&c.body).unwrap();
            assert_eq!(v["tenant_id"], b.id.as_str(), "tenant b received {v}");
        }
        // B cannot reach A's endpoint by id, nor replay A's event to its own endpoint.
        for (m, path, body) in [
            (Method::GET, format!("/v1/webhooks/{ea}"), None),
            (
                Method::PATCH,
                format!("/v1/webhooks/{ea}"),
                Some(json!({"enabled": false})),
            ),
            (Method::GET, format!("/v1/webhooks/{ea}/attempts"), None),
            (Method::GET, format!("/v1/webhooks/{ea}/deliveries"), None),
            (Method::GET, format!("/v1/webhooks/{ea}/stats"), None),
            (
                Method::POST,
                format!("/v1/webhooks/{ea}/secret/rotate"),
                None,
            ),
            (
                Method::POST,
                format!("/v1/webhooks/{ea}/replay"),
                Some(json!({"event_id": event_id})),
            ),
            (
                Method::POST,
                format!("/v1/webhooks/{ea}/recover"),
                Some(json!({"since": "2020-01-01T00:00:00Z"})),
            ),
            (Method::DELETE, format!("/v1/webhooks/{ea}"), None),
        ] {
            let r = app.call(m.clone(), &path, Some(&b.key), body).await;
            assert_eq!(r.status, 404, "{m} {path}: {}", r.text);
        }
        let eb = app
            .call(Method::GET, "/v1/webhooks", Some(&b.key), None)
            .await
            .expect(200)
            .body["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.call(
            Method::POST,
            &format!("/v1/webhooks/{eb}/replay"),
            Some(&b.key),
            Some(json!({"event_id": event_id})),
        )
        .await
        .expect(404);
        // A's endpoint is untouched.
        let got = app
            .call(
                Method::GET,
                &format!("/v1/webhooks/{ea}"),
                Some(&a.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(got.body["enabled"], true);
        app.stop().await;
    }
}

#[tokio::test]
async fn agents_and_viewers_cannot_manage_webhooks() {
    for db in dbs() {
        let app = app_with(db, true).await;
        let t = app.tenant().await;
        let key = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "agent key", "scopes": ["agent"]})),
            )
            .await
            .expect(201)
            .body["secret"]
            .as_str()
            .unwrap()
            .to_owned();
        create(&app, &t, json!({"url": "https://hooks.example.com/"}))
            .await
            .expect(201);
        app.call(Method::GET, "/v1/webhooks", Some(&key), None)
            .await
            .expect_problem(403, "forbidden");
        create(
            &app,
            &TestTenant {
                key: key.clone(),
                ..t.clone()
            },
            json!({"url": "https://hooks.example.com/"}),
        )
        .await
        .expect_problem(403, "forbidden");
        // The catalog is readable by anyone in the tenant.
        let types = app
            .call(Method::GET, "/v1/event-types", Some(&key), None)
            .await
            .expect(200);
        let created = types.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "message.created")
            .unwrap()
            .clone();
        assert_eq!(created["version"], 1);
        assert_eq!(
            created["schema"]["properties"]["type"]["const"],
            "message.created"
        );
        assert!(created["schema"]["properties"]["data"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("message_id")));
        assert_eq!(created["example"]["type"], "message.created");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_another_endpoint() {
    for db in dbs() {
        let app = app_with(db, true).await;
        let t = app.tenant().await;
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hang_url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((sock, _)) = listener.accept().await {
                held.push(sock);
            }
        });
        let fast = HttpReceiver::start(200, "").await;
        let slow = endpoint_id(
            &app,
            &t,
            json!({"url": hang_url, "event_types": ["message.created"]}),
        )
        .await;
        create(
            &app,
            &t,
            json!({"url": fast.url, "event_types": ["message.created"]}),
        )
        .await
        .expect(201);
        let ib = inbox(&app, &t).await;
        let started = std::time::Instant::now();
        send(&app, &t, &ib, "hu", "hello").await;
        until("the fast endpoint", || !fast.taken().is_empty()).await;
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        // The hanging one times out (2 s here, 15 s by default) and is logged as such.
        let a = &logged_attempts(&app, &t, &slow, 1).await[0];
        assert_eq!(a["error"], "timed out");
        assert!(a["status_code"].is_null());
        app.stop().await;
    }
}

#[tokio::test]
async fn a_dispatcher_killed_mid_batch_loses_nothing() {
    use axum::routing::post;
    use std::sync::{Arc, Mutex};
    for db in dbs() {
        // No background dispatcher: the test runs passes itself.
        let app = app_with(db, false).await;
        let t = app.tenant().await;
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let s = seen.clone();
        let router = axum::Router::new().route(
            "/",
            post(move |body: axum::body::Bytes| {
                let s = s.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    s.lock()
                        .unwrap()
                        .push(v["data"]["message_id"].as_str().unwrap().to_owned());
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        create(
            &app,
            &t,
            json!({"url": url, "event_types": ["message.created"]}),
        )
        .await
        .expect(201);
        let ib = inbox(&app, &t).await;
        // One conversation: its events go out one after another.
        let mut expected = Vec::new();
        for i in 0..12 {
            let m = send(&app, &t, &ib, "kim", &format!("message {i}")).await;
            expected.push(m["message"]["id"].as_str().unwrap().to_owned());
        }
        let tenant: switchboard_types::TenantId = t.id.parse().unwrap();
        let limits = switchboard_core::webhook_dispatch::DeliveryLimits::new(64);
        // Dispatcher A dies after a few deliveries, before recording anything.
        let pass = app.core.dispatch_webhooks(&tenant, "dispatcher-a", &limits);
        tokio::select! {
            r = pass => panic!("the pass finished before it could be killed: {r:?}"),
            () = until("a few deliveries", || seen.lock().unwrap().len() >= 4) => {}
        }
        let delivered_before = seen.lock().unwrap().len();
        assert!(delivered_before < 12);
        // B cannot take over while A's lease runs …
        let r = app
            .core
            .dispatch_webhooks(&tenant, "dispatcher-b", &limits)
            .await
            .unwrap();
        assert_eq!(r.deliveries, 0);
        // … and takes over when it runs out, sending the whole batch again.
        app.clock.advance_ms(31_000);
        let r = app
            .core
            .dispatch_webhooks(&tenant, "dispatcher-b", &limits)
            .await
            .unwrap();
        assert_eq!(r.failures, 0);
        let got: Vec<String> = seen.lock().unwrap().clone();
        // Every message's event arrived; the second pass sent the whole batch, in order.
        let distinct: std::collections::HashSet<&String> = got.iter().collect();
        assert_eq!(distinct.len(), 12);
        assert_eq!(got[delivered_before..].to_vec(), expected);
        assert_eq!(r.deliveries, 12);
        // Nothing is left: a third pass sends nothing.
        let r = app
            .core
            .dispatch_webhooks(&tenant, "dispatcher-b", &limits)
            .await
            .unwrap();
        assert_eq!(r.deliveries, 0);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_platform_operator_hears_of_disabled_endpoints_and_suspended_tenants() {
    for db in dbs() {
        let platform = HttpReceiver::start(200, "").await;
        let secret = Secret::generate().expose();
        let app = TestApp::spawn_with(db, |c| {
            c.webhooks.allow_private = vec!["127.0.0.1/32".into()];
            c.webhooks.poll_ms = 50;
            c.webhooks.platform_url = platform.url.clone();
            c.webhooks.platform_secret = switchboard::config::Secret::new(secret.clone());
            // The test runs the notification jobs itself.
            c.jobs.concurrency = 0;
        })
        .await;
        let wait_for_platform = |kind: &'static str| {
            let (app, platform) = (&app, platform.clone());
            async move {
                for _ in 0..300 {
                    while app
                        .core
                        .run_one_job(
                            switchboard_core::jobs::PLATFORM_QUEUE,
                            "test-platform",
                            60_000,
                        )
                        .await
                        .unwrap()
                    {}
                    if !of_type(&platform.taken(), kind).is_empty() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("{kind} never reached the platform endpoint");
            }
        };
        let t = app.tenant().await;
        let gone = HttpReceiver::start(410, "").await;
        let endpoint = endpoint_id(
            &app,
            &t,
            json!({"url": gone.url, "event_types": ["message.created"]}),
        )
        .await;
        let ib = inbox(&app, &t).await;
        send(&app, &t, &ib, "op", "hello").await;
        wait_for_platform("endpoint.disabled").await;
        let taken = platform.taken();
        let d = of_type(&taken, "endpoint.disabled")[0];
        assert!(rust_verifies(&secret, d), "the platform delivery is signed");
        assert!(python_verifies(&secret, d));
        let body: Value = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(body["tenant_id"], t.id.as_str());
        assert_eq!(body["data"]["endpoint_id"], endpoint.as_str());
        assert_eq!(body["data"]["reason"], "gone");

        app.call(
            Method::POST,
            &format!("/v1/tenants/{}/suspend", t.id),
            Some(&app.platform_token),
            None,
        )
        .await
        .expect(200);
        wait_for_platform("tenant.suspended").await;
        let taken = platform.taken();
        let s: Value =
            serde_json::from_slice(&of_type(&taken, "tenant.suspended")[0].body).unwrap();
        assert_eq!(s["data"]["slug"], t.slug.as_str());
        assert_eq!(s["data"]["to"], "suspended");
        assert_eq!(s["actor"]["type"], "user");
        // Operational events are the operator's: a tenant cannot subscribe to them.
        let other = app.tenant().await;
        create(
            &app,
            &other,
            json!({"url": "https://hooks.example.com/", "event_types": ["job.failed"]}),
        )
        .await
        .expect_problem(422, "validation_failed");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_response_with_a_nul_byte_is_logged_and_does_not_stall_dispatch() {
    for db in dbs() {
        let app = app_with(db, true).await;
        let t = app.tenant().await;
        let receiver = HttpReceiver::start(200, "ok\u{0}then").await;
        let endpoint = endpoint_id(
            &app,
            &t,
            json!({"url": receiver.url, "event_types": ["message.created"]}),
        )
        .await;
        let ib = inbox(&app, &t).await;
        send(&app, &t, &ib, "nul", "first").await;
        until("the first delivery", || receiver.taken().len() == 1).await;
        send(&app, &t, &ib, "nul", "second").await;
        until("the second delivery", || receiver.taken().len() == 2).await;
        // Recorded (PostgreSQL refuses NUL in text: it is stored as U+FFFD), and not re-sent.
        let rows = logged_attempts(&app, &t, &endpoint, 2).await;
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0]["response_body"], "ok\u{FFFD}then");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.taken().len(), 2, "a batch was sent again");
        app.stop().await;
    }
}

#[tokio::test]
async fn plan_quotas_refuse_more_and_tell_the_platform_operator() {
    for db in dbs() {
        let platform = HttpReceiver::start(200, "").await;
        let secret = Secret::generate().expose();
        let app = TestApp::spawn_with(db, |c| {
            c.webhooks.allow_private = vec!["127.0.0.1/32".into()];
            c.webhooks.platform_url = platform.url.clone();
            c.webhooks.platform_secret = switchboard::config::Secret::new(secret.clone());
            c.jobs.concurrency = 0;
            c.quotas.insert(
                "starter".into(),
                switchboard::config::QuotaConfig {
                    members: Some(2),
                    inboxes: Some(1),
                    webhook_endpoints: None,
                },
            );
        })
        .await;
        let t = app.tenant().await;
        // The owner is the first member; one more fits, then the plan is full.
        let add = |email: &'static str| {
            app.call(
                Method::POST,
                "/v1/users",
                Some(&t.key),
                Some(
                    json!({"email": email, "role": "agent", "password": "a long enough password"}),
                ),
            )
        };
        add("second@quota.test").await.expect(201);
        add("third@quota.test")
            .await
            .expect_problem(403, "quota_exceeded");
        app.call(
            Method::POST,
            "/v1/invitations",
            Some(&t.key),
            Some(json!({"email": "fourth@quota.test", "role": "agent"})),
        )
        .await
        .expect_problem(403, "quota_exceeded");
        inbox(&app, &t).await;
        app.call(
            Method::POST,
            "/v1/inboxes",
            Some(&t.key),
            Some(json!({"name": "second", "channel": "api"})),
        )
        .await
        .expect_problem(403, "quota_exceeded");
        // Nothing past the limits was created.
        let users = app
            .call(Method::GET, "/v1/users", Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(users.body["data"].as_array().unwrap().len(), 2);
        let inboxes = app
            .call(Method::GET, "/v1/inboxes", Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(inboxes.body["data"].as_array().unwrap().len(), 1);
        // Other plans are not limited.
        let big = app
            .call(
                Method::POST,
                "/v1/tenants",
                Some(&app.platform_token),
                Some(json!({"slug": switchboard_testkit::unique("big"), "name": "Big", "plan": "enterprise", "admin_email": format!("{}@big.test", switchboard_testkit::unique("o"))})),
            )
            .await
            .expect(201);
        let big_key = big.body["api_key"].as_str().unwrap().to_owned();
        for name in ["a", "b"] {
            app.call(
                Method::POST,
                "/v1/inboxes",
                Some(&big_key),
                Some(json!({"name": name, "channel": "api"})),
            )
            .await
            .expect(201);
        }
        // The operator heard of it, once per quota (not once per refusal), signed.
        let mut mine: Vec<Value> = Vec::new();
        for _ in 0..300 {
            while app
                .core
                .run_one_job(switchboard_core::jobs::PLATFORM_QUEUE, "test-quota", 60_000)
                .await
                .unwrap()
            {}
            mine = of_type(&platform.taken(), "tenant.quota_exceeded")
                .into_iter()
                .map(|c| serde_json::from_slice::<Value>(&c.body).unwrap())
                .filter(|b| b["tenant_id"] == t.id.as_str())
                .collect();
            if mine.len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut quotas: Vec<&str> = mine
            .iter()
            .map(|b| b["data"]["quota"].as_str().unwrap())
            .collect();
        quotas.sort_unstable();
        assert_eq!(quotas, vec!["inboxes", "members"], "{mine:?}");
        let members = mine
            .iter()
            .find(|b| b["data"]["quota"] == "members")
            .unwrap();
        assert_eq!(members["data"]["limit"], 2);
        assert_eq!(members["data"]["plan"], "starter");
        app.stop().await;
    }
}
