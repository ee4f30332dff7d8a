//! The allocator: jemalloc, with the async runtime's threads spread over one
//! arena per core rather than jemalloc's four per core.
//!
//! jemalloc hands each new thread the arena with the fewest threads, out of
//! four per core. The runtime's blocking threads (renders, Helm, Git) come
//! and go, so over a cold start every arena gets some: each then keeps its
//! own partly used pages, and memory freed by one thread stays in the arena
//! of the thread that allocated it. One arena per core is what the runtime's
//! worker threads (one per core) need not to wait on each other; the
//! blocking threads share them. At 1,000 apps the controller's peak was
//! about 6 MiB lower, at the same speed (docs/performance.md).

use std::sync::atomic::{AtomicUsize, Ordering};

// jemalloc rather than the C library's allocator (glibc's, or musl's in the
// image): after a cold start of 1,000 apps the controller kept 20 % less
// memory and spent 18 % less CPU (docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Deals the threads it is told of, in turn, one arena each, out of one per
/// core.
pub struct Arenas {
    next: AtomicUsize,
    count: usize,
}

impl Arenas {
    /// One arena per core this process may run on (its CPU quota counts).
    pub fn per_core() -> Arenas {
        Arenas { next: AtomicUsize::new(0), count: std::thread::available_parallelism().map_or(1, |n| n.get()) }
    }

    /// Binds the calling thread to the next arena. jemalloc has four arenas
    /// per core it sees, never fewer than `count`; should it refuse, the
    /// thread keeps the arena jemalloc gave it, which costs memory, not
    /// correctness.
    #[allow(unsafe_code, reason = "jemalloc's control interface is C; the value's type is checked by hand below")]
    pub fn bind_this_thread(&self) {
        let arena = u32::try_from(self.next.fetch_add(1, Ordering::Relaxed) % self.count).unwrap_or(0);
        // SAFETY: "thread.arena" takes an unsigned int, which `arena` is.
        if let Err(e) = unsafe { tikv_jemalloc_ctl::raw::write(b"thread.arena\0", arena) } {
            tracing::debug!("jemalloc kept this thread on its own arena: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code, reason = "reads back what bind_this_thread wrote")]
    fn this_threads_arena() -> u32 {
        // SAFETY: "thread.arena" is an unsigned int.
        unsafe { tikv_jemalloc_ctl::raw::read(b"thread.arena\0") }.expect("jemalloc answers thread.arena")
    }

    #[test]
    fn threads_are_dealt_the_arenas_in_turn() {
        let arenas = Arenas { next: AtomicUsize::new(2), count: 3 };
        let dealt: Vec<u32> = (0..4)
            .map(|_| {
                std::thread::scope(|s| {
                    s.spawn(|| {
                        arenas.bind_this_thread();
                        this_threads_arena()
                    })
                    .join()
                    .expect("the thread runs")
                })
            })
            .collect();
        assert_eq!(dealt, [2, 0, 1, 2]);
    }
}
