//! Verdicts per object, kept by content.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::ObjectOutcome;

/// The verdicts of objects already evaluated, keyed by the digest of the
/// applicable modules, the app and project, and the object's JSON; the
/// least recently used go first once `capacity` are kept.
pub struct VerdictCache {
    kept: Mutex<LruCache<[u8; 32], Arc<ObjectOutcome>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Default for VerdictCache {
    /// Room for 50,000 objects' verdicts (a few hundred bytes each).
    fn default() -> Self {
        VerdictCache::new(50_000)
    }
}

impl VerdictCache {
    /// A cache of at most `capacity` verdicts (at least one).
    pub fn new(capacity: usize) -> VerdictCache {
        VerdictCache {
            kept: Mutex::new(LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN))),
            hits: AtomicU64::default(),
            misses: AtomicU64::default(),
        }
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Arc<ObjectOutcome>> {
        let found = self.kept.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned();
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub(crate) fn put(&self, key: [u8; 32], outcome: Arc<ObjectOutcome>) {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).put(key, outcome);
    }

    /// How many verdicts are kept.
    pub fn len(&self) -> usize {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lookups that found a verdict, and lookups that did not.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}
