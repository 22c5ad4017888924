package logging_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/logging"
	"github.com/plugboard/plugboard/internal/testlog"
)

// TestLinesAsUnbuffered checks that the buffered log writes, once closed, exactly what slog's
// handler writes unbuffered, in both formats.
func TestLinesAsUnbuffered(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var got, want bytes.Buffer
			logger, w := logging.New(&got, format)
			plain := slog.New(slog.NewTextHandler(&want, nil))
			if format == "json" {
				plain = slog.New(slog.NewJSONHandler(&want, nil))
			}
			for _, l := range []*slog.Logger{logger, plain} {
				l = l.With("component", "test")
				for i := range 1000 {
					l.LogAttrs(context.Background(), slog.LevelInfo, "request", slog.Int("n", i),
						slog.String("path", "/o/x/connections/y/proxy/v1"), slog.Duration("duration", time.Duration(i)))
				}
				l.WithGroup("g").Warn("warned", "k", "v")
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			// The timestamps differ; everything after them must not.
			strip := func(s string) string {
				var out []string
				for _, line := range strings.Split(s, "\n") {
					if i := strings.Index(line, "level"); i >= 0 {
						line = line[i:]
					}
					out = append(out, line)
				}
				return strings.Join(out, "\n")
			}
			if strip(got.String()) != strip(want.String()) {
				t.Errorf("buffered log differs from slog's own:\n%.300s\nwant\n%.300s", got.String(), want.String())
			}
		})
	}
}

// TestWarningsAtOnce checks that a WARN or ERROR line is written at once, with the lines before it,
// and that an INFO line alone is written within FlushInterval, without Close.
func TestWarningsAtOnce(t *testing.T) {
	var out testlog.Buffer
	logger, w := logging.New(&out, "text")
	defer w.Close()
	logger.Info("before")
	logger.Error("failed")
	if s := out.String(); !strings.Contains(s, "msg=before") || !strings.Contains(s, "msg=failed") {
		t.Fatalf("after an ERROR the log holds %q, want both lines", s)
	}
	logger.Info("later")
	for !strings.Contains(out.String(), "msg=later") {
		time.Sleep(10 * time.Millisecond) // the test's own timeout ends this if it is never written
	}
}

// failingWriter fails its first write only.
type failingWriter struct {
	testlog.Buffer
	failed bool
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if !f.failed {
		f.failed = true
		return 0, io.ErrShortWrite
	}
	return f.Buffer.Write(p)
}

// TestErrorNotSticky checks that a failed write loses what was buffered then, not every later line.
func TestErrorNotSticky(t *testing.T) {
	out := &failingWriter{}
	logger, w := logging.New(out, "text")
	logger.Error("lost")
	logger.Error("kept")
	w.Close()
	if s := out.String(); strings.Contains(s, "msg=lost") || !strings.Contains(s, "msg=kept") {
		t.Errorf("log holds %q, want only the line after the failure", s)
	}
}

// BenchmarkRequestLine measures one request log line written to a file, as slog writes it
// unbuffered (a write system call per line) and through this package's buffer.
//
//	go test ./internal/logging -run '^$' -bench RequestLine -benchmem -count 5
func BenchmarkRequestLine(b *testing.B) {
	for _, bc := range []struct {
		name string
		open func(io.Writer) (*slog.Logger, func())
	}{
		{"unbuffered", func(f io.Writer) (*slog.Logger, func()) { return slog.New(slog.NewTextHandler(f, nil)), func() {} }},
		{"buffered", func(f io.Writer) (*slog.Logger, func()) {
			l, w := logging.New(f, "text")
			return l, func() { w.Close() }
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "requests.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			logger, done := bc.open(f)
			defer done()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				logger.LogAttrs(ctx, slog.LevelInfo, "request",
					slog.String("request_id", "01M8RYK97F9WZ2RVPMV5HV357C"),
					slog.String("method", "GET"),
					slog.String("path", "/o/01M8RYJX865KEBJX9M4YWX0R25/connections/01M8RYJX8C7WYVA60P834WPDEH/proxy/v1/customers/42"),
					slog.Int("status", 200),
					slog.Int("bytes", 212),
					slog.Duration("duration", 26151*time.Nanosecond))
			}
		})
	}
}
