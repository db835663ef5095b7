//! A process whose output a test reads as it comes: it can wait (bounded) for the process to
//! say something, and collects everything it printed for the assertions and for failure
//! messages. Killed when dropped.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the readers share: the lines so far, and how many streams have closed.
type Seen = Arc<(Mutex<(String, usize)>, Condvar)>;

/// A running process and what it has printed so far.
pub struct Watched {
    child: Child,
    seen: Seen,
}

/// How a watched process ended.
#[derive(Debug)]
pub struct Ended {
    /// Its exit code (None: a signal).
    pub code: Option<i32>,
    /// Its standard output and error, lines interleaved as they came.
    pub output: String,
}

impl Watched {
    /// Starts `cmd` with standard input closed and both outputs read.
    pub fn start(mut cmd: Command) -> Watched {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the process");
        let seen: Seen = Arc::new((Mutex::new((String::new(), 0)), Condvar::new()));
        let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        for stream in [out, err] {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let (state, changed) = &*seen;
                for line in std::io::BufReader::new(stream)
                    .lines()
                    .map_while(Result::ok)
                {
                    let mut s = state.lock().unwrap();
                    s.0.push_str(&line);
                    s.0.push('\n');
                    changed.notify_all();
                }
                state.lock().unwrap().1 += 1;
                changed.notify_all();
            });
        }
        Watched { child, seen }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.seen.0.lock().unwrap().0.clone()
    }

    /// Waits until `done` holds of the output and the number of closed streams, at most
    /// until `deadline`; false when it did not.
    fn wait_until(&self, deadline: Instant, done: impl Fn(&str, usize) -> bool) -> bool {
        let (state, changed) = &*self.seen;
        let mut s = state.lock().unwrap();
        while !done(&s.0, s.1) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = changed.wait_timeout(s, left).unwrap().0;
        }
        true
    }

    /// Waits until the output holds `what` at least `times` times; panics (after killing
    /// the process) when it does not within `limit`.
    pub fn wait_for(&mut self, what: &str, times: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        if !self.wait_until(deadline, |text, _| text.matches(what).count() >= times) {
            let _ = self.child.kill();
            panic!(
                "{what:?} was not said {times} times within {limit:?}:\n{}",
                self.output()
            );
        }
    }

    /// Sends it `signal` (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) of our own child, not reaped yet.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// Waits for the end, at most `limit` (then kills it and panics with its output); its
    /// output must close too (nothing it started may keep it open).
    pub fn finish(mut self, limit: Duration) -> Ended {
        let deadline = Instant::now() + limit;
        if !crate::wait_exit(self.child.id() as i32, deadline) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("it did not end within {limit:?}:\n{}", self.output());
        }
        let status = self.child.wait().expect("wait");
        if !self.wait_until(deadline, |_, closed| closed == 2) {
            panic!(
                "it ended but its output stayed open (something it started lives on):\n{}",
                self.output()
            );
        }
        Ended {
            code: status.code(),
            output: self.output(),
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
