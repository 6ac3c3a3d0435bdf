package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadStart checks that bad flags and unusable --conntrack.netns paths
// stop the exporter at start with a message naming the cause.
func TestBadStart(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "not-a-netns")
	if err := os.WriteFile(regular, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unknown flag", []string{"--ovs.brige=br-int"}, 2, []string{"unknown long flag '--ovs.brige'", "--help"}},
		{"bad duration", []string{"--ovs.timeout=soon"}, 2, []string{"--ovs.timeout", "soon"}},
		{"zero ovs timeout", []string{"--ovs.timeout=0s", "--no-collector.conntrack"}, 1, []string{"--ovs.timeout=0s", "must be positive"}},
		{"zero conntrack timeout", []string{"--conntrack.timeout=0s", "--no-collector.ovs"}, 1, []string{"--conntrack.timeout=0s", "must be positive"}},
		{"negative zones timeout", []string{"--collector.conntrack_zones", "--conntrack.zones-timeout=-1s", "--no-collector.ovs"}, 1, []string{"--conntrack.zones-timeout=-1s", "must be positive"}},
		{"zero pods refresh", []string{"--collector.conntrack_pods", "--conntrack.pods-refresh=0s", "--no-collector.ovs", "--no-collector.ovs_datapath"}, 1, []string{"--conntrack.pods-refresh=0s", "must be positive"}},
		{"zero pods top", []string{"--collector.conntrack_pods", "--conntrack.pods-top=0", "--no-collector.ovs", "--no-collector.ovs_datapath"}, 1, []string{"--conntrack.pods-top=0", "at least 1"}},
		{"zero pods timeout", []string{"--collector.conntrack_pods", "--conntrack.pods-timeout=0s", "--no-collector.ovs"}, 1, []string{"--conntrack.pods-timeout=0s", "must be positive"}},
		{"negative max requests", []string{"--web.max-requests=-1", "--no-collector.ovs", "--no-collector.conntrack"}, 1, []string{"--web.max-requests=-1", "0 (no limit) or more"}},
		{"empty rundir", []string{"--ovs.rundir=", "--no-collector.conntrack"}, 1, []string{"--ovs.rundir is empty"}},
		{"empty bridge", []string{"--ovs.bridge=", "--no-collector.conntrack"}, 1, []string{"--ovs.bridge is empty"}},
		{"missing netns", []string{"--conntrack.netns=/run/netns/does-not-exist", "--no-collector.ovs"}, 1, []string{"--conntrack.netns=/run/netns/does-not-exist", "/run/netns/NAME"}},
		{"netns is a regular file", []string{"--conntrack.netns=" + regular, "--no-collector.ovs"}, 1, []string{"--conntrack.netns=" + regular}},
		{"negative openflow read interval", []string{"--ovs.openflow-read-interval=-5s", "--no-collector.conntrack"}, 1, []string{"--ovs.openflow-read-interval=-5s", "must not be negative"}},
		{"negative datapath read interval", []string{"--ovs.datapath-read-interval=-5s", "--no-collector.conntrack"}, 1, []string{"--ovs.datapath-read-interval=-5s", "must not be negative"}},
		{"negative conntrack read interval", []string{"--conntrack.read-interval=-1s", "--no-collector.ovs", "--no-collector.ovs_datapath"}, 1, []string{"--conntrack.read-interval=-1s", "must not be negative"}},
		{"bad log level", []string{"--log.level=loud"}, 2, []string{"loud"}},
		{"bad web config", []string{"--web.config.file=/does/not/exist.yml", "--no-collector.ovs", "--no-collector.conntrack", "--web.listen-address=127.0.0.1:0"}, 1, []string{"/does/not/exist.yml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), tt.args, &bytes.Buffer{}, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not mention %q:\n%s", w, stderr.String())
				}
			}
			checkBackgroundReaders(t, 0, "after run returned")
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, arg := range []string{"--help", "--version"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{arg}, &stdout, &stderr); code != 0 {
			t.Errorf("%s: exit %d, stderr %s", arg, code, stderr.String())
		}
		if !strings.Contains(stdout.String()+stderr.String(), "datapath-exporter") {
			t.Errorf("%s printed nothing about datapath-exporter", arg)
		}
	}
}
