//! Signatures: Standard Webhooks (agent webhooks in, callbacks out), signed email links and
//! decision receipts.

pub mod links;
pub mod receipts;
pub mod sign_in;
pub mod webhooks;
