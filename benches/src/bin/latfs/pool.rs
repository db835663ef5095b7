//! The worker threads that serve requests: fuser's session loop reads one request at a time,
//! so each request becomes a job here, carrying its reply; a worker waits out the added
//! delay, carries the request out and replies. Concurrent clients so overlap their waits, up
//! to one per worker.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};

use crate::delay::Waiter;
use std::thread;
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

/// Worker threads taking jobs in the order they came.
#[derive(Debug)]
pub struct Pool {
    jobs: Sender<Job>,
    busy: Arc<Busy>,
    waiter: Arc<Waiter>,
}

/// How many jobs are queued or running.
#[derive(Debug, Default)]
struct Busy {
    jobs: Mutex<usize>,
    idle: Condvar,
}

impl Busy {
    fn add(&self) {
        *self.jobs.lock().expect("busy lock") += 1;
    }

    fn done(&self) {
        let mut jobs = self.jobs.lock().expect("busy lock");
        *jobs -= 1;
        if *jobs == 0 {
            self.idle.notify_all();
        }
    }
}

impl Pool {
    /// Starts `threads` workers.
    pub fn start(threads: usize) -> io::Result<Pool> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("latfs-{i}"))
                .spawn(move || work(&queue))?;
        }
        Ok(Pool {
            jobs,
            busy: Arc::default(),
            waiter: Arc::default(),
        })
    }

    /// A handle to wait until the workers are idle.
    pub fn idle(&self) -> Idle {
        Idle(Arc::clone(&self.busy))
    }

    /// Runs `job` on a worker once `delay` has passed since now.
    pub fn submit(&self, delay: Duration, job: impl FnOnce() + Send + 'static) {
        let busy = Arc::clone(&self.busy);
        busy.add();
        // The delay counts from the request's arrival: time spent queued is part of it.
        let due = Instant::now() + delay;
        let waiter = Arc::clone(&self.waiter);
        let job: Job = Box::new(move || {
            waiter.wait_until(due);
            job();
            busy.done();
        });
        // The workers never end while the pool lives, so the queue is always open.
        self.jobs.send(job).expect("latfs workers are running");
    }
}

/// Waits for the workers to have nothing queued or running.
#[derive(Debug)]
pub struct Idle(Arc<Busy>);

impl Idle {
    /// Waits until no job is queued or running, for `bound` at the most; true when idle.
    pub fn wait(&self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let mut jobs = self.0.jobs.lock().expect("busy lock");
        while *jobs > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            jobs = self.0.idle.wait_timeout(jobs, left).expect("busy lock").0;
        }
        true
    }
}

fn work(queue: &Mutex<Receiver<Job>>) {
    Waiter::on_this_thread();
    loop {
        let job = queue.lock().expect("job queue lock").recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}
