//! Tenant isolation: cross-tenant ids answer 404 and change nothing; random interleavings of two
//! tenants' operations over a tiny pool never return or touch the other tenant's rows.

use crate::store::{ctx, provision};
use proptest::prelude::*;
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;
use switchboard_core::ratelimit::InMemoryRateLimiter;
use switchboard_core::{Core, CoreConfig, ManualClock};
use switchboard_store::model::{ApiKey, AuditFilter, Membership, PageRequest};
use switchboard_store::{Access, Store, TenantCtx};
use switchboard_testkit::{dbs, test_config, Db, TestApp};
use switchboard_types::{ApiKeyId, TenantRole, UserId};

#[tokio::test]
async fn another_tenants_ids_answer_404_and_change_nothing() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let a = app.tenant().await;
        let b = app.tenant().await;
        // B's resources.
        let key = app
            .call(
                Method::POST,
                "/v1/api-keys",
                Some(&b.key),
                Some(json!({"name": "b key", "scopes": ["viewer"]})),
            )
            .await
            .expect(201);
        let b_key_id = key.body["api_key"]["id"].as_str().unwrap().to_owned();
        let member = app
            .call(
                Method::POST,
                "/v1/users",
                Some(&b.key),
                Some(json!({"email": "bee@b.test", "role": "agent"})),
            )
            .await
            .expect(201);
        let b_user = member.body["user"]["id"].as_str().unwrap().to_owned();
        let before_keys = app
            .call(Method::GET, "/v1/api-keys", Some(&b.key), None)
            .await
            .expect(200)
            .text;
        let before_users = app
            .call(Method::GET, "/v1/users", Some(&b.key), None)
            .await
            .expect(200)
            .text;

        // A probes B's ids every way it can.
        for (method, path, body) in [
            (Method::GET, format!("/v1/api-keys/{b_key_id}"), None),
            (Method::DELETE, format!("/v1/api-keys/{b_key_id}"), None),
            (Method::GET, format!("/v1/users/{b_user}"), None),
            (
                Method::PATCH,
                format!("/v1/memberships/{b_user}"),
                Some(json!({"role": "viewer"})),
            ),
            (Method::DELETE, format!("/v1/memberships/{b_user}"), None),
            (Method::GET, format!("/v1/tenants/{}", b.id), None),
            (Method::POST, format!("/v1/tenants/{}/suspend", b.id), None),
        ] {
            let r = app.call(method.clone(), &path, Some(&a.key), body).await;
            // Tenant-management routes are not for tenant keys at all (403); data routes 404.
            if path.starts_with("/v1/tenants") {
                r.expect_problem(403, "forbidden");
            } else {
                r.expect_problem(404, "not_found");
            }
        }
        // A person of tenant A naming tenant B gets 404 too.
        let token = app.sign_in(&a.owner_email, &a.owner_password).await;
        let r = app
            .send(
                app.request(Method::GET, "/v1/users")
                    .bearer_auth(&token)
                    .header("x-switchboard-tenant", &b.slug),
            )
            .await;
        r.expect_problem(404, "not_found");
        // An API key naming another tenant than its own.
        let r = app
            .send(
                app.request(Method::GET, "/v1/users")
                    .bearer_auth(&a.key)
                    .header("x-switchboard-tenant", &b.id),
            )
            .await;
        r.expect_problem(404, "not_found");

        assert_eq!(
            app.call(Method::GET, "/v1/api-keys", Some(&b.key), None)
                .await
                .text,
            before_keys,
            "{db:?}"
        );
        assert_eq!(
            app.call(Method::GET, "/v1/users", Some(&b.key), None)
                .await
                .text,
            before_users,
            "{db:?}"
        );
        app.stop().await;
    }
}

