package logbuf

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records each write it gets, whole.
type sink struct {
	mu     sync.Mutex
	writes []string
	fail   error
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	s.writes = append(s.writes, string(p))
	return len(p), nil
}

func (s *sink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.writes, "")
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.writes)
}

func TestHeldUntilFlush(t *testing.T) {
	var s sink
	w := New(&s, time.Hour)
	defer w.Close()
	line := []byte("one\n")
	if n, err := w.Write(line); n != 4 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	copy(line, "XXX\n") // the caller reuses its buffer
	w.Write([]byte("two\n"))
	if s.count() != 0 {
		t.Fatalf("written before the interval: %q", s.text())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := s.text(); got != "one\ntwo\n" || s.count() != 1 {
		t.Errorf("after Flush: %d writes %q, want one write of both lines", s.count(), got)
	}
	if err := w.Flush(); err != nil || s.count() != 1 {
		t.Errorf("an empty flush wrote: %d writes, %v", s.count(), err)
	}
}

func TestTimerFlushes(t *testing.T) {
	var s sink
	w := New(&s, time.Millisecond)
	defer w.Close()
	for round := range 3 { // the timer re-arms after each batch
		want := fmt.Sprintf("line %d\n", round)
		w.Write([]byte(want))
		deadline := time.Now().Add(10 * time.Second)
		for !strings.HasSuffix(s.text(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the line was not written by the timer: %q", round, s.text())
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func TestFullBufferWritesAtOnce(t *testing.T) {
	var s sink
	w := New(&s, time.Hour)
	defer w.Close()
	line := bytes.Repeat([]byte("x"), 1000)
	line[len(line)-1] = '\n'
	n := 0
	for s.count() == 0 {
		w.Write(line)
		if n++; n*len(line) > 2*Size {
			t.Fatalf("%d bytes held without a write", n*len(line))
		}
	}
	if got := len(s.text()); got < Size || got%len(line) != 0 {
		t.Errorf("the batch holds %d bytes: want at least %d, whole lines", got, Size)
	}
}

func TestUnbufferedAndClosed(t *testing.T) {
	var s sink
	w := New(&s, 0)
	w.Write([]byte("a\n"))
	if s.text() != "a\n" {
		t.Errorf("interval 0 held the line: %q", s.text())
	}

	var s2 sink
	w = New(&s2, time.Hour)
	w.Write([]byte("held\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s2.text() != "held\n" {
		t.Errorf("Close did not flush: %q", s2.text())
	}
	w.Write([]byte("after\n"))
	if s2.text() != "held\nafter\n" {
		t.Errorf("a write after Close was held: %q", s2.text())
	}
}

func TestWriteErrors(t *testing.T) {
	s := sink{fail: errors.New("disk full")}
	w := New(&s, time.Hour)
	w.Write([]byte("a\n"))
	if err := w.Flush(); err == nil || err.Error() != "disk full" {
		t.Errorf("Flush = %v, want the write error", err)
	}

	// A batch the timer fails to write is reported by the next Flush.
	s2 := sink{fail: errors.New("broken pipe")}
	w = New(&s2, time.Millisecond)
	defer w.Close()
	w.Write([]byte("b\n"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		armed, held, err := w.armed, len(w.buf), w.err
		w.mu.Unlock()
		if !armed && held == 0 && err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timer did not try to write")
		}
		time.Sleep(time.Millisecond)
	}
	if err := w.Flush(); err == nil || err.Error() != "broken pipe" {
		t.Errorf("Flush after a failed timed write = %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Errorf("the error was reported twice: %v", err)
	}
}

func TestConcurrentLinesStayWhole(t *testing.T) {
	var s sink
	w := New(&s, 50*time.Microsecond)
	const writers, lines = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				if i%500 == 0 {
					w.Flush()
				}
				w.Write([]byte(fmt.Sprintf("g%d-%d-%s\n", g, i, strings.Repeat("y", i%97))))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(s.text(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*lines)
	}
	for _, l := range got {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(l, "g%d-%d-%s", &g, &i, &pad); err != nil && i%97 != 0 {
			t.Fatalf("torn line %q: %v", l, err)
		}
		if g < 0 || g >= writers || i != next[g] || len(pad) != i%97 {
			t.Fatalf("line %q out of order or torn (want g%d-%d)", l, g, next[g])
		}
		next[g]++
	}
}

func TestHandlerFlushesWarnings(t *testing.T) {
	var s sink
	w := New(&s, time.Hour)
	defer w.Close()
	log := slog.New(Handler(slog.NewJSONHandler(w, nil), w)).With("component", "test").WithGroup("g")
	log.Info("routine")
	if s.count() != 0 {
		t.Fatalf("an info line was written at once: %q", s.text())
	}
	log.Warn("attention", "k", 1)
	text := s.text()
	if !strings.Contains(text, `"msg":"routine"`) || !strings.Contains(text, `"msg":"attention"`) {
		t.Fatalf("a warning did not flush both lines: %q", text)
	}
	if !strings.Contains(text, `"component":"test"`) || !strings.Contains(text, `"g":{"k":1}`) {
		t.Errorf("attributes or groups lost through the wrapper: %q", text)
	}
	log.Error("failure")
	if !strings.Contains(s.text(), `"msg":"failure"`) {
		t.Errorf("an error was held: %q", s.text())
	}
	log.Debug("hidden")
	if strings.Contains(s.text(), "hidden") {
		t.Error("the wrapper changed the level")
	}
}
