//! Email in: a parsed RFC 5322 message becomes a customer message, threaded into the right
//! conversation.
//!
//! Threading, in order: the `In-Reply-To` and `References` ids (latest first) matched against the
//! Message-IDs of this inbox's messages (inbound ones as received, outbound ones as we sent
//! them); then a `[#<number>]` tag in the subject, which our replies carry. Either must point at a
//! conversation of the same sender in the same inbox, so a forged header never files a message
//! into someone else's conversation (and every look-up runs inside the tenant). Otherwise a new
//! conversation starts. A Message-ID already stored in this inbox is a redelivery: nothing new is
//! stored.

use crate::audit::RequestMeta;
use crate::conversations::{resolve_contact, ContactRef, Incoming, Thread, MAX_MESSAGE_BYTES};
use crate::error::{CoreError, CoreResult};
use crate::{Core, TenantAccess};
use serde_json::{json, Map, Value};
use switchboard_store::model::{Conversation, ConversationFilter, Message, PageRequest};
use switchboard_store::Access;
use switchboard_types::{Channel, InboxId};

/// One attachment as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// The file name as a name only: no directories, no control characters.
    pub filename: String,
    /// As the message declared it (the stored type is sniffed from the bytes).
    pub content_type: String,
    pub size: usize,
    pub bytes: Vec<u8>,
}

/// A parsed inbound email.
#[derive(Debug, Clone, Default)]
pub struct InboundEmail {
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from_email: String,
    pub from_name: Option<String>,
    pub subject: Option<String>,
    /// The plain text (HTML converted when there was no text part).
    pub text: String,
    pub attachments: Vec<AttachmentInfo>,
}

/// What became of an email.
#[derive(Debug)]
pub struct EmailReceipt {
    pub conversation: Conversation,
    pub message: Message,
    pub created: bool,
    /// Already received (same Message-ID in this inbox): nothing was stored.
    pub duplicate: bool,
}

/// Reduces a file name from a message to a name only.
pub fn safe_filename(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_owned();
    let mut name: String = cleaned.chars().take(200).collect();
    if name.is_empty() {
        name = "attachment".to_owned();
    }
    name
}

/// The conversation number in a subject's `[#123]` tag.
pub fn subject_number(subject: &str) -> Option<i64> {
    let start = subject.rfind("[#")? + 2;
    let rest = &subject[start..];
    let end = rest.find(']')?;
    rest[..end].parse().ok().filter(|n| *n > 0)
}

/// Cuts text to the longest message we store, at a character boundary.
fn clip(text: &str) -> (String, bool) {
    if text.len() <= MAX_MESSAGE_BYTES {
        return (text.to_owned(), false);
    }
    let mut end = MAX_MESSAGE_BYTES - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (format!("{}…", &text[..end]), true)
}

impl Core {
    /// The receipt of an email whose Message-ID is already stored in this tenant.
    async fn already_received(
        &self,
        access: &TenantAccess,
        email: &InboundEmail,
    ) -> CoreResult<EmailReceipt> {
        let id = email.message_id.clone().ok_or(CoreError::NotFound)?;
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        let message = tx
            .messages_by_external_ids(&[id])
            .await?
            .into_iter()
            .next()
            .ok_or(CoreError::NotFound)?;
        let conversation = tx
            .get_conversation(&message.conversation_id)
            .await?
            .ok_or(CoreError::NotFound)?;
        Ok(EmailReceipt {
            conversation,
            message,
            created: false,
            duplicate: true,
        })
    }

