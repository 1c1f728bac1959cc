//! Contacts and companies.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Meta, PageQuery, Tenant, ValidJson, ValidQuery, Validate};
use crate::routes::{ts, Page};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchboard_core::contacts::{Change, CompanyInput, ContactInput};
use switchboard_core::FieldError;
use switchboard_store::model::{Company, Contact, ContactFilter};
use switchboard_types::{CompanyId, ContactId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(get_contact, update_contact, delete_contact))
        .routes(routes!(merge_contact))
        .routes(routes!(import_contacts))
        .routes(routes!(export_contacts))
        .routes(routes!(list_companies, create_company))
        .routes(routes!(get_company, update_company, delete_company))
}

fn change<T>(v: Option<Option<T>>) -> Change<T> {
    match v {
        None => Change::Keep,
        Some(None) => Change::Clear,
        Some(Some(x)) => Change::Set(x),
    }
}

fn set<T>(v: Option<T>) -> Change<T> {
    v.map_or(Change::Keep, Change::Set)
}

/// A contact.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactOut {
    pub id: ContactId,
    pub name: String,
    pub email: Option<String>,
    /// E.164.
    #[schema(example = "+442079460018")]
    pub phone: Option<String>,
    pub external_id: Option<String>,
    pub company_id: Option<CompanyId>,
    pub custom_attributes: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Contact> for ContactOut {
    fn from(c: Contact) -> Self {
        Self {
            id: c.id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            external_id: c.external_id,
            company_id: c.company_id,
            custom_attributes: c.custom_attributes,
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

/// A new contact. Every identifier is optional; each is unique within the tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactIn {
    pub name: Option<String>,
    pub email: Option<String>,
    /// Any common format; stored as E.164.
    pub phone: Option<String>,
    /// ISO 3166 alpha-2 region for numbers written without `+`.
    #[schema(example = "GB")]
    pub phone_region: Option<String>,
    /// Your system's id for this person.
    pub external_id: Option<String>,
    pub company_id: Option<CompanyId>,
    pub custom_attributes: Option<Map<String, Value>>,
}

impl Validate for ContactIn {}

/// Changes to a contact: omit a field to keep it, send `null` to clear it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub phone_region: Option<String>,
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<String>)]
    pub company_id: Option<Option<CompanyId>>,
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<Object>)]
    pub custom_attributes: Option<Option<Map<String, Value>>>,
}

impl Validate for ContactPatch {}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContactQuery {
    /// Exact email (normalised like stored ones).
    pub email: Option<String>,
    /// Exact phone number in international format.
    pub phone: Option<String>,
    pub external_id: Option<String>,
    pub company_id: Option<CompanyId>,
    pub limit: Option<i64>,
    pub after: Option<String>,
}

impl Validate for ContactQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        PageQuery {
            limit: self.limit,
            after: None,
        }
        .validate()
    }
}

fn contact_id(raw: &str) -> ApiResult<ContactId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

fn company_id(raw: &str) -> ApiResult<CompanyId> {
    raw.parse().map_err(|_| ApiError::not_found())
}

/// List or look up contacts.
#[utoipa::path(get, path = "/v1/contacts", tag = "contacts", security(("bearer" = [])), params(ContactQuery),
    responses((status = 200, body = Page<ContactOut>), (status = 422, body = crate::error::Problem)))]
async fn list_contacts(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<ContactQuery>,
) -> ApiResult<Json<Page<ContactOut>>> {
    let page = PageQuery {
        limit: q.limit,
        after: q.after,
    };
    let filter = ContactFilter {
        email: q.email,
        phone: q.phone,
        external_id: q.external_id,
        company_id: q.company_id,
        page: page.to_store(),
    };
    let items = state.core.list_contacts(&access, filter).await?;
    Ok(Json(Page::from_overfetch(
        items,
        page.page_size(),
        |c| c.id.to_string(),
        ContactOut::from,
    )))
}

/// Create a contact.
#[utoipa::path(post, path = "/v1/contacts", tag = "contacts", security(("bearer" = [])), request_body = ContactIn,
    responses((status = 201, body = ContactOut), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_contact(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<ContactIn>,
) -> ApiResult<(StatusCode, Json<ContactOut>)> {
    let input = ContactInput {
        name: set(b.name),
        email: set(b.email),
        phone: set(b.phone),
        phone_region: b.phone_region,
        external_id: set(b.external_id),
        company_id: set(b.company_id),
        custom_attributes: set(b.custom_attributes),
    };
    let c = state.core.create_contact(&access, input, &meta).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// One contact.
#[utoipa::path(get, path = "/v1/contacts/{contact_id}", tag = "contacts", security(("bearer" = [])), params(("contact_id" = String, Path)),
    responses((status = 200, body = ContactOut), (status = 404, body = crate::error::Problem)))]
