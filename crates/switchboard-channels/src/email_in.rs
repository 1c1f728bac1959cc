//! Inbound email: a raw RFC 5322 message parsed with mail-parser (MIME multipart, transfer
//! encodings and charsets) into what core stores. Text comes from the first text part, or from the
//! HTML converted to text when there is none; attachments keep only safe names, types and sizes.

use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use switchboard_core::email::{safe_filename, AttachmentInfo, InboundEmail};

/// Why an email was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    #[error("this is not an RFC 5322 message")]
    NotAnEmail,
    #[error("the message has no sender address (From)")]
    NoSender,
}

/// Message-IDs in a header, without angle brackets.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<String> = match value {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .flat_map(|s| {
            s.split_whitespace()
                .map(|p| p.trim_matches(|c| c == '<' || c == '>').to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty() && s.len() <= 998 && !s.chars().any(char::is_control))
        .collect()
}

/// Parses a raw message.
pub fn parse(raw: &[u8]) -> Result<InboundEmail, EmailError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(EmailError::NotAnEmail)?;
    let sender = message
        .from()
        .and_then(|a| a.first())
        .ok_or(EmailError::NoSender)?;
    let from_email = sender
        .address()
        .map(str::trim)
        .filter(|a| a.contains('@'))
        .ok_or(EmailError::NoSender)?
        .to_owned();
    let from_name = sender
        .name()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let message_id = message
        .message_id()
        .map(|s| s.trim_matches(|c| c == '<' || c == '>').to_owned())
        .filter(|s| !s.is_empty() && s.len() <= 998);
    let text = message
        .body_text(0)
        .map(|t| t.replace("\r\n", "\n"))
        .unwrap_or_default();
    let attachments = message
        .attachments()
        .map(|part| AttachmentInfo {
            filename: safe_filename(part.attachment_name().unwrap_or("attachment")),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into()),
            size: part.contents().len(),
            bytes: part.contents().to_vec(),
        })
        .collect();
    Ok(InboundEmail {
        message_id,
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        from_email,
        from_name,
        subject: message.subject().map(|s| s.trim().to_owned()),
        text: text.trim().to_owned(),
        attachments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTIPART: &str = "From: =?ISO-8859-1?Q?Ren=E9_M=FCller?= <rene@example.com>\r\n\
To: support@acme.test\r\n\
Subject: =?UTF-8?B?Q2Fmw6kgb3JkZXI=?=\r\n\
Message-ID: <abc-123@example.com>\r\n\
In-Reply-To: <prev@acme.test>\r\n\
References: <first@acme.test> <prev@acme.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=\"inner\"\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Gr=FC=DFe, my caf=E9 order is late.\r\n\
--inner\r\n\
Content-Type: text/html; charset=UTF-8\r\n\
\r\n\
<p>Grüße, my <b>café</b> order is late.</p>\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: application/octet-stream; name=\"../../etc/passwd\"\r\n\
Content-Disposition: attachment; filename=\"../../etc/passwd\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
cm9vdDp4OjA6MDo=\r\n\
--outer--\r\n";

    #[test]
    fn parses_multipart_charsets_threading_and_attachments() {
        let e = parse(MULTIPART.as_bytes()).unwrap();
        assert_eq!(e.from_email, "rene@example.com");
        assert_eq!(e.from_name.as_deref(), Some("René Müller"));
        assert_eq!(e.subject.as_deref(), Some("Café order"));
        assert_eq!(e.message_id.as_deref(), Some("abc-123@example.com"));
        assert_eq!(e.in_reply_to, vec!["prev@acme.test"]);
        assert_eq!(e.references, vec!["first@acme.test", "prev@acme.test"]);
        assert_eq!(e.text, "Grüße, my café order is late.");
        assert_eq!(e.attachments.len(), 1);
        assert_eq!(e.attachments[0].filename, "passwd");
        assert_eq!(e.attachments[0].size, 11);
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let raw = "From: a@example.com\r\nSubject: hi\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Hello <b>there</b></p><script>x()</script></body></html>\r\n";
        let e = parse(raw.as_bytes()).unwrap();
        assert!(e.text.contains("Hello"), "{:?}", e.text);
        assert!(e.text.contains("there"));
        assert!(!e.text.contains("<b>"));
    }

    #[test]
    fn broken_input_is_refused_or_read_leniently_never_a_panic() {
        assert_eq!(parse(b"").unwrap_err(), EmailError::NotAnEmail);
        assert_eq!(
            parse(b"Subject: no sender\r\n\r\nbody").unwrap_err(),
            EmailError::NoSender
        );
        // Unterminated multipart, bogus encodings: read what can be read.
        let broken = "From: x@example.com\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64\r\n";
        assert!(parse(broken.as_bytes()).is_ok());
        for n in 0..200 {
            let junk: Vec<u8> = (0..n).map(|i| ((i * 37 + n) % 256) as u8).collect();
            let _ = parse(&junk);
        }
    }
}
