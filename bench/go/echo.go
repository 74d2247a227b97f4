// Command echo is the Go peer server of the netpoll benchmark suite: one goroutine per
// connection over the standard net package.
//
//	echo -addr 127.0.0.1:7000 [-deadline 30s] [-deadline-on read|both] [-buf 4096]
//
// With -deadline, SetReadDeadline is called before every Read and (with -deadline-on both, the
// default) SetWriteDeadline before every Write, which is the deadline-churn pattern the suite
// measures; -deadline-on read is a server's idle timeout alone.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

func serveConn(c net.Conn, bufSize int, deadline time.Duration, writeDeadline bool) {
	defer c.Close()
	b := make([]byte, bufSize)
	for {
		if deadline > 0 {
			if err := c.SetReadDeadline(time.Now().Add(deadline)); err != nil {
				return
			}
		}
		n, err := c.Read(b)
		if n > 0 {
			if deadline > 0 && writeDeadline {
				if werr := c.SetWriteDeadline(time.Now().Add(deadline)); werr != nil {
					return
				}
			}
			if _, werr := c.Write(b[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "listen address")
	deadline := flag.Duration("deadline", 0, "read/write deadline set before every I/O (0: none)")
	deadlineOn := flag.String("deadline-on", "both", "what -deadline bounds: read, or both reads and writes")
	bufSize := flag.Int("buf", 4096, "read buffer size per connection")
	flag.Parse()
	if *deadlineOn != "read" && *deadlineOn != "both" {
		fmt.Fprintln(os.Stderr, "echo: -deadline-on must be read or both")
		os.Exit(2)
	}
	if *bufSize <= 0 {
		fmt.Fprintln(os.Stderr, "echo: -buf must be > 0")
		os.Exit(2)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo: accept:", err)
			continue
		}
		go serveConn(c, *bufSize, *deadline, *deadlineOn == "both")
	}
}
