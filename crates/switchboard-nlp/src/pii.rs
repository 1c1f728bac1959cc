//! Personal data in free text, found by validating, not just matching: payment cards (Luhn and
//! issuer ranges), IBANs (per-country length and mod-97), US social security numbers (area,
//! group and serial rules), phone numbers (libphonenumber's numbering plans), email addresses and
//! IP addresses. Each finding has its kind, byte span and a confidence; [`redact`] replaces them.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Card,
    Iban,
    UsSsn,
    Phone,
    Email,
    IpAddress,
}

impl PiiKind {
    /// The mask written in place of the value.
    pub fn mask(self) -> &'static str {
        match self {
            Self::Card => "[CARD]",
            Self::Iban => "[IBAN]",
            Self::UsSsn => "[SSN]",
            Self::Phone => "[PHONE]",
            Self::Email => "[EMAIL]",
            Self::IpAddress => "[IP]",
        }
    }
}

/// One piece of personal data: `text[start..end]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
    pub confidence: f32,
}

/// Every finding in `text`, in order, without overlaps (the earlier and longer one wins).
pub fn detect(text: &str) -> Vec<Finding> {
    let text = &text[..floor_boundary(text, crate::text::MAX_TEXT_BYTES * 8)];
    let mut all = Vec::new();
    all.extend(number_runs(text));
    all.extend(emails(text));
    all.extend(ips(text));
    all.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Finding> = Vec::new();
    for f in all {
        if out.last().is_none_or(|last| f.start >= last.end) {
            out.push(f);
        }
    }
    out
}

fn floor_boundary(text: &str, max: usize) -> usize {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// How a finding is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redaction {
    /// `[CARD]`, `[EMAIL]`, …
    Mask,
    /// Keeps the last four characters: `•••• 4242`.
    Partial,
    /// A short SHA-256 of the value: the same value always gives the same token.
    Hash,
    /// Removed.
    Drop,
}

/// `text` with each finding replaced according to `mode_for` its kind.
pub fn redact(text: &str, findings: &[Finding], mode_for: impl Fn(PiiKind) -> Redaction) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        if f.start < at
            || f.end > text.len()
            || !text.is_char_boundary(f.start)
            || !text.is_char_boundary(f.end)
        {
            continue;
        }
        out.push_str(&text[at..f.start]);
        let value = &text[f.start..f.end];
        match mode_for(f.kind) {
            Redaction::Mask => out.push_str(f.kind.mask()),
            Redaction::Partial => {
                let tail: String = value
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect::<Vec<_>>()
                    .iter()
                    .rev()
                    .take(4)
                    .rev()
                    .collect();
                out.push_str("•••• ");
                out.push_str(&tail);
            }
            Redaction::Hash => {
                let digest = Sha256::digest(value.as_bytes());
                out.push('[');
                out.push_str(f.kind.mask().trim_matches(|c| c == '[' || c == ']'));
                out.push(':');
                out.push_str(&hex(&digest[..6]));
                out.push(']');
            }
            Redaction::Drop => {}
        }
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs of digits that may contain single spaces, dashes or dots between groups, possibly led by
/// `+` or two letters (IBAN): checked as card, IBAN, SSN and phone number in that order.
fn number_runs(text: &str) -> Vec<Finding> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts_iban = i + 4 <= b.len()
            && b[i].is_ascii_alphabetic()
            && b[i + 1].is_ascii_alphabetic()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if starts_iban {
            if let Some(end) = iban_at(text, i) {
                out.push(Finding {
                    kind: PiiKind::Iban,
                    start: i,
                    end,
                    confidence: 0.97,
                });
                i = end;
                continue;
            }
        }
        let begins = (b[i].is_ascii_digit()
            || (b[i] == b'+' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
            || b[i] == b'(')
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if !begins {
            i += 1;
            continue;
        }
        // Extend over digits and single separators between digits.
        let mut end = i + 1;
        while end < b.len() {
            let c = b[end];
            let separator = matches!(c, b' ' | b'-' | b'.' | b'(')
                && b.get(end + 1)
                    .is_some_and(|n| n.is_ascii_digit() || *n == b'(');
            if c.is_ascii_digit() || c == b')' || separator {
                end += 1;
            } else {
                break;
            }
        }
        if end < b.len() && b[end].is_ascii_alphabetic() {
            i = end;
            continue;
        }
        let run = &text[i..end];
        let digits: Vec<u8> = run
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|d| d - b'0')
            .collect();
        if let Some(kind) = classify_digits(run, &digits) {
            let confidence = match kind {
                PiiKind::Card => 0.95,
                PiiKind::UsSsn => 0.85,
                _ => 0.8,
            };
            out.push(Finding {
                kind,
                start: i,
                end,
                confidence,
            });
        }
        i = end;
    }
    out
}

