//! Where mail goes: an SMTP server (plain, STARTTLS or implicit TLS, optional AUTH) or a
//! directory of `.eml` files. Errors never repeat the URL, which may hold a password.

use crate::config::EmailConfig;
use lettre::message::Message;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

pub enum Transport {
    /// With the deadline of one whole SMTP conversation (`delivery.timeout`): lettre's
    /// own timeout bounds only the TCP connect, not the greeting or the commands.
    Smtp(AsyncSmtpTransport<Tokio1Executor>, Duration),
    Files(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("email.smtp_url is not a valid URL")]
    Invalid,
    #[error("email.smtp_url must start with smtp://, smtps:// or file://")]
    Scheme,
    #[error("email.smtp_url needs a host")]
    NoHost,
    #[error("email.smtp_url: tls= must be starttls, opportunistic or none")]
    Tls,
    #[error("email.smtp_url: only the tls= query parameter is understood")]
    Query,
    #[error("email.smtp_url: file:// needs a directory, e.g. file://./mail")]
    NoDirectory,
}

/// A failed send: `permanent` when the server refused for good (5xx), so retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

impl Transport {
    /// `smtp://host[:port]` plain (a local relay), `smtp://…?tls=starttls` (STARTTLS
    /// required; `tls=opportunistic` upgrades when offered), `smtps://host[:port]` (implicit
    /// TLS), `user:password@` for AUTH, or `file://DIR`.
    pub fn from_config(email: &EmailConfig, deadline: Duration) -> Result<Self, UrlError> {
        let raw = email.smtp_url.expose().trim();
        if raw.starts_with("file://") {
            return match email.file_dir() {
                Some(dir) if !dir.as_os_str().is_empty() => Ok(Self::Files(dir)),
                _ => Err(UrlError::NoDirectory),
            };
        }
        let url = lettre_url(raw)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|_| UrlError::Invalid)?
            .timeout(Some(deadline))
            .build();
        Ok(Self::Smtp(transport, deadline))
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Smtp(..) => "SMTP".to_owned(),
            Self::Files(dir) => format!(".eml files in {}", dir.display()),
        }
    }

    /// Sends one message. `name` (the Message-ID) names the file, so a retried
    /// write replaces the same file instead of adding a second copy.
    pub async fn send(&self, message: &Message, name: &str) -> Result<(), SendError> {
        match self {
            Self::Smtp(smtp, deadline) => {
                match tokio::time::timeout(*deadline, smtp.send(message.clone())).await {
                    Ok(sent) => sent.map(drop).map_err(|e| SendError {
                        permanent: gives_up(&e),
                        message: format!("SMTP: {e}"),
                    }),
                    Err(_) => {
                        let message = format!(
                            "SMTP: the server did not finish the conversation within {}ms",
                            deadline.as_millis()
                        );
                        tracing::warn!(error = %message, "SMTP deadline hit");
                        Err(SendError {
                            permanent: false,
                            message,
                        })
                    }
                }
            }
            Self::Files(dir) => write_file(dir, name, &message.formatted())
                .await
                .map_err(|e| SendError {
                    permanent: false,
                    message: format!("writing {}: {e}", dir.display()),
                }),
        }
    }
}

/// Validates an `email.smtp_url` without building anything, for `check-config`.
pub fn check_url(raw: &str) -> Result<(), UrlError> {
    match raw.trim().strip_prefix("file://") {
        Some("") => Err(UrlError::NoDirectory),
        Some(_) => Ok(()),
        None => lettre_url(raw.trim()).map(drop),
    }
}

/// A 5xx refuses this message for good (unknown recipient, rejected content), except
/// authentication failures: those are our configuration, and mail must wait for the fix.
fn gives_up(e: &lettre::transport::smtp::Error) -> bool {
    let auth = e
        .status()
        .is_some_and(|code| matches!(u16::from(code), 530 | 534 | 535 | 538));
    e.is_permanent() && !auth
}

