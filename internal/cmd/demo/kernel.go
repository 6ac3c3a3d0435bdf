package main

import (
	"context"
	"fmt"
	"log"
	"strconv"
	"strings"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv/kernelnode"
)

// guestExporterPort is the exporter's port in the kernel node VM, forwarded
// to -exporter-address on the host's loopback.
const guestExporterPort = 10357

// kernelScrapeInterval is Prometheus's scrape and evaluation interval in
// the kernel mode.
const kernelScrapeInterval = 5 * time.Second

// runKernel is the demo on the kernel node: a VM booting Debian's own
// kernel (kernelnode.Start) runs OVS on its kernel datapath
// (system@ovs-system) with an Antrea-like br-int, Pods as network
// namespaces with veth ports, and the exporter as the sidecar runs on a
// node; a Pod floods another through br-int's ct(commit,zone=65520) until
// the guest's own conntrack table (nf_conntrack_max lowered to ctMax) is
// full. Prometheus runs on the host, scraping the guest's exporter through
// the port qemu forwards, with the same rules as the userspace demo. No
// Antrea agent stand-in: the guest reaches nothing outside, so the tables
// have no names here.
func (d *demo) runKernel(ctx context.Context, exporterBin, flowsFile string, fillTarget, fillMinutes float64, ctMax uint64) error {
	if err := d.checkAddrs(); err != nil {
		return err
	}
	flows, err := testenv.ReadFlowsFile(flowsFile)
	if err != nil {
		return err
	}

	log.Print("booting the kernel node VM (Debian's kernel under qemu; the first run downloads the kernel package into /var/cache/datapath-exporter/kernel; about a minute under TCG)")
	start := time.Now()
	d.node, err = kernelnode.Start(ctx, kernelnode.Options{
		GuestPorts: []int{guestExporterPort},
		HostAddrs:  map[int]string{guestExporterPort: d.exporterAddr},
	})
	if err != nil {
		return err
	}
	d.cleanup = append(d.cleanup, func() { _ = d.node.Close() })
	log.Printf("kernel node VM up in %s: kernel %s (%s), share %s, qemu pid %d",
		time.Since(start).Round(100*time.Millisecond), d.node.Kernel, d.node.Accel, d.node.Dir, d.node.QemuPid())
	guestExporter, err := d.node.CopyIn(exporterBin, "datapath-exporter")
	if err != nil {
		return fmt.Errorf("copying the exporter into the VM (run `make build` first): %w", err)
	}

	log.Print("starting OVS in the VM (ovs-vswitchd waits until the guest is up 10 s: OVS 3.1.0 starts no upcall handler before)")
	if err := d.node.StartOVS(ctx); err != nil {
		return err
	}
	if err := d.node.SetupAntrea(ctx, kernelnode.AntreaNodeOptions{Flows: flows, Pods: 4, ServiceEndpoints: []int{0, 1, 2}}); err != nil {
		return err
	}
	log.Printf("br-int on the kernel datapath (system@ovs-system) with %d flows of %s, antrea-gw0, Pods pod0-pod3 (%s-%s); "+
		"Service %s:80 DNATed to pod0-pod2 by ct(commit,zone=65520,nat(dst=...))",
		len(flows), flowsFile, testenv.PodIP(0), testenv.PodIP(3), testenv.ServiceIP(0))

	// The guest's conntrack settings are its own, not the host's: a low
	// limit, and unreplied UDP entries kept 10 minutes (instead of 30 s)
	// so that the paced flood below accumulates, as a SYN flood's
	// half-open entries do.
	if _, err := d.node.Run(ctx, "sysctl", "-qw",
		fmt.Sprintf("net.netfilter.nf_conntrack_max=%d", ctMax),
		"net.netfilter.nf_conntrack_udp_timeout=600"); err != nil {
		return err
	}

	if err := d.node.Start(ctx, "exporter", d.node.GuestPath("datapath-exporter"),
		fmt.Sprintf("--web.listen-address=:%d", guestExporterPort),
		"--ovs.rundir="+kernelnode.GuestOVSRunDir,
		"--collector.conntrack_zones", "--no-collector.antrea_agent"); err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+d.exporterAddr+"/-/healthy", time.Minute); err != nil {
		return fmt.Errorf("exporter in the VM (%s, its log is the guest's /tmp/exporter.log): %w", guestExporter, err)
	}
	log.Printf("exporter runs in the VM (OVS at %s, the guest's conntrack), forwarded to %s", kernelnode.GuestOVSRunDir, d.exporterAddr)

	// Every 5 s, not every second as in the userspace demo: under TCG on a
	// busy host the guest's exporter sometimes takes 2 s to answer, and a
	// failed scrape would reset the pending alerts.
	if err := d.startPrometheus(ctx, kernelScrapeInterval); err != nil {
		return err
	}
	d.printKernelGuide(ctMax)

	return runLoad(ctx,
		func(work context.Context) error { return d.floodThroughOVS(work, ctMax, fillTarget, fillMinutes) },
		d.serviceTraffic)
}

