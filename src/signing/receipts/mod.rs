//! Decision receipts: Ed25519 keys read from PKCS#8 PEM, compact JWS signing (`alg: EdDSA`,
//! `kid`), the JWK Set that publishes every verifying key, and an offline verifier.

mod keys;
mod provider;
mod verify;

pub use keys::{Jwk, JwkSet, KeyError, ReceiptKey, ReceiptKeys, SignError};
pub use verify::{Failure, Verifier, check_payload};

use crate::config::ServerConfig;
use crate::store::Store;
use anyhow::Context;

/// The receipt keys of this deployment: `server.receipt_key` (or the one generated once and
/// kept in the database, shared by every process on it) signs; `previous_receipt_keys` stay
/// in the JWK Set so receipts signed before a rotation still verify.
pub async fn load(server: &ServerConfig, store: &Store) -> anyhow::Result<ReceiptKeys> {
    let kept = match server.receipt_key {
        Some(_) => None,
        None => Some(
            store
                .receipt_key(&ReceiptKey::generate_pem())
                .await
                .context("reading the receipt key kept in the database")?,
        ),
    };
    assemble(server, kept.as_deref())
}

/// The same keys for a reader (`countersign receipt verify`): never writes a key, and says
/// so when there is none.
pub async fn existing(server: &ServerConfig, store: &Store) -> anyhow::Result<ReceiptKeys> {
    let kept = match server.receipt_key {
        Some(_) => None,
        None => Some(
            store
                .kept_receipt_key()
                .await
                .context("reading the receipt key kept in the database")?
                .context("no receipt key: the config sets no server.receipt_key and the database keeps none (has the server run on it?)")?,
        ),
    };
    assemble(server, kept.as_deref())
}

/// The configured key, else `kept`, plus the previous keys.
fn assemble(server: &ServerConfig, kept: Option<&str>) -> anyhow::Result<ReceiptKeys> {
    let current = match (&server.receipt_key, kept) {
        (Some(pem), _) => ReceiptKey::from_pem(pem.expose()).context("server.receipt_key")?,
        (None, Some(pem)) => {
            ReceiptKey::from_pem(pem).context("the receipt key kept in the database")?
        }
        (None, None) => anyhow::bail!("no receipt key"),
    };
    let mut previous = Vec::new();
    for (i, pem) in server.previous_receipt_keys.iter().enumerate() {
        previous.push(
            ReceiptKey::from_pem(pem.expose())
                .with_context(|| format!("server.previous_receipt_keys[{i}]"))?,
        );
    }
    Ok(ReceiptKeys::new(current, previous))
}
