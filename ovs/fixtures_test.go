package ovs

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

var update = flag.Bool("update", false, "capture the OpenFlow fixtures in ../testdata/openflow again from a real OVS")

const fixtureDir = "../testdata/openflow"

// fixtureTables are the table names and flows every fixture bridge gets:
// Antrea's names for tables 1 and 11, and two consecutive tables (11, 12)
// with equal counts. Table 0 also holds OVS's default NORMAL flow.
var (
	fixtureNames = map[int]string{1: "SpoofGuard", 11: "EndpointDNAT"}
	fixtureFlows = []string{
		"table=1,priority=200,arp,in_port=1,arp_spa=10.10.0.2,actions=resubmit(,2)",
		"table=1,priority=200,arp,in_port=2,arp_spa=10.10.0.3,actions=resubmit(,2)",
		"table=1,priority=0,actions=drop",
		"table=11,priority=200,tcp,nw_dst=10.96.0.10,tp_dst=53,actions=resubmit(,12)",
		"table=11,priority=0,actions=resubmit(,12)",
		"table=12,priority=200,ip,nw_src=10.10.0.2,actions=drop",
		"table=12,priority=0,actions=drop",
	}
)

// badKind is a multipart kind OVS does not know, to make it answer ERROR.
const badKind = 0x7ffe

// fixture is one recorded OpenFlow session: a bridge allowing protocols,
// and what the client did on it.
var fixtures = []struct {
	file      string
	protocols []string
	version   Version // negotiated; 0 when the handshake fails
	stats     bool    // TableStats was read
	features  bool    // TableFeatures was read
	badKind   bool    // a request OVS rejects was sent
}{
	{file: "of10-stats.bin", protocols: []string{"OpenFlow10"}, version: OpenFlow10, stats: true},
	{file: "of10-error.bin", protocols: []string{"OpenFlow10"}, version: OpenFlow10, badKind: true},
	{file: "of13-stats-features.bin", protocols: []string{"OpenFlow13"}, version: OpenFlow13, stats: true, features: true},
	{file: "of13-error.bin", protocols: []string{"OpenFlow13"}, version: OpenFlow13, badKind: true},
	{file: "of14-stats-features.bin", protocols: []string{"OpenFlow14"}, version: OpenFlow14, stats: true, features: true},
	{file: "of15-stats-features.bin", protocols: []string{"OpenFlow10", "OpenFlow15"}, version: OpenFlow15, stats: true, features: true},
	{file: "of11-refused.bin", protocols: []string{"OpenFlow11"}},
}

type sessionResult struct {
	version  Version
	stats    []TableStats
	features []TableFeatures
	err      error
}

// runSession does on c what fixture i describes. It is the same code for
// capture and replay, so the xids match.
func runSession(ctx context.Context, nc net.Conn, i int) sessionResult {
	f := fixtures[i]
	var r sessionResult
	c, err := newConn(ctx, nc, f.file)
	if err != nil {
		r.err = err
		return r
	}
	r.version = c.Version()
	if f.stats {
		if r.stats, r.err = c.TableStats(ctx); r.err != nil {
			return r
		}
	}
	if f.features {
		if r.features, r.err = c.TableFeatures(ctx); r.err != nil {
			return r
		}
	}
	if f.badKind {
		_, r.err = c.multipart(ctx, badKind)
	}
	return r
}

// TestCaptureFixtures records every fixture session from a real OVS. With
// -update (`go test ./ovs -run CaptureFixtures -update`) it writes them to
// testdata/openflow; otherwise it records them into a temporary directory
// and checks that they still tell what the stored ones tell (version, tables,
// names, flow counts, errors), so the stored fixtures cannot drift from what
// the installed OVS says.
func TestCaptureFixtures(t *testing.T) {
	dir := fixtureDir
	if !*update {
		dir = t.TempDir()
	}
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	for i, f := range fixtures {
		br := fmt.Sprintf("fx%d", i)
		if err := o.AddBridge(br, f.protocols...); err != nil {
			t.Fatal(err)
		}
		if f.version != 0 {
			if err := o.SetTableNames(br, fixtureNames); err != nil {
				t.Fatal(err)
			}
			if err := o.AddFlows(br, fixtureFlows); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		nc, err := net.Dial("unix", o.MgmtSocket(br))
		if err != nil {
			t.Fatal(err)
		}
		rec := &recordingConn{Conn: nc}
		r := runSession(ctx, rec, i)
		if f.version == 0 {
			// Keep what OVS says after refusing the version, too.
			_ = nc.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 4096)
			for {
				n, err := rec.Read(buf)
				if n == 0 || err != nil {
					break
				}
			}
		} else if r.err != nil && !f.badKind {
			t.Fatalf("%s: %v", f.file, r.err)
		}
		cancel()
		nc.Close()
		if err := writeFixture(dir, f.file, rec.bytes()); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes, %v", f.file, len(rec.bytes()), r.err)
		if !*update {
			stored := runSession(context.Background(), newReplayConn(readFixture(t, fixtureDir, f.file)), i)
			fresh := runSession(context.Background(), newReplayConn(readFixture(t, dir, f.file)), i)
			if got, want := sessionSummary(fresh), sessionSummary(stored); got != want {
				t.Errorf("%s: the installed OVS now says\n%s\nthe stored fixture says\n%s\nrecapture with -update", f.file, got, want)
			}
		}
	}
}

