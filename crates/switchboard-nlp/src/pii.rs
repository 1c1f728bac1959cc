//! Personal data in free text, found by validating, not just matching: payment cards (Luhn and
//! issuer ranges), IBANs (per-country length and mod-97), US social security numbers (area,
//! group and serial rules), phone numbers (libphonenumber's numbering plans), email addresses and
//! IP addresses. Each finding has its kind, byte span and a confidence; [`redact`] replaces them.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// What a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Card,
    Iban,
    UsSsn,
    Phone,
    Email,
    IpAddress,
    /// A date written next to "born", "DOB", "date of birth".
    DateOfBirth,
    /// A secret: API keys and tokens of well-known shapes, or a value after "password:".
    Credential,
    /// A medical record or health-plan member number (after "MRN", "member ID", …).
    HealthId,
    /// A street address (number, street, type; town, state and ZIP when they follow) or a UK
    /// postcode. Heuristic: no checksum to validate against.
    PostalAddress,
}

impl PiiKind {
    pub const ALL: [PiiKind; 10] = [
        Self::Card,
        Self::Iban,
        Self::UsSsn,
        Self::Phone,
        Self::Email,
        Self::IpAddress,
        Self::DateOfBirth,
        Self::Credential,
        Self::HealthId,
        Self::PostalAddress,
    ];

    /// The kind's name in APIs and policies (`card`, `us_ssn`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::Iban => "iban",
            Self::UsSsn => "us_ssn",
            Self::Phone => "phone",
            Self::Email => "email",
            Self::IpAddress => "ip_address",
            Self::DateOfBirth => "date_of_birth",
            Self::Credential => "credential",
            Self::HealthId => "health_id",
            Self::PostalAddress => "postal_address",
        }
    }

    /// The mask written in place of the value.
    pub fn mask(self) -> &'static str {
        match self {
            Self::Card => "[CARD]",
            Self::Iban => "[IBAN]",
            Self::UsSsn => "[SSN]",
            Self::Phone => "[PHONE]",
            Self::Email => "[EMAIL]",
            Self::IpAddress => "[IP]",
            Self::DateOfBirth => "[DOB]",
            Self::Credential => "[SECRET]",
            Self::HealthId => "[HEALTH_ID]",
            Self::PostalAddress => "[ADDRESS]",
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
    detect_where(text, |_| true)
}

/// As [`detect`], among the kinds `keep` accepts only: a kept finding is never hidden by an
/// overlapping one of a kind left out (what a redaction policy limited to some kinds needs).
pub fn detect_where(text: &str, keep: impl Fn(PiiKind) -> bool) -> Vec<Finding> {
    let text = &text[..floor_boundary(text, crate::text::MAX_TEXT_BYTES * 8)];
    let mut all = Vec::new();
    // Labelled values first: on the same span the label's reading wins (an NHS number is also a
    // valid US phone number), and the sort below is stable.
    all.extend(after_label(
        text,
        HEALTH_LABELS,
        PiiKind::HealthId,
        is_health_id,
    ));
    all.extend(after_label(text, DOB_LABELS, PiiKind::DateOfBirth, is_date));
    all.extend(credentials(text));
    all.extend(number_runs(text));
    all.extend(emails(text));
    all.extend(ips(text));
    all.extend(
        crate::address::addresses(text)
            .into_iter()
            .map(|(start, end, confidence)| Finding {
                kind: PiiKind::PostalAddress,
                start,
                end,
                confidence,
            }),
    );
    all.retain(|f| keep(f.kind));
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redaction {
    /// `[CARD]`, `[EMAIL]`, …
    Mask,
    /// Keeps the last four characters: `•••• 4242`.
    Partial,
    /// A short keyed hash of the value: within one key the same value always gives the same
    /// token (so agents can tell two mentions are the same card), and without the key the token
    /// cannot be matched against a list of candidate numbers.
    Hash,
    /// Removed.
    Drop,
}

/// Redacted text, with where each replacement now stands in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Redacted {
    pub text: String,
    /// The findings that were replaced, their spans pointing at the replacement in `text` (empty
    /// spans for dropped values).
    pub findings: Vec<Finding>,
}

