//! Signatures: Standard Webhooks (agent webhooks in, callbacks out).

pub mod webhooks;
