//! SMS (Twilio) and email inboxes end to end: signed inbound webhooks, raw RFC 5322 email with
//! threading, and replies delivered through Twilio's REST format and SMTP to local stand-ins.

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use switchboard::config::Secret;
use switchboard_testkit::{dbs, Db, HttpReceiver, Reply, SmtpSink, TestApp, TestTenant};

const PUBLIC_URL: &str = "https://switchboard.example.test";
const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "fedcba9876543210fedcba9876543210";
const NUMBER: &str = "+14155550100";

async fn spawn(db: Db, twilio: &HttpReceiver, smtp: &SmtpSink) -> TestApp {
    let (base, port) = (twilio.url.clone(), smtp.port);
    TestApp::spawn_with(db, move |cfg| {
        cfg.server.public_url = PUBLIC_URL.into();
        cfg.channels.twilio_api_base = base;
        cfg.channels.smtp_url = Secret::new(format!("smtp://127.0.0.1:{port}"));
    })
    .await
}

fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn inbox(app: &TestApp, t: &TestTenant, channel: &str, settings: Value) -> (String, Value) {
    let r = app
        .call(
            Method::POST,
            "/v1/inboxes",
            Some(&t.key),
            Some(json!({"name": format!("{channel} inbox"), "channel": channel})),
        )
        .await
        .expect(201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let c = app
        .call(
            Method::PUT,
            &format!("/v1/inboxes/{id}/channel"),
            Some(&t.key),
            Some(settings),
        )
        .await
        .expect(200);
    (id, c.body)
}

async fn sms_inbox(app: &TestApp, t: &TestTenant) -> (String, String) {
    let (id, c) = inbox(
        app,
        t,
        "sms",
        json!({"sms": {"phone_number": NUMBER, "account_sid": SID, "auth_token": TOKEN}}),
    )
    .await;
    let url = c["sms"]["webhook_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{PUBLIC_URL}/channels/sms/sms_")),
        "{url}"
    );
    assert_eq!(c["sms"]["auth_token_set"], true);
    assert!(!c.to_string().contains(TOKEN), "the token is never shown");
    (id, url)
}

async fn post_sms(
    app: &TestApp,
    url: &str,
    params: &[(&str, &str)],
    signature: Option<String>,
) -> Reply {
    let path = url.strip_prefix(PUBLIC_URL).unwrap();
    let mut req = app.request(Method::POST, path).form(params);
    if let Some(s) = signature {
        req = req.header("x-twilio-signature", s);
    }
    app.send(req).await
}

