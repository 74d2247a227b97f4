//! Green coroutines outside a server: blocking calls park the coroutine (not the worker), with
//! deadlines; spawn/join, sleep, yield, unblock, block_on; a coroutine stays on its thread;
//! a coroutine dropped while parked releases its socket's lock; a stack overflow ends the
//! process with a message (in a child process).
#![cfg(unix)]

mod util;

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netpoll_std::green::{self, Scheduler};
use netpoll_std::{is_closed, is_timeout, Runtime, TcpListener, TcpStream};
use util::{bounded, LIMIT};

fn one_worker() -> Scheduler {
    Scheduler::builder()
        .workers(1)
        .capacity(256)
        .build()
        .unwrap()
}

/// Join `h` from the test thread, bounded.
fn join<T: Send + 'static>(what: &str, h: green::JoinHandle<T>) -> T {
    bounded(what, move || h.join()).unwrap_or_else(|_| panic!("{what}: panicked"))
}

/// Many coroutines on ONE worker thread each block in `read` at once, so none of them can be
/// parking the thread: every echo completes.
#[test]
fn many_blocked_readers_share_one_worker() {
    let sched = one_worker();
    let h = sched
        .spawn(|| -> io::Result<usize> {
            let l = TcpListener::bind("127.0.0.1:0")?;
            let addr = l.local_addr()?;
            const N: usize = 50;
            let server = green::spawn(move || -> io::Result<()> {
                let mut hs = Vec::new();
                for _ in 0..N {
                    let (mut s, _) = l.accept()?;
                    hs.push(green::spawn(move || -> io::Result<()> {
                        let mut b = [0u8; 16];
                        let n = s.read(&mut b)?;
                        s.write_all(&b[..n])
                    })?);
                }
                for h in hs {
                    h.join().expect("echo panicked")?;
                }
                Ok(())
            })?;
            let mut cs = Vec::new();
            for _ in 0..N {
                cs.push(TcpStream::connect(addr)?);
            }
            // Every server coroutine is now parked in `read`; write in reverse order.
            for (i, c) in cs.iter_mut().enumerate().rev() {
                c.write_all(format!("m{i}").as_bytes())?;
            }
            let mut ok = 0;
            for (i, c) in cs.iter_mut().enumerate() {
                let want = format!("m{i}");
                let mut got = vec![0u8; want.len()];
                c.read_exact(&mut got)?;
                assert_eq!(got, want.as_bytes());
                ok += 1;
            }
            server.join().expect("server panicked")?;
            Ok(ok)
        })
        .unwrap();
    assert_eq!(join("echoes", h).unwrap(), 50);
    // Nothing is left parked in the worker's runtime.
    assert_eq!(sched.runtime(0).stats().parked_now, 0);
}

/// A read deadline parks the coroutine until it fires: "i/o timeout", not early.
#[test]
fn read_deadline_inside_a_coroutine() {
    let sched = one_worker();
    let h = sched
        .spawn(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (_s, _) = l.accept().unwrap();
            let d = Duration::from_millis(50);
            let start = Instant::now();
            c.set_read_deadline(Some(start + d)).unwrap();
            let e = (&c).read(&mut [0u8; 4]).unwrap_err();
            (is_timeout(&e), start.elapsed() >= d)
        })
        .unwrap();
    assert_eq!(join("read with deadline", h), (true, true));
}

