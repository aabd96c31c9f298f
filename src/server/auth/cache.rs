//! The `kubernetes` mode's answers, kept briefly so a dashboard polling `/report` costs the
//! apiserver a review every few seconds instead of one per request.
//!
//! Keyed by a SHA-256 of the token, the verb and the path: the raw token is never kept, and an
//! answer for one path never answers for another. Bounded in entries: when full, expired
//! entries go first, then the one closest to expiry, so a flood of made-up tokens can cost
//! memory only up to the bound (and only pushes out answers that would expire soonest).

use std::collections::HashMap;
use std::time::Instant;

use sha2::{Digest, Sha256};

/// What a cached answer is filed under.
pub type Key = [u8; 32];

/// The key for `token` asking to `verb` on `path`. The parts are length-prefixed, so no choice
/// of token and path can produce another pair's key.
pub fn key(token: &[u8], verb: &str, path: &str) -> Key {
    let mut hasher = Sha256::new();
    for part in [token, verb.as_bytes(), path.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

#[derive(Debug)]
pub struct Cache<V> {
    entries: HashMap<Key, (V, Instant)>,
    capacity: usize,
}

impl<V: Clone> Cache<V> {
    pub fn new(capacity: usize) -> Cache<V> {
        Cache {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The answer filed under `key`, unless it has expired by `now`.
    pub fn get(&mut self, key: &Key, now: Instant) -> Option<V> {
        match self.entries.get(key) {
            Some((value, expires)) if now < *expires => Some(value.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Files `value` under `key` until `expires`, making room if the cache is full.
    pub fn insert(&mut self, key: Key, value: V, expires: Instant, now: Instant) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, at)| now < *at);
            if self.entries.len() >= self.capacity {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| *k);
                if let Some(soonest) = soonest {
                    self.entries.remove(&soonest);
                }
            }
        }
        self.entries.insert(key, (value, expires));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keys_separate_tokens_verbs_and_paths() {
        let a = key(b"token", "get", "/report");
        assert_eq!(a, key(b"token", "get", "/report"));
        assert_ne!(a, key(b"token", "get", "/api/audit"));
        assert_ne!(a, key(b"token2", "get", "/report"));
        assert_ne!(a, key(b"token", "post", "/report"));
        // Moving bytes between the parts gives another key.
        assert_ne!(key(b"ab", "get", "/c"), key(b"a", "bget", "/c"));
        assert!(
            !a.windows(5).any(|w| w == b"token"),
            "no raw token in the key"
        );
    }

    #[test]
    fn answers_expire() {
        let start = Instant::now();
        let mut cache = Cache::new(8);
        let k = key(b"t", "get", "/report");
        cache.insert(k, "allowed", start + Duration::from_secs(10), start);
        assert_eq!(
            cache.get(&k, start + Duration::from_secs(9)),
            Some("allowed")
        );
        assert_eq!(cache.get(&k, start + Duration::from_secs(10)), None);
        assert!(cache.is_empty(), "an expired entry is dropped when seen");
    }

    #[test]
    fn bounded_expired_first_then_soonest_to_expire() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut cache = Cache::new(3);
        let keys: Vec<Key> = (0..6u8).map(|i| key(&[i], "get", "/report")).collect();
        cache.insert(keys[0], 0, at(1), start);
        cache.insert(keys[1], 1, at(10), start);
        cache.insert(keys[2], 2, at(20), start);
        // Full at t=5: the expired entry 0 makes the room.
        cache.insert(keys[3], 3, at(30), at(5));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&keys[1], at(5)), Some(1));
        // Full, nothing expired: entry 1 (expiring at 10) goes.
        cache.insert(keys[4], 4, at(40), at(6));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&keys[1], at(6)), None);
        assert_eq!(cache.get(&keys[2], at(6)), Some(2));
        assert_eq!(cache.get(&keys[4], at(6)), Some(4));
        // Replacing an existing key never evicts another.
        cache.insert(keys[4], 44, at(50), at(6));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&keys[3], at(6)), Some(3));
        assert_eq!(cache.get(&keys[4], at(6)), Some(44));
        for (i, k) in keys.iter().enumerate() {
            cache.insert(*k, i, at(100), at(7));
            assert!(cache.len() <= 3);
        }
    }
}
