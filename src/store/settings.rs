//! Process-wide values kept in the database, such as the link secret and the receipt key
//! generated on first start.

use super::db;
use super::{Result, Store};
use base64::Engine;
use rand::RngCore;

const LINK_SECRET: &str = "link_secret";
const RECEIPT_KEY: &str = "receipt_key";

impl Store {
    /// The link-signing secret: generated once (256 random bits) and kept, so
    /// links in emails already sent stay valid across restarts.
    pub async fn link_secret(&self) -> Result<String> {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let fresh = base64::engine::general_purpose::STANDARD.encode(key);
        self.kept(LINK_SECRET, &fresh).await
    }

    /// The receipt-signing key (PKCS#8 PEM) when none is configured: `fresh` is kept if
    /// the database holds none yet, so every process on this database signs with one key
    /// and receipts already issued keep verifying after a restart.
    pub async fn receipt_key(&self, fresh: &str) -> Result<String> {
        self.kept(RECEIPT_KEY, fresh).await
    }

    /// The receipt key kept in the database, if a server has generated one; writes nothing.
    pub async fn kept_receipt_key(&self) -> Result<Option<String>> {
        db::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(RECEIPT_KEY)
            .fetch_optional(&self.readers)
            .await
    }

    /// The value under `key`, writing `fresh` first if there is none. Written (if new) and
    /// read back in one write transaction, so two starts cannot keep different ones.
    async fn kept(&self, key: &str, fresh: &str) -> Result<String> {
        let mut tx = self.begin().await?;
        db::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(fresh)
            .execute(tx.tx())
            .await?;
        let value = db::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_one(tx.tx())
            .await?;
        tx.commit().await?;
        Ok(value)
    }
}
