//! The in-process part of the automatic persisted-query store: bounded, so that clients
//! registering ever new texts cannot grow it without end.

use std::collections::HashMap;
use std::sync::Mutex;

/// How many texts are kept; past it, an arbitrary one makes room (clients re-send it).
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct Memory {
    queries: Mutex<HashMap<String, String>>,
}

impl Memory {
    pub fn get(&self, hash: &str) -> Option<String> {
        let queries = self.queries.lock().unwrap_or_else(|e| e.into_inner());
        queries.get(hash).cloned()
    }

    pub fn put(&self, hash: &str, query: &str) {
        let mut queries = self.queries.lock().unwrap_or_else(|e| e.into_inner());
        if queries.len() >= CAPACITY && !queries.contains_key(hash) {
            let evicted = queries.keys().next().cloned();
            if let Some(evicted) = evicted {
                queries.remove(&evicted);
            }
        }
        queries.insert(hash.to_owned(), query.to_owned());
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
        let held = memory.queries.lock().map(|q| q.len()).unwrap_or_default();
        assert_eq!(held, CAPACITY);
        assert!(memory.get(&format!("h{}", CAPACITY + 9)).is_some());
    }
}
