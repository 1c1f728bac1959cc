//! Triage on every inbound message: stored on the message, returned by the API, carried by its
//! events, searchable; per-tenant models (packs and uploads) with hot reload; redaction before
//! storage; failures that leave messages untriaged, never lost.

use reqwest::Method;
use serde_json::{json, Value};
use std::path::Path;
use switchboard_nlp::dataset::Example;
use switchboard_nlp::intent::{IntentModel, TrainOptions};
use switchboard_testkit::{dbs, Reply, TestApp, TestTenant};

/// A small model over `labels`, each learnt from a few phrasings of its own words.
pub(crate) fn model(labels: &[(&str, &[&str])]) -> IntentModel {
    let mut data = Vec::new();
    for (label, words) in labels {
        for w in *words {
            for frame in [
                "{}",
                "I need help with {}",
                "question about {} please",
                "{} again",
            ] {
                data.push(Example {
                    text: frame.replace("{}", w),
                    label: (*label).to_owned(),
                });
            }
        }
    }
    IntentModel::train(&data, None, &TrainOptions::default()).unwrap()
}

pub(crate) fn refund_or_card() -> IntentModel {
    model(&[
        ("refund", &["refund", "money back", "return my order"]),
        ("card_lost", &["lost card", "stolen card", "card missing"]),
    ])
}

