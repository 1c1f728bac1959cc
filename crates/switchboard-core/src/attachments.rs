//! Attachments: files uploaded into a conversation (by an agent, a widget visitor, or arriving
//! with an email) and sent with a message.
//!
//! The type is sniffed from the bytes, never taken from the name or the claimed type, and only an
//! allow-list of everyday document, image, audio and video formats (plus UTF-8 text) is accepted;
//! anything else, executables included, is refused. Names are reduced to a name only. Downloads
//! are served as `attachment` with `nosniff`, so even text that looks like HTML never renders.

use crate::audit::RequestMeta;
use crate::blob::attachment_key;
use crate::email::safe_filename;
use crate::error::{CoreError, CoreResult};
use crate::widget::WidgetCaller;
use crate::{changes, Core, TenantAccess};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchboard_store::model::{Attachment, Message};
use switchboard_store::{Access, TenantCtx, TenantTx};
use switchboard_types::{AttachmentId, ConversationId};

/// Formats accepted, by sniffed MIME type.
const ALLOWED: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/heif",
    "image/avif",
    "image/tiff",
    "application/pdf",
    "application/zip",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/rtf",
    "audio/mpeg",
    "audio/ogg",
    "audio/x-wav",
    "audio/x-flac",
    "audio/m4a",
    "audio/aac",
    "video/mp4",
    "video/webm",
    "video/quicktime",
    "text/plain",
];

/// The type of `bytes` if it is one we accept: sniffed from magic numbers, or `text/plain` for
/// valid UTF-8 without NUL characters.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    match infer::get(bytes) {
        Some(kind) => ALLOWED.iter().copied().find(|a| *a == kind.mime_type()),
        None if !bytes.is_empty() && !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok() => {
            Some("text/plain")
        }
        None => None,
    }
}

