package main

import (
	"net"
	"testing"
	"time"
)

// connPair returns both ends of a loopback TCP connection.
func connPair(b *testing.B) (net.Conn, net.Conn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, aerr := l.Accept()
		if aerr != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		b.Fatal("accept failed")
	}
	return c, s
}

// BenchmarkSetReadDeadline measures one deadline reset as a server does before every Read:
// a fresh absolute deadline 30 s ahead, never reached.
func BenchmarkSetReadDeadline(b *testing.B) {
	c, s := connPair(b)
	defer c.Close()
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetReadDeadlinePrecomputed measures the deadline reset alone: the deadline is
// computed from one clock read before the loop (30 s ahead) and advanced by 1 ns per
// iteration, so every call sets a new, strictly later deadline without reading the clock.
func BenchmarkSetReadDeadlinePrecomputed(b *testing.B) {
	c, s := connPair(b)
	defer c.Close()
	defer s.Close()
	base := time.Now().Add(30 * time.Second)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.SetReadDeadline(base.Add(time.Duration(i))); err != nil {
			b.Fatal(err)
		}
	}
}