fn save(m: &IntentModel, path: &Path) {
    m.save(path).unwrap();
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

async fn send(app: &TestApp, t: &TestTenant, inbox: &str, who: &str, text: &str) -> Reply {
    app.call(
        Method::POST,
        &format!("/v1/inboxes/{inbox}/messages"),
        Some(&t.key),
        Some(json!({"contact": {"email": format!("{who}@example.com")}, "content": text})),
    )
    .await
}

/// An agent's real-time socket, ready.
async fn agent_socket(app: &TestApp, key: &str) -> switchboard_testkit::WsClient {
    let mut ws = app
        .ws("/v1/realtime", Some(key), &[])
        .await
        .unwrap_or_else(|(s, b)| panic!("upgrade refused: {s} {b}"));
    ws.next_of("ready").await;
    ws
}

pub(crate) async fn put_settings(app: &TestApp, key: &str, body: Value) -> Reply {
    app.call(Method::PUT, "/v1/triage/settings", Some(key), Some(body))
        .await
}

pub(crate) async fn upload(app: &TestApp, key: &str, name: &str, bytes: Vec<u8>) -> Reply {
    app.send(
        app.request(Method::PUT, &format!("/v1/triage/models/{name}"))
            .bearer_auth(key)
            .header("content-type", "application/octet-stream")
            .body(bytes),
    )
    .await
}

#[tokio::test]
async fn every_inbound_message_is_triaged_and_its_event_says_so() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox = inbox(&app, &t).await;
        let mut ws = agent_socket(&app, &t.key).await;
        let r = send(
            &app,
            &t,
            &inbox,
            "ana",
            "My card 4242 4242 4242 4242 was stolen and nobody answers, this is terrible!",
        )
        .await
        .expect(201);
        let triage = &r.body["message"]["triage"];
        assert_eq!(triage["status"], "triaged", "{db:?} {triage}");
        assert_eq!(triage["language"], "eng");
        assert_eq!(triage["sentiment_label"], "negative");
        assert_eq!(triage["urgency"], "urgent");
        assert_eq!(triage["redacted"], false);
        assert_eq!(triage["pii"][0]["kind"], "card");
        // Without a model there is no intent, and saying so is not an error.
        assert!(triage.get("intent").is_none());
        // The spans point into the stored content.
        let content = r.body["message"]["content"].as_str().unwrap();
        let (s, e) = (
            triage["pii"][0]["start"].as_u64().unwrap() as usize,
            triage["pii"][0]["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(&content[s..e], "4242 4242 4242 4242");

        // Stored: the conversation's messages carry the same triage.
        let conv = r.body["conversation"]["id"].as_str().unwrap();
        let listed = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}/messages"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(&listed.body["data"][0]["triage"], triage, "{db:?}");
        // And the event.
        loop {
            let f = ws.next_of("event").await;
            if f["event"]["type"] == "message.created" {
                assert_eq!(&f["event"]["data"]["triage"], triage, "{db:?}");
                break;
            }
        }
        // An agent's reply is not triaged.
        let reply = app
            .call(
                Method::POST,
                &format!("/v1/conversations/{conv}/messages"),
                Some(&t.key),
                Some(json!({"content": "So sorry, blocking it now"})),
            )
            .await
            .expect(201);
        assert!(reply.body.get("triage").is_none(), "{}", reply.body);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_pack_model_classifies_and_a_replaced_pack_file_takes_over_without_restart() {
    let packs = tempfile::tempdir().unwrap();
    save(&refund_or_card(), &packs.path().join("shop.sbintent"));
    for db in dbs() {
        let dir = packs.path().to_owned();
        let app = TestApp::spawn_with(db, |cfg| {
            cfg.triage.packs_dir = dir.to_string_lossy().into_owned();
            cfg.triage.settings_ttl_ms = 0;
        })
        .await;
        let t = app.tenant().await;
        let inbox = inbox(&app, &t).await;
        let packs_list = app
            .call(Method::GET, "/v1/triage/packs", Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(packs_list.body["data"], json!(["shop"]));
        put_settings(&app, &t.key, json!({"model": "pack:nope"}))
            .await
            .expect_problem(422, "validation_failed");
        let saved = put_settings(
            &app,
            &t.key,
            json!({"model": "pack:shop", "urgency": {"urgent_terms": [], "high_terms": [], "urgent_intents": ["card_lost"],
                   "high_intents": [], "low_intents": ["refund"], "angry_below": -0.9}}),
        )
        .await
        .expect(200);
        assert_eq!(saved.body["model"], "pack:shop");
        let m = send(
            &app,
            &t,
            &inbox,
            "bo",
            "I want my money back for this order",
        )
        .await
        .expect(201);
        let triage = &m.body["message"]["triage"];
        assert_eq!(triage["intent"], "refund", "{db:?} {triage}");
        assert_eq!(triage["intent_model"], "pack:shop");
        assert!(triage["intent_confidence"].as_f64().unwrap() > 0.0);
        assert_eq!(triage["intent_top"].as_array().unwrap().len(), 2);
        // The tenant's rules apply: no urgent terms, but the card_lost intent is urgent.
        let m = send(&app, &t, &inbox, "cy", "my card is missing, lost card")
            .await
            .expect(201);
        assert_eq!(m.body["message"]["triage"]["intent"], "card_lost");
        assert_eq!(m.body["message"]["triage"]["urgency"], "urgent");

        // The operator replaces the pack file: the next message uses the new model.
        let newer = model(&[
            ("billing", &["invoice", "bill", "charged"]),
            ("delivery", &["parcel", "courier", "shipping"]),
        ]);
        save(&newer, &packs.path().join("shop.sbintent.tmp"));
        std::fs::rename(
            packs.path().join("shop.sbintent.tmp"),
            packs.path().join("shop.sbintent"),
        )
        .unwrap();
        let m = send(
            &app,
            &t,
            &inbox,
            "di",
            "where is my parcel, the courier never came",
        )
        .await
        .expect(201);
        assert_eq!(m.body["message"]["triage"]["intent"], "delivery", "{db:?}");
        // Put the first model back for the next backend.
        save(&refund_or_card(), &packs.path().join("shop.sbintent"));
        app.stop().await;
    }
}

#[tokio::test]
async fn uploaded_models_belong_to_their_tenant_and_bad_files_change_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("m.sbintent");
    save(&refund_or_card(), &path);
    let bytes = std::fs::read(&path).unwrap();
    for db in dbs() {
        let app = TestApp::spawn_with(db, |cfg| cfg.triage.model_max_bytes = 4 * 1024 * 1024).await;
        let a = app.tenant().await;
        let b = app.tenant().await;
        let inbox_a = inbox(&app, &a).await;

        let up = upload(&app, &a.key, "mine", bytes.clone())
            .await
            .expect(201);
        // Replacing keeps one copy of the bytes; the old one goes.
        let models_dir = app
            .dir
            .path()
            .join(format!("blobs/tenants/{}/models", a.id));
        let stored = || std::fs::read_dir(&models_dir).map_or(0, |d| d.count());
        let again = upload(&app, &a.key, "mine", bytes.clone())
            .await
            .expect(200);
        assert_ne!(again.body["id"], up.body["id"]);
        assert_eq!(stored(), 1, "{db:?}");
        let up = again;
        assert_eq!(up.body["labels"], json!(["card_lost", "refund"]));
        assert_eq!(up.body["size_bytes"], bytes.len());
        put_settings(&app, &a.key, json!({"model": "custom:mine"}))
            .await
            .expect(200);
        let m = send(
            &app,
            &a,
            &inbox_a,
            "ana",
            "please refund, I want my money back",
        )
        .await
        .expect(201);
        assert_eq!(m.body["message"]["triage"]["intent"], "refund", "{db:?}");
        assert_eq!(m.body["message"]["triage"]["intent_model"], "custom:mine");

        // Tenant B sees none of it and cannot select it.
        let listed = app
            .call(Method::GET, "/v1/triage/models", Some(&b.key), None)
            .await
            .expect(200);
        assert_eq!(listed.body["data"], json!([]), "{db:?}");
        put_settings(&app, &b.key, json!({"model": "custom:mine"}))
            .await
            .expect_problem(422, "validation_failed");
        app.call(Method::DELETE, "/v1/triage/models/mine", Some(&b.key), None)
            .await
            .expect(404);

        // Corrupt, truncated, foreign and oversized files are refused; the model stays.
        let mut flipped = bytes.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        for bad in [
            flipped,
            bytes[..bytes.len() / 3].to_vec(),
            b"PK\x03\x04 not a model".to_vec(),
            Vec::new(),
        ] {
            upload(&app, &a.key, "mine", bad)
                .await
                .expect_problem(422, "validation_failed");
        }
        upload(&app, &a.key, "mine", vec![0; 5 * 1024 * 1024])
            .await
            .expect(413);
        for name in ["UPPER", "a.b", "x%2F..%2Fy", &"n".repeat(65)] {
            let r = upload(&app, &a.key, name, bytes.clone()).await;
            assert!(
                r.status == 422 || r.status == 404,
                "{name}: {} {}",
                r.status,
                r.body
            );
        }
        let listed = app
            .call(Method::GET, "/v1/triage/models", Some(&a.key), None)
            .await
            .expect(200);
        assert_eq!(listed.body["data"].as_array().unwrap().len(), 1, "{db:?}");
        assert_eq!(listed.body["data"][0]["sha256"], up.body["sha256"]);

        // An agent cannot upload or change settings.
        let agent = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&a.key),
                Some(json!({"name": "agent", "scopes": ["agent"]})),
            )
            .await
            .expect(201);
        let agent = agent.body["secret"].as_str().unwrap().to_owned();
        upload(&app, &agent, "theirs", bytes.clone())
            .await
            .expect(403);
        put_settings(&app, &agent, json!({"enabled": false}))
            .await
            .expect(403);

        // A selected model cannot be deleted; after switching away it can.
        app.call(Method::DELETE, "/v1/triage/models/mine", Some(&a.key), None)
            .await
            .expect(400);
        put_settings(&app, &a.key, json!({})).await.expect(200);
        app.call(Method::DELETE, "/v1/triage/models/mine", Some(&a.key), None)
            .await
            .expect(204);
        assert_eq!(stored(), 0, "deleted models leave no bytes behind");
        app.stop().await;
    }
}

