//! Outbound SMS through Twilio's REST API (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! form-encoded `To`, `From`, `Body`, HTTP Basic auth with the account SID and auth token).

use serde::Deserialize;
use std::time::Duration;
use switchboard_core::channels::{Outgoing, SendError, Sent};

/// Sends SMS through Twilio (or anything speaking its API at `base`, such as a test receiver).
#[derive(Debug, Clone)]
pub struct TwilioSender {
    http: reqwest::Client,
    base: url::Url,
}

#[derive(Debug, Deserialize)]
struct Created {
    sid: String,
}

#[derive(Debug, Deserialize)]
struct Failure {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioSender {
    /// `base` is `https://api.twilio.com` in production.
    pub fn new(base: url::Url, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            base,
        })
    }

    pub async fn send(&self, out: &Outgoing) -> Result<Sent, SendError> {
        let setting = |k: &str| out.config.get(k).and_then(|v| v.as_str());
        let (Some(sid), Some(from), Some(token)) = (
            setting("account_sid"),
            setting("phone_number"),
            out.secret.as_deref(),
        ) else {
            return Err(SendError::Permanent(
                "the SMS inbox has no Twilio account, number or auth token".into(),
            ));
        };
        let Some(to) = out.to.phone.as_deref() else {
            return Err(SendError::Permanent(
                "the contact has no phone number".into(),
            ));
        };
        let url = self
            .base
            .join(&format!("2010-04-01/Accounts/{sid}/Messages.json"))
            .map_err(|e| SendError::Permanent(format!("Twilio URL: {e}")))?;
        let res = self
            .http
            .post(url)
            .basic_auth(sid, Some(token))
            .form(&[("To", to), ("From", from), ("Body", out.content.as_str())])
            .send()
            .await
            .map_err(|e| SendError::Temporary(format!("Twilio unreachable: {e}")))?;
        let status = res.status();
        let body = res.bytes().await.unwrap_or_default();
        if status.is_success() {
            // Accepted is accepted: an unreadable body must not make the job send it again.
            let sid = serde_json::from_slice::<Created>(&body).ok().map(|c| c.sid);
            if sid.is_none() {
                tracing::warn!(%status, "Twilio accepted a message but its answer had no sid");
            }
            return Ok(Sent { external_id: sid });
        }
        let why = serde_json::from_slice::<Failure>(&body)
            .ok()
            .map(|f| {
                format!(
                    "{} ({})",
                    f.message.unwrap_or_default(),
                    f.code.unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let text = format!("Twilio answered {status}: {why}");
        if status.as_u16() == 429 || status.is_server_error() {
            Err(SendError::Temporary(text))
        } else {
            Err(SendError::Permanent(text))
        }
    }
}
