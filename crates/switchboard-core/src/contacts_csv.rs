//! CSV import and export of contacts. An import is all or nothing: every row is validated first
//! (normalisation, typed attributes, duplicates within the file and against existing contacts),
//! and any error answers with the full row-level report and imports nothing.

use crate::attributes::check_value;
use crate::audit::{self, AuditDraft, RequestMeta};
use crate::contacts::{apply_contact, Change, ContactInput};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::{events, Core, TenantAccess};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use switchboard_store::model::{AttributeDefinition, Contact, ContactFilter};
use switchboard_store::Access;
use switchboard_types::{AttributeKind, AttributeTarget, CompanyId, ContactId};

/// Rows one import may hold.
pub const MAX_IMPORT_ROWS: usize = 10_000;
const ATTR_PREFIX: &str = "attr:";
const FIXED: [&str; 6] = [
    "name",
    "email",
    "phone",
    "phone_region",
    "external_id",
    "company_id",
];
/// Columns an export writes that an import skips, so an export can be imported elsewhere.
const IGNORED: [&str; 3] = ["id", "created_at", "updated_at"];

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub created: usize,
}

/// Protects spreadsheet users from formula injection: a cell that a spreadsheet would evaluate
/// (starting with `=`, `@`, tab, CR, or `+`/`-` not followed by a plain number such as an E.164
/// phone) is written with a leading `'`, which [`unprotect`] removes again on import.
pub fn protect(cell: &str) -> String {
    // Spreadsheets skip leading blanks before evaluating, and a cell that already starts with `'`
    // is marked too so that `unprotect` never eats a quote that was data.
    if cell.starts_with('\'') {
        return format!("'{cell}");
    }
    let mut chars = cell.trim_start_matches([' ', '\n']).chars();
    let risky = match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => {
            let rest = chars.as_str();
            rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        }
        _ => false,
    };
    if risky {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// Undoes [`protect`].
pub fn unprotect(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if protect(rest).starts_with('\'') => rest,
        _ => cell,
    }
}

/// A CSV cell turned into an attribute value of the defined kind.
fn cell_value(kind: AttributeKind, cell: &str) -> Result<Value, String> {
    match kind {
        AttributeKind::Number => cell
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| "must be a number".to_owned()),
        AttributeKind::Boolean => match cell.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err("must be true or false".into()),
        },
        AttributeKind::Text | AttributeKind::Date | AttributeKind::List | AttributeKind::Link => {
            Ok(Value::String(cell.to_owned()))
        }
    }
}

fn blank_contact(now: i64) -> Contact {
    Contact {
        id: ContactId::generate(),
        name: String::new(),
        email: None,
        phone: None,
        external_id: None,
        company_id: None,
        custom_attributes: Map::new(),
        created_at: now,
        updated_at: now,
    }
}

