//! Signatures: Standard Webhooks (agent webhooks in, callbacks out) and signed email links.

pub mod links;
pub mod webhooks;
