//! Offline verification of a receipt against a JWK Set, as an executor does it: `countersign
//! receipt verify` uses it, with the served JWK Set or the deployment's own keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::fmt;

/// How far in the future `iat` may lie: clocks of two machines disagree a little.
const IAT_SKEW_SECONDS: i64 = 60;

/// What failed. `Display` is the one line the CLI prints; each names the check.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Not three base64url parts of JSON, or a required claim missing or mistyped.
    Malformed(String),
    /// The header names another algorithm than EdDSA.
    Algorithm(String),
    /// No key of the JWK Set has the header's `kid`.
    UnknownKid(String),
    /// The signature does not verify with the key the `kid` names.
    Signature,
    /// `exp` has passed.
    Expired { exp: i64 },
    /// `nbf` is still ahead.
    NotYetValid { nbf: i64 },
    /// `iat` is in the future, or after `exp`.
    IssuedAt { iat: i64 },
    /// The payload's RFC 8785 hash is not the approved one.
    PayloadMismatch { expected: String, actual: String },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed token: {why}"),
            Self::Algorithm(alg) => write!(f, "algorithm: {alg} is not EdDSA"),
            Self::UnknownKid(kid) => write!(f, "unknown kid: {kid}"),
            Self::Signature => f.write_str("signature: does not verify"),
            Self::Expired { exp } => write!(f, "expired: exp {} has passed", at(*exp)),
            Self::NotYetValid { nbf } => write!(f, "not yet valid: nbf is {}", at(*nbf)),
            Self::IssuedAt { iat } => write!(f, "iat: {} is in the future or after exp", at(*iat)),
            Self::PayloadMismatch { expected, actual } => write!(
                f,
                "payload_sha256 mismatch: the receipt approves {expected}, the payload hashes to {actual}"
            ),
        }
    }
}

fn at(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map_or_else(|| seconds.to_string(), |t| t.to_rfc3339())
}

/// The verifying keys of a JWK Set, by `kid`.
pub struct Verifier {
    keys: Vec<(String, DecodingKey)>,
}

impl Verifier {
    /// Reads `{"keys": [...]}`; keeps the Ed25519 keys (others cannot verify a receipt) and
    /// refuses a set with none, or with one whose `x` is not a 32-byte public key.
    pub fn from_jwks(jwks: &Value) -> Result<Self, String> {
        let list = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("not a JWK Set: no `keys` array")?;
        let mut keys = Vec::new();
        for (i, jwk) in list.iter().enumerate() {
            if jwk.get("kty").and_then(Value::as_str) != Some("OKP")
                || jwk.get("crv").and_then(Value::as_str) != Some("Ed25519")
            {
                continue;
            }
            let kid = jwk.get("kid").and_then(Value::as_str);
            let x = jwk.get("x").and_then(Value::as_str);
            let (Some(kid), Some(x)) = (kid, x) else {
                return Err(format!("keys[{i}] has no `kid` or no `x`"));
            };
            // The crypto backend slices `x` to 32 bytes: check it first, never panic on it.
            let bytes: [u8; 32] = URL_SAFE_NO_PAD
                .decode(x)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| format!("keys[{i}].x is not a base64url 32-byte key"))?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|_| format!("keys[{i}].x is not an Ed25519 public key"))?;
            let key = DecodingKey::from_ed_components(x)
                .map_err(|_| format!("keys[{i}].x is not base64url"))?;
            keys.push((kid.to_owned(), key));
        }
        if keys.is_empty() {
            return Err("the JWK Set holds no Ed25519 key".to_owned());
        }
        Ok(Self { keys })
    }

    /// Checks `token` at `now` (seconds since the epoch): header, signature, then `exp`,
    /// `nbf` and `iat`. Returns the claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<Map<String, Value>, Failure> {
        let header = jsonwebtoken::decode_header(token.trim())
            .map_err(|e| Failure::Malformed(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(Failure::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.unwrap_or_default();
        let Some((_, key)) = self.keys.iter().find(|(k, _)| *k == kid) else {
            return Err(Failure::UnknownKid(if kid.is_empty() {
                "the header has none".to_owned()
            } else {
                kid
            }));
        };
        // Time is checked below against `now`, not the library's system clock.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Map<String, Value>>(token.trim(), key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => Failure::Signature,
                _ => Failure::Malformed(e.to_string()),
            })?;
        check_times(&data.claims, now)?;
        Ok(data.claims)
    }
}

fn check_times(claims: &Map<String, Value>, now: i64) -> Result<(), Failure> {
    let number = |name: &str| -> Result<Option<i64>, Failure> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| Failure::Malformed(format!("`{name}` is not a number"))),
        }
    };
    let exp = number("exp")?.ok_or_else(|| Failure::Malformed("no `exp` claim".into()))?;
    let iat = number("iat")?.ok_or_else(|| Failure::Malformed("no `iat` claim".into()))?;
    if now >= exp {
        return Err(Failure::Expired { exp });
    }
    if let Some(nbf) = number("nbf")?
        && now < nbf
    {
        return Err(Failure::NotYetValid { nbf });
    }
    if iat > now + IAT_SKEW_SECONDS || iat > exp {
        return Err(Failure::IssuedAt { iat });
    }
    Ok(())
}

