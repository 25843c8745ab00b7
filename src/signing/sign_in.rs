//! Sign-in links for the web UI: the same key machinery as email links (key id, rotation),
//! under their own domain, naming a reviewer and a single-use nonce with a short expiry.

use super::links::{LinkError, LinkKeys};
use crate::domain::{ReviewerId, Time};
use serde::{Deserialize, Serialize};

/// Separates sign-in MACs from email links' and every other use of the key.
const DOMAIN: &[u8] = b"countersign/sign-in/v1\n";

/// How long a mailed sign-in link works.
pub const LIFETIME: chrono::Duration = chrono::Duration::minutes(15);

/// What a sign-in token asserts. The nonce is recorded when it is used, so a link signs in once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInClaims {
    #[serde(rename = "u")]
    pub reviewer: ReviewerId,
    #[serde(rename = "n")]
    pub nonce: String,
    #[serde(rename = "x")]
    pub expires_at_ms: i64,
}

impl SignInClaims {
    pub fn sign(&self, keys: &LinkKeys) -> String {
        keys.sign_for(DOMAIN, self)
    }

    /// The claims of a genuine, unexpired token. Whether its nonce was used is the store's to say.
    pub fn verify(keys: &LinkKeys, token: &str, now: Time) -> Result<Self, LinkError> {
        let claims: Self = keys.verify_for(DOMAIN, token)?;
        if now.timestamp_millis() >= claims.expires_at_ms {
            let at =
                chrono::DateTime::from_timestamp_millis(claims.expires_at_ms).unwrap_or_default();
            return Err(LinkError::Expired(at));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::t0 as now;
    use crate::signing::links::{LinkAction, LinkClaims};

    fn keys() -> LinkKeys {
        LinkKeys::new("current-secret-current-secret-0123", ["old-secret"])
    }

    fn claims() -> SignInClaims {
        SignInClaims {
            reviewer: ReviewerId("bob".into()),
            nonce: "n1".into(),
            expires_at_ms: now().timestamp_millis() + LIFETIME.num_milliseconds(),
        }
    }

    #[test]
    fn round_trips_and_expires() {
        let token = claims().sign(&keys());
        assert_eq!(SignInClaims::verify(&keys(), &token, now()), Ok(claims()));
        let later = now() + LIFETIME;
        assert!(matches!(
            SignInClaims::verify(&keys(), &token, later),
            Err(LinkError::Expired(_))
        ));
    }

    #[test]
    fn an_email_link_is_not_a_sign_in_link_nor_the_reverse() {
        let link = LinkClaims {
            escalation: crate::domain::EscalationId("esc_01JD0000000000000000000000".into()),
            revision: 1,
            stage: 0,
            round: 0,
            reviewer: ReviewerId("bob".into()),
            action: LinkAction::Approve,
            issued_at_ms: None,
            expires_at_ms: now().timestamp_millis() + 60_000,
        };
        let email = keys().sign(&link);
        assert_eq!(
            SignInClaims::verify(&keys(), &email, now()),
            Err(LinkError::BadSignature)
        );
        let sign_in = claims().sign(&keys());
        assert_eq!(keys().verify(&sign_in, now()), Err(LinkError::BadSignature));
    }

    #[test]
    fn previous_keys_verify() {
        let old = LinkKeys::new("old-secret", []);
        let token = claims().sign(&old);
        assert_eq!(SignInClaims::verify(&keys(), &token, now()), Ok(claims()));
    }
}
