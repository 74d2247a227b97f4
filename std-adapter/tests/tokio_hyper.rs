//! The `tokio` feature: tokio's I/O traits on the async faces, exercised by a real HTTP/1.1
//! server and client (hyper) under a tokio runtime, with read deadlines firing on both sides,
//! and by `tokio::io::copy` between split halves.

mod util;

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use netpoll_std::{deadline_after, is_timeout, Async, Runtime, TcpListener, TcpStream};
use util::{bounded, in_ms};

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

/// A stream that remembers the errors its reads returned. hyper ends an idle keep-alive
/// connection quietly when a read fails, so the test looks here for the deadline's error.
struct Recorder<T> {
    io: T,
    errors: Arc<Mutex<Vec<io::Error>>>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Recorder<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let p = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Err(e)) = &p {
            self.errors.lock().unwrap().push(copy_of(e));
        }
        p
    }
}

/// A copy of an error: a netpoll `OpError` whole (so `is_timeout` still works on it), any
/// other by kind and message.
fn copy_of(e: &io::Error) -> io::Error {
    match e
        .get_ref()
        .and_then(|i| i.downcast_ref::<netpoll_std::OpError>())
    {
        Some(op) => io::Error::new(e.kind(), op.clone()),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Recorder<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

fn recorder<T>(io: T) -> (Recorder<T>, Arc<Mutex<Vec<io::Error>>>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    (
        Recorder {
            io,
            errors: errors.clone(),
        },
        errors,
    )
}

/// The one read error recorded: our timeout, naming the read and the connection.
fn assert_read_timed_out(errors: &Mutex<Vec<io::Error>>) {
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert!(is_timeout(e), "{e}");
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(e.to_string().starts_with("read tcp 127.0.0.1:"), "{e}");
}

/// A GET served by hyper on a netpoll stream; after the response the handler arms a short
/// read deadline (Go's idle timeout), and the keep-alive connection ends with our timeout.
fn hyper_round_trip_then_idle_deadline(rt: &Runtime) {
    let rt = rt.clone();
    bounded("hyper round trip", move || {
        tokio_rt().block_on(async move {
            let l = TcpListener::bind_in(&rt, "127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let server = async {
                let (s, _) = l.accept_async().await.unwrap();
                let s = Arc::new(s);
                let conn = s.clone();
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    // The next request must come soon: the read that waits for it fails.
                    conn.set_read_deadline(in_ms(50)).unwrap();
                    let body = format!("hello {}", req.uri().path());
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
                });
                let (io, errors) = recorder(&*s);
                let end = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(io), service)
                    .await;
                (end, errors)
            };
            let client = async {
                let c = TcpStream::connect_async_in(&rt, addr, None).await.unwrap();
                let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(c))
                    .await
                    .unwrap();
                let driver = tokio::task::spawn_local(conn);
                let req = Request::get("/netpoll")
                    .header("host", "127.0.0.1")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let resp = sender.send_request(req).await.unwrap();
                assert_eq!(resp.status(), 200);
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                // Keep the connection open (idle) until the server gives up on it.
                let end = driver.await.unwrap();
                drop(sender);
                (body, end)
            };
            let local = tokio::task::LocalSet::new();
            let ((served, errors), (body, client_end)) = local
                .run_until(async { futures_lite::future::zip(server, client).await })
                .await;
            assert_eq!(&body[..], b"hello /netpoll");
            // hyper ends an idle connection whose read fails without an error of its own.
            served.unwrap();
            assert_read_timed_out(&errors);
            // The server closed the connection: the client's connection task ends cleanly.
            client_end.unwrap();
        })
    });
}

/// A client whose read deadline fires while the server keeps it waiting for a response.
fn hyper_client_read_deadline(rt: &Runtime) {
    let rt = rt.clone();
    bounded("hyper client deadline", move || {
        tokio_rt().block_on(async move {
            let l = TcpListener::bind_in(&rt, "127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            // A server that accepts and reads but never answers.
            let accepted = l.accept_async();
            let c = TcpStream::connect_async_in(&rt, addr, None).await.unwrap();
            let (s, _) = accepted.await.unwrap();
            c.set_read_deadline(deadline_after(Duration::from_millis(50)))
                .unwrap();
            let (io, errors) = recorder(c);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                .await
                .unwrap();
            let req = Request::get("/slow")
                .header("host", "127.0.0.1")
                .body(Empty::<Bytes>::new())
                .unwrap();
            let (sent, conn_end) = futures_lite::future::zip(sender.send_request(req), conn).await;
            // hyper hands our error on, as the request's cause.
            let err = sent.expect_err("no response came before the read deadline");
            let cause = std::error::Error::source(&err)
                .and_then(|c| c.downcast_ref::<io::Error>())
                .unwrap_or_else(|| panic!("not an I/O error: {err:?}"));
            assert!(is_timeout(cause), "{cause}");
            let _ = conn_end; // the connection task ends once the request failed
            assert_read_timed_out(&errors);
            drop(s);
        })
    });
}

/// `tokio::io::copy` from a read half to a write half (an echo), with tokio's extension traits.
fn tokio_copy_between_halves(rt: &Runtime) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (c, s) = util::tcp_pair(rt);
    bounded("tokio copy", move || {
        tokio_rt().block_on(async move {
            let (mut rd, mut wr) = s.into_async().into_split();
            let echo = async move {
                let n = tokio::io::copy(&mut rd, &mut wr).await.unwrap();
                AsyncWriteExt::shutdown(&mut wr).await.unwrap();
                n
            };
            let mut c: Async<TcpStream> = c.into_async();
            let client = async move {
                let msg: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
                c.write_all(&msg).await.unwrap();
                c.shutdown().await.unwrap();
                let mut back = Vec::new();
                c.read_to_end(&mut back).await.unwrap();
                assert_eq!(back, msg);
            };
            let (n, ()) = futures_lite::future::zip(echo, client).await;
            assert_eq!(n, 100_000);
        })
    });
}

per_backend!(
    hyper_round_trip_then_idle_deadline,
    hyper_client_read_deadline,
    tokio_copy_between_halves,
);
