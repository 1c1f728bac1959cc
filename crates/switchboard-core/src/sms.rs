//! SMS through Twilio: inbound webhooks in Twilio's documented format, authenticated by the
//! `X-Twilio-Signature` header.
//!
//! Twilio signs each webhook with the account's auth token: `base64(HMAC-SHA1(auth token, URL ‖
//! every POST parameter's name and value, sorted by name))`, where URL is the full address Twilio
//! called. A request whose signature does not match is refused with 403 and stores nothing.

use crate::audit::RequestMeta;
use crate::conversations::{resolve_contact, ContactRef, Incoming, Thread};
use crate::error::{CoreError, CoreResult};
use crate::{secrets, Core};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map};
use sha1::Sha1;
use switchboard_store::model::{Conversation, Message};
use switchboard_store::Access;
use switchboard_store::StoreError;
use switchboard_types::{Actor, Channel};

/// Twilio's request signature over `url` and the POST `params`.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = String::from(url);
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// What happened to a webhook.
#[derive(Debug)]
pub enum SmsReceipt {
    Stored(Box<(Conversation, Message)>),
    /// Twilio retried a message already stored (same MessageSid).
    Duplicate,
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Core {
    /// An inbound SMS webhook for the inbox with `public_id`. `url` is the full URL Twilio
    /// called (as configured on the number: the public URL of this server plus the path).
    pub async fn receive_sms(
        &self,
        public_id: &str,
        url: &str,
        params: &[(String, String)],
        signature: Option<&str>,
        meta: &RequestMeta,
    ) -> CoreResult<SmsReceipt> {
        let (ctx, tx, inbox) = self
            .open_public_inbox(Channel::Sms, public_id, Actor::system("sms"))
            .await?;
        drop(tx);
        let Some(auth_token) = self.open_channel_secret(ctx.tenant(), &inbox)? else {
            tracing::warn!(inbox = %inbox.id, "SMS webhook for an inbox without Twilio credentials");
            return Err(CoreError::BadSignature);
        };
        let expected = twilio_signature(&auth_token, url, params);
        if !signature.is_some_and(|s| secrets::constant_time_eq(s, &expected)) {
            tracing::info!(inbox = %inbox.id, "SMS webhook refused: bad X-Twilio-Signature");
            return Err(CoreError::BadSignature);
        }
        let missing = |name: &str| CoreError::BadRequest(format!("the webhook has no {name}"));
        let sid = param(params, "MessageSid")
            .or_else(|| param(params, "SmsSid"))
            .ok_or_else(|| missing("MessageSid"))?;
        let from = param(params, "From").ok_or_else(|| missing("From"))?;
        let body = param(params, "Body").unwrap_or_default();
        let media: usize = param(params, "NumMedia")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let content = match (body.trim().is_empty(), media) {
            (false, _) => body.to_owned(),
            (true, 0) => "(empty message)".to_owned(),
            (true, n) => format!("({n} media attachment{})", if n == 1 { "" } else { "s" }),
        };
        let triaged = self.triage_inbound(&ctx, content).await?;
        // Signed by Twilio: from here on this is a write.
        let mut tx = self.store().tenant(&ctx, Access::Write).await?;
        if !tx
            .messages_by_external_ids(&[sid.to_owned()])
            .await?
            .is_empty()
        {
            return Ok(SmsReceipt::Duplicate);
        }
        let contact = resolve_contact(
            self,
            &mut *tx,
            ContactRef {
                phone: Some(from.to_owned()),
                ..Default::default()
            },
            meta,
        )
        .await?;
        let mut metadata = Map::new();
        metadata.insert("from".into(), json!(from));
        metadata.insert("to".into(), json!(param(params, "To")));
        if media > 0 {
            metadata.insert("num_media".into(), json!(media));
        }
        let incoming = Incoming {
            content: triaged.content,
            external_id: Some(sid.to_owned()),
            metadata,
            attachments: Vec::new(),
            triage: triaged.triage,
        };
        let stored = self
            .deliver_inbound(
                &mut *tx,
                &inbox,
                &contact.id,
                Thread::Latest,
                incoming,
                meta,
            )
            .await;
        let (conversation, message, _) = match stored {
            // A concurrent delivery of the same MessageSid won; this one changes nothing.
            Err(CoreError::Store(StoreError::Conflict(_))) => return Ok(SmsReceipt::Duplicate),
            other => other?,
        };
        tx.commit().await?;
        Ok(SmsReceipt::Stored(Box::new((conversation, message))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_twilios_documented_example() {
        // The example in Twilio's request-validation documentation: this token, URL and parameters
        // sign to this value.
        let params = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(
            twilio_signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
    }
}
