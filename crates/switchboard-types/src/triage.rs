//! What the triage engine learned about an inbound message, as stored on the message, returned
//! by the API and carried by its events.

use serde::{Deserialize, Serialize};

text_enum!(/// Whether the engine understood the message. `untriaged`: it failed or ran out of time,
    /// and the message was stored anyway (personal data is still detected and, where the tenant
    /// requires it, redacted).
    TriageStatus { Triaged => "triaged", Untriaged => "untriaged" });
text_enum!(/// The message's tone.
    SentimentLabel { Negative => "negative", Neutral => "neutral", Positive => "positive" });
text_enum!(/// How soon someone should answer.
    UrgencyLevel { Low => "low", Normal => "normal", High => "high", Urgent => "urgent" });

/// One piece of personal data found in the message: `content[start..end]` (byte offsets into the
/// stored content; after redaction before storage they point at the mask).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PiiSpan {
    /// `card`, `iban`, `us_ssn`, `phone`, `email`, `ip_address`, `date_of_birth`,
    /// `credential`, `health_id`, `postal_address`.
    pub kind: String,
    pub start: usize,
    pub end: usize,
    pub confidence: f64,
}

/// One of the most likely intents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntentScore {
    pub intent: String,
    pub confidence: f64,
}

/// The triage of one inbound message. Scores and confidences are rounded to four decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageTriage {
    pub status: TriageStatus,
    /// Why the message is untriaged (`timeout`, `model_unavailable`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// ISO 639-3 (`eng`, `fra`, …), or `und` when unsure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_confidence: Option<f64>,
    /// The best intent, or `oos` when the message is out of the model's scope. Absent when the
    /// tenant has no intent model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// The best in-scope intent's probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_confidence: Option<f64>,
    /// The three most likely intents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intent_top: Vec<IntentScore>,
    /// The model that chose the intent: `pack:<name>` or `custom:<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_model: Option<String>,
    /// In [-1, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment_label: Option<SentimentLabel>,
    /// The supervised model that scored the sentiment; absent: the lexicon did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<UrgencyLevel>,
    /// Personal data in the content, in order.
    #[serde(default)]
    pub pii: Vec<PiiSpan>,
    /// The content was redacted before it was stored; the original was never written.
    #[serde(default)]
    pub redacted: bool,
}

impl MessageTriage {
    /// A message the engine could not understand, for `reason`.
    pub fn untriaged(reason: &str) -> Self {
        Self {
            status: TriageStatus::Untriaged,
            error: Some(reason.to_owned()),
            language: None,
            language_confidence: None,
            intent: None,
            intent_confidence: None,
            intent_top: Vec::new(),
            intent_model: None,
            sentiment: None,
            sentiment_label: None,
            sentiment_model: None,
            urgency: None,
            pii: Vec::new(),
            redacted: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untriaged_round_trips_without_empty_fields() {
        let t = MessageTriage::untriaged("timeout");
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "untriaged", "error": "timeout", "pii": [], "redacted": false})
        );
        assert_eq!(serde_json::from_value::<MessageTriage>(json).unwrap(), t);
        assert_eq!(UrgencyLevel::parse("urgent"), Some(UrgencyLevel::Urgent));
        assert_eq!(SentimentLabel::parse("angry"), None);
    }
}
