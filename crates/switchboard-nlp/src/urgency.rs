//! Urgency (low, normal, high, urgent) from rules over the text, its sentiment and its intent,
//! with the words and intents that matter configurable per tenant.

use crate::sentiment::Sentiment;
use crate::text;
use serde::{Deserialize, Serialize};

/// How urgent a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Low,
    Normal,
    High,
    Urgent,
}

/// What makes a message urgent for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UrgencyRules {
    /// Words or phrases that make a message urgent by themselves (fraud, stolen card, outage).
    pub urgent_terms: Vec<String>,
    /// Words or phrases that raise a message to high.
    pub high_terms: Vec<String>,
    /// Intents that are urgent / high whatever the wording.
    pub urgent_intents: Vec<String>,
    pub high_intents: Vec<String>,
    /// Intents that can wait (feedback, general questions).
    pub low_intents: Vec<String>,
    /// At or below this sentiment score a message is at least high.
    pub angry_below: f32,
}

impl Default for UrgencyRules {
    fn default() -> Self {
        let words = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Self {
            urgent_terms: words(&[
                "fraud",
                "fraudulent",
                "stolen",
                "hacked",
                "unauthorized",
                "unauthorised",
                "scam",
                "emergency",
                "outage",
                "data breach",
                "legal action",
                "lawyer",
                "chargeback",
                "compromised",
            ]),
            high_terms: words(&[
                "urgent",
                "urgently",
                "asap",
                "immediately",
                "right now",
                "today",
                "deadline",
                "cannot access",
                "can't access",
                "locked out",
                "not working",
                "down",
                "charged twice",
                "double charged",
                "cancel my account",
                "third time",
            ]),
            urgent_intents: words(&[
                "lost_or_stolen_card",
                "compromised_card",
                "card_swallowed",
                "lost_or_stolen_phone",
            ]),
            high_intents: words(&[
                "declined_card_payment",
                "card_payment_not_recognised",
                "cash_withdrawal_not_recognised",
                "transfer_not_received_by_recipient",
                "pin_blocked",
                "direct_debit_payment_not_recognised",
            ]),
            low_intents: words(&["oos"]),
            angry_below: -0.6,
        }
    }
}

/// Rates one message. `intent` is the classifier's label when there is one. To rate many
/// messages under the same rules, build a [`UrgencyRater`] once.
pub fn rate(
    raw: &str,
    sentiment: &Sentiment,
    intent: Option<&str>,
    rules: &UrgencyRules,
) -> Urgency {
    UrgencyRater::new(rules).rate(raw, sentiment, intent)
}

/// Rules prepared for matching: terms normalised once, not per message.
#[derive(Debug, Clone, PartialEq)]
pub struct UrgencyRater {
    /// Each term as ` word word ` (normalised), to find inside the message's padded words.
    urgent_terms: Vec<String>,
    high_terms: Vec<String>,
    rules: UrgencyRules,
}

fn padded(terms: &[String]) -> Vec<String> {
    terms
        .iter()
        .map(|t| text::words(&text::normalise(t)).join(" "))
        .filter(|t| !t.is_empty())
        .map(|t| format!(" {t} "))
        .collect()
}

impl UrgencyRater {
    pub fn new(rules: &UrgencyRules) -> Self {
        Self {
            urgent_terms: padded(&rules.urgent_terms),
            high_terms: padded(&rules.high_terms),
            rules: rules.clone(),
        }
    }

    /// Rates one message.
    pub fn rate(&self, raw: &str, sentiment: &Sentiment, intent: Option<&str>) -> Urgency {
        let normalised = text::normalise(raw);
        let joined = format!(" {} ", text::words(&normalised).join(" "));
        let mentions = |terms: &[String]| terms.iter().any(|t| joined.contains(t.as_str()));
        let has = |list: &[String]| intent.is_some_and(|l| list.iter().any(|i| i == l));
        let rules = &self.rules;
        if mentions(&self.urgent_terms) || has(&rules.urgent_intents) {
            return Urgency::Urgent;
        }
        if mentions(&self.high_terms)
            || has(&rules.high_intents)
            || sentiment.score <= rules.angry_below
        {
            return Urgency::High;
        }
        if has(&rules.low_intents) && sentiment.score >= 0.0 {
            return Urgency::Low;
        }
        Urgency::Normal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentiment::score;

    fn r(text: &str, intent: Option<&str>) -> Urgency {
        rate(text, &score(text), intent, &UrgencyRules::default())
    }

    #[test]
    fn rules_sentiment_and_intent_raise_or_lower_urgency() {
        assert_eq!(
            r("Someone made an unauthorized payment on my account", None),
            Urgency::Urgent
        );
        assert_eq!(
            r("my card was taken", Some("lost_or_stolen_card")),
            Urgency::Urgent
        );
        assert_eq!(r("I need this fixed today please", None), Urgency::High);
        assert_eq!(
            r(
                "This is the worst, absolutely terrible and useless service!!!",
                None
            ),
            Urgency::High
        );
        assert_eq!(r("How do I change my address?", None), Urgency::Normal);
        assert_eq!(
            r("what's the weather like on mars", Some("oos")),
            Urgency::Low
        );
        // Words match whole, not inside other words ("download" is not "down").
        assert_eq!(
            r("Where can I download my statement?", None),
            Urgency::Normal
        );
    }

    #[test]
    fn tenants_configure_their_own_terms() {
        let rules = UrgencyRules {
            urgent_terms: vec!["patient".into()],
            ..UrgencyRules::default()
        };
        let text = "question about a patient record";
        assert_eq!(rate(text, &score(text), None, &rules), Urgency::Urgent);
        let none = UrgencyRules {
            high_terms: vec![],
            ..UrgencyRules::default()
        };
        let text = "need it asap";
        assert_eq!(rate(text, &score(text), None, &none), Urgency::Normal);
    }
}
