//! The soak's parts: a small multi-threaded executor, the echo server (length-prefixed
//! frames, random closes) and the client connections (random sizes, random read and write
//! deadlines, random closes), with the counters that must add up at the end.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Wake, Waker};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use netpoll_std::{is_closed, is_timeout, Async, Closer, Runtime, TcpListener, TcpStream};

use crate::reliability::Rng;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A run queue served by a few threads: enough to drive thousands of connection tasks.
pub struct Executor {
    queue: Arc<Queue>,
    threads: Vec<JoinHandle<()>>,
}

struct Queue {
    ready: Mutex<VecDeque<Arc<Task>>>,
    cv: Condvar,
    live: AtomicUsize,
    stop: AtomicBool,
}

struct Task {
    fut: Mutex<Option<BoxFuture>>,
    queued: AtomicBool,
    queue: Arc<Queue>,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            let q = &self.queue;
            q.ready
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_back(self.clone());
            q.cv.notify_one();
        }
    }
}

impl Executor {
    /// Start `n` worker threads.
    pub fn new(n: usize, name: &str) -> Executor {
        let queue = Arc::new(Queue {
            ready: Mutex::new(VecDeque::new()),
            cv: Condvar::new(),
            live: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let threads = (0..n)
            .map(|i| {
                let q = queue.clone();
                thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || worker(&q))
                    .expect("spawn worker")
            })
            .collect();
        Executor { queue, threads }
    }

    /// Run `fut` to completion on the workers.
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        Spawner(self.queue.clone()).spawn(fut);
    }

    /// Tasks not finished yet.
    pub fn live(&self) -> usize {
        self.queue.live.load(Ordering::Acquire)
    }

    /// Wait until every task finished, at most `limit`; returns the tasks left.
    pub fn wait_idle(&self, limit: Duration) -> usize {
        let start = Instant::now();
        while self.live() > 0 && start.elapsed() < limit {
            thread::sleep(Duration::from_millis(5));
        }
        self.live()
    }

