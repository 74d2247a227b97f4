package main

import (
	"runtime"
	"testing"
)

// BenchmarkGoroutineSwitch measures goroutine park/resume pairs: two goroutines on one OS
// thread (GOMAXPROCS=1) pass a token back and forth over unbuffered channels. Each iteration
// is one round trip: the receiver parked in `<-ping` is made runnable and resumed, the sender
// parks in `<-pong`, and the same back, so one iteration is two park/resume pairs; the runner
// halves the figure.
func BenchmarkGoroutineSwitch(b *testing.B) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	ping := make(chan struct{})
	pong := make(chan struct{})
	go func() {
		for range ping {
			pong <- struct{}{}
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ping <- struct{}{}
		<-pong
	}
	b.StopTimer()
	close(ping)
}
