//! Contacts (the people who write in) and companies. A contact is found again by its email, its
//! phone number (normalised to E.164 with the libphonenumber metadata) or the tenant's own
//! external id; each is unique within a tenant.

use crate::audit::{self, AuditDraft, RequestMeta};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::tenants::conflict;
use crate::{changes, events, validate, Core, TenantAccess};
use serde_json::{json, Map, Value};
use std::str::FromStr;
use switchboard_store::model::{Company, Contact, ContactFilter, PageRequest};
use switchboard_store::{Access, TenantTx};
use switchboard_types::{AttributeTarget, CompanyId, ContactId};

/// A field a PATCH may leave alone, clear, or set.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

/// What a contact is made of, as entered (before normalisation).
#[derive(Debug, Clone, Default)]
pub struct ContactInput {
    pub name: Change<String>,
    pub email: Change<String>,
    pub phone: Change<String>,
    /// ISO 3166 alpha-2 region for numbers written without `+` (e.g. `GB` for `020 7946 0018`).
    pub phone_region: Option<String>,
    pub external_id: Change<String>,
    pub company_id: Change<CompanyId>,
    pub custom_attributes: Change<Map<String, Value>>,
}

/// What a company is made of.
#[derive(Debug, Clone, Default)]
pub struct CompanyInput {
    pub name: Change<String>,
    pub domain: Change<String>,
    pub custom_attributes: Change<Map<String, Value>>,
}

/// Parses a phone number and returns it in E.164, or says why not.
pub fn normalise_phone(raw: &str, region: Option<&str>) -> Result<String, String> {
    let region = match region {
        Some(r) => Some(
            phonenumber::country::Id::from_str(&r.to_ascii_uppercase())
                .map_err(|_| format!("unknown region {r:?}"))?,
        ),
        None => None,
    };
    if raw.chars().count() > 40 || raw.chars().any(char::is_control) {
        return Err("not a phone number".into());
    }
    let number = phonenumber::parse(region, raw).map_err(|_| {
        if region.is_none() && !raw.trim_start().starts_with('+') {
            "use the international format (+…) or give phone_region".to_owned()
        } else {
            "not a phone number".to_owned()
        }
    })?;
    if !phonenumber::is_valid(&number) {
        return Err("not a valid number in its numbering plan".into());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

fn attributes(field: &str, map: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    if map.len() > 50 {
        errors.push(FieldError::new(field, "at most 50 attributes"));
    }
    for key in map.keys() {
        let ok = (1..=64).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            errors.push(FieldError::new(
                format!("{field}.{key}"),
                "keys are 1-64 characters of a-z, 0-9 and _",
            ));
        }
    }
    if Value::Object(map.clone()).to_string().len() > 16 * 1024 {
        errors.push(FieldError::new(field, "at most 16 KiB"));
    }
}

fn optional_text(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control)
    {
        errors.push(FieldError::new(
            field,
            format!("1-{max} characters, no control characters"),
        ));
    }
}

/// Applies a contact input on top of `base`, validating and normalising each field.
pub(crate) fn apply_contact(base: &mut Contact, input: ContactInput) -> Result<(), CoreError> {
    let mut errors = Vec::new();
    match input.name {
        Change::Set(n) => {
            if n.chars().count() > 200 || n.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    "name",
                    "at most 200 characters, no control characters",
                ));
            }
            base.name = n.trim().to_owned();
        }
        Change::Clear => base.name.clear(),
        Change::Keep => {}
    }
    match input.email {
        Change::Set(e) => base.email = Some(validate::email("email", &e, &mut errors)),
        Change::Clear => base.email = None,
        Change::Keep => {}
    }
    match input.phone {
        Change::Set(p) => match normalise_phone(&p, input.phone_region.as_deref()) {
            Ok(e164) => base.phone = Some(e164),
            Err(why) => errors.push(FieldError::new("phone", why)),
        },
        Change::Clear => base.phone = None,
        Change::Keep => {}
    }
    match input.external_id {
        Change::Set(x) => {
            optional_text("external_id", &x, 255, &mut errors);
            base.external_id = Some(x.trim().to_owned());
        }
        Change::Clear => base.external_id = None,
        Change::Keep => {}
    }
    match input.company_id {
        Change::Set(c) => base.company_id = Some(c),
        Change::Clear => base.company_id = None,
        Change::Keep => {}
    }
    match input.custom_attributes {
        Change::Set(m) => {
            attributes("custom_attributes", &m, &mut errors);
            // Merged key by key: a key sent as null is removed, keys not sent are kept.
            for (k, v) in m {
                if v.is_null() {
                    base.custom_attributes.remove(&k);
                } else {
                    base.custom_attributes.insert(k, v);
                }
            }
        }
        Change::Clear => base.custom_attributes.clear(),
        Change::Keep => {}
    }
    validate::finish(errors)
}

