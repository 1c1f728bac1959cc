//! Everything known about one message, in one call: language, intent (when a model is given),
//! sentiment, urgency and personal data. This is what the inbox will store on each inbound
//! message.

use crate::intent::{IntentModel, Prediction};
use crate::language::{self, Language};
use crate::pii::{self, Finding};
use crate::sentiment::{self, Sentiment};
use crate::urgency::{Urgency, UrgencyRater, UrgencyRules};
use serde::{Deserialize, Serialize};

/// A tenant's triage settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TriageConfig {
    /// The languages the tenant serves (ISO 639-3); empty: any.
    pub languages: Vec<String>,
    pub urgency: UrgencyRules,
}

/// The triage of one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Triage {
    pub language: Language,
    pub intent: Option<Prediction>,
    pub sentiment: Sentiment,
    pub urgency: Urgency,
    pub pii: Vec<Finding>,
}

/// A message's language, intent, sentiment and urgency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub language: Language,
    pub intent: Option<Prediction>,
    pub sentiment: Sentiment,
    pub urgency: Urgency,
    /// The sentiment came from the supervised model, not the lexicon.
    pub supervised_sentiment: bool,
}

/// Triage of `text`. To triage many messages under the same settings, build a [`Triager`].
pub fn triage(text: &str, model: Option<&IntentModel>, config: &TriageConfig) -> Triage {
    Triager::new(config).triage(text, model)
}

/// A tenant's settings prepared once (the language detector and urgency terms), for every
/// message that follows.
#[derive(Debug, Clone)]
pub struct Triager {
    languages: Vec<String>,
    urgency: UrgencyRater,
}

impl Triager {
    pub fn new(config: &TriageConfig) -> Self {
        Self {
            languages: config.languages.clone(),
            urgency: UrgencyRater::new(&config.urgency),
        }
    }

    /// Triage of `text`, with intent when a model is given.
    pub fn triage(&self, text: &str, model: Option<&IntentModel>) -> Triage {
        let a = self.assess(text, model);
        Triage {
            language: a.language,
            intent: a.intent,
            sentiment: a.sentiment,
            urgency: a.urgency,
            pii: pii::detect(text),
        }
    }

    /// Everything but personal data (for callers that scan for it themselves, before
    /// redaction).
    pub fn assess(&self, text: &str, model: Option<&IntentModel>) -> Assessment {
        self.assess_with(text, model, None)
    }

    /// As [`Triager::assess`], with sentiment from a supervised sentiment model when one is
    /// given (and is one: labels `negative`, `positive`, perhaps `neutral`), else the lexicon.
    pub fn assess_with(
        &self,
        text: &str,
        model: Option<&IntentModel>,
        sentiment_model: Option<&IntentModel>,
    ) -> Assessment {
        let codes: Vec<&str> = self.languages.iter().map(String::as_str).collect();
        let language = language::identify_among(text, &codes);
        let intent = model.map(|m| m.predict(text));
        let supervised = sentiment_model.and_then(|m| sentiment::from_model(m, text));
        let supervised_sentiment = supervised.is_some();
        let sentiment = supervised.unwrap_or_else(|| sentiment::score(text));
        let urgency =
            self.urgency
                .rate(text, &sentiment, intent.as_ref().map(|p| p.label.as_str()));
        Assessment {
            language,
            intent,
            sentiment,
            urgency,
            supervised_sentiment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentiment::Polarity;

    fn t_text() -> String {
        "My card 4242 4242 4242 4242 was stolen and I am still waiting for help!".to_owned()
    }

    #[test]
    fn one_call_fills_every_field() {
        let t = triage(&t_text(), None, &TriageConfig::default());
        assert_eq!(t.language, crate::language::identify(&t_text()));
        assert_eq!(t.sentiment.label, Polarity::Negative);
        assert_eq!(t.urgency, Urgency::Urgent);
        assert_eq!(t.pii.len(), 1);
        assert!(t.intent.is_none());
        let empty = triage("", None, &TriageConfig::default());
        assert_eq!(empty.language.code, "und");
        assert_eq!(empty.urgency, Urgency::Normal);
    }
}
