//! Outbound email over SMTP (lettre), with the headers mail clients thread by: our own
//! `Message-ID`, `In-Reply-To` the customer's latest message, `References` the thread, and a
//! subject carrying the conversation's `[#number]` for clients that drop the headers.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use switchboard_core::channels::{Outgoing, SendError, Sent};

/// Sends email through one SMTP relay.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl std::fmt::Debug for SmtpSender {
    // The transport holds the relay's credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender").finish_non_exhaustive()
    }
}

/// How many thread ids go into `References` (the newest ones).
const MAX_REFERENCES: usize = 20;

/// The subject of a reply: `Re: <subject> [#<number>]`, without doubling either part.
pub fn reply_subject(subject: Option<&str>, number: i64) -> String {
    let base = subject
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("Your conversation");
    let tag = format!("[#{number}]");
    let mut s = if base.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:")) {
        base.to_owned()
    } else {
        format!("Re: {base}")
    };
    if !s.contains(&tag) {
        s.push(' ');
        s.push_str(&tag);
    }
    s
}

impl SmtpSender {
    /// A relay from a URL such as `smtp://user:pass@host:587?tls=required` or
    /// `smtp://127.0.0.1:2525` (lettre's URL format).
    pub fn from_url(
        url: &str,
        timeout: std::time::Duration,
    ) -> Result<Self, lettre::transport::smtp::Error> {
        Ok(Self {
            transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
                .timeout(Some(timeout))
                .build(),
        })
    }

    /// A plain-text email from the platform's own address (`from`).
    pub async fn send_notice(
        &self,
        from: &Mailbox,
        to: &str,
        subject: &str,
        text: &str,
    ) -> Result<(), SendError> {
        let perm = |e: String| SendError::Permanent(e);
        let to: Mailbox = to
            .parse()
            .map_err(|e| perm(format!("recipient address: {e}")))?;
        let email = lettre::Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_owned())
            .map_err(|e| perm(format!("building the email: {e}")))?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::Temporary(format!("SMTP: {e}"))),
        }
    }

    pub async fn send(&self, out: &Outgoing) -> Result<Sent, SendError> {
        let perm = |e: String| SendError::Permanent(e);
        let address = out
            .config
            .get("address")
            .and_then(|v| v.as_str())
            .ok_or_else(|| perm("the email inbox has no address".into()))?;
        let from_name = out
            .config
            .get("from_name")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let from = Mailbox::new(
            from_name,
            address
                .parse()
                .map_err(|e| perm(format!("inbox address: {e}")))?,
        );
        let to_address = out
            .to
            .email
            .as_deref()
            .ok_or_else(|| perm("the contact has no email address".into()))?;
        let to_name = Some(out.to.name.clone()).filter(|n| !n.trim().is_empty());
        let to = Mailbox::new(
            to_name,
            to_address
                .parse()
                .map_err(|e| perm(format!("contact address: {e}")))?,
        );
        let domain = address.rsplit('@').next().unwrap_or("switchboard.local");
        let message_id = format!("{}@{domain}", out.message_id);
        let mut builder = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(reply_subject(
                out.subject.as_deref(),
                out.conversation_number,
            ))
            .message_id(Some(format!("<{message_id}>")))
            .header(ContentType::TEXT_PLAIN);
        if let Some(last) = out.thread.last() {
            builder = builder.in_reply_to(format!("<{last}>"));
            let start = out.thread.len().saturating_sub(MAX_REFERENCES);
            let refs: Vec<String> = out.thread[start..]
                .iter()
                .map(|id| format!("<{id}>"))
                .collect();
            builder = builder.references(refs.join(" "));
        }
        let email = builder
            .body(out.content.clone())
            .map_err(|e| perm(format!("building the email: {e}")))?;
        match self.transport.send(email).await {
            Ok(_) => Ok(Sent {
                external_id: Some(message_id),
            }),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::Temporary(format!("SMTP: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reply_subject;

    #[test]
    fn reply_subjects_carry_the_tag_once() {
        assert_eq!(reply_subject(Some("Refund"), 7), "Re: Refund [#7]");
        assert_eq!(reply_subject(Some("RE: Refund [#7]"), 7), "RE: Refund [#7]");
        assert_eq!(reply_subject(None, 3), "Re: Your conversation [#3]");
        assert_eq!(reply_subject(Some("  "), 3), "Re: Your conversation [#3]");
        // A multi-byte character across the first three bytes.
        assert_eq!(reply_subject(Some("a€b"), 4), "Re: a€b [#4]");
    }
}
