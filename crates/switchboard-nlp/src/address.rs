//! Postal addresses, by heuristic: a street line (house number, one to four name words, a street
//! type such as "Street" or "Ave"), extended over a unit, a town and a US state with its ZIP code
//! when they follow; and UK postcodes, whose shape is strict enough to stand alone.
//!
//! Addresses have no checksum, so this is the least certain detector: confidences are lower, and
//! a street type is required (a number followed by capitalised words is too often a product).

/// Street types, lower case, without a trailing dot.
const STREET_TYPES: &[&str] = &[
    "street",
    "st",
    "avenue",
    "ave",
    "road",
    "rd",
    "boulevard",
    "blvd",
    "lane",
    "ln",
    "drive",
    "dr",
    "court",
    "ct",
    "way",
    "place",
    "pl",
    "terrace",
    "parkway",
    "pkwy",
    "highway",
    "hwy",
    "square",
    "sq",
    "circle",
    "cir",
    "close",
    "crescent",
    "gardens",
    "grove",
    "mews",
    "row",
    "alley",
    "trail",
    "plaza",
];

const UNIT_WORDS: &[&str] = &[
    "apt",
    "apartment",
    "suite",
    "ste",
    "unit",
    "flat",
    "floor",
    "#",
];

const US_STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC",
];

/// A word of the text: its span, without surrounding punctuation.
#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

fn words(text: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let part = c.is_alphanumeric() || c == '#' || c == '-' || c == '\'';
        match (part, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(Word {
                    text: &text[s..i],
                    start: s,
                    end: i,
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Word {
            text: &text[s..],
            start: s,
            end: text.len(),
        });
    }
    out
}

fn is_house_number(w: &str) -> bool {
    let digits = w.bytes().take_while(u8::is_ascii_digit).count();
    (1..=6).contains(&digits)
        && w.len() - digits <= 1
        && w.bytes().skip(digits).all(|b| b.is_ascii_alphabetic())
}

/// A capitalised word ("Elm", "O'Connell") or an ordinal ("5th", "42nd").
fn is_name_word(w: &str) -> bool {
    let ordinal = {
        let digits = w.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && ["st", "nd", "rd", "th"].contains(&w[digits..].to_lowercase().as_str())
    };
    ordinal
        || (w.chars().next().is_some_and(char::is_uppercase)
            && w.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '\''))
}

fn is_street_type(w: &str) -> bool {
    let lower = w.to_lowercase();
    STREET_TYPES.contains(&lower.as_str())
}

fn is_zip(w: &str) -> bool {
    let (main, plus) = w.split_once('-').unwrap_or((w, ""));
    main.len() == 5
        && main.bytes().all(|b| b.is_ascii_digit())
        && (plus.is_empty() || (plus.len() == 4 && plus.bytes().all(|b| b.is_ascii_digit())))
}

/// Street addresses and UK postcodes: `(start, end, confidence)`, in order, not overlapping.
pub(crate) fn addresses(text: &str) -> Vec<(usize, usize, f32)> {
    let w = words(text);
    let mut out: Vec<(usize, usize, f32)> = Vec::new();
    let mut i = 0;
    while i < w.len() {
        if let Some((end_word, confidence)) = street_at(&w, i) {
            let end = extend(text, &w, end_word);
            out.push((w[i].start, end.0, confidence.max(end.1)));
            // Words are in order: continue after the address (never rescan from the start).
            i += w[i..].partition_point(|x| x.start < end.0);
            continue;
        }
        if let Some(end) = uk_postcode_at(&w, i) {
            out.push((w[i].start, w[end].end, 0.8));
            i = end + 1;
            continue;
        }
        i += 1;
    }
    out
}

