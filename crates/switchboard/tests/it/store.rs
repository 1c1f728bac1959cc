//! The store conformance suite: the same assertions on both backends.

use std::sync::Arc;
use switchboard_core::audit::{self, AuditDraft, RequestMeta};
use switchboard_core::ratelimit::InMemoryRateLimiter;
use switchboard_core::{Core, CoreConfig, ManualClock};
use switchboard_store::model::{NewJob, PageRequest};
use switchboard_store::schema::tenancy_violations;
use switchboard_store::sql::{introspect_schema, SqlStore};
use switchboard_store::{Access, Store, TenantCtx};
use switchboard_testkit::{dbs, open_store, unique, Db};
use switchboard_types::{Actor, Plan};

async fn core_over(store: SqlStore) -> (Arc<Core>, ManualClock) {
    let clock = ManualClock::new(1_800_000_000_000);
    let cfg = CoreConfig {
        password_cost: switchboard_core::password::PasswordCost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        ..Default::default()
    };
    let core = Core::new(
        Arc::new(store),
        Arc::new(clock.clone()),
        Arc::new(InMemoryRateLimiter::new(Arc::new(clock.clone()))),
        cfg,
    )
    .unwrap();
    core.ensure_local_cell().await.unwrap();
    (Arc::new(core), clock)
}

pub async fn provision(core: &Core) -> switchboard_core::tenants::Provisioned {
    let slug = unique("s");
    core.provision_tenant_as_system(
        switchboard_core::tenants::NewTenant {
            slug: slug.clone(),
            name: slug.clone(),
            plan: Plan::Starter,
            region: None,
            partner_id: None,
            admin_email: format!("owner@{slug}.test"),
            admin_name: None,
            admin_password: Some("correct horse battery staple".into()),
        },
        &RequestMeta::default(),
    )
    .await
    .unwrap()
}

#[allow(clippy::disallowed_methods)] // tests build contexts directly
pub fn ctx(t: &switchboard_store::model::Tenant) -> TenantCtx {
    TenantCtx::assume(t.id.clone(), Actor::system("test"), t.region.clone())
}

#[tokio::test]
async fn every_table_follows_the_tenancy_rules_on_both_backends() {
    for db in dbs() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(db, dir.path()).await;
        let shapes = introspect_schema(&store).await.unwrap();
        assert!(
            shapes.len() >= 15,
            "{db:?}: found only {} tables",
            shapes.len()
        );
        let violations = tenancy_violations(&shapes);
        assert!(violations.is_empty(), "{db:?}:\n{}", violations.join("\n"));
        if db == Db::Postgres {
            let api_keys = shapes.iter().find(|s| s.name == "api_keys").unwrap();
            assert_eq!(api_keys.rls_forced, Some(true));
        }
    }
}

