//! The in-process part of the automatic persisted-query store: bounded, so that clients
//! registering ever new texts cannot grow it without end.

use moka::policy::EvictionPolicy;
use moka::sync::Cache;

/// How many texts are kept; past it, the least recently used one makes room (clients
/// re-send it).
const CAPACITY: u64 = 10_000;

/// Texts by hash.
pub struct Memory {
    queries: Cache<String, String>,
}

impl Default for Memory {
    fn default() -> Self {
        Self {
            // Least recently used: a text registered a moment ago is always kept, so the
            // client's next request by hash alone finds it.
            queries: Cache::builder()
                .max_capacity(CAPACITY)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
        }
    }
}

impl Memory {
    pub fn get(&self, hash: &str) -> Option<String> {
        self.queries.get(hash)
    }

    pub fn put(&self, hash: &str, query: &str) {
        self.queries.insert(hash.to_owned(), query.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_never_holds_more_than_its_capacity() {
        let memory = Memory::default();
        for i in 0..CAPACITY + 10 {
            memory.put(&format!("h{i}"), "{ __typename }");
        }
        memory.queries.run_pending_tasks();
        assert_eq!(memory.queries.entry_count(), CAPACITY);
        assert!(memory.get(&format!("h{}", CAPACITY + 9)).is_some());
        assert!(memory.get("h0").is_none(), "the least recently used went");
    }
}