#[tokio::test]
async fn redaction_before_storage_keeps_the_original_out_of_storage_search_and_events() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox = inbox(&app, &t).await;
        put_settings(
            &app,
            &t.key,
            json!({"redaction": {"before_storage": true, "mode": "mask", "modes": {"card": "partial", "email": "hash"}}}),
        )
        .await
        .expect(200);
        let mut ws = agent_socket(&app, &t.key).await;
        let original = "card 4111 1111 1111 1111, ssn 123-45-6789, write to me@patient.example";
        let r = send(&app, &t, &inbox, "pat", original).await.expect(201);
        let content = r.body["message"]["content"].as_str().unwrap().to_owned();
        assert!(
            content.starts_with("card •••• 1111, ssn [SSN], write to [EMAIL:"),
            "{db:?} {content}"
        );
        for secret in [
            "4111 1111 1111 1111",
            "123-45-6789",
            "me@patient.example",
            "patient",
        ] {
            assert!(!content.contains(secret), "{secret} in {content}");
        }
        assert_eq!(r.body["message"]["triage"]["redacted"], true);
        let spans: Vec<String> = r.body["message"]["triage"]["pii"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                content[p["start"].as_u64().unwrap() as usize..p["end"].as_u64().unwrap() as usize]
                    .to_owned()
            })
            .collect();
        assert_eq!(spans[..2], ["•••• 1111".to_owned(), "[SSN]".to_owned()]);

        // Not in the search index, not in the event.
        for q in ["6789", "patient", "4111"] {
            let hits = app
                .call(
                    Method::GET,
                    &format!("/v1/search/messages?q={q}"),
                    Some(&t.key),
                    None,
                )
                .await
                .expect(200);
            assert_eq!(hits.body["data"], json!([]), "{db:?} {q}");
        }
        loop {
            let f = ws.next_of("event").await;
            if f["event"]["type"] == "message.created" {
                let text = f.to_string();
                assert!(
                    !text.contains("123-45-6789") && !text.contains("patient.example"),
                    "{text}"
                );
                break;
            }
        }
        // Not in the database either: read every message row of the tenant.
        let conv = r.body["conversation"]["id"].as_str().unwrap();
        let stored = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(stored.body["messages"][0]["content"], content.as_str());
        // The same email in another message hashes to the same token (the tenant's key).
        let again = send(&app, &t, &inbox, "pat", "again: me@patient.example")
            .await
            .expect(201);
        let token = &content[content.find("[EMAIL:").unwrap()..];
        assert!(
            again.body["message"]["content"]
                .as_str()
                .unwrap()
                .ends_with(token),
            "{}",
            again.body["message"]["content"]
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_broken_model_leaves_messages_untriaged_but_stored_and_redacted() {
    let packs = tempfile::tempdir().unwrap();
    std::fs::write(
        packs.path().join("broken.sbintent"),
        b"SBINTENT but not really",
    )
    .unwrap();
    for db in dbs() {
        let dir = packs.path().to_owned();
        let app = TestApp::spawn_with(db, |cfg| {
            cfg.triage.packs_dir = dir.to_string_lossy().into_owned();
        })
        .await;
        let t = app.tenant().await;
        let inbox = inbox(&app, &t).await;
        put_settings(
            &app,
            &t.key,
            json!({"model": "pack:broken", "redaction": {"before_storage": true}}),
        )
        .await
        .expect(200);
        for n in 0..2 {
            let r = send(&app, &t, &inbox, "ed", "my ssn is 123-45-6789, please help")
                .await
                .expect(201);
            let triage = &r.body["message"]["triage"];
            assert_eq!(triage["status"], "untriaged", "{db:?} {n} {triage}");
            assert_eq!(triage["error"], "model_unavailable");
            assert_eq!(triage["pii"][0]["kind"], "us_ssn");
            assert_eq!(r.body["message"]["content"], "my ssn is [SSN], please help");
        }
        let found = app
            .call(
                Method::GET,
                "/v1/search/messages?q=help",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(found.body["data"].as_array().unwrap().len(), 2, "{db:?}");
        app.stop().await;
    }
}

#[tokio::test]
async fn searches_filter_on_triage_within_the_tenant() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let a = app.tenant().await;
        let b = app.tenant().await;
        let ia = inbox(&app, &a).await;
        let ib = inbox(&app, &b).await;
        // Short messages are told apart better among the languages a tenant serves.
        put_settings(&app, &a.key, json!({"languages": ["eng", "spa"]}))
            .await
            .expect(200);
        send(
            &app,
            &a,
            &ia,
            "u1",
            "Fraud on my account, someone hacked it!",
        )
        .await
        .expect(201);
        send(
            &app,
            &a,
            &ia,
            "u2",
            "Thanks so much, the new app is wonderful",
        )
        .await
        .expect(201);
        send(
            &app,
            &a,
            &ia,
            "u3",
            "Where can I update my billing email a@b.io",
        )
        .await
        .expect(201);
        send(&app, &b, &ib, "u4", "Fraud alert, my account was hacked")
            .await
            .expect(201);

        let texts = |r: Reply| -> Vec<String> {
            r.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["content"].as_str().unwrap().to_owned())
                .collect()
        };
        let urgent = app
            .call(
                Method::GET,
                "/v1/search/messages?urgency=urgent",
                Some(&a.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(
            texts(urgent),
            ["Fraud on my account, someone hacked it!"],
            "{db:?}"
        );
        let positive = app
            .call(
                Method::GET,
                "/v1/search/messages?sentiment=positive&language=eng",
                Some(&a.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(
            texts(positive),
            ["Thanks so much, the new app is wonderful"],
            "{db:?}"
        );
        let pii = app
            .call(
                Method::GET,
                "/v1/search/messages?has_pii=true",
                Some(&a.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(
            texts(pii),
            ["Where can I update my billing email a@b.io"],
            "{db:?}"
        );
        // Words and filters together.
        let both = app
            .call(
                Method::GET,
                "/v1/search/conversations?q=account&urgency=urgent",
                Some(&a.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(both.body["data"].as_array().unwrap().len(), 1, "{db:?}");
        let none = app
            .call(
                Method::GET,
                "/v1/search/messages?q=thanks&urgency=urgent",
                Some(&a.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(none.body["data"], json!([]));
        // Bad filters are refused; a filter with no words still needs one on contacts.
        for bad in [
            "/v1/search/messages?urgency=extreme",
            "/v1/search/messages?language=english",
            "/v1/search/messages?sentiment=angry",
            "/v1/search/messages?has_pii=maybe",
            "/v1/search/messages",
            "/v1/search/contacts?urgency=urgent",
        ] {
            let r = app.call(Method::GET, bad, Some(&a.key), None).await;
            assert_eq!(r.status, 422, "{bad}: {}", r.body);
        }
        let injected = app
            .call(
                Method::GET,
                "/v1/search/messages?intent=x'%20OR%201=1%20--",
                Some(&a.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(injected.body["data"], json!([]));
        app.stop().await;
    }
}

#[tokio::test]
async fn settings_are_validated_and_previewed_without_storing() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let defaults = app
            .call(Method::GET, "/v1/triage/settings", Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(defaults.body["enabled"], true);
        assert_eq!(defaults.body["redaction"]["before_storage"], false);
        for bad in [
            json!({"surprise": true}),
            json!({"languages": ["english"]}),
            json!({"model": "pack:../../etc/passwd"}),
            json!({"model": "custom:"}),
            json!({"redaction": {"mode": "shred"}}),
            json!({"redaction": {"kinds": ["dna"]}}),
            json!({"urgency": {"urgent_terms": [""], "high_terms": [], "urgent_intents": [], "high_intents": [], "low_intents": [], "angry_below": 0.0}}),
            json!({"urgency": {"urgent_terms": [], "high_terms": [], "urgent_intents": [], "high_intents": [], "low_intents": [], "angry_below": 7.0}}),
        ] {
            let r = put_settings(&app, &t.key, bad.clone()).await;
            assert_eq!(r.status, 422, "{db:?} {bad}: {}", r.body);
        }
        let after = app
            .call(Method::GET, "/v1/triage/settings", Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(after.body, defaults.body, "refused settings change nothing");

        put_settings(
            &app,
            &t.key,
            json!({"languages": ["eng", "fra"], "redaction": {"before_storage": true, "kinds": ["card"]}}),
        )
        .await
        .expect(200);
        let p = app
            .call(
                Method::POST,
                "/v1/triage/preview",
                Some(&t.key),
                Some(json!({"text": "Bonjour, ma carte 4242 4242 4242 4242 a été volée, écrivez à a@b.fr"})),
            )
            .await
            .expect(200);
        assert_eq!(
            p.body["content"],
            "Bonjour, ma carte [CARD] a été volée, écrivez à a@b.fr"
        );
        assert_eq!(p.body["triage"]["language"], "fra");
        let kinds: Vec<&str> = p.body["triage"]["pii"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["card", "email"]);
        for bad in [
            json!({"text": ""}),
            json!({"text": "x".repeat(70_000)}),
            json!({}),
        ] {
            let r = app
                .call(Method::POST, "/v1/triage/preview", Some(&t.key), Some(bad))
                .await;
            assert_eq!(r.status, 422, "{db:?}");
        }
        let searched = app
            .call(
                Method::GET,
                "/v1/search/messages?q=Bonjour",
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(searched.body["data"], json!([]), "a preview stores nothing");
        app.stop().await;
    }
}

/// A tenant's model with sentence-encoder features triages messages too (the encoder runs off
/// the async threads, within the budget). Needs the real encoder: see scripts/test.sh.
#[cfg(feature = "encoder")]
#[tokio::test]
async fn an_uploaded_encoder_model_triages_inbound_messages() {
    let dir = std::env::var("SWITCHBOARD_TEST_ENCODER")
        .expect("set SWITCHBOARD_TEST_ENCODER to the directory scripts/fetch-encoder.sh prints");
    let enc = std::sync::Arc::new(
        switchboard_nlp::encoder::SentenceEncoder::load(Path::new(&dir)).unwrap(),
    );
    let mut data = Vec::new();
    for (label, texts) in [
        (
            "refund",
            [
                "I want my money back",
                "refund my order please",
                "can I return this and get a refund",
            ],
        ),
        (
            "card_lost",
            [
                "I lost my card",
                "my card was stolen",
                "I can't find my bank card anywhere",
            ],
        ),
    ] {
        for t in texts {
            data.push(Example {
                text: t.to_owned(),
                label: label.to_owned(),
            });
        }
    }
    let model = IntentModel::train_with(&data, None, &TrainOptions::default(), Some(enc)).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("enc.sbintent");
    save(&model, &path);
    for db in dbs() {
        // Without a configured encoder the server refuses the model (and never reads the path
        // the file records).
        let bare = TestApp::spawn(db).await;
        let t = bare.tenant().await;
        let r = upload(&bare, &t.key, "semantic", std::fs::read(&path).unwrap()).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(
            r.body.to_string().contains("triage.encoder_dir"),
            "{}",
            r.body
        );
        bare.stop().await;

        let enc_dir = dir.clone();
        let app = TestApp::spawn_with(db, move |cfg| {
            cfg.triage.budget_ms = 30_000;
            cfg.triage.encoder_dir = enc_dir;
        })
        .await;
        let t = app.tenant().await;
        let inbox = inbox(&app, &t).await;
        upload(&app, &t.key, "semantic", std::fs::read(&path).unwrap())
            .await
            .expect(201);
        put_settings(&app, &t.key, json!({"model": "custom:semantic"}))
            .await
            .expect(200);
        let r = send(
            &app,
            &t,
            &inbox,
            "ana",
            "somebody took my wallet with the card inside",
        )
        .await
        .expect(201);
        let triage = &r.body["message"]["triage"];
        assert_eq!(triage["status"], "triaged", "{db:?} {triage}");
        assert_eq!(triage["intent"], "card_lost", "{db:?} {triage}");
        app.stop().await;
    }
}

/// The regulated packs' policies (packs/policies) are valid settings, and do what
/// packs/README.md says once their packs are installed.
#[tokio::test]
async fn the_healthcare_and_legal_policies_apply_as_settings() {
    use switchboard_nlp::dataset::{load, Columns, Format};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packs");
    let packs = tempfile::tempdir().unwrap();
    for name in ["healthcare", "legal"] {
        let lists = load(
            &root.join(format!("data/{name}.csv")),
            Format::Csv,
            &Columns::default(),
        )
        .unwrap();
        let m = IntentModel::train(&lists[0].1, None, &TrainOptions::default()).unwrap();
        save(&m, &packs.path().join(format!("{name}.sbintent")));
    }
    let policy = |name: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(root.join(format!("policies/{name}.json"))).unwrap(),
        )
        .unwrap()
    };
    for db in dbs() {
        let dir = packs.path().to_owned();
        let app = TestApp::spawn_with(db, |cfg| {
            cfg.triage.packs_dir = dir.to_string_lossy().into_owned();
        })
        .await;
        let clinic = app.tenant().await;
        let firm = app.tenant().await;
        put_settings(&app, &clinic.key, policy("healthcare"))
            .await
            .expect(200);
        put_settings(&app, &firm.key, policy("legal"))
            .await
            .expect(200);

        let inbox_c = inbox(&app, &clinic).await;
        let r = send(
            &app,
            &clinic,
            &inbox_c,
            "pat",
            "My father has chest pain and can't breathe, his MRN is 00123456, call 415-555-0132",
        )
        .await
        .expect(201);
        let m = &r.body["message"];
        assert_eq!(m["triage"]["urgency"], "urgent", "{db:?} {m}");
        assert_eq!(m["triage"]["intent"], "urgent_symptoms", "{db:?} {m}");
        let content = m["content"].as_str().unwrap();
        assert!(
            !content.contains("00123456") && !content.contains("555-0132"),
            "{content}"
        );

        let inbox_f = inbox(&app, &firm).await;
        let r = send(
            &app,
            &firm,
            &inbox_f,
            "client",
            "I was served with papers today and have 20 days to respond. My SSN is 123-45-6789, email me at c@client.example",
        )
        .await
        .expect(201);
        let m = &r.body["message"];
        assert_eq!(m["triage"]["urgency"], "urgent", "{db:?} {m}");
        let content = m["content"].as_str().unwrap();
        // Government ids go; the client's contact details stay.
        assert!(
            content.contains("[SSN]") && content.contains("c@client.example"),
            "{content}"
        );
        app.stop().await;
    }
}

/// A tenant with labelled sentiment data trains a sentiment model with the same trainer and
/// selects it instead of the lexicon; a model that is not one is refused.
#[tokio::test]
async fn a_supervised_sentiment_model_replaces_the_lexicon() {
    // Support slang the lexicon does not know: "meh" and "mid" are negative here.
    let tone = model(&[
        (
            "negative",
            &["meh service", "mid support", "meh response", "so mid"],
        ),
        (
            "positive",
            &[
                "stellar help",
                "top notch",
                "stellar support",
                "top notch service",
            ],
        ),
        (
            "neutral",
            &[
                "order status",
                "opening hours",
                "account settings",
                "delivery address",
            ],
        ),
    ]);
    let scratch = tempfile::tempdir().unwrap();
    let tone_path = scratch.path().join("tone.sbintent");
    save(&tone, &tone_path);
    let intents_path = scratch.path().join("intents.sbintent");
    save(&refund_or_card(), &intents_path);
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox = inbox(&app, &t).await;
        let before = send(&app, &t, &inbox, "a", "your support was mid, honestly meh")
            .await
            .expect(201);
        assert!(before.body["message"]["triage"]
            .get("sentiment_model")
            .is_none());
        upload(&app, &t.key, "tone", std::fs::read(&tone_path).unwrap())
            .await
            .expect(201);
        upload(
            &app,
            &t.key,
            "intents",
            std::fs::read(&intents_path).unwrap(),
        )
        .await
        .expect(201);
        put_settings(&app, &t.key, json!({"sentiment_model": "custom:intents"}))
            .await
            .expect_problem(422, "validation_failed");
        put_settings(&app, &t.key, json!({"sentiment_model": "custom:tone"}))
            .await
            .expect(200);
        let after = send(&app, &t, &inbox, "b", "your support was mid, honestly meh")
            .await
            .expect(201);
        let triage = &after.body["message"]["triage"];
        assert_eq!(triage["sentiment_model"], "custom:tone", "{db:?} {triage}");
        assert_eq!(triage["sentiment_label"], "negative", "{db:?} {triage}");
        assert!(triage["sentiment"].as_f64().unwrap() < 0.0);
        // Selected, so not deletable.
        app.call(Method::DELETE, "/v1/triage/models/tone", Some(&t.key), None)
            .await
            .expect(400);
        app.stop().await;
    }
}
