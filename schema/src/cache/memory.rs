//! The embedded default: entries and generations in this process's memory, bounded in size.
//! Entries live in a `moka` cache (size bound, per-entry expiry); generations are not a cache
//! (dropping one alone could bring a stale entry back) and sit in a plain map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use portal_core::sync::lock;

use super::entry::Entry;

/// Entries kept at most, and their total size (as JSON); when full, the least recently used
/// go. An answer larger than `MAX_ENTRY_BYTES` is not kept.
const MAX_ENTRIES: u32 = 10_000;
const MAX_BYTES: u32 = 64 * 1024 * 1024;
const MAX_ENTRY_BYTES: u32 = 1024 * 1024;
/// The weight of an entry is its size, but at least this much: the cache's one bound on the
/// total weight, `CAPACITY` (`MAX_BYTES` rounded down to a multiple of it), then also keeps
/// the count at `MAX_ENTRIES` at most.
const MIN_WEIGHT: u32 = MAX_BYTES / MAX_ENTRIES;
const CAPACITY: u64 = MIN_WEIGHT as u64 * MAX_ENTRIES as u64;
/// Generation keys kept at most; past it, generations and entries are dropped together, and
/// every key not bumped since reads as the new reset number, so nothing read before the reset
/// can match after it.
const MAX_GENERATIONS: usize = 200_000;

pub struct MemoryStore {
    entries: Cache<String, Arc<Stored>>,
    generations: Mutex<Generations>,
}

struct Stored {
    ttl: Duration,
    bytes: u32,
    entry: Entry,
}

#[derive(Default)]
struct Generations {
    values: HashMap<String, String>,
    /// Source of generation values; never repeats within the process.
    counter: u64,
    /// How often the generations were dropped; the value of a key never bumped since.
    resets: u64,
}

impl Generations {
    fn get(&self, key: &str) -> Option<String> {
        Some(
            self.values
                .get(key)
                .cloned()
                .unwrap_or_else(|| format!("r{}", self.resets)),
        )
    }
}

/// Each entry lives for the TTL it was stored with (a grant's end can shorten it), counted
/// again from a replacement.
struct StoredTtl;

impl Expiry<String, Arc<Stored>> for StoredTtl {
    fn expire_after_create(
        &self,
        _key: &String,
        stored: &Arc<Stored>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(stored.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        stored: &Arc<Stored>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(stored.ttl)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .weigher(|_key, stored: &Arc<Stored>| stored.bytes.max(MIN_WEIGHT))
                .expire_after(StoredTtl)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
            generations: Mutex::default(),
        }
    }
}

impl MemoryStore {
    pub fn get(&self, key: &str, generation_key: &str) -> (Option<Entry>, Option<String>) {
        let entry = self.entries.get(key).map(|stored| stored.entry.clone());
        (entry, lock(&self.generations).get(generation_key))
    }

    pub fn generations(&self, keys: &[String]) -> Vec<Option<String>> {
        let generations = lock(&self.generations);
        keys.iter().map(|k| generations.get(k)).collect()
    }

    pub fn put(&self, key: String, entry: Entry, ttl: Duration) {
        let bytes = serde_json::to_vec(&entry).map_or(usize::MAX, |json| json.len());
        let Some(bytes) = u32::try_from(bytes).ok().filter(|b| *b <= MAX_ENTRY_BYTES) else {
            return;
        };
        self.entries
            .insert(key, Arc::new(Stored { ttl, bytes, entry }));
    }

    pub fn bump(&self, keys: &[String]) {
        let mut generations = lock(&self.generations);
        if generations.values.len() + keys.len() > MAX_GENERATIONS {
            generations.values.clear();
            self.entries.invalidate_all();
            generations.resets += 1;
        }
        for key in keys {
            generations.counter += 1;
            let value = generations.counter.to_string();
            generations.values.insert(key.clone(), value);
        }
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

    fn weight(entry: &Entry) -> u64 {
        let bytes = serde_json::to_vec(entry).map_or(0, |j| j.len() as u64);
        bytes.max(u64::from(MIN_WEIGHT))
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
        store.entries.run_pending_tasks();
        assert_eq!(store.entries.entry_count(), 1);
        assert_eq!(store.entries.weighted_size(), weight(&entry("two")));
        store.put("gone".into(), entry("old"), Duration::ZERO);
        assert_eq!(store.get("gone", "w").0, None);
    }

    #[test]
    fn oversized_answers_are_not_kept() {
        let store = MemoryStore::default();
        store.put(
            "big".into(),
            entry(&"x".repeat(MAX_ENTRY_BYTES as usize)),
            Duration::from_secs(60),
        );
        assert_eq!(store.get("big", "w").0, None);
    }

    #[test]
    fn the_store_keeps_at_most_its_count_and_its_bytes() {
        let store = MemoryStore::default();
        let small = entry("s");
        for i in 0..MAX_ENTRIES + 10 {
            store.put(format!("s{i}"), small.clone(), Duration::from_secs(60));
        }
        store.entries.run_pending_tasks();
        assert_eq!(store.entries.entry_count(), u64::from(MAX_ENTRIES));
        assert!(
            store.get("s0", "w").0.is_none(),
            "the least recently used went"
        );

        let store = MemoryStore::default();
        let large = entry(&"x".repeat(MAX_ENTRY_BYTES as usize - 100));
        for i in 0..70 {
            store.put(format!("l{i}"), large.clone(), Duration::from_secs(60));
        }
        store.entries.run_pending_tasks();
        assert!(store.entries.weighted_size() <= u64::from(MAX_BYTES));
        assert_eq!(store.entries.entry_count(), CAPACITY / weight(&large));
        assert!(
            store.entries.entry_count() >= 63,
            "answers of almost 1 MiB fill 64 MiB"
        );
    }

    #[test]
    fn too_many_generations_drop_everything_and_nothing_matches_again() {
        let store = MemoryStore::default();
        let before = store.generations(&["never-bumped".to_owned()]);
        store.put("k".into(), entry("kept"), Duration::from_secs(60));
        let keys: Vec<String> = (0..MAX_GENERATIONS).map(|i| format!("g{i}")).collect();
        store.bump(&keys);
        store.bump(&["one more".to_owned()]);
        assert_eq!(
            store.get("k", "w").0,
            None,
            "entries went with the generations"
        );
        assert_ne!(store.generations(&["never-bumped".to_owned()]), before);
    }
}
