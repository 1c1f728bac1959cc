//! Attachments: sniffed types, safe names, blob keys from ids only, downloads that never render,
//! tenant and visitor isolation, email attachments, the S3 backend's wire format, purge.

use reqwest::Method;
use serde_json::json;
use switchboard::config::Secret;
use switchboard_testkit::{dbs, Db, HttpReceiver, Reply, TestApp, TestTenant};

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 2, 0, 0, 0,
];
const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0";

async fn conversation(app: &TestApp, t: &TestTenant) -> String {
    let inbox = app
        .call(
            Method::POST,
            "/v1/inboxes",
            Some(&t.key),
            Some(json!({"name": "Web", "channel": "api"})),
        )
        .await
        .expect(201);
    let r = app
        .call(
            Method::POST,
            &format!(
                "/v1/inboxes/{}/messages",
                inbox.body["id"].as_str().unwrap()
            ),
            Some(&t.key),
            Some(json!({"contact": {"email": "ada@example.com"}, "content": "see attached"})),
        )
        .await
        .expect(201);
    r.body["conversation"]["id"].as_str().unwrap().to_owned()
}

async fn upload(app: &TestApp, key: &str, conv: &str, name: &str, bytes: &[u8]) -> Reply {
    app.send(
        app.request(
            Method::POST,
            &format!(
                "/v1/conversations/{conv}/attachments?filename={}",
                urlencode(name)
            ),
        )
        .bearer_auth(key)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec()),
    )
    .await
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn download(app: &TestApp, key: &str, id: &str) -> reqwest::Response {
    app.request(Method::GET, &format!("/v1/attachments/{id}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path())
            } else {
                out.push(e.path())
            }
        }
    }
    out
}

