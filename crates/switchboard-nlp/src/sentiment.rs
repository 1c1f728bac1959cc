//! Sentiment of a customer message from a lexicon and rules of our own, tuned for support
//! traffic: a score in [-1, 1] and a label.
//!
//! General-purpose lexicons read polite complaints as praise ("thanks for the 3-hour delay",
//! "please help me rebook"). Here the customer-service cues weigh in: delays, waiting, refunds,
//! double charges, repeated contact, things that never arrived. Courtesy ("thanks", "please") counts
//! only when nothing is wrong. The rules: negation flips and damps the next few words, intensifiers
//! and capitals strengthen, a contrast ("but", "however") shifts the weight to what follows, and
//! exclamation marks emphasise. A supervised model from the intent trainer replaces this wherever
//! labelled data exists; this is the fallback.

use crate::text;
use serde::Serialize;

/// Negative, neutral or positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    Negative,
    Neutral,
    Positive,
}

/// A message's sentiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sentiment {
    /// In [-1, 1].
    pub score: f32,
    pub label: Polarity,
}

/// Whether a model's labels make it a sentiment model: `negative` and `positive`, and perhaps
/// `neutral`, nothing else.
pub fn is_sentiment_labels(labels: &[String]) -> bool {
    let has = |l: &str| labels.iter().any(|x| x == l);
    has("negative")
        && has("positive")
        && labels
            .iter()
            .all(|l| matches!(l.as_str(), "negative" | "neutral" | "positive"))
}

/// The sentiment a supervised model predicts: the score is P(positive) − P(negative), the label
/// the most probable class. `None` when the model is not a sentiment model.
pub fn from_model(model: &crate::intent::IntentModel, text: &str) -> Option<Sentiment> {
    if !is_sentiment_labels(&model.labels) {
        return None;
    }
    let p = model.predict(text);
    let prob = |l: &str| p.top.iter().find(|(x, _)| x == l).map_or(0.0, |(_, c)| *c);
    let score = (prob("positive") - prob("negative")).clamp(-1.0, 1.0);
    let best = p.top.first().map_or("neutral", |(l, _)| l.as_str());
    let label = match best {
        "negative" => Polarity::Negative,
        "positive" => Polarity::Positive,
        _ => Polarity::Neutral,
    };
    Some(Sentiment { score, label })
}

/// Scores beyond this are not neutral.
const NEUTRAL_BAND: f32 = 0.2;