/// Refuses an identifier another contact of the tenant already has, naming the field.
async fn ensure_unique(tx: &mut (dyn TenantTx + '_), c: &Contact) -> CoreResult<()> {
    for (field, filter) in [
        (
            "email",
            c.email.clone().map(|v| ContactFilter {
                email: Some(v),
                ..Default::default()
            }),
        ),
        (
            "phone",
            c.phone.clone().map(|v| ContactFilter {
                phone: Some(v),
                ..Default::default()
            }),
        ),
        (
            "external_id",
            c.external_id.clone().map(|v| ContactFilter {
                external_id: Some(v),
                ..Default::default()
            }),
        ),
    ] {
        if let Some(mut f) = filter {
            f.page.limit = 2;
            if tx
                .list_contacts(&f)
                .await?
                .iter()
                .any(|other| other.id != c.id)
            {
                return Err(CoreError::Conflict(match field {
                    "email" => "a contact with this email",
                    "phone" => "a contact with this phone number",
                    _ => "a contact with this external id",
                }));
            }
        }
    }
    if let Some(company) = &c.company_id {
        if tx.get_company(company).await?.is_none() {
            return Err(CoreError::field("company_id", "no such company"));
        }
    }
    Ok(())
}

fn contact_json(c: &Contact) -> Value {
    json!({"contact_id": c.id, "name": c.name, "email": c.email, "phone": c.phone, "external_id": c.external_id,
           "company_id": c.company_id, "custom_attributes": c.custom_attributes})
}

fn company_json(c: &Company) -> Value {
    json!({"company_id": c.id, "name": c.name, "domain": c.domain, "custom_attributes": c.custom_attributes})
}

impl Core {
    pub async fn create_contact(
        &self,
        access: &TenantAccess,
        input: ContactInput,
        meta: &RequestMeta,
    ) -> CoreResult<Contact> {
        if !access.role.can_write_contacts() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut contact = Contact {
            id: ContactId::generate(),
            name: String::new(),
            email: None,
            phone: None,
            external_id: None,
            company_id: None,
            custom_attributes: Map::new(),
            created_at: now,
            updated_at: now,
        };
        apply_contact(&mut contact, input)?;
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        ensure_unique(&mut *tx, &contact).await?;
        crate::attributes::check_values(
            &mut *tx,
            AttributeTarget::Contact,
            &contact.custom_attributes,
            None,
        )
        .await?;
        tx.insert_contact(&contact)
            .await
            .map_err(|e| conflict(e, "a contact with this identifier"))?;
        changes::record(
            &mut *tx,
            meta,
            "contact.created",
            "contact",
            contact.id.to_string(),
            contact_json(&contact),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(contact)
    }

    pub async fn get_contact(&self, access: &TenantAccess, id: &ContactId) -> CoreResult<Contact> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        tx.get_contact(id).await?.ok_or(CoreError::NotFound)
    }

    /// Several contacts by id in one read transaction (for lists that show each row's
    /// contact); ids of other tenants or of nobody are simply absent.
    pub async fn contacts_by_id(
        &self,
        access: &TenantAccess,
        ids: &[ContactId],
    ) -> CoreResult<Vec<Contact>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = tx.get_contact(id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    pub async fn list_contacts(
        &self,
        access: &TenantAccess,
        mut filter: ContactFilter,
    ) -> CoreResult<Vec<Contact>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        // Look-ups use the same normal forms as storage.
        let mut errors = Vec::new();
        filter.email = filter
            .email
            .map(|e| validate::email("email", &e, &mut errors));
        if let Some(p) = &filter.phone {
            match normalise_phone(p, None) {
                Ok(e) => filter.phone = Some(e),
                Err(why) => errors.push(FieldError::new("phone", why)),
            }
        }
        validate::finish(errors)?;
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_contacts(&filter).await?)
    }

    pub async fn update_contact(
        &self,
        access: &TenantAccess,
        id: &ContactId,
        input: ContactInput,
        meta: &RequestMeta,
    ) -> CoreResult<Contact> {
        if !access.role.can_write_contacts() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let mut contact = tx.get_contact(id).await?.ok_or(CoreError::NotFound)?;
        let before = contact_json(&contact);
        let previous_attributes = contact.custom_attributes.clone();
        apply_contact(&mut contact, input)?;
        contact.updated_at = now;
        ensure_unique(&mut *tx, &contact).await?;
        crate::attributes::check_values(
            &mut *tx,
            AttributeTarget::Contact,
            &contact.custom_attributes,
            Some(&previous_attributes),
        )
        .await?;
        if !tx
            .update_contact(&contact)
            .await
            .map_err(|e| conflict(e, "a contact with this identifier"))?
        {
            return Err(CoreError::NotFound);
        }
        let after = contact_json(&contact);
        events::emit(&mut *tx, "contact.updated", after.clone(), now).await?;
        let draft = AuditDraft::success("contact.updated", "contact", id.to_string())
            .with_details(json!({"before": before, "after": after}));
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        tx.commit().await?;
        Ok(contact)
    }

    pub async fn delete_contact(
        &self,
        access: &TenantAccess,
        id: &ContactId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_delete_contacts() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let deleted = tx.delete_contact(id).await.map_err(|e| match e {
            // Conversations still point at the contact: merge it into another one instead.
            switchboard_store::StoreError::MissingReference(_) => CoreError::Conflict(
                "a contact with conversations; merge it into another contact instead",
            ),
            other => CoreError::Store(other),
        })?;
        if !deleted {
            return Err(CoreError::NotFound);
        }
        changes::record(
            &mut *tx,
            meta,
            "contact.deleted",
            "contact",
            id.to_string(),
            json!({"contact_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Merges `duplicate` into `survivor`: the survivor keeps its own values and takes the
    /// duplicate's where it has none (identifiers, company, attributes); the duplicate is deleted.
    /// The audit entry holds the duplicate's full record, the only way to undo a merge by hand.
    pub async fn merge_contacts(
        &self,
        access: &TenantAccess,
        survivor: &ContactId,
        duplicate: &ContactId,
        meta: &RequestMeta,
    ) -> CoreResult<Contact> {
        // A merge deletes the duplicate, so it needs the right to delete.
        if !access.role.can_write_contacts() || !access.role.can_delete_contacts() {
            return Err(CoreError::Forbidden);
        }
        if survivor == duplicate {
            return Err(CoreError::field(
                "contact_id",
                "cannot merge a contact into itself",
            ));
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let mut keep = tx.get_contact(survivor).await?.ok_or(CoreError::NotFound)?;
        let gone = tx
            .get_contact(duplicate)
            .await?
            .ok_or(CoreError::NotFound)?;
        // Its conversations move to the survivor; then the duplicate goes, releasing its
        // identifiers for the survivor.
        let moved = tx.move_conversations(duplicate, survivor, now).await?;
        if !tx.delete_contact(duplicate).await? {
            return Err(CoreError::NotFound);
        }
        if keep.name.is_empty() {
            keep.name = gone.name.clone();
        }
        keep.email = keep.email.take().or_else(|| gone.email.clone());
        keep.phone = keep.phone.take().or_else(|| gone.phone.clone());
        keep.external_id = keep.external_id.take().or_else(|| gone.external_id.clone());
        keep.company_id = keep.company_id.take().or_else(|| gone.company_id.clone());
        for (k, v) in &gone.custom_attributes {
            keep.custom_attributes
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        keep.updated_at = now;
        if !tx
            .update_contact(&keep)
            .await
            .map_err(|e| conflict(e, "a contact with this identifier"))?
        {
            return Err(CoreError::NotFound);
        }
        events::emit(&mut *tx, "contact.updated", contact_json(&keep), now).await?;
        let details = json!({"conversations_moved": moved, "merged": {"id": gone.id, "name": gone.name, "email": gone.email, "phone": gone.phone,
            "external_id": gone.external_id, "company_id": gone.company_id, "custom_attributes": gone.custom_attributes,
            "created_at": gone.created_at}});
        events::emit(
            &mut *tx,
            "contact.merged",
            json!({"contact_id": keep.id, "merged_contact_id": gone.id}),
            now,
        )
        .await?;
        let draft = AuditDraft::success("contact.merged", "contact", keep.id.to_string())
            .with_details(details);
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        tx.commit().await?;
        Ok(keep)
    }

    pub async fn create_company(
        &self,
        access: &TenantAccess,
        input: CompanyInput,
        meta: &RequestMeta,
    ) -> CoreResult<Company> {
        if !access.role.can_write_contacts() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut company = Company {
            id: CompanyId::generate(),
            name: String::new(),
            domain: None,
            custom_attributes: Map::new(),
            created_at: now,
            updated_at: now,
        };
        apply_company(&mut company, input)?;
        if company.name.is_empty() {
            return Err(CoreError::field("name", "required"));
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        crate::attributes::check_values(
            &mut *tx,
            AttributeTarget::Company,
            &company.custom_attributes,
            None,
        )
        .await?;
        tx.insert_company(&company)
            .await
            .map_err(|e| conflict(e, "a company with this domain"))?;
        changes::record(
            &mut *tx,
            meta,
            "company.created",
            "company",
            company.id.to_string(),
            json!({"company_id": company.id, "name": company.name, "domain": company.domain}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(company)
    }

    pub async fn get_company(&self, access: &TenantAccess, id: &CompanyId) -> CoreResult<Company> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        tx.get_company(id).await?.ok_or(CoreError::NotFound)
    }

    pub async fn list_companies(
        &self,
        access: &TenantAccess,
        page: &PageRequest,
    ) -> CoreResult<Vec<Company>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        Ok(tx.list_companies(page).await?)
    }

    pub async fn update_company(
        &self,
        access: &TenantAccess,
        id: &CompanyId,
        input: CompanyInput,
        meta: &RequestMeta,
    ) -> CoreResult<Company> {
        if !access.role.can_write_contacts() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        let mut company = tx.get_company(id).await?.ok_or(CoreError::NotFound)?;
        let before = company_json(&company);
        let previous_attributes = company.custom_attributes.clone();
        apply_company(&mut company, input)?;
        if company.name.is_empty() {
            return Err(CoreError::field("name", "required"));
        }
        company.updated_at = now;
        crate::attributes::check_values(
            &mut *tx,
            AttributeTarget::Company,
            &company.custom_attributes,
            Some(&previous_attributes),
        )
        .await?;
        if !tx
            .update_company(&company)
            .await
            .map_err(|e| conflict(e, "a company with this domain"))?
        {
            return Err(CoreError::NotFound);
        }
        let after = company_json(&company);
        events::emit(&mut *tx, "company.updated", after.clone(), now).await?;
        let draft = AuditDraft::success("company.updated", "company", id.to_string())
            .with_details(json!({"before": before, "after": after}));
        audit::append(&mut *tx, access.ctx.actor(), meta, draft, now).await?;
        tx.commit().await?;
        Ok(company)
    }

    /// Deletes a company; its contacts stay, without a company.
    pub async fn delete_company(
        &self,
        access: &TenantAccess,
        id: &CompanyId,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        if !access.role.can_delete_contacts() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store.tenant(&access.ctx, Access::Write).await?;
        // The company's contacts lose it: each gets its own update event.
        let mut unlinked = Vec::new();
        let mut page = PageRequest {
            after: None,
            limit: 1000,
        };
        loop {
            let batch = tx
                .list_contacts(&ContactFilter {
                    company_id: Some(id.clone()),
                    page: page.clone(),
                    ..Default::default()
                })
                .await?;
            let Some(last) = batch.last() else { break };
            page.after = Some(last.id.to_string());
            unlinked.extend(batch);
        }
        if !tx.delete_company(id, now).await? {
            return Err(CoreError::NotFound);
        }
        for mut c in unlinked {
            c.company_id = None;
            c.updated_at = now;
            events::emit(&mut *tx, "contact.updated", contact_json(&c), now).await?;
        }
        changes::record(
            &mut *tx,
            meta,
            "company.deleted",
            "company",
            id.to_string(),
            json!({"company_id": id}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn apply_company(base: &mut Company, input: CompanyInput) -> Result<(), CoreError> {
    let mut errors = Vec::new();
    match input.name {
        Change::Set(n) => {
            validate::name("name", &n, &mut errors);
            base.name = n.trim().to_owned();
        }
        Change::Clear => errors.push(FieldError::new("name", "required")),
        Change::Keep => {}
    }
    match input.domain {
        Change::Set(d) => {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            let ok = (3..=253).contains(&d.len())
                && d.contains('.')
                && d.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !ok {
                errors.push(FieldError::new(
                    "domain",
                    "must be a domain name like example.com",
                ));
            }
            base.domain = Some(d);
        }
        Change::Clear => base.domain = None,
        Change::Keep => {}
    }
    match input.custom_attributes {
        Change::Set(m) => {
            attributes("custom_attributes", &m, &mut errors);
            // Merged key by key: a key sent as null is removed, keys not sent are kept.
            for (k, v) in m {
                if v.is_null() {
                    base.custom_attributes.remove(&k);
                } else {
                    base.custom_attributes.insert(k, v);
                }
            }
        }
        Change::Clear => base.custom_attributes.clear(),
        Change::Keep => {}
    }
    validate::finish(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_normalised_to_e164_with_real_numbering_plans() {
        assert_eq!(
            normalise_phone("+44 20 7946 0018", None).unwrap(),
            "+442079460018"
        );
        assert_eq!(
            normalise_phone("020 7946 0018", Some("gb")).unwrap(),
            "+442079460018"
        );
        assert_eq!(
            normalise_phone("(415) 555-2671", Some("US")).unwrap(),
            "+14155552671"
        );
        assert!(normalise_phone("020 7946 0018", None)
            .unwrap_err()
            .contains("international"));
        assert!(
            normalise_phone("+44 12", None).is_err(),
            "too short for the UK plan"
        );
        assert!(normalise_phone("+1 555 0100 999999", None).is_err());
        assert!(normalise_phone("'; DROP TABLE contacts;--", None).is_err());
        assert!(normalise_phone("+14155552671", Some("XX"))
            .unwrap_err()
            .contains("region"));
    }

    #[test]
    fn contacts_validate_every_field_and_name_it() {
        let mut c = Contact {
            id: ContactId::generate(),
            name: String::new(),
            email: None,
            phone: None,
            external_id: None,
            company_id: None,
            custom_attributes: Map::new(),
            created_at: 0,
            updated_at: 0,
        };
        let mut attrs = Map::new();
        attrs.insert("Bad Key".into(), json!(1));
        let input = ContactInput {
            email: Change::Set("nope".into()),
            phone: Change::Set("12".into()),
            external_id: Change::Set("x\0".into()),
            custom_attributes: Change::Set(attrs),
            ..Default::default()
        };
        let Err(CoreError::Validation(errors)) = apply_contact(&mut c, input) else {
            panic!("accepted")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["email", "phone", "external_id", "custom_attributes.Bad Key"]
        );
    }
}