/// A coroutine parked in a read on a socket of another runtime (with a poller thread) is
/// woken across threads by a close from the test thread, and the parked count shows it.
#[test]
fn close_from_another_thread_wakes_a_parked_coroutine() {
    let rt = Runtime::builder().capacity(64).build().unwrap();
    let l = TcpListener::bind_in(&rt, "127.0.0.1:0").unwrap();
    let c = TcpStream::connect_in(&rt, l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    let closer = s.closer();
    let sched = one_worker();
    let h = sched
        .spawn(move || {
            let r = (&s).read(&mut [0u8; 4]);
            r.map_err(|e| is_closed(&e))
        })
        .unwrap();
    util::eventually("coroutine parked", || rt.stats().parked_now == 1);
    closer.close().unwrap();
    assert_eq!(join("closed read", h), Err(true));
    drop(c);
}

#[test]
fn spawn_join_and_panics() {
    let sched = one_worker();
    let h = sched
        .spawn(|| {
            let a = green::spawn(|| 40).unwrap();
            let b = green::spawn(|| -> u32 { panic!("child panic (expected)") }).unwrap();
            let a = a.join().unwrap();
            let b = b.join();
            (a + 2, b.is_err())
        })
        .unwrap();
    assert_eq!(join("spawn", h), (42, true));
    // Outside a worker, green::spawn is an error, not a panic.
    assert!(green::spawn(|| ()).is_err());
}

/// `sleep` parks only the coroutine: another coroutine of the same worker runs meanwhile.
#[test]
fn sleep_parks_only_the_coroutine() {
    let sched = one_worker();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let h = sched
        .spawn(move || {
            let o2 = o.clone();
            let sleeper = green::spawn(move || {
                let t = Instant::now();
                green::sleep(Duration::from_millis(30));
                o2.lock().unwrap().push("woke");
                t.elapsed()
            })
            .unwrap();
            green::yield_now(); // let the sleeper start
            o.lock().unwrap().push("ran while it slept");
            sleeper.join().unwrap()
        })
        .unwrap();
    let slept = join("sleep", h);
    assert!(slept >= Duration::from_millis(30), "woke early: {slept:?}");
    assert_eq!(*order.lock().unwrap(), ["ran while it slept", "woke"]);
}

/// `yield_now` lets the other ready coroutines run, in turn.
#[test]
fn yield_now_interleaves() {
    let sched = one_worker();
    let log = Arc::new(Mutex::new(String::new()));
    let l2 = log.clone();
    let h = sched
        .spawn(move || {
            let hs: Vec<_> = ["a", "b"]
                .into_iter()
                .map(|name| {
                    let l = l2.clone();
                    green::spawn(move || {
                        for _ in 0..3 {
                            l.lock().unwrap().push_str(name);
                            green::yield_now();
                        }
                    })
                    .unwrap()
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        })
        .unwrap();
    join("yield", h);
    assert_eq!(*log.lock().unwrap(), "ababab");
}

/// `unblock` runs a thread-blocking call elsewhere (borrowing from the coroutine's stack)
/// while the worker runs other coroutines.
#[test]
fn unblock_runs_elsewhere_and_borrows() {
    let sched = one_worker();
    let ticks = Arc::new(AtomicUsize::new(0));
    let t2 = ticks.clone();
    let h = sched
        .spawn(move || {
            let t3 = t2.clone();
            let ticker = green::spawn(move || {
                for _ in 0..5 {
                    t3.fetch_add(1, Ordering::Relaxed);
                    green::sleep(Duration::from_millis(2));
                }
            })
            .unwrap();
            let mut buf = [0u8; 8];
            let worker = std::thread::current().id();
            let (other_thread, n) = green::unblock(|| {
                // Blocks its thread; the worker keeps running the ticker.
                let start = Instant::now();
                while t2.load(Ordering::Relaxed) < 5 && start.elapsed() < LIMIT {
                    std::thread::sleep(Duration::from_millis(1));
                }
                buf.fill(7);
                (std::thread::current().id() != worker, buf.len())
            });
            ticker.join().unwrap();
            (other_thread, n, buf.iter().all(|&b| b == 7))
        })
        .unwrap();
    assert_eq!(join("unblock", h), (true, 8, true));
    assert_eq!(ticks.load(Ordering::Relaxed), 5);
    // A panic in the closure comes back to the caller.
    let h = sched
        .spawn(|| green::unblock(|| -> () { panic!("unblock panic (expected)") }))
        .unwrap();
    assert!(bounded("unblock panic", move || h.join()).is_err());
}

/// `block_on` inside a coroutine parks it while the future is pending.
#[test]
fn block_on_an_async_read_inside_a_coroutine() {
    use futures_lite::AsyncReadExt;
    let sched = one_worker();
    let h = sched
        .spawn(|| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let writer = green::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                green::sleep(Duration::from_millis(5));
                s.write_all(b"late").unwrap();
            })
            .unwrap();
            let mut c = TcpStream::connect(addr).unwrap().into_async();
            let mut b = [0u8; 4];
            green::block_on(c.read_exact(&mut b)).unwrap();
            writer.join().unwrap();
            b
        })
        .unwrap();
    assert_eq!(&join("block_on", h), b"late");
}

/// A thread-local and an `Rc` used across blocking calls stay on the coroutine's thread.
#[test]
fn thread_locals_and_rc_stay_on_one_thread() {
    thread_local! {
        static MINE: Cell<usize> = const { Cell::new(0) };
    }
    let sched = Scheduler::builder().workers(2).build().unwrap();
    let hs: Vec<_> = (0..4)
        .map(|i| {
            sched
                .spawn(move || {
                    let rc = Rc::new(i);
                    let me = std::thread::current().id();
                    MINE.with(|m| m.set(m.get() + 1));
                    let before = MINE.with(Cell::get);
                    for _ in 0..10 {
                        green::sleep(Duration::from_millis(1));
                        assert_eq!(std::thread::current().id(), me, "coroutine moved");
                        green::yield_now();
                    }
                    // Other coroutines of this worker may have bumped it: never lowered.
                    assert!(MINE.with(Cell::get) >= before);
                    *rc
                })
                .unwrap()
        })
        .collect();
    for (i, h) in hs.into_iter().enumerate() {
        assert_eq!(join("rc", h), i);
    }
}