/// Word valences, -4 (very negative) to +4.
const LEXICON: &[(&str, f32)] = &[
    // Praise and satisfaction.
    ("great", 2.5),
    ("excellent", 3.0),
    ("amazing", 3.0),
    ("awesome", 3.0),
    ("perfect", 3.0),
    ("love", 3.0),
    ("loved", 3.0),
    ("good", 1.8),
    ("nice", 1.8),
    ("happy", 2.2),
    ("glad", 2.0),
    ("pleased", 2.0),
    ("helpful", 2.0),
    ("quick", 1.2),
    ("fast", 1.2),
    ("easy", 1.5),
    ("smooth", 1.5),
    ("resolved", 2.0),
    ("fixed", 1.8),
    ("solved", 2.0),
    ("works", 1.2),
    ("working", 0.8),
    ("appreciate", 2.0),
    ("appreciated", 2.0),
    ("brilliant", 3.0),
    ("fantastic", 3.0),
    ("wonderful", 3.0),
    ("satisfied", 2.0),
    ("best", 2.5),
    ("kind", 1.5),
    ("friendly", 2.0),
    ("recommend", 2.0),
    ("superb", 3.0),
    ("lovely", 2.5),
    ("cool", 1.2),
    // Complaint.
    ("bad", -2.5),
    ("terrible", -3.2),
    ("awful", -3.2),
    ("horrible", -3.2),
    ("worst", -3.5),
    ("poor", -2.0),
    ("useless", -3.0),
    ("rude", -3.0),
    ("angry", -3.0),
    ("furious", -3.5),
    ("upset", -2.5),
    ("annoyed", -2.5),
    ("annoying", -2.5),
    ("frustrated", -2.8),
    ("frustrating", -2.8),
    ("disappointed", -2.8),
    ("disappointing", -2.8),
    ("unacceptable", -3.2),
    ("ridiculous", -3.0),
    ("scam", -3.5),
    ("fraud", -3.0),
    ("fraudulent", -3.0),
    ("stolen", -2.5),
    ("hacked", -3.0),
    ("compromised", -2.5),
    ("unauthorized", -2.5),
    ("unauthorised", -2.5),
    ("hate", -3.2),
    ("broken", -2.2),
    ("fail", -2.2),
    ("failed", -2.2),
    ("failing", -2.2),
    ("failure", -2.2),
    ("error", -1.5),
    ("wrong", -2.0),
    ("problem", -1.5),
    ("issue", -1.2),
    ("issues", -1.2),
    ("complaint", -2.0),
    ("complain", -2.0),
    ("stuck", -2.0),
    ("lost", -2.0),
    ("missing", -2.0),
    ("damaged", -2.5),
    ("late", -1.8),
    ("delay", -2.0),
    ("delayed", -2.2),
    ("delays", -2.0),
    ("cancelled", -1.8),
    ("canceled", -1.8),
    ("declined", -1.8),
    ("rejected", -2.0),
    ("blocked", -1.8),
    ("overcharged", -3.0),
    ("refund", -1.2),
    ("waiting", -1.5),
    ("waited", -1.8),
    ("ignored", -2.5),
    ("ignoring", -2.5),
    ("ignore", -2.0),
    ("nobody", -1.5),
    ("never", -1.2),
    ("slow", -1.8),
    ("confusing", -1.8),
    ("unhelpful", -2.8),
    ("disgusting", -3.5),
    ("joke", -2.0),
    ("nightmare", -3.2),
    ("pathetic", -3.2),
    ("sucks", -3.0),
    ("unable", -1.5),
    ("cannot", -1.0),
    ("can't", -1.0),
    ("won't", -1.0),
    ("doesn't", -0.8),
    ("isn't", -0.5),
    ("hasn't", -1.0),
    ("haven't", -1.0),
    ("didn't", -0.8),
    ("charged", -1.0),
    ("again", -0.8),
    ("still", -0.8),
    ("urgent", -1.2),
    ("urgently", -1.2),
    ("asap", -1.2),
];

/// Phrases that are complaints in support traffic, whatever their words say one by one.
const COMPLAINT_PHRASES: &[(&[&str], f32)] = &[
    (&["still", "waiting"], -2.5),
    (&["been", "waiting"], -2.2),
    (&["charged", "twice"], -3.0),
    (&["double", "charged"], -3.0),
    (&["charged", "me", "twice"], -3.0),
    (&["no", "response"], -2.5),
    (&["no", "reply"], -2.5),
    (&["never", "arrived"], -2.8),
    (&["never", "received"], -2.8),
    (&["not", "arrived"], -2.2),
    (&["hasn't", "arrived"], -2.2),
    (&["not", "received"], -2.2),
    (&["third", "time"], -2.5),
    (&["second", "time"], -1.8),
    (&["again", "and", "again"], -2.8),
    (&["waste", "of"], -2.8),
    (&["taking", "forever"], -2.8),
    (&["want", "my", "money"], -2.5),
    (&["money", "back"], -1.8),
    (&["for", "the", "delay"], -2.0),
    (&["hours", "on", "hold"], -2.8),
    (&["on", "hold"], -1.5),
    (&["hour", "delay"], -2.5),
];

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "don't", "dont", "didn't", "isn't", "wasn't", "aren't", "won't", "can't",
    "cannot", "hardly", "without", "nothing", "neither", "nor",
];

