//! The config version serving now: one [`Snapshot`] behind one atomically swapped `Arc`.
//!
//! Everything derived from the config file lives in the snapshot, so a reload replaces it
//! in one store and a reader holds a whole version (never half of one) for as long as it
//! keeps the `Arc` it loaded.

use crate::config::Config;
use crate::domain::Directory;
use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// One applied version of the config and what is derived from it.
pub struct Snapshot {
    /// The validated config; its resolved workflows are `config.workflow_specs()`.
    pub config: Arc<Config>,
    /// The reviewer directory the engine judges eligibility against.
    pub dir: Arc<Directory>,
    /// SHA-256 (lowercase hex) of the file's bytes this version was loaded from; `None`
    /// for a config built in-process (tests), which no `config.applied` event names.
    pub sha256: Option<String>,
}

impl Snapshot {
    pub fn new(config: Config, sha256: Option<String>) -> Self {
        let dir = Arc::new(config.directory());
        Self {
            config: Arc::new(config),
            dir,
            sha256,
        }
    }
}

/// The lowercase hex SHA-256 of a config file's bytes: the version named in the audit chain.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The shared, swappable current snapshot. Clones share it.
#[derive(Clone)]
pub struct Live(Arc<ArcSwap<Snapshot>>);

impl Live {
    pub fn new(first: Snapshot) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(first)))
    }

    /// The version serving now; keep the `Arc` for the whole step.
    pub fn load(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Makes `next` the version every later [`Live::load`] sees; holders of the old keep it.
    pub fn swap(&self, next: Snapshot) -> Arc<Snapshot> {
        self.0.swap(Arc::new(next))
    }
}
