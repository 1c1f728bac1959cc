//! The tenancy rules every table must follow, checked against the live schema of each backend.

/// Tenant-owned tables, children before parents: the order a purge deletes in.
pub const TENANT_TABLES: &[&str] = &[
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
    "event_cursors",
    "automation_runs",
    "automation_rules",
    "ai_answers",
    "ai_usage",
    "ai_settings",
    "kb_articles",
    "kb_categories",
    "kb_portals",
    "widget_sessions",
    "attachments",
    "conversation_slas",
    "notifications",
    "metric_events",
    "csat_surveys",
    "scheduled_messages",
    "conversation_participants",
    "macros",
    "triage_settings",
    "intent_models",
    "conversation_labels",
    "labels",
    "canned_responses",
    "inbox_members",
    "messages",
    "conversations",
    "conversation_counters",
    "inboxes",
    "sla_policies",
    "business_calendars",
    "team_members",
    "teams",
    "attribute_definitions",
    "contacts",
    "companies",
    "outbox_events",
    "api_keys",
    "invitations",
    "memberships",
    "audit_events",
    "audit_heads",
];

/// Control-plane tables: no `tenant_id`, no row-level security. Anything not listed here or in
/// [`TENANT_TABLES`] fails the schema check, so a new table must be classified on purpose.
pub const CONTROL_TABLES: &[&str] = &[
    "cells",
    "partners",
    "tenants",
    "users",
    "partner_memberships",
    "sessions",
    "jobs",
    "idempotency_keys",
    "platform_audit_events",
    "platform_audit_head",
];

/// Derived full-text indexes (SQLite FTS5 virtual tables and their shadow tables, and the queue
/// of rows waiting to be indexed at commit). They hold copies of tenant rows, are maintained only
/// by triggers and the writer, and every query on them filters on `tenant_id`; FTS5 tables have
/// no keys, so the key rules do not apply to them.
pub const SEARCH_TABLES: &[&str] = &["message_search", "contact_search", "search_queue"];

fn is_search_table(name: &str) -> bool {
    SEARCH_TABLES.iter().any(|t| {
        name == *t
            || name
                .strip_prefix(t)
                .is_some_and(|rest| rest.starts_with('_'))
    })
}

/// A foreign key as read from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub references_table: String,
    pub references_columns: Vec<String>,
}

/// The shape of one table, read from the database catalog.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableShape {
    pub name: String,
    pub columns: Vec<String>,
    pub primary_key: Vec<String>,
    pub unique_constraints: Vec<Vec<String>>,
    pub foreign_keys: Vec<ForeignKey>,
    /// `None` where the backend has no row-level security (SQLite).
    pub rls_enabled: Option<bool>,
    pub rls_forced: Option<bool>,
}

/// Every way the schema breaks the tenancy rules; empty when it follows them.
pub fn tenancy_violations(tables: &[TableShape]) -> Vec<String> {
    let mut out = Vec::new();
    let is_tenant_table = |name: &str| {
        tables
            .iter()
            .any(|t| t.name == name && t.columns.iter().any(|c| c == "tenant_id"))
    };
    for t in tables {
        let name = t.name.as_str();
        if is_search_table(name) {
            continue;
        }
        let has_tenant = t.columns.iter().any(|c| c == "tenant_id");
        let listed_tenant = TENANT_TABLES.contains(&name);
        let listed_control = CONTROL_TABLES.contains(&name);
        if !listed_tenant && !listed_control {
            out.push(format!(
                "{name}: not classified as tenant-owned or control-plane"
            ));
            continue;
        }
        if listed_tenant != has_tenant {
            out.push(format!(
                "{name}: tenant_id column presence does not match its classification"
            ));
        }
        if !has_tenant {
            if t.rls_enabled == Some(true) {
                out.push(format!(
                    "{name}: control-plane table has row-level security"
                ));
            }
            continue;
        }
        if t.primary_key.first().map(String::as_str) != Some("tenant_id") {
            out.push(format!(
                "{name}: primary key {:?} does not start with tenant_id",
                t.primary_key
            ));
        }
        for u in &t.unique_constraints {
            if !u.iter().any(|c| c == "tenant_id") {
                out.push(format!("{name}: unique constraint {u:?} lacks tenant_id"));
            }
        }
        for fk in &t.foreign_keys {
            let to_tenant_table = is_tenant_table(&fk.references_table);
            if to_tenant_table && !fk.columns.iter().any(|c| c == "tenant_id") {
                out.push(format!(
                    "{name}: foreign key {:?} -> {} lacks tenant_id",
                    fk.columns, fk.references_table
                ));
            }
        }
        if t.rls_enabled == Some(false) {
            out.push(format!("{name}: row-level security not enabled"));
        }
        if t.rls_forced == Some(false) {
            out.push(format!("{name}: row-level security not forced"));
        }
    }
    for listed in TENANT_TABLES.iter().chain(CONTROL_TABLES) {
        if !tables.iter().any(|t| t.name == *listed) {
            out.push(format!("{listed}: listed but missing from the database"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good_tenant_table(name: &str) -> TableShape {
        TableShape {
            name: name.into(),
            columns: vec!["tenant_id".into(), "id".into()],
            primary_key: vec!["tenant_id".into(), "id".into()],
            rls_enabled: Some(true),
            rls_forced: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn the_checker_catches_each_rule() {
        let mut bad_pk = good_tenant_table("api_keys");
        bad_pk.primary_key = vec!["id".into(), "tenant_id".into()];
        let mut bad_unique = good_tenant_table("memberships");
        bad_unique.unique_constraints = vec![vec!["email".into()]];
        let mut bad_fk = good_tenant_table("outbox_events");
        bad_fk.foreign_keys = vec![ForeignKey {
            columns: vec!["key_id".into()],
            references_table: "api_keys".into(),
            references_columns: vec!["id".into()],
        }];
        let mut no_rls = good_tenant_table("audit_events");
        no_rls.rls_forced = Some(false);
        let stray = TableShape {
            name: "scratch".into(),
            ..Default::default()
        };
        let v = tenancy_violations(&[bad_pk, bad_unique, bad_fk, no_rls, stray]);
        let joined = v.join("\n");
        for needle in [
            "api_keys: primary key",
            "memberships: unique constraint",
            "outbox_events: foreign key",
            "audit_events: row-level security not forced",
            "scratch: not classified",
            "audit_heads: listed but missing",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in\n{joined}");
        }
    }
}
