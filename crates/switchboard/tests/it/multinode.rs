//! Two `switchboard serve` processes on one PostgreSQL and one NATS JetStream: an agent connected
//! to node B sees, at once, a message posted to node A, and every event is in JetStream.
//! Needs PostgreSQL and NATS (`SWITCHBOARD_TEST_NATS`); `scripts/test.sh` provides both.

use futures::StreamExt as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use switchboard_testkit::{nats_url, postgres_owner_url, postgres_url, unique, ws_connect};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

/// The environment both nodes (and the CLI) share: one database, one NATS, one server secret,
/// and feeds that would not poll within the test, so only NATS can wake node B in time.
struct Cluster {
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .arg("--data-dir")
            .arg(self.dir.path())
            .env_remove("SWITCHBOARD_DATABASE_URL")
            .env("RUST_LOG", "warn");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn node(&self, port: u16) -> Node {
        let child = self
            .command(&["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn healthy(base: &str) {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} never became ready");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn an_agent_on_node_b_sees_a_message_posted_to_node_a_through_nats() {
    let (Some(pg), Some(owner), Some(nats)) = (postgres_url(), postgres_owner_url(), nats_url())
    else {
        // Both services are required by scripts/test.sh in CI (SWITCHBOARD_REQUIRE_POSTGRES).
        assert!(
            std::env::var("SWITCHBOARD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "the multi-node test needs PostgreSQL and NATS (SWITCHBOARD_TEST_NATS)"
        );
        return;
    };
    let tag = unique("mn").replace('-', "");
    let stream = format!("SBTEST_{tag}");
    let prefix = format!("sbtest.{tag}");
    let cluster = Cluster {
        env: vec![
            ("SWITCHBOARD_DATABASE__URL".into(), pg),
            ("SWITCHBOARD_DATABASE__MIGRATE_URL".into(), owner),
            ("SWITCHBOARD_DATABASE__MAX_CONNECTIONS".into(), "4".into()),
            (
                "SWITCHBOARD_SERVER__SECRET".into(),
                format!("secret-{tag}-0123456789abcdef"),
            ),
            ("SWITCHBOARD_TENANCY__DEFAULT_REGION".into(), unique("r")),
            ("SWITCHBOARD_EVENTS__NATS__URL".into(), nats.clone()),
            ("SWITCHBOARD_EVENTS__NATS__STREAM".into(), stream.clone()),
            (
                "SWITCHBOARD_EVENTS__NATS__SUBJECT_PREFIX".into(),
                prefix.clone(),
            ),
            (
                "SWITCHBOARD_REALTIME__POLL_INTERVAL_MS".into(),
                "600000".into(),
            ),
            ("SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB".into(), "1024".into()),
            ("SWITCHBOARD_AUTH__ARGON2_ITERATIONS".into(), "1".into()),
        ],
        dir: tempfile::tempdir().unwrap(),
    };
    // A tenant and its API key, through the operator CLI.
    let out = cluster
        .command(&[
            "tenant",
            "create",
            "--slug",
            &tag,
            "--name",
            "Multi-node",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let created: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let key = created["api_key"].as_str().unwrap().to_owned();
    let tenant = created["tenant_id"].as_str().unwrap().to_owned();

    let a = cluster.node(free_port());
    healthy(&a.base).await;
    let b = cluster.node(free_port());
    healthy(&b.base).await;

    let http = reqwest::Client::new();
    let inbox: serde_json::Value = http
        .post(format!("{}/v1/inboxes", a.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "support", "channel": "api"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let inbox = inbox["id"].as_str().unwrap().to_owned();

    // The agent's socket is on node B.
    let mut agent = ws_connect(&b.base, "/v1/realtime", Some(&key), &[])
        .await
        .unwrap_or_else(|(s, body)| panic!("upgrade refused: {s} {body}"));
    agent.next_of("ready").await;

    // The message goes to node A.
    let started = std::time::Instant::now();
    let posted: serde_json::Value = http
        .post(format!("{}/v1/inboxes/{inbox}/messages", a.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"contact": {"email": "ada@example.com"}, "content": "hello from node A"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message_id = posted["message"]["id"].as_str().unwrap().to_owned();
    loop {
        let frame = agent.next_json().await;
        if frame["type"] == "event" && frame["event"]["type"] == "message.created" {
            assert_eq!(frame["event"]["data"]["message_id"], message_id.as_str());
            assert_eq!(frame["event"]["data"]["content"], "hello from node A");
            break;
        }
    }
    // Node B's feed polls every ten minutes here: only NATS can have woken it this soon.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // The event is in JetStream, on its tenant's subject, once (deduplicated by event id).
    let client = async_nats::connect(nats.as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut js_stream = js.get_stream(&stream).await.unwrap();
    let subject = format!("{prefix}.{tenant}.message.created");
    let mut found = None;
    for _ in 0..100 {
        if let Ok(m) = js_stream.get_last_raw_message_by_subject(&subject).await {
            found = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = found.expect("message.created published to JetStream");
    let envelope: serde_json::Value = serde_json::from_slice(&stored.payload).unwrap();
    assert_eq!(envelope["data"]["message_id"], message_id.as_str());
    assert_eq!(envelope["tenant_id"], tenant.as_str());
    let info = js_stream.info().await.unwrap();
    assert!(info.state.messages >= 3, "{:?}", info.state);
    let consumer = js_stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("{prefix}.{tenant}.>"),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = consumer
        .fetch()
        .max_messages(1000)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .unwrap();
    let mut ids = std::collections::HashSet::new();
    let mut total = 0;
    while let Some(Ok(m)) = batch.next().await {
        let e: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        ids.insert(e["id"].as_str().unwrap().to_owned());
        total += 1;
    }
    assert_eq!(ids.len(), total, "an event was published twice");
    let _ = js.delete_stream(&stream).await;
    drop((a, b));
}
