package collector

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// periodicReader is the reading a collector serves: with a positive
// interval, made by one goroutine of its own every interval, outside the
// scrape, and served as it is (its values and its error) by every scrape
// until the next one; with interval 0, made in the scrape (read(ctx) with
// the scrape's context), as if there were no reader.
//
// A reading is never older than interval plus timeout (the deadline of
// one read): a failed read is served as a failure from the scrape after
// it, and a reader that has not finished a read for longer than that (a
// read that does not honour its deadline) fails the scrape rather than
// serve the older values. A scrape before the first reading waits for it,
// bounded by its own context. Close stops the goroutine and waits for it.
//
// This is what smartctl_exporter does with --smartctl.interval: the
// scrape's cost is the export alone, and how fresh each series is, is
// documented (docs/metrics.md).
type periodicReader[T any] struct {
	interval time.Duration // 0: read in the scrape
	timeout  time.Duration // deadline of one background read
	read     func(ctx context.Context) (T, error)

	gen   atomic.Uint64 // readings made so far
	mu    sync.Mutex
	last  periodicReading[T]
	ready chan struct{} // closed by the first reading

	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned
}

// periodicReading is one read's result, when it ended and its number.
type periodicReading[T any] struct {
	value T
	err   error
	at    time.Time
	gen   uint64
}

// newPeriodicReader returns a reader of read; with a positive interval its
// goroutine starts at once, so the first reading is under way before the
// first scrape.
func newPeriodicReader[T any](interval, timeout time.Duration, read func(ctx context.Context) (T, error)) *periodicReader[T] {
	p := &periodicReader[T]{interval: interval, timeout: timeout, read: read,
		ready: make(chan struct{}), done: make(chan struct{})}
	if interval <= 0 {
		close(p.done)
		return p
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.loop(ctx)
	return p
}

// loop reads every interval, counted from the start of each read (one that
// takes longer than interval is followed at once by the next), until ctx
// ends.
func (p *periodicReader[T]) loop(ctx context.Context) {
	defer close(p.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, p.timeout)
		v, err := p.read(rctx)
		cancel()
		if ctx.Err() != nil { // closed during the read: nothing to serve
			return
		}
		p.mu.Lock()
		p.last = periodicReading[T]{value: v, err: err, at: time.Now(), gen: p.gen.Add(1)}
		p.mu.Unlock()
		if first {
			close(p.ready)
			first = false
		}
		timer.Reset(max(0, p.interval-time.Since(start)))
	}
}

// get returns the reading to serve now and its number (the same number
// is the same reading): read in place with interval 0, else the last
// background reading, after waiting for the first one as long as ctx
// allows.
func (p *periodicReader[T]) get(ctx context.Context) (T, uint64, error) {
	if p.interval <= 0 {
		v, err := p.read(ctx)
		return v, p.gen.Add(1), err
	}
	var zero T
	select {
	case <-p.ready:
	case <-p.done:
		return zero, 0, fault.New(fault.Closed, "waiting for the first reading", "", context.Canceled)
	case <-ctx.Done():
		return zero, 0, fault.New(fault.Timeout, "waiting for the first reading", "",
			fmt.Errorf("none after %s (each read has %s): %w", p.timeout, p.timeout, ctx.Err()))
	}
	p.mu.Lock()
	last := p.last
	p.mu.Unlock()
	if age, limit := time.Since(last.at), p.interval+p.timeout; age > limit {
		return zero, 0, fault.New(fault.Timeout, "waiting for a new reading", "",
			fmt.Errorf("the last read ended %s ago, more than the read interval %s and one read's deadline %s", age.Round(time.Millisecond), p.interval, p.timeout))
	}
	return last.value, last.gen, last.err
}

// Close stops the goroutine and waits until it has returned (a read in
// flight sees its context cancelled).
func (p *periodicReader[T]) Close() {
	if p.cancel != nil {
		p.cancel()
	}
	<-p.done
}

// builtMetrics keeps the metrics a collector built from one reading, so
// that the scrapes serving the same reading send them again instead of
// building them anew (const metrics are immutable: sending one to several
// gatherings is safe). Safe for concurrent use.
type builtMetrics struct {
	mu      sync.Mutex
	gen     uint64    // the reading's number; 0: none yet
	version time.Time // of what else the metrics were built from (the Antrea agent's names)
	metrics []prometheus.Metric
}

// send sends the metrics of reading gen built with what version
// describes: the kept ones if they are of the same, else those build sends
// (then kept).
func (b *builtMetrics) send(ch chan<- prometheus.Metric, gen uint64, version time.Time, build func(ch chan<- prometheus.Metric)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen == 0 || b.gen != gen || !b.version.Equal(version) {
		b.gen, b.version, b.metrics = gen, version, collectMetrics(build)
	}
	for _, m := range b.metrics {
		ch <- m
	}
}

// collectMetrics returns the metrics export sends.
func collectMetrics(export func(ch chan<- prometheus.Metric)) []prometheus.Metric {
	ch := make(chan prometheus.Metric, 64)
	done := make(chan []prometheus.Metric)
	go func() {
		var out []prometheus.Metric
		for m := range ch {
			out = append(out, m)
		}
		done <- out
	}()
	export(ch)
	close(ch)
	return <-done
}
