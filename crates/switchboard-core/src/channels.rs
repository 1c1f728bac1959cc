//! Channels that reach customers outside Switchboard (SMS, email): their per-inbox settings, the
//! adapter trait outbound messages go through, and the delivery job that calls it.
//!
//! An agent's reply on such a channel is stored as `pending` and a `message.deliver` job is queued
//! in the same transaction, so a committed reply is always attempted, and retried with backoff
//! while the provider fails temporarily. The adapter (Twilio's REST API, SMTP) lives outside core
//! and is handed in by the binary.

use crate::audit::RequestMeta;
use crate::error::{CoreError, CoreResult, FieldError};
use crate::{changes, secrets, validate, Core, TenantAccess};
use async_trait::async_trait;
use serde_json::{json, Map, Value};
use switchboard_store::model::{Contact, DeliveryStatus, Inbox, Message, PageRequest};
use switchboard_store::{Access, TenantCtx};
use switchboard_types::{Actor, Channel, InboxId, MessageId, TenantId, TenantStatus};

/// Everything an adapter needs to send one message.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub channel: Channel,
    pub message_id: MessageId,
    pub content: String,
    /// The inbox's settings (sender number or address, provider account).
    pub config: Map<String, Value>,
    /// The inbox's opened channel secret (e.g. the Twilio auth token).
    pub secret: Option<String>,
    pub to: Contact,
    /// Email only: the conversation's subject, and the thread's Message-IDs (oldest first) for
    /// `In-Reply-To` (the last) and `References`.
    pub subject: Option<String>,
    pub thread: Vec<String>,
    /// The conversation's display number (email subjects carry it for threading).
    pub conversation_number: i64,
}

/// What the provider said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id for the message (Twilio's `sid`, the email's Message-ID), when it gave
    /// one we could read.
    pub external_id: Option<String>,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Retrying will not help (rejected number, bad credentials, no adapter configured).
    #[error("{0}")]
    Permanent(String),
    /// Worth another attempt later (timeouts, 5xx, 429).
    #[error("{0}")]
    Temporary(String),
}

/// Sends outgoing messages on external channels.
#[async_trait]
pub trait ChannelSender: Send + Sync + std::fmt::Debug {
    async fn send(&self, out: &Outgoing) -> Result<Sent, SendError>;

    /// Sends the platform's own plain-text email (an invitation, say) to `to`. Without a mail
    /// relay and a sender address configured it fails permanently, and callers show the
    /// content some other way.
    async fn send_notice(&self, to: &str, subject: &str, text: &str) -> Result<(), SendError> {
        let _ = (to, subject, text);
        Err(SendError::Permanent("no mail relay is configured".into()))
    }
}

/// The sender of a core built without adapters: every send fails permanently, visibly.
#[derive(Debug, Default)]
pub struct NoChannels;

#[async_trait]
impl ChannelSender for NoChannels {
    async fn send(&self, out: &Outgoing) -> Result<Sent, SendError> {
        Err(SendError::Permanent(format!(
            "no adapter for the {} channel is configured",
            out.channel.as_str()
        )))
    }
}

/// A channel's settings as an administrator gives them.
#[derive(Debug, Clone)]
pub enum ChannelSettings {
    Sms {
        /// The Twilio number messages come from (E.164).
        phone_number: String,
        account_sid: String,
        /// Required the first time; absent keeps the stored one.
        auth_token: Option<String>,
    },
    Email {
        /// The support address customers write to and replies come from.
        address: String,
        /// The name replies are signed with.
        from_name: Option<String>,
    },
}

/// Seals a channel secret for storage: ChaCha20-Poly1305 under a key derived from the server
/// secret, bound to the tenant and inbox (a sealed value copied to another inbox does not open).
pub fn seal(
    key: &[u8; 32],
    tenant: &TenantId,
    inbox: &InboxId,
    plaintext: &str,
) -> CoreResult<String> {
    secrets::seal(key, &format!("{tenant}|{inbox}"), plaintext)
}

