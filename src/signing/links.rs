//! Signed email links: HMAC-SHA256 tokens bound to escalation, revision, stage, reviewer and action,
//! with an expiry and a key id so old keys keep verifying during a rotation.
//!
//! A token is `<kid>.<claims>.<mac>`: `kid` names the key (a short digest of it,
//! so the config needs no ids), `claims` is base64url JSON, `mac` is base64url
//! HMAC-SHA256 over a domain-separation prefix, the kid and the claims. The token
//! is the reviewer's credential for one vote; it says nothing secret, and any
//! change to it breaks the MAC.

use crate::domain::{Escalation, EscalationId, Opening, ReviewerId, Time, VoteChoice};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Separates link MACs from every other use of the same secret.
const DOMAIN: &[u8] = b"countersign/email-link/v1\n";
/// Tokens longer than this are refused before any decoding.
const MAX_TOKEN_LEN: usize = 2048;

/// What the reviewer is about to do with this link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    Approve,
    /// Approve, with conditions chosen on the confirmation page.
    Conditions,
    Deny,
    /// Ask for changes, with a required comment (design.md §7).
    RequestChanges,
}

impl LinkAction {
    pub const ALL: [LinkAction; 4] = [
        Self::Approve,
        Self::Conditions,
        Self::Deny,
        Self::RequestChanges,
    ];

    pub fn choice(self) -> VoteChoice {
        match self {
            Self::Approve | Self::Conditions => VoteChoice::Approve,
            Self::Deny => VoteChoice::Deny,
            Self::RequestChanges => VoteChoice::RequestChanges,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Conditions => "conditions",
            Self::Deny => "deny",
            Self::RequestChanges => "request_changes",
        }
    }
}

/// What a token asserts. Instants are unix milliseconds, the stored precision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkClaims {
    #[serde(rename = "e")]
    pub escalation: EscalationId,
    /// The escalation's revision when the invitation was planned.
    #[serde(rename = "r")]
    pub revision: u32,
    /// 0-based stage the reviewer was invited to.
    #[serde(rename = "s")]
    pub stage: usize,
    /// The round of that stage's opening (0 in links issued before rounds existed).
    #[serde(rename = "o", default)]
    pub round: u32,
    #[serde(rename = "u")]
    pub reviewer: ReviewerId,
    #[serde(rename = "a")]
    pub action: LinkAction,
    /// Only in links issued before rounds existed: when the invitation was planned.
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub issued_at_ms: Option<i64>,
    /// The escalation deadline: past it the link is dead whatever the state says.
    #[serde(rename = "x")]
    pub expires_at_ms: i64,
}

impl LinkClaims {
    /// The same invitation with another action, for the "deny instead" links on a page.
    pub fn with_action(&self, action: LinkAction) -> Self {
        Self {
            action,
            ..self.clone()
        }
    }

    pub fn expires_at(&self) -> Time {
        from_ms(self.expires_at_ms)
    }

    /// The opening the link was issued for, as `esc` understands it.
    pub fn opening(&self, esc: &Escalation) -> Opening {
        esc.opening_issued(self.stage, self.round, self.issued_at_ms)
    }
}

fn from_ms(ms: i64) -> Time {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link was signed with a key this server does not hold")]
    UnknownKey,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link expired at {0}")]
    Expired(Time),
}

#[derive(Clone)]
struct Key {
    id: String,
    secret: Vec<u8>,
}

