//! AI answers: extractive answers with citations when triage and retrieval are confident, hand-off
//! otherwise; a generative model behind the chat-completions wire format (whole and streamed),
//! with its decision as a tool call, the turn limit, the token budget and hand-off on any error.

use crate::kb::help_centre;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_testkit::{dbs, unique, HttpReceiver, TestApp, TestTenant};

async fn inbox(app: &TestApp, t: &TestTenant) -> String {
    app.call(
        Method::POST,
        "/v1/inboxes",
        Some(&t.key),
        Some(json!({"name": unique("in"), "channel": "api"})),
    )
    .await
    .expect(201)
    .body["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A customer's message (a new conversation per customer); returns the conversation id.
async fn ask(app: &TestApp, t: &TestTenant, inbox: &str, who: &str, text: &str) -> String {
    app.call(
        Method::POST,
        &format!("/v1/inboxes/{inbox}/messages"),
        Some(&t.key),
        Some(json!({"contact": {"email": format!("{who}@example.com")}, "content": text})),
    )
    .await
    .expect(201)
    .body["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until the conversation has `n` settled AI decisions.
async fn decisions(app: &TestApp, t: &TestTenant, conv: &str, n: usize) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let r = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}/ai-answers"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let list = r.body["data"].as_array().unwrap().clone();
        if list.len() >= n && list.iter().all(|a| a["action"] != "running") {
            return list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waiting for {n} decisions: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn thread(app: &TestApp, t: &TestTenant, conv: &str) -> Vec<Value> {
    app.call(
        Method::GET,
        &format!("/v1/conversations/{conv}/messages"),
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

async fn settings(app: &TestApp, t: &TestTenant, body: Value) -> Value {
    app.call(Method::PUT, "/v1/ai/settings", Some(&t.key), Some(body))
        .await
        .expect(200)
        .body
}

#[tokio::test]
async fn extractive_answers_cite_the_help_centre_and_hand_off_when_unsure() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let b = app.tenant().await;
        let (portal, slug, _) = help_centre(
            &app,
            &t,
            &["cancel_order", "get_refund", "track_order"],
            &[],
        )
        .await;
        let inbox = inbox(&app, &t).await;
        settings(
            &app,
            &t,
            json!({"enabled": true, "portal_id": portal, "max_turns": 1}),
        )
        .await;

        let conv = ask(&app, &t, &inbox, "ana", "How do I cancel my order?").await;
        let d = decisions(&app, &t, &conv, 1).await;
        assert_eq!(d[0]["action"], "reply", "{db:?}: {d:?}");
        assert_eq!(d[0]["details"]["source"], "extractive");
        assert!(d[0]["details"]["retrieval_confidence"].as_f64().unwrap() >= 0.3);
        let msgs = thread(&app, &t, &conv).await;
        let reply = msgs
            .iter()
            .find(|m| m["sender"]["type"] == "ai")
            .expect("the AI's reply");
        let text = reply["content"].as_str().unwrap();
        assert!(text.contains("Cancel"), "{text}");
        assert!(
            text.contains(&format!("/hc/{}/{slug}/en/articles/cancel-order", t.slug)),
            "{text}"
        );
        assert_eq!(reply["id"], d[0]["reply_message_id"]);

        // The turn limit (1) hands the next question to a person, with a note saying why.
        app.call(
            Method::POST,
            &format!("/v1/inboxes/{inbox}/messages"),
            Some(&t.key),
            Some(json!({"contact": {"email": "ana@example.com"}, "content": "And how do I get a refund?"})),
        )
        .await
        .expect(201);
        let d = decisions(&app, &t, &conv, 2).await;
        assert_eq!(d[1]["action"], "handoff", "{d:?}");
        assert!(d[1]["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("already answered"));
        let msgs = thread(&app, &t, &conv).await;
        assert!(msgs
            .iter()
            .any(|m| m["private"] == true && m["sender"]["type"] == "ai"));

        // A question the help centre does not answer goes to people at once; the AI then stays out.
        let other = ask(&app, &t, &inbox, "bo", "What is the capital of France?").await;
        let d = decisions(&app, &t, &other, 1).await;
        assert_eq!(d[0]["action"], "handoff", "{d:?}");
        assert!(d[0]["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("retrieval confidence"));
        ask(&app, &t, &inbox, "bo", "How do I cancel my order?").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            decisions(&app, &t, &other, 1).await.len(),
            1,
            "handed off: the AI stays out"
        );

        // The outcomes: two conversations in play, one AI-involved (then handed off), two
        // hand-offs of two taken up; the person-free resolution rate counts nothing yet.
        let since = switchboard_core::clock::rfc3339(app.clock_now() - 3_600_000);
        let until = switchboard_core::clock::rfc3339(app.clock_now() + 3_600_000);
        let r = app
            .call(
                Method::GET,
                &format!(
                    "/v1/reports/summary?since={}&until={}",
                    since.replace(':', "%3A"),
                    until.replace(':', "%3A")
                ),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let ai = &r.body["totals"]["ai"];
        assert_eq!(ai["conversations_in_play"], 2, "{db:?}: {ai}");
        assert_eq!(ai["ai_involved"], 1);
        assert_eq!(ai["ai_handoffs"], 2);
        assert_eq!(ai["involvement_rate"], 0.5);
        assert_eq!(ai["handoff_rate"], 1.0);
        assert_eq!(ai["ai_resolution_rate"], 0.0);
        assert_eq!(
            ai["deflection_rate"], 0.0,
            "handed off: it reached a person"
        );

        // Isolation and bad settings.
        app.call(
            Method::GET,
            &format!("/v1/conversations/{conv}/ai-answers"),
            Some(&b.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        for bad in [
            json!({"enabled": true, "portal_id": portal}),
            json!({"enabled": true}),
            json!({"enabled": true, "portal_id": "kbp_x", "min_retrieval_confidence": 3}),
            json!({"generative": {"base_url": "file:///etc/passwd", "model": "m"}}),
            json!({"generative": {"base_url": "http://user:pw@example.com/v1", "model": "m"}}),
            json!({"enabled": false, "surprise": 1}),
        ] {
            let r = app
                .call(
                    Method::PUT,
                    "/v1/ai/settings",
                    Some(&b.key),
                    Some(bad.clone()),
                )
                .await;
            assert_eq!(r.status.as_u16(), 422, "{bad}: {}", r.text);
        }
        let agent = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&t.key),
                Some(json!({"name": "ag", "scopes": ["agent"]})),
            )
            .await
            .expect(201);
        app.call(
            Method::PUT,
            "/v1/ai/settings",
            Some(agent.body["secret"].as_str().unwrap()),
            Some(json!({})),
        )
        .await
        .expect_problem(403, "forbidden");
        app.stop().await;
    }
}

pub(crate) fn completion(arguments: &Value, tokens: i64) -> String {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "test-model",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "respond", "arguments": arguments.to_string()}}]}}],
        "usage": {"prompt_tokens": tokens - 10, "completion_tokens": 10, "total_tokens": tokens}})
    .to_string()
}

