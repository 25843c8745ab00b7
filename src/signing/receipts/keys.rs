//! Receipt keys: one Ed25519 key that signs, every public key that verifies, and their JWK Set.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::{self, LineEnding};
use ed25519_dalek::pkcs8::{EncodePrivateKey, ObjectIdentifier, PrivateKeyInfoRef};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// The Ed25519 algorithm identifier (RFC 8410).
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Why a configured key cannot sign receipts. The messages never repeat the key itself;
/// `check-config` prints them after the key's YAML path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("is not a PEM block (expected `-----BEGIN PRIVATE KEY-----`)")]
    NotPem,
    #[error(
        "is a `{0}` PEM block, not a PKCS#8 private key (`PRIVATE KEY`); \
         `openssl genpkey -algorithm ed25519` writes one"
    )]
    NotPkcs8Label(String),
    #[error("does not hold a PKCS#8 private key")]
    NotPkcs8,
    #[error("is {0}, not an Ed25519 key; `openssl genpkey -algorithm ed25519` writes one")]
    NotEd25519(String),
    #[error("is not a valid Ed25519 key")]
    Invalid,
}

/// A receipt could not be signed (the claims did not serialize).
#[derive(Debug, thiserror::Error)]
#[error("signing a receipt: {0}")]
pub struct SignError(#[from] jsonwebtoken::errors::Error);

/// One Ed25519 key pair, read from PKCS#8 PEM. Debug shows only its `kid`.
#[derive(Clone)]
pub struct ReceiptKey {
    signing: EncodingKey,
    public: [u8; 32],
    kid: String,
}

impl ReceiptKey {
    /// Reads a PKCS#8 PEM Ed25519 private key (`openssl genpkey -algorithm ed25519`).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        // A PEM passed through an env file often arrives on one line with literal `\n`s.
        let text = if text.contains('\n') {
            text.trim().to_owned()
        } else {
            text.trim().replace("\\n", "\n")
        };
        let (label, der) = pem::decode_vec(text.as_bytes()).map_err(|_| KeyError::NotPem)?;
        let der = Zeroizing::new(der);
        if label != "PRIVATE KEY" {
            return Err(KeyError::NotPkcs8Label(label.to_owned()));
        }
        let info = PrivateKeyInfoRef::try_from(der.as_slice()).map_err(|_| KeyError::NotPkcs8)?;
        if info.algorithm.oid != ED25519 {
            return Err(KeyError::NotEd25519(algorithm_name(&info.algorithm.oid)));
        }
        let key = SigningKey::try_from(info).map_err(|_| KeyError::Invalid)?;
        Ok(Self::from_signing_key(&key))
    }

    /// A fresh key as PKCS#8 PEM, for a deployment that configures none.
    pub fn generate_pem() -> String {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(seed.as_mut());
        let key = SigningKey::from_bytes(&seed);
        key.to_pkcs8_pem(LineEnding::LF)
            .expect("an Ed25519 key always encodes as PKCS#8")
            .to_string()
    }

    fn from_signing_key(key: &SigningKey) -> Self {
        let der = key
            .to_pkcs8_der()
            .expect("an Ed25519 key always encodes as PKCS#8");
        let public = key.verifying_key().to_bytes();
        Self {
            signing: EncodingKey::from_ed_der(der.as_bytes()),
            public,
            kid: thumbprint(&x(&public)),
        }
    }

    /// The RFC 7638 JWK thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x: x(&self.public),
            kid: self.kid.clone(),
            alg: "EdDSA".to_owned(),
            use_: "sig".to_owned(),
        }
    }
}

impl fmt::Debug for ReceiptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The key that signs receipts now and every key whose receipts still verify.
#[derive(Clone, Debug)]
pub struct ReceiptKeys {
    current: ReceiptKey,
    /// Current first, then the previous keys; no `kid` twice.
    verifying: Vec<ReceiptKey>,
}

impl ReceiptKeys {
    pub fn new(current: ReceiptKey, previous: impl IntoIterator<Item = ReceiptKey>) -> Self {
        super::provider::install();
        let mut verifying = vec![current.clone()];
        for key in previous {
            if !verifying.iter().any(|k| k.kid == key.kid) {
                verifying.push(key);
            }
        }
        Self { current, verifying }
    }

    /// The `kid` new receipts carry.
    pub fn kid(&self) -> &str {
        self.current.kid()
    }

    /// `claims` as a compact JWS: header `{"alg":"EdDSA","kid":…,"typ":"JWT"}`.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, SignError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.current.kid.clone());
        header.typ = Some("JWT".to_owned());
        Ok(jsonwebtoken::encode(
            &header,
            claims,
            &self.current.signing,
        )?)
    }

    /// The JWK Set served at `/.well-known/jwks.json`: every verifying public key.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.verifying.iter().map(ReceiptKey::jwk).collect(),
        }
    }
}