/// Translates our URL forms into the ones lettre reads (`tls=required` / `opportunistic`).
fn lettre_url(raw: &str) -> Result<String, UrlError> {
    let mut url = reqwest::Url::parse(raw).map_err(|_| UrlError::Invalid)?;
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return Err(UrlError::Scheme);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::NoHost);
    }
    let mut tls = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "tls" if tls.is_none() => tls = Some(value.into_owned()),
            _ => return Err(UrlError::Query),
        }
    }
    let lettre_tls = match (url.scheme(), tls.as_deref()) {
        (_, None | Some("none")) => None,
        ("smtp", Some("starttls" | "required")) => Some("required"),
        ("smtp", Some("opportunistic")) => Some("opportunistic"),
        _ => return Err(UrlError::Tls),
    };
    url.set_query(None);
    if let Some(t) = lettre_tls {
        url.query_pairs_mut().append_pair("tls", t);
    }
    Ok(url.to_string())
}

async fn write_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let stem: String = name
        .trim_matches(|c| c == '<' || c == '>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Write then rename, so a reader never sees half a message.
    let tmp = dir.join(format!(".{stem}.tmp"));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, dir.join(format!("{stem}.eml"))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config(url: &str) -> EmailConfig {
        EmailConfig {
            smtp_url: Secret::new(url),
            from: "countersign <approvals@example.com>".into(),
            send_outcome: true,
        }
    }

    #[test]
    fn url_forms() {
        assert_eq!(
            lettre_url("smtp://127.0.0.1:1025").unwrap(),
            "smtp://127.0.0.1:1025"
        );
        assert_eq!(
            lettre_url("smtp://u:p%40ss@mail.example.com:587?tls=starttls").unwrap(),
            "smtp://u:p%40ss@mail.example.com:587?tls=required"
        );
        assert_eq!(
            lettre_url("smtp://mail.example.com?tls=opportunistic").unwrap(),
            "smtp://mail.example.com?tls=opportunistic"
        );
        assert_eq!(
            lettre_url("smtps://u:p@mail.example.com").unwrap(),
            "smtps://u:p@mail.example.com"
        );
        assert_eq!(
            lettre_url("smtps://mail.example.com?tls=starttls"),
            Err(UrlError::Tls)
        );
        assert_eq!(
            lettre_url("smtp://mail.example.com?tls=maybe"),
            Err(UrlError::Tls)
        );
        assert_eq!(
            lettre_url("smtp://mail.example.com?port=1"),
            Err(UrlError::Query)
        );
        assert_eq!(lettre_url("http://mail.example.com"), Err(UrlError::Scheme));
        assert!(lettre_url("smtp://").is_err());
        assert_eq!(lettre_url("not a url"), Err(UrlError::Invalid));
    }

    #[tokio::test]
    async fn transports_build_without_network() {
        crate::app::install_crypto_provider();
        for url in [
            "smtp://127.0.0.1:1025",
            "smtp://u:p@h:587?tls=starttls",
            "smtps://h",
        ] {
            assert!(
                matches!(
                    Transport::from_config(&config(url), Duration::from_secs(10)),
                    Ok(Transport::Smtp(..))
                ),
                "{url}"
            );
        }
        assert!(matches!(
            Transport::from_config(&config("file://./mail"), Duration::from_secs(10)),
            Ok(Transport::Files(_))
        ));
        assert_eq!(
            Transport::from_config(&config("file://"), Duration::from_secs(10)).err(),
            Some(UrlError::NoDirectory)
        );
    }

    #[test]
    fn check_url_agrees_with_the_builder() {
        for ok in [
            "smtp://h:25",
            "smtp://h?tls=starttls",
            "smtps://u:p@h",
            "file://./mail",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "file://",
            "smtp://h?tls=x",
            "smtps://h?tls=starttls",
            "mailto:x@y",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_never_show_the_password() {
        for url in [
            "smtp://u:hunter2@h?tls=x",
            "ftp://u:hunter2@h",
            "smtp://u:hunter2@h?a=b",
        ] {
            let e = lettre_url(url).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