async fn get_contact(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ContactOut>> {
    Ok(Json(
        state
            .core
            .get_contact(&access, &contact_id(&id)?)
            .await?
            .into(),
    ))
}

/// Change a contact.
#[utoipa::path(patch, path = "/v1/contacts/{contact_id}", tag = "contacts", security(("bearer" = [])), params(("contact_id" = String, Path)), request_body = ContactPatch,
    responses((status = 200, body = ContactOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn update_contact(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ContactPatch>,
) -> ApiResult<Json<ContactOut>> {
    let input = ContactInput {
        name: change(b.name),
        email: change(b.email),
        phone: change(b.phone),
        phone_region: b.phone_region,
        external_id: change(b.external_id),
        company_id: change(b.company_id),
        custom_attributes: change(b.custom_attributes),
    };
    Ok(Json(
        state
            .core
            .update_contact(&access, &contact_id(&id)?, input, &meta)
            .await?
            .into(),
    ))
}

/// Delete a contact (owner, admin).
#[utoipa::path(delete, path = "/v1/contacts/{contact_id}", tag = "contacts", security(("bearer" = [])), params(("contact_id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn delete_contact(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .delete_contact(&access, &contact_id(&id)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The duplicate to fold into this contact.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeIn {
    pub duplicate_id: ContactId,
}

impl Validate for MergeIn {}

/// Merge a duplicate into this contact: empty fields are filled from the duplicate, which is
/// deleted. Audited with the duplicate's full record.
#[utoipa::path(post, path = "/v1/contacts/{contact_id}/merge", tag = "contacts", security(("bearer" = [])), params(("contact_id" = String, Path)), request_body = MergeIn,
    responses((status = 200, body = ContactOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn merge_contact(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<MergeIn>,
) -> ApiResult<Json<ContactOut>> {
    Ok(Json(
        state
            .core
            .merge_contacts(&access, &contact_id(&id)?, &b.duplicate_id, &meta)
            .await?
            .into(),
    ))
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportOut {
    pub created: usize,
}

/// Import contacts from CSV (`Content-Type: text/csv`). Columns: `name`, `email`, `phone`,
/// `phone_region`, `external_id`, `company_id` and `attr:<key>` for defined attributes (`id`,
/// `created_at`, `updated_at` from an export are skipped). All or nothing: any invalid row answers
/// 422 listing every error as `line[N].column`, and nothing is imported. At most 10,000 rows.
#[utoipa::path(post, path = "/v1/contacts/import", tag = "contacts", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 201, body = ImportOut), (status = 415, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn import_contacts(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    req: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<ImportOut>)> {
    let is_csv = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
        });
    if !is_csv {
        return Err(ApiError::new(
            switchboard_types::ErrorCode::UnsupportedMediaType,
            "Send the file with Content-Type: text/csv.",
        ));
    }
    let body = crate::extract::read_body(req, state.cfg.body_limit_bytes).await?;
    let report = state.core.import_contacts(&access, &body, &meta).await?;
    Ok((
        StatusCode::CREATED,
        Json(ImportOut {
            created: report.created,
        }),
    ))
}

/// Every contact as CSV, with one `attr:<key>` column per defined attribute.
#[utoipa::path(get, path = "/v1/contacts/export", tag = "contacts", security(("bearer" = [])),
    responses((status = 200, content_type = "text/csv", body = String)))]
async fn export_contacts(
    State(state): State<AppState>,
    Tenant(access): Tenant,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let csv = state.core.export_contacts(&access).await?;
    let mut res = csv.into_response();
    res.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    res.headers_mut().insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("attachment; filename=\"contacts.csv\""),
    );
    Ok(res)
}

/// A company.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyOut {
    pub id: CompanyId,
    pub name: String,
    pub domain: Option<String>,
    pub custom_attributes: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Company> for CompanyOut {
    fn from(c: Company) -> Self {
        Self {
            id: c.id,
            name: c.name,
            domain: c.domain,
            custom_attributes: c.custom_attributes,
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
        }
    }
}

/// A new company, or changes to one (omit a field to keep it; `null` clears `domain`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyIn {
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<String>, example = "acme.example")]
    pub domain: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::routes::nullable")]
    #[schema(value_type = Option<Object>)]
    pub custom_attributes: Option<Option<Map<String, Value>>>,
}

impl Validate for CompanyIn {}

impl From<CompanyIn> for CompanyInput {
    fn from(b: CompanyIn) -> Self {
        Self {
            name: change(b.name),
            domain: change(b.domain),
            custom_attributes: change(b.custom_attributes),
        }
    }
}

/// List companies.
#[utoipa::path(get, path = "/v1/companies", tag = "contacts", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<CompanyOut>)))]
async fn list_companies(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    ValidQuery(q): ValidQuery<PageQuery>,
) -> ApiResult<Json<Page<CompanyOut>>> {
    let items = state.core.list_companies(&access, &q.to_store()).await?;
    Ok(Json(Page::from_overfetch(
        items,
        q.page_size(),
        |c| c.id.to_string(),
        CompanyOut::from,
    )))
}

/// Create a company.
#[utoipa::path(post, path = "/v1/companies", tag = "contacts", security(("bearer" = [])), request_body = CompanyIn,
    responses((status = 201, body = CompanyOut), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn create_company(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    ValidJson(b): ValidJson<CompanyIn>,
) -> ApiResult<(StatusCode, Json<CompanyOut>)> {
    let c = state.core.create_company(&access, b.into(), &meta).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// One company.
#[utoipa::path(get, path = "/v1/companies/{company_id}", tag = "contacts", security(("bearer" = [])), params(("company_id" = String, Path)),
    responses((status = 200, body = CompanyOut), (status = 404, body = crate::error::Problem)))]
async fn get_company(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<CompanyOut>> {
    Ok(Json(
        state
            .core
            .get_company(&access, &company_id(&id)?)
            .await?
            .into(),
    ))
}

/// Change a company.
#[utoipa::path(patch, path = "/v1/companies/{company_id}", tag = "contacts", security(("bearer" = [])), params(("company_id" = String, Path)), request_body = CompanyIn,
    responses((status = 200, body = CompanyOut), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
async fn update_company(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<CompanyIn>,
) -> ApiResult<Json<CompanyOut>> {
    Ok(Json(
        state
            .core
            .update_company(&access, &company_id(&id)?, b.into(), &meta)
            .await?
            .into(),
    ))
}

/// Delete a company; its contacts remain, without a company (owner, admin).
#[utoipa::path(delete, path = "/v1/companies/{company_id}", tag = "contacts", security(("bearer" = [])), params(("company_id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn delete_company(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .core
        .delete_company(&access, &company_id(&id)?, &meta)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