const INTENSIFIERS: &[(&str, f32)] = &[
    ("very", 1.3),
    ("so", 1.3),
    ("really", 1.3),
    ("extremely", 1.5),
    ("incredibly", 1.5),
    ("totally", 1.3),
    ("absolutely", 1.4),
    ("completely", 1.4),
    ("super", 1.3),
    ("truly", 1.3),
    ("quite", 1.1),
    ("slightly", 0.6),
    ("somewhat", 0.7),
    ("kinda", 0.7),
];

const CONTRASTS: &[&str] = &["but", "however", "although", "though", "yet"];

/// Thanks: positive only when nothing else in the message is wrong. ("Please" is the
/// politeness of a request, not a feeling, and counts for nothing.)
const COURTESY: &[&str] = &["thanks", "thank", "thx", "cheers", "appreciate"];

const EMOJI: &[(char, f32)] = &[
    ('😡', -3.5),
    ('😠', -3.0),
    ('🤬', -3.5),
    ('😤', -2.5),
    ('😞', -2.2),
    ('😢', -2.2),
    ('😭', -2.5),
    ('😩', -2.5),
    ('😫', -2.5),
    ('🙁', -1.8),
    ('☹', -1.8),
    ('👎', -2.5),
    ('💩', -2.5),
    ('🙄', -1.8),
    ('🙂', 1.2),
    ('😊', 2.2),
    ('😀', 2.2),
    ('😃', 2.2),
    ('😄', 2.2),
    ('😁', 2.2),
    ('😍', 3.0),
    ('🥰', 3.0),
    ('❤', 2.5),
    ('👍', 2.0),
    ('🙏', 1.0),
    ('🎉', 2.5),
    ('👏', 2.2),
];