fn classify_digits(run: &str, digits: &[u8]) -> Option<PiiKind> {
    if (13..=19).contains(&digits.len())
        && luhn(digits)
        && card_issuer(digits).is_some()
        && !run.starts_with('+')
    {
        return Some(PiiKind::Card);
    }
    if is_ssn(run) {
        return Some(PiiKind::UsSsn);
    }
    if (7..=15).contains(&digits.len()) && run.starts_with('+') {
        if let Ok(n) = phonenumber::parse(None, run) {
            if phonenumber::is_valid(&n) {
                return Some(PiiKind::Phone);
            }
        }
    }
    if (10..=11).contains(&digits.len()) && !run.starts_with('+') {
        // Without a country code: a valid North American or UK number only.
        for region in [phonenumber::country::Id::US, phonenumber::country::Id::GB] {
            if let Ok(n) = phonenumber::parse(Some(region), run) {
                if phonenumber::is_valid(&n) {
                    return Some(PiiKind::Phone);
                }
            }
        }
    }
    None
}

/// The Luhn check digit test.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// The card network whose issuer ranges and lengths the number fits.
pub fn card_issuer(digits: &[u8]) -> Option<&'static str> {
    let prefix = |n: usize| -> u32 {
        digits
            .iter()
            .take(n)
            .fold(0, |acc, d| acc * 10 + u32::from(*d))
    };
    let len = digits.len();
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    if p1 == 4 && matches!(len, 13 | 16 | 19) {
        Some("visa")
    } else if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16 {
        Some("mastercard")
    } else if matches!(p2, 34 | 37) && len == 15 {
        Some("amex")
    } else if (p4 == 6011
        || p2 == 65
        || (644..=649).contains(&p3)
        || (622_126..=622_925).contains(&p6))
        && (16..=19).contains(&len)
    {
        Some("discover")
    } else if (3528..=3589).contains(&p4) && (16..=19).contains(&len) {
        Some("jcb")
    } else if ((300..=305).contains(&p3) || p2 == 36 || p2 == 38) && (14..=19).contains(&len) {
        Some("diners")
    } else if p2 == 62 && (16..=19).contains(&len) {
        Some("unionpay")
    } else {
        None
    }
}

/// `AAA-GG-SSSS` with a possible area (not 000, 666 or 900–999), group (not 00) and serial
/// (not 0000). Without the dashes nine digits are too often something else.
fn is_ssn(run: &str) -> bool {
    let parts: Vec<&str> = run.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 3 || parts[1].len() != 2 || parts[2].len() != 4 {
        return false;
    }
    if !parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let area: u32 = parts[0].parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && parts[1] != "00" && parts[2] != "0000"
}

/// IBAN lengths of the countries that use them most (SWIFT IBAN registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("TR", 26),
    ("UA", 29),
];

/// The end of a valid IBAN starting at `start` (printed with or without single spaces).
fn iban_at(text: &str, start: usize) -> Option<usize> {
    let b = text.as_bytes();
    let country = text.get(start..start + 2)?.to_ascii_uppercase();
    let want = IBAN_LENGTHS.iter().find(|(c, _)| *c == country)?.1;
    let mut chars = Vec::with_capacity(want);
    let mut end = start;
    while end < b.len() && chars.len() < want {
        let c = b[end];
        if c.is_ascii_alphanumeric() {
            chars.push(c.to_ascii_uppercase());
            end += 1;
        } else if c == b' '
            && b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
            && chars.len() % 4 == 0
        {
            end += 1;
        } else {
            break;
        }
    }
    if chars.len() != want || b.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    // Move the first four characters to the end, letters to numbers, then mod 97 must be 1.
    let mut rem: u32 = 0;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    (rem == 1).then_some(end)
}

fn emails(text: &str) -> Vec<Finding> {
    let b = text.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'.';
    let mut out = Vec::new();
    for (at, _) in text.match_indices('@') {
        let mut s = at;
        while s > 0 && local(b[s - 1]) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < b.len() && domain(b[e]) {
            e += 1;
        }
        while e > at + 1 && b[e - 1] == b'.' {
            e -= 1;
        }
        let host = &text[at + 1..e];
        let tld_ok = host.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty() && tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic())
        });
        if s < at && tld_ok && out.last().is_none_or(|f: &Finding| s >= f.end) {
            out.push(Finding {
                kind: PiiKind::Email,
                start: s,
                end: e,
                confidence: 0.99,
            });
        }
    }
    out
}

