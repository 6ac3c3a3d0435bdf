// Command datapath-exporter serves Prometheus metrics about the datapath of
// an Antrea node:
//   - the OpenFlow tables of OVS bridges (flows, lookups, matches, limits per
//     table), read from ovs-vswitchd over OpenFlow;
//   - the OVS datapath (flow cache hits, misses and lost upcalls, megaflows
//     against the flow limit, coverage counters), read from ovs-vswitchd's
//     control socket, and the OpenFlow meters' drops;
//   - the kernel conntrack table (entries, limit, per-CPU counters, and
//     optionally entries per zone), read over netlink;
//   - the Antrea agent's names for its tables and its own flow counts, read
//     from the agent's API (opt-in).
//
// See README.md for installing it and docs/ for the metrics and flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/datapath-exporter/datapath-exporter/collector"
)

const name = "datapath_exporter"

// defaultListenAddress is clear of Antrea's agent and controller ports
// (10349-10351), the kubelet's (10248-10250, 10255) and node_exporter's
// (9100), since the exporter shares the host network of Antrea's agent pod.
const defaultListenAddress = ":10357"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed command line.
type options struct {
	web         *web.FlagConfig
	metricsPath *string
	maxRequests *int
	collectors  *collector.Flags
	log         *promslog.Config
}

// newApp declares the command line.
func newApp(stdout, stderr io.Writer) (*kingpin.Application, *options) {
	app := kingpin.New("datapath-exporter",
		"Prometheus exporter for the datapath of an Antrea node: OVS OpenFlow tables (over OpenFlow), the OVS datapath's flow cache, upcalls and meters (from ovs-vswitchd's control socket), kernel conntrack (over netlink) and the Antrea agent's table names and flow counts (from its API).")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	opts := &options{log: &promslog.Config{Writer: stderr}}
	opts.web = kingpinflag.AddFlags(app, defaultListenAddress)
	opts.metricsPath = app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
	opts.maxRequests = app.Flag("web.max-requests",
		"Maximum number of parallel scrape requests; more are answered 503. 0 means no limit: parallel scrapes share one collection and one encoding.").
		Default("0").Int()
	opts.collectors = collector.RegisterFlags(app)
	promslogflag.AddFlags(app, opts.log)
	app.Version(version.Print("datapath-exporter"))
	app.HelpFlag.Short('h')
	return app, opts
}

// run parses args, builds the collectors and serves until ctx ends or the
// server fails. It returns the process's exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app, opts := newApp(stdout, stderr)
	var exited bool
	app.Terminate(func(int) { exited = true })
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "datapath-exporter: %v (see --help)\n", err)
		return 2
	}
	if exited { // --help or --version
		return 0
	}

	logger := promslog.New(opts.log)
	logger.Info("starting datapath-exporter", "version", version.Info(), "build_context", version.BuildContext())

	collectors, err := opts.collectors.Build(logger)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	if len(collectors) == 0 {
		logger.Warn("every collector is disabled: only build and scrape metrics will be served")
	}
	for n, s := range collectors {
		logger.Info("collector enabled", "collector", n, "timeout", s.Timeout)
		if closer, ok := s.Collector.(io.Closer); ok {
			defer closer.Close()
		}
	}

	if *opts.maxRequests < 0 {
		logger.Error("cannot start", "err", fmt.Errorf("--web.max-requests=%d: must be 0 (no limit) or more", *opts.maxRequests))
		return 1
	}
	handler, err := newHandler(logger, collectors, *opts.metricsPath, *opts.maxRequests)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(server, opts.web, logger) }()
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("HTTP server failed", "err", err)
			return 1
		}
		return 0
	case <-ctx.Done():
		logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(sctx)
		return 0
	}
}

// newHandler returns the exporter's HTTP routes: metrics, a landing page and
// health endpoints for Kubernetes probes.
func newHandler(logger *slog.Logger, cs map[string]collector.Scraper, metricsPath string, maxRequests int) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector(name),
		collector.NewExporter(logger, cs),
		collectors.NewGoCollector(),
	)
	if pc, err := newProcessCollector(); err == nil {
		reg.MustRegister(pc)
	} else {
		logger.Warn("process_* metrics not served: /proc cannot be read", "err", err)
	}
	mux := http.NewServeMux()
	longest := time.Duration(0)
	for _, s := range cs {
		longest = max(longest, s.Timeout)
	}
	mux.Handle(metricsPath, newMetricsHandler(reg, reg, logger, maxRequests, longest+encodeMargin))
	health := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "OK\n")
	}
	mux.HandleFunc("/-/healthy", health)
	mux.HandleFunc("/-/ready", health)
	if metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "Datapath Exporter",
			Description: "OVS OpenFlow tables, OVS datapath flow cache, upcalls and meters, kernel conntrack and the Antrea agent's table names of an Antrea node",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
			},
		})
		if err != nil {
			return nil, fmt.Errorf("building landing page: %w", err)
		}
		mux.Handle("/", landing)
	}
	return mux, nil
}