impl Core {
    pub async fn import_contacts(
        &self,
        access: &TenantAccess,
        csv_bytes: &[u8],
        meta: &RequestMeta,
    ) -> CoreResult<ImportReport> {
        if !access.role.can_write_contacts() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let defs: Vec<AttributeDefinition> =
            tx.list_attributes(Some(AttributeTarget::Contact)).await?;

        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .trim(csv::Trim::Headers)
            .from_reader(csv_bytes);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| CoreError::field("line[1]", &format!("unreadable header: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect();
        let mut errors = Vec::new();
        let mut seen_columns = HashSet::new();
        let mut columns = Vec::new();
        for h in &headers {
            if !seen_columns.insert(h.clone()) {
                errors.push(FieldError::new(
                    format!("line[1].{h}"),
                    "column appears twice",
                ));
            }
            if IGNORED.contains(&h.as_str()) || FIXED.contains(&h.as_str()) {
                columns.push((h.clone(), None));
            } else if let Some(key) = h.strip_prefix(ATTR_PREFIX) {
                match defs.iter().find(|d| d.key == key) {
                    Some(d) => columns.push((h.clone(), Some(d.clone()))),
                    None => errors.push(FieldError::new(
                        format!("line[1].{h}"),
                        "no contact attribute with this key is defined",
                    )),
                }
            } else {
                errors.push(FieldError::new(
                    format!("line[1].{h}"),
                    format!("unknown column; use {} or attr:<key>", FIXED.join(", ")),
                ));
            }
        }
        crate::validate::finish(errors)?;

        let mut contacts = Vec::new();
        let (mut emails, mut phones, mut external) =
            (HashSet::new(), HashSet::new(), HashSet::new());
        let mut errors = Vec::new();
        let mut rows = 0;
        for record in reader.records() {
            // The reader skips empty lines and quoted fields span lines: ask it where we are.
            let line = match &record {
                Ok(r) => r.position(),
                Err(e) => e.position(),
            }
            .map_or(0, csv::Position::line);
            if let Ok(r) = &record {
                if r.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
            }
            rows += 1;
            if rows > MAX_IMPORT_ROWS {
                return Err(CoreError::field(
                    "body",
                    &format!("at most {MAX_IMPORT_ROWS} rows per import"),
                ));
            }
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    errors.push(FieldError::new(
                        format!("line[{line}]"),
                        format!("unreadable row: {e}"),
                    ));
                    continue;
                }
            };
            let mut input = ContactInput::default();
            let mut attrs = Map::new();
            let mut row_errors = Vec::new();
            for ((name, def), cell) in columns.iter().zip(record.iter()) {
                let cell = unprotect(cell);
                if cell.trim().is_empty() {
                    continue;
                }
                match (name.as_str(), def) {
                    ("name", _) => input.name = Change::Set(cell.to_owned()),
                    ("email", _) => input.email = Change::Set(cell.to_owned()),
                    ("phone", _) => input.phone = Change::Set(cell.to_owned()),
                    ("phone_region", _) => input.phone_region = Some(cell.trim().to_owned()),
                    ("external_id", _) => input.external_id = Change::Set(cell.to_owned()),
                    ("company_id", _) => match cell.trim().parse::<CompanyId>() {
                        Ok(c) => input.company_id = Change::Set(c),
                        Err(_) => {
                            row_errors.push(FieldError::new("company_id", "not a company id"))
                        }
                    },
                    (_, Some(d)) => match cell_value(d.kind, cell)
                        .and_then(|v| check_value(d.kind, &d.options, &v).map(|()| v))
                    {
                        Ok(v) => {
                            attrs.insert(d.key.clone(), v);
                        }
                        Err(why) => row_errors.push(FieldError::new(name.clone(), why)),
                    },
                    _ => {}
                }
            }
            input.custom_attributes = Change::Set(attrs);
            let mut contact = blank_contact(now);
            if let Err(CoreError::Validation(v)) = apply_contact(&mut contact, input) {
                row_errors.extend(v);
            }
            for (field, value, seen) in [
                ("email", &contact.email, &mut emails),
                ("phone", &contact.phone, &mut phones),
                ("external_id", &contact.external_id, &mut external),
            ] {
                if let Some(v) = value {
                    if !seen.insert(v.clone()) {
                        row_errors.push(FieldError::new(
                            field,
                            "appears on an earlier line of this file",
                        ));
                        continue;
                    }
                    let filter = match field {
                        "email" => ContactFilter {
                            email: Some(v.clone()),
                            ..Default::default()
                        },
                        "phone" => ContactFilter {
                            phone: Some(v.clone()),
                            ..Default::default()
                        },
                        _ => ContactFilter {
                            external_id: Some(v.clone()),
                            ..Default::default()
                        },
                    };
                    if !tx
                        .list_contacts(&ContactFilter {
                            page: switchboard_store::model::PageRequest {
                                after: None,
                                limit: 1,
                            },
                            ..filter
                        })
                        .await?
                        .is_empty()
                    {
                        row_errors.push(FieldError::new(field, "a contact with this value exists"));
                    }
                }
            }
            if let Some(c) = &contact.company_id {
                if tx.get_company(c).await?.is_none() {
                    row_errors.push(FieldError::new("company_id", "no such company"));
                }
            }
            if row_errors.is_empty() {
                contacts.push(contact);
            } else {
                errors.extend(
                    row_errors
                        .into_iter()
                        .map(|e| FieldError::new(format!("line[{line}].{}", e.field), e.message)),
                );
            }
        }
        crate::validate::finish(errors)?;
        if contacts.is_empty() {
            return Err(CoreError::field("body", "the file has no contact rows"));
        }
        for c in &contacts {
            tx.insert_contact(c)
                .await
                .map_err(|e| crate::tenants::conflict(e, "a contact with this identifier"))?;
            events::emit(&mut *tx, "contact.created", json!({"contact_id": c.id, "name": c.name, "email": c.email, "phone": c.phone, "external_id": c.external_id, "company_id": c.company_id}), now).await?;
            let draft = AuditDraft::success("contact.created", "contact", c.id.to_string())
                .with_details(json!({"via": "csv_import"}));
            audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        }
        tx.commit().await?;
        Ok(ImportReport {
            created: contacts.len(),
        })
    }