async fn conversations(app: &TestApp, t: &TestTenant, inbox: &str) -> Vec<Value> {
    app.call(
        Method::GET,
        &format!("/v1/conversations?inbox_id={inbox}"),
        Some(&t.key),
        None,
    )
    .await
    .expect(200)
    .body["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn thread(app: &TestApp, t: &TestTenant, conv: &str) -> Vec<Value> {
    app.call(
        Method::GET,
        &format!("/v1/conversations/{conv}/messages?limit=200"),
        Some(&t.key),
        None,
    )
    .await
    .expect(200)
    .body["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the worker has delivered (or given up on) a reply.
async fn delivered(app: &TestApp, t: &TestTenant, conv: &str, message: &str) -> Value {
    for _ in 0..200 {
        app.drain_jobs().await;
        let m = thread(app, t, conv)
            .await
            .into_iter()
            .find(|m| m["id"] == message)
            .unwrap();
        if m["delivery_status"] != "pending" {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("message {message} was never delivered");
}

async fn reply(app: &TestApp, t: &TestTenant, conv: &str, content: &str, private: bool) -> Value {
    app.call(
        Method::POST,
        &format!("/v1/conversations/{conv}/messages"),
        Some(&t.key),
        Some(json!({"content": content, "private": private})),
    )
    .await
    .expect(201)
    .body
}

#[tokio::test]
async fn signed_twilio_webhooks_are_stored_once_and_bad_signatures_are_refused_with_403() {
    for db in dbs() {
        let twilio = HttpReceiver::start(201, r#"{"sid":"SM1"}"#).await;
        let smtp = SmtpSink::start().await;
        let app = spawn(db, &twilio, &smtp).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let (inbox_id, url) = sms_inbox(&app, &t).await;
        let params = [
            ("MessageSid", "SM0001"),
            ("From", "+14155550199"),
            ("To", NUMBER),
            ("Body", "Where is my order?"),
            ("NumMedia", "0"),
        ];

        // Bad, missing, another account's, or a tampered body: 403 and nothing stored.
        let forged = [
            Some("bm90IGEgc2lnbmF0dXJl".to_owned()),
            None,
            Some(twilio_signature(
                "ffffffffffffffffffffffffffffffff",
                &url,
                &params,
            )),
            Some(twilio_signature(
                TOKEN,
                &url,
                &[
                    ("MessageSid", "SM0001"),
                    ("From", "+14155550199"),
                    ("To", NUMBER),
                    ("Body", "something else"),
                    ("NumMedia", "0"),
                ],
            )),
            Some(twilio_signature(TOKEN, &format!("{url}x"), &params)),
        ];
        for signature in forged {
            post_sms(&app, &url, &params, signature)
                .await
                .expect_problem(403, "signature_invalid");
        }
        assert!(
            conversations(&app, &t, &inbox_id).await.is_empty(),
            "{db:?}"
        );

        let signature = twilio_signature(TOKEN, &url, &params);
        let ok = post_sms(&app, &url, &params, Some(signature.clone()))
            .await
            .expect(200);
        assert!(ok.text.contains("<Response>"), "{}", ok.text);
        assert!(ok.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml"));
        let list = conversations(&app, &t, &inbox_id).await;
        assert_eq!(list.len(), 1);
        let conv = list[0]["id"].as_str().unwrap();
        let msgs = thread(&app, &t, conv).await;
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0]["content"], "Where is my order?");
        assert_eq!(msgs[0]["external_id"], "SM0001");
        let contact = app
            .call(
                Method::GET,
                &format!("/v1/contacts/{}", list[0]["contact_id"].as_str().unwrap()),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(contact.body["phone"], "+14155550199");
        // Twilio retries: same MessageSid, nothing new.
        post_sms(&app, &url, &params, Some(signature.clone()))
            .await
            .expect(200);
        assert_eq!(thread(&app, &t, conv).await.len(), 1, "{db:?}");

        // The same signed request aimed at another tenant's SMS inbox: refused there.
        let (other_inbox, other_url) = sms_inbox(&app, &other).await;
        let other_signature = twilio_signature(TOKEN, &url, &params);
        post_sms(&app, &other_url, &params, Some(other_signature))
            .await
            .expect_problem(403, "signature_invalid");
        assert!(conversations(&app, &other, &other_inbox).await.is_empty());
        // Unknown public ids are 404.
        let unknown = format!("{PUBLIC_URL}/channels/sms/sms_nope");
        post_sms(&app, &unknown, &params, Some(signature))
            .await
            .expect_problem(404, "not_found");
        app.stop().await;
    }
}

#[tokio::test]
async fn sms_replies_go_out_in_twilios_rest_format_and_failures_are_recorded() {
    for db in dbs() {
        let twilio = HttpReceiver::start(201, r#"{"sid":"SMreply1","status":"queued"}"#).await;
        let smtp = SmtpSink::start().await;
        let app = spawn(db, &twilio, &smtp).await;
        let t = app.tenant().await;
        let (inbox_id, url) = sms_inbox(&app, &t).await;
        let params = [
            ("MessageSid", "SM0002"),
            ("From", "+14155550199"),
            ("To", NUMBER),
            ("Body", "hi"),
        ];
        post_sms(
            &app,
            &url,
            &params,
            Some(twilio_signature(TOKEN, &url, &params)),
        )
        .await
        .expect(200);
        let conv = conversations(&app, &t, &inbox_id).await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        reply(&app, &t, &conv, "internal note", true).await;
        let sent = reply(&app, &t, &conv, "It ships tomorrow.", false).await;
        assert_eq!(sent["delivery_status"], "pending");
        let m = delivered(&app, &t, &conv, sent["id"].as_str().unwrap()).await;
        assert_eq!(m["delivery_status"], "sent", "{db:?}: {m}");
        assert_eq!(m["external_id"], "SMreply1");
        let taken = twilio.taken();
        assert_eq!(taken.len(), 1, "only the reply, not the note");
        let req = &taken[0];
        assert_eq!(req.method, "POST");
        assert_eq!(
            req.path,
            format!("/2010-04-01/Accounts/{SID}/Messages.json")
        );
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
        assert_eq!(
            req.header("authorization"),
            Some(format!("Basic {basic}").as_str())
        );
        assert!(req
            .header("content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded"));
        let form = req.form();
        let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            (field("To"), field("From"), field("Body")),
            (
                Some("+14155550199"),
                Some(NUMBER),
                Some("It ships tomorrow.")
            )
        );

        // Twilio refuses the number: the reply is marked failed with Twilio's reason, not retried.
        twilio.answer(
            400,
            r#"{"code":21211,"message":"The 'To' number is not a valid phone number."}"#,
        );
        let failed = reply(&app, &t, &conv, "Second try", false).await;
        let m = delivered(&app, &t, &conv, failed["id"].as_str().unwrap()).await;
        assert_eq!(m["delivery_status"], "failed");
        assert!(
            m["metadata"]["delivery_error"]
                .as_str()
                .unwrap()
                .contains("21211"),
            "{m}"
        );
        assert_eq!(twilio.taken().len(), 2);
        app.stop().await;
    }
}

const FIRST_EMAIL: &str = "From: =?ISO-8859-1?Q?Ren=E9_M=FCller?= <rene@example.com>\r\n\
To: support@acme.test\r\n\
Subject: Order 1234 is late\r\n\
Message-ID: <first-1@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\
\r\n\
--b2\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Gr=FC=DFe, my order is late.\r\n\
--b2\r\n\
Content-Type: text/html; charset=UTF-8\r\n\
\r\n\
<p>My order is <b>late</b>.</p>\r\n\
--b2--\r\n\
--b1\r\n\
Content-Type: text/plain; name=\"../../etc/passwd\"\r\n\
Content-Disposition: attachment; filename=\"../../etc/passwd\"\r\n\
\r\n\
root:x:0:0\r\n\
--b1--\r\n";

async fn post_email(
    app: &TestApp,
    t: &TestTenant,
    inbox: &str,
    raw: impl Into<reqwest::Body>,
) -> Reply {
    app.send(
        app.request(Method::POST, &format!("/v1/inboxes/{inbox}/email"))
            .bearer_auth(&t.key)
            .header("content-type", "message/rfc822")
            .body(raw),
    )
    .await
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn email_threads_by_headers_and_subject_and_replies_over_smtp_with_threading_headers() {
    for db in dbs() {
        let twilio = HttpReceiver::start(201, "{}").await;
        let smtp = SmtpSink::start().await;
        let app = spawn(db, &twilio, &smtp).await;
        let t = app.tenant().await;
        let (inbox_id, c) = inbox(
            &app,
            &t,
            "email",
            json!({"email": {"address": "support@acme.test", "from_name": "Acme Support"}}),
        )
        .await;
        assert_eq!(
            c["email"]["inbound_url"],
            format!("{PUBLIC_URL}/v1/inboxes/{inbox_id}/email")
        );

        let first = post_email(&app, &t, &inbox_id, FIRST_EMAIL)
            .await
            .expect(201);
        assert_eq!(first.body["created"], true, "{db:?}");
        let conv = first.body["conversation_id"].as_str().unwrap().to_owned();
        let msgs = thread(&app, &t, &conv).await;
        assert_eq!(msgs[0]["content"], "Grüße, my order is late.");
        assert_eq!(msgs[0]["metadata"]["subject"], "Order 1234 is late");
        assert_eq!(
            msgs[0]["metadata"]["attachments"][0]["filename"], "passwd",
            "a name only"
        );
        let number = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}"),
                Some(&t.key),
                None,
            )
            .await
            .body["number"]
            .as_i64()
            .unwrap();
        // Redelivered: recognised, nothing new.
        let again = post_email(&app, &t, &inbox_id, FIRST_EMAIL)
            .await
            .expect(200);
        assert_eq!(again.body["duplicate"], true);
        assert_eq!(thread(&app, &t, &conv).await.len(), 1);

        // The agent's reply leaves over SMTP with the threading headers.
        let sent = reply(&app, &t, &conv, "We are on it.", false).await;
        let m = delivered(&app, &t, &conv, sent["id"].as_str().unwrap()).await;
        assert_eq!(m["delivery_status"], "sent", "{db:?}: {m}");
        let out = smtp.received();
        assert_eq!(out.len(), 1);
        let mail = &out[0];
        assert_eq!(
            header(mail, "In-Reply-To"),
            Some("<first-1@example.com>"),
            "{mail}"
        );
        assert!(header(mail, "References")
            .unwrap()
            .contains("<first-1@example.com>"));
        let our_id = header(mail, "Message-ID").unwrap().to_owned();
        assert!(our_id.ends_with("@acme.test>"), "{our_id}");
        assert_eq!(
            m["external_id"],
            our_id.trim_matches(|c| c == '<' || c == '>')
        );
        assert_eq!(
            header(mail, "Subject"),
            Some(format!("Re: Order 1234 is late [#{number}]").as_str())
        );
        assert!(header(mail, "From").unwrap().contains("support@acme.test"));
        assert!(header(mail, "To").unwrap().contains("rene@example.com"));
        assert!(mail.contains("We are on it."));

        // The customer answers our message: same conversation, by In-Reply-To.
        let answer = format!("From: rene@example.com\r\nSubject: Re: Order 1234 is late [#{number}]\r\nMessage-ID: <second-2@example.com>\r\nIn-Reply-To: {our_id}\r\n\r\nThanks!\r\n");
        let r = post_email(&app, &t, &inbox_id, answer).await.expect(201);
        assert_eq!(
            (
                r.body["conversation_id"].as_str(),
                r.body["created"].as_bool()
            ),
            (Some(conv.as_str()), Some(false))
        );
        // A client that dropped the headers: the subject's tag finds it.
        let bare = format!("From: rene@example.com\r\nSubject: Re: [#{number}] again\r\nMessage-ID: <third-3@example.com>\r\n\r\nStill waiting\r\n");
        let r = post_email(&app, &t, &inbox_id, bare).await.expect(201);
        assert_eq!(r.body["conversation_id"], conv.as_str());
        assert_eq!(thread(&app, &t, &conv).await.len(), 4);

        // Someone else forging Rene's thread headers and tag: a conversation of their own.
        let forged = format!("From: mallory@example.net\r\nSubject: Re: [#{number}]\r\nMessage-ID: <f@example.net>\r\nIn-Reply-To: {our_id}\r\nReferences: <first-1@example.com>\r\n\r\nlet me in\r\n");
        let r = post_email(&app, &t, &inbox_id, forged).await.expect(201);
        assert_eq!(r.body["created"], true);
        assert_ne!(r.body["conversation_id"], conv.as_str());
        app.stop().await;
    }
}

#[tokio::test]
async fn hostile_email_never_crosses_tenants_or_crashes() {
    for db in dbs() {
        let twilio = HttpReceiver::start(201, "{}").await;
        let smtp = SmtpSink::start().await;
        let app = spawn(db, &twilio, &smtp).await;
        let a = app.tenant().await;
        let b = app.tenant().await;
        let settings = json!({"email": {"address": "help@shop.test"}});
        let (inbox_a, _) = inbox(&app, &a, "email", settings.clone()).await;
        let (inbox_b, _) = inbox(&app, &b, "email", settings).await;
        let first = post_email(&app, &a, &inbox_a, FIRST_EMAIL)
            .await
            .expect(201);
        let conv_a = first.body["conversation_id"].as_str().unwrap().to_owned();

        // Tenant B receives a mail from the same person quoting A's Message-ID: B's own thread.
        let cross = "From: rene@example.com\r\nSubject: Re: [#1]\r\nMessage-ID: <x@example.com>\r\nIn-Reply-To: <first-1@example.com>\r\n\r\nhello B\r\n";
        let r = post_email(&app, &b, &inbox_b, cross).await.expect(201);
        assert_eq!(r.body["created"], true, "{db:?}");
        assert_eq!(thread(&app, &a, &conv_a).await.len(), 1, "A untouched");
        // Posting into another tenant's inbox is 404; an API key of A cannot name B's inbox.
        post_email(&app, &a, &inbox_b, FIRST_EMAIL)
            .await
            .expect_problem(404, "not_found");

        // Broken input: clear 4xx, never a crash, nothing stored.
        post_email(&app, &a, &inbox_a, "")
            .await
            .expect_problem(400, "bad_request");
        post_email(&app, &a, &inbox_a, "Subject: who?\r\n\r\nno sender")
            .await
            .expect_problem(400, "bad_request");
        let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        let r = post_email(&app, &a, &inbox_a, junk).await;
        assert!(
            r.status.is_client_error() || r.status.is_success(),
            "{}",
            r.status
        );
        let unterminated = "From: z@example.com\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%%\r\n";
        post_email(&app, &a, &inbox_a, unterminated)
            .await
            .expect(201);
        // A 50 MB attachment is over the limit: 413, nothing stored.
        let before = conversations(&app, &a, &inbox_a).await.len();
        let mut big = String::from("From: big@example.com\r\nSubject: huge\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
        let line =
            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
        while big.len() < 50 * 1024 * 1024 {
            big.push_str(line);
        }
        big.push_str("--z--\r\n");
        post_email(&app, &a, &inbox_a, big)
            .await
            .expect_problem(413, "payload_too_large");
        assert_eq!(conversations(&app, &a, &inbox_a).await.len(), before);
        // Settings for the wrong channel, bad values.
        app.call(
            Method::PUT,
            &format!("/v1/inboxes/{inbox_a}/channel"),
            Some(&a.key),
            Some(json!({"sms": {"phone_number": NUMBER, "account_sid": SID, "auth_token": TOKEN}})),
        )
        .await
        .expect_problem(400, "bad_request");
        app.call(
            Method::PUT,
            &format!("/v1/inboxes/{inbox_a}/channel"),
            Some(&a.key),
            Some(json!({"email": {"address": "not an address"}})),
        )
        .await
        .expect_problem(422, "validation_failed");
        let sms = app
            .call(
                Method::POST,
                "/v1/inboxes",
                Some(&a.key),
                Some(json!({"name": "Text", "channel": "sms"})),
            )
            .await
            .expect(201);
        let sms_id = sms.body["id"].as_str().unwrap();
        let bad = app.call(Method::PUT, &format!("/v1/inboxes/{sms_id}/channel"), Some(&a.key),
            Some(json!({"sms": {"phone_number": "12", "account_sid": "XX", "auth_token": "short"}}))).await.expect_problem(422, "validation_failed");
        let fields: Vec<&str> = bad.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, vec!["phone_number", "account_sid", "auth_token"]);
        app.call(
            Method::GET,
            &format!("/v1/inboxes/{sms_id}/channel"),
            Some(&b.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        app.stop().await;
    }
}