    /// Stores an inbound email in an email inbox (the tenant's mail relay posts it with an API
    /// key that may work conversations).
    pub async fn receive_email(
        &self,
        access: &TenantAccess,
        inbox_id: &InboxId,
        email: InboundEmail,
        meta: &RequestMeta,
    ) -> CoreResult<EmailReceipt> {
        if !access.role.can_work_conversations() {
            return Err(CoreError::Forbidden);
        }
        // Attachment bytes go to the blob store first; one that is refused (type, size) is
        // listed on the message with the reason instead.
        let mut stored = Vec::new();
        let mut refused = Vec::new();
        let placeholder = switchboard_types::ConversationId::generate();
        for a in &email.attachments {
            let upload = crate::attachments::Upload {
                filename: a.filename.clone(),
                bytes: a.bytes.clone(),
            };
            match self.store_upload(&access.ctx, &placeholder, upload).await {
                Ok(row) => stored.push(row),
                Err(CoreError::Internal(e)) => return Err(CoreError::Internal(e)),
                Err(e) => refused.push(
                    json!({"filename": a.filename, "content_type": a.content_type,
                    "size": a.size, "refused": e.to_string()}),
                ),
            }
        }
        let text = email.text.trim();
        let (content, truncated) = if text.is_empty() {
            let what = if email.attachments.is_empty() {
                "(empty email)".to_owned()
            } else {
                format!("({} attachment(s))", email.attachments.len())
            };
            (what, false)
        } else {
            clip(text)
        };
        // Triage (and redaction before storage) happen before the write transaction opens, so a
        // model load never holds the database's writer.
        let triaged = self.triage_inbound(&access.ctx, content).await?;
        let subject = match &email.subject {
            Some(s) => Some(self.redact_for_storage(&access.ctx, s.clone()).await?),
            None => None,
        };
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let inbox = tx.get_inbox(inbox_id).await?.ok_or(CoreError::NotFound)?;
        if inbox.channel != Channel::Email {
            return Err(CoreError::BadRequest(
                "this inbox is not an email inbox".into(),
            ));
        }
        // A redelivery of a message this inbox already has.
        if let Some(id) = &email.message_id {
            for m in tx
                .messages_by_external_ids(std::slice::from_ref(id))
                .await?
            {
                if let Some(c) = tx.get_conversation(&m.conversation_id).await? {
                    if c.inbox_id == inbox.id {
                        return Ok(EmailReceipt {
                            conversation: c,
                            message: m,
                            created: false,
                            duplicate: true,
                        });
                    }
                }
            }
        }
        let contact = resolve_contact(
            self,
            &mut *tx,
            ContactRef {
                email: Some(email.from_email.clone()),
                name: email.from_name.clone(),
                ..Default::default()
            },
            meta,
        )
        .await?;
        // Threading by headers: the newest referenced message first.
        let mut wanted: Vec<String> = email.in_reply_to.clone();
        wanted.extend(email.references.iter().rev().cloned());
        wanted.dedup();
        wanted.truncate(50);
        let mut thread = None;
        let referenced = tx.messages_by_external_ids(&wanted).await?;
        'ids: for id in &wanted {
            for m in referenced
                .iter()
                .filter(|m| m.external_id.as_ref() == Some(id))
            {
                if let Some(c) = tx.get_conversation(&m.conversation_id).await? {
                    if c.inbox_id == inbox.id && c.contact_id == contact.id {
                        thread = Some(c.id);
                        break 'ids;
                    }
                }
            }
        }
        // Then the subject's tag, among this sender's conversations here.
        if thread.is_none() {
            if let Some(n) = email.subject.as_deref().and_then(subject_number) {
                let mine = tx
                    .list_conversations(&ConversationFilter {
                        inbox_id: Some(inbox.id.clone()),
                        contact_id: Some(contact.id.clone()),
                        page: PageRequest {
                            after: None,
                            limit: 200,
                        },
                        ..Default::default()
                    })
                    .await?;
                thread = mine.into_iter().find(|c| c.number == n).map(|c| c.id);
            }
        }
        let mut metadata = Map::new();
        if let Some(s) = &subject {
            metadata.insert("subject".into(), json!(s));
        }
        metadata.insert("from".into(), json!(email.from_email));
        if !refused.is_empty() {
            metadata.insert("refused_attachments".into(), Value::Array(refused));
        }
        if truncated {
            metadata.insert("truncated".into(), json!(true));
        }
        let incoming = Incoming {
            content: triaged.content,
            external_id: email.message_id.clone(),
            metadata,
            attachments: Vec::new(),
            triage: triaged.triage,
        };
        let target = thread.map_or(Thread::New, Thread::Existing);
        let delivered = self
            .deliver_inbound(&mut *tx, &inbox, &contact.id, target, incoming, meta)
            .await;
        let (conversation, mut message, created) = match delivered {
            // The same message arrived twice at once and the other copy won.
            Err(CoreError::Store(switchboard_store::StoreError::Conflict(_))) => {
                drop(tx);
                return self.already_received(access, &email).await;
            }
            other => other?,
        };
        if !stored.is_empty() {
            let mut list = Vec::new();
            for mut a in stored {
                a.conversation_id = conversation.id.clone();
                a.message_id = Some(message.id.clone());
                tx.insert_attachment(&a).await?;
                list.push(crate::attachments::summary(&a));
            }
            message
                .metadata
                .insert("attachments".into(), Value::Array(list));
            tx.set_message_delivery(&message).await?;
        }
        tx.commit().await?;
        Ok(EmailReceipt {
            conversation,
            message,
            created,
            duplicate: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_keep_only_a_name() {
        assert_eq!(safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(safe_filename("..\\..\\windows\\system.ini"), "system.ini");
        assert_eq!(safe_filename("/absolute/path/report.pdf"), "report.pdf");
        assert_eq!(safe_filename(".."), "attachment");
        assert_eq!(safe_filename(".hidden"), "hidden");
        assert_eq!(safe_filename("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(safe_filename(""), "attachment");
        assert_eq!(safe_filename(&"x".repeat(500)).len(), 200);
    }

    #[test]
    fn subject_tags_name_a_conversation() {
        assert_eq!(subject_number("Re: Refund [#42]"), Some(42));
        assert_eq!(subject_number("Re: [#1] Fwd: [#7]"), Some(7));
        assert_eq!(subject_number("no tag"), None);
        assert_eq!(subject_number("[#-3]"), None);
        assert_eq!(subject_number("[#abc]"), None);
    }

    #[test]
    fn long_text_is_clipped_at_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let (clipped, cut) = clip(&long);
        assert!(cut);
        assert!(clipped.len() <= MAX_MESSAGE_BYTES);
        assert_eq!(clip("short"), ("short".to_owned(), false));
    }
}
