//! A small executor for the async server: N worker threads, each the only driver of its own
//! runtime (thread-per-core, like tokio's current-thread scheduler run N times).
//!
//! ## Who does what
//! * A **worker** owns an inline runtime ([`Builder::drive_inline`]): its own `Netpoll`, epoll
//!   instance and descriptor pool, and no poller thread. Its loop runs the ready tasks of its
//!   local queue; when there are none it calls [`Runtime::poll`]`(None)`, blocking in the
//!   backend until an event, a deadline or a wake. Events and deadlines are applied on the
//!   worker itself, so the wakers they fire push onto the same thread's queue.
//! * A task stays on the worker it was spawned on; its socket is registered with that
//!   worker's runtime (the acceptor registers it there, see `server.rs`).
//! * **Waking a task** from its own worker pushes it on a thread-local queue: no lock, no
//!   syscall. A wake from any other thread (a close from a shutdown routine, a spawn from the
//!   acceptor, a deadline moved by another thread) pushes it on the worker's inject queue (a
//!   mutex) and calls [`Runtime::wake`] so that a worker blocked in the backend returns.
//! * Fairness: after 61 tasks in a row the worker polls the backend without blocking, so a
//!   busy queue cannot starve sockets whose events are waiting (tokio uses the same interval).
//! * A worker whose queue is empty blocks in `poll(None)` at once. Polling without blocking
//!   first (blocking only if nothing came) saves the timer upkeep of blocking turns (with a
//!   deadline per read: 1,340 -> 1,236 Ir per message under callgrind) but costs an extra
//!   `epoll_wait` whenever nothing is ready yet (S2: 2.42 syscalls per message against
//!   tokio's 2.19 in the same run), so it is not done. Whoever tries again: that turn can
//!   consume a wake meant for the blocking one (the `polling` backend clears its
//!   notification after every wait), so the stop and inject flags must be checked again
//!   before blocking; without that, shutdown hung now and then.
//!
//! A task is a boxed future plus a "scheduled" flag; its waker queues it at most once per
//! wake. A task that panics is dropped (closing what it owned, such as its connection) and
//! counted; the worker goes on.
//!
//! Green coroutines (`green/`) are tasks too: a coroutine's future resumes its stack, so the
//! same queues, wakers and loop run both kinds. For them the worker also keeps **timers**
//! (`green::sleep`): a heap of wake-up instants that only its own thread touches, which
//! bounds the backend wait and is checked after every backend poll.
//!
//! [`Builder::drive_inline`]: crate::runtime::Builder::drive_inline

