//! The timers a machine owns: when each kind fires next. A driver never keeps timers of
//! its own; it sleeps until [`Machine::poll_timeout`] and then feeds [`Input::Timeout`],
//! which fires every timer that is due, earliest first.
//!
//! [`Machine::poll_timeout`]: super::Machine::poll_timeout
//! [`Input::Timeout`]: super::Input::Timeout

use std::collections::BTreeMap;
use std::time::Instant;

use super::Timer;

/// At most one deadline per kind of timer.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    at: BTreeMap<Timer, Instant>,
}

impl Timers {
    /// Sets `timer` to fire at `at`, replacing an earlier setting.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.at.insert(timer, at);
    }

    /// When `timer` fires, if it is set.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.at.get(&timer).copied()
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.values().min().copied()
    }

    /// Removes and returns the timers due at `now`, earliest first.
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<Timer> {
        let mut due: Vec<(Instant, Timer)> = self
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
    use std::time::Duration;

    #[test]
    fn fires_what_is_due_earliest_first_and_keeps_the_rest() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = Timers::default();
        assert_eq!(timers.next(), None);
        timers.set(Timer::Progress, t0 + 3 * s);
        timers.set(Timer::Lease, t0 + 2 * s);
        timers.set(Timer::Suspect, t0 + 9 * s);
        timers.set(Timer::Progress, t0 + s);
        assert_eq!(timers.next(), Some(t0 + s));
        assert_eq!(timers.expired(t0), vec![]);
        assert_eq!(
            timers.expired(t0 + 2 * s),
            vec![Timer::Progress, Timer::Lease]
        );
        assert_eq!(timers.next(), Some(t0 + 9 * s));
        assert_eq!(timers.get(Timer::Suspect), Some(t0 + 9 * s));
        assert_eq!(timers.get(Timer::Lease), None);
    }
}