/// Opens what [`seal`] produced.
pub fn open(
    key: &[u8; 32],
    tenant: &TenantId,
    inbox: &InboxId,
    sealed: &str,
) -> CoreResult<String> {
    secrets::open(key, &format!("{tenant}|{inbox}"), sealed)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The path Twilio posts an SMS inbox's inbound messages to.
pub fn sms_webhook_path(public_id: &str) -> String {
    format!("/channels/sms/{public_id}")
}

impl Core {
    pub(crate) fn open_channel_secret(
        &self,
        tenant: &TenantId,
        inbox: &Inbox,
    ) -> CoreResult<Option<String>> {
        inbox
            .channel_secret
            .as_deref()
            .map(|s| open(&self.config().channel_key, tenant, &inbox.id, s))
            .transpose()
    }

    /// Sets an SMS or email inbox's channel settings (owner, admin). Secrets are sealed; the
    /// answer never contains them.
    pub async fn configure_channel(
        &self,
        access: &TenantAccess,
        id: &InboxId,
        settings: ChannelSettings,
        meta: &RequestMeta,
    ) -> CoreResult<Inbox> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let mut inbox = tx.get_inbox(id).await?.ok_or(CoreError::NotFound)?;
        let mut errors = Vec::new();
        match (&settings, inbox.channel) {
            (
                ChannelSettings::Sms {
                    phone_number,
                    account_sid,
                    auth_token,
                },
                Channel::Sms,
            ) => {
                match crate::contacts::normalise_phone(phone_number, None) {
                    Ok(p) => {
                        inbox.config.insert("phone_number".into(), json!(p));
                    }
                    Err(e) => errors.push(FieldError::new("phone_number", e)),
                }
                if account_sid.len() == 34
                    && account_sid.starts_with("AC")
                    && is_hex(&account_sid[2..], 32)
                {
                    inbox
                        .config
                        .insert("account_sid".into(), json!(account_sid));
                } else {
                    errors.push(FieldError::new(
                        "account_sid",
                        "AC followed by 32 hexadecimal digits",
                    ));
                }
                match auth_token {
                    Some(t) if is_hex(t, 32) => {
                        inbox.channel_secret = Some(seal(
                            &self.config().channel_key,
                            access.ctx.tenant(),
                            &inbox.id,
                            t,
                        )?);
                    }
                    Some(_) => errors.push(FieldError::new("auth_token", "32 hexadecimal digits")),
                    None if inbox.channel_secret.is_none() => {
                        errors.push(FieldError::new("auth_token", "required the first time"));
                    }
                    None => {}
                }
            }
            (ChannelSettings::Email { address, from_name }, Channel::Email) => {
                let a = validate::email("address", address, &mut errors);
                inbox.config.insert("address".into(), json!(a));
                match from_name.as_deref().map(str::trim) {
                    Some(n) if n.len() > 100 || n.chars().any(char::is_control) => {
                        errors.push(FieldError::new(
                            "from_name",
                            "at most 100 characters, no control characters",
                        ));
                    }
                    Some(n) if !n.is_empty() => {
                        inbox.config.insert("from_name".into(), json!(n));
                    }
                    _ => {
                        inbox.config.remove("from_name");
                    }
                }
            }
            _ => {
                return Err(CoreError::BadRequest(format!(
                    "these settings are not for a {} inbox",
                    inbox.channel.as_str()
                )))
            }
        }
        validate::finish(errors)?;
        inbox.updated_at = now;
        tx.update_inbox_channel(&inbox).await?;
        changes::record(
            &mut *tx,
            meta,
            "inbox.updated",
            "inbox",
            inbox.id.to_string(),
            json!({"inbox_id": inbox.id, "channel": inbox.channel, "config": inbox.config}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(inbox)
    }

    /// Sends one queued outgoing message and records the outcome (`message.delivery_updated`).
    ///
    /// At most once: the message is first claimed (`pending` → `sending`) in its own
    /// transaction, so a second run of the job (a lease taken over, a retry racing a slow first
    /// attempt) finds it claimed and sends nothing. A temporary failure puts it back to `pending`
    /// and returns an error, so the job retries with backoff; a permanent one marks it failed. A
    /// run that finds it still `sending` (the worker died mid-send) cannot know whether the
    /// provider got it, and marks it failed saying so rather than risk sending it twice.
    pub async fn deliver_message(
        &self,
        tenant_id: &TenantId,
        message_id: &MessageId,
    ) -> CoreResult<()> {
        let tenant = {
            let mut tx = self.store().control(Access::Read).await?;
            tx.get_tenant(tenant_id).await?
        };
        let Some(tenant) = tenant.filter(|t| t.status != TenantStatus::Deleted) else {
            return Ok(());
        };
        #[allow(clippy::disallowed_methods)] // a queued job acting for its tenant
        let ctx = TenantCtx::assume(
            tenant.id.clone(),
            Actor::system("delivery"),
            tenant.region.clone(),
        );
        let out = {
            let mut tx = self.store().tenant(&ctx, Access::Write).await?;
            let Some(mut message) = tx.get_message(message_id).await? else {
                return Ok(());
            };
            match message.delivery_status {
                Some(DeliveryStatus::Pending) => {}
                Some(DeliveryStatus::Sending) => {
                    drop(tx);
                    return self
                        .finish_delivery(&ctx, message_id, Err("delivery was interrupted; it may or may not have reached the customer".into()))
                        .await;
                }
                _ => return Ok(()),
            }
            message.delivery_status = Some(DeliveryStatus::Sending);
            tx.set_message_delivery(&message).await?;
            let conversation = tx
                .get_conversation(&message.conversation_id)
                .await?
                .ok_or(CoreError::NotFound)?;
            let inbox = tx
                .get_inbox(&conversation.inbox_id)
                .await?
                .ok_or(CoreError::NotFound)?;
            let contact = tx
                .get_contact(&conversation.contact_id)
                .await?
                .ok_or(CoreError::NotFound)?;
            // The thread's provider ids and the subject of its emails, oldest first.
            let mut thread = Vec::new();
            let mut subject = None;
            let mut after = None;
            loop {
                let page = tx
                    .list_messages(
                        &conversation.id,
                        &PageRequest {
                            after: after.clone(),
                            limit: 200,
                        },
                        false,
                    )
                    .await?;
                for m in &page {
                    if let Some(x) = &m.external_id {
                        thread.push(x.clone());
                    }
                    if let Some(s) = m.metadata.get("subject").and_then(Value::as_str) {
                        subject.get_or_insert_with(|| s.to_owned());
                    }
                }
                if page.len() < 200 {
                    break;
                }
                after = page.last().map(|m| m.id.to_string());
            }
            let out = Outgoing {
                channel: inbox.channel,
                message_id: message.id.clone(),
                content: message.content.clone(),
                secret: self.open_channel_secret(&tenant.id, &inbox)?,
                config: inbox.config.clone(),
                to: contact,
                subject,
                thread,
                conversation_number: conversation.number,
            };
            tx.commit().await?;
            out
        };
        match self.sender().send(&out).await {
            Ok(sent) => {
                self.finish_delivery(&ctx, message_id, Ok(sent.external_id))
                    .await
            }
            Err(SendError::Permanent(e)) => self.finish_delivery(&ctx, message_id, Err(e)).await,
            Err(SendError::Temporary(e)) => {
                tracing::warn!(message = %message_id, error = %e, "delivery failed; will retry");
                let mut tx = self.store().tenant(&ctx, Access::Write).await?;
                if let Some(mut m) = tx.get_message(message_id).await? {
                    if m.delivery_status == Some(DeliveryStatus::Sending) {
                        m.delivery_status = Some(DeliveryStatus::Pending);
                        m.metadata.insert("delivery_error".into(), json!(e));
                        tx.set_message_delivery(&m).await?;
                        tx.commit().await?;
                    }
                }
                Err(CoreError::Internal(format!("delivery failed: {e}")))
            }
        }
    }

    /// Records a claimed message's outcome: sent (with the provider's id) or failed (why).
    async fn finish_delivery(
        &self,
        ctx: &TenantCtx,
        message_id: &MessageId,
        outcome: Result<Option<String>, String>,
    ) -> CoreResult<()> {
        let now = self.now();
        let mut tx = self.store().tenant(ctx, Access::Write).await?;
        let Some(mut message) = tx.get_message(message_id).await? else {
            return Ok(());
        };
        if message.delivery_status != Some(DeliveryStatus::Sending) {
            return Ok(());
        }
        let conversation = tx
            .get_conversation(&message.conversation_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let (status, error) = match outcome {
            Ok(external_id) => {
                if external_id.is_some() {
                    message.external_id = external_id;
                }
                message.metadata.remove("delivery_error");
                (DeliveryStatus::Sent, None)
            }
            Err(e) => {
                message.metadata.insert("delivery_error".into(), json!(e));
                (DeliveryStatus::Failed, Some(e))
            }
        };
        message.delivery_status = Some(status);
        tx.set_message_delivery(&message).await?;
        changes::record(
            &mut *tx,
            &RequestMeta::default(),
            "message.delivery_updated",
            "message",
            message.id.to_string(),
            json!({"message_id": message.id, "conversation_id": conversation.id, "inbox_id": conversation.inbox_id,
                   "status": status.as_str(), "external_id": message.external_id, "error": error}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a message whose delivery job ran out of attempts as failed.
    pub async fn delivery_gave_up(
        &self,
        tenant_id: &TenantId,
        message_id: &MessageId,
        error: &str,
    ) -> CoreResult<()> {
        let tenant = {
            let mut tx = self.store().control(Access::Read).await?;
            tx.get_tenant(tenant_id).await?
        };
        let Some(tenant) = tenant.filter(|t| t.status != TenantStatus::Deleted) else {
            return Ok(());
        };
        #[allow(clippy::disallowed_methods)] // a queued job acting for its tenant
        let ctx = TenantCtx::assume(
            tenant.id.clone(),
            Actor::system("delivery"),
            tenant.region.clone(),
        );
        let now = self.now();
        let mut tx = self.store().tenant(&ctx, Access::Write).await?;
        let Some(mut message) = tx.get_message(message_id).await? else {
            return Ok(());
        };
        if message.delivery_status != Some(DeliveryStatus::Pending) {
            return Ok(());
        }
        let conversation = tx
            .get_conversation(&message.conversation_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        message.delivery_status = Some(DeliveryStatus::Failed);
        message
            .metadata
            .insert("delivery_error".into(), json!(error));
        tx.set_message_delivery(&message).await?;
        changes::record(
            &mut *tx,
            &RequestMeta::default(),
            "message.delivery_updated",
            "message",
            message.id.to_string(),
            json!({"message_id": message.id, "conversation_id": conversation.id, "inbox_id": conversation.inbox_id,
                   "status": "failed", "external_id": null, "error": error}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Whether replies in this channel leave Switchboard (and so need a delivery job).
pub fn delivers_externally(channel: Channel) -> bool {
    matches!(channel, Channel::Sms | Channel::Email)
}

/// A fresh outgoing message's delivery fields.
pub(crate) fn pending(message: &mut Message) {
    message.delivery_status = Some(DeliveryStatus::Pending);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_tenant_and_inbox() {
        let key = [7u8; 32];
        let (t, i) = (TenantId::generate(), InboxId::generate());
        let sealed = seal(&key, &t, &i, "0123456789abcdef0123456789abcdef").unwrap();
        assert!(!sealed.contains("0123456789abcdef"));
        assert_eq!(
            open(&key, &t, &i, &sealed).unwrap(),
            "0123456789abcdef0123456789abcdef"
        );
        assert!(open(&[8u8; 32], &t, &i, &sealed).is_err());
        assert!(open(&key, &TenantId::generate(), &i, &sealed).is_err());
        assert!(open(&key, &t, &InboxId::generate(), &sealed).is_err());
        assert!(open(&key, &t, &i, "v1.00.00").is_err());
        assert!(open(&key, &t, &i, "garbage").is_err());
        // Fresh nonce each time.
        assert_ne!(
            sealed,
            seal(&key, &t, &i, "0123456789abcdef0123456789abcdef").unwrap()
        );
    }
}
