//! The words a reader sees for outcomes, risk and instants, written once for every surface.

use crate::domain::{Outcome, Time};

/// `Approved`, `Denied`, `Expired`, `Cancelled`: an outcome in one word.
pub fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Approved => "Approved",
        Outcome::Denied => "Denied",
        Outcome::Expired => "Expired",
        Outcome::Cancelled => "Cancelled",
    }
}

/// An outcome as a sentence, for a reader who did not follow the escalation.
pub fn headline(o: Outcome) -> &'static str {
    match o {
        Outcome::Approved => "Approved",
        Outcome::Denied => "Denied",
        Outcome::Expired => "Expired: no decision before the deadline, so it was denied",
        Outcome::Cancelled => "Cancelled by the agent",
    }
}

pub fn risk_level(score: u8) -> &'static str {
    match score {
        90.. => "critical",
        70..=89 => "high",
        40..=69 => "medium",
        _ => "low",
    }
}

/// `Sat 21 Nov 2026, 12:00 UTC`: unambiguous on any phone, whatever its locale.
pub fn clock_time(t: Time) -> String {
    t.format("%a %-d %b %Y, %H:%M UTC").to_string()
}

/// `in 1 h 59 min`, `3 min ago`, `now`.
pub fn relative(t: Time, now: Time) -> String {
    let secs = (t - now).num_seconds();
    let span = human_span(secs.unsigned_abs());
    match secs {
        -59..=59 => "now".to_owned(),
        s if s > 0 => format!("in {span}"),
        _ => format!("{span} ago"),
    }
}

fn human_span(secs: u64) -> String {
    let (days, hours, mins) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (days, hours, mins) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// `approval` for one, `approvals` for any other count.
pub fn plural(word: &str, n: usize) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_read_well() {
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 21, 10, 1, 0)
            .unwrap();
        let later = chrono::Utc
            .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .unwrap();
        assert_eq!(clock_time(later), "Sat 21 Nov 2026, 12:00 UTC");
        assert_eq!(relative(later, now), "in 1 h 59 min");
        assert_eq!(relative(now, later), "1 h 59 min ago");
        assert_eq!(relative(now, now), "now");
        assert_eq!(human_span(3 * 86_400 + 7200), "3 d 2 h");
        assert_eq!(human_span(7200), "2 h");
    }

    #[test]
    fn risk_levels() {
        assert_eq!(risk_level(95), "critical");
        assert_eq!(risk_level(70), "high");
        assert_eq!(risk_level(40), "medium");
        assert_eq!(risk_level(0), "low");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural("approval", 1), "approval");
        assert_eq!(plural("approval", 0), "approvals");
    }
}
