//! jsonwebtoken's crypto provider with the receipt keys parsed once. The stock provider
//! builds a signer per `encode`: it parses the PKCS#8 key and derives its public half
//! (a scalar multiplication) for every receipt, which a burst of ten thousand timeouts
//! pays ten thousand times. This one keeps each Ed25519 key it has seen, parsed, and
//! hands jsonwebtoken a copy; everything else is the stock RustCrypto provider.

use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::signature::{Error, Signer};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, rust_crypto};
use jsonwebtoken::{Algorithm, EncodingKey};
use std::sync::{LazyLock, RwLock};

/// Parsed Ed25519 keys by their PKCS#8 DER: a process has one signing key (two during a
/// rotation), so a short list beats a map.
static PARSED: RwLock<Vec<(Vec<u8>, SigningKey)>> = RwLock::new(Vec::new());

static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    signer_factory: signer,
    ..rust_crypto::DEFAULT_PROVIDER.clone()
});

/// Makes this the process's provider. It must come before jsonwebtoken's first use (which
/// fixes the stock one); if it comes later the stock provider stays, which signs the same
/// bytes, only slower.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = PROVIDER.install_default();
    });
}

fn signer(alg: &Algorithm, key: &EncodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    if *alg != Algorithm::EdDSA {
        return (rust_crypto::DEFAULT_PROVIDER.signer_factory)(alg, key);
    }
    let der = key.as_bytes();
    let known = |list: &[(Vec<u8>, SigningKey)]| {
        list.iter().find(|(d, _)| d == der).map(|(_, k)| k.clone())
    };
    if let Some(parsed) = PARSED.read().ok().and_then(|list| known(&list)) {
        return Ok(Box::new(EdDsa(parsed)));
    }
    let parsed = SigningKey::from_pkcs8_der(der)
        .map_err(|_| jsonwebtoken::errors::ErrorKind::InvalidEddsaKey)?;
    if let Ok(mut list) = PARSED.write()
        && known(&list).is_none()
    {
        list.push((der.to_vec(), parsed.clone()));
    }
    Ok(Box::new(EdDsa(parsed)))
}

struct EdDsa(SigningKey);

impl Signer<Vec<u8>> for EdDsa {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(self.0.sign(msg).to_bytes().to_vec())
    }
}

impl JwtSigner for EdDsa {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePrivateKey;

    #[test]
    fn a_kept_key_signs_exactly_as_a_freshly_parsed_one() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let der = key.to_pkcs8_der().unwrap();
        let encoding = EncodingKey::from_ed_der(der.as_bytes());
        let fresh = (rust_crypto::DEFAULT_PROVIDER.signer_factory)(&Algorithm::EdDSA, &encoding)
            .unwrap()
            .try_sign(b"header.claims")
            .unwrap();
        for _ in 0..2 {
            let kept = signer(&Algorithm::EdDSA, &encoding).unwrap();
            assert_eq!(kept.try_sign(b"header.claims").unwrap(), fresh);
            assert_eq!(kept.algorithm(), Algorithm::EdDSA);
        }
        let other = EncodingKey::from_ed_der(
            SigningKey::from_bytes(&[8; 32])
                .to_pkcs8_der()
                .unwrap()
                .as_bytes(),
        );
        let theirs = signer(&Algorithm::EdDSA, &other).unwrap();
        assert_ne!(
            theirs.try_sign(b"header.claims").unwrap(),
            fresh,
            "each key its own"
        );
    }

    #[test]
    fn other_algorithms_and_bad_keys_go_to_the_stock_rules() {
        let hmac = EncodingKey::from_secret(b"secret").unwrap();
        assert!(signer(&Algorithm::HS256, &hmac).is_ok());
        let junk = EncodingKey::from_ed_der(b"not a key");
        assert!(signer(&Algorithm::EdDSA, &junk).is_err());
    }
}
