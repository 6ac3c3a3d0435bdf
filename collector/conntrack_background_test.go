package collector_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestConntrackCollectorReadsInTheBackground: with --conntrack.read-interval
// the scrape serves the last reading of a real conntrack table, new entries
// show within an interval, and Close stops the reader.
func TestConntrackCollectorReadsInTheBackground(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ctx := testenv.Context(t, time.Minute)
	c, err := collector.NewConntrackCollector(collector.ConntrackConfig{Config: conntrack.Config{NetnsPath: ns.Path},
		ReadInterval: backgroundInterval, ReadTimeout: backgroundTimeout}, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			c.(io.Closer).Close()
		}
	})
	reg := registryOf(t, slog.New(slog.DiscardHandler), map[string]collector.Scraper{"conntrack": {Collector: c, Timeout: backgroundTimeout}})
	entries := func(mfs families) float64 { return mfs.value(t, "datapath_conntrack_entries") }

	if got := entries(gather(t, reg)); got != 0 {
		t.Fatalf("first scrape: %v entries in an empty namespace", got)
	}
	if err := ns.InsertEntries(ctx, 0, 20); err != nil {
		t.Fatal(err)
	}
	want, err := ns.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	took := within(t, reg, backgroundInterval+backgroundTimeout+2*time.Second, "the inserted entries", func(mfs families) bool {
		return mfs.value(t, "datapath_scrape_collector_success", "collector", "conntrack") == 1 && uint64(entries(mfs)) == want
	})
	t.Logf("%d entries seen after %v (interval %v)", want, took, backgroundInterval)

	before := collector.BackgroundReaders()
	if err := c.(io.Closer).Close(); err != nil {
		t.Error(err)
	}
	closed = true
	if n := collector.BackgroundReaders(); n != before-1 {
		t.Errorf("%d background readers after Close, want %d", n, before-1)
	}
}