/// `text` with each finding replaced according to `mode_for` its kind. `hash_key` keys
/// [`Redaction::Hash`] (HMAC-SHA-256); give each tenant its own.
pub fn redact(
    text: &str,
    findings: &[Finding],
    mode_for: impl Fn(PiiKind) -> Redaction,
    hash_key: &[u8],
) -> Redacted {
    let mut out = String::with_capacity(text.len());
    let mut moved = Vec::with_capacity(findings.len());
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
        let start = out.len();
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
                // HMAC accepts keys of any length, so this cannot fail.
                let tag = <Hmac<Sha256> as Mac>::new_from_slice(hash_key)
                    .map(|mac| mac.chain_update(value.as_bytes()).finalize().into_bytes())
                    .unwrap_or_default();
                out.push('[');
                out.push_str(f.kind.mask().trim_matches(|c| c == '[' || c == ']'));
                out.push(':');
                out.push_str(&hex(&tag[..6]));
                out.push(']');
            }
            Redaction::Drop => {}
        }
        moved.push(Finding {
            start,
            end: out.len(),
            ..f.clone()
        });
        at = f.end;
    }
    out.push_str(&text[at..]);
    Redacted {
        text: out,
        findings: moved,
    }
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

/// Prefixes of secrets whose shape is published by their issuers, with the least length of
/// the whole token.
const SECRET_PREFIXES: &[(&str, usize)] = &[
    ("sk_live_", 20),
    ("sk_test_", 20),
    ("rk_live_", 20),
    ("pk_live_", 20), // Stripe
    ("ghp_", 36),
    ("gho_", 36),
    ("ghs_", 36),
    ("github_pat_", 40), // GitHub
    ("xoxb-", 20),
    ("xoxp-", 20), // Slack
    ("AKIA", 20),
    ("ASIA", 20),   // AWS access key ids
    ("AIza", 39),   // Google API keys
    ("glpat-", 24), // GitLab
    ("whsec_", 20),
    ("sbk_", 20), // webhook secrets, our own API keys
];

/// Words that introduce a secret value.
const SECRET_LABELS: &[&str] = &[
    "password", "passwd", "pwd", "passcode", "pin", "api key", "api_key", "token", "secret",
];

fn credentials(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
    let mut offset = 0;
    for token in text.split(|c: char| !token_char(c)) {
        let start = offset;
        offset += token.len() + 1;
        let known = SECRET_PREFIXES
            .iter()
            .any(|(p, min)| token.starts_with(p) && token.len() >= *min);
        let jwt = token.starts_with("eyJ") && token.len() >= 30;
        if known || jwt {
            out.push(Finding {
                kind: PiiKind::Credential,
                start,
                end: start + token.len(),
                confidence: 0.95,
            });
        }
    }
    out.extend(after_label(text, SECRET_LABELS, PiiKind::Credential, |v| {
        v.len() >= 4
            && v.chars()
                .any(|c| c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_uppercase())
    }));
    out
}

const DOB_LABELS: &[&str] = &[
    "dob",
    "d.o.b",
    "date of birth",
    "birth date",
    "birthdate",
    "born on",
    "born",
];

const HEALTH_LABELS: &[&str] = &[
    "mrn",
    "medical record number",
    "medical record no",
    "medical record",
    "patient id",
    "member id",
    "member number",
    "policy number",
    "health plan id",
    "insurance id",
    "medicare number",
    "medicaid id",
    "nhs number",
];

/// `YYYY-MM-DD`, `DD/MM/YYYY`, `MM/DD/YYYY`, `DD.MM.YYYY` (and two-digit years) with a real day
/// and month.
fn is_date(v: &str) -> bool {
    let parts: Vec<&str> = v.split(['-', '/', '.']).collect();
    if parts.len() != 3
        || !parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let n: Vec<u32> = parts.iter().map(|p| p.parse().unwrap_or(0)).collect();
    if parts[0].len() == 4 {
        real_date(n[0], n[1], n[2])
    } else {
        let year = if parts[2].len() == 2 {
            1900 + n[2]
        } else {
            n[2]
        };
        parts[2].len() >= 2 && (real_date(year, n[1], n[0]) || real_date(year, n[0], n[1]))
    }
}

/// Whether `day` exists in `month` of `year` (Gregorian).
fn real_date(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// Health ids: 6–15 letters and digits with at least 5 digits.
fn is_health_id(v: &str) -> bool {
    (6..=15).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b' ')
        && v.bytes().filter(u8::is_ascii_digit).count() >= 5
}

