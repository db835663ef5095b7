//! The timers a machine owns: when each kind fires next. A driver never keeps timers of
//! its own; it sleeps until [`Machine::poll_timeout`] and then feeds [`Input::Timeout`],
//! which fires every timer that is due, earliest first.
//!
//! [`Machine::poll_timeout`]: super::Machine::poll_timeout
//! [`Input::Timeout`]: super::Input::Timeout

use std::collections::BTreeMap;
use std::time::Instant;

use super::Timer;

/// At most one deadline per kind of timer. Generic over the time (an `Instant` in the
/// machines) so that tests choose their instants.
#[derive(Debug)]
pub(crate) struct Timers<T = Instant> {
    at: BTreeMap<Timer, T>,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            at: BTreeMap::new(),
        }
    }
}

impl<T: Ord + Copy> Timers<T> {
    /// Sets `timer` to fire at `at`, replacing an earlier setting.
    pub(crate) fn set(&mut self, timer: Timer, at: T) {
        self.at.insert(timer, at);
    }

    /// When `timer` fires, if it is set.
    pub(crate) fn get(&self, timer: Timer) -> Option<T> {
        self.at.get(&timer).copied()
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<T> {
        self.at.values().min().copied()
    }

    /// Removes and returns the timers due at `now`, earliest first.
    pub(crate) fn expired(&mut self, now: T) -> Vec<Timer> {
        let mut due: Vec<(T, Timer)> = self
            .at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, at)| (*at, *t))
            .collect();
        due.sort();
        for (_, t) in &due {
            self.at.remove(t);
        }
        due.into_iter().map(|(_, t)| t).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_what_is_due_earliest_first_and_keeps_the_rest() {
        // Times as seconds.
        let mut timers: Timers<u64> = Timers::default();
        assert_eq!(timers.next(), None);
        timers.set(Timer::Progress, 3);
        timers.set(Timer::Lease, 2);
        timers.set(Timer::Suspect, 9);
        timers.set(Timer::Progress, 1);
        assert_eq!(timers.next(), Some(1));
        assert_eq!(timers.expired(0), vec![]);
        assert_eq!(timers.expired(2), vec![Timer::Progress, Timer::Lease]);
        assert_eq!(timers.next(), Some(9));
        assert_eq!(timers.get(Timer::Suspect), Some(9));
        assert_eq!(timers.get(Timer::Lease), None);
    }
}