/// Compares the receipt's `payload_sha256` with the hash of the payload about to run.
pub fn check_payload(claims: &Map<String, Value>, payload: &Value) -> Result<(), Failure> {
    let expected = claims
        .get("payload_sha256")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::Malformed("no `payload_sha256` claim".into()))?;
    let actual = crate::domain::request::payload_sha256(payload);
    if expected != actual {
        return Err(Failure::PayloadMismatch {
            expected: expected.to_owned(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::receipts::{ReceiptKey, ReceiptKeys};
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn keys() -> ReceiptKeys {
        ReceiptKeys::new(
            ReceiptKey::from_pem(&ReceiptKey::generate_pem()).unwrap(),
            [],
        )
    }

    fn claims() -> Value {
        json!({"iss": "https://cs.example.com", "sub": "esc_1", "aud": "deploy-bot",
               "jti": "rcpt_1", "iat": NOW - 10, "exp": NOW + 3600, "outcome": "approved",
               "payload_sha256": crate::domain::request::payload_sha256(&json!({"n": 1}))})
    }

    #[test]
    fn a_good_token_verifies_and_yields_its_claims() {
        let keys = keys();
        let token = keys.sign(&claims()).unwrap();
        let verifier = Verifier::from_jwks(&serde_json::to_value(keys.jwks()).unwrap()).unwrap();
        let got = verifier.verify(&token, NOW).unwrap();
        assert_eq!(Value::Object(got.clone()), claims());
        assert_eq!(check_payload(&got, &json!({"n": 1})), Ok(()));
        assert!(matches!(
            check_payload(&got, &json!({"n": 2})),
            Err(Failure::PayloadMismatch { .. })
        ));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(keys.kid()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
    }

    #[test]
    fn each_failure_is_named() {
        let keys = keys();
        let verifier = Verifier::from_jwks(&serde_json::to_value(keys.jwks()).unwrap()).unwrap();
        let token = keys.sign(&claims()).unwrap();
        assert_eq!(
            verifier.verify(&token, NOW + 3600),
            Err(Failure::Expired { exp: NOW + 3600 })
        );
        assert!(matches!(
            verifier.verify(&token, NOW - 3600),
            Err(Failure::IssuedAt { .. })
        ));
        // Flip one claim: the signature no longer covers what is read.
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims();
        forged["outcome"] = json!("denied");
        let body = URL_SAFE_NO_PAD.encode(forged.to_string());
        let tampered = format!("{}.{body}.{}", parts[0], parts[2]);
        assert_eq!(verifier.verify(&tampered, NOW), Err(Failure::Signature));
        // Signed by a key the set does not hold.
        let stranger = keys_other_than(&keys).sign(&claims()).unwrap();
        assert!(matches!(
            verifier.verify(&stranger, NOW),
            Err(Failure::UnknownKid(_))
        ));
        let mut no_exp = claims();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(matches!(
            verifier.verify(&keys.sign(&no_exp).unwrap(), NOW),
            Err(Failure::Malformed(_))
        ));
    }

    fn keys_other_than(keys: &ReceiptKeys) -> ReceiptKeys {
        let other = self::keys();
        assert_ne!(other.kid(), keys.kid());
        other
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let keys = keys();
        let verifier = Verifier::from_jwks(&serde_json::to_value(keys.jwks()).unwrap()).unwrap();
        let token = keys.sign(&claims()).unwrap();
        let header = token.split('.').next().unwrap();
        for garbage in [
            "",
            ".",
            "..",
            "a.b.c",
            "not a token",
            "é.é.é",
            &format!("{header}.."),
            &format!("{header}.e30."),
            &format!("{header}.e30.AAAA"),
            &format!("{header}.!!!.AAAA"),
            &token[..token.len() - 5],
        ] {
            let got = verifier.verify(garbage, NOW);
            assert!(
                matches!(got, Err(Failure::Malformed(_) | Failure::Signature)),
                "{garbage:?}: {got:?}"
            );
        }
        let hs256 = "eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo";
        assert!(matches!(
            verifier.verify(hs256, NOW),
            Err(Failure::Algorithm(_))
        ));
    }

    #[test]
    fn a_jwks_with_a_short_key_is_refused() {
        let short = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": "AAAA"}]});
        assert!(Verifier::from_jwks(&short).is_err());
        assert!(Verifier::from_jwks(&json!({"keys": []})).is_err());
        assert!(Verifier::from_jwks(&json!([1, 2])).is_err());
    }
}