#[tokio::test]
async fn agents_send_files_that_are_sniffed_named_safely_and_downloaded_as_attachments() {
    for db in dbs() {
        let app = TestApp::spawn_with(db, |cfg| cfg.attachments.max_bytes = 64 * 1024).await;
        let t = app.tenant().await;
        let conv = conversation(&app, &t).await;
        let up = upload(&app, &t.key, &conv, "../../etc/passwd.png", PNG)
            .await
            .expect(201);
        assert_eq!(up.body["filename"], "passwd.png", "{db:?}");
        assert_eq!(up.body["content_type"], "image/png");
        assert_eq!(up.body["size"], PNG.len());
        let id = up.body["id"].as_str().unwrap().to_owned();

        let sent = app
            .call(
                Method::POST,
                &format!("/v1/conversations/{conv}/messages"),
                Some(&t.key),
                Some(json!({"content": "", "attachment_ids": [id]})),
            )
            .await
            .expect(201);
        assert_eq!(sent.body["metadata"]["attachments"][0]["id"], id.as_str());
        // Sent once only.
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/messages"),
            Some(&t.key),
            Some(json!({"content": "again", "attachment_ids": [id]})),
        )
        .await
        .expect_problem(422, "validation_failed");

        let res = download(&app, &t.key, &id).await;
        assert_eq!(res.status(), 200);
        let h = res.headers().clone();
        assert_eq!(h["content-type"], "image/png");
        assert!(h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);

        // The bytes sit under the tenant's prefix, named by id; nothing took the user's name.
        let files = files_under(&app.dir.path().join("blobs"));
        assert_eq!(files.len(), 1);
        let path = files[0].to_string_lossy().to_string();
        assert!(
            path.ends_with(&format!("tenants/{}/attachments/{id}", t.id)),
            "{path}"
        );
        assert!(!path.contains("passwd"));

        // Refused: executables (whatever the name), empty, too large, unknown conversation.
        upload(&app, &t.key, &conv, "invoice.pdf", ELF)
            .await
            .expect_problem(415, "unsupported_file_type");
        upload(&app, &t.key, &conv, "empty.txt", b"")
            .await
            .expect_problem(422, "validation_failed");
        upload(&app, &t.key, &conv, "big.txt", &vec![b'a'; 65 * 1024])
            .await
            .expect_problem(413, "payload_too_large");
        upload(
            &app,
            &t.key,
            "cnv_01jd0000000000000000000000",
            "a.txt",
            b"hi",
        )
        .await
        .expect_problem(404, "not_found");
        assert_eq!(
            files_under(&app.dir.path().join("blobs")).len(),
            1,
            "refused uploads store nothing"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn attachments_never_cross_tenants_or_visitors() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let a = app.tenant().await;
        let b = app.tenant().await;
        let conv_a = conversation(&app, &a).await;
        let conv_b = conversation(&app, &b).await;
        let id = upload(&app, &a.key, &conv_a, "note.txt", b"tenant A's secret")
            .await
            .expect(201)
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(download(&app, &b.key, &id).await.status(), 404, "{db:?}");
        upload(&app, &b.key, &conv_a, "x.txt", b"intrusion")
            .await
            .expect_problem(404, "not_found");
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv_b}/messages"),
            Some(&b.key),
            Some(json!({"content": "stolen", "attachment_ids": [id]})),
        )
        .await
        .expect_problem(422, "validation_failed");
        // Another conversation of the same tenant cannot borrow it either.
        let other = {
            let inbox = app
                .call(
                    Method::POST,
                    "/v1/inboxes",
                    Some(&a.key),
                    Some(json!({"name": "Other", "channel": "api"})),
                )
                .await
                .expect(201);
            app.call(
                Method::POST,
                &format!(
                    "/v1/inboxes/{}/messages",
                    inbox.body["id"].as_str().unwrap()
                ),
                Some(&a.key),
                Some(json!({"contact": {"email": "bob@example.com"}, "content": "hi"})),
            )
            .await
            .expect(201)
            .body["conversation"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        app.call(
            Method::POST,
            &format!("/v1/conversations/{other}/messages"),
            Some(&a.key),
            Some(json!({"content": "x", "attachment_ids": [id]})),
        )
        .await
        .expect_problem(422, "validation_failed");

        // Widget: a visitor's files, an agent's file on a reply, a private note's file.
        let w = app
            .call(
                Method::POST,
                "/v1/inboxes",
                Some(&a.key),
                Some(json!({"name": "Site", "channel": "widget"})),
            )
            .await
            .expect(201);
        let public = app
            .call(
                Method::GET,
                &format!("/v1/inboxes/{}/widget", w.body["id"].as_str().unwrap()),
                Some(&a.key),
                None,
            )
            .await
            .body["public_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut tokens = Vec::new();
        for _ in 0..2 {
            let r = app
                .call(
                    Method::POST,
                    &format!("/widget/v1/{public}/sessions"),
                    None,
                    Some(json!({})),
                )
                .await
                .expect(201);
            tokens.push(r.body["session_token"].as_str().unwrap().to_owned());
        }
        let (alice, eve) = (tokens[0].clone(), tokens[1].clone());
        let visitor = |token: &str, method: Method, path: String, body: Option<Vec<u8>>| {
            let mut req = app.request(method, &path).header("x-widget-session", token);
            if let Some(b) = body {
                req = req
                    .header("content-type", "application/octet-stream")
                    .body(b)
            }
            app.send(req)
        };
        let conv = app
            .send(
                app.request(Method::POST, &format!("/widget/v1/{public}/conversations"))
                    .header("x-widget-session", &alice)
                    .json(&json!({"content": "hello"})),
            )
            .await
            .expect(201)
            .body["conversation"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mine = visitor(
            &alice,
            Method::POST,
            format!("/widget/v1/{public}/conversations/{conv}/attachments?filename=photo.png"),
            Some(PNG.to_vec()),
        )
        .await
        .expect(201);
        let mine_id = mine.body["id"].as_str().unwrap().to_owned();
        let sent = app
            .send(
                app.request(
                    Method::POST,
                    &format!("/widget/v1/{public}/conversations/{conv}/messages"),
                )
                .header("x-widget-session", &alice)
                .json(&json!({"attachment_ids": [mine_id]})),
            )
            .await
            .expect(201);
        assert_eq!(sent.body["attachments"][0]["filename"], "photo.png");
        // The agent sees it; Eve cannot fetch it or upload into Alice's conversation.
        assert_eq!(download(&app, &a.key, &mine_id).await.status(), 200);
        visitor(
            &eve,
            Method::GET,
            format!("/widget/v1/{public}/attachments/{mine_id}"),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        visitor(
            &eve,
            Method::POST,
            format!("/widget/v1/{public}/conversations/{conv}/attachments?filename=x.txt"),
            Some(b"x".to_vec()),
        )
        .await
        .expect_problem(404, "not_found");
        // A reply's file reaches Alice; a private note's does not.
        let public_file = upload(
            &app,
            &a.key,
            &conv,
            "guide.pdf",
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        )
        .await
        .expect(201)
        .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let note_file = upload(&app, &a.key, &conv, "internal.txt", b"internal only")
            .await
            .expect(201)
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/messages"),
            Some(&a.key),
            Some(json!({"content": "here", "attachment_ids": [public_file]})),
        )
        .await
        .expect(201);
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/messages"),
            Some(&a.key),
            Some(json!({"content": "note", "private": true, "attachment_ids": [note_file]})),
        )
        .await
        .expect(201);
        visitor(
            &alice,
            Method::GET,
            format!("/widget/v1/{public}/attachments/{public_file}"),
            None,
        )
        .await
        .expect(200);
        visitor(
            &alice,
            Method::GET,
            format!("/widget/v1/{public}/attachments/{note_file}"),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        // Not another tenant's attachment through this widget either.
        let b_file = upload(&app, &b.key, &conv_b, "b.txt", b"B")
            .await
            .expect(201)
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        visitor(
            &alice,
            Method::GET,
            format!("/widget/v1/{public}/attachments/{b_file}"),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_purged_tenant_loses_its_blobs_and_no_one_else_does() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let doomed = app.tenant().await;
    let kept = app.tenant().await;
    for t in [&doomed, &kept] {
        let conv = conversation(&app, t).await;
        upload(&app, &t.key, &conv, "a.txt", b"bytes")
            .await
            .expect(201);
    }
    let blobs = app.dir.path().join("blobs/tenants");
    assert!(blobs.join(&doomed.id).exists());
    app.call(
        Method::DELETE,
        &format!("/v1/tenants/{}", doomed.id),
        Some(&app.platform_token),
        None,
    )
    .await;
    app.drain_jobs().await;
    for _ in 0..100 {
        if !blobs.join(&doomed.id).exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!blobs.join(&doomed.id).exists(), "purged");
    assert!(
        blobs.join(&kept.id).exists(),
        "the other tenant keeps its files"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_s3_backend_speaks_sigv4_path_style() {
    let s3 = HttpReceiver::start(200, "").await;
    let endpoint = s3.url.clone();
    let app = TestApp::spawn_with(Db::Sqlite, move |cfg| {
        cfg.blob.backend = "s3".into();
        cfg.blob.s3_endpoint = endpoint;
        cfg.blob.s3_bucket = "sb-files".into();
        cfg.blob.s3_region = "eu-west-1".into();
        cfg.blob.s3_access_key = "AKIDEXAMPLE".into();
        cfg.blob.s3_secret_key = Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    })
    .await;
    let t = app.tenant().await;
    let conv = conversation(&app, &t).await;
    let up = upload(&app, &t.key, &conv, "hello.txt", b"hello")
        .await
        .expect(201);
    let id = up.body["id"].as_str().unwrap();
    let put = s3.taken().into_iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(
        put.path,
        format!("/sb-files/tenants/{}/attachments/{id}", t.id)
    );
    assert_eq!(put.body, b"hello");
    let auth = put.header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{auth}"
    );
    assert!(auth.contains("/eu-west-1/s3/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature="), "{auth}");
    assert_eq!(
        put.header("x-amz-content-sha256"),
        Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    );
    // Reading goes to the same key.
    s3.answer(200, "hello");
    let res = download(&app, &t.key, id).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"hello");
    let get = s3.taken().into_iter().rfind(|r| r.method == "GET").unwrap();
    assert_eq!(get.path, put.path);
    app.stop().await;
}