// sessionSummary is what a session told, less what changes from one capture
// to the next (lookup counters, error texts with xids).
func sessionSummary(r sessionResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version %v, error %v", r.version, r.err != nil)
	for _, t := range r.stats {
		if t.Active > 0 || t.Name != "" {
			fmt.Fprintf(&b, "; stats %d %q active=%d max=%d", t.ID, t.Name, t.Active, t.MaxEntries)
		}
	}
	fmt.Fprintf(&b, "; %d tables", len(r.stats))
	for _, f := range r.features {
		if f.Name != "" {
			fmt.Fprintf(&b, "; features %d %q max=%d", f.ID, f.Name, f.MaxEntries)
		}
	}
	fmt.Fprintf(&b, "; %d features", len(r.features))
	return b.String()
}

// Fixtures are stored gzipped: a table-features reply of OVS 3.1 is 1.2 MB
// of mostly repeated properties.
func writeFixture(dir, name string, b []byte) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".gz"), buf.Bytes(), 0o644)
}

func readFixture(t testing.TB, dir, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name+".gz"))
	if err == nil {
		defer f.Close()
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(f); err == nil {
			var b []byte
			if b, err = io.ReadAll(zr); err == nil {
				return b
			}
		}
	}
	t.Fatalf("reading fixture %s (capture with `go test ./ovs -run CaptureFixtures -update`): %v", name, err)
	return nil
}

// splitMessages splits a recorded stream into messages.
func splitMessages(t *testing.T, b []byte) []Message {
	t.Helper()
	var out []Message
	for len(b) > 0 {
		var h Header
		if err := h.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		var m Message
		if err := m.UnmarshalBinary(b[:h.Length]); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		b = b[h.Length:]
	}
	return out
}

func TestFixtureSessions(t *testing.T) {
	for i, f := range fixtures {
		t.Run(f.file, func(t *testing.T) {
			b := readFixture(t, fixtureDir, f.file)
			r := runSession(context.Background(), newReplayConn(b), i)
			if r.version != f.version {
				t.Fatalf("negotiated %v, want %v", r.version, f.version)
			}
			switch {
			case f.version == 0:
				var ve *VersionError
				if !errors.As(r.err, &ve) {
					t.Fatalf("want a VersionError, got %v", r.err)
				}
				for _, want := range []string{"OpenFlow11", "protocols column"} {
					if !strings.Contains(r.err.Error(), want) {
						t.Errorf("error %q does not mention %q", r.err, want)
					}
				}
				return
			case f.badKind:
				var oe *OpenFlowError
				if !errors.As(r.err, &oe) || oe.Type != 1 {
					t.Fatalf("want an OpenFlow BAD_REQUEST error, got %v", r.err)
				}
				return
			case r.err != nil:
				t.Fatal(r.err)
			}
			if f.stats {
				checkFixtureStats(t, f.version, r.stats)
			}
			if f.features {
				checkFixtureFeatures(t, r.features)
				// The features reply spans several messages.
				n := 0
				for _, m := range splitMessages(t, b) {
					if m.Type == typeMultipartReply {
						if p, _ := decodeMultipartReply(m.Version, m.Body); p.Kind == multipartTableFeatures {
							n++
						}
					}
				}
				if n < 2 {
					t.Errorf("fixture has %d table-features reply messages, want a multi-message reply", n)
				}
			}
		})
	}
}

func checkFixtureStats(t *testing.T, v Version, stats []TableStats) {
	t.Helper()
	if len(stats) != 254 {
		t.Fatalf("%d tables, want OVS's 254", len(stats))
	}
	want := map[uint8]uint32{0: 1, 1: 3, 11: 2, 12: 2, 2: 0, 253: 0}
	for _, s := range stats {
		if w, ok := want[s.ID]; ok && s.Active != w {
			t.Errorf("table %d: %d flows, want %d", s.ID, s.Active, w)
		}
		if v == OpenFlow10 {
			if !s.HasMaxEntries || s.MaxEntries != 1000000 {
				t.Errorf("table %d: max entries %d (%v), want OVS's 1000000", s.ID, s.MaxEntries, s.HasMaxEntries)
			}
			wantName := fixtureNames[int(s.ID)]
			if got := ownTableName(s.ID, s.Name); got != wantName {
				t.Errorf("table %d: name %q (raw %q), want %q", s.ID, got, s.Name, wantName)
			}
		} else if s.Name != "" || s.HasMaxEntries {
			t.Errorf("table %d: %v stats carry a name or limit: %+v", s.ID, v, s)
		}
	}
}

func checkFixtureFeatures(t *testing.T, fs []TableFeatures) {
	t.Helper()
	if len(fs) != 254 {
		t.Fatalf("%d tables in features, want 254", len(fs))
	}
	for _, f := range fs {
		if got, want := ownTableName(f.ID, f.Name), fixtureNames[int(f.ID)]; got != want {
			t.Errorf("table %d: name %q (raw %q), want %q", f.ID, got, f.Name, want)
		}
		if f.MaxEntries != 1000000 {
			t.Errorf("table %d: max entries %d, want 1000000", f.ID, f.MaxEntries)
		}
	}
}

// TestFixtureTruncated replays every prefix of every fixture: each must end
// in an error (or, for prefixes that hold a whole session, success), never
// a panic or a hang.
func TestFixtureTruncated(t *testing.T) {
	for i, f := range fixtures {
		b := readFixture(t, fixtureDir, f.file)
		for n := 0; n < len(b); n += 1 + n/64 {
			r := runSession(context.Background(), newReplayConn(b[:n]), i)
			if r.err == nil && n < len(b) && f.version != 0 {
				t.Errorf("%s cut at %d of %d bytes: no error", f.file, n, len(b))
			}
		}
	}
}