/// Values right after one of `labels` (case-insensitive, whole words), optionally after `:`,
/// `#`, `=` or "is", that `valid` accepts.
fn after_label(
    text: &str,
    labels: &[&str],
    kind: PiiKind,
    valid: impl Fn(&str) -> bool,
) -> Vec<Finding> {
    let lower = text.to_ascii_lowercase();
    let b = text.as_bytes();
    let mut out: Vec<Finding> = Vec::new();
    for label in labels {
        for (at, _) in lower.match_indices(label) {
            let end_label = at + label.len();
            let whole = (at == 0 || !b[at - 1].is_ascii_alphanumeric())
                && b.get(end_label).is_none_or(|c| !c.is_ascii_alphanumeric());
            if !whole {
                continue;
            }
            let mut i = end_label;
            let skip = |i: &mut usize| {
                while *i < b.len() && matches!(b[*i], b' ' | b':' | b'#' | b'=' | b'\t') {
                    *i += 1;
                }
            };
            skip(&mut i);
            if lower[i..].starts_with("is ") {
                i += 3;
                skip(&mut i);
            }
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b',' | b';') {
                i += 1;
            }
            // Digits printed in groups ("943 476 5919") are one value.
            while b[start..i].iter().all(|c| c.is_ascii_digit() || *c == b' ')
                && i > start
                && i + 1 < b.len()
                && b[i] == b' '
                && b[i + 1].is_ascii_digit()
            {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let mut end = i;
            while end > start && matches!(b[end - 1], b'.' | b')' | b'!' | b'?') {
                end -= 1;
            }
            if end > start
                && text.is_char_boundary(start)
                && text.is_char_boundary(end)
                && valid(&text[start..end])
                && !out.iter().any(|f| f.start == start)
            {
                out.push(Finding {
                    kind,
                    start,
                    end,
                    confidence: 0.85,
                });
            }
        }
    }
    out
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
        let found = kinds(
            "DOB: 14/07/1985, born 1990-02-30 (no such day). MRN# 00471234, member id is AB123456789. \
             Key sk_live_4eC39HqLyjWDarjtT1zdp7dc and password: Hunter2!x, my pin is fine.",
        );
        assert_eq!(
            found,
            vec![
                (PiiKind::DateOfBirth, "14/07/1985"),
                (PiiKind::HealthId, "00471234"),
                (PiiKind::HealthId, "AB123456789"),
                (PiiKind::Credential, "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
                (PiiKind::Credential, "Hunter2!x"),
            ],
            "{found:?}"
        );
    }

    #[test]
    fn a_kept_kind_is_not_hidden_by_an_overlapping_reading_of_another() {
        let text = "member ID 4155550132 please";
        let all = detect(text);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].kind, PiiKind::HealthId);
        let phones = detect_where(text, |k| k == PiiKind::Phone);
        assert_eq!(phones.len(), 1, "{phones:?}");
        assert_eq!(&text[phones[0].start..phones[0].end], "4155550132");
    }

    #[test]
    fn kind_names_match_their_serialised_form() {
        for k in PiiKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn redaction_modes() {
        let text = "pay with 4242-4242-4242-4242 or mail a@b.io";
        let f = detect(text);
        let masked = redact(text, &f, |_| Redaction::Mask, b"k");
        assert_eq!(masked.text, "pay with [CARD] or mail [EMAIL]");
        let spans: Vec<&str> = masked
            .findings
            .iter()
            .map(|f| &masked.text[f.start..f.end])
            .collect();
        assert_eq!(spans, ["[CARD]", "[EMAIL]"]);
        let partial = redact(
            text,
            &f,
            |k| {
                if k == PiiKind::Card {
                    Redaction::Partial
                } else {
                    Redaction::Drop
                }
            },
            b"k",
        );
        assert_eq!(partial.text, "pay with •••• 4242 or mail ");
        assert_eq!(partial.findings[1].start, partial.findings[1].end);
        let hashed = redact(text, &f, |_| Redaction::Hash, b"tenant one").text;
        assert!(
            hashed.starts_with("pay with [CARD:") && !hashed.contains("4242"),
            "{hashed}"
        );
        assert_eq!(
            hashed,
            redact(text, &f, |_| Redaction::Hash, b"tenant one").text
        );
        // Another key gives other tokens: a token says nothing outside its tenant.
        assert_ne!(
            hashed,
            redact(text, &f, |_| Redaction::Hash, b"tenant two").text
        );
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
            let r = redact(&text, &f, |_| Redaction::Mask, b"k");
            if f.is_empty() {
                prop_assert_eq!(r.text, text);
            } else {
                prop_assert_eq!(r.findings.len(), f.len());
                prop_assert!(r.findings.iter().all(|g| &r.text[g.start..g.end] == g.kind.mask()));
            }
        }
    }
}