    /// Stop the workers (tasks still pending are dropped).
    pub fn stop(mut self) {
        self.queue.stop.store(true, Ordering::Release);
        self.queue.cv.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.queue
            .ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Spawns onto an [`Executor`] from inside its tasks.
struct Spawner(Arc<Queue>);

impl Spawner {
    fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        self.0.live.fetch_add(1, Ordering::AcqRel);
        let task = Arc::new(Task {
            fut: Mutex::new(Some(Box::pin(fut))),
            queued: AtomicBool::new(false),
            queue: self.0.clone(),
        });
        task.wake_by_ref();
    }
}

fn worker(q: &Arc<Queue>) {
    loop {
        let task = {
            let mut ready = q.ready.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if q.stop.load(Ordering::Acquire) {
                    return;
                }
                if let Some(t) = ready.pop_front() {
                    break t;
                }
                ready =
                    q.cv.wait_timeout(ready, Duration::from_millis(50))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
            }
        };
        task.queued.store(false, Ordering::Release);
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = task.fut.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = slot.as_mut() {
            if f.as_mut().poll(&mut cx).is_ready() {
                *slot = None;
                q.live.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// Frame header: payload length (u32, little endian), the payload's byte, 3 zero bytes.
const HEADER: usize = 8;
/// Payloads are written, echoed and checked through a fixed buffer of this size.
const CHUNK: usize = 4096;

/// Server counters.
#[derive(Default, Debug)]
pub struct ServerCounts {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Frames received completely: each one echoed or closed on.
    pub frames: AtomicU64,
    /// Frames echoed back completely.
    pub echoed: AtomicU64,
    /// Connections the server closed on purpose (after reading a frame, instead of echoing).
    pub closes: AtomicU64,
    /// Echo writes that failed (the client had gone), ending a frame early.
    pub write_errors: AtomicU64,
    /// Connections that ended because the client closed or reset them.
    pub client_gone: AtomicU64,
    /// Connections that ended with an unexpected error (must stay zero).
    pub errors: AtomicU64,
    /// Accepts that failed (a full pool, EMFILE; must stay zero in a sized run).
    pub accept_errors: AtomicU64,
    /// Connection tasks finished.
    pub finished: AtomicU64,
}

/// The soak's echo server: accepts in a task, one task per connection.
pub struct SoakServer {
    pub addr: SocketAddr,
    pub rt: Runtime,
    pub counts: Arc<ServerCounts>,
    listener: Closer,
    exec: Executor,
}

impl SoakServer {
    /// Serve on `addr` (port 0: any) with a runtime of `capacity` descriptors; the server
    /// closes a connection instead of echoing with probability `1 / close_one_in`.
    pub fn start(addr: &str, capacity: usize, close_one_in: u64, seed: u64) -> SoakServer {
        let rt = Runtime::builder()
            .capacity(capacity)
            .thread_name("soak-server-poll")
            .build()
            .expect("server runtime");
        let l = Arc::new(
            TcpListener::builder()
                .runtime(&rt)
                .backlog(4096)
                .bind(addr)
                .expect("bind"),
        );
        let addr = l.local_addr().expect("addr");
        let listener = l.closer();
        let counts = Arc::new(ServerCounts::default());
        let exec = Executor::new(2, "soak-server");
        let (c, queue) = (counts.clone(), exec.queue.clone());
        let spawner = Spawner(queue);
        exec.spawn(async move {
            let mut rng = Rng::new(seed);
            loop {
                match l.accept_async().await {
                    Ok((s, _)) => {
                        c.accepted.fetch_add(1, Ordering::Relaxed);
                        spawner.spawn(serve(s, c.clone(), rng.next_u64(), close_one_in));
                    }
                    Err(e) if is_closed(&e) => return,
                    // EMFILE and the like: try again (none expected in a sized run).
                    Err(e) => {
                        if c.accept_errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("soak server: accept: {e}");
                        }
                    }
                }
            }
        });
        SoakServer {
            addr,
            rt,
            counts,
            listener,
            exec,
        }
    }

    /// Stop accepting; wait (bounded) until every connection task ended; stop the workers.
    /// Returns the tasks that did not end.
    pub fn stop(self, limit: Duration) -> usize {
        let _ = self.listener.close();
        let left = self.exec.wait_idle(limit);
        self.exec.stop();
        left
    }
}

async fn serve(mut s: Async<TcpStream>, c: Arc<ServerCounts>, seed: u64, close_one_in: u64) {
    let mut rng = Rng::new(seed);
    let mut header = [0u8; HEADER];
    // Payloads go through this fixed buffer, a chunk at a time: the soak allocates nothing
    // per message, so the memory it measures is the poller's and the sockets'.
    let mut chunk = [0u8; CHUNK];
    'frames: loop {
        if let Err(e) = s.read_exact(&mut header).await {
            end(&c, &e);
            break;
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        // Close instead of echoing this frame (decided now, done once it is read).
        let close = rng.one_in(close_one_in);
        if !close && s.write_all(&header).await.is_err() {
            c.write_errors.fetch_add(1, Ordering::Relaxed);
            break;
        }
        let mut left = len;
        while left > 0 {
            let n = left.min(CHUNK);
            if let Err(e) = s.read_exact(&mut chunk[..n]).await {
                end(&c, &e);
                break 'frames;
            }
            if !close && s.write_all(&chunk[..n]).await.is_err() {
                c.write_errors.fetch_add(1, Ordering::Relaxed);
                break 'frames;
            }
            left -= n;
        }
        c.frames.fetch_add(1, Ordering::Relaxed);
        if close {
            c.closes.fetch_add(1, Ordering::Relaxed);
            break;
        }
        c.echoed.fetch_add(1, Ordering::Relaxed);
    }
    c.finished.fetch_add(1, Ordering::Relaxed);
}

fn end(c: &ServerCounts, e: &io::Error) {
    if peer_gone(e) {
        c.client_gone.fetch_add(1, Ordering::Relaxed);
    } else {
        c.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// EOF, reset, broken pipe: the other side closed.
pub fn peer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Client counters. Every round trip ends in exactly one of `echoed`, `timeouts`,
/// `peer_closed`, `errors`; every connection ends in exactly one of `client_closes`,
/// `timeout_closes`, `peer_closed`, `final_closes`.
#[derive(Default, Debug)]
pub struct ClientCounts {
    pub connects: AtomicU64,
    pub connect_errors: AtomicU64,
    pub attempts: AtomicU64,
    pub echoed: AtomicU64,
    pub timeouts: AtomicU64,
    pub peer_closed: AtomicU64,
    pub errors: AtomicU64,
    pub client_closes: AtomicU64,
    pub timeout_closes: AtomicU64,
    pub final_closes: AtomicU64,
    pub bytes: AtomicU64,
    /// Worst lateness of a timeout past its deadline, and of a completion past its deadline
    /// (microseconds).
    pub max_timeout_late_us: AtomicU64,
    pub max_completion_late_us: AtomicU64,
    /// Slowest round trip without a deadline (microseconds).
    pub max_no_deadline_us: AtomicU64,
    /// Timeouts that fired before their deadline (must stay zero).
    pub early: AtomicU64,
    pub tasks_done: AtomicU64,
    /// Pauses between round trips: a read with a deadline on a connection the server sends
    /// nothing unasked on, which must end in a timeout (a deadline used as a timer).
    pub thinks: AtomicU64,
}

/// What the clients do.
#[derive(Clone, Copy, Debug)]
pub struct ClientPlan {
    pub stop_at: Instant,
    /// Close and reconnect after a round trip with probability `1 / close_one_in`.
    pub close_one_in: u64,
    /// Largest payload.
    pub max_size: usize,
    /// Longest pause between two round trips of a connection (uniform from zero).
    pub think_max: Duration,
}

/// One client connection task (reconnecting after every close) until `plan.stop_at`.
pub async fn client(
    rt: Runtime,
    addrs: Vec<SocketAddr>,
    plan: ClientPlan,
    seed: u64,
    c: Arc<ClientCounts>,
) {
    let mut rng = Rng::new(seed);
    // Payloads go through this fixed buffer (no allocation per message).
    let mut chunk = [0u8; CHUNK];
    'connect: while Instant::now() < plan.stop_at {
        let addr = addrs[(rng.next_u64() % addrs.len() as u64) as usize];
        let mut s = match TcpStream::connect_async_in(
            &rt,
            addr,
            Some(Instant::now() + Duration::from_secs(10)),
        )
        .await
        {
            Ok(s) => s,
            Err(_) => {
                c.connect_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        c.connects.fetch_add(1, Ordering::Relaxed);
        loop {
            if Instant::now() >= plan.stop_at {
                c.final_closes.fetch_add(1, Ordering::Relaxed);
                break 'connect;
            }
            let think = Duration::from_micros(rng.range(0, plan.think_max.as_micros() as u64));
            let until = Instant::now() + think;
            if let Err(e) = s.set_read_deadline(Some(until)) {
                panic!("set deadline: {e:?}");
            }
            match s.read(&mut [0u8; 1]).await {
                Err(e) if is_timeout(&e) => {
                    let now = Instant::now();
                    if now < until {
                        c.early.fetch_add(1, Ordering::Relaxed);
                    }
                    let late = now.saturating_duration_since(until);
                    c.max_timeout_late_us
                        .fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                    c.thinks.fetch_add(1, Ordering::Relaxed);
                }
                other => {
                    eprintln!("soak client: pause ended with {other:?}");
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    c.final_closes.fetch_add(1, Ordering::Relaxed);
                    break 'connect;
                }
            }
            // Sizes: mostly small, sometimes up to the maximum.
            let len = if rng.one_in(20) {
                rng.range(1, plan.max_size as u64)
            } else {
                rng.range(1, 512)
            } as usize;
            let fill = rng.next_u64() as u8;
            let mut header = [0u8; HEADER];
            header[..4].copy_from_slice(&(len as u32).to_le_bytes());
            header[4] = fill;
            // Deadlines: none (half), already past (2%), or 5-500 ms ahead.
            let deadline = |rng: &mut Rng| match rng.range(0, 99) {
                0..=49 => None,
                50..=51 => Some(Instant::now()),
                _ => Some(Instant::now() + Duration::from_millis(rng.range(5, 500))),
            };
            let (wd, rd) = (deadline(&mut rng), deadline(&mut rng));
            let set = s
                .set_write_deadline(wd)
                .and_then(|()| s.set_read_deadline(rd));
            if let Err(e) = set {
                panic!("set deadline: {e:?}");
            }
            c.attempts.fetch_add(1, Ordering::Relaxed);
            let start = Instant::now();
            let mut which = wd;
            let r = async {
                s.write_all(&header).await?;
                chunk.fill(fill);
                let mut left = len;
                while left > 0 {
                    let n = left.min(CHUNK);
                    s.write_all(&chunk[..n]).await?;
                    left -= n;
                }
                which = rd;
                let mut back = [0u8; HEADER];
                s.read_exact(&mut back).await?;
                let mut same = back == header;
                let mut left = len;
                while left > 0 {
                    let n = left.min(CHUNK);
                    s.read_exact(&mut chunk[..n]).await?;
                    same &= chunk[..n].iter().all(|&b| b == fill);
                    left -= n;
                }
                if same {
                    Ok(())
                } else {
                    Err(io::Error::other("echo differs"))
                }
            }
            .await;
            let now = Instant::now();
            match r {
                Ok(()) => {
                    c.echoed.fetch_add(1, Ordering::Relaxed);
                    c.bytes.fetch_add(len as u64, Ordering::Relaxed);
                    match wd.max(rd) {
                        Some(d) if wd.is_some() && rd.is_some() => {
                            let late = now.saturating_duration_since(d);
                            c.max_completion_late_us
                                .fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                        }
                        _ => {
                            if wd.is_none() && rd.is_none() {
                                let took = now - start;
                                c.max_no_deadline_us
                                    .fetch_max(took.as_micros() as u64, Ordering::Relaxed);
                            }
                        }
                    }
                    if rng.one_in(plan.close_one_in) {
                        c.client_closes.fetch_add(1, Ordering::Relaxed);
                        continue 'connect;
                    }
                }
                Err(e) if is_timeout(&e) => {
                    c.timeouts.fetch_add(1, Ordering::Relaxed);
                    match which {
                        Some(d) if now >= d => {
                            let late = now - d;
                            c.max_timeout_late_us
                                .fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                        }
                        _ => {
                            c.early.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    // The stream is out of step with the server now: start over.
                    c.timeout_closes.fetch_add(1, Ordering::Relaxed);
                    continue 'connect;
                }
                Err(e) if peer_gone(&e) => {
                    c.peer_closed.fetch_add(1, Ordering::Relaxed);
                    continue 'connect;
                }
                Err(e) => {
                    eprintln!("soak client: unexpected error {e:?}");
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    c.final_closes.fetch_add(1, Ordering::Relaxed);
                    break 'connect;
                }
            }
        }
    }
    c.tasks_done.fetch_add(1, Ordering::Relaxed);
}