/// What an attachment looks like inside a message (stored with the message, so a thread reads
/// without a join).
pub fn summary(a: &Attachment) -> Value {
    json!({"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size})
}

/// An upload to check and store.
#[derive(Debug)]
pub struct Upload {
    pub filename: String,
    pub bytes: Vec<u8>,
}

impl Core {
    /// Checks an upload, stores its bytes, and returns the row to insert (not yet inserted).
    pub(crate) async fn store_upload(
        &self,
        ctx: &TenantCtx,
        conversation: &ConversationId,
        upload: Upload,
    ) -> CoreResult<Attachment> {
        let max = self.config().attachment_max_bytes;
        if upload.bytes.is_empty() {
            return Err(CoreError::field("file", "the file is empty"));
        }
        if upload.bytes.len() > max {
            return Err(CoreError::field(
                "file",
                &format!("larger than the {max}-byte limit"),
            ));
        }
        let Some(content_type) = sniff(&upload.bytes) else {
            return Err(CoreError::UnsupportedType(
                "this kind of file is not accepted: send images, PDFs, office documents, audio, video or plain text".into(),
            ));
        };
        let id = AttachmentId::generate();
        let key = attachment_key(ctx.tenant(), &id);
        let attachment = Attachment {
            id,
            conversation_id: conversation.clone(),
            message_id: None,
            filename: safe_filename(&upload.filename),
            content_type: content_type.to_owned(),
            size: i64::try_from(upload.bytes.len()).unwrap_or(i64::MAX),
            sha256: hex::encode(Sha256::digest(&upload.bytes)),
            blob_key: key.clone(),
            uploaded_by: ctx.actor().clone(),
            created_at: self.now(),
        };
        self.blobs()
            .put(&key, upload.bytes, content_type)
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(attachment)
    }

    async fn record_upload(
        &self,
        tx: &mut (dyn TenantTx + '_),
        a: &Attachment,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        tx.insert_attachment(a).await?;
        changes::record(
            tx,
            meta,
            "attachment.uploaded",
            "attachment",
            a.id.to_string(),
            json!({"attachment_id": a.id, "conversation_id": a.conversation_id, "filename": a.filename,
                   "content_type": a.content_type, "size": a.size}),
            self.now(),
        )
        .await?;
        Ok(())
    }

    /// An agent uploads a file into a conversation, to send with a reply.
    pub async fn upload_attachment(
        &self,
        access: &TenantAccess,
        conversation: &ConversationId,
        upload: Upload,
        meta: &RequestMeta,
    ) -> CoreResult<Attachment> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        // Refuse before storing anything when the conversation is not this tenant's.
        self.conversation_inbox(access, conversation).await?;
        let a = self.store_upload(&access.ctx, conversation, upload).await?;
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        tx.get_conversation(conversation)
            .await?
            .ok_or(CoreError::NotFound)?;
        self.record_upload(&mut *tx, &a, meta).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// A visitor uploads a file into one of their conversations.
    pub async fn widget_upload(
        &self,
        caller: &WidgetCaller,
        conversation: &ConversationId,
        upload: Upload,
        meta: &RequestMeta,
    ) -> CoreResult<Attachment> {
        if !self.widget_owns(caller, conversation).await? {
            return Err(CoreError::NotFound);
        }
        let ip = meta.ip.clone().unwrap_or_default();
        crate::widget::limit_messages(self, &ip, caller)?;
        let a = self.store_upload(&caller.ctx, conversation, upload).await?;
        let mut tx = self.store().tenant(&caller.ctx, Access::Write).await?;
        self.record_upload(&mut *tx, &a, meta).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// An attachment and its bytes, for agents of the tenant.
    pub async fn download_attachment(
        &self,
        access: &TenantAccess,
        id: &AttachmentId,
    ) -> CoreResult<(Attachment, Vec<u8>)> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        let a = {
            let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
            tx.get_attachment(id).await?.ok_or(CoreError::NotFound)?
        };
        self.blob_of(a).await
    }

    /// An attachment a visitor may see: in their conversation, and either their own upload or
    /// sent with a message that is not a private note.
    pub async fn widget_download(
        &self,
        caller: &WidgetCaller,
        id: &AttachmentId,
    ) -> CoreResult<(Attachment, Vec<u8>)> {
        let a = {
            let mut tx = self.store().tenant(&caller.ctx, Access::Read).await?;
            let a = tx.get_attachment(id).await?.ok_or(CoreError::NotFound)?;
            let visible = match &a.message_id {
                Some(m) => tx.get_message(m).await?.is_some_and(|m| !m.private),
                None => &a.uploaded_by == caller.ctx.actor(),
            };
            if !visible {
                return Err(CoreError::NotFound);
            }
            a
        };
        if !self.widget_owns(caller, &a.conversation_id).await? {
            return Err(CoreError::NotFound);
        }
        self.blob_of(a).await
    }

    async fn blob_of(&self, a: Attachment) -> CoreResult<(Attachment, Vec<u8>)> {
        let bytes = self
            .blobs()
            .get(&a.blob_key)
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
            .ok_or_else(|| CoreError::Internal(format!("the bytes of {} are missing", a.id)))?;
        Ok((a, bytes))
    }
}

/// Joins uploaded attachments to a message being written: each must be in the message's
/// conversation and not yet sent. Returns their summaries for the message's metadata.
pub(crate) async fn attach(
    tx: &mut (dyn TenantTx + '_),
    message: &Message,
    ids: &[AttachmentId],
) -> CoreResult<Vec<Value>> {
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let field = format!("attachment_ids[{i}]");
        let Some(a) = tx.get_attachment(id).await? else {
            return Err(CoreError::Validation(vec![crate::FieldError::new(
                field,
                "no such attachment",
            )]));
        };
        if a.conversation_id != message.conversation_id {
            return Err(CoreError::Validation(vec![crate::FieldError::new(
                field,
                "belongs to another conversation",
            )]));
        }
        if !tx.attach_to_message(id, &message.id).await? {
            return Err(CoreError::Validation(vec![crate::FieldError::new(
                field,
                "already sent with another message",
            )]));
        }
        out.push(summary(&a));
    }
    Ok(out)
}

/// Whether a message id list is within bounds.
pub(crate) fn check_ids(ids: &[AttachmentId]) -> CoreResult<()> {
    if ids.len() > 10 {
        return Err(CoreError::field("attachment_ids", "at most 10 attachments"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes_and_only_allowed_ones_pass() {
        let png = [
            0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
        ];
        assert_eq!(sniff(&png), Some("image/png"));
        assert_eq!(
            sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
            Some("application/pdf")
        );
        assert_eq!(
            sniff("plain text, even <script>alert(1)</script>".as_bytes()),
            Some("text/plain")
        );
        // An ELF executable and a Windows one, whatever they are called.
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"), None);
        assert_eq!(sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0"), None);
        // Binary junk and NULs are not text.
        assert_eq!(sniff(&[0xff, 0xfe, 0x00, 0x01]), None);
        assert_eq!(sniff(b""), None);
    }
}
