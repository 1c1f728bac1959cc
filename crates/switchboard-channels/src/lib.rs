//! Channel adapters: how Switchboard reaches customers on SMS and email, and reads the email they
//! send. Core defines the [`ChannelSender`] trait and the delivery job; this crate speaks the
//! providers' wire formats (Twilio's REST API, SMTP, RFC 5322).

pub mod email_in;
pub mod openai;
pub mod smtp;
pub mod twilio;

use async_trait::async_trait;
use switchboard_core::channels::{ChannelSender, Outgoing, SendError, Sent};
use switchboard_types::Channel;

/// Every channel adapter of one process, chosen by the message's channel.
#[derive(Debug)]
pub struct Channels {
    pub sms: twilio::TwilioSender,
    /// `None` when no SMTP relay is configured: email replies then fail visibly.
    pub email: Option<smtp::SmtpSender>,
    /// The platform's own sender address (invitations); `None`: it sends no email of its own.
    pub notices_from: Option<lettre::message::Mailbox>,
}

#[async_trait]
impl ChannelSender for Channels {
    async fn send(&self, out: &Outgoing) -> Result<Sent, SendError> {
        match out.channel {
            Channel::Sms => self.sms.send(out).await,
            Channel::Email => match &self.email {
                Some(smtp) => smtp.send(out).await,
                None => Err(SendError::Permanent(
                    "no SMTP relay is configured (channels.smtp_url)".into(),
                )),
            },
            Channel::Api | Channel::Widget => Err(SendError::Permanent(format!(
                "the {} channel delivers through the event system, not an adapter",
                out.channel.as_str()
            ))),
        }
    }

    async fn send_notice(&self, to: &str, subject: &str, text: &str) -> Result<(), SendError> {
        match (&self.email, &self.notices_from) {
            (Some(smtp), Some(from)) => smtp.send_notice(from, to, subject, text).await,
            _ => Err(SendError::Permanent(
                "no mail relay and sender are configured (channels.smtp_url, channels.mail_from)"
                    .into(),
            )),
        }
    }
}
