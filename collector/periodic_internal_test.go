package collector

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// The mechanics of periodicReader on a read function of the test's: when it
// reads, what a scrape gets, that Close stops it. The same reader on a real
// OVS is in ovs_background_test.go.

// countingRead returns a read function that returns how many reads there
// were, the error *fail holds at that time, and blocks while *hold is set
// (until its context ends).
type countingRead struct {
	n    atomic.Int64
	mu   sync.Mutex
	fail error
	hold chan struct{} // non-nil: the read waits for it or for ctx
}

func (c *countingRead) read(ctx context.Context) (int64, error) {
	c.mu.Lock()
	fail, hold := c.fail, c.hold
	c.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return 0, fault.Wrap("read", "", ctx.Err())
		}
	}
	return c.n.Add(1), fail
}

func (c *countingRead) set(fail error, hold chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail, c.hold = fail, hold
}

func getWithin(t *testing.T, p *periodicReader[int64], d time.Duration) (int64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	v, gen, err := p.get(ctx)
	if err == nil && gen < uint64(v) { // every read is a reading, failed ones too
		t.Errorf("reading %d served as number %d", v, gen)
	}
	return v, err
}

// eventuallyGet polls p until ok accepts what it serves.
func eventuallyGet(t *testing.T, p *periodicReader[int64], within time.Duration, what string, ok func(int64, error) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v, err := getWithin(t, p, time.Second)
		if ok(v, err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still serving %d, %v after %v", what, v, err, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPeriodicReaderInTheScrape(t *testing.T) {
	var r countingRead
	p := newPeriodicReader(0, time.Second, r.read)
	defer p.Close()
	for want := int64(1); want <= 3; want++ {
		if v, err := getWithin(t, p, time.Second); v != want || err != nil {
			t.Fatalf("get = %d, %v; want %d (one read per get)", v, err, want)
		}
	}
}

func TestPeriodicReaderInTheBackground(t *testing.T) {
	const interval = 50 * time.Millisecond
	var r countingRead
	hold := make(chan struct{})
	r.set(nil, hold)
	p := newPeriodicReader(interval, time.Second, r.read)
	t.Cleanup(p.Close)

	t.Run("the first scrape waits for the first reading", func(t *testing.T) {
		if _, err := getWithin(t, p, 20*time.Millisecond); !fault.Is(err, fault.Timeout) {
			t.Fatalf("get before any reading = %v, want a timeout", err)
		}
		time.AfterFunc(30*time.Millisecond, func() { close(hold) })
		start := time.Now()
		v, err := getWithin(t, p, 2*time.Second)
		if v < 1 || err != nil { // the read that took longer than interval is followed at once by another
			t.Fatalf("first get = %d, %v; want the first reading", v, err)
		}
		if took := time.Since(start); took < 20*time.Millisecond {
			t.Errorf("first get took %v: did not wait for the read", took)
		}
		r.set(nil, nil)
	})

	t.Run("scrapes serve the reading without reading", func(t *testing.T) {
		before := r.n.Load()
		for range 20 {
			if _, err := getWithin(t, p, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		// 20 gets take far less than an interval: at most one read
		// may have come due meanwhile.
		if reads := r.n.Load() - before; reads > 1 {
			t.Errorf("%d reads during 20 back-to-back gets", reads)
		}
	})

	t.Run("values refresh within an interval", func(t *testing.T) {
		v0, _ := getWithin(t, p, time.Second)
		start := time.Now()
		eventuallyGet(t, p, 10*interval, "refresh", func(v int64, err error) bool { return err == nil && v > v0 })
		if took := time.Since(start); took > 3*interval {
			t.Errorf("a new reading took %v with a %v interval", took, interval)
		}
	})

	t.Run("a failed read fails the next scrape, until a read succeeds", func(t *testing.T) {
		broken := fault.New(fault.Refused, "connect", "/run/x.sock", errors.New("connection refused"))
		r.set(broken, nil)
		eventuallyGet(t, p, 10*interval, "failure", func(_ int64, err error) bool { return errors.Is(err, broken) })
		r.set(nil, nil)
		eventuallyGet(t, p, 10*interval, "recovery", func(_ int64, err error) bool { return err == nil })
	})

	t.Run("a read stuck past its deadline fails the scrape", func(t *testing.T) {
		r.set(nil, make(chan struct{})) // never closed: each read runs into its 1s deadline
		eventuallyGet(t, p, interval+3*time.Second, "stuck read", func(_ int64, err error) bool { return fault.Is(err, fault.Timeout) })
		r.set(nil, nil)
		eventuallyGet(t, p, 3*time.Second, "recovery", func(_ int64, err error) bool { return err == nil })
	})

	t.Run("concurrent scrapes", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 50 {
					if _, err := getWithin(t, p, time.Second); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

// TestPeriodicReaderCloseStopsTheGoroutine also closes it during a read
// that would hang until its deadline.
func TestPeriodicReaderCloseStopsTheGoroutine(t *testing.T) {
	var r countingRead
	// Counted against the goroutines before this reader (another test's
	// reader may still be returning), and allowed a moment after Close:
	// Close returns once the loop closed done, in its deferred calls, a
	// moment before the goroutine itself has returned.
	before := readerGoroutines()
	p := newPeriodicReader(10*time.Millisecond, time.Hour, r.read)
	eventuallyGet(t, p, 5*time.Second, "reads", func(v int64, err error) bool { return v >= 3 })
	r.set(nil, make(chan struct{}))
	time.Sleep(30 * time.Millisecond) // a read is now waiting
	start := time.Now()
	p.Close()
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v", took)
	}
	deadline := time.Now().Add(time.Second)
	for readerGoroutines() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := readerGoroutines(); n > before {
		t.Errorf("%d reader goroutines a second after Close, %d before the reader started", n, before)
	}
	after := r.n.Load()
	time.Sleep(50 * time.Millisecond)
	if r.n.Load() != after {
		t.Error("reads after Close")
	}
	if _, err := getWithin(t, p, time.Second); !fault.Is(err, fault.Closed) && err != nil {
		t.Errorf("get after Close = %v", err)
	}
}

// readerGoroutines counts the goroutines running a periodicReader's loop.
func readerGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "collector.(*periodicReader[...]).loop")
}
