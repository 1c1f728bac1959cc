//! Automation rules: triggers, conditions over the triage fields, actions taken as the rule and
//! audited, the run log, loop prevention, time-based rules, dry runs, and isolation.

use crate::triage::{put_settings, refund_or_card, upload};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_testkit::{dbs, unique, TestApp, TestTenant};

async fn post(app: &TestApp, t: &TestTenant, path: &str, body: Value) -> Value {
    app.call(Method::POST, path, Some(&t.key), Some(body))
        .await
        .expect(201)
        .body
}

async fn get(app: &TestApp, t: &TestTenant, path: &str) -> Value {
    app.call(Method::GET, path, Some(&t.key), None)
        .await
        .expect(200)
        .body
}

async fn rule(app: &TestApp, t: &TestTenant, body: Value) -> String {
    post(app, t, "/v1/automation/rules", body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn new_inbox(app: &TestApp, t: &TestTenant) -> String {
    post(
        app,
        t,
        "/v1/inboxes",
        json!({"name": unique("in"), "channel": "api"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A customer message; returns (conversation id, message id).
async fn customer_says(app: &TestApp, t: &TestTenant, inbox: &str, text: &str) -> (String, String) {
    let r = post(
        app,
        t,
        &format!("/v1/inboxes/{inbox}/messages"),
        json!({"contact": {"email": "ada@example.com", "name": "Ada"}, "content": text}),
    )
    .await;
    (
        r["conversation"]["id"].as_str().unwrap().to_owned(),
        r["message"]["id"].as_str().unwrap().to_owned(),
    )
}

async fn runs(app: &TestApp, t: &TestTenant, rule: &str) -> Vec<Value> {
    get(app, t, &format!("/v1/automation/rules/{rule}/runs")).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits (up to ten seconds) until the rule has run `n` times, then returns its runs.
async fn until_runs(app: &TestApp, t: &TestTenant, rule: &str, n: usize) -> Vec<Value> {
    let started = std::time::Instant::now();
    loop {
        let list = runs(app, t, rule).await;
        let settled = list.iter().all(|r| r["outcome"] != "running");
        if list.len() >= n && settled {
            return list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "rule {rule}: {} runs, waiting for {n}: {list:?}",
            list.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn thread(app: &TestApp, t: &TestTenant, conv: &str) -> Vec<Value> {
    get(app, t, &format!("/v1/conversations/{conv}/messages")).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn rules_act_on_triaged_messages_as_the_rule_and_are_audited() {
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("m.sbintent");
    refund_or_card().save(&path).unwrap();
    let model = std::fs::read(&path).unwrap();
    for db in dbs() {
        let app = TestApp::spawn_with(db, |cfg| cfg.triage.model_max_bytes = 4 * 1024 * 1024).await;
        let t = app.tenant().await;
        let b = app.tenant().await;
        upload(&app, &t.key, "mine", model.clone())
            .await
            .expect(201);
        put_settings(&app, &t.key, json!({"model": "custom:mine"}))
            .await
            .expect(200);
        let inbox = new_inbox(&app, &t).await;
        for name in ["refunds", "vip"] {
            post(
                &app,
                &t,
                "/v1/labels",
                json!({"name": name, "colour": "#112233"}),
            )
            .await;
        }
        let team = post(&app, &t, "/v1/teams", json!({"name": unique("billing")})).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let refunds = rule(
            &app,
            &t,
            json!({"name": "Refunds to billing", "trigger": {"type": "message_created"},
            "conditions": {"all": [
                {"field": "message.direction", "op": "eq", "value": "incoming"},
                {"field": "message.intent", "op": "in", "value": ["refund"]},
                {"field": "message.intent_confidence", "op": "gte", "value": 0.5}
            ]},
            "actions": [
                {"type": "add_labels", "labels": ["refunds"]},
                {"type": "assign_team", "team_id": team},
                {"type": "set_priority", "priority": "high"},
                {"type": "send_reply", "content": "We have your refund request."},
                {"type": "emit_event", "name": "refund_requested", "data": {"queue": "billing"}}
            ]}),
        )
        .await;
        // Reacts to the labels the first rule added: a run caused by a run.
        let flagged = rule(
            &app,
            &t,
            json!({"name": "Note refunds", "trigger": {"type": "conversation_updated"},
                "conditions": {"all": [
                    {"field": "event.type", "op": "eq", "value": "conversation.labels_changed"},
                    {"field": "conversation.labels", "op": "contains", "value": "refunds"}
                ]},
                "actions": [{"type": "add_note", "content": "Refund flagged for billing."}]}),
        )
        .await;
        let off = rule(
            &app,
            &t,
            json!({"name": "Disabled", "enabled": false, "trigger": {"type": "message_created"},
                "actions": [{"type": "add_note", "content": "never"}]}),
        )
        .await;

        let (conv, _) =
            customer_says(&app, &t, &inbox, "please refund, I want my money back").await;
        let done = until_runs(&app, &t, &refunds, 1).await;
        assert_eq!(done[0]["outcome"], "applied", "{db:?}: {done:?}");
        assert_eq!(done[0]["depth"], 0);
        assert_eq!(done[0]["conversation_id"], conv.as_str());
        let noted = until_runs(&app, &t, &flagged, 1).await;
        assert_eq!(noted[0]["outcome"], "applied", "{noted:?}");
        assert_eq!(noted[0]["depth"], 1, "caused by the first rule's labels");

        let c = get(&app, &t, &format!("/v1/conversations/{conv}")).await;
        assert_eq!(c["labels"], json!(["refunds"]));
        assert_eq!(c["team_id"], team.as_str());
        assert_eq!(c["priority"], "high");
        let msgs = thread(&app, &t, &conv).await;
        let reply = msgs
            .iter()
            .find(|m| m["content"] == "We have your refund request.")
            .expect("the rule's reply");
        assert_eq!(
            reply["sender"],
            json!({"type": "automation", "id": refunds})
        );
        assert_eq!(reply["private"], false);
        let note = msgs
            .iter()
            .find(|m| m["content"] == "Refund flagged for billing.")
            .expect("the second rule's note");
        assert_eq!(note["private"], true);
        assert_eq!(note["sender"]["id"], flagged.as_str());
        assert!(
            msgs.iter().all(|m| m["content"] != "never"),
            "disabled rules do nothing"
        );
        assert!(runs(&app, &t, &off).await.is_empty());

        // The rule's own event reached integrators, attributed to it.
        let events = get(
            &app,
            &t,
            "/v1/events?after=0&limit=500&types=automation.triggered",
        )
        .await;
        let fired = events["data"][0]["event"].clone();
        assert_eq!(fired["type"], "automation.triggered", "{events}");
        assert_eq!(fired["actor"], json!({"type": "automation", "id": refunds}));
        assert_eq!(fired["data"]["name"], "refund_requested");
        assert_eq!(fired["data"]["data"], json!({"queue": "billing"}));
        assert_eq!(fired["data"]["conversation_id"], conv.as_str());
        // And the audit log names the rule for the run and for each change it made.
        let audit = get(&app, &t, "/v1/audit-events?limit=200").await;
        let entries = audit["data"].as_array().unwrap();
        let by_rule: Vec<&str> = entries
            .iter()
            .filter(|e| e["actor"]["id"] == refunds.as_str())
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for action in [
            "automation_rule.ran",
            "conversation.labels_changed",
            "message.created",
        ] {
            assert!(by_rule.contains(&action), "{action} not in {by_rule:?}");
        }

        // A message that does not match leaves the rule alone; the conversation's runs list both.
        customer_says(&app, &t, &inbox, "I lost my card, it was stolen").await;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(600) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(runs(&app, &t, &refunds).await.len(), 1, "{db:?}");
        let on_conv = get(
            &app,
            &t,
            &format!("/v1/conversations/{conv}/automation-runs"),
        )
        .await;
        assert_eq!(on_conv["data"].as_array().unwrap().len(), 2);

        // Another tenant sees none of it and cannot point a rule at this tenant's records.
        for path in [
            format!("/v1/automation/rules/{refunds}"),
            format!("/v1/automation/rules/{refunds}/runs"),
            format!("/v1/conversations/{conv}/automation-runs"),
        ] {
            app.call(Method::GET, &path, Some(&b.key), None)
                .await
                .expect_problem(404, "not_found");
        }
        app.call(
            Method::DELETE,
            &format!("/v1/automation/rules/{refunds}"),
            Some(&b.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        let listed = get(&app, &b, "/v1/automation/rules").await;
        assert_eq!(listed["data"], json!([]));
        let foreign = app
            .call(
                Method::POST,
                "/v1/automation/rules",
                Some(&b.key),
                Some(
                    json!({"name": "steal", "trigger": {"type": "message_created"},
                    "actions": [{"type": "assign_team", "team_id": team}]}),
                ),
            )
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(foreign.body["errors"][0]["field"], "actions[0].team_id");
        // Agents and viewers do not write rules.
        let agent = post(
            &app,
            &t,
            "/v1/api-keys",
            json!({"name": "ag", "scopes": ["agent"]}),
        )
        .await;
        app.call(
            Method::POST,
            "/v1/automation/rules",
            Some(agent["secret"].as_str().unwrap()),
            Some(json!({"name": "x", "trigger": {"type": "message_created"}, "actions": [{"type": "unassign"}]})),
        )
        .await
        .expect_problem(403, "forbidden");
        app.stop().await;
    }
}

#[tokio::test]
async fn loops_stop_at_the_depth_limit_and_a_rule_never_retriggers_itself() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox = new_inbox(&app, &t).await;
        let up = rule(
            &app,
            &t,
            json!({"name": "up", "trigger": {"type": "conversation_updated"},
                "conditions": {"field": "conversation.priority", "op": "eq", "value": "high"},
                "actions": [{"type": "set_priority", "priority": "urgent"}]}),
        )
        .await;
        let down = rule(
            &app,
            &t,
            json!({"name": "down", "trigger": {"type": "conversation_updated"},
                "conditions": {"field": "conversation.priority", "op": "eq", "value": "urgent"},
                "actions": [{"type": "set_priority", "priority": "high"}]}),
        )
        .await;
        // Fires on every update, its own included: it must not feed on itself.
        let selfish = rule(
            &app,
            &t,
            json!({"name": "selfish", "trigger": {"type": "conversation_updated"},
                "conditions": {"field": "event.type", "op": "eq", "value": "conversation.status_changed"},
                "actions": [{"type": "set_status", "status": "pending"}, {"type": "set_status", "status": "open"}]}),
        )
        .await;
        let (conv, _) = customer_says(&app, &t, &inbox, "hello").await;
        app.call(
            Method::PATCH,
            &format!("/v1/conversations/{conv}"),
            Some(&t.key),
            Some(json!({"priority": "high"})),
        )
        .await
        .expect(200);
        // up (0) → down (1) → up (2) → down stopped at depth 3.
        let downs = until_runs(&app, &t, &down, 2).await;
        let ups = until_runs(&app, &t, &up, 2).await;
        let depths = |list: &[Value]| -> Vec<(i64, String)> {
            let mut d: Vec<(i64, String)> = list
                .iter()
                .map(|r| {
                    (
                        r["depth"].as_i64().unwrap(),
                        r["outcome"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            d.sort();
            d
        };
        assert_eq!(
            depths(&ups),
            vec![(0, "applied".into()), (2, "applied".into())],
            "{db:?}"
        );
        assert_eq!(
            depths(&downs),
            vec![(1, "applied".into()), (3, "loop_limit".into())],
            "{db:?}"
        );
        // Quiet afterwards: nothing more runs.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(runs(&app, &t, &up).await.len(), 2);
        assert_eq!(runs(&app, &t, &down).await.len(), 2);
        let c = get(&app, &t, &format!("/v1/conversations/{conv}")).await;
        assert_eq!(c["priority"], "urgent", "the last applied run set it");

        // A status change by a person sets `selfish` off once; its own changes do not.
        app.call(
            Method::PATCH,
            &format!("/v1/conversations/{conv}"),
            Some(&t.key),
            Some(json!({"status": "resolved"})),
        )
        .await
        .expect(200);
        let mine = until_runs(&app, &t, &selfish, 1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(runs(&app, &t, &selfish).await.len(), 1, "{db:?}: {mine:?}");
        let c = get(&app, &t, &format!("/v1/conversations/{conv}")).await;
        assert_eq!(c["status"], "open");
        app.stop().await;
    }
}

#[tokio::test]
async fn time_based_rules_fire_once_per_quiet_spell() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let inbox = new_inbox(&app, &t).await;
        post(
            &app,
            &t,
            "/v1/labels",
            json!({"name": "stale", "colour": "#445566"}),
        )
        .await;
        let stale = rule(
            &app,
            &t,
            json!({"name": "stale", "trigger": {"type": "time_based", "idle_minutes": 60},
                "conditions": {"field": "conversation.status", "op": "in", "value": ["open", "pending"]},
                "actions": [{"type": "add_labels", "labels": ["stale"]},
                            {"type": "add_note", "content": "No activity for an hour."}]}),
        )
        .await;
        let (conv, _) = customer_says(&app, &t, &inbox, "anyone there?").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(runs(&app, &t, &stale).await.is_empty(), "not quiet yet");
        app.clock.advance_ms(61 * 60_000);
        // Any commit wakes the engine at once (otherwise it looks every poll interval).
        customer_says(&app, &t, &new_inbox(&app, &t).await, "elsewhere").await;
        let done = until_runs(&app, &t, &stale, 1).await;
        assert_eq!(done[0]["outcome"], "applied", "{db:?}: {done:?}");
        assert!(done[0]["occasion"]
            .as_str()
            .unwrap()
            .starts_with(&format!("idle:{conv}:")));
        let c = get(&app, &t, &format!("/v1/conversations/{conv}")).await;
        assert_eq!(c["labels"], json!(["stale"]));
        // The rule's own note is activity, but not a new quiet spell: an hour after it, the
        // rule does not fire again on its own output.
        app.clock.advance_ms(61 * 60_000);
        customer_says(&app, &t, &new_inbox(&app, &t).await, "again").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let on_conv = |list: Vec<Value>| {
            list.into_iter()
                .filter(|r| r["conversation_id"] == conv.as_str())
                .count()
        };
        assert_eq!(on_conv(runs(&app, &t, &stale).await), 1, "{db:?}");
        // The customer writing again starts a new spell, which fires once it is an hour old.
        app.call(
            Method::POST,
            &format!("/v1/inboxes/{inbox}/messages"),
            Some(&t.key),
            Some(json!({"contact": {"email": "ada@example.com", "name": "Ada"}, "content": "still there?"})),
        )
        .await
        .expect(201);
        app.clock.advance_ms(61 * 60_000);
        customer_says(&app, &t, &new_inbox(&app, &t).await, "wake").await;
        let started = std::time::Instant::now();
        while on_conv(runs(&app, &t, &stale).await) < 2 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no second spell"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn dry_runs_show_which_rules_would_fire_and_why() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let b = app.tenant().await;
        let inbox = new_inbox(&app, &t).await;
        let cal = post(
            &app,
            &t,
            "/v1/business-calendars",
            json!({"name": "never open", "spec": {"timezone": "UTC", "hours": {}}}),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let after_hours = rule(
            &app,
            &t,
            json!({"name": "After hours", "enabled": false, "trigger": {"type": "message_created"},
                "conditions": {"all": [
                    {"field": "business_hours", "op": "eq", "value": false, "calendar_id": cal},
                    {"field": "message.content", "op": "contains", "value": "URGENT"}
                ]},
                "actions": [{"type": "send_reply", "content": "We are closed; we will answer in the morning."}]}),
        )
        .await;
        let vip = rule(
            &app,
            &t,
            json!({"name": "VIP", "enabled": false, "trigger": {"type": "message_created"},
                "conditions": {"field": "contact.email", "op": "ends_with", "value": "@bigcorp.com"},
                "actions": [{"type": "set_priority", "priority": "urgent"}]}),
        )
        .await;
        let (_, msg) = customer_says(&app, &t, &inbox, "this is urgent please").await;
        let r = app
            .call(
                Method::POST,
                "/v1/automation/dry-run",
                Some(&t.key),
                Some(json!({"message_id": msg})),
            )
            .await
            .expect(200);
        let verdicts = r.body["data"].as_array().unwrap();
        let of = |id: &str| {
            verdicts
                .iter()
                .find(|v| v["rule_id"] == id)
                .unwrap()
                .clone()
        };
        let ah = of(&after_hours);
        assert_eq!(ah["conditions"][0]["actual"], false, "{db:?}: {ah}");
        assert_eq!(ah["conditions"][1]["matched"], true);
        assert_eq!(ah["would_fire"], false, "disabled rules never fire");
        assert_eq!(of(&vip)["conditions"][0]["actual"], "ada@example.com");
        // An unsaved rule is tested as written.
        let r = app
            .call(
                Method::POST,
                "/v1/automation/dry-run",
                Some(&t.key),
                Some(
                    json!({"message_id": msg, "rule": {"trigger": {"type": "message_created"},
                    "conditions": {"field": "message.content", "op": "contains", "value": "please"},
                    "actions": [{"type": "hand_off"}]}}),
                ),
            )
            .await
            .expect(200);
        assert_eq!(r.body["data"][0]["would_fire"], true);
        // A dry run changes nothing.
        assert!(runs(&app, &t, &after_hours).await.is_empty());
        // Bad input: a malformed id, another tenant's message, an invalid rule, unknown fields.
        app.call(
            Method::POST,
            "/v1/automation/dry-run",
            Some(&t.key),
            Some(json!({"message_id": "'; DROP TABLE messages; --"})),
        )
        .await
        .expect_problem(422, "validation_failed");
        app.call(
            Method::POST,
            "/v1/automation/dry-run",
            Some(&b.key),
            Some(json!({"message_id": msg})),
        )
        .await
        .expect_problem(404, "not_found");
        app.call(
            Method::POST,
            "/v1/automation/dry-run",
            Some(&t.key),
            Some(
                json!({"message_id": msg, "rule": {"trigger": {"type": "message_created"},
                "conditions": {"field": "message.urgency", "op": "gte", "value": "apocalyptic"},
                "actions": [{"type": "hand_off"}]}}),
            ),
        )
        .await
        .expect_problem(422, "validation_failed");
        for bad in [
            json!({"name": "x", "trigger": {"type": "message_created"}, "actions": [{"type": "run_shell", "cmd": "rm -rf /"}]}),
            json!({"name": "x", "trigger": {"type": "message_created"}, "actions": []}),
            json!({"name": "", "trigger": {"type": "message_created"}, "actions": [{"type": "unassign"}]}),
            json!({"name": "x", "trigger": {"type": "message_created"}, "actions": [{"type": "add_labels", "labels": ["no-such-label"]}]}),
            json!({"name": "x", "trigger": {"type": "message_created"}, "actions": [{"type": "send_canned", "short_code": "missing"}]}),
            json!({"name": "x", "trigger": {"type": "message_created"}, "conditions": {"field": "business_hours", "op": "eq", "value": true, "calendar_id": "cal_01jd0000000000000000000000"}, "actions": [{"type": "unassign"}]}),
            json!({"name": "x".repeat(300), "trigger": {"type": "message_created"}, "actions": [{"type": "unassign"}]}),
        ] {
            app.call(
                Method::POST,
                "/v1/automation/rules",
                Some(&t.key),
                Some(bad.clone()),
            )
            .await
            .expect_problem(422, "validation_failed");
        }
        // Names are unique per tenant; a partial definition in a PATCH is refused.
        app.call(
            Method::POST,
            "/v1/automation/rules",
            Some(&t.key),
            Some(json!({"name": "VIP", "trigger": {"type": "message_created"}, "actions": [{"type": "unassign"}]})),
        )
        .await
        .expect_problem(409, "conflict");
        app.call(
            Method::PATCH,
            &format!("/v1/automation/rules/{vip}"),
            Some(&t.key),
            Some(json!({"actions": [{"type": "unassign"}]})),
        )
        .await
        .expect_problem(422, "validation_failed");
        // Enabling, reordering and deleting.
        let patched = app
            .call(
                Method::PATCH,
                &format!("/v1/automation/rules/{vip}"),
                Some(&t.key),
                Some(json!({"enabled": true, "position": 0})),
            )
            .await
            .expect(200);
        assert_eq!(patched.body["enabled"], true);
        let listed = get(&app, &t, "/v1/automation/rules").await;
        assert_eq!(
            listed["data"][0]["id"],
            vip.as_str(),
            "position 0 runs first"
        );
        app.call(
            Method::DELETE,
            &format!("/v1/automation/rules/{vip}"),
            Some(&t.key),
            None,
        )
        .await
        .expect(204);
        app.call(
            Method::GET,
            &format!("/v1/automation/rules/{vip}"),
            Some(&t.key),
            None,
        )
        .await
        .expect_problem(404, "not_found");
        app.stop().await;
    }
}
