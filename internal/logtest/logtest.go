// Package logtest holds what tests need to read the logs of code that logs
// from several goroutines at once, and to look for a value in them without
// finding it by chance.
//
// It exists because "no record value ever reaches a log" is a promise of the
// bridge, and many tests check it: intake's, dispatch's, the sandbox
// commands', redrive's, the end-to-end tests and the soak. Such a check must
// neither race nor pass or fail by chance: the log is written by a
// handler's goroutines while the test reads it, and a plain substring
// search finds a five-digit ZIP inside a nanosecond timestamp or a TCP port
// now and then. One Buffer (there were four copies of it before) and one
// ContainsValue make the check the same, and exact, everywhere.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent writers (a handler's
// goroutines, the processes of the local stack) and a concurrent reader.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
