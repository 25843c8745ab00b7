//! `application/x-www-form-urlencoded` bodies, which is how Slack sends interactions
//! (`payload=<urlencoded JSON>`). Read only after the signature was verified.

/// The first value of `name`; `None` when absent or not valid percent-encoded UTF-8.
pub fn field(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(k, _)| decode(k).as_deref() == Some(name))
        .and_then(|(_, v)| decode(v))
}

fn decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(bytes.next()?)?;
                let lo = hex(bytes.next()?)?;
                out.push(hi << 4 | lo);
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_slack_payloads() {
        let body = b"token=x&payload=%7B%22a%22%3A+%22b%C3%A9%22%7D";
        assert_eq!(
            field(body, "payload").as_deref(),
            Some("{\"a\": \"b\u{e9}\"}")
        );
        assert_eq!(field(body, "token").as_deref(), Some("x"));
        assert_eq!(field(body, "missing"), None);
    }

    #[test]
    fn refuses_broken_encoding() {
        assert_eq!(field(b"payload=%zz", "payload"), None);
        assert_eq!(field(b"payload=%4", "payload"), None);
        assert_eq!(field(b"payload=%FF", "payload"), None);
        assert_eq!(field(&[0xff, b'='], "payload"), None);
        assert_eq!(field(b"payload", "payload").as_deref(), Some(""));
    }
}