// floodThroughOVS sends UDP from pod0 to ever new ports of pod1, through
// br-int's ct(commit,zone=65520): each datagram a new connection in the
// guest's table, target × limit of them over the given minutes. With a
// target past the limit it then goes on (a flood does not stop), so the
// table stays full and the kernel drops what does not fit; below it, the
// entries stay for the guest's UDP timeout.
func (d *demo) floodThroughOVS(ctx context.Context, limit uint64, target, minutes float64) error {
	total, per := loadRamp(limit, target, minutes)
	// Once the ramp is done, a burst every step keeps the table full
	// while the kernel's garbage collector evicts unreplied entries.
	keep := max(int(limit)/4, 1)
	port, sent := 1024, 0
	full := false
	for i := 0; ; i++ {
		ramp := sent < total
		if !ramp && target < 1 {
			<-ctx.Done()
			return ctx.Err()
		}
		n := per
		if !ramp {
			n = keep
		}
		if port+n > 65535 {
			port = 1024
		}
		if err := d.node.PodUDPFlood(ctx, 0, testenv.PodIP(1), port, n); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("flood through OVS: %w", err)
		}
		port += n
		sent += n
		count, err := d.guestUint(ctx, "/proc/sys/net/netfilter/nf_conntrack_count")
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if !ramp && !full {
			full = true
			log.Printf("conntrack (guest): the flood goes on, %d new connections every %s; the table stays full and the kernel drops what does not fit", keep, loadStep)
		}
		if ramp || i%6 == 0 {
			log.Printf("conntrack (guest, through OVS): %d entries of %d (%.0f %%), %d datagrams sent", count, limit, 100*float64(count)/float64(limit), sent)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(loadStep):
		}
	}
}

// serviceTraffic fetches the Service's page from pod3 every 5 s: a TCP
// connection DNATed by EndpointDNAT to one of pod0-pod2. Once the table is
// full the kernel drops some new connections, this one too: a failure is
// logged (when it starts and when it ends), not fatal.
func (d *demo) serviceTraffic(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	failing := false
	for {
		_, err := d.node.PodHTTPGet(ctx, 3, testenv.ServiceIP(0)+":80")
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case err != nil && !failing:
			log.Printf("pod3 -> Service %s:80 fails (a full table drops new connections): %v", testenv.ServiceIP(0), err)
		case err == nil && failing:
			log.Printf("pod3 -> Service %s:80 answers again", testenv.ServiceIP(0))
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (d *demo) guestUint(ctx context.Context, path string) (uint64, error) {
	out, err := d.node.Run(ctx, "cat", path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(out), 10, 64)
}

func (d *demo) printKernelGuide(limit uint64) {
	p, alerts, q := d.promUI()
	fmt.Printf(`
=========== datapath-exporter demo on the kernel node ===========
Exporter metrics (in the VM, forwarded):  http://%s/metrics
Prometheus (on the host):                 %s (%s)
Alerts:            %s   (DatapathConntrackTableFull goes pending, then firing, as the flood fills the table)

Conntrack dashboard, key panels (the guest's table, filled through OVS's ct()):
  %% of the limit:    %s
  entries per zone:  %s
  drops:             %s
OVS datapath row (system@ovs-system, read from the kernel over generic netlink):
  hit/missed/lost:   %s
  mask cache hits:   %s
  megaflows, limit:  %s
OVS flow tables (no Antrea agent in the VM, so the tables have no names):
  flows per table:   %s

The guest's nf_conntrack_max is %d (its own; the host's is untouched).
Stop with Ctrl-C, or from another shell: make demo-stop (the VM goes too)
=================================================================
`, d.exporterAddr, p, d.release, alerts,
		q(`100 * datapath_conntrack_entries / datapath_conntrack_entries_limit`),
		q(`datapath_conntrack_zone_entries`),
		q(`label_replace(rate(datapath_conntrack_drop_total[1m]), "stat", "drop", "", "") or label_replace(rate(datapath_conntrack_early_drop_total[1m]), "stat", "early_drop", "", "") or label_replace(rate(datapath_conntrack_insert_failed_total[1m]), "stat", "insert_failed", "", "")`),
		q(`rate(datapath_ovs_datapath_lookups_total[1m])`),
		q(`rate(datapath_ovs_datapath_cache_hits_total[1m])`),
		q(`datapath_ovs_datapath_flows or datapath_ovs_datapath_flow_limit`),
		q(`datapath_ovs_table_flows{bridge="br-int"}`),
		limit)
}
