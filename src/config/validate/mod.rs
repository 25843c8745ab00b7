//! Semantic checks on a parsed config. Every problem is collected, none stops the others.

mod alerts;
mod auto;
mod people;
mod settings;
mod workflows;

use super::issue::ConfigIssue;
use super::model::Config;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// All errors and warnings in `config`, in file order within each section.
pub fn validate(config: &Config) -> Vec<ConfigIssue> {
    let mut out = Issues::default();
    settings::check(config, &mut out);
    people::check(config, &mut out);
    workflows::check(config, &mut out);
    alerts::check(config, &mut out);
    out.0
}

/// The collector every check writes into.
#[derive(Default)]
struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue::error(path, message));
    }

    fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue::warning(path, message));
    }
}

/// The key inside a Standard Webhooks secret: `whsec_` followed by standard base64.
pub fn decode_whsec(secret: &str) -> Option<Vec<u8>> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_")?).ok()?;
    (!key.is_empty()).then_some(key)
}

/// An absolute `http://` or `https://` URL with a host.
fn check_http_url(out: &mut Issues, path: &str, url: &str) {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
        Ok(_) => out.error(path, format!("`{url}` must be an http:// or https:// URL")),
        Err(e) => out.error(path, format!("`{url}` is not an absolute URL ({e})")),
    }
}

/// Reports every id that appears more than once, at each later occurrence.
fn check_unique<'a>(
    out: &mut Issues,
    what: &str,
    items: impl Iterator<Item = (String, &'a str)>,
    fold: fn(&str) -> String,
) {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (path, value) in items {
        let key = fold(value);
        match seen.iter().find(|(k, _)| *k == key) {
            Some((_, first)) => out.error(
                path,
                format!("duplicate {what} `{value}` (first at {first})"),
            ),
            None => seen.push((key, path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decode_whsec;

    #[test]
    fn whsec_format() {
        assert!(decode_whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_some());
        assert!(decode_whsec("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(decode_whsec("whsec_not base64!").is_none());
        assert!(decode_whsec("whsec_").is_none());
    }
}