    /// Every contact as CSV: the import columns (so an export re-imports), `id` and timestamps,
    /// and one `attr:<key>` column per defined contact attribute.
    pub async fn export_contacts(&self, access: &TenantAccess) -> CoreResult<String> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        let defs = tx.list_attributes(Some(AttributeTarget::Contact)).await?;
        let mut out = csv::Writer::from_writer(Vec::new());
        let csv_err = |e: csv::Error| CoreError::Internal(e.to_string());
        let mut header = vec!["id".to_owned()];
        header.extend(
            FIXED
                .iter()
                .filter(|c| **c != "phone_region")
                .map(|c| (*c).to_owned()),
        );
        header.extend(["created_at".to_owned(), "updated_at".to_owned()]);
        header.extend(defs.iter().map(|d| format!("{ATTR_PREFIX}{}", d.key)));
        out.write_record(&header).map_err(csv_err)?;
        let mut after = None;
        loop {
            let page = tx
                .list_contacts(&ContactFilter {
                    page: switchboard_store::model::PageRequest {
                        after: after.clone(),
                        limit: 1000,
                    },
                    ..Default::default()
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.to_string());
            for c in &page {
                let mut row = vec![
                    c.id.to_string(),
                    c.name.clone(),
                    c.email.clone().unwrap_or_default(),
                    c.phone.clone().unwrap_or_default(),
                    c.external_id.clone().unwrap_or_default(),
                    c.company_id
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    crate::clock::rfc3339(c.created_at),
                    crate::clock::rfc3339(c.updated_at),
                ];
                for d in &defs {
                    row.push(match c.custom_attributes.get(&d.key) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    });
                }
                out.write_record(row.iter().map(|c| protect(c)))
                    .map_err(csv_err)?;
            }
        }
        let bytes = out
            .into_inner()
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| CoreError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_round_trip() {
        for (raw, written) in [
            (
                "=HYPERLINK(\"http://evil\")",
                "'=HYPERLINK(\"http://evil\")",
            ),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-2+3", "'-2+3"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("+442079460018", "+442079460018"),
            ("-12.5", "-12.5"),
            ("Ada", "Ada"),
            ("'quoted", "''quoted"),
            (" =1+1", "' =1+1"),
        ] {
            assert_eq!(protect(raw), written, "{raw}");
            assert_eq!(unprotect(&protect(raw)), raw, "{raw}");
        }
    }

    #[test]
    fn cells_become_typed_values() {
        assert_eq!(
            cell_value(AttributeKind::Number, " 12.5 ").unwrap(),
            json!(12.5)
        );
        assert_eq!(
            cell_value(AttributeKind::Boolean, "Yes").unwrap(),
            json!(true)
        );
        assert!(cell_value(AttributeKind::Number, "twelve").is_err());
        assert!(cell_value(AttributeKind::Boolean, "maybe").is_err());
    }
}
