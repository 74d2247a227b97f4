//! Several users of one socket at once, and the socket's lifetime: the cases of Go's
//! `internal/poll.fdMutex` (issue 9). Each test pins a case that hung or misreported before the
//! core had direction locks, reference counts and a close that wakes everyone, on every
//! backend; every wait is bounded, so a regression fails instead of hanging the run.

mod util;

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use futures_lite::AsyncReadExt;
use netpoll_std::{is_closed, is_timeout, Async, Runtime, Server, TcpListener, TcpStream};
use util::{bounded, eventually, in_ms, tcp_pair, LIMIT};

/// A reader on its own thread: its one message, or the error.
type Reader = thread::JoinHandle<io::Result<Vec<u8>>>;

/// An async read of one message through a shared reference, on its own thread.
fn async_reader(s: &Arc<TcpStream>) -> Reader {
    let s = s.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 16];
        let n = block_on(AsyncReadExt::read(&mut s.as_async(), &mut buf))?;
        Ok(buf[..n].to_vec())
    })
}

/// A blocking read of one message through a shared reference, on its own thread.
fn blocking_reader(s: &Arc<TcpStream>) -> Reader {
    let s = s.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 16];
        let n = Read::read(&mut &*s, &mut buf)?;
        Ok(buf[..n].to_vec())
    })
}

/// Two readers wait on one socket; two one-byte messages arrive, one after the other (the
/// second only once one reader has its byte). Each reader gets one: the second is not left
/// waiting behind a waker that was replaced.
fn two_readers_each_get_a_message(rt: &Runtime, make: [fn(&Arc<TcpStream>) -> Reader; 2]) {
    let (mut c, s) = tcp_pair(rt);
    let s = Arc::new(s);
    let parks = |rt: &Runtime| rt.stats().parks + rt.stats().async_parks;
    let base = parks(rt);
    let first = make[0](&s);
    eventually("first reader waits", || parks(rt) > base);
    let base = parks(rt);
    let second = make[1](&s);
    eventually("second reader waits", || parks(rt) > base);
    let got = bounded("both readers", move || {
        Write::write_all(&mut c, b"a").unwrap();
        // Whichever reader got "a", the other still waits for "b".
        eventually("one reader done", || {
            first.is_finished() || second.is_finished()
        });
        Write::write_all(&mut c, b"b").unwrap();
        let mut got = vec![
            first.join().unwrap().unwrap(),
            second.join().unwrap().unwrap(),
        ];
        got.sort();
        got
    });
    assert_eq!(got, [b"a".to_vec(), b"b".to_vec()]);
}

fn two_async_readers_on_a_shared_stream_both_complete(rt: &Runtime) {
    two_readers_each_get_a_message(rt, [async_reader, async_reader]);
}

fn blocking_and_async_readers_on_one_stream_both_complete(rt: &Runtime) {
    two_readers_each_get_a_message(rt, [blocking_reader, async_reader]);
    two_readers_each_get_a_message(rt, [async_reader, blocking_reader]);
}

/// Any number of readers and writers, blocking and async mixed, parked and queued on one
/// socket: `close` wakes every one of them with "use of closed network connection".
fn close_wakes_every_reader_and_writer(rt: &Runtime) {
    let (c, s) = tcp_pair(rt);
    let s = Arc::new(s);
    // Writers of more than the socket buffers hold (nobody reads) block too.
    let parks = |rt: &Runtime| rt.stats().parks + rt.stats().async_parks;
    let base = parks(rt);
    let mut users: Vec<thread::JoinHandle<io::Result<()>>> = Vec::new();
    for i in 0..6 {
        let s = s.clone();
        users.push(thread::spawn(move || {
            let mut buf = [0u8; 16];
            match i % 3 {
                0 => Read::read(&mut &*s, &mut buf).map(drop),
                1 => block_on(AsyncReadExt::read(&mut s.as_async(), &mut buf)).map(drop),
                _ => {
                    use futures_lite::AsyncWriteExt;
                    let big = vec![1u8; 64 << 20];
                    if i % 2 == 0 {
                        Write::write_all(&mut &*s, &big)
                    } else {
                        block_on(AsyncWriteExt::write_all(&mut s.as_async(), &big))
                    }
                }
            }
        }));
    }
    eventually("everyone waits", || parks(rt) >= base + 6);
    s.close().unwrap();
    let results = bounded("every waiter returns", move || {
        users
            .into_iter()
            .map(|u| u.join().unwrap())
            .collect::<Vec<_>>()
    });
    for (i, r) in results.into_iter().enumerate() {
        let e = r.expect_err("closed under it");
        assert!(is_closed(&e), "user {i}: {e} ({:?})", e.kind());
    }
    drop(c);
}