fn ips(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut offset = 0;
    for token in text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ',' | ';' | '(' | ')' | '[' | ']' | '<' | '>' | '"' | '\''
            )
    }) {
        let start = offset;
        offset += token.len() + 1;
        let trimmed = token.trim_end_matches(['.', ':', '!', '?']);
        if trimmed.len() < 7 {
            continue;
        }
        let is_ip = trimmed.parse::<std::net::Ipv4Addr>().is_ok()
            || (trimmed.contains(':') && trimmed.parse::<std::net::Ipv6Addr>().is_ok());
        if is_ip {
            out.push(Finding {
                kind: PiiKind::IpAddress,
                start,
                end: start + trimmed.len(),
                confidence: 0.9,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds(text: &str) -> Vec<(PiiKind, &str)> {
        detect(text)
            .into_iter()
            .map(|f| (f.kind, &text[f.start..f.end]))
            .collect()
    }

    #[test]
    fn finds_validated_values_and_ignores_look_alikes() {
        let text = "Card 4242 4242 4242 4242, not 4242 4242 4242 4241. IBAN GB82 WEST 1234 5698 7654 32 \
                    or DE89370400440532013000; bad GB82WEST12345698765433. SSN 078-05-1120, not 666-12-3456. \
                    Mail ada@example.com from 192.168.10.7 or 2001:db8::1, call +44 20 7946 0958.";
        let found = kinds(text);
        assert_eq!(
            found,
            vec![
                (PiiKind::Card, "4242 4242 4242 4242"),
                (PiiKind::Iban, "GB82 WEST 1234 5698 7654 32"),
                (PiiKind::Iban, "DE89370400440532013000"),
                (PiiKind::UsSsn, "078-05-1120"),
                (PiiKind::Email, "ada@example.com"),
                (PiiKind::IpAddress, "192.168.10.7"),
                (PiiKind::IpAddress, "2001:db8::1"),
                (PiiKind::Phone, "+44 20 7946 0958"),
            ],
            "{found:?}"
        );
        assert!(detect("order 12345, version 1.2.3, 2026-11-30, 999.999.1.1").is_empty());
    }

    #[test]
    fn redaction_modes() {
        let text = "pay with 4242-4242-4242-4242 or mail a@b.io";
        let f = detect(text);
        assert_eq!(
            redact(text, &f, |_| Redaction::Mask),
            "pay with [CARD] or mail [EMAIL]"
        );
        assert_eq!(
            redact(text, &f, |k| if k == PiiKind::Card {
                Redaction::Partial
            } else {
                Redaction::Drop
            }),
            "pay with •••• 4242 or mail "
        );
        let hashed = redact(text, &f, |_| Redaction::Hash);
        assert!(
            hashed.starts_with("pay with [CARD:") && !hashed.contains("4242"),
            "{hashed}"
        );
        assert_eq!(hashed, redact(text, &f, |_| Redaction::Hash));
    }

    fn with_luhn(mut body: Vec<u8>) -> Vec<u8> {
        for check in 0..10 {
            body.push(check);
            if luhn(&body) {
                return body;
            }
            body.pop();
        }
        unreachable!()
    }

    proptest! {
        #[test]
        fn valid_visa_numbers_are_found_and_one_changed_digit_is_not(rest in proptest::collection::vec(0u8..10, 14), pos in 1usize..15) {
            let mut digits = vec![4u8];
            digits.extend(rest);
            let card = with_luhn(digits);
            let s: String = card.iter().map(|d| char::from(b'0' + d)).collect();
            let text = format!("my card is {s} thanks");
            prop_assert_eq!(kinds(&text), vec![(PiiKind::Card, s.as_str())]);
            let mut broken = card.clone();
            broken[pos] = (broken[pos] + 1) % 10;
            let b: String = broken.iter().map(|d| char::from(b'0' + d)).collect();
            let t = format!("my card is {b}");
            let has_card = kinds(&t).iter().any(|(k, _)| *k == PiiKind::Card);
            prop_assert!(!has_card);
        }

        #[test]
        fn any_text_is_scanned_without_panics_and_redaction_keeps_the_rest(text in any::<String>()) {
            let f = detect(&text);
            prop_assert!(f.windows(2).all(|w| w[0].end <= w[1].start));
            let r = redact(&text, &f, |_| Redaction::Mask);
            if f.is_empty() {
                prop_assert_eq!(r, text);
            }
        }
    }
}
