//! Per-file work (decoding, hashing, inspecting) on all cores, results in input order,
//! and a memory budget the threads share.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// `work` applied to every item, on one thread per core; the results keep the items'
/// order. Threads take the next item as they finish one, so slow files do not hold up
/// a fixed share.
pub fn map_in_parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(items.len()).max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(index) else {
                            break out;
                        };
                        out.push((index, work(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("work on a file does not panic"))
            .collect()
    });
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

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
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while *reserved + bytes > self.total {
            reserved = self
                .released
                .wait(reserved)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
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
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *reserved -= self.bytes;
        self.budget.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_of_the_items() {
        let items: Vec<u64> = (0..1000).collect();
        assert_eq!(
            map_in_parallel(&items, |item| item * 2),
            items.iter().map(|item| item * 2).collect::<Vec<_>>()
        );
        assert!(map_in_parallel(&[] as &[u8], |item| *item).is_empty());
    }

    #[test]
    fn reservations_never_exceed_the_budget() {
        let budget = MemoryBudget::new(100);
        let held = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let sizes: Vec<u64> = (0..200).map(|index| [10, 40, 70, 500][index % 4]).collect();
        map_in_parallel(&sizes, |&bytes| {
            let _reservation = budget.reserve(bytes);
            let now =
                held.fetch_add(bytes.min(100) as usize, Ordering::SeqCst) + bytes.min(100) as usize;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::yield_now();
            held.fetch_sub(bytes.min(100) as usize, Ordering::SeqCst);
        });
        assert!(most.load(Ordering::SeqCst) <= 100);
        assert_eq!(*budget.reserved.lock().unwrap(), 0);
    }
}
