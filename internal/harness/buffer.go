package harness

import (
	"bytes"
	"sync"
)

// Buffer collects what a process or logger writes while the test reads
// it: a bytes.Buffer safe for concurrent use. It is a zapcore.WriteSyncer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// Sync does nothing: what was written is there.
func (b *Buffer) Sync() error { return nil }

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
