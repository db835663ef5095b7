//! Waiting until a request is due. A thread that sleeps 1 ms wakes later than that (1.28 ms
//! on average on this machine, a VM: timer slack and wake-up latency), so each wait asks to
//! wake earlier by the oversleep seen so far, a moving average shared by the workers: the
//! delays then average what was asked for, without spinning.

use std::sync::atomic::{AtomicI64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The most a wait asks to wake before it is due.
const MAX_EARLY_NS: i64 = 500_000;

/// Sleeps until due times, correcting for oversleep.
#[derive(Debug, Default)]
pub struct Waiter {
    /// How much earlier than due a sleep asks to wake.
    early_ns: AtomicI64,
}

impl Waiter {
    /// Called once on each thread that waits: wake when asked, not up to 50 µs later (best
    /// effort).
    pub fn on_this_thread() {
        let _ = nix::sys::prctl::set_timerslack(1);
    }

    /// Returns at `due`, on average.
    pub fn wait_until(&self, due: Instant) {
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let early = self.early_ns.load(Ordering::Relaxed);
        let ask = left.saturating_sub(Duration::from_nanos(early as u64));
        if !ask.is_zero() {
            thread::sleep(ask);
        }
        let woke = Instant::now();
        let late_ns = match woke.checked_duration_since(due) {
            Some(late) => late.as_nanos() as i64,
            None => -((due - woke).as_nanos() as i64),
        };
        self.early_ns
            .store(corrected(early, late_ns), Ordering::Relaxed);
    }
}

/// The next wake-up advance: moved by an eighth of how late (or, negative, early) the last
/// wait woke, within 0 and [`MAX_EARLY_NS`].
fn corrected(early_ns: i64, late_ns: i64) -> i64 {
    (early_ns + late_ns / 8).clamp(0, MAX_EARLY_NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advance_follows_the_oversleep_and_stays_in_bounds() {
        let mut early = 0;
        for _ in 0..200 {
            // A platform that oversleeps by 280 µs whatever is asked.
            early = corrected(early, 280_000 - early);
        }
        assert!((279_000..=280_000).contains(&early), "{early}");
        assert_eq!(corrected(100, -10_000), 0);
        assert_eq!(corrected(MAX_EARLY_NS, 1_000_000), MAX_EARLY_NS);
    }
}