/// One step of a tenant's random workload.
#[derive(Debug, Clone)]
enum Op {
    CreateKey,
    ListKeys,
    /// Read a key by id: one of ours or one of the other tenant's (by index).
    GetKey {
        other: bool,
        idx: usize,
    },
    RevokeKey {
        other: bool,
        idx: usize,
    },
    AddMember,
    ListMembers,
    ChangeRole {
        other: bool,
        idx: usize,
    },
    ListAudit,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::CreateKey),
        Just(Op::ListKeys),
        (any::<bool>(), 0usize..8).prop_map(|(other, idx)| Op::GetKey { other, idx }),
        (any::<bool>(), 0usize..8).prop_map(|(other, idx)| Op::RevokeKey { other, idx }),
        Just(Op::AddMember),
        Just(Op::ListMembers),
        (any::<bool>(), 0usize..8).prop_map(|(other, idx)| Op::ChangeRole { other, idx }),
        Just(Op::ListAudit),
    ]
}

#[derive(Debug, Clone, Default)]
struct Known {
    keys: Vec<ApiKeyId>,
    users: Vec<UserId>,
}

async fn step(
    store: &Arc<dyn Store>,
    me: &TenantCtx,
    op: &Op,
    mine: &mut Known,
    theirs: &Known,
    n: usize,
) {
    let tenant = me.tenant().clone();
    let pick = |v: &Vec<ApiKeyId>, i: usize| v.get(i % v.len().max(1)).cloned();
    match op {
        Op::CreateKey => {
            let mut tx = store.tenant(me, Access::Write).await.unwrap();
            let id = ApiKeyId::generate();
            tx.insert_api_key(&ApiKey {
                id: id.clone(),
                tenant_id: tenant.clone(),
                name: format!("k{n}"),
                prefix: "sb_live_x".into(),
                key_hash: format!("{}-{n}", id),
                scopes: vec!["viewer".into()],
                created_by: "test".into(),
                created_at: 1,
                expires_at: None,
                last_used_at: None,
                revoked_at: None,
            })
            .await
            .unwrap();
            tx.commit().await.unwrap();
            mine.keys.push(id);
        }
        Op::ListKeys => {
            let mut tx = store.tenant(me, Access::Read).await.unwrap();
            for k in tx
                .list_api_keys(&PageRequest {
                    after: None,
                    limit: 1000,
                })
                .await
                .unwrap()
            {
                assert_eq!(k.tenant_id, tenant, "listed another tenant's key");
                assert!(!theirs.keys.contains(&k.id));
            }
        }
        Op::GetKey { other, idx } => {
            let source = if *other { &theirs.keys } else { &mine.keys };
            if let Some(id) = pick(source, *idx) {
                let mut tx = store.tenant(me, Access::Read).await.unwrap();
                let got = tx.get_api_key(&id).await.unwrap();
                if *other {
                    assert_eq!(got, None, "read another tenant's key");
                } else {
                    assert_eq!(got.unwrap().tenant_id, tenant);
                }
            }
        }
        Op::RevokeKey { other, idx } => {
            let source = if *other { &theirs.keys } else { &mine.keys };
            if let Some(id) = pick(source, *idx) {
                let mut tx = store.tenant(me, Access::Write).await.unwrap();
                let changed = tx.revoke_api_key(&id, 5).await.unwrap();
                tx.commit().await.unwrap();
                if *other {
                    assert!(!changed, "revoked another tenant's key");
                }
            }
        }
        Op::AddMember => {
            let mut ctl = store.control(Access::Write).await.unwrap();
            let account = switchboard_store::model::User::new(
                format!("{}@prop.test", UserId::generate()),
                "p".into(),
                None,
                1,
            );
            let user = account.id.clone();
            ctl.insert_user(&account).await.unwrap();
            let mut tx = ctl.enter_tenant(me).await.unwrap();
            tx.insert_membership(&Membership {
                tenant_id: tenant.clone(),
                user_id: user.clone(),
                role: TenantRole::Agent,
                created_at: 1,
                updated_at: 1,
            })
            .await
            .unwrap();
            tx.commit().await.unwrap();
            mine.users.push(user);
        }
        Op::ListMembers => {
            let mut tx = store.tenant(me, Access::Read).await.unwrap();
            for m in tx
                .list_members(&PageRequest {
                    after: None,
                    limit: 1000,
                })
                .await
                .unwrap()
            {
                assert!(
                    !theirs.users.contains(&m.user_id),
                    "listed another tenant's member"
                );
            }
        }
        Op::ChangeRole { other, idx } => {
            let source = if *other { &theirs.users } else { &mine.users };
            if let Some(user) = source.get(idx % source.len().max(1)).cloned() {
                let mut tx = store.tenant(me, Access::Write).await.unwrap();
                let changed = tx
                    .update_member_role(&user, TenantRole::Viewer, 5)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                assert_eq!(
                    changed, !*other,
                    "role change crossed tenants (other={other})"
                );
            }
        }
        Op::ListAudit => {
            let mut tx = store.tenant(me, Access::Read).await.unwrap();
            let rows = tx
                .list_audit(&AuditFilter {
                    limit: 1000,
                    ..Default::default()
                })
                .await
                .unwrap();
            let chain = tx.audit_chain(0, 1000).await.unwrap();
            assert_eq!(rows.len(), chain.len());
        }
    }
}