use std::cell::{Cell, RefCell, UnsafeCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::runtime::Runtime;
use crate::sys::BackendKind;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Tasks run in a row before the worker looks at the backend without blocking.
const EVENT_INTERVAL: u32 = 61;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Worker {
    rt: Runtime,
    /// Tasks woken or spawned from other threads.
    inject: Mutex<VecDeque<Arc<Task>>>,
    /// Whether `inject` may be non-empty (saves the lock on the hot path).
    injected: AtomicBool,
    stop: AtomicBool,
    counters: Arc<PoolCounters>,
}

impl Worker {
    fn inject(&self, t: Arc<Task>) {
        lock(&self.inject).push_back(t);
        self.injected.store(true, Ordering::Release);
        // A failed wake leaves the worker asleep until its next event: a delay, not a loss
        // (the task is queued); nothing better can be done with the error here.
        let _ = self.rt.wake();
    }
}

thread_local! {
    /// The worker this thread runs, if any (its address; null elsewhere).
    static CURRENT: Cell<*const Worker> = const { Cell::new(std::ptr::null()) };
    /// The running worker's ready tasks.
    static LOCAL: RefCell<VecDeque<Arc<Task>>> = const { RefCell::new(VecDeque::new()) };
    /// The running worker's timers: when, a sequence number (ties fire in order), whom to wake.
    static TIMERS: RefCell<BinaryHeap<Reverse<Timer>>> = const { RefCell::new(BinaryHeap::new()) };
}

/// One timer of a worker (see [`add_timer`]).
struct Timer {
    at: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[cfg(unix)] // used by green mode only
/// Wake `waker` at `at` (or soon after), from the worker loop of this thread. `false` if this
/// thread is not a worker (the caller must wait another way).
pub(crate) fn add_timer(at: Instant, waker: Waker) -> bool {
    thread_local! {
        static SEQ: Cell<u64> = const { Cell::new(0) };
    }
    if CURRENT.with(Cell::get).is_null() {
        return false;
    }
    let seq = SEQ.with(|s| {
        s.set(s.get().wrapping_add(1));
        s.get()
    });
    TIMERS.with(|t| t.borrow_mut().push(Reverse(Timer { at, seq, waker })));
    true
}

/// Fire this worker's timers that are due; returns how long until the next one (`None`: no
/// timer left).
fn fire_timers() -> Option<Duration> {
    let now = Instant::now();
    loop {
        let due = TIMERS.with(|t| {
            let mut t = t.borrow_mut();
            match t.peek() {
                Some(Reverse(first)) if first.at <= now => t.pop().map(|Reverse(x)| Ok(x.waker)),
                Some(Reverse(first)) => Some(Err(first.at - now)),
                None => None,
            }
        });
        match due {
            // Woken outside the borrow: the wake pushes onto this worker's queue.
            Some(Ok(waker)) => waker.wake(),
            Some(Err(left)) => return Some(left),
            None => return None,
        }
    }
}

/// Whether this thread has timers pending (cheap: one thread-local borrow).
fn has_timers() -> bool {
    TIMERS.with(|t| !t.borrow().is_empty())
}

#[cfg(unix)] // used by green mode only
/// Spawn `f` on the worker this thread runs; gives `f` back if this thread is not a worker.
pub(crate) fn spawn_local<F>(f: F) -> Result<(), F>
where
    F: Future<Output = ()> + Send + 'static,
{
    let w = CURRENT.with(Cell::get);
    if w.is_null() {
        return Err(f);
    }
    // SAFETY: `CURRENT` is set by `run` to the worker it runs, which its caller keeps alive
    // (an `Arc<Worker>` held by `run`'s caller) until `run` returns and clears it, and it is
    // only read on this thread; so the worker is alive now.
    let w = unsafe { &*w };
    w.counters.live.fetch_add(1, Ordering::AcqRel);
    let t = Arc::new(Task {
        future: UnsafeCell::new(Some(Box::pin(f))),
        scheduled: AtomicBool::new(true),
        worker: {
            let p: *const Worker = w;
            // SAFETY: `p` is `Arc::as_ptr` of the live `Arc<Worker>` that `run` was given
            // (see above); this takes one more reference for the task.
            unsafe {
                Arc::increment_strong_count(p);
                Arc::from_raw(p)
            }
        },
        entry: AtomicUsize::new(UNLISTED),
    });
    LOCAL.with(|q| q.borrow_mut().push_back(t));
    Ok(())
}

#[cfg(unix)] // used by green mode only
/// The runtime of the worker this thread runs, if any.
pub(crate) fn current_runtime() -> Option<Runtime> {
    let w = CURRENT.with(Cell::get);
    if w.is_null() {
        return None;
    }
    // SAFETY: as in `spawn_local`: the worker outlives the `run` that set `CURRENT`.
    Some(unsafe { &*w }.rt.clone())
}

struct Task {
    /// Only ever touched by the owning worker's thread (see `run_task` and `drop_all`), or
    /// by `drop`.
    future: UnsafeCell<Option<BoxFuture>>,
    scheduled: AtomicBool,
    worker: Arc<Worker>,
    /// The task's entry in its worker's [`ALL`] (`UNLISTED` until it first runs).
    entry: AtomicUsize,
}

const UNLISTED: usize = usize::MAX;

// SAFETY: `future` (the only field that is not `Sync`) is accessed only in `run_task` and
// `drop_all`, which run on the thread whose `CURRENT` is (or was, for `drop_all`) `worker`;
// `run_task` never re-enters itself and `drop_all` runs after the worker's last `run_task`,
// so there are no concurrent accesses; the other fields are `Sync`. The future itself is
// `Send`, so dropping it on whichever thread releases the last reference is fine.
unsafe impl Sync for Task {}

thread_local! {
    /// Every unfinished task that has run on this worker: those parked waiting for a wake-up
    /// are in no queue, and stopping the worker drops them too (a coroutine among them
    /// unwinds its stack, releasing the socket locks it held).
    static ALL: RefCell<Listed> = const { RefCell::new(Listed { tasks: Vec::new(), free: Vec::new() }) };
}

struct Listed {
    tasks: Vec<Option<std::sync::Weak<Task>>>,
    free: Vec<usize>,
}

fn list(task: &Arc<Task>) {
    ALL.with(|a| {
        let mut a = a.borrow_mut();
        let weak = Some(Arc::downgrade(task));
        let i = match a.free.pop() {
            Some(i) => {
                a.tasks[i] = weak;
                i
            }
            None => {
                a.tasks.push(weak);
                a.tasks.len() - 1
            }
        };
        task.entry.store(i, Ordering::Relaxed);
    });
}

fn unlist(task: &Task) {
    let i = task.entry.swap(UNLISTED, Ordering::Relaxed);
    if i == UNLISTED {
        return;
    }
    ALL.with(|a| {
        let mut a = a.borrow_mut();
        if let Some(slot) = a.tasks.get_mut(i) {
            *slot = None;
            a.free.push(i);
        }
    });
}

/// Drop the futures of all unfinished tasks that ran on this worker (see [`ALL`]).
fn drop_all(counters: &PoolCounters) {
    loop {
        let tasks = ALL.with(|a| {
            let mut a = a.borrow_mut();
            a.free.clear();
            std::mem::take(&mut a.tasks)
        });
        if tasks.is_empty() {
            return;
        }
        for t in tasks.into_iter().flatten().filter_map(|w| w.upgrade()) {
            t.entry.store(UNLISTED, Ordering::Relaxed);
            // SAFETY: this is the task's worker thread, after its last `run_task` (see the
            // `Sync` impl), and nothing else borrows the future now.
            let fut = unsafe { (*t.future.get()).take() };
            if fut.is_some() {
                counters.live.fetch_sub(1, Ordering::AcqRel);
            }
            drop(fut);
        }
    }
}

impl Task {
    fn schedule(self: Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        if CURRENT.with(Cell::get) == Arc::as_ptr(&self.worker) {
            // On the owning worker: the local queue (unless it is being torn down).
            let mut t = Some(self);
            let _ = LOCAL.try_with(|q| {
                if let Ok(mut q) = q.try_borrow_mut() {
                    if let Some(t) = t.take() {
                        q.push_back(t);
                    }
                }
            });
            if let Some(t) = t {
                let w = t.worker.clone();
                w.inject(t);
            }
        } else {
            let w = self.worker.clone();
            w.inject(self);
        }
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.schedule();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.scheduled.load(Ordering::Acquire) {
            self.clone().schedule();
        }
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
    workers: Vec<Arc<Worker>>,
    threads: Vec<JoinHandle<()>>,
    next: AtomicUsize,
    pub(crate) counters: Arc<PoolCounters>,
}

impl Pool {
    /// Start `workers` threads, each with an inline runtime of `capacity` descriptors over
    /// `backend`.
    pub(crate) fn new(
        workers: usize,
        name: &str,
        backend: BackendKind,
        capacity: usize,
    ) -> std::io::Result<Pool> {
        let counters = Arc::new(PoolCounters::default());
        let mut ws = Vec::new();
        let mut threads = Vec::new();
        for i in 0..workers.max(1) {
            let rt = Runtime::builder()
                .backend(backend)
                .capacity(capacity)
                .drive_inline()
                .build()?;
            let w = Arc::new(Worker {
                rt,
                inject: Mutex::new(VecDeque::new()),
                injected: AtomicBool::new(false),
                stop: AtomicBool::new(false),
                counters: counters.clone(),
            });
            let w2 = w.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || run(&w2))?,
            );
            ws.push(w);
        }
        Ok(Pool {
            workers: ws,
            threads,
            next: AtomicUsize::new(0),
            counters,
        })
    }

    #[cfg(unix)] // used by green mode only
    /// Number of workers.
    pub(crate) fn len(&self) -> usize {
        self.workers.len()
    }

    /// The worker the next connection goes to (round robin).
    pub(crate) fn pick(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len()
    }

    /// Every worker's runtime (handles).
    pub(crate) fn runtimes(&self) -> Vec<Runtime> {
        self.workers.iter().map(|w| w.rt.clone()).collect()
    }

    /// Worker `i`'s runtime: register the sockets of tasks spawned on `i` with it.
    pub(crate) fn runtime(&self, i: usize) -> &Runtime {
        &self.workers[i % self.workers.len()].rt
    }

    /// Spawn `f` on worker `i`.
    pub(crate) fn spawn_on(&self, i: usize, f: impl Future<Output = ()> + Send + 'static) {
        let w = &self.workers[i % self.workers.len()];
        self.counters.live.fetch_add(1, Ordering::AcqRel);
        let t = Arc::new(Task {
            future: UnsafeCell::new(Some(Box::pin(f))),
            scheduled: AtomicBool::new(true),
            worker: w.clone(),
            entry: AtomicUsize::new(UNLISTED),
        });
        w.inject(t);
    }

    /// Stop the workers once their queues are empty and join them; the tasks still parked
    /// then are dropped on their workers.
    pub(crate) fn stop(self) {
        for w in &self.workers {
            w.stop.store(true, Ordering::Release);
            let _ = w.rt.wake();
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn pop_local() -> Option<Arc<Task>> {
    LOCAL.with(|q| q.borrow_mut().pop_front())
}

fn run(w: &Arc<Worker>) {
    let counters = &*w.counters;
    CURRENT.with(|c| c.set(Arc::as_ptr(w)));
    // Before the first task: a handler that blocks on one of this runtime's sockets must find
    // its thread the driver, even if it runs before the worker's first turn of the loop
    // (otherwise it parks the only thread that could wake it).
    w.rt.shared().drive_from_here();
    let mut in_a_row = 0u32;
    let mut backoff = Duration::from_millis(1);
    loop {
        if w.injected.load(Ordering::Acquire) {
            w.injected.store(false, Ordering::Relaxed);
            let mut from = std::mem::take(&mut *lock(&w.inject));
            LOCAL.with(|q| q.borrow_mut().append(&mut from));
        }
        if let Some(t) = pop_local() {
            run_task(t, counters);
            in_a_row += 1;
            if in_a_row >= EVENT_INTERVAL {
                in_a_row = 0;
                let _ = w.rt.poll(Some(Duration::ZERO));
                if has_timers() {
                    fire_timers();
                }
            }
            continue;
        }
        // Timers that fell due while tasks ran queue their coroutines; the next wait is
        // bounded by the first timer left.
        let mut timeout = None;
        if has_timers() {
            timeout = fire_timers();
            if LOCAL.with(|q| !q.borrow().is_empty()) {
                continue;
            }
        }
        if w.stop.load(Ordering::Acquire) && !w.injected.load(Ordering::Acquire) {
            break;
        }
        in_a_row = 0;
        match w.rt.poll(timeout) {
            Ok(_) => backoff = Duration::from_millis(1),
            Err(_) => {
                // A failing backend (ENOMEM, ...): retry with a growing pause, not a spin.
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(100));
            }
        }
    }
    CURRENT.with(|c| c.set(std::ptr::null()));
    // Break the task -> worker -> queue cycles of anything still queued or sleeping. The
    // tasks are dropped on this thread (a suspended coroutine unwinds its stack here, on its
    // own thread), before thread-local destruction begins.
    let local = LOCAL.with(|q| std::mem::take(&mut *q.borrow_mut()));
    let injected = std::mem::take(&mut *lock(&w.inject));
    let timers = TIMERS.with(|t| std::mem::take(&mut *t.borrow_mut()));
    drop((local, injected, timers));
    drop_all(counters);
    // What the unwinding woke or queued (its futures are gone by now).
    let injected = std::mem::take(&mut *lock(&w.inject));
    drop(injected);
}

// A waker for a task that the worker holds while it polls it, without touching the task's
// reference count: `task_waker` lends the worker's reference; clones made from it (a socket
// storing the waker) take their own reference.
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_by_ref_raw, drop_raw);

unsafe fn clone_raw(p: *const ()) -> RawWaker {
    // SAFETY: `p` comes from `Arc::as_ptr` of a live `Arc<Task>` (the caller of the vtable
    // holds a waker, so a reference is held); this takes one more for the new waker.
    unsafe { Arc::increment_strong_count(p.cast::<Task>()) };
    RawWaker::new(p, &VTABLE)
}

unsafe fn wake_raw(p: *const ()) {
    // SAFETY: a waker made by `clone_raw` owns one reference, which this consumes.
    let t = unsafe { Arc::from_raw(p.cast::<Task>()) };
    Wake::wake(t);
}

unsafe fn wake_by_ref_raw(p: *const ()) {
    // SAFETY: the waker keeps its reference; `ManuallyDrop` leaves the count as it was.
    let t = std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(p.cast::<Task>()) });
    Wake::wake_by_ref(&*t);
}

