//! Attachments: upload a file into a conversation, then send it with a message; download it
//! later. The same for widget visitors, limited to their own conversations.

use crate::error::ApiResult;
use crate::extract::{read_body, Meta, Tenant, ValidQuery, Validate};
use crate::routes::path_id;
use crate::routes::ts;
use crate::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::attachments::Upload;
use switchboard_core::FieldError;
use switchboard_store::model::Attachment;
use switchboard_types::{AttachmentId, ConversationId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(download))
        .routes(routes!(widget_upload))
        .routes(routes!(widget_download))
}

/// An uploaded file.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentOut {
    pub id: AttachmentId,
    pub conversation_id: ConversationId,
    /// A name only.
    pub filename: String,
    /// Sniffed from the bytes.
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: String,
}

impl From<Attachment> for AttachmentOut {
    fn from(a: Attachment) -> Self {
        Self {
            id: a.id,
            conversation_id: a.conversation_id,
            filename: a.filename,
            content_type: a.content_type,
            size: a.size,
            sha256: a.sha256,
            created_at: ts(a.created_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file's name (kept as a name only).
    pub filename: String,
}

impl Validate for UploadQuery {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        if self.filename.trim().is_empty() || self.filename.len() > 1024 {
            return Err(vec![FieldError::new("filename", "1 to 1024 characters")]);
        }
        Ok(())
    }
}

/// The bytes as a download that never renders in the browser.
/// A stored file as a download: its sniffed type, an RFC 6266 name, and no sniffing by browsers.
pub fn file_response(a: &Attachment, bytes: Vec<u8>) -> Response {
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&a.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    // RFC 6266 / 8187: an ASCII fallback and the UTF-8 name.
    let ascii: String = a
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = url_encode(&a.filename);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    res
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Upload a file into a conversation (the raw bytes as the body). Send it with
/// `attachment_ids` on a message. The type is sniffed from the bytes; executables and other
/// unlisted formats answer 415.
#[utoipa::path(post, path = "/v1/conversations/{conversation_id}/attachments", tag = "conversations", security(("bearer" = [])),
    params(("conversation_id" = String, Path), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = AttachmentOut), (status = 404, body = crate::error::Problem), (status = 413, body = crate::error::Problem),
        (status = 415, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn upload(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidQuery(q): ValidQuery<UploadQuery>,
    req: Request,
) -> ApiResult<(StatusCode, Json<AttachmentOut>)> {
    let conversation = path_id::<ConversationId>(&id)?;
    let bytes = read_body(req, state.core.config().attachment_max_bytes).await?;
    let a = state
        .core
        .upload_attachment(
            &access,
            &conversation,
            Upload {
                filename: q.filename,
                bytes: bytes.to_vec(),
            },
            &meta,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

/// Download an attachment.
#[utoipa::path(get, path = "/v1/attachments/{attachment_id}", tag = "conversations", security(("bearer" = [])),
    params(("attachment_id" = String, Path)),
    responses((status = 200, description = "The file, as a download", content_type = "application/octet-stream"), (status = 404, body = crate::error::Problem)))]
async fn download(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (a, bytes) = state
        .core
        .download_attachment(&access, &path_id::<AttachmentId>(&id)?)
        .await?;
    Ok(file_response(&a, bytes))
}

/// A visitor uploads a file into their conversation.
#[utoipa::path(post, path = "/widget/v1/{public_id}/conversations/{conversation_id}/attachments", tag = "widget",
    params(("public_id" = String, Path), ("conversation_id" = String, Path), ("x-widget-session" = String, Header), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = AttachmentOut), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem),
        (status = 413, body = crate::error::Problem), (status = 415, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
async fn widget_upload(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path((public_id, id)): Path<(String, String)>,
    ValidQuery(q): ValidQuery<UploadQuery>,
    headers: HeaderMap,
    req: Request,
) -> ApiResult<(StatusCode, Json<AttachmentOut>)> {
    let caller = super::widget::caller(&state, &public_id, &headers).await?;
    let conversation = path_id::<ConversationId>(&id)?;
    let bytes = read_body(req, state.core.config().attachment_max_bytes).await?;
    let a = state
        .core
        .widget_upload(
            &caller,
            &conversation,
            Upload {
                filename: q.filename,
                bytes: bytes.to_vec(),
            },
            &meta,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

/// A visitor downloads an attachment of their conversation.
#[utoipa::path(get, path = "/widget/v1/{public_id}/attachments/{attachment_id}", tag = "widget",
    params(("public_id" = String, Path), ("attachment_id" = String, Path), ("x-widget-session" = String, Header)),
    responses((status = 200, description = "The file, as a download", content_type = "application/octet-stream"), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn widget_download(
    State(state): State<AppState>,
    Path((public_id, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let caller = super::widget::caller(&state, &public_id, &headers).await?;
    let (a, bytes) = state
        .core
        .widget_download(&caller, &path_id::<AttachmentId>(&id)?)
        .await?;
    Ok(file_response(&a, bytes))
}
