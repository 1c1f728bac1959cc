//! Following tenants' event sequences: the loop the webhook dispatcher and the automation engine
//! share. A consumer names the tenants it serves (a directory column on the control plane); it
//! runs a pass over a tenant at once when this process announces a commit for it, and over
//! every tenant it serves every `poll_ms` (commits of other processes); a commit of a tenant it
//! does not serve re-reads the directory, at most every [`RELIST_EVERY`]. At most one pass per
//! tenant runs at a time in a process; a commit announced meanwhile makes the pass go round once
//! more when it ends. Cursor leases keep passes of different processes apart.

use crate::error::CoreResult;
use crate::Core;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use switchboard_types::TenantId;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for running passes.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The least time between two listings caused by commits of tenants the consumer does not
/// serve (most tenants, for the automation and AI consumers): without it every such commit
/// re-read the directory. A tenant that has just started to need the consumer waits at most
/// this long.
const RELIST_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs `pass` for the tenants `list` names until `cancel` (see the module documentation).
/// `what` names the consumer in logs.
pub(crate) async fn follow_tenants<L, LF, P, PF>(
    core: Arc<Core>,
    what: &'static str,
    poll_ms: u64,
    cancel: CancellationToken,
    list: L,
    pass: P,
) where
    L: Fn(Arc<Core>) -> LF,
    LF: Future<Output = CoreResult<HashSet<TenantId>>>,
    P: Fn(Arc<Core>, TenantId) -> PF + Clone + Send + 'static,
    PF: Future<Output = ()> + Send + 'static,
{
    let mut commits = core.store().outbox_commits();
    let mut known: HashSet<TenantId> = HashSet::new();
    let running: Arc<Mutex<HashSet<TenantId>>> = Arc::new(Mutex::new(HashSet::new()));
    let again: Arc<Mutex<HashSet<TenantId>>> = Arc::new(Mutex::new(HashSet::new()));
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(poll_ms.max(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tasks = tokio::task::JoinSet::new();
    // Commits of tenants not (yet) served, waiting for the next listing.
    let mut unknown: HashSet<TenantId> = HashSet::new();
    let mut listed_at = tokio::time::Instant::now();
    loop {
        let mut due: Vec<TenantId> = Vec::new();
        let relist_at = listed_at + RELIST_EVERY;
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = tick.tick() => {
                match list(core.clone()).await {
                    Ok(t) => known = t,
                    Err(e) => tracing::warn!(consumer = what, error = %e, "listing the tenants to follow failed"),
                }
                listed_at = tokio::time::Instant::now();
                unknown.clear();
                due.extend(known.iter().cloned());
            }
            // Perhaps they have just started to need this consumer.
            () = tokio::time::sleep_until(relist_at), if !unknown.is_empty() => {
                if let Ok(t) = list(core.clone()).await { known = t; }
                listed_at = tokio::time::Instant::now();
                due.extend(unknown.drain().filter(|t| known.contains(t)));
            }
            got = commits.recv() => match got {
                Ok(tenant) if known.contains(&tenant) => due.push(tenant),
                Ok(tenant) => { unknown.insert(tenant); }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => due.extend(known.iter().cloned()),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
        for tenant in due {
            {
                let mut r = running.lock().unwrap_or_else(|p| p.into_inner());
                if !r.insert(tenant.clone()) {
                    // A pass is running: it goes round once more when it ends.
                    again
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(tenant);
                    continue;
                }
            }
            let (core, running, again, pass) =
                (core.clone(), running.clone(), again.clone(), pass.clone());
            tasks.spawn(async move {
                loop {
                    pass(core.clone(), tenant.clone()).await;
                    // Under the `running` lock, as the follower asks for another round under it:
                    // a commit announced now either sees this pass still running (and is in
                    // `again`) or sees it gone (and starts a new one), never neither.
                    let mut r = running.lock().unwrap_or_else(|p| p.into_inner());
                    let requested = again
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&tenant);
                    if !requested {
                        r.remove(&tenant);
                        break;
                    }
                }
            });
        }
    }
    // Let running passes finish and record (a pass cut short is redone by the next owner once
    // its lease runs out), within a bound.
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            consumer = what,
            "passes still running at shutdown were cut short"
        );
        tasks.shutdown().await;
    }
}
