package testenv

import (
	"os"
	"reflect"
	"testing"
)

func TestParseMeterStats(t *testing.T) {
	real, err := os.ReadFile("../../testdata/ovs-appctl/netdev-meter-stats.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		out     string
		want    map[uint32][]uint64
		wantErr bool
	}{
		{name: "OVS 3.1", out: string(real), want: map[uint32][]uint64{1: {68}}},
		{name: "no meters", out: "OFPST_METER reply (OF1.5) (xid=0x2):\n", want: map[uint32][]uint64{}},
		{name: "two bands", out: "OFPST_METER reply (OF1.3) (xid=0x2):\nmeter:7 flow_count:0 packet_in_count:9 byte_in_count:1 duration:1.0s bands:\n0: packet_count:3 byte_count:1\n1: packet_count:4 byte_count:2\n",
			want: map[uint32][]uint64{7: {3, 4}}},
		{name: "band before meter", out: "0: packet_count:3 byte_count:1\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMeterStats(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