/// Go's `TestReadTimeout` shape with two readers: the deadline wakes both, not only the one
/// parked in the waiter slot.
fn deadline_wakes_every_reader(rt: &Runtime) {
    let (_c, s) = tcp_pair(rt);
    let s = Arc::new(s);
    let readers = [async_reader(&s), blocking_reader(&s), async_reader(&s)];
    s.set_read_deadline(in_ms(50)).unwrap();
    let results = bounded("every reader times out", move || {
        readers.map(|r| r.join().unwrap())
    });
    for r in results {
        let e = r.expect_err("nothing was sent");
        assert!(is_timeout(&e), "{e}");
    }
}

/// A TCP read stops short at the urgent mark (a peer's one `MSG_OOB` byte) with data still
/// queued: the next read must return that data, not wait for an edge that never comes.
fn read_after_a_short_read_at_the_urgent_mark(rt: &Runtime, blocking: bool) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    let s = TcpStream::from_std_in(s, rt).unwrap();
    peer.set_nodelay(true).unwrap();
    peer.write_all(b"abc").unwrap();
    let sent = socket2::SockRef::from(&peer).send_out_of_band(b"!");
    assert_eq!(sent.unwrap(), 1, "send(MSG_OOB)");
    peer.write_all(b"def").unwrap();
    // Let all three segments arrive before the first read, so that no later edge can help.
    thread::sleep(Duration::from_millis(50));
    s.set_read_deadline(in_ms(2_000)).unwrap();
    let got = bounded("reads across the urgent mark", move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < 6 {
            let n = if blocking {
                Read::read(&mut &s, &mut buf)
            } else {
                block_on(AsyncReadExt::read(&mut s.as_async(), &mut buf))
            }
            .map_err(|e| format!("after {:?}: {e}", String::from_utf8_lossy(&got)))?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        Ok::<_, String>(got)
    });
    assert_eq!(got.unwrap(), b"abcdef", "the urgent byte is out of band");
}

fn urgent_mark_blocking(rt: &Runtime) {
    read_after_a_short_read_at_the_urgent_mark(rt, true);
}

fn urgent_mark_async(rt: &Runtime) {
    read_after_a_short_read_at_the_urgent_mark(rt, false);
}

/// Send `data` on a Unix socket with a descriptor (this process's stdin) attached.
#[cfg(unix)]
fn send_with_fd(s: &std::os::unix::net::UnixStream, data: &[u8]) {
    use std::os::fd::AsRawFd;
    let fd: libc::c_int = 0;
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: zeroed is a valid msghdr; the fields set below point at live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer has room for one header with one descriptor (CMSG_SPACE).
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::copy_nonoverlapping(
            (&fd as *const libc::c_int).cast::<u8>(),
            libc::CMSG_DATA(cmsg),
            std::mem::size_of::<libc::c_int>(),
        );
    }
    // SAFETY: `msg` describes valid buffers for the duration of the call.
    let n = unsafe { libc::sendmsg(s.as_raw_fd(), &msg, 0) };
    assert_eq!(
        n as usize,
        data.len(),
        "sendmsg: {}",
        io::Error::last_os_error()
    );
}