unsafe fn drop_raw(p: *const ()) {
    // SAFETY: a waker made by `clone_raw` owns one reference, which this releases.
    unsafe { Arc::decrement_strong_count(p.cast::<Task>()) };
}

fn run_task(task: Arc<Task>, counters: &PoolCounters) {
    task.scheduled.store(false, Ordering::Release);
    // SAFETY: the raw waker points at `task`, which outlives `waker` (both are dropped at the
    // end of this function, `waker` first, and `ManuallyDrop` never runs the borrowed
    // waker's drop); the vtable's functions keep the reference counts balanced.
    let waker = std::mem::ManuallyDrop::new(unsafe {
        Waker::from_raw(RawWaker::new(Arc::as_ptr(&task).cast(), &VTABLE))
    });
    let mut cx = Context::from_waker(&waker);
    // SAFETY: this thread is the task's worker (tasks are queued only on their own worker's
    // local or inject queue, and only that worker pops them) and `run_task` does not
    // re-enter, so this is the only reference to the future right now.
    let slot = unsafe { &mut *task.future.get() };
    let Some(fut) = slot.as_mut() else { return };
    if task.entry.load(Ordering::Relaxed) == UNLISTED {
        list(&task);
    }
    let done = match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
        Ok(Poll::Ready(())) => true,
        Ok(Poll::Pending) => false,
        Err(_) => {
            counters.panics.fetch_add(1, Ordering::Relaxed);
            true
        }
    };
    if done {
        unlist(&task);
        // Dropping the future closes what it owned (its connection).
        drop(slot.take());
        counters.live.fetch_sub(1, Ordering::AcqRel);
    }
}
