//! Slack mrkdwn for untrusted text: escaping, cutting to Block Kit limits, links and date tokens.
//! Hidden characters (bidi controls, zero-width) are written out as `<U+XXXX>` by every
//! function here that takes agent text (see `domain::display`).
//!
//! Lengths are counted in UTF-16 code units, which is never less than the
//! character count: whichever of the two Slack counts, a text we cut fits.

use crate::domain::Time;
use crate::domain::display;

/// The length Slack's limits are checked against (see the module note).
pub fn len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Escapes the three characters Slack reads as control sequences, so an agent's
/// `<!channel>` or `<https://evil|CI run>` reaches a reviewer as plain text.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    if display::is_hidden(c) {
        display::escaped(c)
            .chars()
            .for_each(|m| push_markup_escaped(out, m));
    } else {
        push_markup_escaped(out, c);
    }
}

/// Only the three mrkdwn control characters; for text already revealed (`code_block`).
fn push_markup_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        c => out.push(c),
    }
}

fn escaped_len(c: char) -> usize {
    if display::is_hidden(c) {
        return display::escaped(c).chars().map(markup_escaped_len).sum();
    }
    markup_escaped_len(c)
}

fn markup_escaped_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        c => c.len_utf16(),
    }
}

/// Plain text: Slack parses no markup in it, but hidden characters are still written out.
fn push_plain(out: &mut String, c: char) {
    if display::is_hidden(c) {
        out.push_str(&display::escaped(c));
    } else {
        out.push(c);
    }
}

fn plain_len(c: char) -> usize {
    if display::is_hidden(c) {
        return display::escaped(c).len();
    }
    c.len_utf16()
}

/// Text cut to a budget, and how much of the input was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub text: String,
    /// Characters of the input that did not fit (0 when nothing was cut).
    pub omitted: usize,
}

const ELLIPSIS: char = '…';

/// `s` escaped and cut so the result is at most `max` long; a cut ends with `…`.
/// Cuts fall between characters, never inside an entity such as `&amp;`.
pub fn escape_within(s: &str, max: usize) -> Cut {
    cut_with(s, max, escaped_len, push_escaped)
}

/// Plain text (Slack parses no markup in it) cut to `max`, ending with `…` when cut.
pub fn plain_within(s: &str, max: usize) -> String {
    cut_with(s, max, plain_len, push_plain).text
}

fn cut_with(
    s: &str,
    max: usize,
    measure: impl Fn(char) -> usize,
    push: impl Fn(&mut String, char),
) -> Cut {
    let total: usize = s.chars().map(&measure).sum();
    if total <= max {
        let mut text = String::with_capacity(s.len());
        s.chars().for_each(|c| push(&mut text, c));
        return Cut { text, omitted: 0 };
    }
    let budget = max.saturating_sub(ELLIPSIS.len_utf16());
    let mut text = String::new();
    let mut used = 0;
    let mut kept = 0;
    for c in s.chars() {
        let n = measure(c);
        if used + n > budget {
            break;
        }
        push(&mut text, c);
        used += n;
        kept += 1;
    }
    if max >= ELLIPSIS.len_utf16() {
        text.push(ELLIPSIS);
    }
    Cut {
        text,
        omitted: s.chars().count() - kept,
    }
}

/// Untrusted text for a ``` block: escaped, and backticks broken up with a
/// zero-width space so the text cannot close the block and start markup. The
/// agent's own hidden characters are revealed first, so only ours stay invisible.
pub fn code_block(s: &str, max: usize) -> Cut {
    const FENCE: usize = 8; // "```\n" + "\n```"
    let defused = display::reveal(s).replace('`', "`\u{200B}");
    let mut cut = cut_with(
        &defused,
        max.saturating_sub(FENCE),
        markup_escaped_len,
        push_markup_escaped,
    );
    cut.text = format!("```\n{}\n```", cut.text);
    cut
}