impl Key {
    fn new(secret: &str) -> Self {
        // 8 hex digits of a digest: enough to pick among a handful of keys, useless to an attacker.
        let digest = Sha256::new()
            .chain_update(b"countersign/link-key-id\n")
            .chain_update(secret.as_bytes())
            .finalize();
        Self {
            id: hex::encode(&digest[..4]),
            secret: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self, domain: &[u8], claims_b64: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(domain);
        mac.update(self.id.as_bytes());
        mac.update(b".");
        mac.update(claims_b64.as_bytes());
        mac
    }
}

/// The current signing key plus older keys that still verify.
#[derive(Clone)]
pub struct LinkKeys {
    current: Key,
    previous: Vec<Key>,
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkKeys")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl LinkKeys {
    pub fn new<'a>(current: &str, previous: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            current: Key::new(current),
            previous: previous.into_iter().map(Key::new).collect(),
        }
    }

    /// The id new tokens carry.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    pub fn sign(&self, claims: &LinkClaims) -> String {
        self.sign_for(DOMAIN, claims)
    }

    /// Checks the MAC (constant-time, via `verify_slice`), then the expiry at `now`.
    /// Claims are parsed only after the MAC matched.
    pub fn verify(&self, token: &str, now: Time) -> Result<LinkClaims, LinkError> {
        let claims: LinkClaims = self.verify_for(DOMAIN, token)?;
        if now.timestamp_millis() >= claims.expires_at_ms {
            return Err(LinkError::Expired(claims.expires_at()));
        }
        Ok(claims)
    }

    /// A token of the same shape for another purpose: `domain` separates its MACs from
    /// email links' (and from every other purpose's), so one cannot stand for another.
    pub fn sign_for(&self, domain: &[u8], claims: &impl Serialize) -> String {
        let json = serde_json::to_vec(claims).expect("claims always serialize");
        let body = B64.encode(json);
        let mac = self.current.mac(domain, &body).finalize().into_bytes();
        format!("{}.{body}.{}", self.current.id, B64.encode(mac))
    }

    /// The claims of a token signed by [`LinkKeys::sign_for`] with the same `domain`,
    /// parsed only after the MAC matched; expiry is the caller's to check.
    pub fn verify_for<T: DeserializeOwned>(
        &self,
        domain: &[u8],
        token: &str,
    ) -> Result<T, LinkError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(LinkError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(kid), Some(body), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == kid)
            .ok_or(LinkError::UnknownKey)?;
        let mac = B64.decode(mac).map_err(|_| LinkError::Malformed)?;
        key.mac(domain, body)
            .verify_slice(&mac)
            .map_err(|_| LinkError::BadSignature)?;
        let json = B64.decode(body).map_err(|_| LinkError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| LinkError::Malformed)
    }

    /// A MAC of `input` under the current key for `domain` (base64url): a value only this
    /// server can compute, such as the CSRF token bound to a session.
    pub fn tag(&self, domain: &[u8], input: &str) -> String {
        B64.encode(self.current.mac(domain, input).finalize().into_bytes())
    }

    /// Whether `tag` is [`LinkKeys::tag`] of `input`, compared in constant time.
    pub fn check_tag(&self, domain: &[u8], input: &str, tag: &str) -> bool {
        let Ok(tag) = B64.decode(tag) else {
            return false;
        };
        self.current.mac(domain, input).verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::t0 as now;

    fn claims() -> LinkClaims {
        LinkClaims {
            escalation: EscalationId("esc_01JD0000000000000000000000".into()),
            revision: 3,
            stage: 1,
            reviewer: ReviewerId("bob".into()),
            action: LinkAction::Approve,
            round: 2,
            issued_at_ms: None,
            expires_at_ms: now().timestamp_millis() + 3_600_000,
        }
    }

    fn keys() -> LinkKeys {
        LinkKeys::new("current-secret-current-secret-0123", ["old-secret"])
    }

    #[test]
    fn round_trips() {
        let token = keys().sign(&claims());
        assert_eq!(keys().verify(&token, now()), Ok(claims()));
        assert!(token.starts_with(keys().current_id()));
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
    }

    #[test]
    fn expires_at_the_deadline() {
        let token = keys().sign(&claims());
        let deadline = claims().expires_at();
        let just_before = deadline - chrono::Duration::milliseconds(1);
        assert!(keys().verify(&token, just_before).is_ok());
        assert_eq!(
            keys().verify(&token, deadline),
            Err(LinkError::Expired(deadline))
        );
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let token = keys().sign(&claims());
        let other = keys().sign(&LinkClaims {
            reviewer: ReviewerId("frank".into()),
            ..claims()
        });
        // Carol's claims under Bob's MAC, and every single-character edit.
        let (kid, rest) = token.split_once('.').unwrap();
        let (_, mac) = rest.split_once('.').unwrap();
        let other_body = other.split('.').nth(1).unwrap();
        let spliced = format!("{kid}.{other_body}.{mac}");
        assert_eq!(keys().verify(&spliced, now()), Err(LinkError::BadSignature));
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let edited = String::from_utf8(bytes).unwrap();
            if edited != token {
                assert!(keys().verify(&edited, now()).is_err(), "edit at {i}");
            }
        }
    }

    #[test]
    fn previous_keys_verify_and_unknown_keys_do_not() {
        let old = LinkKeys::new("old-secret", []);
        let token = old.sign(&claims());
        assert_eq!(keys().verify(&token, now()), Ok(claims()));
        let stranger = LinkKeys::new("someone-else", []);
        assert_eq!(
            keys().verify(&stranger.sign(&claims()), now()),
            Err(LinkError::UnknownKey)
        );
        // Retired entirely: no longer listed.
        let rotated = LinkKeys::new("current-secret-current-secret-0123", []);
        assert_eq!(rotated.verify(&token, now()), Err(LinkError::UnknownKey));
    }

    #[test]
    fn junk_is_refused_without_panicking() {
        let k = keys();
        let id = k.current_id().to_owned();
        for junk in [
            "",
            ".",
            "..",
            "...",
            "a.b.c",
            &format!("{id}.."),
            &format!("{id}.!!!.???"),
            &format!("{id}.e30.AAAA"),
            &"x".repeat(10_000),
            "ünï.cødé.✓",
        ] {
            assert!(k.verify(junk, now()).is_err(), "{junk:?}");
        }
    }
}
