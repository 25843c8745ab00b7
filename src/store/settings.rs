//! Process-wide values kept in the database, such as the link secret generated on first start.

use super::{Result, Store};
use base64::Engine;
use rand::RngCore;

const LINK_SECRET: &str = "link_secret";

impl Store {
    /// The link-signing secret: generated once (256 random bits) and kept, so
    /// links in emails already sent stay valid across restarts. Written (if new) and
    /// read back in one write transaction, so two starts cannot keep different ones.
    pub async fn link_secret(&self) -> Result<String> {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let fresh = base64::engine::general_purpose::STANDARD.encode(key);
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(LINK_SECRET)
            .bind(&fresh)
            .execute(&mut **tx.tx())
            .await?;
        let secret = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(LINK_SECRET)
            .fetch_one(&mut **tx.tx())
            .await?;
        tx.commit().await?;
        Ok(secret)
    }
}
