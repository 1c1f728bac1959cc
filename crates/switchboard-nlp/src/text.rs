//! Normalisation and tokenisation: the one place that decides what a "word" is, for training and
//! prediction alike.

use unicode_normalization::UnicodeNormalization;

/// Longest text looked at, in bytes: enough for any support message, and a bound on the work a
/// hostile 1 MB body can cause.
pub const MAX_TEXT_BYTES: usize = 8 * 1024;

/// Compatibility-normalised (NFKC: full-width letters, ligatures and the like fold to their plain
/// forms), lower-cased, with runs of whitespace and control characters collapsed to one space.
/// Text beyond [`MAX_TEXT_BYTES`] is ignored.
pub fn normalise(text: &str) -> String {
    let mut end = text.len().min(MAX_TEXT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end);
    let mut space = true;
    for c in text[..end].nfkc().flat_map(char::to_lowercase) {
        if c.is_whitespace() || c.is_control() {
            if !space {
                out.push(' ');
                space = true;
            }
        } else {
            out.push(c);
            space = false;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Words of normalised text: maximal runs of letters and digits (in any script), keeping inner
/// apostrophes (`don't`, `card's`). Emoji and other symbols are words of their own, so an
/// emoji-only message still has features.
pub fn words(normalised: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let chars: Vec<(usize, char)> = normalised.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        let inner_apostrophe = (c == '\'' || c == '’')
            && start.is_some()
            && chars.get(k + 1).is_some_and(|(_, n)| n.is_alphanumeric());
        if c.is_alphanumeric() || inner_apostrophe {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            out.push(&normalised[s..i]);
        }
        if !c.is_whitespace() && !c.is_ascii_punctuation() && !is_punctuation(c) {
            out.push(&normalised[i..i + c.len_utf8()]);
        }
    }
    if let Some(s) = start {
        out.push(&normalised[s..]);
    }
    out
}

/// Non-ASCII punctuation that carries no meaning on its own (quotes, dashes, ellipses).
fn is_punctuation(c: char) -> bool {
    matches!(
        c,
        '‘' | '’'
            | '“'
            | '”'
            | '–'
            | '—'
            | '…'
            | '¿'
            | '¡'
            | '«'
            | '»'
            | '·'
            | '、'
            | '。'
            | '，'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_width_and_spacing() {
        assert_eq!(normalise("  Ｈｅｌｌｏ\t\nWORLD  "), "hello world");
        assert_eq!(normalise(""), "");
        assert_eq!(normalise(" \u{0} \u{7} "), "");
    }

    #[test]
    fn words_keep_inner_apostrophes_and_symbols() {
        let n = normalise("I don't see my card's top-up! 😡 ¿Dónde está?");
        assert_eq!(
            words(&n),
            ["i", "don't", "see", "my", "card's", "top", "up", "😡", "dónde", "está"]
        );
        assert!(words("'quoted'").iter().all(|w| *w == "quoted"));
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let text = "é".repeat(MAX_TEXT_BYTES);
        let n = normalise(&text);
        assert!(n.len() <= MAX_TEXT_BYTES);
        assert!(n.chars().all(|c| c == 'é'));
    }
}
