//! Language identification: an ISO 639-3 code with a confidence, or `und` when the text is too
//! short or the evidence too weak to say.
//!
//! Two stages. Short support messages are mostly function words ("my card has not arrived"),
//! which a trigram model sees too little of: whatlang alone reads a third of BANKING77's English
//! requests as `und` or another language. So our own first stage counts the function words of
//! seven common support languages, and decides when one language clearly leads; everything else
//! (other languages, other scripts, no clear lead) goes to whatlang's trigram and script models.

use serde::Serialize;

/// The code for "undetermined" (ISO 639-3).
pub const UNDETERMINED: &str = "und";

/// Below this confidence the answer is `und`. whatlang's confidence is the margin between the
/// two best languages, so closely related languages (Spanish and Portuguese) score low even when
/// right.
const MIN_CONFIDENCE: f64 = 0.25;

/// Fewer letters than this say too little.
const MIN_LETTERS: usize = 8;

/// Function words of the languages the first stage knows: frequent, short, and (as far as
/// possible) not shared with the other six.
const FUNCTION_WORDS: &[(&str, &[&str])] = &[
    (
        "eng",
        &[
            "the", "and", "is", "are", "was", "were", "my", "i", "i'm", "you", "your", "to", "of",
            "for", "it", "this", "that", "have", "has", "not", "can", "can't", "don't", "with",
            "on", "what", "how", "why", "when", "where", "do", "does", "did", "will", "would",
            "be", "been", "please", "an", "am", "get", "there", "just", "still", "want", "need",
            "if", "from", "at", "it's", "haven't", "didn't", "isn't", "doesn't", "should", "could",
            "we", "our", "they", "any", "which", "been", "got", "help", "thanks", "thank",
        ],
    ),
    (
        "fra",
        &[
            "le", "la", "les", "des", "du", "est", "et", "une", "un", "je", "vous", "mon", "ma",
            "mes", "pas", "ne", "pour", "avec", "qui", "dans", "sur", "au", "aux", "c'est", "j'ai",
            "n'est", "suis", "mais", "ou", "où", "votre", "nous", "il", "elle", "ce", "cette",
            "toujours", "merci", "bonjour", "s'il", "plaît",
        ],
    ),
    (
        "deu",
        &[
            "der", "die", "das", "und", "ist", "ich", "nicht", "mein", "meine", "sie", "mit",
            "auf", "für", "ein", "eine", "zu", "von", "den", "dem", "es", "wie", "wir", "bitte",
            "noch", "haben", "habe", "kann", "wurde", "ihr", "auch", "aber", "keine", "hallo",
            "danke", "warum", "wann", "meiner", "meinem",
        ],
    ),
    (
        "spa",
        &[
            "el", "los", "las", "y", "es", "mi", "mis", "una", "por", "para", "con", "que", "del",
            "se", "lo", "su", "está", "como", "pero", "tengo", "puedo", "favor", "muy", "hola",
            "gracias", "todavía", "cuándo", "dónde", "qué", "cómo", "ha", "he",
        ],
    ),
    (
        "por",
        &[
            "o", "os", "as", "é", "não", "meu", "minha", "um", "uma", "com", "do", "da", "dos",
            "das", "em", "na", "você", "obrigado", "obrigada", "mas", "eu", "tenho", "ainda",
            "olá", "quando", "onde", "já", "foi", "seu", "sua",
        ],
    ),
    (
        "ita",
        &[
            "il",
            "gli",
            "è",
            "non",
            "mio",
            "mia",
            "per",
            "che",
            "di",
            "della",
            "sono",
            "ho",
            "ma",
            "come",
            "questo",
            "grazie",
            "ancora",
            "buongiorno",
            "perché",
            "quando",
            "dove",
            "ancora",
            "mi",
            "ci",
            "del",
            "nel",
            "alla",
        ],
    ),
    (
        "nld",
        &[
            "de", "het", "een", "en", "niet", "mijn", "ik", "je", "u", "van", "voor", "met", "op",
            "dat", "er", "zijn", "heb", "kan", "nog", "maar", "wat", "hoe", "geen", "bij", "waar",
            "wanneer", "bedankt", "hallo", "graag",
        ],
    ),
];

/// The first stage: a language whose function words clearly lead, among `allowed` (empty: all
/// seven). At least two of its function words, at least a fifth of the words, and at least
/// twice as many as any other language.
fn by_function_words(text: &str, allowed: &[&str]) -> Option<Language> {
    let normalised = crate::text::normalise(text);
    let words = crate::text::words(&normalised);
    if words.is_empty() {
        return None;
    }
    let mut counts: Vec<(&'static str, usize)> = FUNCTION_WORDS
        .iter()
        .filter(|(code, _)| allowed.is_empty() || allowed.contains(code))
        .map(|(code, list)| {
            let hits = words.iter().filter(|w| list.contains(w)).count();
            (*code, hits)
        })
        .collect();
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let (code, best) = *counts.first()?;
    let second = counts.get(1).map_or(0, |(_, n)| *n);
    let share = best as f64 / words.len() as f64;
    (best >= 2 && share >= 0.2 && best >= 2 * second.max(1)).then(|| Language {
        code,
        confidence: (best - second) as f64 / best as f64,
    })
}

/// A language guess.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Language {
    /// ISO 639-3 (`eng`, `fra`, `deu`, …) or `und`.
    pub code: &'static str,
    pub confidence: f64,
}

