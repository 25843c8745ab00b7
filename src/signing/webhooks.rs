//! Standard Webhooks (https://www.standardwebhooks.com): HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}` with the base64 key after `whsec_`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Timestamps further than this from now are refused (replay protection).
pub const TOLERANCE_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook-id, webhook-timestamp and webhook-signature headers are required")]
    MissingHeaders,
    #[error("webhook-timestamp is not a unix time in seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is outside the 5-minute tolerance")]
    StaleTimestamp,
    #[error("no webhook-signature matches")]
    NoMatch,
    #[error("the webhook secret is not a whsec_ base64 key")]
    BadSecret,
}

/// Decodes a `whsec_…` secret into its key bytes.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, WebhookError> {
    let b64 = secret
        .strip_prefix("whsec_")
        .ok_or(WebhookError::BadSecret)?;
    B64.decode(b64).map_err(|_| WebhookError::BadSecret)
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` header value: `v1,<base64>`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1,{}",
        B64.encode(mac(key, id, timestamp, body).finalize().into_bytes())
    )
}

/// Verifies the headers over the raw body. Several space-separated signatures
/// may be present (key rotation); any `v1` match is enough. Constant-time.
pub fn verify(
    key: &[u8],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<(), WebhookError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::BadTimestamp)?;
    if (now_secs - ts).abs() > TOLERANCE_SECS {
        return Err(WebhookError::StaleTimestamp);
    }
    let expected = mac(key, id, ts, body);
    let matched = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| B64.decode(s).ok())
        .any(|sig| expected.clone().verify_slice(&sig).is_ok());
    if matched {
        Ok(())
    } else {
        Err(WebhookError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn matches_the_reference_vector() {
        // From the Standard Webhooks reference implementation's test suite.
        let key = secret_key(SECRET).unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn verifies_any_of_several_signatures_and_rejects_tampering() {
        let key = secret_key(SECRET).unwrap();
        let good = sign(&key, "msg_1", 1000, b"{}");
        let header = format!("v1,AAAA {good}");
        assert_eq!(verify(&key, "msg_1", "1000", &header, b"{}", 1010), Ok(()));
        assert_eq!(
            verify(&key, "msg_1", "1000", &header, b"{ }", 1010),
            Err(WebhookError::NoMatch)
        );
        assert_eq!(
            verify(&key, "msg_2", "1000", &header, b"{}", 1010),
            Err(WebhookError::NoMatch)
        );
        assert_eq!(
            verify(
                &key,
                "msg_1",
                "1000",
                &good,
                b"{}",
                1000 + TOLERANCE_SECS + 1
            ),
            Err(WebhookError::StaleTimestamp)
        );
        assert_eq!(
            verify(&key, "msg_1", "soon", &good, b"{}", 1000),
            Err(WebhookError::BadTimestamp)
        );
        assert_eq!(secret_key("nope"), Err(WebhookError::BadSecret));
    }
}