/// A JWK Set (RFC 7517) of Ed25519 public keys (RFC 8037).
#[derive(Serialize, ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// One verifying key: the key that signs new receipts, then those kept for a rotation.
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    /// Always `OKP`.
    pub kty: String,
    /// Always `Ed25519`.
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    /// The RFC 7638 thumbprint of the key: the `kid` in a receipt's header.
    pub kid: String,
    /// Always `EdDSA`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    #[schema(rename = "use")]
    pub use_: String,
}

/// The JWK `x` member: the raw public key, base64url without padding (RFC 8037).
fn x(public: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(public)
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A readable name for the algorithms a wrong key most often has.
fn algorithm_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => "an RSA key".to_owned(),
        "1.2.840.10045.2.1" => "an EC (ECDSA) key".to_owned(),
        "1.3.101.113" => "an Ed448 key".to_owned(),
        "1.3.101.110" => "an X25519 key".to_owned(),
        other => format!("a key of algorithm {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 appendix A.1: the private key `d` and public key `x` of the examples.
    const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn rfc8037_pem() -> String {
        let d: [u8; 32] = URL_SAFE_NO_PAD
            .decode(RFC8037_D)
            .unwrap()
            .try_into()
            .unwrap();
        SigningKey::from_bytes(&d)
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string()
    }

    use serde_json::json;

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 8037 appendix A.3 gives this thumbprint for the A.1 key.
        assert_eq!(
            thumbprint(RFC8037_X),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        let key = ReceiptKey::from_pem(&rfc8037_pem()).unwrap();
        assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        assert_eq!(key.jwk().x, RFC8037_X);
    }

    #[test]
    fn reads_the_pkcs8_v1_form_openssl_writes() {
        // `openssl genpkey -algorithm ed25519`: PKCS#8 v1, no public key inside.
        let openssl = "-----BEGIN PRIVATE KEY-----\n\
                       MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
                       -----END PRIVATE KEY-----\n";
        let key = ReceiptKey::from_pem(openssl).unwrap();
        assert_eq!(key.jwk().x, RFC8037_X);
        // The same key written on one line with literal `\n`s, as env files carry it.
        let one_line = openssl.trim().replace('\n', "\\n");
        assert_eq!(ReceiptKey::from_pem(&one_line).unwrap().kid(), key.kid());
    }

    #[test]
    fn generated_keys_read_back_and_differ() {
        let a = ReceiptKey::from_pem(&ReceiptKey::generate_pem()).unwrap();
        let b = ReceiptKey::from_pem(&ReceiptKey::generate_pem()).unwrap();
        assert_ne!(a.kid(), b.kid());
    }

    #[test]
    fn refuses_what_is_not_a_pkcs8_ed25519_key() {
        assert_eq!(
            ReceiptKey::from_pem("hunter2").unwrap_err(),
            KeyError::NotPem
        );
        let public = "-----BEGIN PUBLIC KEY-----\n\
                      MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
                      -----END PUBLIC KEY-----\n";
        assert_eq!(
            ReceiptKey::from_pem(public).unwrap_err(),
            KeyError::NotPkcs8Label("PUBLIC KEY".into())
        );
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            ReceiptKey::from_pem(garbage).unwrap_err(),
            KeyError::NotPkcs8
        );
        // `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`.
        let p256 = "-----BEGIN PRIVATE KEY-----\n\
            MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4WQOD0spdNaGW3cZ\n\
            Z0WioIL6RqgFHWF5fDa5JNazXNChRANCAASc0o9IDVS8s62Q/0xyecHQ9GfA4TBf\n\
            lgvSjFrR2FWS6Hw/sFfGVzpea1kU3u6h26bBHJZKEU2eRUQD1E6jqim7\n\
            -----END PRIVATE KEY-----\n";
        assert_eq!(
            ReceiptKey::from_pem(p256).unwrap_err(),
            KeyError::NotEd25519("an EC (ECDSA) key".into())
        );
    }

    #[test]
    fn debug_shows_the_kid_only() {
        let pem = rfc8037_pem();
        let keys = ReceiptKeys::new(ReceiptKey::from_pem(&pem).unwrap(), []);
        let shown = format!("{keys:?}");
        assert!(shown.contains("kPrK_"), "{shown}");
        assert!(!shown.contains(RFC8037_D), "{shown}");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!shown.contains(&body), "{shown}");
    }

    #[test]
    fn jwks_lists_current_then_previous_once_each() {
        let current = ReceiptKey::from_pem(&ReceiptKey::generate_pem()).unwrap();
        let old = ReceiptKey::from_pem(&rfc8037_pem()).unwrap();
        let keys = ReceiptKeys::new(current.clone(), [old.clone(), current.clone(), old]);
        let jwks = serde_json::to_value(keys.jwks()).unwrap();
        let kids: Vec<_> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            kids,
            [current.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"]
        );
        assert_eq!(
            jwks["keys"][0],
            json!({"kty": "OKP", "crv": "Ed25519", "x": jwks["keys"][0]["x"], "kid": current.kid(),
                   "alg": "EdDSA", "use": "sig"})
        );
    }
}
