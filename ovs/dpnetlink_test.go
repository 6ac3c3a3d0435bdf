package ovs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// The replies in testdata/kernel-datapath were recorded in the kernel-node
// VM (Debian's Linux 6.1.0-57, OVS 3.1) by internal/cmd/dprecord: raw
// netlink messages as received, NLMSG_DONE left out. The family id the
// guest's kernel gave ovs_datapath was 32.
const (
	kernelFixtureDir = "../testdata/kernel-datapath"
	recordedFamily   = 32
)

func readKernelDump(t testing.TB, name string) []netlink.Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(kernelFixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := splitNetlinkMessages(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return msgs
}

// splitNetlinkMessages splits recorded bytes into netlink messages, as the
// kernel's socket would deliver them.
func splitNetlinkMessages(b []byte) ([]netlink.Message, error) {
	var out []netlink.Message
	for len(b) > 0 {
		if len(b) < 16 {
			return nil, fmt.Errorf("%d trailing bytes", len(b))
		}
		n := int(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
		if n < 16 || n > len(b) {
			return nil, fmt.Errorf("message length %d of %d bytes", n, len(b))
		}
		var m netlink.Message
		if err := m.UnmarshalBinary(b[:n]); err != nil {
			return nil, err
		}
		out = append(out, m)
		b = b[min(len(b), (n+3)&^3):]
	}
	return out, nil
}

func TestDecodeKernelDatapathsRecorded(t *testing.T) {
	sys := func(name string, hit, missed, lost, flows, maskHits, masks, cacheHits uint64) DatapathStats {
		return DatapathStats{Name: "system@" + name, Hit: hit, Missed: missed, Lost: lost, Flows: flows,
			HasMasks: true, MaskHits: maskHits, Masks: masks, HasCache: true, CacheHits: cacheHits}
	}
	tests := []struct {
		file string
		want []DatapathStats
		// dpctl is `ovs-dpctl show` run just before the recording; equal
		// says whether no packet went through in between.
		dpctl string
		equal bool
	}{
		{file: "one-datapath.bin", dpctl: "one-datapath.ovs-dpctl-show.txt", equal: true,
			want: []DatapathStats{sys("ovs-system", 3, 5, 0, 5, 6, 1, 1)}},
		{file: "two-datapaths.bin", dpctl: "two-datapaths.ovs-dpctl-show.txt",
			want: []DatapathStats{sys("ovs-system", 4, 5, 0, 5, 7, 1, 1), sys("dp2", 0, 0, 0, 0, 0, 0, 0)}},
		{file: "vswitchd-stopped.bin", dpctl: "vswitchd-stopped.ovs-dpctl-show.txt", equal: true,
			want: []DatapathStats{sys("ovs-system", 5, 5, 0, 4, 8, 1, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := decodeKernelDatapaths(readKernelDump(t, tt.file), recordedFamily)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			b, err := os.ReadFile(filepath.Join(kernelFixtureDir, tt.dpctl))
			if err != nil {
				t.Fatal(err)
			}
			shown, err := ParseDpctlShow(string(b))
			if err != nil {
				t.Fatal(err)
			}
			if len(shown) != len(got) {
				t.Fatalf("ovs-dpctl show lists %d datapaths, the dump %d", len(shown), len(got))
			}
			for _, s := range shown {
				var d *DatapathStats
				for i := range got {
					if got[i].Name == s.Name {
						d = &got[i]
					}
				}
				if d == nil {
					t.Fatalf("ovs-dpctl show lists %s, the dump does not", s.Name)
				}
				// ovs-dpctl prints no cache: line before the first packet.
				if !s.HasCache {
					s.HasCache, s.CacheHits = true, 0
				}
				if tt.equal && *d != s {
					t.Errorf("dump %+v, ovs-dpctl show %+v", *d, s)
				}
			}
		})
	}
}

// mutate returns a copy of the first recorded message of one-datapath.bin
// with its attributes changed by f.
func mutate(t *testing.T, f func([]netlink.Attribute) []netlink.Attribute) netlink.Message {
	t.Helper()
	m := readKernelDump(t, "one-datapath.bin")[0]
	attrs, err := netlink.UnmarshalAttributes(m.Data[genlHeaderLen+ovsHeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	attrs = f(attrs)
	for i := range attrs {
		attrs[i].Length = 0 // from the (changed) data
	}
	b, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		t.Fatal(err)
	}
	m.Data = append(append([]byte{}, m.Data[:genlHeaderLen+ovsHeaderLen]...), b...)
	return m
}

func withAttr(typ uint16, f func(netlink.Attribute) []netlink.Attribute) func([]netlink.Attribute) []netlink.Attribute {
	return func(attrs []netlink.Attribute) []netlink.Attribute {
		var out []netlink.Attribute
		for _, a := range attrs {
			if a.Type == typ {
				out = append(out, f(a)...)
			} else {
				out = append(out, a)
			}
		}
		return out
	}
}

func TestDecodeKernelDatapathsBad(t *testing.T) {
	recorded := func(t *testing.T) netlink.Message { return readKernelDump(t, "one-datapath.bin")[0] }
	tests := []struct {
		name string
		msgs func(t *testing.T) []netlink.Message
		want string // in the error
	}{
		{"wrong family", func(t *testing.T) []netlink.Message {
			m := recorded(t)
			m.Header.Type = recordedFamily + 1
			return []netlink.Message{m}
		}, "netlink message type 33, not the ovs_datapath family (32)"},
		{"reply to another command", func(t *testing.T) []netlink.Message {
			m := recorded(t)
			m.Data = append([]byte{1}, m.Data[1:]...)
			return []netlink.Message{m}
		}, "reply to command 1, want OVS_DP_CMD_GET (3)"},
		{"short: no ovs header", func(t *testing.T) []netlink.Message {
			m := recorded(t)
			m.Data = m.Data[:6]
			return []netlink.Message{m}
		}, "short reply: 6 bytes"},
		{"short: cut in an attribute", func(t *testing.T) []netlink.Message {
			m := recorded(t)
			m.Data = m.Data[:len(m.Data)-3]
			return []netlink.Message{m}
		}, "attributes:"},
		{"short stats", func(t *testing.T) []netlink.Message {
			return []netlink.Message{mutate(t, withAttr(ovsDpAttrStats, func(a netlink.Attribute) []netlink.Attribute {
				a.Data = a.Data[:24]
				return []netlink.Attribute{a}
			}))}
		}, "OVS_DP_ATTR_STATS of 24 bytes, want 32"},
		{"megaflow stats of an old layout", func(t *testing.T) []netlink.Message {
			return []netlink.Message{mutate(t, withAttr(ovsDpAttrMegaflowStats, func(a netlink.Attribute) []netlink.Attribute {
				a.Data = a.Data[:16]
				return []netlink.Attribute{a}
			}))}
		}, "OVS_DP_ATTR_MEGAFLOW_STATS of 16 bytes, want 32"},
		{"unknown attribute", func(t *testing.T) []netlink.Message {
			return []netlink.Message{mutate(t, func(attrs []netlink.Attribute) []netlink.Attribute {
				return append(attrs, netlink.Attribute{Type: ovsDpAttrMax + 1, Data: []byte{1, 0, 0, 0}})
			})}
		}, "unknown attribute type 10"},
		{"nested flag on a known attribute", func(t *testing.T) []netlink.Message {
			return []netlink.Message{mutate(t, withAttr(ovsDpAttrStats, func(a netlink.Attribute) []netlink.Attribute {
				a.Type |= 0x8000
				return []netlink.Attribute{a}
			}))}
		}, "unknown attribute type 32771"},
		{"no stats", func(t *testing.T) []netlink.Message {
			return []netlink.Message{mutate(t, withAttr(ovsDpAttrStats, func(netlink.Attribute) []netlink.Attribute { return nil }))}
		}, "datapath system@ovs-system: no OVS_DP_ATTR_STATS"},
		{"no megaflow stats", func(t *testing.T) []netlink.Message {
			return []netlink.Message{mutate(t, withAttr(ovsDpAttrMegaflowStats, func(netlink.Attribute) []netlink.Attribute { return nil }))}
		}, "no OVS_DP_ATTR_MEGAFLOW_STATS"},
		{"no name", func(t *testing.T) []netlink.Message {
			return []netlink.Message{mutate(t, withAttr(ovsDpAttrName, func(netlink.Attribute) []netlink.Attribute { return nil }))}
		}, "no OVS_DP_ATTR_NAME"},
		{"name without NUL", func(t *testing.T) []netlink.Message {
			return []netlink.Message{mutate(t, withAttr(ovsDpAttrName, func(a netlink.Attribute) []netlink.Attribute {
				a.Data = []byte("ovs-system")
				return []netlink.Attribute{a}
			}))}
		}, "OVS_DP_ATTR_NAME of 10 bytes is not a NUL-terminated interface name"},
		{"repeated stats", func(t *testing.T) []netlink.Message {
			return []netlink.Message{mutate(t, withAttr(ovsDpAttrStats, func(a netlink.Attribute) []netlink.Attribute {
				return []netlink.Attribute{a, a}
			}))}
		}, "attribute 3 repeated"},
		{"user features not a u32", func(t *testing.T) []netlink.Message {
			return []netlink.Message{mutate(t, withAttr(ovsDpAttrUserFeatures, func(a netlink.Attribute) []netlink.Attribute {
				a.Data = a.Data[:2]
				return []netlink.Attribute{a}
			}))}
		}, "attribute 5 of 2 bytes, want a u32"},
		{"datapath listed twice", func(t *testing.T) []netlink.Message {
			return []netlink.Message{recorded(t), recorded(t)}
		}, "reply 2: datapath system@ovs-system listed twice"},
		{"second reply of another family", func(t *testing.T) []netlink.Message {
			msgs := readKernelDump(t, "two-datapaths.bin")
			msgs[1].Header.Type = 0x10
			return msgs
		}, "reply 2: netlink message type 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeKernelDatapaths(tt.msgs(t), recordedFamily)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", got)
			}
			if got != nil {
				t.Errorf("returned %+v with the error", got)
			}
			if k := fault.KindOf(err); k != fault.Protocol {
				t.Errorf("kind %v, want protocol: %v", k, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
		})
	}
}

// A kernel before 5.9 sends no OVS_DP_ATTR_MASKS_CACHE_SIZE and has
// padding where n_cache_hit is: no cache hits, rather than a 0.
func TestDecodeKernelDatapathsOldKernel(t *testing.T) {
	m := mutate(t, withAttr(ovsDpAttrMasksCacheSize, func(netlink.Attribute) []netlink.Attribute { return nil }))
	got, err := decodeKernelDatapaths([]netlink.Message{m}, recordedFamily)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].HasCache || !got[0].HasMasks || got[0].MaskHits != 6 {
		t.Fatalf("got %+v, want masks without cache hits", got)
	}
}

func TestDecodeKernelDatapathsEmptyDump(t *testing.T) {
	got, err := decodeKernelDatapaths(nil, recordedFamily)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want no datapath and no error", got, err)
	}
}

// TestKernelDatapathReaderNoFamily runs the reader against this machine's
// real kernel, asking for a family that no kernel has: the error must be
// NotFound, name the command, and not come from asking the kernel for the
// family by name (which would load a module).
func TestKernelDatapathReaderNoFamily(t *testing.T) {
	r := &KernelDatapathReader{familyName: "ovs_datapath_test_absent"}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 2 { // a second read lists the families again
		_, err := r.Read(ctx)
		if !errors.Is(err, ErrNoKernelDatapathFamily) || fault.KindOf(err) != fault.NotFound {
			t.Fatalf("error %v (kind %v), want ErrNoKernelDatapathFamily, not found", err, fault.KindOf(err))
		}
		if fault.OpOf(err) != KernelOp || !strings.Contains(err.Error(), KernelOp) {
			t.Errorf("error %q does not name %s", err, KernelOp)
		}
	}
}

func TestKernelDatapathReaderContext(t *testing.T) {
	r := &KernelDatapathReader{familyName: "ovs_datapath_test_absent"}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Read(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if fault.OpOf(err) != KernelOp {
		t.Errorf("error %q does not name %s", err, KernelOp)
	}
}

func FuzzDecodeKernelDatapaths(f *testing.F) {
	for _, name := range []string{"one-datapath.bin", "two-datapaths.bin", "vswitchd-stopped.bin"} {
		b, err := os.ReadFile(filepath.Join(kernelFixtureDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := splitNetlinkMessages(b)
		if err != nil {
			return
		}
		dps, err := decodeKernelDatapaths(msgs, recordedFamily)
		if err != nil {
			if fault.KindOf(err) != fault.Protocol || dps != nil {
				t.Fatalf("kind %v with %d datapaths: %v", fault.KindOf(err), len(dps), err)
			}
			return
		}
		if len(dps) != len(msgs) {
			t.Fatalf("%d datapaths from %d messages", len(dps), len(msgs))
		}
		for _, d := range dps {
			if !strings.HasPrefix(d.Name, "system@") || len(d.Name) <= len("system@") || !d.HasMasks {
				t.Fatalf("decoded %+v", d)
			}
		}
	})
}