/// Collapses line breaks, for values shown in one short field.
pub fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `<url|label> (host)`. The URL was validated as http(s) at intake; it is
/// written as the URL parser normalises it (non-ASCII percent-encoded, the host
/// in punycode), `&` is escaped as Slack itself writes it, the characters that
/// would end the link early are percent-encoded, and the label is escaped text.
/// Slack shows only the label, which the agent chose (`https://ci.example.com/…`
/// pointing elsewhere), so the host the link really opens is printed beside it.
pub fn link(url: &str, label: &str, max_label: usize) -> String {
    let parsed = reqwest::Url::parse(url).ok();
    let href = parsed.as_ref().map_or(url, reqwest::Url::as_str);
    let href = href
        .replace('&', "&amp;")
        .replace('|', "%7C")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace(' ', "%20");
    let label = escape_within(&one_line(label).replace('|', "¦"), max_label).text;
    let host = parsed
        .as_ref()
        .map_or_else(|| "unknown host".to_owned(), host_of);
    format!("<{href}|{label}> ({})", escape(&host))
}

/// `host` or `host:port` (a non-default port is part of where the link goes).
fn host_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("unknown host");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// A Slack date token: every reader sees the instant in their own time zone;
/// clients that cannot render it show the UTC fallback.
pub fn date(t: Time) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} at {{time}}|{}>",
        t.timestamp(),
        t.format("%Y-%m-%d %H:%M UTC")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_only() {
        assert_eq!(
            escape("<!channel> & <https://evil|CI> *bold*"),
            "&lt;!channel&gt; &amp; &lt;https://evil|CI&gt; *bold*"
        );
    }

    #[test]
    fn cuts_never_split_an_entity() {
        let cut = escape_within("a&b&c&d", 8);
        assert!(len(&cut.text) <= 8, "{cut:?}");
        assert_eq!(cut.text, "a&amp;b…");
        assert_eq!(cut.omitted, 4);
        assert_eq!(escape_within("short", 10).omitted, 0);
    }

    #[test]
    fn counts_utf16_units() {
        let s = "😀".repeat(100);
        let cut = escape_within(&s, 51);
        assert!(len(&cut.text) <= 51);
        assert_eq!(plain_within(&s, 10).chars().count(), 5); // 4 emoji + …
    }

    #[test]
    fn code_blocks_cannot_be_closed_from_inside() {
        let cut = code_block("```<!here>```", 100);
        assert!(cut.text.starts_with("```\n") && cut.text.ends_with("\n```"));
        let inner = &cut.text[4..cut.text.len() - 4];
        assert!(!inner.contains("```"), "{inner}");
        assert!(inner.contains("&lt;!here&gt;"));
    }

    #[test]
    fn links_keep_their_shape() {
        assert_eq!(
            link("https://x.test/a?q=1&r=|b>c", "run <1> | x", 50),
            "<https://x.test/a?q=1&amp;r=%7Cb%3Ec|run &lt;1&gt; ¦ x> (x.test)"
        );
    }

    #[test]
    fn links_name_the_host_they_open() {
        assert_eq!(
            link(
                "https://evil.example/steal",
                "https://ci.example.com/runs/1",
                50
            ),
            "<https://evil.example/steal|https://ci.example.com/runs/1> (evil.example)"
        );
        assert_eq!(
            link("http://ci.example.com@evil.example:8443/x", "CI", 50),
            "<http://ci.example.com@evil.example:8443/x|CI> (evil.example:8443)"
        );
        // Look-alike hosts are shown as the punycode the browser really resolves.
        assert!(link("https://exаmple.com/", "x", 50).ends_with("(xn--exmple-4nf.com)"));
    }

    #[test]
    fn hidden_characters_are_written_out() {
        assert_eq!(escape("a\u{202E}b<"), "a&lt;U+202E&gt;b&lt;");
        assert_eq!(plain_within("a\u{200B}b", 50), "a<U+200B>b");
        let cut = escape_within(&"\u{202E}".repeat(10), 30);
        assert!(len(&cut.text) <= 30, "{cut:?}");
        assert!(!cut.text.contains('\u{202E}'));
        let code = code_block("`x`\u{2066}", 100).text;
        assert!(code.contains("&lt;U+2066&gt;"), "{code}");
        assert_eq!(
            code.matches('\u{200B}').count(),
            2,
            "only our own defusing ZWSPs"
        );
    }

    #[test]
    fn dates_carry_a_utc_fallback() {
        let t = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(
            date(t),
            "<!date^1800000000^{date_short_pretty} at {time}|2027-01-15 08:00 UTC>"
        );
    }
}
