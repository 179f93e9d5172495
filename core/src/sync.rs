//! Small synchronisation helpers shared by the core.

use std::sync::{Mutex, MutexGuard};

/// A poisoned lock only means another task panicked mid-push; the data is still usable.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