fn streamed(arguments: &Value, tokens: i64) -> String {
    let args = arguments.to_string();
    let (a, b) = args.split_at(args.len() / 2);
    let chunks = [
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "respond", "arguments": ""}}]}}]}),
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": a}}]}}]}),
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": b}}]}}]}),
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": {"total_tokens": tokens}}),
    ];
    let mut out = String::new();
    for c in chunks {
        out.push_str(&format!("data: {c}\n\n"));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

#[tokio::test]
async fn a_generative_model_decides_through_a_tool_call_and_any_failure_hands_off() {
    for db in dbs() {
        let app =
            TestApp::spawn_with(db, |cfg| cfg.ai.allow_private = vec!["127.0.0.1/32".into()]).await;
        let t = app.tenant().await;
        let (portal, _, _) = help_centre(&app, &t, &["cancel_order", "get_refund"], &[]).await;
        let inbox = inbox(&app, &t).await;
        let llm = HttpReceiver::start(
            200,
            &completion(&json!({"action": "reply", "text": "Open Order Details and press Cancel Order.", "citations": [1]}), 120),
        )
        .await;
        let base = format!("{}v1", llm.url);
        let saved = settings(
            &app,
            &t,
            json!({"enabled": true, "portal_id": portal, "generative": {"base_url": base, "model": "test-model",
                   "api_key": "sk-test-secret", "monthly_token_budget": 300}}),
        )
        .await;
        assert_eq!(saved["generative"]["api_key_set"], true);
        assert!(
            !saved.to_string().contains("sk-test-secret"),
            "the key is never shown"
        );

        let conv = ask(&app, &t, &inbox, "ana", "How can I cancel my order?").await;
        let d = decisions(&app, &t, &conv, 1).await;
        assert_eq!(d[0]["action"], "reply", "{db:?}: {d:?}");
        assert_eq!(d[0]["details"]["source"], "generative");
        assert_eq!(d[0]["tokens"], 120);
        let msgs = thread(&app, &t, &conv).await;
        let reply = msgs.iter().find(|m| m["sender"]["type"] == "ai").unwrap();
        assert!(reply["content"]
            .as_str()
            .unwrap()
            .starts_with("Open Order Details and press Cancel Order."));
        assert!(reply["content"]
            .as_str()
            .unwrap()
            .contains("/articles/cancel-order"));
        // The request: the documented wire format, the tool forced, the key as a bearer token.
        let sent = llm.taken();
        assert_eq!(sent[0].path, "/v1/chat/completions");
        assert_eq!(
            sent[0].header("authorization"),
            Some("Bearer sk-test-secret")
        );
        let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
        assert_eq!(body["model"], "test-model");
        assert_eq!(body["tool_choice"]["function"]["name"], "respond");
        assert_eq!(body["messages"][1]["content"], "How can I cancel my order?");
        assert!(body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("[1]"));

        // Streamed: the same decision in pieces; `resolve` closes the conversation.
        settings(
            &app,
            &t,
            json!({"enabled": true, "portal_id": portal, "generative": {"base_url": base, "model": "test-model", "stream": true,
                   "monthly_token_budget": 300}}),
        )
        .await;
        llm.answer(
            200,
            &streamed(
                &json!({"action": "resolve", "text": "Refunds take 5 days.", "citations": [1]}),
                90,
            ),
        );
        let c2 = ask(&app, &t, &inbox, "bo", "How can I request a refund?").await;
        let d = decisions(&app, &t, &c2, 1).await;
        assert_eq!(d[0]["action"], "resolve", "{d:?}");
        let c = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{c2}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(c.body["status"], "resolved");
        let last: Value = serde_json::from_slice(&llm.taken().last().unwrap().body).unwrap();
        assert_eq!(last["stream"], true);
        assert_eq!(
            llm.taken().last().unwrap().header("authorization"),
            Some("Bearer sk-test-secret"),
            "an absent api_key keeps the stored one"
        );

        // Failures hand off: an error status, prose instead of the tool, a citation it was not
        // given, then the spent budget (120 + 90 of 300 used; the next call is refused before
        // it is made).
        let cases: Vec<(u16, String, &str)> = vec![
            (500, "{\"error\": {\"message\": \"overloaded\"}}".into(), "answered 500"),
            (200, json!({"choices": [{"message": {"role": "assistant", "content": "{\"action\": \"reply\"}"}}]}).to_string(), "did not call"),
            (200, completion(&json!({"action": "reply", "text": "x", "citations": [9]}), 95), "cited a passage"),
            (200, completion(&json!({"action": "reply", "text": "x", "citations": []}), 1), "budget"),
        ];
        settings(
            &app,
            &t,
            json!({"enabled": true, "portal_id": portal, "generative": {"base_url": base, "model": "test-model",
                   "monthly_token_budget": 300}}),
        )
        .await;
        for (i, (status, body, reason)) in cases.into_iter().enumerate() {
            llm.answer(status, &body);
            let before = llm.taken().len();
            let c = ask(
                &app,
                &t,
                &inbox,
                &format!("c{i}"),
                "How can I cancel my order?",
            )
            .await;
            let d = decisions(&app, &t, &c, 1).await;
            assert_eq!(d[0]["action"], "handoff", "{reason}: {d:?}");
            assert!(
                d[0]["details"]["reason"].as_str().unwrap().contains(reason),
                "{reason}: {d:?}"
            );
            if reason == "budget" {
                assert_eq!(llm.taken().len(), before, "no call past the budget");
            }
        }
        let usage = app
            .call(Method::GET, "/v1/ai/usage", Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(usage.body["tokens"], 120 + 90 + 95, "{}", usage.text);
        assert_eq!(usage.body["monthly_token_budget"], 300);
        app.call(
            Method::GET,
            "/v1/ai/usage?month=2026-13x",
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(422, "validation_failed");

        // Moving the endpoint elsewhere needs the key again: a stored key never follows the
        // address to another host.
        let r = app
            .call(
                Method::PUT,
                "/v1/ai/settings",
                Some(&t.key),
                Some(json!({"enabled": true, "portal_id": portal,
                    "generative": {"base_url": "https://attacker.example/v1", "model": "m"}})),
            )
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "generative.api_key");

        // A model that never answers: the timeout hands off.
        let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hang_url = format!("http://{}/v1", hang.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = hang.accept().await {
                held.push(s);
            }
        });
        settings(
            &app,
            &t,
            json!({"enabled": true, "portal_id": portal, "generative": {"base_url": hang_url, "model": "m",
                   "api_key": "sk-other", "timeout_ms": 1000, "monthly_token_budget": 100000}}),
        )
        .await;
        let c = ask(&app, &t, &inbox, "slow", "How can I cancel my order?").await;
        let d = decisions(&app, &t, &c, 1).await;
        assert_eq!(d[0]["action"], "handoff");
        assert!(
            d[0]["details"]["reason"]
                .as_str()
                .unwrap()
                .contains("in time"),
            "{d:?}"
        );

        // An endpoint at a metadata address is refused without a call, and hands off.
        settings(
            &app,
            &t,
            json!({"enabled": true, "portal_id": portal, "generative": {"base_url": "http://169.254.169.254/v1", "model": "m", "api_key": ""}}),
        )
        .await;
        let c = ask(&app, &t, &inbox, "ssrf", "How can I cancel my order?").await;
        let d = decisions(&app, &t, &c, 1).await;
        assert_eq!(d[0]["action"], "handoff");
        assert!(
            d[0]["details"]["reason"]
                .as_str()
                .unwrap()
                .contains("not allowed"),
            "{d:?}"
        );
        app.stop().await;
    }
}