/// A street line starting at word `i`: the index of its street-type word.
fn street_at(w: &[Word<'_>], i: usize) -> Option<(usize, f32)> {
    if !is_house_number(w[i].text) {
        return None;
    }
    // One to four name words, then the street type; the longest such line ("18 Rue Lane Road",
    // not "18 Rue Lane").
    let mut best = None;
    for k in 2..=5 {
        let Some(t) = w.get(i + k) else { break };
        if !is_name_word(w[i + k - 1].text) {
            break;
        }
        if is_street_type(t.text) && t.text.chars().next().is_some_and(char::is_uppercase) {
            best = Some((i + k, 0.75));
        }
    }
    best
}

/// Extends a street line over a unit, a town and "ST 12345" when they follow closely. Returns
/// the end offset and the confidence the extension earned.
fn extend(text: &str, w: &[Word<'_>], mut last: usize) -> (usize, f32) {
    let mut confidence = 0.0;
    let close = |a: &Word<'_>, b: &Word<'_>| {
        let gap = &text[a.end..b.start];
        gap.len() <= 3 && gap.chars().all(|c| c == ',' || c == ' ' || c == '.')
    };
    // "Apt 4B", "Suite 200", "#12".
    if let (Some(u), Some(v)) = (w.get(last + 1), w.get(last + 2)) {
        if close(&w[last], u)
            && UNIT_WORDS.contains(&u.text.to_lowercase().as_str())
            && v.text.chars().any(|c| c.is_ascii_digit())
        {
            last += 2;
        }
    }
    // ", Springfield, IL 62704" (a town of up to three words, a state, a ZIP).
    for town in 1..=3 {
        let (Some(state), Some(zip)) = (w.get(last + town + 1), w.get(last + town + 2)) else {
            break;
        };
        let names = &w[last + 1..=last + town];
        if names.iter().all(|n| is_name_word(n.text))
            && close(&w[last], &names[0])
            && US_STATES.contains(&state.text)
            && is_zip(zip.text)
        {
            last += town + 2;
            confidence = 0.9;
            break;
        }
    }
    (w[last].end, confidence)
}

/// A UK postcode at word `i` ("SW1A 1AA", "M1 1AE"): the index of its last word.
fn uk_postcode_at(w: &[Word<'_>], i: usize) -> Option<usize> {
    let outward = w[i].text.as_bytes();
    let inward = w.get(i + 1)?.text.as_bytes();
    let out_ok = (2..=4).contains(&outward.len())
        && outward[0].is_ascii_uppercase()
        && outward
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && outward.iter().any(u8::is_ascii_digit)
        && {
            // One or two letters, then a digit.
            let letters = outward
                .iter()
                .take_while(|b| b.is_ascii_uppercase())
                .count();
            (1..=2).contains(&letters) && outward.get(letters).is_some_and(u8::is_ascii_digit)
        };
    let in_ok = inward.len() == 3
        && inward[0].is_ascii_digit()
        && inward[1].is_ascii_uppercase()
        && inward[2].is_ascii_uppercase();
    (out_ok && in_ok && w[i].end + 1 == w[i + 1].start).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        addresses(text)
            .into_iter()
            .map(|(s, e, _)| &text[s..e])
            .collect()
    }

    #[test]
    fn street_lines_towns_and_postcodes() {
        assert_eq!(
            found("Ship it to 1600 Pennsylvania Avenue NW please"),
            ["1600 Pennsylvania Avenue"]
        );
        assert_eq!(
            found("my address is 42 Elm St., Apt 4B, Springfield, IL 62704-1234 thanks"),
            ["42 Elm St., Apt 4B, Springfield, IL 62704-1234"]
        );
        assert_eq!(
            found("I moved to 221B Baker Street, London NW1 6XE last week"),
            ["221B Baker Street", "NW1 6XE"]
        );
        assert_eq!(
            found("deliver to flat 3, 10 Downing Street"),
            ["10 Downing Street"]
        );
        assert_eq!(found("at 350 5th Avenue"), ["350 5th Avenue"]);
    }

    #[test]
    fn numbers_and_words_that_are_not_addresses() {
        for text in [
            "I ordered 3 Large Pizzas and 2 Cokes",
            "order 12345 was late by 2 days",
            "the 4 Way Stop sign",
            "room 101 on the third floor",
            "version 2 Street Fighter",
            "call me at 5 pm on Main Street",
            "ABC 123 is my plate",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }
}
