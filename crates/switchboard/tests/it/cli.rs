//! The operator command line, run as the real binary.

use std::process::{Command, Stdio};
use switchboard_testkit::{dbs, Db};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

fn run(db: Db, dir: &std::path::Path, args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .arg("--json")
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn");
    cmd.env_remove("SWITCHBOARD_DATABASE_URL")
        .env("SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB", "1024")
        .env("SWITCHBOARD_AUTH__ARGON2_ITERATIONS", "1");
    if db == Db::Postgres {
        cmd.arg("--database-url")
            .arg(switchboard_testkit::postgres_url().unwrap());
        cmd.env(
            "SWITCHBOARD_DATABASE__MIGRATE_URL",
            switchboard_testkit::postgres_owner_url().unwrap(),
        );
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = stdout.lines().last().unwrap_or_default();
    let json = serde_json::from_str(last).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

#[tokio::test]
async fn operators_manage_tenants_and_the_verifier_catches_a_hand_edited_entry() {
    for db in dbs() {
        let dir = tempfile::tempdir().unwrap();
        let slug = switchboard_testkit::unique("cli");
        let (code, created, out) = run(
            db,
            dir.path(),
            &[
                "tenant",
                "create",
                "--slug",
                &slug,
                "--name",
                "CLI Co",
                "--plan",
                "enterprise",
            ],
        );
        assert_eq!(code, 0, "{out}");
        assert!(
            created["api_key"].as_str().unwrap().starts_with("sb_live_"),
            "{out}"
        );
        let tenant_id = created["tenant_id"].as_str().unwrap().to_owned();

        let (code, user, out) = run(
            db,
            dir.path(),
            &[
                "user",
                "create",
                "--tenant",
                &slug,
                "--email",
                "cli.agent@x.test",
                "--role",
                "agent",
            ],
        );
        assert_eq!(code, 0, "{out}");
        assert_eq!(user["role"], "agent");
        let (code, key, out) = run(
            db,
            dir.path(),
            &[
                "apikey",
                "create",
                "--tenant",
                &slug,
                "--scopes",
                "viewer,auditor",
            ],
        );
        assert_eq!(code, 0, "{out}");
        assert_eq!(key["scopes"], serde_json::json!(["auditor", "viewer"]));
        let (code, _, out) = run(
            db,
            dir.path(),
            &["apikey", "create", "--tenant", &slug, "--scopes", "root"],
        );
        assert_ne!(code, 0, "{out}");
        let (code, _, out) = run(
            db,
            dir.path(),
            &[
                "user",
                "create",
                "--tenant",
                "no-such-tenant",
                "--email",
                "a@b.test",
                "--role",
                "agent",
            ],
        );
        assert_ne!(code, 0, "{out}");

        let (code, list, _) = run(db, dir.path(), &["tenant", "list"]);
        assert_eq!(code, 0);
        assert!(list
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["slug"] == slug.as_str()));
        let (code, s, _) = run(db, dir.path(), &["tenant", "suspend", &slug]);
        assert_eq!((code, s["status"].as_str()), (0, Some("suspended")));
        let (code, s, _) = run(db, dir.path(), &["tenant", "resume", &slug]);
        assert_eq!((code, s["status"].as_str()), (0, Some("active")));

        let (code, report, out) = run(db, dir.path(), &["audit", "verify", "--tenant", &slug]);
        assert_eq!(code, 0, "{out}");
        assert_eq!(report["entries"], 5);

        // Someone with database access edits an entry by hand.
        let store = switchboard_testkit::open_store(db, dir.path()).await;
        crate::store::tamper(db, &store, &tenant_id, &format!("UPDATE audit_events SET actor_id = 'someone-else' WHERE tenant_id = '{tenant_id}' AND seq = 4")).await;
        store.writer_pool().close().await;
        let (code, report, out) = run(db, dir.path(), &["audit", "verify", "--tenant", &slug]);
        assert_eq!(code, 2, "{out}");
        assert_eq!(report["first_bad"]["seq"], 4, "{out}");
        let (code, _, out) = run(db, dir.path(), &["audit", "verify", "--platform"]);
        assert_eq!(code, 0, "{out}");
    }
}

#[test]
fn first_start_prints_the_admin_credentials_once_and_never_again() {
    let dir = tempfile::tempdir().unwrap();
    let serve_once = || -> String {
        let mut child = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--demo", "--data-dir"])
            .arg(dir.path())
            .env_remove("SWITCHBOARD_DATABASE_URL")
            .env("SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB", "1024")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut collected = String::new();
        let mut buf = [0u8; 4096];
        use std::io::Read;
        while !collected.contains("listening on") {
            let n = stdout.read(&mut buf).unwrap();
            assert!(n > 0, "serve exited early: {collected}");
            collected.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        let logs = String::from_utf8_lossy(&out.stderr).into_owned();
        let password = collected
            .lines()
            .find(|l| l.contains("password:"))
            .map(|l| l.split_whitespace().last().unwrap().to_owned());
        if let Some(p) = password {
            assert!(!logs.contains(&p), "the one-time password reached the log");
        }
        collected
    };
    let first = serve_once();
    assert!(first.contains("Platform administrator created"), "{first}");
    assert!(first.contains("Demo tenant `demo`"), "{first}");
    let second = serve_once();
    assert!(
        !second.contains("password:"),
        "credentials printed again: {second}"
    );
    assert!(second.contains("exists already"), "{second}");
}

#[test]
fn the_benchmarks_run_end_to_end_without_errors() {
    // Functional only: the figures themselves are measured in release builds (BENCHMARKS.md).
    let dir = tempfile::tempdir().unwrap();
    let ingest = [
        "bench",
        "ingest",
        "--clients",
        "2",
        "--seconds",
        "1",
        "--widget-clients",
        "2",
        "--agents",
        "3",
        "--paced-rate",
        "20",
        "--paced-seconds",
        "1",
    ];
    let api = ["bench", "api", "--clients", "2", "--seconds", "1"];
    for args in [&ingest[..], &api[..]] {
        let (code, report, out) = run(Db::Sqlite, dir.path(), args);
        assert_eq!(code, 0, "{out}");
        if let Some(paced) = report.get("delivery_paced") {
            // Every accepted message reached every agent socket.
            assert_eq!(paced["frames"], paced["expected"], "{out}");
        }
        let phases: Vec<&serde_json::Value> = ["messages", "widget_messages", "get", "post"]
            .iter()
            .filter_map(|k| report.get(*k))
            .collect();
        assert!(!phases.is_empty(), "{out}");
        for p in phases {
            assert!(p["requests"].as_u64().unwrap() > 0, "{out}");
            assert_eq!(p["errors"], 0, "{out}");
        }
    }
}

/// Runs the binary: exit code, the last line of stdout as JSON, stderr.
fn run_model(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap_or_default();
    (
        out.status.code().unwrap_or(-1),
        last,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The first `rows` rows of the shipped BANKING77 data, as a CSV file in `dir`.
fn banking_slice(
    dir: &std::path::Path,
    name: &str,
    skip: usize,
    rows: usize,
) -> std::path::PathBuf {
    let all = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packs/data/banking77.csv"),
    )
    .unwrap();
    let mut lines = all.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    // Every fifth class, so a small slice still has several.
    let mut by_class: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for l in lines {
        let class = l.rsplit(',').next().unwrap().to_owned();
        by_class.entry(class).or_default().push(l);
    }
    for (_, list) in by_class.iter().step_by(5) {
        for l in list.iter().skip(skip).take(rows) {
            out.push_str(l);
            out.push('\n');
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

#[cfg(not(feature = "encoder"))]
#[test]
fn a_build_without_the_encoder_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let enc = dir.path().join("enc");
    std::fs::create_dir(&enc).unwrap();
    std::fs::write(enc.join("model.safetensors"), b"weights").unwrap();
    let data = banking_slice(dir.path(), "train.csv", 0, 10);
    let (code, _, err) = run_model(&[
        "model",
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        dir.path().join("m.sbintent").to_str().unwrap(),
        "--encoder",
        enc.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("--features encoder"), "{err}");
}

/// The encoder path end to end with the real all-MiniLM-L6-v2 weights (CI fetches them with
/// `scripts/fetch-encoder.sh` and names them in `SWITCHBOARD_TEST_ENCODER`).
#[cfg(feature = "encoder")]
#[test]
fn model_commands_with_the_sentence_encoder() {
    let encoder = std::env::var("SWITCHBOARD_TEST_ENCODER")
        .expect("set SWITCHBOARD_TEST_ENCODER to the directory scripts/fetch-encoder.sh prints");
    let dir = tempfile::tempdir().unwrap();
    let train = banking_slice(dir.path(), "train.csv", 0, 12);
    let test = banking_slice(dir.path(), "test.csv", 12, 6);
    let model = dir.path().join("m.sbintent");
    let (code, trained, err) = run_model(&[
        "model",
        "train",
        "--data",
        train.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--encoder",
        &encoder,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(trained["encoder"]["dims"], 384, "{trained}");
    assert_eq!(trained["classes"], 16);
    // Evaluation and prediction find the encoder where training found it.
    let (code, eval, err) = run_model(&[
        "model",
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(eval["accuracy"].as_f64().unwrap() > 0.7, "{eval}");
    let (code, predicted, err) = run_model(&[
        "model",
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--encoder",
        &encoder,
        "I still have not received my card",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(predicted["predictions"][0]["confidence"].as_f64().unwrap() > 0.0);
    // Another directory without the same weights is refused.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run_model(&[
        "model",
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--encoder",
        empty.path().to_str().unwrap(),
        "hello",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("model.safetensors"), "{err}");
}

/// `switchboard model train|eval|predict` end to end on a small labelled file, and the errors an
/// operator sees for bad data and a damaged model.
#[test]
fn model_commands_train_evaluate_predict_and_refuse_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("intents.csv");
    let mut csv = String::from("text,category\n");
    for i in 0..15 {
        csv.push_str(&format!("my card has not arrived {i},card_arrival\n"));
        csv.push_str(&format!("where is my new card {i},card_arrival\n"));
        csv.push_str(&format!("\"i want a refund, order {i}\",refund\n"));
        csv.push_str(&format!("please give my money back {i},refund\n"));
    }
    std::fs::write(&data, csv).unwrap();
    let model = dir.path().join("intents.model");
    let (code, trained, err) = run_model(&[
        "model",
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--seed",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(trained["classes"], 2);
    assert_eq!(trained["examples"], 60);
    assert!(trained["train_seconds"].as_f64().unwrap() >= 0.0);

    let (code, eval, err) = run_model(&[
        "model",
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(eval["n"], 60);
    assert!(eval["accuracy"].as_f64().unwrap() > 0.9, "{eval}");
    assert!(eval["per_class"]["refund"]["f1"].as_f64().is_some());

    let (code, predicted, err) = run_model(&[
        "model",
        "predict",
        "--model",
        model.to_str().unwrap(),
        "has my new card arrived",
        "",
    ]);
    assert_eq!(code, 0, "{err}");
    let p = &predicted["predictions"];
    assert_eq!(p[0]["label"], "card_arrival", "{predicted}");
    assert_eq!(p[0]["top"].as_array().unwrap().len(), 2);
    assert_eq!(p[1]["out_of_scope"], true);

    // The speed benchmark reads any CSV with a text column.
    let texts = dir.path().join("texts.csv");
    std::fs::write(&texts, "id,text\n1,where is my card\n2,refund please\n").unwrap();
    let (code, bench, err) = run_model(&[
        "bench",
        "intent",
        "--model",
        model.to_str().unwrap(),
        "--data",
        texts.to_str().unwrap(),
        "--rounds",
        "2",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(bench["texts"], 2);
    assert!(bench["batch_messages_per_second"].as_f64().unwrap() > 0.0);

    // Bad data names the row; a damaged model is refused.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "text,category\nhello,greet\nbye,\n").unwrap();
    let (code, _, err) = run_model(&[
        "model",
        "train",
        "--data",
        bad.to_str().unwrap(),
        "--out",
        dir.path().join("x.model").to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("row 3: empty label"), "{err}");
    let mut bytes = std::fs::read(&model).unwrap();
    let last = bytes.len() - 40;
    bytes[last] ^= 0xff;
    std::fs::write(&model, bytes).unwrap();
    let (code, _, err) = run_model(&[
        "model",
        "predict",
        "--model",
        model.to_str().unwrap(),
        "hello",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("checksum"), "{err}");
}
