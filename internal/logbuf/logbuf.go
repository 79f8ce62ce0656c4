// Package logbuf gathers log lines and writes them in batches: one write
// system call per interval instead of one per line. A busy server logs a
// line per request, and at ten thousand requests a second the writes alone
// cost as much CPU as a request's decryption.
//
// Lines are held at most one interval, written at once when the buffer
// reaches its size, and flushed by Flush and Close. Handler flushes after
// every record at warning level or above, so that errors (and a message
// before the process halts) are out before anything else happens. What a
// SIGKILL or a runtime crash loses is the last interval of lower-level
// lines; the audit log, not this log, is the record of access.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Size is the number of buffered bytes that makes Write flush at once.
const Size = 64 << 10

// Writer batches writes to an underlying writer. It is safe for concurrent
// use; each Write is kept whole and in order.
type Writer struct {
	every time.Duration

	out sync.Mutex // held while writing to w: keeps batches in order
	w   io.Writer

	mu     sync.Mutex // guards the fields below
	buf    []byte
	spare  []byte
	timer  *time.Timer
	armed  bool
	closed bool
	err    error // the last write error, reported by the next Flush
}

// New returns a Writer that holds lines for at most every before writing
// them to w. With every ≤ 0 it writes each line through at once.
func New(w io.Writer, every time.Duration) *Writer {
	b := &Writer{w: w, every: every}
	if every > 0 {
		b.timer = time.AfterFunc(time.Hour, func() { _ = b.flush(true) })
		b.timer.Stop()
	}
	return b
}

// Write holds p for the next batch (a copy: p may be reused by the
// caller), or writes it through when the Writer is unbuffered or closed.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.timer == nil || b.closed {
		b.mu.Unlock()
		b.out.Lock()
		defer b.out.Unlock()
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= Size
	if !full && !b.armed {
		b.armed = true
		b.timer.Reset(b.every)
	}
	b.mu.Unlock()
	if full {
		if err := b.flush(false); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// Flush writes what the Writer holds and reports a write error since the
// last Flush.
func (b *Writer) Flush() error { return b.flush(false) }

// flush writes the held bytes; fromTimer marks the timer's call, which
// disarms it.
func (b *Writer) flush(fromTimer bool) error {
	b.out.Lock()
	defer b.out.Unlock()
	return b.flushLocked(fromTimer)
}

// flushLocked is flush with b.out held.
func (b *Writer) flushLocked(fromTimer bool) error {
	b.mu.Lock()
	if fromTimer {
		b.armed = false
	}
	batch := b.buf
	b.buf = b.spare[:0]
	b.spare = nil
	b.mu.Unlock()
	var err error
	if len(batch) > 0 {
		_, err = b.w.Write(batch)
	}
	b.mu.Lock()
	if cap(batch) <= 4*Size {
		b.spare = batch[:0]
	}
	switch {
	case err == nil:
		err, b.err = b.err, nil // a timed write's failure, reported once
	case fromTimer:
		b.err = err
	default:
		b.err = nil // this failure is reported now, and supersedes it
	}
	b.mu.Unlock()
	return err
}

// Close flushes and makes later writes go through at once. It does not
// close the underlying writer.
func (b *Writer) Close() error {
	b.out.Lock() // before closed is set: no line written through overtakes the batch
	defer b.out.Unlock()
	b.mu.Lock()
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
	}
	b.mu.Unlock()
	return b.flushLocked(false)
}

// Handler wraps h, which writes to w, to flush w after every record at
// slog.LevelWarn or above.
func Handler(h slog.Handler, w *Writer) slog.Handler {
	return flushing{h, w}
}

type flushing struct {
	slog.Handler
	w *Writer
}

func (f flushing) Handle(ctx context.Context, r slog.Record) error {
	err := f.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := f.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (f flushing) WithAttrs(as []slog.Attr) slog.Handler {
	return flushing{f.Handler.WithAttrs(as), f.w}
}

func (f flushing) WithGroup(name string) slog.Handler {
	return flushing{f.Handler.WithGroup(name), f.w}
}
