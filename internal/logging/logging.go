// Package logging builds the service's log: slog's text or JSON handler over a buffered writer.
//
// The request log writes a line per request; written straight to a file or a pipe, each line costs
// a write system call, which on a warm proxied call was a large share of the server's own CPU
// (docs/benchmarks.md). Lines are therefore gathered in a buffer and written together: when the
// buffer fills, FlushInterval after the first line it holds, right after any record at WARN or
// above (so errors reach the log at once, and with them the lines before them), and on Close.
//
// What a crash can lose: a process killed without Close (SIGKILL, a fatal runtime error, a panic
// outside a request) loses the INFO and DEBUG lines of at most the last FlushInterval, never a
// WARN or ERROR line. A panic in a request handler is recovered and answered 500, and that answer
// is logged at ERROR, which flushes; a panic on Serve's own goroutine still runs its deferred Close.
package logging

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// FlushInterval is the longest a line waits in the buffer before it is written.
const FlushInterval = 100 * time.Millisecond

// bufferSize is the buffer's size: about four hundred request lines.
const bufferSize = 64 << 10

// New returns a logger writing to w in format ("json", else text), and the writer beneath it, which
// the caller closes once nothing logs any more to write what it still holds.
func New(w io.Writer, format string) (*slog.Logger, *Writer) {
	bw := NewWriter(w)
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(bw, nil)
	} else {
		h = slog.NewTextHandler(bw, nil)
	}
	return slog.New(&flushingHandler{Handler: h, w: bw}), bw
}

// Writer is a buffered writer, safe for concurrent use, that writes what it holds at the latest
// FlushInterval after it was written. It is hand-written because bufio.Writer is neither safe for
// concurrent use nor flushed by time, and its errors are sticky: here a failed write drops what was
// buffered, and later lines are tried again, as they would be unbuffered.
type Writer struct {
	mu      sync.Mutex
	out     io.Writer
	buf     *bufio.Writer
	timer   *time.Timer
	pending bool // the timer is set to flush what the buffer holds
	closed  bool
}

// NewWriter returns a Writer over out.
func NewWriter(out io.Writer) *Writer {
	w := &Writer{out: out, buf: bufio.NewWriterSize(out, bufferSize)}
	w.timer = time.AfterFunc(time.Hour, func() { _ = w.Flush() })
	w.timer.Stop()
	return w
}

// Write buffers p; slog's handlers write each record with one call, so a line is never split.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.out.Write(p)
	}
	n, err := w.buf.Write(p)
	if err != nil {
		w.buf.Reset(w.out)
		return n, err
	}
	if !w.pending && w.buf.Buffered() > 0 {
		w.pending = true
		w.timer.Reset(FlushInterval)
	}
	return n, nil
}

// Flush writes what the buffer holds.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	w.pending = false
	err := w.buf.Flush()
	if err != nil {
		w.buf.Reset(w.out) // drop what could not be written, rather than fail every later line
	}
	return err
}

// Close writes what the buffer holds; later writes go straight to the underlying writer. It does
// not close that writer.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer.Stop()
	w.closed = true
	return w.flushLocked()
}

// flushingHandler flushes its writer after each record at WARN or above.
type flushingHandler struct {
	slog.Handler
	w *Writer
}

func (h *flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &flushingHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w}
}

func (h *flushingHandler) WithGroup(name string) slog.Handler {
	return &flushingHandler{Handler: h.Handler.WithGroup(name), w: h.w}
}
