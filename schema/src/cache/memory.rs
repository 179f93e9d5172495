//! The embedded default: entries and generations in this process's memory, bounded in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::entry::Entry;

/// Entries kept at most; when full, expired ones go first, then everything.
const MAX_ENTRIES: usize = 10_000;
/// Generation keys kept at most; past it, generations and entries are dropped together, and
/// every key not bumped since reads as the new reset number, so nothing read before the reset
/// can match after it.
const MAX_GENERATIONS: usize = 200_000;

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, (Instant, Entry)>,
    generations: HashMap<String, String>,
    /// Source of generation values; never repeats within the process.
    counter: u64,
    /// How often the generations were dropped; the value of a key never bumped since.
    resets: u64,
}

impl Inner {
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
            Some((expires, entry)) if *expires > now => Some(entry.clone()),
            Some(_) => {
                inner.entries.remove(key);
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
        let mut inner = self.lock();
        let now = Instant::now();
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.retain(|_, (expires, _)| *expires > now);
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(key, (now + ttl, entry));
    }

    pub fn bump(&self, keys: &[String]) {
        let mut inner = self.lock();
        if inner.generations.len() + keys.len() > MAX_GENERATIONS {
            inner.generations.clear();
            inner.entries.clear();
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
