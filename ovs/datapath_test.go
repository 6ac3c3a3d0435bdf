package ovs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const appctlFixtureDir = "../testdata/ovs-appctl"

func readAppctlFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(appctlFixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseDpctlShow(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		text    string
		want    []DatapathStats
		wantErr string
	}{
		{name: "netdev OVS 3.1", fixture: "netdev-dpctl-show.txt",
			want: []DatapathStats{{Name: "netdev@ovs-netdev", Hit: 72, Missed: 8, Lost: 1, Flows: 1}}},
		{name: "netdev with port statistics", fixture: "netdev-dpctl-show-s.txt",
			want: []DatapathStats{{Name: "netdev@ovs-netdev", Hit: 72, Missed: 8, Lost: 1, Flows: 1}}},
		{name: "kernel datapath", fixture: "system-dpctl-show.txt",
			want: []DatapathStats{{Name: "system@ovs-system", Hit: 18304, Missed: 1297, Lost: 12, Flows: 37,
				HasMasks: true, MaskHits: 52108, Masks: 9, HasCache: true, CacheHits: 15040}}},
		{name: "kernel datapath captured on Linux 6.1", fixture: "kernel-6.1-dpctl-show.txt",
			want: []DatapathStats{{Name: "system@ovs-system", Hit: 2, Missed: 5, Lost: 0, Flows: 5,
				HasMasks: true, MaskHits: 5, Masks: 1, HasCache: true, CacheHits: 1}}},
		{name: "two datapaths", fixture: "two-datapaths-dpctl-show.txt",
			want: []DatapathStats{
				{Name: "netdev@ovs-netdev", Hit: 72, Missed: 8, Lost: 1, Flows: 1},
				{Name: "system@ovs-system", Hit: 18304, Missed: 1297, Lost: 12, Flows: 37, HasMasks: true, MaskHits: 52108, Masks: 9},
			}},
		{name: "no datapath", text: "", want: nil},
		{name: "unknown lines skipped", text: "system@ovs-system:\n  lookups: hit:1 missed:2 lost:3\n  flows: 4\n  frobs: 5\n  port 0: x (internal)\n",
			want: []DatapathStats{{Name: "system@ovs-system", Hit: 1, Missed: 2, Lost: 3, Flows: 4}}},
		{name: "changed lookups", text: "system@ovs-system:\n  lookups: hit:1 missed:2\n  flows: 4\n", wantErr: `unrecognized lookups: "  lookups: hit:1 missed:2"`},
		{name: "no lookups", text: "system@ovs-system:\n  flows: 4\n", wantErr: "no lookups or flows line"},
		{name: "not a header", text: "hello world\n", wantErr: `expected a datapath header`},
		{name: "line before header", text: "  flows: 4\n", wantErr: "line before any datapath"},
		{name: "overflow", text: "system@ovs-system:\n  lookups: hit:99999999999999999999 missed:2 lost:3\n  flows: 4\n", wantErr: "out of range"},
		{name: "bad masks", text: "system@ovs-system:\n  lookups: hit:1 missed:2 lost:3\n  flows: 4\n  masks: hit:x\n", wantErr: "unrecognized masks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.text
			if tt.fixture != "" {
				text = readAppctlFixture(t, tt.fixture)
			}
			got, err := ParseDpctlShow(text)
			checkParse(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestParseUpcallShow(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		text    string
		want    []UpcallStats
		wantErr string
	}{
		{name: "netdev OVS 3.1", fixture: "netdev-upcall-show.txt",
			want: []UpcallStats{{Datapath: "netdev@ovs-netdev", Flows: 1, AvgFlows: 0, MaxFlows: 4, FlowLimit: 10000,
				DumpDuration: time.Millisecond, UFID: true, Revalidators: 1}}},
		{name: "kernel datapath", fixture: "system-upcall-show.txt",
			want: []UpcallStats{{Datapath: "system@ovs-system", Flows: 37, AvgFlows: 35, MaxFlows: 52, FlowLimit: 200000,
				DumpDuration: 3 * time.Millisecond, UFID: true, Revalidators: 4}}},
		{name: "offloaded", text: "system@ovs-system:\n  flows         : (current 1) (avg 2) (max 3) (limit 4)\n  offloaded flows : 7\n  dump duration : 0ms\n  ufid enabled : false\n",
			want: []UpcallStats{{Datapath: "system@ovs-system", Flows: 1, AvgFlows: 2, MaxFlows: 3, FlowLimit: 4, OffloadedFlows: 7, HasOffloaded: true}}},
		{name: "no datapath", text: "", want: nil},
		{name: "changed flows", text: "system@ovs-system:\n  flows         : (current 1) (limit 4)\n  dump duration : 0ms\n", wantErr: "unrecognized flows"},
		{name: "duration in seconds", text: "system@ovs-system:\n  flows         : (current 1) (avg 2) (max 3) (limit 4)\n  dump duration : 1s\n", wantErr: "unrecognized dump duration"},
		{name: "no duration", text: "system@ovs-system:\n  flows         : (current 1) (avg 2) (max 3) (limit 4)\n", wantErr: "no flows or dump duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.text
			if tt.fixture != "" {
				text = readAppctlFixture(t, tt.fixture)
			}
			got, err := ParseUpcallShow(text)
			checkParse(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestParseMemoryShow(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		text    string
		want    MemoryStats
		wantErr string
	}{
		{name: "netdev OVS 3.1", fixture: "netdev-memory-show.txt", want: MemoryStats{Handlers: 1, Revalidators: 1}},
		{name: "kernel datapath", fixture: "system-memory-show.txt", want: MemoryStats{Handlers: 13, Revalidators: 4}},
		{name: "no datapath yet", text: "idl-cells-Open_vSwitch:10 ports:0\n", wantErr: "no handlers:N and revalidators:N"},
		{name: "not a number", text: "handlers:x revalidators:1\n", wantErr: "handlers is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.text
			if tt.fixture != "" {
				text = readAppctlFixture(t, tt.fixture)
			}
			got, err := ParseMemoryShow(text)
			checkParse(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestParseCoverageShow(t *testing.T) {
	got, err := ParseCoverageShow(readAppctlFixture(t, "netdev-coverage-show.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for event, want := range map[string]uint64{"bridge_reconfigure": 10, "ofproto_flush": 1, "datapath_drop_upcall_error": 1} {
		if got[event] != want {
			t.Errorf("%s = %d, want %d", event, got[event], want)
		}
	}
	if _, ok := got["netlink_overflow"]; ok {
		t.Errorf("netlink_overflow listed although never hit")
	}

	bad := []struct{ name, text, wantErr string }{
		{"no header", "bridge_reconfigure  0.0/sec 0.0/sec 0.0/sec   total: 1\n", "before the \"Event coverage\" header"},
		{"empty", "", "no \"Event coverage\" header"},
		{"changed event line", "Event coverage, avg rate:\nbridge_reconfigure total: x\n", "unrecognized event line"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCoverageShow(tt.text)
			checkParse(t, 0, err, 0, tt.wantErr)
		})
	}
}

func TestParseCoverageCounter(t *testing.T) {
	if v, err := ParseCoverageCounter("12\n"); err != nil || v != 12 {
		t.Errorf("got %d, %v", v, err)
	}
	if _, err := ParseCoverageCounter("No such counter\n"); err == nil {
		t.Error("no error for text")
	}
}

func checkParse[T any](t *testing.T, got T, err error, want T, wantErr string) {
	t.Helper()
	if wantErr != "" {
		var fe *FormatError
		if err == nil || !strings.Contains(err.Error(), wantErr) || !errors.As(err, &fe) {
			t.Fatalf("error %v, want a *FormatError containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// FuzzParseAppctl runs every unixctl text parser on the same input: none may
// panic, and a parser that returns no error must return values that hold
// together.
func FuzzParseAppctl(f *testing.F) {
	entries, err := os.ReadDir(appctlFixtureDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".txt") {
			b, err := os.ReadFile(filepath.Join(appctlFixtureDir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		if dps, err := ParseDpctlShow(text); err == nil {
			for _, d := range dps {
				if !strings.Contains(d.Name, "@") {
					t.Errorf("datapath name %q", d.Name)
				}
			}
		}
		if ups, err := ParseUpcallShow(text); err == nil {
			for _, u := range ups {
				if u.DumpDuration < 0 {
					t.Errorf("negative dump duration %v", u.DumpDuration)
				}
			}
		}
		_, _ = ParseMemoryShow(text)
		_, _ = ParseCoverageShow(text)
		_, _ = ParseCoverageCounter(text)
	})
}
