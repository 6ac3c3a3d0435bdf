package collector_test

import (
	"io"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// The OVS collectors reading in the background (--ovs.openflow-read-interval,
// --ovs.datapath-read-interval), on a real OVS: a scrape serves the last
// reading, which is at most one interval (plus a read) old; a failed read
// fails the scrape after it; a restarted ovs-vswitchd is read again; Close
// stops the readers.

// backgroundInterval is short, so that the tests wait little for a reading.
const backgroundInterval = 300 * time.Millisecond

// backgroundTimeout is each background read's deadline (--ovs.timeout).
const backgroundTimeout = 700 * time.Millisecond

// backgroundExporter is an Exporter with the ovs and ovs_datapath
// collectors, both reading o in the background, sharing one OVS source.
func backgroundExporter(t *testing.T, o *testenv.OVS) (*prometheus.Registry, []io.Closer) {
	t.Helper()
	source := &collector.OVSSource{RunDir: o.RunDir, ReadInterval: backgroundInterval, ReadTimeout: backgroundTimeout}
	ovsC, err := collector.NewOVSCollector(collector.OVSConfig{Source: source}, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	dpC, err := collector.NewOVSDatapathCollector(collector.OVSDatapathConfig{Source: source,
		ReadInterval: backgroundInterval, ReadTimeout: backgroundTimeout}, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	closers := []io.Closer{ovsC.(io.Closer), dpC.(io.Closer)}
	t.Cleanup(func() {
		for _, c := range closers {
			c.Close()
		}
	})
	reg := registryOf(t, slog.New(slog.DiscardHandler), map[string]collector.Scraper{
		"ovs":          {Collector: ovsC, Timeout: backgroundTimeout},
		"ovs_datapath": {Collector: dpC, Timeout: backgroundTimeout},
	})
	return reg, closers
}

// successes returns the two collectors' success in one scrape.
func successes(t *testing.T, mfs families) (ovs, dp float64) {
	t.Helper()
	return mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs"),
		mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs_datapath")
}

// within scrapes reg until ok accepts a scrape and returns how long that
// took, failing after limit.
func within(t *testing.T, reg prometheus.Gatherer, limit time.Duration, what string, ok func(families) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		mfs := gather(t, reg)
		if ok(mfs) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not seen within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOVSCollectorsReadInTheBackground(t *testing.T) {
	o, _ := datapathTestOVS(t)
	reg, closers := backgroundExporter(t, o)
	// Bound of a reading's age at a scrape: one interval, one read, and
	// the slack of a shared machine.
	fresh := backgroundInterval + backgroundTimeout + 2*time.Second

	t.Run("the first scrape serves the first reading", func(t *testing.T) {
		mfs := gather(t, reg)
		if a, b := successes(t, mfs); a != 1 || b != 1 {
			t.Fatalf("first scrape: success ovs %v, ovs_datapath %v", a, b)
		}
		if len(mfs.series("datapath_ovs_table_flows", "bridge", "br0")) == 0 {
			t.Error("first scrape: no table of br0")
		}
		if len(mfs.series("datapath_ovs_datapath_lookups_total", "datapath", "netdev@ovs-netdev")) != 3 {
			t.Error("first scrape: no lookups of netdev@ovs-netdev")
		}
	})

	t.Run("values refresh within an interval", func(t *testing.T) {
		if err := o.AddFlows("br0", []string{"table=12,priority=1,actions=drop", "table=12,priority=2,ip,actions=drop"}); err != nil {
			t.Fatal(err)
		}
		took := within(t, reg, fresh, "table 12's 2 flows", func(mfs families) bool {
			s := mfs.series("datapath_ovs_table_flows", "bridge", "br0", "table_id", "12")
			return len(s) == 1 && s[0].GetGauge().GetValue() == 2
		})
		t.Logf("new flows seen after %v (interval %v)", took, backgroundInterval)
	})

	t.Run("concurrent scrapes", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 10 {
					mfs, err := reg.Gather()
					if err != nil {
						t.Error(err)
						return
					}
					if a, b := successes(t, byName(mfs)); a != 1 || b != 1 {
						t.Errorf("concurrent scrape: success ovs %v, ovs_datapath %v", a, b)
						return
					}
				}
			})
		}
		wg.Wait()
	})

	t.Run("a stopped ovs-vswitchd fails the scrapes after the failed read", func(t *testing.T) {
		if err := o.SignalVswitchd(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = o.SignalVswitchd(syscall.SIGCONT) })
		within(t, reg, fresh, "both collectors failing", func(mfs families) bool {
			a, b := successes(t, mfs)
			return a == 0 && b == 0
		})
		// From then on, every scrape fails until a read succeeds: never
		// the values read before the stop.
		for range 5 {
			if a, b := successes(t, gather(t, reg)); a != 0 || b != 0 {
				t.Fatalf("scrape while ovs-vswitchd is stopped: success ovs %v, ovs_datapath %v", a, b)
			}
			time.Sleep(backgroundInterval / 2)
		}
		if err := o.SignalVswitchd(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		within(t, reg, fresh+testTimeout, "recovery after SIGCONT", func(mfs families) bool {
			a, b := successes(t, mfs)
			return a == 1 && b == 1
		})
	})

	t.Run("restart of ovs-vswitchd", func(t *testing.T) {
		if err := o.RestartVswitchd(testenv.Context(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
		// The restarted daemon has none of the flows added before (no
		// flow restore here): a reading of it shows table 12 empty.
		within(t, reg, fresh+testTimeout, "a reading of the restarted daemon", func(mfs families) bool {
			a, b := successes(t, mfs)
			s := mfs.series("datapath_ovs_table_flows", "bridge", "br0", "table_id", "12")
			return a == 1 && b == 1 && len(s) == 1 && s[0].GetGauge().GetValue() == 0 &&
				len(mfs.series("datapath_ovs_datapath_lookups_total", "datapath", "netdev@ovs-netdev")) == 3
		})
	})

	t.Run("Close stops the readers", func(t *testing.T) {
		// ovs reads its tables; ovs_datapath its datapaths and, for
		// datapath_ovs_info, ovs-vswitchd's version.
		const readers = 3
		if n := collector.BackgroundReaders(); n < readers {
			t.Fatalf("%d background readers running, want at least this test's %d", n, readers)
		}
		before := collector.BackgroundReaders()
		for _, c := range closers {
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		}
		if n := collector.BackgroundReaders(); n != before-readers {
			t.Errorf("%d background readers after Close, want %d", n, before-readers)
		}
	})
}
