//! `Secret`: a configured key or password that never prints and compares in constant time.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::{Choice, ConstantTimeEq};

/// A secret string from the config. Debug and Display print `***`, so a secret
/// that ends up in a `tracing` field or an error message does not leak.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the few places that must hand it to a library.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time equality with a presented credential.
    pub fn ct_eq(&self, presented: &str) -> bool {
        self.ct_eq_digest(&digest(presented)).into()
    }

    /// Compares SHA-256 digests rather than the strings: equal-length inputs
    /// mean the time taken reveals neither the content nor the length of the key.
    pub(crate) fn ct_eq_digest(&self, presented: &[u8; 32]) -> Choice {
        digest(&self.0).ct_eq(presented)
    }
}

pub(crate) fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn compares_by_value() {
        let s = Secret::new("alice-key");
        assert!(s.ct_eq("alice-key"));
        assert!(!s.ct_eq("alice-ke"));
        assert!(!s.ct_eq(""));
    }
}
