package collector

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

func TestWithKernelDatapaths(t *testing.T) {
	netdev := ovs.DatapathStats{Name: "netdev@ovs-netdev", Hit: 72, Missed: 8, Lost: 1, Flows: 1}
	// What ovs-vswitchd's dpctl/show said, slightly older than the kernel.
	ctlSystem := ovs.DatapathStats{Name: "system@ovs-system", Hit: 2, Missed: 5, Flows: 5, HasMasks: true, MaskHits: 5, Masks: 1, HasCache: true, CacheHits: 1}
	kernelSystem := ovs.DatapathStats{Name: "system@ovs-system", Hit: 3, Missed: 5, Flows: 5, HasMasks: true, MaskHits: 6, Masks: 1, HasCache: true, CacheHits: 1}
	kernelDP2 := ovs.DatapathStats{Name: "system@dp2", HasMasks: true, HasCache: true}
	noFamily := fault.New(fault.NotFound, ovs.KernelOp, "", ovs.ErrNoKernelDatapathFamily)
	protocol := fault.New(fault.Protocol, ovs.KernelOp, "", errors.New("reply 1: unknown attribute type 10 (4 bytes)"))
	permission := fault.New(fault.Permission, ovs.KernelOp, "", errors.New("operation not permitted"))

	tests := []struct {
		name      string
		ctl       []ovs.DatapathStats
		kernel    []ovs.DatapathStats
		kernelErr error
		want      []ovs.DatapathStats
		wantErr   string
	}{
		{name: "kernel values replace dpctl/show's", ctl: []ovs.DatapathStats{netdev, ctlSystem}, kernel: []ovs.DatapathStats{kernelSystem},
			want: []ovs.DatapathStats{netdev, kernelSystem}},
		{name: "ovs-vswitchd stopped: the kernel's still served", ctl: nil, kernel: []ovs.DatapathStats{kernelSystem, kernelDP2},
			want: []ovs.DatapathStats{kernelSystem, kernelDP2}},
		{name: "userspace node without the module", ctl: []ovs.DatapathStats{netdev}, kernelErr: noFamily,
			want: []ovs.DatapathStats{netdev}},
		{name: "ovs-vswitchd has a kernel datapath the kernel has no family for", ctl: []ovs.DatapathStats{ctlSystem}, kernelErr: noFamily,
			want: []ovs.DatapathStats{}, wantErr: "ovs-vswitchd reports system@ovs-system, but OVS_DP_CMD_GET dump"},
		{name: "undecodable reply: no system@ series, never dpctl/show's", ctl: []ovs.DatapathStats{netdev, ctlSystem}, kernelErr: protocol,
			want: []ovs.DatapathStats{netdev}, wantErr: "unknown attribute type 10"},
		{name: "permission", ctl: []ovs.DatapathStats{ctlSystem}, kernelErr: permission,
			want: []ovs.DatapathStats{}, wantErr: "operation not permitted"},
		{name: "another network namespace", ctl: []ovs.DatapathStats{ctlSystem}, kernel: []ovs.DatapathStats{},
			want: []ovs.DatapathStats{}, wantErr: "network namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctl := ovs.DatapathReading{Datapaths: tt.ctl, Memory: &ovs.MemoryStats{Handlers: 1}}
			got, err := withKernelDatapaths(ctl, tt.kernel, tt.kernelErr)
			if tt.name == "permission" && !strings.Contains(withHint("ovs_datapath", err).Error(), "needs no capability") {
				t.Errorf("the hint of %v does not say OVS_DP_CMD_GET needs no capability", err)
			}
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want it to say %q", err, tt.wantErr)
			}
			if len(got.Datapaths) != len(tt.want) || (len(tt.want) > 0 && !reflect.DeepEqual(got.Datapaths, tt.want)) {
				t.Errorf("datapaths %+v, want %+v", got.Datapaths, tt.want)
			}
			if got.Memory != ctl.Memory {
				t.Error("the control socket's other results are lost")
			}
			if tt.kernelErr != nil && err != nil && fault.KindOf(err) != fault.KindOf(tt.kernelErr) {
				t.Errorf("kind %v, want %v", fault.KindOf(err), fault.KindOf(tt.kernelErr))
			}
		})
	}
}
