//! [`Scheduler`]: worker threads that run green coroutines, for use outside a
//! [`Server`](crate::Server) (which starts its own).

use std::io;
use std::thread;

use super::{spawn_task, JoinHandle, DEFAULT_STACK_SIZE};
use crate::executor::Pool;
use crate::sys::BackendKind;
use crate::{Runtime, DEFAULT_CAPACITY};

/// Configures a [`Scheduler`].
#[derive(Clone, Debug)]
pub struct Builder {
    workers: usize,
    stack_size: usize,
    capacity: usize,
    backend: BackendKind,
    name: String,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            workers: thread::available_parallelism().map_or(1, |n| n.get()),
            stack_size: DEFAULT_STACK_SIZE,
            capacity: DEFAULT_CAPACITY,
            backend: BackendKind::from_env(),
            name: "netpoll-green".into(),
        }
    }
}

impl Builder {
    /// Number of worker threads (default: one per CPU; at least one).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Stack size of the coroutines spawned through the scheduler (default
    /// [`DEFAULT_STACK_SIZE`]); coroutines they [`spawn`](super::spawn) get the same.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Descriptor pool capacity of each worker's runtime (default [`DEFAULT_CAPACITY`]).
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }

    /// The backend of the workers' runtimes (default [`BackendKind::from_env`]).
    pub fn backend(mut self, kind: BackendKind) -> Self {
        self.backend = kind;
        self
    }

    /// Thread name prefix (default `netpoll-green`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Start the workers.
    pub fn build(self) -> io::Result<Scheduler> {
        let pool = Pool::new(self.workers, &self.name, self.backend, self.capacity)?;
        Ok(Scheduler {
            pool: Some(pool),
            stack_size: self.stack_size,
        })
    }
}

/// Worker threads running green coroutines: each worker drives its own runtime (no poller
/// thread) and runs the coroutines spawned on it, never moving one to another worker.
///
/// Dropping the scheduler (or [`shutdown`](Self::shutdown)) stops the workers once nothing
/// is ready to run; coroutines still parked then are not resumed again.
///
/// ```
/// use std::io::{Read, Write};
/// use netpoll_std::{green::Scheduler, TcpListener, TcpStream};
///
/// let sched = Scheduler::builder().workers(1).build()?;
/// let echoed = sched.spawn(|| -> std::io::Result<Vec<u8>> {
///     // Sockets made in a coroutine belong to its worker's runtime.
///     let l = TcpListener::bind("127.0.0.1:0")?;
///     let addr = l.local_addr()?;
///     let server = netpoll_std::green::spawn(move || -> std::io::Result<()> {
///         let (mut s, _) = l.accept()?; // parks this coroutine, not the thread
///         let mut buf = [0; 5];
///         s.read_exact(&mut buf)?;
///         s.write_all(&buf)
///     })?;
///     let mut c = TcpStream::connect(addr)?;
///     c.write_all(b"hello")?;
///     let mut back = vec![0; 5];
///     c.read_exact(&mut back)?;
///     server.join().expect("no panic")?;
///     Ok(back)
/// })?;
/// assert_eq!(echoed.join().expect("no panic")?, b"hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Scheduler {
    pool: Option<Pool>,
    stack_size: usize,
}

impl Scheduler {
    /// A scheduler with the defaults (one worker per CPU).
    pub fn new() -> io::Result<Scheduler> {
        Builder::default().build()
    }

    /// A [`Builder`] with the defaults.
    pub fn builder() -> Builder {
        Builder::default()
    }

    fn pool(&self) -> &Pool {
        match &self.pool {
            Some(p) => p,
            // Only `shutdown` and `drop` take the pool, and both consume the scheduler.
            None => unreachable!("scheduler used after shutdown"),
        }
    }

    /// Run `f` as a new coroutine, on the workers in turn.
    pub fn spawn<F, T>(&self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let i = self.pool().pick();
        self.spawn_on(i, f)
    }

    /// Run `f` as a new coroutine on worker `worker` (modulo the number of workers).
    pub fn spawn_on<F, T>(&self, worker: usize, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (task, handle) = spawn_task(self.stack_size, f)?;
        self.pool().spawn_on(worker, task);
        Ok(handle)
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.pool().len()
    }

    /// Worker `worker`'s runtime (modulo the number of workers): sockets registered with it
    /// are served by that worker's loop.
    pub fn runtime(&self, worker: usize) -> &Runtime {
        self.pool().runtime(worker)
    }

    /// Stop the workers once nothing is ready to run, and wait for them.
    pub fn shutdown(mut self) {
        if let Some(p) = self.pool.take() {
            p.stop();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if let Some(p) = self.pool.take() {
            p.stop();
        }
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("workers", &self.pool.as_ref().map_or(0, Pool::len))
            .field("stack_size", &self.stack_size)
            .finish()
    }
}