/// Scores one message.
pub fn score(raw: &str) -> Sentiment {
    let normalised = text::normalise(raw);
    let words = text::words(&normalised);
    // Words written in capitals (shouting), found once: the text is cut like `normalise` cuts it.
    let mut cut = raw.len().min(text::MAX_TEXT_BYTES);
    while !raw.is_char_boundary(cut) {
        cut -= 1;
    }
    let shouting: std::collections::HashSet<String> = raw[..cut]
        .split_whitespace()
        .filter(|r| {
            r.chars().filter(|c| c.is_alphabetic()).count() > 2
                && r.chars().all(|c| !c.is_lowercase())
        })
        .map(|r| {
            r.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .collect();
    let shouted = |w: &str| shouting.contains(w);
    let mut values: Vec<f32> = Vec::with_capacity(words.len());
    let mut complaint = false;
    let mut courtesy = 0usize;
    let mut i = 0;
    // Where the last contrast word was: what follows it counts more.
    let mut contrast_at: Option<usize> = None;
    while i < words.len() {
        let w = words[i];
        if CONTRASTS.contains(&w) {
            contrast_at = Some(values.len());
        }
        if let Some((phrase, v)) = COMPLAINT_PHRASES
            .iter()
            .find(|(p, _)| words[i..].starts_with(p))
        {
            // The phrase stands for its words.
            values.push(*v);
            complaint = true;
            i += phrase.len();
            continue;
        }
        if COURTESY.contains(&w) {
            courtesy += 1;
            i += 1;
            continue;
        }
        let mut v = LEXICON
            .iter()
            .find(|(k, _)| *k == w)
            .map_or(0.0, |(_, v)| *v);
        if v == 0.0 {
            v = w
                .chars()
                .map(|c| EMOJI.iter().find(|(e, _)| *e == c).map_or(0.0, |(_, v)| *v))
                .sum();
        }
        if v != 0.0 {
            if v < 0.0 {
                complaint = true;
            }
            if let Some(prev) = i.checked_sub(1).map(|p| words[p]) {
                if let Some((_, m)) = INTENSIFIERS.iter().find(|(k, _)| *k == prev) {
                    v *= m;
                }
            }
            if shouted(w) {
                v *= 1.3;
            }
            let negated = words[i.saturating_sub(3)..i]
                .iter()
                .any(|p| NEGATIONS.contains(p));
            if negated && !NEGATIONS.contains(&w) {
                v *= -0.6;
                if v < 0.0 {
                    complaint = true;
                }
            }
            values.push(v);
        }
        i += 1;
    }
    if let Some(at) = contrast_at {
        for (k, v) in values.iter_mut().enumerate() {
            *v *= if k < at { 0.5 } else { 1.5 };
        }
    }
    let mut sum: f32 = values.iter().sum();
    if courtesy > 0 && !complaint {
        sum += 1.2 * courtesy.min(2) as f32;
    }
    let exclamations = raw.matches('!').count().min(3) as f32;
    if sum != 0.0 {
        sum += sum.signum() * 0.3 * exclamations;
    }
    // Squash to (-1, 1): the same curve as VADER's normalisation (alpha 15).
    let score = sum / (sum * sum + 15.0).sqrt();
    let label = if score >= NEUTRAL_BAND {
        Polarity::Positive
    } else if score <= -NEUTRAL_BAND {
        Polarity::Negative
    } else {
        Polarity::Neutral
    };
    Sentiment { score, label }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theft_and_fraud_reports_are_negative() {
        for text in [
            "My card was stolen yesterday, please block it!",
            "Someone hacked my account",
            "There is an unauthorised payment on my statement",
        ] {
            assert_eq!(score(text).label, Polarity::Negative, "{text}");
        }
    }

    #[test]
    fn sentiment_models_are_recognised_by_their_labels() {
        let l = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(is_sentiment_labels(&l(&["negative", "positive"])));
        assert!(is_sentiment_labels(&l(&[
            "negative", "neutral", "positive"
        ])));
        assert!(!is_sentiment_labels(&l(&["negative", "neutral"])));
        assert!(!is_sentiment_labels(&l(&[
            "negative", "positive", "refund"
        ])));
    }

    fn label(t: &str) -> Polarity {
        score(t).label
    }

    #[test]
    fn polite_complaints_are_not_praise() {
        for t in [
            "thanks for the 3-hour delay",
            "charged twice, still waiting",
            "Thank you so much for ignoring my emails",
            "This is the third time I'm contacting you about my refund",
            "please, I have been waiting for two weeks and my card never arrived",
        ] {
            assert_eq!(label(t), Polarity::Negative, "{t}: {:?}", score(t));
        }
        assert_ne!(label("please help me rebook"), Polarity::Positive);
    }

    #[test]
    fn praise_negation_contrast_and_emphasis() {
        assert_eq!(
            label("Thank you so much, that fixed it!"),
            Polarity::Positive
        );
        assert_eq!(
            label("Great service, really helpful 😊"),
            Polarity::Positive
        );
        assert_eq!(label("I am not happy with this"), Polarity::Negative);
        assert_eq!(label("not bad at all"), Polarity::Positive);
        assert_eq!(
            label("The app is nice but the transfer failed"),
            Polarity::Negative
        );
        assert_eq!(label("How do I change my address?"), Polarity::Neutral);
        assert_eq!(label("😡😡"), Polarity::Negative);
        let plain = score("this is terrible").score;
        let loud = score("this is TERRIBLE!!!").score;
        assert!(loud < plain, "{loud} vs {plain}");
    }

    #[test]
    fn scores_stay_in_range_for_any_text() {
        for t in [
            "",
            "   ",
            "!!!!!!!!",
            &"worst ".repeat(10_000),
            &"great ".repeat(10_000),
            "\u{0}😡\u{ffff}",
        ] {
            let s = score(t).score;
            assert!((-1.0..=1.0).contains(&s) && s.is_finite(), "{t:?}: {s}");
        }
    }
}