/// A Unix stream read stops after a segment that carries `SCM_RIGHTS`, with more data queued
/// behind it: the next read must return that data.
#[cfg(unix)]
fn read_after_a_short_read_at_scm_rights(rt: &Runtime, blocking: bool) {
    let (ours, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let s = netpoll_std::UnixStream::from_std_in(ours, rt).unwrap();
    (&peer).write_all(b"abc").unwrap();
    send_with_fd(&peer, b"def");
    (&peer).write_all(b"ghi").unwrap();
    s.set_read_deadline(in_ms(2_000)).unwrap();
    let got = bounded("reads across the descriptor", move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < 9 {
            let n = if blocking {
                Read::read(&mut &s, &mut buf)
            } else {
                block_on(AsyncReadExt::read(&mut s.as_async(), &mut buf))
            }
            .map_err(|e| format!("after {:?}: {e}", String::from_utf8_lossy(&got)))?;
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        Ok::<_, String>(got)
    });
    assert_eq!(got.unwrap(), b"abcdefghi");
    drop(peer);
}

#[cfg(unix)]
fn scm_rights_blocking(rt: &Runtime) {
    read_after_a_short_read_at_scm_rights(rt, true);
}

#[cfg(unix)]
fn scm_rights_async(rt: &Runtime) {
    read_after_a_short_read_at_scm_rights(rt, false);
}

/// A write racing a local `close` reports "use of closed network connection", never the
/// `EPIPE` or `ECONNRESET` that the close's shutdown provokes; so does a read (never the
/// end-of-file the shutdown makes the kernel report).
fn io_racing_a_local_close_reports_closed(rt: &Runtime) {
    let start = Instant::now();
    let mut rounds = 0;
    // A few hundred rounds: the close lands at every point of the writer's loop.
    while rounds < 300 && start.elapsed() < Duration::from_secs(5) {
        rounds += 1;
        let (c, s) = tcp_pair(rt);
        let s = Arc::new(s);
        let (w, r) = (s.clone(), s.clone());
        let writer = thread::spawn(move || -> io::Result<()> {
            let buf = [7u8; 16 * 1024];
            loop {
                Write::write_all(&mut &*w, &buf)?;
            }
        });
        let reader = thread::spawn(move || -> io::Result<usize> {
            let mut buf = [0u8; 64];
            loop {
                Read::read(&mut &*r, &mut buf)?;
            }
        });
        // The peer reads a little, then stops: the writer alternates writing and waiting.
        let mut peer = c;
        let mut sink = [0u8; 4096];
        peer.set_read_deadline(in_ms(1)).unwrap();
        while Read::read(&mut peer, &mut sink).is_ok() {}
        if rounds % 2 == 0 {
            thread::yield_now();
        }
        s.close().unwrap();
        let (we, re) = bounded("writer and reader return", move || {
            (writer.join().unwrap(), reader.join().unwrap())
        });
        let we = we.expect_err("the writer never stops on its own");
        assert!(
            is_closed(&we),
            "round {rounds}: writer got {we} ({:?})",
            we.kind()
        );
        let re = re.expect_err("the reader never stops on its own");
        assert!(
            is_closed(&re),
            "round {rounds}: reader got {re} ({:?})",
            re.kind()
        );
    }
}

/// A blocking read inside an async handler: the worker that would have to run the loop (and
/// fire the deadline, and see the data arrive) is the thread that blocks, so it runs its
/// runtime's loop while it waits instead of parking. Before, the read hung forever.
fn blocking_read_in_an_async_handler(rt: &Runtime) {
    let l = TcpListener::bind_in(rt, "127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Result<Vec<u8>, String>>();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::new()
        .workers(1)
        .spawn_async(l, move |s: Async<TcpStream>| {
            let tx = tx.lock().unwrap().clone();
            async move {
                let mut buf = [0u8; 8];
                // Nothing comes: the deadline must fire on this (the worker's) thread.
                s.set_read_deadline(in_ms(100)).unwrap();
                let timed_out = match Read::read(&mut s.get_ref(), &mut buf) {
                    Err(e) if is_timeout(&e) => Ok(Vec::new()),
                    other => Err(format!("first read: {other:?}")),
                };
                let _ = tx.send(timed_out);
                // Then data comes: the edge must reach this thread's own wait.
                s.set_read_deadline(None).unwrap();
                let r = Read::read(&mut s.get_ref(), &mut buf)
                    .map(|n| buf[..n].to_vec())
                    .map_err(|e| e.to_string());
                let _ = tx.send(r);
            }
        })
        .unwrap();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    let first = rx
        .recv_timeout(LIMIT)
        .expect("the blocking read never returned");
    assert_eq!(first, Ok(Vec::new()), "expected a timeout");
    c.write_all(b"late").unwrap();
    let second = rx
        .recv_timeout(LIMIT)
        .expect("the blocking read never saw the data");
    assert_eq!(second, Ok(b"late".to_vec()));
    server.shutdown(Duration::from_secs(1));
}

per_backend!(
    two_async_readers_on_a_shared_stream_both_complete,
    blocking_and_async_readers_on_one_stream_both_complete,
    close_wakes_every_reader_and_writer,
    deadline_wakes_every_reader,
    urgent_mark_blocking,
    urgent_mark_async,
    #[cfg(unix)]
    scm_rights_blocking,
    #[cfg(unix)]
    scm_rights_async,
    io_racing_a_local_close_reports_closed,
    blocking_read_in_an_async_handler,
);
