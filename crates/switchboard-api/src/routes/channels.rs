//! SMS and email inboxes: their settings (`/v1/inboxes/{id}/channel`), Twilio's inbound SMS
//! webhook (`/channels/sms/{public_id}`, authenticated by `X-Twilio-Signature`), and raw inbound
//! email posted by the tenant's mail relay (`/v1/inboxes/{id}/email`).

use crate::error::{ApiError, ApiResult};
use crate::extract::{read_body, Meta, Tenant, ValidJson, Validate};
use crate::routes::path_id;
use crate::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::channels::{sms_webhook_path, ChannelSettings};
use switchboard_core::sms::SmsReceipt;
use switchboard_core::widget::public_id;
use switchboard_store::model::Inbox;
use switchboard_types::{Channel, ConversationId, ErrorCode, InboxId, MessageId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_channel, put_channel))
        .routes(routes!(receive_email))
        .routes(routes!(twilio_sms))
}

/// An SMS inbox's Twilio settings.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// Your Twilio number (E.164).
    pub phone_number: String,
    pub account_sid: String,
    /// Write-only; required the first time, omit to keep the stored one.
    #[serde(skip_serializing)]
    pub auth_token: Option<String>,
}

/// An email inbox's settings.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// The support address customers write to; replies come from it.
    pub address: String,
    pub from_name: Option<String>,
}

/// Settings for the inbox's channel: one of `sms` or `email`, matching the inbox.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ChannelIn {
    Sms(SmsSettings),
    Email(EmailSettings),
}

impl Validate for ChannelIn {}

/// The inbox's channel settings (secrets never shown) and where providers reach it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelOut {
    pub inbox_id: InboxId,
    pub channel: Channel,
    /// SMS: the number, the account, whether an auth token is stored, and the URL to set as the
    /// number's incoming-message webhook in Twilio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<SmsOut>,
    /// Email: the address, and where your mail relay posts raw messages (with an API key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SmsOut {
    pub phone_number: Option<String>,
    pub account_sid: Option<String>,
    pub auth_token_set: bool,
    pub webhook_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailOut {
    pub address: Option<String>,
    pub from_name: Option<String>,
    pub inbound_url: String,
}

fn channel_out(state: &AppState, tenant: &switchboard_types::TenantId, i: Inbox) -> ChannelOut {
    let text = |k: &str| i.config.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let base = state.cfg.public_url.trim_end_matches('/');
    let sms = (i.channel == Channel::Sms).then(|| SmsOut {
        phone_number: text("phone_number"),
        account_sid: text("account_sid"),
        auth_token_set: i.channel_secret.is_some(),
        webhook_url: format!(
            "{base}{}",
            sms_webhook_path(&public_id(
                Channel::Sms,
                tenant,
                i.public_token.as_deref().unwrap_or_default()
            ))
        ),
    });
    let email = (i.channel == Channel::Email).then(|| EmailOut {
        address: text("address"),
        from_name: text("from_name"),
        inbound_url: format!("{base}/v1/inboxes/{}/email", i.id),
    });
    ChannelOut {
        inbox_id: i.id,
        channel: i.channel,
        sms,
        email,
    }
}

/// The channel settings of an SMS or email inbox (owner, admin).
#[utoipa::path(get, path = "/v1/inboxes/{inbox_id}/channel", tag = "channels", security(("bearer" = [])), params(("inbox_id" = String, Path)),
    responses((status = 200, body = ChannelOut), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)))]
async fn get_channel(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Path(id): Path<String>,
) -> ApiResult<Json<ChannelOut>> {
    if !access.role.can_manage_settings() {
        return Err(switchboard_core::CoreError::Forbidden.into());
    }
    let (inbox, _) = state
        .core
        .get_inbox(&access, &path_id::<InboxId>(&id)?)
        .await?;
    Ok(Json(channel_out(&state, access.ctx.tenant(), inbox)))
}

/// Set an SMS inbox's Twilio number and credentials, or an email inbox's address.
#[utoipa::path(put, path = "/v1/inboxes/{inbox_id}/channel", tag = "channels", security(("bearer" = [])), params(("inbox_id" = String, Path)), request_body = ChannelIn,
    responses((status = 200, body = ChannelOut), (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn put_channel(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    ValidJson(b): ValidJson<ChannelIn>,
) -> ApiResult<Json<ChannelOut>> {
    let settings = match b {
        ChannelIn::Sms(s) => ChannelSettings::Sms {
            phone_number: s.phone_number,
            account_sid: s.account_sid,
            auth_token: s.auth_token,
        },
        ChannelIn::Email(e) => ChannelSettings::Email {
            address: e.address,
            from_name: e.from_name,
        },
    };
    let inbox = state
        .core
        .configure_channel(&access, &path_id::<InboxId>(&id)?, settings, &meta)
        .await?;
    Ok(Json(channel_out(&state, access.ctx.tenant(), inbox)))
}

/// What became of a posted email.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailReceived {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    /// A new conversation was started (no thread matched).
    pub created: bool,
    /// The same Message-ID was already stored in this inbox; nothing new was stored.
    pub duplicate: bool,
}

/// Post one raw RFC 5322 message (as your mail relay received it) to an email inbox. Threads by
/// `In-Reply-To`/`References`, then by the `[#number]` in the subject.
#[utoipa::path(post, path = "/v1/inboxes/{inbox_id}/email", tag = "channels", security(("bearer" = [])), params(("inbox_id" = String, Path)),
    request_body(content = String, content_type = "message/rfc822", description = "The raw message"),
    responses((status = 201, body = EmailReceived), (status = 200, description = "Already received", body = EmailReceived),
        (status = 400, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 413, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn receive_email(
    State(state): State<AppState>,
    Tenant(access): Tenant,
    Meta(meta): Meta,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<(StatusCode, Json<EmailReceived>)> {
    let id = path_id::<InboxId>(&id)?;
    let raw = read_body(req, state.cfg.email_max_bytes).await?;
    let email = switchboard_channels::email_in::parse(&raw)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let r = state.core.receive_email(&access, &id, email, &meta).await?;
    let status = if r.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(EmailReceived {
            conversation_id: r.conversation.id,
            message_id: r.message.id,
            created: r.created,
            duplicate: r.duplicate,
        }),
    ))
}

/// Twilio's incoming-message webhook (form-encoded, signed with `X-Twilio-Signature`). Answers
/// an empty TwiML response; a bad signature answers 403 and stores nothing.
#[utoipa::path(post, path = "/channels/sms/{public_id}", tag = "channels", params(("public_id" = String, Path), ("x-twilio-signature" = String, Header)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's parameters: From, To, Body, MessageSid, …"),
    responses((status = 200, description = "Stored (or already stored)", content_type = "text/xml"),
        (status = 400, body = crate::error::Problem), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 413, body = crate::error::Problem)))]
async fn twilio_sms(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(public): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    // Twilio signs the URL it called: this server's public URL and the path and query.
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let url = format!(
        "{}{path_and_query}",
        state.cfg.public_url.trim_end_matches('/')
    );
    let signature = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_body(req, state.cfg.body_limit_bytes).await?;
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let receipt = state
        .core
        .receive_sms(&public, &url, &params, signature.as_deref(), &meta)
        .await?;
    if let SmsReceipt::Duplicate = receipt {
        tracing::info!("Twilio redelivered a message already stored");
    }
    let mut res = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>".into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    Ok(res)
}
