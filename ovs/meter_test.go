package ovs

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// encodeMeterStats builds an OFPMP_METER reply body as OpenFlow 1.3-1.5 lay
// it out (ofp_meter_stats, 40 bytes, then 16 bytes per band).
func encodeMeterStats(ms ...MeterStats) []byte {
	var out []byte
	for _, m := range ms {
		b := make([]byte, meterStatsLen+meterBandStatsLen*len(m.Bands))
		binary.BigEndian.PutUint32(b[0:4], m.ID)
		binary.BigEndian.PutUint16(b[4:6], uint16(len(b)))
		binary.BigEndian.PutUint32(b[12:16], m.FlowCount)
		binary.BigEndian.PutUint64(b[16:24], m.PacketsIn)
		binary.BigEndian.PutUint64(b[24:32], m.BytesIn)
		binary.BigEndian.PutUint32(b[32:36], 7) // duration_sec
		for i, band := range m.Bands {
			o := meterStatsLen + i*meterBandStatsLen
			binary.BigEndian.PutUint64(b[o:o+8], band.Packets)
			binary.BigEndian.PutUint64(b[o+8:o+16], band.Bytes)
		}
		out = append(out, b...)
	}
	return out
}

// encodeMeterConfigs builds an OFPMP_METER_CONFIG reply body
// (ofp_meter_config, 8 bytes, then 16-byte drop / dscp_remark bands).
func encodeMeterConfigs(ms ...MeterConfig) []byte {
	var out []byte
	for _, m := range ms {
		b := make([]byte, meterConfigLen+meterBandLen*len(m.Bands))
		binary.BigEndian.PutUint16(b[0:2], uint16(len(b)))
		binary.BigEndian.PutUint16(b[2:4], m.Flags)
		binary.BigEndian.PutUint32(b[4:8], m.ID)
		for i, band := range m.Bands {
			o := meterConfigLen + i*meterBandLen
			binary.BigEndian.PutUint16(b[o:o+2], band.Type)
			binary.BigEndian.PutUint16(b[o+2:o+4], meterBandLen)
			binary.BigEndian.PutUint32(b[o+4:o+8], band.Rate)
		}
		out = append(out, b...)
	}
	return out
}

func TestDecodeMeterStats(t *testing.T) {
	two := []MeterStats{
		{ID: 1, FlowCount: 1, PacketsIn: 70, BytesIn: 3080, Bands: []MeterBandStats{{Packets: 68, Bytes: 2992}}},
		{ID: 256, PacketsIn: 5, Bands: []MeterBandStats{{Packets: 1, Bytes: 2}, {Packets: 3, Bytes: 4}}},
		{ID: 3},
	}
	tests := []struct {
		name    string
		b       []byte
		want    []MeterStats
		wantErr bool
	}{
		{name: "none", b: nil, want: nil},
		{name: "three", b: encodeMeterStats(two...), want: two},
		{name: "short", b: encodeMeterStats(two...)[:39], wantErr: true},
		{name: "cut band", b: encodeMeterStats(two...)[:50], wantErr: true},
		{name: "length below minimum", b: func() []byte {
			b := encodeMeterStats(two[0])
			binary.BigEndian.PutUint16(b[4:6], 8)
			return b
		}(), wantErr: true},
		{name: "band length not a multiple", b: func() []byte {
			b := append(encodeMeterStats(two[0]), 0, 0, 0, 0)
			binary.BigEndian.PutUint16(b[4:6], 60)
			return b
		}(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeMeterStats(tt.b)
			if tt.wantErr {
				if !errors.Is(err, ErrShort) {
					t.Fatalf("error %v, want ErrShort", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeMeterConfigs(t *testing.T) {
	cfg := []MeterConfig{
		{ID: 1, Flags: 2, Bands: []MeterBand{{Type: MeterBandDrop, Rate: 1}}},
		{ID: 2, Bands: []MeterBand{{Type: MeterBandDSCPRemark, Rate: 10}, {Type: MeterBandDrop, Rate: 100}}},
	}
	got, err := decodeMeterConfigs(encodeMeterConfigs(cfg...))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Errorf("got %+v, want %+v", got, cfg)
	}
	for _, n := range []int{1, 7, 9, 20} {
		if _, err := decodeMeterConfigs(encodeMeterConfigs(cfg...)[:n]); !errors.Is(err, ErrShort) {
			t.Errorf("%d bytes: error %v, want ErrShort", n, err)
		}
	}
}

func TestJoinMeters(t *testing.T) {
	configs := []MeterConfig{
		{ID: 1, Bands: []MeterBand{{Type: MeterBandDrop}}},
		{ID: 2, Bands: []MeterBand{{Type: MeterBandDSCPRemark}, {Type: MeterBandDrop}}},
		{ID: 3, Bands: []MeterBand{{Type: MeterBandDrop}}},
	}
	stats := []MeterStats{
		{ID: 1, Bands: []MeterBandStats{{Packets: 68}}},
		{ID: 2, Bands: []MeterBandStats{{Packets: 5}, {Packets: 7}}},
		{ID: 3, Bands: []MeterBandStats{{Packets: 1}, {Packets: 1}}}, // changed in between
		{ID: 4, Bands: []MeterBandStats{{Packets: 1}}},               // added in between
	}
	got, err := joinMeters(BridgeMeters{Name: "br0"}, configs, stats)
	if err != nil {
		t.Fatal(err)
	}
	want := []Meter{{ID: 1, Dropped: 68}, {ID: 2, Dropped: 7}}
	if !reflect.DeepEqual(got.Meters, want) {
		t.Errorf("got %+v, want %+v", got.Meters, want)
	}
}

func FuzzDecodeMeters(f *testing.F) {
	f.Add(encodeMeterStats(MeterStats{ID: 1, FlowCount: 1, PacketsIn: 70, BytesIn: 3080, Bands: []MeterBandStats{{Packets: 68, Bytes: 2992}}}))
	f.Add(encodeMeterConfigs(MeterConfig{ID: 1, Bands: []MeterBand{{Type: MeterBandDrop, Rate: 1}}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if ms, err := decodeMeterStats(b); err == nil {
			n := 0
			for _, m := range ms {
				n += meterStatsLen + meterBandStatsLen*len(m.Bands)
			}
			if n != len(b) {
				t.Errorf("decoded %d bytes of %d", n, len(b))
			}
		}
		_, _ = decodeMeterConfigs(b)
	})
}
