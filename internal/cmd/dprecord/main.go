// Command dprecord records the kernel's reply to an OVS_DP_CMD_GET dump of
// the "ovs_datapath" generic netlink family, as the raw netlink messages
// received (NLMSG_DONE excluded), for the seeds and tests of ovs's decoder
// (testdata/kernel-datapath, testdata/fuzz). It also prints what
// ovs.KernelDatapathReader makes of the same kernel, to compare with
// `ovs-dpctl show`. It runs where the kernel datapath is: inside the
// kernel-node VM.
//
//	dprecord -o dump.bin
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

func main() {
	out := flag.String("o", "", "write the raw reply messages here")
	flag.Parse()
	if *out != "" {
		if err := record(*out); err != nil {
			log.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var r ovs.KernelDatapathReader
	defer r.Close()
	dps, err := r.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range dps {
		fmt.Printf("%s: lookups: hit:%d missed:%d lost:%d flows:%d masks: hit:%d total:%d cache: hit:%d\n",
			d.Name, d.Hit, d.Missed, d.Lost, d.Flows, d.MaskHits, d.Masks, d.CacheHits)
	}
}

func record(path string) error {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := c.GetFamily("ovs_datapath")
	if err != nil {
		return err
	}
	req := genetlink.Message{Header: genetlink.Header{Command: 3, Version: f.Version}, Data: make([]byte, 4)}
	if _, err := c.Send(req, f.ID, netlink.Request|netlink.Dump); err != nil {
		return err
	}
	_, msgs, err := c.Receive()
	if err != nil {
		return err
	}
	var raw []byte
	for _, m := range msgs {
		b, err := m.MarshalBinary()
		if err != nil {
			return err
		}
		raw = append(raw, b...)
	}
	fmt.Fprintf(os.Stderr, "family %s id %d version %d: %d messages, %d bytes\n", f.Name, f.ID, f.Version, len(msgs), len(raw))
	return os.WriteFile(path, raw, 0o644)
}
