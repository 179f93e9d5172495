//! The workspace's one way to take a `std::sync::Mutex`: every crate locks through [`lock`]
//! instead of writing its own poison handling.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, also when another thread panicked while holding it: what is locked this
/// way (a request's buffers, the hub's routing tables, a generation map) stays usable, and a
/// request must not fail because another one panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_poisoned_by_a_panic_is_still_taken() {
        let mutex = std::sync::Arc::new(Mutex::new(vec![1]));
        let held = mutex.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = lock(&held);
            panic!("a panic while holding the lock");
        })
        .join();
        assert!(panicked.is_err() && mutex.is_poisoned());
        lock(&mutex).push(2);
        assert_eq!(*lock(&mutex), vec![1, 2]);
    }
}
