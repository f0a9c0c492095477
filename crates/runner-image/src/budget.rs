//! A memory budget that threads decoding at once share.

use std::sync::{Condvar, Mutex};

/// Bytes that threads working at once may hold together. A thread reserves what its item
/// will need before allocating it and waits while the others hold too much; an item that
/// needs more than the whole budget waits until it is alone. Many small images decode on
/// every core at once, a few huge ones one after the other.
pub struct MemoryBudget {
    total: u64,
    reserved: Mutex<u64>,
    released: Condvar,
}

/// Bytes held from a [`MemoryBudget`] until dropped.
pub struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: u64,
}

impl MemoryBudget {
    pub const fn new(total: u64) -> Self {
        Self {
            total,
            reserved: Mutex::new(0),
            released: Condvar::new(),
        }
    }

    /// Waits until `bytes` (at most the whole budget) are free, and holds them.
    pub fn reserve(&self, bytes: u64) -> Reservation<'_> {
        let bytes = bytes.min(self.total);
        let mut reserved = self
            .reserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *reserved + bytes > self.total {
            reserved = self
                .released
                .wait(reserved)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *reserved += bytes;
        Reservation {
            budget: self,
            bytes,
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut reserved = self
            .budget
            .reserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *reserved -= self.bytes;
        self.budget.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn reservations_never_exceed_the_budget() {
        let budget = MemoryBudget::new(100);
        let held = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let (budget, held, most) = (&budget, &held, &most);
                scope.spawn(move || {
                    for index in 0..50 {
                        let bytes: u64 = [10, 40, 70, 500][(thread + index) % 4];
                        let _reservation = budget.reserve(bytes);
                        let share = bytes.min(100) as usize;
                        let now = held.fetch_add(share, Ordering::SeqCst) + share;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        held.fetch_sub(share, Ordering::SeqCst);
                    }
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 100);
        assert_eq!(*budget.reserved.lock().unwrap(), 0);
    }
}
