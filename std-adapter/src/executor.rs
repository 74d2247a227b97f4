//! A small executor for the async server: N worker threads, each with its own run queue
//! (thread-per-core: a task stays on the worker it was spawned on, so its socket's state stays
//! in that core's cache and no queue is shared between workers).
//!
//! A task is a boxed future plus a "scheduled" flag; its waker pushes it back on its worker's
//! queue at most once per wake. A task that panics is dropped (closing what it owned, such as
//! its connection) and counted; the worker goes on.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Queue {
    tasks: Mutex<VecDeque<Arc<Task>>>,
    ready: Condvar,
    stop: AtomicBool,
}

impl Queue {
    fn push(&self, t: Arc<Task>) {
        lock(&self.tasks).push_back(t);
        self.ready.notify_one();
    }
}

struct Task {
    future: Mutex<Option<BoxFuture>>,
    scheduled: AtomicBool,
    queue: Arc<Queue>,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            let q = self.queue.clone();
            q.push(self);
        }
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.clone().wake();
    }
}

/// Counters shared by the workers.
#[derive(Default)]
pub(crate) struct PoolCounters {
    pub(crate) live: AtomicUsize,
    pub(crate) panics: AtomicU64,
}

/// The worker threads.
pub(crate) struct Pool {
    queues: Vec<Arc<Queue>>,
    threads: Vec<JoinHandle<()>>,
    next: AtomicUsize,
    pub(crate) counters: Arc<PoolCounters>,
}

impl Pool {
    pub(crate) fn new(workers: usize, name: &str) -> std::io::Result<Pool> {
        let counters = Arc::new(PoolCounters::default());
        let mut queues = Vec::new();
        let mut threads = Vec::new();
        for i in 0..workers.max(1) {
            let q = Arc::new(Queue {
                tasks: Mutex::new(VecDeque::new()),
                ready: Condvar::new(),
                stop: AtomicBool::new(false),
            });
            let (q2, c2) = (q.clone(), counters.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || run(&q2, &c2))?,
            );
            queues.push(q);
        }
        Ok(Pool {
            queues,
            threads,
            next: AtomicUsize::new(0),
            counters,
        })
    }

    /// Spawn `f` on the next worker (round robin).
    pub(crate) fn spawn(&self, f: impl Future<Output = ()> + Send + 'static) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        let q = self.queues[i].clone();
        self.counters.live.fetch_add(1, Ordering::AcqRel);
        let t = Arc::new(Task {
            future: Mutex::new(Some(Box::pin(f))),
            scheduled: AtomicBool::new(true),
            queue: q.clone(),
        });
        q.push(t);
    }

    /// Stop the workers once their queues are empty and join them.
    pub(crate) fn stop(self) {
        for q in &self.queues {
            q.stop.store(true, Ordering::Release);
            let _guard = lock(&q.tasks);
            q.ready.notify_all();
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn run(q: &Queue, counters: &PoolCounters) {
    loop {
        let task = {
            let mut tasks = lock(&q.tasks);
            loop {
                if let Some(t) = tasks.pop_front() {
                    break t;
                }
                if q.stop.load(Ordering::Acquire) {
                    return;
                }
                tasks = q.ready.wait(tasks).unwrap_or_else(PoisonError::into_inner);
            }
        };
        task.scheduled.store(false, Ordering::Release);
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = lock(&task.future);
        let Some(fut) = slot.as_mut() else { continue };
        let done = match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
            Ok(Poll::Ready(())) => true,
            Ok(Poll::Pending) => false,
            Err(_) => {
                counters.panics.fetch_add(1, Ordering::Relaxed);
                true
            }
        };
        if done {
            // Dropping the future closes what it owned (its connection).
            let fut = slot.take();
            drop(slot);
            drop(fut);
            counters.live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
