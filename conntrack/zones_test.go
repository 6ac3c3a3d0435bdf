package conntrack

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestZoneCounts counts entries per zone in a real conntrack table and
// compares with `conntrack -L -w ZONE` in the same netns.
func TestZoneCounts(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ctx := testenv.Context(t, time.Minute)
	want := map[uint16]uint64{0: 12, 7: 5, 65520: 30}
	for zone, n := range want {
		if err := ns.InsertEntries(ctx, zone, int(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ns.FillUDP(ctx, 20000, 65520); err != nil {
		t.Fatal(err)
	}
	want[65520] += 20000
	r, err := NewReader(Config{NetnsPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	got, err := r.ZoneCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for zone, n := range want {
		if got[zone] != n {
			t.Errorf("zone %d: %d entries, want %d (all: %v)", zone, got[zone], n, got)
		}
	}
	snap, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if total(got) != snap.Global.Entries {
		t.Errorf("zones add up to %d, the global count is %d", total(got), snap.Global.Entries)
	}
}

func TestZoneCountsTimeout(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ctx := testenv.Context(t, time.Minute)
	if err := ns.FillUDP(ctx, 100000, 0); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(Config{NetnsPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = r.ZoneCounts(short)
	if err == nil {
		t.Fatal("a 100k-entry dump finished within 1ms")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("returned after %v", time.Since(start))
	}
	t.Log(err)
}

// nlmsg builds one netlink message for countZones.
func nlmsg(typ uint16, body []byte) []byte {
	b := make([]byte, 16+len(body))
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	copy(b[16:], body)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func entry(zone int) []byte {
	b := []byte{2, 0, 0, 0} // nfgenmsg
	// an unrelated attribute (CTA_STATUS, 4 bytes of value)
	b = append(b, 8, 0, 3, 0, 0, 0, 0, 1)
	if zone >= 0 {
		attr := []byte{6, 0, ctaZone, 0, byte(zone >> 8), byte(zone), 0, 0}
		binary.NativeEndian.PutUint16(attr[0:2], 6)
		binary.NativeEndian.PutUint16(attr[2:4], ctaZone|unix_NLA_F_NET_BYTEORDER)
		b = append(b, attr...)
	}
	return b
}

const unix_NLA_F_NET_BYTEORDER = 0x4000

func TestCountZones(t *testing.T) {
	tests := []struct {
		name    string
		batch   []byte
		done    bool
		want    map[uint16]uint64
		wantErr bool
	}{
		{"entries and done", cat(nlmsg(0x100, entry(-1)), nlmsg(0x100, entry(65520)), nlmsg(0x100, entry(65520)), nlmsg(3, []byte{0, 0, 0, 0})), true, map[uint16]uint64{0: 1, 65520: 2}, false},
		{"batch without done", nlmsg(0x100, entry(7)), false, map[uint16]uint64{7: 1}, false},
		{"netlink error", nlmsg(2, []byte{0xff, 0xff, 0xff, 0xff}), false, nil, true},
		{"ack is no error", nlmsg(2, []byte{0, 0, 0, 0}), false, map[uint16]uint64{}, false},
		{"short header", []byte{1, 2, 3}, false, nil, true},
		{"length past end", func() []byte { b := nlmsg(0x100, entry(1)); binary.NativeEndian.PutUint32(b[0:4], 999); return b }(), false, nil, true},
		{"short nfgenmsg", nlmsg(0x100, []byte{2}), false, nil, true},
		{"bad attribute length", nlmsg(0x100, []byte{2, 0, 0, 0, 2, 0, 18, 0}), false, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[uint16]uint64{}
			done, err := countZones(tt.batch, got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if done != tt.done {
				t.Errorf("done = %v, want %v", done, tt.done)
			}
			if len(got) != len(tt.want) {
				t.Errorf("counts %v, want %v", got, tt.want)
			}
			for z, n := range tt.want {
				if got[z] != n {
					t.Errorf("counts %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func FuzzCountZones(f *testing.F) {
	f.Add(cat(nlmsg(0x100, entry(65520)), nlmsg(3, []byte{0, 0, 0, 0})))
	f.Add(nlmsg(2, []byte{0xfe, 0xff, 0xff, 0xff}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = countZones(b, map[uint16]uint64{})
	})
}
