//! Who is signed in: the session cookie (a random id whose SHA-256 is what the store keeps),
//! its expiry, and the CSRF tokens every form carries — bound to the session, or before
//! sign-in to a random pre-session cookie (signed double submit). Comparisons are constant-time.

use super::super::AppState;
use crate::domain::ReviewerProfile;
use crate::service::sha256_hex;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;

/// The session cookie; `Path=/ui`, so nothing else on the server receives it.
pub const SESSION: &str = "countersign_session";
/// The pre-session cookie the sign-in forms' CSRF token is bound to.
pub const PRE: &str = "countersign_pre";
/// A session ends after this long without a request …
pub const IDLE: chrono::Duration = chrono::Duration::hours(12);
/// … and after this long in any case.
pub const MAX_AGE: chrono::Duration = chrono::Duration::days(7);
/// Requests closer together than this do not move the idle clock (saves a write per page).
const TOUCH_EVERY: chrono::Duration = chrono::Duration::minutes(5);

const CSRF_DOMAIN: &[u8] = b"countersign/ui-csrf/v1\n";
const PRE_DOMAIN: &[u8] = b"countersign/ui-pre-csrf/v1\n";

/// The field name of the CSRF token in every form.
pub const CSRF_FIELD: &str = "csrf";

/// The signed-in reviewer.
pub struct Viewer {
    pub profile: ReviewerProfile,
    /// Operators see Insights and every escalation.
    pub admin: bool,
    session_sha256: String,
    /// The token this session's forms carry.
    pub csrf: String,
}

impl Viewer {
    /// A viewer without a stored session, for rendering pages in unit tests.
    #[cfg(test)]
    pub fn for_test(id: &str, admin: bool) -> Self {
        Self {
            profile: ReviewerProfile {
                id: crate::domain::ReviewerId(id.into()),
                name: id.into(),
                email: format!("{id}@example.com"),
                roles: Vec::new(),
                department: None,
                admin,
            },
            admin,
            session_sha256: String::new(),
            csrf: "token".into(),
        }
    }

    pub fn session_sha256(&self) -> &str {
        &self.session_sha256
    }

    /// Whether a submitted form's token is this session's.
    pub fn csrf_ok(&self, state: &AppState, token: Option<&str>) -> bool {
        token.is_some_and(|t| {
            state
                .link_keys
                .check_tag(CSRF_DOMAIN, &self.session_sha256, t)
        })
    }
}

/// 256 random bits, base64url: a session id or a pre-session value.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, scoped to /ui; `Secure` when the
/// server is reached over https; `max_age` 0 deletes it.
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: chrono::Duration,
) -> HeaderValue {
    let secure = if state
        .service
        .config
        .server
        .public_url
        .starts_with("https://")
    {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.num_seconds()
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Path=/ui"))
}

/// The signed-in reviewer behind the request's session cookie: `None` without a cookie, or
/// when its session is unknown, revoked, idle too long, past its end, or its reviewer is no
/// longer configured.
pub async fn viewer(state: &AppState, headers: &HeaderMap) -> Option<Viewer> {
    let id = cookie(headers, SESSION)?;
    let hash = sha256_hex(id.as_bytes());
    let now = state.service.now();
    let session = match state.service.store.session(&hash, now - IDLE, now).await {
        Ok(s) => s?,
        Err(e) => {
            tracing::error!(error = %e, "reading a web session");
            return None;
        }
    };
    let profile = state.service.dir.get(&session.reviewer)?.clone();
    if now - session.seen_at >= TOUCH_EVERY
        && let Err(e) = state.service.store.touch_session(&hash, now).await
    {
        tracing::warn!(error = %e, "could not move a web session's idle clock");
    }
    Some(Viewer {
        admin: is_operator(&profile),
        csrf: state.link_keys.tag(CSRF_DOMAIN, &hash),
        session_sha256: hash,
        profile,
    })
}

/// Operators (`admin: true`, design.md §8).
fn is_operator(profile: &ReviewerProfile) -> bool {
    profile.admin
}

/// The pre-session CSRF token for the value of the pre-session cookie.
pub fn pre_token(state: &AppState, pre: &str) -> String {
    state.link_keys.tag(PRE_DOMAIN, pre)
}

/// Whether a sign-in form's token matches the request's pre-session cookie.
pub fn pre_ok(state: &AppState, headers: &HeaderMap, token: Option<&str>) -> bool {
    match (cookie(headers, PRE), token) {
        (Some(pre), Some(token)) => state.link_keys.check_tag(PRE_DOMAIN, pre, token),
        _ => false,
    }
}

/// The value of `name` in a submitted form.
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_cookie_among_several() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; countersign_session=abc"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("countersign_pre=xyz"),
        );
        assert_eq!(cookie(&h, SESSION), Some("abc"));
        assert_eq!(cookie(&h, PRE), Some("xyz"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn secrets_are_long_and_distinct() {
        let (a, b) = (random_secret(), random_secret());
        assert_ne!(a, b);
        assert!(B64.decode(&a).unwrap().len() * 8 >= 128);
    }
}