async fn interleave(db: Db, pool: u32, ops: Vec<(bool, Op)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(db, dir.path());
    cfg.database.max_connections = pool;
    cfg.database.sqlite_readers = pool;
    let store: Arc<dyn Store> = Arc::new(switchboard::open_store(&cfg).await.unwrap());
    let clock = ManualClock::new(1_800_000_000_000);
    let core = Core::new(
        store.clone(),
        Arc::new(clock.clone()),
        Arc::new(InMemoryRateLimiter::new(Arc::new(clock))),
        CoreConfig {
            password_cost: switchboard_core::password::PasswordCost {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            ..Default::default()
        },
    )
    .unwrap();
    core.ensure_local_cell().await.unwrap();
    let (ta, tb) = (provision(&core).await.tenant, provision(&core).await.tenant);
    let ctxs = [ctx(&ta), ctx(&tb)];
    let count_rows = |store: Arc<dyn Store>, c: TenantCtx| async move {
        store
            .tenant(&c, Access::Read)
            .await
            .unwrap()
            .count_rows()
            .await
            .unwrap()
    };
    let mut known = [Known::default(), Known::default()];
    // Steps of different tenants that follow each other run concurrently on the small pool.
    let mut i = 0;
    while i < ops.len() {
        let (first_is_a, op1) = &ops[i];
        let t1 = usize::from(!*first_is_a);
        match ops.get(i + 1) {
            Some((second_is_a, op2)) if second_is_a != first_is_a => {
                let t2 = 1 - t1;
                let (mut k1, mut k2) = (known[t1].clone(), known[t2].clone());
                let (seen_by_1, seen_by_2) = (known[t2].clone(), known[t1].clone());
                tokio::join!(
                    step(&store, &ctxs[t1], op1, &mut k1, &seen_by_1, i),
                    step(&store, &ctxs[t2], op2, &mut k2, &seen_by_2, i + 1)
                );
                known[t1] = k1;
                known[t2] = k2;
                i += 2;
            }
            _ => {
                let theirs = known[1 - t1].clone();
                step(&store, &ctxs[t1], op1, &mut known[t1], &theirs, i).await;
                i += 1;
            }
        }
    }
    // Every row of each tenant is still its own.
    let [ca, cb] = ctxs;
    let a_rows = count_rows(store.clone(), ca).await;
    let b_rows = count_rows(store.clone(), cb).await;
    assert!(a_rows.values().sum::<i64>() > 0 && b_rows.values().sum::<i64>() > 0);
    store.close().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn random_interleavings_of_two_tenants_stay_isolated(ops in prop::collection::vec((any::<bool>(), op()), 4..24), pool in 1u32..=2) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        for db in dbs() {
            rt.block_on(interleave(db, pool, ops.clone()));
        }
    }
}