/// Whether the detector knows the language `code` (ISO 639-3).
pub fn is_known(code: &str) -> bool {
    whatlang::Lang::from_code(code).is_some()
}

/// The language of `text`, among every language the model knows.
pub fn identify(text: &str) -> Language {
    decide(text, Some(&[]), &whatlang::Detector::new())
}

/// The language of `text` among `codes` (ISO 639-3; unknown codes are ignored, and an empty or
/// wholly unknown list means every language). A tenant that serves a few languages gets better
/// answers on short messages this way: Russian is not mistaken for Bulgarian when Bulgarian is
/// not on the list.
pub fn identify_among(text: &str, codes: &[&str]) -> Language {
    let allowed: Vec<whatlang::Lang> = codes
        .iter()
        .filter_map(|c| whatlang::Lang::from_code(*c))
        .collect();
    if allowed.is_empty() {
        return identify(text);
    }
    let ours: Vec<&str> = allowed
        .iter()
        .map(|l| l.code())
        .filter(|c| FUNCTION_WORDS.iter().any(|(code, _)| code == c))
        .collect();
    let first_stage = (!ours.is_empty()).then_some(ours.as_slice());
    decide(
        text,
        first_stage,
        &whatlang::Detector::with_allowlist(allowed),
    )
}

/// Both stages: function words among `first_stage` (empty: all seven; `None`: skipped), then
/// `detector`. Text is read up to the tokeniser's limit; with too few letters it is `und`.
fn decide(text: &str, first_stage: Option<&[&str]>, detector: &whatlang::Detector) -> Language {
    let mut end = text.len().min(crate::text::MAX_TEXT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    let undetermined = Language {
        code: UNDETERMINED,
        confidence: 0.0,
    };
    if text.chars().filter(|c| c.is_alphabetic()).count() < MIN_LETTERS {
        return undetermined;
    }
    if let Some(l) = first_stage.and_then(|codes| by_function_words(text, codes)) {
        return l;
    }
    match detector.detect(text) {
        Some(info) if info.confidence() >= MIN_CONFIDENCE => Language {
            code: info.lang().code(),
            confidence: info.confidence(),
        },
        Some(info) => Language {
            code: UNDETERMINED,
            confidence: info.confidence(),
        },
        None => undetermined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_support_languages_and_says_und_when_unsure() {
        let cases = [
            (
                "My card has not arrived yet and I need it for my trip next week",
                "eng",
            ),
            (
                "Ma carte n'est toujours pas arrivée, pouvez-vous m'aider s'il vous plaît",
                "fra",
            ),
            (
                "Meine Karte ist noch nicht angekommen, können Sie mir bitte helfen",
                "deu",
            ),
            (
                "Mi tarjeta todavía no ha llegado, ¿me pueden ayudar por favor?",
                "spa",
            ),
        ];
        for (text, code) in cases {
            let l = identify(text);
            assert_eq!(l.code, code, "{text}: {l:?}");
            assert!(l.confidence >= MIN_CONFIDENCE);
        }
        // Short Cyrillic text is ambiguous among all languages; a tenant's list settles it.
        let ru = "Моя карта до сих пор не пришла, помогите пожалуйста";
        assert_eq!(identify_among(ru, &["eng", "rus", "deu"]).code, "rus");
        assert_eq!(
            identify_among("Where is my card, it never arrived", &["xx"]).code,
            "eng"
        );
        for unsure in ["", "ok", "😡😡😡", "12345 678", "\u{0}\u{1}"] {
            assert_eq!(identify(unsure).code, UNDETERMINED, "{unsure:?}");
        }
        let _ = identify(&"ab ".repeat(1_000_000));
    }

    #[test]
    fn short_messages_are_settled_by_their_function_words() {
        for (text, code) in [
            ("My card was stolen and I am still waiting for help!", "eng"),
            ("Thanks so much, the new app is wonderful", "eng"),
            ("Où est ma carte ? Je ne la trouve pas", "fra"),
            ("Wo ist meine Karte? Ich habe sie nicht", "deu"),
            ("¿Dónde está mi tarjeta? No la tengo", "spa"),
            ("Onde está o meu cartão? Ainda não chegou", "por"),
            ("Waar is mijn kaart? Ik heb hem nog niet", "nld"),
            ("Dov'è la mia carta? Non è ancora arrivata", "ita"),
        ] {
            assert_eq!(identify(text).code, code, "{text}");
        }
        // No clear lead: the trigram model decides (Swedish is not among the seven, and the
        // first stage does not claim it).
        let sv = identify("Mitt kort har fortfarande inte kommit fram, kan ni hjälpa mig").code;
        assert!(!FUNCTION_WORDS.iter().any(|(c, _)| *c == sv), "{sv}");
        // A tenant's list limits the first stage too.
        assert_eq!(
            identify_among("My card was stolen and I am still waiting", &["fra", "deu"]).code,
            by_lead_or_und("My card was stolen and I am still waiting", &["fra", "deu"])
        );
    }

    fn by_lead_or_und(text: &str, codes: &[&str]) -> &'static str {
        let allowed: Vec<whatlang::Lang> = codes
            .iter()
            .filter_map(|c| whatlang::Lang::from_code(*c))
            .collect();
        decide(text, None, &whatlang::Detector::with_allowlist(allowed)).code
    }
}
