//! Custom attribute definitions and the type check every stored value passes.

use crate::audit::RequestMeta;
use crate::error::{CoreError, CoreResult, FieldError};
use crate::tenants::conflict;
use crate::{changes, validate, Core, TenantAccess};
use serde_json::{json, Map, Value};
use switchboard_store::model::AttributeDefinition;
use switchboard_store::{Access, TenantTx};
use switchboard_types::{AttributeId, AttributeKind, AttributeTarget};

/// A definition to create.
#[derive(Debug, Clone)]
pub struct NewAttribute {
    pub applies_to: AttributeTarget,
    pub key: String,
    pub label: String,
    pub kind: AttributeKind,
    pub options: Vec<String>,
}

/// Whether `value` is a valid value of `kind` (with `options` for lists); the reason if not.
pub fn check_value(kind: AttributeKind, options: &[String], value: &Value) -> Result<(), String> {
    match (kind, value) {
        (AttributeKind::Text, Value::String(s)) if s.chars().count() <= 1000 => Ok(()),
        (AttributeKind::Text, _) => Err("must be text of at most 1000 characters".into()),
        (AttributeKind::Number, Value::Number(n)) if n.as_f64().is_some_and(f64::is_finite) => {
            Ok(())
        }
        (AttributeKind::Number, _) => Err("must be a number".into()),
        (AttributeKind::Boolean, Value::Bool(_)) => Ok(()),
        (AttributeKind::Boolean, _) => Err("must be true or false".into()),
        (AttributeKind::Date, Value::String(s)) => {
            time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
                .map(|_| ())
                .map_err(|_| "must be a date, YYYY-MM-DD".into())
        }
        (AttributeKind::Date, _) => Err("must be a date, YYYY-MM-DD".into()),
        (AttributeKind::List, Value::String(s)) if options.contains(s) => Ok(()),
        (AttributeKind::List, _) => Err(format!("must be one of {}", options.join(", "))),
        (AttributeKind::Link, Value::String(s)) => match url::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && s.len() <= 2048 => Ok(()),
            _ => Err("must be an http(s) URL".into()),
        },
        (AttributeKind::Link, _) => Err("must be an http(s) URL".into()),
    }
}

/// Checks every value against the tenant's definitions for `target`; undefined keys are refused.
pub(crate) async fn check_values(
    tx: &mut (dyn TenantTx + '_),
    target: AttributeTarget,
    values: &Map<String, Value>,
    previous: Option<&Map<String, Value>>,
) -> CoreResult<()> {
    // Only what this write sets or changes is checked: values stored under a definition that was
    // since deleted or changed stay, and must not block unrelated updates.
    let changed: Map<String, Value> = values
        .iter()
        .filter(|(k, v)| previous.and_then(|p| p.get(*k)) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let values = &changed;
    if values.is_empty() {
        return Ok(());
    }
    let defs = tx.list_attributes(Some(target)).await?;
    let mut errors = Vec::new();
    for (key, value) in values {
        let field = format!("custom_attributes.{key}");
        match defs.iter().find(|d| &d.key == key) {
            None => errors.push(FieldError::new(
                field,
                format!("no {} attribute `{key}` is defined", target.as_str()),
            )),
            Some(d) => {
                if let Err(why) = check_value(d.kind, &d.options, value) {
                    errors.push(FieldError::new(field, why));
                }
            }
        }
    }
    validate::finish(errors)
}

impl Core {
    pub async fn create_attribute(
        &self,
        access: &TenantAccess,
        input: NewAttribute,
        meta: &RequestMeta,
    ) -> CoreResult<AttributeDefinition> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut errors = Vec::new();
        let key_ok = (1..=64).contains(&input.key.len())
            && input
                .key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && input
                .key
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase());
        if !key_ok {
            errors.push(FieldError::new(
                "key",
                "1-64 characters of a-z, 0-9 and _, starting with a letter",
            ));
        }
        validate::name("label", &input.label, &mut errors);
        let mut options = input.options;
        if input.kind == AttributeKind::List {
            let mut seen = std::collections::HashSet::new();
            options.retain(|o| seen.insert(o.clone()));
            if options.is_empty() || options.len() > 100 {
                errors.push(FieldError::new("options", "a list needs 1-100 options"));
            }
            for (i, o) in options.iter().enumerate() {
                validate::name(&format!("options[{i}]"), o, &mut errors);
            }
        } else if !options.is_empty() {
            errors.push(FieldError::new(
                "options",
                "only list attributes have options",
            ));
        }
        validate::finish(errors)?;
        let now = self.now();
        let def = AttributeDefinition {
            id: AttributeId::generate(),
            applies_to: input.applies_to,
            key: input.key,
            label: input.label.trim().to_owned(),
            kind: input.kind,
            options,
            created_at: now,
        };
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        tx.insert_attribute(&def)
            .await
            .map_err(|e| conflict(e, "an attribute with this key"))?;
        let data = json!({"attribute_id": def.id, "applies_to": def.applies_to, "key": def.key, "kind": def.kind});
        changes::record(
            &mut *tx,
            meta,
            "attribute_definition.created",
            "attribute_definition",
            def.id.to_string(),
            data,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(def)
    }

    pub async fn list_attributes(
        &self,
        access: &TenantAccess,
        applies_to: Option<AttributeTarget>,
    ) -> CoreResult<Vec<AttributeDefinition>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_attributes(applies_to).await?)
    }

    /// Deletes a definition. Values already stored stay (records keep their data) but no new
    /// value under that key is accepted.
    pub async fn delete_attribute(
        &self,
        access: &TenantAccess,
        id: &AttributeId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        if !tx.delete_attribute(id).await? {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "attribute_definition.deleted",
            "attribute_definition",
            id.to_string(),
            json!({"attribute_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_their_kind() {
        let opts = vec!["gold".to_owned(), "silver".to_owned()];
        for (kind, good, bad) in [
            (AttributeKind::Text, json!("hello"), json!(5)),
            (AttributeKind::Number, json!(12.5), json!("12")),
            (AttributeKind::Boolean, json!(true), json!("yes")),
            (
                AttributeKind::Date,
                json!("2026-02-28"),
                json!("2026-02-30"),
            ),
            (AttributeKind::List, json!("gold"), json!("bronze")),
            (
                AttributeKind::Link,
                json!("https://example.com/x"),
                json!("javascript:alert(1)"),
            ),
        ] {
            assert!(check_value(kind, &opts, &good).is_ok(), "{kind:?} {good}");
            assert!(check_value(kind, &opts, &bad).is_err(), "{kind:?} {bad}");
        }
        assert!(check_value(AttributeKind::Text, &[], &json!("x".repeat(1001))).is_err());
    }
}
