//! Building the MIME message: multipart/alternative text + HTML, subject lines, and the
//! Message-ID / In-Reply-To / References headers that thread one escalation per reviewer.

use crate::domain::{EscalationId, EscalationRequest, ReviewerId};
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

/// Longest summary put in a subject line; the body has the whole of it.
const SUBJECT_SUMMARY: usize = 90;

/// One email, ready to build.
pub struct Draft<'a> {
    pub from: &'a Mailbox,
    pub to: Mailbox,
    pub subject: String,
    /// `<…@domain>`, stable across retries.
    pub message_id: &'a str,
    /// The thread this message belongs to (see [`thread_root`]).
    pub root: String,
    pub text: String,
    pub html: String,
}

pub fn build(draft: Draft<'_>) -> Result<Message, lettre::error::Error> {
    Message::builder()
        .from(draft.from.clone())
        .to(draft.to)
        .subject(draft.subject)
        .message_id(Some(draft.message_id.to_owned()))
        .in_reply_to(draft.root.clone())
        .references(draft.root)
        .date_now()
        // RFC 3834: machine-sent, so vacation responders stay quiet; Outlook honours its own header.
        .raw_header(raw("Auto-Submitted", "auto-generated"))
        .raw_header(raw("X-Auto-Response-Suppress", "All"))
        .multipart(MultiPart::alternative_plain_html(draft.text, draft.html))
}

fn raw(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

/// The id every message about one escalation to one reviewer points at. It is
/// derived, not stored: no message carries it, yet all of them reference it,
/// so mail clients gather the request, later requests and the outcome into one thread.
pub fn thread_root(esc: &EscalationId, reviewer: &ReviewerId, domain: &str) -> String {
    format!("<{}.{}@{domain}>", esc, id_part(reviewer.as_str()))
}

/// A fresh Message-ID for one outbox item.
pub fn new_message_id(esc: &EscalationId, domain: &str) -> String {
    format!(
        "<{}.{esc}@{domain}>",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    )
}

/// Reviewer ids are free text in the config; a msg-id allows only atext. Ids
/// that are plain already stay readable, the rest are hex-encoded so they
/// cannot collide with a plain one.
fn id_part(s: &str) -> String {
    let plain = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        s.to_owned()
    } else {
        format!(
            "x-{}",
            hex::encode(s.as_bytes())
                .chars()
                .take(64)
                .collect::<String>()
        )
    }
}

/// `Approval needed (risk 95): Deploy api v2.3.1 to production`. The risk
/// comes first so it survives a phone's truncation.
pub fn request_subject(req: &EscalationRequest) -> String {
    let risk = req
        .risk
        .as_ref()
        .map(|r| format!(" (risk {})", r.score))
        .unwrap_or_default();
    format!(
        "Approval needed{risk}: {}",
        one_line(
            &crate::domain::display::reveal(&req.summary),
            SUBJECT_SUMMARY
        )
    )
}

/// The outcome keeps the request's subject, so clients that thread by subject agree.
pub fn outcome_subject(req: &EscalationRequest) -> String {
    format!("Re: {}", request_subject(req))
}

/// Collapses whitespace and control characters (no header injection, no
/// multi-line subjects) and cuts at `max` characters.
pub fn one_line(s: &str, max: usize) -> String {
    let flat: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let flat = flat.join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// The domain of the sender address: Message-IDs belong to the domain we send as.
pub fn domain_of(from: &Mailbox) -> String {
    from.email.domain().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_one_bounded_line() {
        assert_eq!(one_line("a\r\nBcc: x@y\tz", 100), "a Bcc: x@y z");
        let long = one_line(&"word ".repeat(100), 20);
        assert!(long.chars().count() <= 20 && long.ends_with('…'), "{long}");
    }

    #[test]
    fn thread_roots_are_valid_msg_ids() {
        let esc = EscalationId("esc_01JD0000000000000000000000".into());
        assert_eq!(
            thread_root(&esc, &ReviewerId("bob".into()), "example.com"),
            "<esc_01JD0000000000000000000000.bob@example.com>"
        );
        let odd = thread_root(&esc, &ReviewerId("b o@b>".into()), "example.com");
        assert!(odd.starts_with("<esc_") && odd.ends_with("@example.com>"));
        assert_eq!(odd.matches('@').count(), 1);
        assert!(!odd[1..odd.len() - 1].contains(['<', '>', ' ']));
    }

    #[test]
    fn message_ids_are_unique_and_bracketed() {
        let esc = EscalationId("esc_01JD0000000000000000000000".into());
        let a = new_message_id(&esc, "example.com");
        assert!(a.starts_with('<') && a.ends_with("@example.com>"));
        assert_ne!(a, new_message_id(&esc, "example.com"));
    }
}