#[test]
fn every_migration_file_is_registered() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for (crate_dir, registered) in [
        (
            "switchboard-store-sqlite",
            switchboard_store_sqlite::MIGRATIONS,
        ),
        (
            "switchboard-store-postgres",
            switchboard_store_postgres::MIGRATIONS,
        ),
    ] {
        let mut files: Vec<String> = std::fs::read_dir(format!("{root}/{crate_dir}/migrations"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let expected: Vec<String> = registered
            .iter()
            .map(|(v, n, _)| format!("{v:04}_{n}.sql"))
            .collect();
        assert_eq!(
            files, expected,
            "{crate_dir}: files in migrations/ and MIGRATIONS differ"
        );
    }
}

#[test]
fn migrations_are_paired_across_backends() {
    let names = |m: &[(i64, &str, &str)]| {
        m.iter()
            .map(|(v, n, _)| (*v, n.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(switchboard_store_sqlite::MIGRATIONS),
        names(switchboard_store_postgres::MIGRATIONS)
    );
}

#[tokio::test]
async fn jobs_are_claimed_once_retried_and_reclaimed_after_a_lost_lease() {
    for db in dbs() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(db, dir.path()).await;
        let now = 1_800_000_000_000;
        // A queue of our own: other tests' workers share the PostgreSQL database.
        let queue = unique("q");
        let kind = "test.job".to_owned();
        let mut tx = store.control(Access::Write).await.unwrap();
        for _ in 0..2 {
            tx.enqueue_job(
                &NewJob {
                    queue: queue.clone(),
                    kind: kind.clone(),
                    payload: serde_json::json!({"n": 1}),
                    run_at: now,
                    max_attempts: 3,
                },
                now,
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();

        let claim = |worker: &'static str, at: i64| {
            let store = store.clone();
            let queue = queue.clone();
            async move {
                let mut tx = store.control(Access::Write).await.unwrap();
                let job = tx.claim_job(&queue, worker, at, at + 1000).await.unwrap();
                tx.commit().await.unwrap();
                job
            }
        };
        let (a, b) = tokio::join!(claim("w1", now), claim("w2", now));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_ne!(a.id, b.id, "{db:?}: one job claimed twice");
        assert_eq!(a.attempts, 1);

        // Failure requeues at the retry time, not before.
        let mut tx = store.control(Access::Write).await.unwrap();
        assert!(tx
            .fail_job(&a.id, "w1", "boom", Some(now + 5000), now)
            .await
            .unwrap());
        assert!(
            !tx.complete_job(&b.id, "intruder", now).await.unwrap(),
            "only the lease holder completes"
        );
        assert!(tx.complete_job(&b.id, "w2", now).await.unwrap());
        tx.commit().await.unwrap();
        let retried = store
            .control(Access::Read)
            .await
            .unwrap()
            .get_job(&a.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(retried.status.as_str(), "queued");
        assert_eq!(retried.last_error.as_deref(), Some("boom"));

        let again = claim("w3", now + 5000).await.unwrap();
        assert_eq!(again.id, a.id);
        // The holder renews its lease; nobody else can, and a renewed job is not taken over.
        let mut tx = store.control(Access::Write).await.unwrap();
        assert!(!tx.extend_job_lease(&a.id, "w9", now + 5500).await.unwrap());
        assert!(tx.extend_job_lease(&a.id, "w3", now + 6500).await.unwrap());
        tx.commit().await.unwrap();
        assert!(
            claim("w5", now + 6200).await.is_none(),
            "{db:?}: a renewed lease was taken over"
        );
        // w3 dies; once the lease is over another worker takes the job.
        let taken = claim("w4", now + 7000).await.unwrap();
        assert_eq!(taken.id, a.id);
        assert_eq!(taken.attempts, 3);
        let mut tx = store.control(Access::Write).await.unwrap();
        assert!(tx
            .fail_job(&a.id, "w4", "still broken", None, now + 7000)
            .await
            .unwrap());
        tx.commit().await.unwrap();
        let failed = store
            .control(Access::Read)
            .await
            .unwrap()
            .get_job(&a.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(failed.status.as_str(), "failed");
    }
}

#[tokio::test]
async fn audit_chains_verify_and_expose_tampering() {
    for db in dbs() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(db, dir.path()).await;
        let (core, _) = core_over(store.clone()).await;
        let t = provision(&core).await.tenant;
        let c = ctx(&t);
        let mut tx = store.tenant(&c, Access::Write).await.unwrap();
        for i in 0..5 {
            let d = AuditDraft::success("test.event", "thing", format!("thing-{i}"));
            audit::append(
                &mut *tx,
                c.actor(),
                &RequestMeta::default(),
                d,
                1_800_000_000_000 + i,
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let report = core.verify_tenant_audit(&t).await.unwrap();
        assert_eq!(report.first_bad, None, "{db:?}");
        assert_eq!(report.entries, 8, "3 from provisioning + 5");

        // The store refuses updates and deletes outright.
        let mut raw = store.writer_pool().begin().await.unwrap();
        if db == Db::Postgres {
            sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                .bind(t.id.as_str())
                .execute(&mut *raw)
                .await
                .unwrap();
        }
        for sql in [
            "UPDATE audit_events SET outcome = 'failure' WHERE tenant_id = $1 AND seq = 2",
            "DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 2",
        ] {
            let mut sp = sqlx::Connection::begin(&mut *raw).await.unwrap();
            let res = sqlx::query(sql).bind(t.id.as_str()).execute(&mut *sp).await;
            assert!(
                res.is_err(),
                "{db:?}: `{sql}` was allowed on the append-only log"
            );
        }
        drop(raw);

        tamper(
            db,
            &store,
            t.id.as_str(),
            &format!(
                "UPDATE audit_events SET outcome = 'failure' WHERE tenant_id = '{}' AND seq = 6",
                t.id
            ),
        )
        .await;
        let report = core.verify_tenant_audit(&t).await.unwrap();
        let bad = report.first_bad.expect("tampering not detected");
        assert_eq!(bad.seq, 6, "{db:?}: {bad:?}");

        // The platform chain is verifiable too.
        assert_eq!(core.verify_platform_audit().await.unwrap().first_bad, None);
    }
}

/// Edits the audit table as an attacker with database access would: around the append-only
/// trigger, in one transaction so concurrent tests never see the trigger missing.
pub async fn tamper(db: Db, store: &SqlStore, tenant: &str, update: &str) {
    match db {
        Db::Sqlite => {
            let sql = format!(
                "BEGIN; DROP TRIGGER audit_events_no_update; {update}; \
                 CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END; COMMIT;"
            );
            sqlx::raw_sql(&sql)
                .execute(store.writer_pool())
                .await
                .unwrap();
        }
        Db::Postgres => {
            use sqlx::Connection;
            let owner = switchboard_testkit::postgres_owner_url().unwrap();
            let mut conn = sqlx::PgConnection::connect(&owner).await.unwrap();
            let sql = format!(
                "BEGIN; SELECT set_config('app.tenant_id', '{tenant}', true); \
                 ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only; {update}; \
                 ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only; COMMIT;"
            );
            sqlx::raw_sql(&sql).execute(&mut conn).await.unwrap();
        }
    }
}

#[tokio::test]
async fn tenant_transactions_never_see_or_change_another_tenants_rows() {
    for db in dbs() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(db, dir.path()).await;
        let (core, _) = core_over(store.clone()).await;
        let a = provision(&core).await;
        let b = provision(&core).await;
        let (ca, cb) = (ctx(&a.tenant), ctx(&b.tenant));

        let mut tx = store.tenant(&ca, Access::Read).await.unwrap();
        let a_keys = tx.list_api_keys(&PageRequest::default()).await.unwrap();
        drop(tx);
        let a_key = a_keys.first().unwrap().clone();

        let mut tx = store.tenant(&cb, Access::Write).await.unwrap();
        assert_eq!(tx.get_api_key(&a_key.id).await.unwrap(), None);
        assert_eq!(
            tx.find_api_key_by_hash(&a_key.key_hash).await.unwrap(),
            None
        );
        assert!(!tx.revoke_api_key(&a_key.id, 1).await.unwrap());
        assert!(!tx.delete_membership(&a.admin_user_id).await.unwrap());
        assert!(!tx
            .update_member_role(&a.admin_user_id, switchboard_types::TenantRole::Viewer, 1)
            .await
            .unwrap());
        assert!(tx
            .list_members(&PageRequest::default())
            .await
            .unwrap()
            .iter()
            .all(|m| m.user_id != a.admin_user_id));
        assert!(tx
            .list_audit(&switchboard_store::model::AuditFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .iter()
            .all(|r| r.target_id.as_deref() != Some(a.tenant.id.as_str())));
        tx.commit().await.unwrap();

        let mut tx = store.tenant(&ca, Access::Read).await.unwrap();
        let after = tx.get_api_key(&a_key.id).await.unwrap().unwrap();
        assert_eq!(after.revoked_at, None, "{db:?}");
        assert!(tx.get_member(&a.admin_user_id).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn row_level_security_filters_queries_that_forget_the_tenant() {
    if !dbs().contains(&Db::Postgres) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(Db::Postgres, dir.path()).await;
    let (core, _) = core_over(store.clone()).await;
    let a = provision(&core).await;
    provision(&core).await;

    // As the application role, with tenant A set for the transaction, a query with no tenant
    // filter at all sees only A's rows.
    use sqlx::Row;
    let mut tx = store.writer_pool().begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(a.tenant.id.as_str())
        .execute(&mut *tx)
        .await
        .unwrap();
    for table in switchboard_store::schema::TENANT_TABLES {
        let rows = sqlx::query(&format!("SELECT DISTINCT tenant_id FROM {table}"))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        for r in rows {
            assert_eq!(
                r.get::<String, _>(0),
                a.tenant.id.as_str(),
                "{table} leaked another tenant"
            );
        }
    }
    // Writing another tenant's id is refused by the policy's WITH CHECK.
    let other = sqlx::query("INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, '')")
        .bind(switchboard_types::TenantId::generate().as_str())
        .execute(&mut *tx)
        .await;
    assert!(other.is_err(), "RLS let a row for another tenant in");
    tx.rollback().await.unwrap();

    // Outside any tenant transaction the application role sees no tenant rows at all.
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM api_keys")
        .fetch_one(store.writer_pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_application_role_must_not_bypass_row_level_security() {
    let Some(owner) = switchboard_testkit::postgres_owner_url() else {
        return;
    };
    let mut settings = switchboard_store_postgres::PgSettings::new(owner.clone());
    settings.migrate_url = Some(owner);
    let err = switchboard_store_postgres::open(&settings)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            switchboard_store_postgres::PgError::RoleBypassesRls { .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn outbox_events_are_numbered_per_tenant_in_commit_order_without_gaps() {
    use switchboard_store::model::OutboxEvent;
    use switchboard_types::EventId;
    for db in dbs() {
        let dir = tempfile::tempdir().unwrap();
        let (core, _) = core_over(open_store(db, dir.path()).await).await;
        let a = provision(&core).await.tenant;
        let b = provision(&core).await.tenant;
        let event = |n: i64| OutboxEvent {
            id: EventId::generate(),
            event_type: "test.happened".into(),
            version: 1,
            occurred_at: n,
            actor: Actor::system("test"),
            payload: serde_json::json!({"n": n}),
        };
        let store = core.store();
        let head = |t: &switchboard_store::model::Tenant| {
            let ctx = ctx(t);
            async move {
                let mut tx = store.tenant(&ctx, Access::Read).await.unwrap();
                tx.outbox_head().await.unwrap()
            }
        };
        let (a0, b0) = (head(&a).await, head(&b).await);
        let mut commits = store.outbox_commits();

        let mut tx = store.tenant(&ctx(&a), Access::Write).await.unwrap();
        for n in 1..=3 {
            tx.insert_outbox(&event(n)).await.unwrap();
        }
        tx.commit().await.unwrap();
        assert_eq!(commits.recv().await.unwrap(), a.id, "{db:?}");
        // A rolled-back transaction uses no numbers.
        let mut tx = store.tenant(&ctx(&a), Access::Write).await.unwrap();
        tx.insert_outbox(&event(99)).await.unwrap();
        drop(tx);
        let mut tx = store.tenant(&ctx(&a), Access::Write).await.unwrap();
        tx.insert_outbox(&event(4)).await.unwrap();
        tx.commit().await.unwrap();
        // Another tenant's sequence is its own.
        let mut tx = store.tenant(&ctx(&b), Access::Write).await.unwrap();
        tx.insert_outbox(&event(1)).await.unwrap();
        tx.commit().await.unwrap();

        assert_eq!(head(&a).await, a0 + 4, "{db:?}");
        assert_eq!(head(&b).await, b0 + 1);
        // A transaction with more events than one INSERT may carry (bulk imports).
        let mut tx = store.tenant(&ctx(&b), Access::Write).await.unwrap();
        for n in 0..1_234 {
            tx.insert_outbox(&event(1_000 + n)).await.unwrap();
        }
        tx.commit().await.unwrap();
        assert_eq!(head(&b).await, b0 + 1 + 1_234);
        let mut rtx = store.tenant(&ctx(&b), Access::Read).await.unwrap();
        let bulk = rtx.outbox_after(b0 + 1, 2_000).await.unwrap();
        assert_eq!(bulk.len(), 1_234);
        assert!(bulk.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        drop(rtx);
        let mut tx = store.tenant(&ctx(&a), Access::Read).await.unwrap();
        let got = tx.outbox_after(a0, 100).await.unwrap();
        let seqs: Vec<i64> = got.iter().map(|e| e.seq).collect();
        let ns: Vec<i64> = got
            .iter()
            .map(|e| e.event.payload["n"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, (a0 + 1..=a0 + 4).collect::<Vec<_>>());
        assert_eq!(ns, vec![1, 2, 3, 4]);
        assert_eq!(
            tx.outbox_after(a0 + 2, 1).await.unwrap()[0].event.payload["n"],
            3
        );
        // B's events are not in A's sequence.
        assert!(got
            .iter()
            .all(|e| e.event.event_type == "test.happened" && e.event.payload["n"] != 99));
    }
}

/// Write transactions that queue up share commits on SQLite (savepoints in one batch): each is
/// still committed or not on its own, a failed or abandoned one loses only its own work, and the
/// writer is free again once they finish, even when callers gave up while waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_write_transactions_keep_their_own_outcome() {
    use switchboard_store::model::Label;
    use switchboard_store::StoreError;
    use switchboard_types::LabelId;
    let label = |name: &str| Label {
        id: LabelId::generate(),
        name: name.to_owned(),
        colour: "#112233".into(),
        created_at: 1,
    };
    for db in dbs() {
        let dir = tempfile::tempdir().unwrap();
        let (core, _) = core_over(open_store(db, dir.path()).await).await;
        let t = provision(&core).await.tenant;
        let store = core.store().clone();
        let mut tx = store.tenant(&ctx(&t), Access::Write).await.unwrap();
        tx.insert_label(&label("taken")).await.unwrap();
        tx.commit().await.unwrap();

        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..80 {
            let (store, ctx) = (store.clone(), ctx(&t));
            let name = format!("l{i:02}");
            tasks.spawn(async move {
                let mut tx = store.tenant(&ctx, Access::Write).await.unwrap();
                tx.insert_label(&label(&name)).await.unwrap();
                match i % 4 {
                    // Abandoned: dropped unfinished.
                    0 => None,
                    // A failing statement: the caller gives up on the transaction.
                    1 => {
                        let err = tx.insert_label(&label("taken")).await.unwrap_err();
                        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
                        None
                    }
                    2 => {
                        tokio::task::yield_now().await;
                        tx.commit().await.unwrap();
                        Some(name)
                    }
                    _ => {
                        tx.commit().await.unwrap();
                        Some(name)
                    }
                }
            });
        }
        let mut expected = vec!["taken".to_owned()];
        while let Some(done) = tasks.join_next().await {
            expected.extend(done.unwrap());
        }
        let names = |store: Arc<dyn Store>, ctx: TenantCtx| async move {
            let mut tx = store.tenant(&ctx, Access::Read).await.unwrap();
            let mut names: Vec<String> = tx
                .list_labels()
                .await
                .unwrap()
                .into_iter()
                .map(|l| l.name)
                .collect();
            names.sort();
            names
        };
        expected.sort();
        assert_eq!(expected.len(), 41, "{db:?}");
        assert_eq!(names(store.clone(), ctx(&t)).await, expected, "{db:?}");

        // Callers cancelled while they wait for the writer or for their batch's commit: whatever
        // they wrote is committed or not, never left hanging, and the writer is free afterwards.
        let mut handles = Vec::new();
        for i in 0..40 {
            let (store, ctx) = (store.clone(), ctx(&t));
            handles.push(tokio::spawn(async move {
                let mut tx = store.tenant(&ctx, Access::Write).await.unwrap();
                tx.insert_label(&label(&format!("c{i:02}"))).await.unwrap();
                tx.commit().await.unwrap();
            }));
        }
        tokio::task::yield_now().await;
        for h in handles.iter().step_by(3) {
            h.abort();
        }
        let mut finished = Vec::new();
        for (i, h) in handles.into_iter().enumerate() {
            if h.await.is_ok() {
                finished.push(format!("c{i:02}"));
            }
        }
        let after = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            let mut tx = store.tenant(&ctx(&t), Access::Write).await.unwrap();
            tx.insert_label(&label("after")).await.unwrap();
            tx.commit().await.unwrap();
            names(store.clone(), ctx(&t)).await
        })
        .await
        .expect("the writer is free");
        for name in finished.iter().chain([&"after".to_owned()]) {
            assert!(after.contains(name), "{db:?}: {name} missing");
        }
        // Nothing holds SQLite's write lock once the callers are gone: another connection
        // writes at once.
        if db == Db::Sqlite {
            let sql_store = open_store(db, dir.path()).await;
            let mut raw = sql_store.writer_pool().acquire().await.unwrap();
            sqlx::query("PRAGMA busy_timeout = 100")
                .execute(&mut *raw)
                .await
                .unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut *raw)
                .await
                .unwrap();
            sqlx::query("ROLLBACK").execute(&mut *raw).await.unwrap();
        }
    }
}
