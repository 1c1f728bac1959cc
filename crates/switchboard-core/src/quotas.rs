//! Plan quotas: how many people, inboxes and webhook endpoints a tenant of each plan may have.
//! The operator sets them in configuration (none by default: unlimited). Going past one is
//! refused with `quota_exceeded`, and the operator hears of it through the platform endpoint
//! (`tenant.quota_exceeded`, at most once an hour per tenant and quota in each process).

use crate::identity::TenantAccess;
use crate::ratelimit::{Decision, Rate};
use crate::{Core, CoreError, CoreResult};
use serde_json::json;
use std::collections::BTreeMap;
use switchboard_store::Access;
use switchboard_types::Plan;

/// One plan's limits; `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanQuotas {
    pub members: Option<i64>,
    pub inboxes: Option<i64>,
    pub webhook_endpoints: Option<i64>,
}

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    Members,
    Inboxes,
    WebhookEndpoints,
}

impl Quota {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Members => "members",
            Self::Inboxes => "inboxes",
            Self::WebhookEndpoints => "webhook_endpoints",
        }
    }

    fn of(self, q: &PlanQuotas) -> Option<i64> {
        match self {
            Self::Members => q.members,
            Self::Inboxes => q.inboxes,
            Self::WebhookEndpoints => q.webhook_endpoints,
        }
    }
}

/// Every plan's limits.
pub type Quotas = BTreeMap<String, PlanQuotas>;

/// The limit of `quota` for `plan`, if any.
pub fn limit(quotas: &Quotas, plan: Plan, quota: Quota) -> Option<i64> {
    quotas.get(plan.as_str()).and_then(|q| quota.of(q))
}

impl Core {
    /// Refuses one more of `quota` when the tenant already has `current` and its plan allows no
    /// more; tells the operator (a platform event, committed even though the change is refused).
    pub(crate) async fn check_quota(
        &self,
        access: &TenantAccess,
        quota: Quota,
        current: i64,
    ) -> CoreResult<()> {
        let Some(max) = limit(&self.config().quotas, access.tenant.plan, quota) else {
            return Ok(());
        };
        if current < max {
            return Ok(());
        }
        let key = format!("quota:{}:{}", access.tenant.id, quota.as_str());
        let hourly = Rate {
            per_second: 1.0 / 3600.0,
            burst: 1.0,
        };
        if let Decision::Allowed { .. } = self.limiter().acquire(&key, hourly, 1.0) {
            let now = self.now();
            if let Some(job) = self.platform_event(
                "tenant.quota_exceeded",
                Some(&access.tenant.id),
                access.ctx.actor(),
                json!({"quota": quota.as_str(), "limit": max, "plan": access.tenant.plan.as_str()}),
                now,
            ) {
                let mut tx = self.store().control(Access::Write).await?;
                tx.enqueue_job(&job, now).await?;
                tx.commit().await?;
            }
        }
        Err(CoreError::QuotaExceeded {
            quota: quota.as_str(),
            limit: max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_per_plan_and_absent_means_unlimited() {
        let mut q = Quotas::new();
        q.insert(
            "starter".into(),
            PlanQuotas {
                members: Some(3),
                ..Default::default()
            },
        );
        assert_eq!(limit(&q, Plan::Starter, Quota::Members), Some(3));
        assert_eq!(limit(&q, Plan::Starter, Quota::Inboxes), None);
        assert_eq!(limit(&q, Plan::Enterprise, Quota::Members), None);
    }
}
