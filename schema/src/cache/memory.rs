//! The embedded default: entries and generations in this process's memory, bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::entry::Entry;

/// Entries kept at most, and their total size (as JSON); when full, expired ones go first,
/// then everything. An answer larger than `MAX_ENTRY_BYTES` is not kept.
const MAX_ENTRIES: usize = 10_000;
const MAX_BYTES: usize = 64 * 1024 * 1024;
const MAX_ENTRY_BYTES: usize = 1024 * 1024;
/// Generation keys kept at most; past it, generations and entries are dropped together, and
/// every key not bumped since reads as the new reset number, so nothing read before the reset
/// can match after it.
const MAX_GENERATIONS: usize = 200_000;

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

struct Stored {
    expires: Instant,
    bytes: usize,
    entry: Entry,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Stored>,
    /// The sum of `Stored::bytes`.
    bytes: usize,
    generations: HashMap<String, String>,
    /// Source of generation values; never repeats within the process.
    counter: u64,
    /// How often the generations were dropped; the value of a key never bumped since.
    resets: u64,
}

impl Inner {
    fn remove(&mut self, key: &str) {
        if let Some(stored) = self.entries.remove(key) {
            self.bytes -= stored.bytes;
        }
    }

    fn generation(&self, key: &str) -> Option<String> {
        Some(
            self.generations
                .get(key)
                .cloned()
                .unwrap_or_else(|| format!("r{}", self.resets)),
        )
    }
}

impl MemoryStore {
    pub fn get(&self, key: &str, generation_key: &str) -> (Option<Entry>, Option<String>) {
        let mut inner = self.lock();
        let now = Instant::now();
        let entry = match inner.entries.get(key) {
            Some(stored) if stored.expires > now => Some(stored.entry.clone()),
            Some(_) => {
                inner.remove(key);
                None
            }
            None => None,
        };
        (entry, inner.generation(generation_key))
    }

    pub fn generations(&self, keys: &[String]) -> Vec<Option<String>> {
        let inner = self.lock();
        keys.iter().map(|k| inner.generation(k)).collect()
    }

    pub fn put(&self, key: String, entry: Entry, ttl: Duration) {
        let bytes = serde_json::to_vec(&entry).map_or(usize::MAX, |json| json.len());
        if bytes > MAX_ENTRY_BYTES {
            return;
        }
        let mut inner = self.lock();
        let now = Instant::now();
        inner.remove(&key);
        let full =
            |inner: &Inner| inner.entries.len() >= MAX_ENTRIES || inner.bytes + bytes > MAX_BYTES;
        if full(&inner) {
            inner.entries.retain(|_, stored| stored.expires > now);
            inner.bytes = inner.entries.values().map(|stored| stored.bytes).sum();
        }
        if full(&inner) {
            inner.entries.clear();
            inner.bytes = 0;
        }
        inner.bytes += bytes;
        let expires = now + ttl;
        inner.entries.insert(
            key,
            Stored {
                expires,
                bytes,
                entry,
            },
        );
    }

    pub fn bump(&self, keys: &[String]) {
        let mut inner = self.lock();
        if inner.generations.len() + keys.len() > MAX_GENERATIONS {
            inner.generations.clear();
            inner.entries.clear();
            inner.bytes = 0;
            inner.resets += 1;
        }
        for key in keys {
            inner.counter += 1;
            let value = inner.counter.to_string();
            inner.generations.insert(key.clone(), value);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic mid-update of a cache: still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(payload: &str) -> Entry {
        Entry {
            data: async_graphql::value!({ "x": payload }),
            records: Vec::new(),
            deps: Vec::new(),
        }
    }

    #[test]
    fn a_bump_gives_a_value_never_seen_before() {
        let store = MemoryStore::default();
        let keys = ["a".to_owned()];
        let first = store.generations(&keys);
        store.bump(&keys);
        let second = store.generations(&keys);
        store.bump(&keys);
        let third = store.generations(&keys);
        assert!(first != second && second != third && first != third);
    }

    #[test]
    fn entries_expire_and_are_replaced() {
        let store = MemoryStore::default();
        store.put("k".into(), entry("one"), Duration::from_secs(60));
        store.put("k".into(), entry("two"), Duration::from_secs(60));
        assert_eq!(store.get("k", "w").0, Some(entry("two")));
        assert_eq!(
            store.lock().bytes,
            serde_json::to_vec(&entry("two")).map_or(0, |j| j.len())
        );
        store.put("gone".into(), entry("old"), Duration::ZERO);
        assert_eq!(store.get("gone", "w").0, None);
    }

    #[test]
    fn oversized_answers_are_not_kept() {
        let store = MemoryStore::default();
        store.put(
            "big".into(),
            entry(&"x".repeat(MAX_ENTRY_BYTES)),
            Duration::from_secs(60),
        );
        assert_eq!(store.get("big", "w").0, None);
    }
}
