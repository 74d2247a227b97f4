//! One client connection: what it still has to write and which sends await their echo.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;

/// Bytes sent as message payload; every message is a prefix (or repetition) of this.
static PATTERN: [u8; 16 * 1024] = {
    let mut p = [0u8; 16 * 1024];
    let mut i = 0;
    while i < p.len() {
        p[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    p
};

/// A connection driven by the load generator's event loop.
pub struct Conn {
    pub(crate) stream: TcpStream,
    /// Bytes of queued messages not yet accepted by the kernel.
    to_write: usize,
    /// Bytes of the next echoed message received so far.
    partial: usize,
    /// Start time of every message sent (or scheduled) and not yet echoed, oldest first.
    pub(crate) inflight: VecDeque<Instant>,
    /// Messages echoed inside the measurement window.
    pub(crate) count: u64,
    /// Hold mode: when this (active) connection sends next.
    pub(crate) next_send: Option<Instant>,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            to_write: 0,
            partial: 0,
            inflight: VecDeque::new(),
            count: 0,
            next_send: None,
        }
    }

    /// Queues one message of `size` bytes started (or scheduled) at `start` and writes what the
    /// kernel takes now.
    pub(crate) fn send(&mut self, size: usize, start: Instant) -> io::Result<()> {
        self.inflight.push_back(start);
        self.to_write += size;
        self.flush()
    }

    /// Writes queued bytes until done or the socket would block.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        while self.to_write > 0 {
            let n = self.to_write.min(PATTERN.len());
            match self.stream.write(&PATTERN[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => self.to_write -= w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads everything available; calls `done(start)` for each fully echoed message.
    /// Returns an error on EOF or on more bytes than were sent.
    pub(crate) fn read_echoes(
        &mut self,
        size: usize,
        scratch: &mut [u8],
        mut done: impl FnMut(Instant),
    ) -> io::Result<()> {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.partial += n;
                    while self.partial >= size {
                        self.partial -= size;
                        let start = self.inflight.pop_front().ok_or_else(|| {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                "server sent unrequested bytes",
                            )
                        })?;
                        done(start);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