/// Dropping the scheduler while a coroutine is parked in a read unwinds its stack: the
/// read lock it held is released (another reader gets the data) and its frames' destructors
/// run.
#[test]
fn shutdown_unwinds_a_parked_coroutine() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let rt = Runtime::builder().capacity(64).build().unwrap();
    let l = TcpListener::bind_in(&rt, "127.0.0.1:0").unwrap();
    let mut c = TcpStream::connect_in(&rt, l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    let s = Arc::new(s);
    let dropped = Arc::new(AtomicUsize::new(0));
    let sched = one_worker();
    let (s2, d2) = (s.clone(), dropped.clone());
    let h = sched
        .spawn(move || {
            let _flag = Flag(d2);
            let _ = (&*s2).read(&mut [0u8; 4]);
        })
        .unwrap();
    util::eventually("coroutine parked", || rt.stats().parked_now == 1);
    bounded("shutdown", move || sched.shutdown());
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the stack was not unwound"
    );
    assert_eq!(rt.stats().parked_now, 0);
    assert!(bounded("join", move || h.join()).is_err(), "cancelled");
    // The read lock is free again: a plain thread reads what the client sends.
    c.write_all(b"data").unwrap();
    let mut b = [0u8; 4];
    let s3 = s.clone();
    let got = bounded("read after unwind", move || {
        s3.set_read_deadline(Some(Instant::now() + LIMIT)).unwrap();
        (&*s3).read_exact(&mut b).map(|()| b)
    });
    assert_eq!(&got.unwrap(), b"data");
}

const CHILD: &str = "NETPOLL_GREEN_OVERFLOW_CHILD";

#[inline(never)]
fn recurse(n: u64) -> u64 {
    let pad = std::hint::black_box([n; 64]);
    if n == u64::MAX {
        return pad[0];
    }
    recurse(n + 1) + std::hint::black_box(pad[1])
}

#[test]
#[ignore = "run by a_stack_overflow_ends_the_process_with_a_message in a child process"]
fn child_overflows_a_coroutine_stack() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let sched = Scheduler::builder()
        .workers(1)
        .stack_size(64 * 1024)
        .build()
        .unwrap();
    let h = sched.spawn(|| recurse(0)).unwrap();
    let _ = h.join();
    unreachable!("the overflow did not end the process");
}

#[test]
fn a_stack_overflow_ends_the_process_with_a_message() {
    let exe = std::env::current_exe().unwrap();
    let out = bounded("child", move || {
        Command::new(exe)
            .args([
                "child_overflows_a_coroutine_stack",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap()
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the child did not abort: {:?}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("a green coroutine overflowed its stack of 65536 bytes"),
        "no overflow message:\n{stderr}"
    );
}

#[cfg(target_os = "linux")]
const RSS_CHILD: &str = "NETPOLL_GREEN_RSS_CHILD";

#[cfg(target_os = "linux")]
fn vm_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// In a child process (so no other test's memory moves the figure): 1,000 coroutines with
/// 8 MiB stacks (8 GiB of address space) each parked in `sleep`; prints the resident growth
/// per coroutine.
#[test]
#[cfg(target_os = "linux")]
#[ignore = "run by stacks_take_memory_only_where_touched in a child process"]
fn child_parks_many_big_stacks() {
    if std::env::var_os(RSS_CHILD).is_none() {
        return;
    }
    const N: u64 = 1000;
    let sched = Scheduler::builder()
        .workers(1)
        .stack_size(8 << 20)
        .build()
        .unwrap();
    // Warm up the worker, the allocator and the scheduler's own structures first.
    sched
        .spawn(|| green::sleep(Duration::from_millis(1)))
        .unwrap()
        .join()
        .unwrap();
    let before = vm_rss_kib();
    let parked = Arc::new(AtomicUsize::new(0));
    let hs: Vec<_> = (0..N)
        .map(|_| {
            let p = parked.clone();
            sched
                .spawn(move || {
                    p.fetch_add(1, Ordering::SeqCst);
                    green::sleep(Duration::from_millis(500));
                })
                .unwrap()
        })
        .collect();
    util::eventually("all parked", || parked.load(Ordering::SeqCst) == N as usize);
    let after = vm_rss_kib();
    println!(
        "rss-per-coroutine-bytes {}",
        (after.saturating_sub(before)) * 1024 / N
    );
    for h in hs {
        h.join().unwrap();
    }
}

/// A stack is reserved address space: resident memory grows by the pages a coroutine
/// touches (a few KiB), not by its 8 MiB stack size.
#[test]
#[cfg(target_os = "linux")]
fn stacks_take_memory_only_where_touched() {
    let exe = std::env::current_exe().unwrap();
    let out = bounded("child", move || {
        Command::new(exe)
            .args([
                "child_parks_many_big_stacks",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(RSS_CHILD, "1")
            .output()
            .unwrap()
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let per: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("rss-per-coroutine-bytes "))
        .expect("no figure")
        .trim()
        .parse()
        .unwrap();
    // Touched: the top stack pages and the task's heap part; far below 8 MiB (or even 64 KiB).
    assert!(per < 64 * 1024, "{per} bytes resident per coroutine");
    eprintln!("resident per parked coroutine: {per} bytes");
}
