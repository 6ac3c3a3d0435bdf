package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AntreaAgent is a stand-in for the API server of an antrea-agent, for
// tests and the demo. No real agent can run here: it needs a Kubernetes
// cluster, and its Go module (antrea.io/antrea/v2) is refused by the module
// proxy this project builds with. So this is the closest thing: it serves
// /metrics over HTTPS with a self-signed certificate, checks a bearer token
// (401 for a missing or wrong one, 403 when told to act as an agent whose
// service account lacks RBAC for /metrics), and encodes the agent's
// antrea_agent_ovs_flow_count{table_id,table_name} and
// antrea_agent_ovs_total_flow_count with client_golang, with the help texts
// of Antrea's definitions (component-base's "[STABLE] " prefix included),
// among Go runtime and other agent families, as the real agent's registry
// does.
//
// Like the real agent it keeps its own count of each table's flows: the
// counts are what SyncCounts last read from the test's real OVS, and drift
// from OVS when flows change behind its back.
type AntreaAgent struct {
	// Token is the bearer token the stand-in accepts; TokenFile holds it
	// (mode 0600), as a pod's projected service-account token.
	Token     string
	TokenFile string
	// CAFile holds the stand-in's (self-signed) certificate in PEM, for a
	// client that verifies it.
	CAFile string

	addr     string
	ownDir   string // made by StartAntreaAgent, removed by Close
	cert     tls.Certificate
	expired  tls.Certificate
	mu       sync.Mutex
	names    map[int]string
	counts   map[int]float64
	mode     AgentMode
	delay    time.Duration
	useOld   bool
	requests int
	srv      *http.Server
	done     chan struct{}

	// conntrack, if set, are the Flow Exporter's conntrack gauges
	// (total, max, antrea) the stand-in serves.
	conntrack *[3]float64
}

// AgentMode is how the stand-in answers a request that carries the right
// token.
type AgentMode int

const (
	// AgentOK serves the metrics.
	AgentOK AgentMode = iota
	// AgentForbidden answers 403, as the real agent does when the
	// SubjectAccessReview of get /metrics is denied.
	AgentForbidden
	// AgentGarbage answers 200 text/plain with an HTML page: something
	// else listening on the agent's port.
	AgentGarbage
	// AgentHuge answers a valid exposition of more than 20 MiB.
	AgentHuge
)

// hugeBodyBytes is at least the size of an AgentHuge reply.
const hugeBodyBytes = 20 << 20

// AntreaAgentOptions configures StartAntreaAgent.
type AntreaAgentOptions struct {
	// Names are the tables the stand-in names (table ID → Antrea's name).
	Names map[int]string
	// Dir keeps the token and CA files; empty is a temporary directory
	// that Close removes.
	Dir string
}

// AntreaAgentForTest is StartAntreaAgent, stopped when t ends.
func AntreaAgentForTest(t T, opts AntreaAgentOptions) *AntreaAgent {
	t.Helper()
	return forTest(t, "the Antrea agent stand-in", StartAntreaAgent, opts)
}

// StartAntreaAgent starts a stand-in agent on a free loopback port.
func StartAntreaAgent(ctx context.Context, opts AntreaAgentOptions) (_ *AntreaAgent, err error) {
	dir := opts.Dir
	if dir == "" {
		if dir, err = OwnedDir("agent"); err != nil {
			return nil, err
		}
	}
	a := &AntreaAgent{
		TokenFile: filepath.Join(dir, "token"),
		CAFile:    filepath.Join(dir, "agent-ca.crt"),
		names:     map[int]string{},
		counts:    map[int]float64{},
	}
	if opts.Dir == "" {
		a.ownDir = dir
	}
	defer undoOnError(&err, a)
	if err := a.RotateToken(); err != nil {
		return nil, fmt.Errorf("writing token file: %w", err)
	}
	now := time.Now()
	var certPEM []byte
	a.cert, certPEM, err = selfSignedCert(now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(a.CAFile, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("writing CA file: %w", err)
	}
	a.expired, _, err = selfSignedCert(now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	a.setNames(opts.Names)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the agent stand-in: %w", err)
	}
	a.addr = ln.Addr().String()
	a.serve(ln)
	return a, nil
}

// Close stops the stand-in for good and removes the directory it made.
func (a *AntreaAgent) Close() error {
	err := a.Stop()
	if a.ownDir != "" {
		err = errors.Join(err, RemoveOwnedDir(a.ownDir))
	}
	return err
}

// URL is the stand-in's base URL, https://127.0.0.1:PORT.
func (a *AntreaAgent) URL() string { return "https://" + a.addr }

func (a *AntreaAgent) setNames(names map[int]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.names = map[int]string{}
	a.counts = map[int]float64{}
	for id, n := range names {
		a.names[id] = n
		a.counts[id] = 0
	}
}

// SyncCounts sets the stand-in's own count of every table it names to
// the number of flows OVS holds there now (ovs-ofctl dump-flows), as a
// real agent's count is after it installed them.
func (a *AntreaAgent) SyncCounts(o *OVS, bridge string) error {
	counts, err := o.FlowCountsPerTable(bridge)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := range a.names {
		a.counts[id] = float64(counts[id])
	}
	return nil
}

// SetCounts sets the stand-in's own count of the given tables.
func (a *AntreaAgent) SetCounts(counts map[int]float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, c := range counts {
		a.counts[id] = c
	}
}

// Installed adjusts the stand-in's counts for flows it installed (in
// ovs-ofctl add-flows syntax, "table=N,..."), as the real agent adjusts
// its count by deltas rather than reading OVS. Flows of tables it does not
// name are ignored.
func (a *AntreaAgent) Installed(flows []string) { a.adjust(flows, 1) }

// Removed adjusts the stand-in's counts for flows it deleted.
func (a *AntreaAgent) Removed(flows []string) { a.adjust(flows, -1) }

func (a *AntreaAgent) adjust(flows []string, sign float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range flows {
		rest, ok := strings.CutPrefix(f, "table=")
		if !ok {
			continue
		}
		idText, _, _ := strings.Cut(rest, ",")
		id, err := strconv.Atoi(idText)
		if err != nil {
			continue
		}
		if _, named := a.names[id]; named {
			a.counts[id] += sign
		}
	}
}

// Counts returns the stand-in's own count per table.
func (a *AntreaAgent) Counts() map[int]float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[int]float64{}
	for id, c := range a.counts {
		out[id] = c
	}
	return out
}

// SetFlowExporter makes the stand-in serve the conntrack gauges of the
// agent's Flow Exporter (antrea_agent_conntrack_total_connection_count,
// _max_connection_count, _antrea_connection_count) with these values, or,
// for nil, not.
func (a *AntreaAgent) SetFlowExporter(values *[3]float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.conntrack = values
}

// SetMode sets how the stand-in answers authenticated requests.
func (a *AntreaAgent) SetMode(m AgentMode) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.mode = m
}

// SetDelay makes every answer wait d first (a stuck agent).
func (a *AntreaAgent) SetDelay(d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.delay = d
}

// SetExpiredCert makes the stand-in present an expired certificate, or
// its valid one again. It restarts the server so that no connection made
// with the other certificate stays open.
func (a *AntreaAgent) SetExpiredCert(expired bool) error {
	a.mu.Lock()
	changed := a.useOld != expired
	a.useOld = expired
	a.mu.Unlock()
	if !changed {
		return nil
	}
	if err := a.Stop(); err != nil {
		return err
	}
	return a.Start()
}

// Requests is how many requests reached the stand-in.
func (a *AntreaAgent) Requests() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests
}

// RotateToken writes a new token, as the kubelet does for a projected
// service-account token; the old one is rejected from now on.
func (a *AntreaAgent) RotateToken() error {
	token, err := randomHex(24)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.Token = "standin." + token
	a.mu.Unlock()
	// Write then rename, as the kubelet's atomic writer swaps files.
	tmp := a.TokenFile + ".new"
	if err := os.WriteFile(tmp, []byte(a.Token+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, a.TokenFile)
}

// Stop stops the stand-in (an agent that is down): connections to its
// address are refused.
func (a *AntreaAgent) Stop() error {
	a.mu.Lock()
	srv, done := a.srv, a.done
	a.srv = nil
	a.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Close()
	<-done
	return err
}

// Restart stops the stand-in and starts it again on the same address, as
// an agent restarted with other features: its tables are now names (IDs
// and names may differ) with counts 0 until SyncCounts.
func (a *AntreaAgent) Restart(names map[int]string) error {
	if err := a.Stop(); err != nil {
		return err
	}
	a.setNames(names)
	return a.Start()
}

// Start starts a stopped stand-in again on its address.
func (a *AntreaAgent) Start() error {
	var ln net.Listener
	var err error
	// The port was ours a moment ago; give the kernel a moment if a
	// closing connection still holds it.
	for range 50 {
		if ln, err = net.Listen("tcp", a.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("listening again on %s: %w", a.addr, err)
	}
	a.serve(ln)
	return nil
}

func (a *AntreaAgent) serve(ln net.Listener) {
	tlsLn := tls.NewListener(ln, &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.useOld {
				return &a.expired, nil
			}
			return &a.cert, nil
		},
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", a.handleMetrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		// TLS handshake errors (the expired-certificate case) are
		// expected; they would go to the standard logger.
		ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	a.mu.Lock()
	a.srv, a.done = srv, done
	a.mu.Unlock()
	go func() {
		defer close(done)
		_ = srv.Serve(tlsLn)
	}()
}

func (a *AntreaAgent) handleMetrics(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.requests++
	token, mode, delay, ct := a.Token, a.mode, a.delay, a.conntrack
	names := map[int]string{}
	counts := map[int]float64{}
	for id, n := range a.names {
		names[id], counts[id] = n, a.counts[id]
	}
	a.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			// A stuck agent never answers: abort the connection
			// rather than let the server send an empty 200, which a
			// client still waiting would read as a reply without
			// samples instead of a timeout.
			panic(http.ErrAbortHandler)
		}
	}
	// As the agent's API server: authentication (TokenReview) first,
	// then authorisation (SubjectAccessReview of get /metrics).
	if r.Header.Get("Authorization") != "Bearer "+token {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`+"\n")
		return
	}
	switch mode {
	case AgentForbidden:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "Forbidden (user=system:serviceaccount:kube-system:antrea-agent, verb=get, resource=, subresource=)\n")
		return
	case AgentGarbage:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body>It works!</body></html>\n")
		return
	case AgentHuge:
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		// In chunks of 64 KiB: written a line at a time, the body took
		// longer than the reader's deadline on a loaded machine under -race.
		chunk := strings.Repeat("# HELP go_filler A family that never ends.\n", 1500)
		for n := 0; n < hugeBodyBytes; n += len(chunk) {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		return
	}
	reg := prometheus.NewRegistry()
	flowCount := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "antrea", Subsystem: "agent", Name: "ovs_flow_count",
		Help: "[STABLE] Flow count for each OVS flow table. The TableID and TableName are used as labels.",
	}, []string{"table_id", "table_name"})
	total := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "antrea", Subsystem: "agent", Name: "ovs_total_flow_count",
		Help: "[STABLE] Total flow count of all OVS flow tables.",
	})
	pods := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "antrea", Subsystem: "agent", Name: "local_pod_count",
		Help: "[STABLE] Number of Pods on local Node which are managed by the Antrea Agent.",
	})
	reg.MustRegister(flowCount, total, pods, collectors.NewGoCollector())
	if ct != nil {
		// As Antrea's pkg/agent/metrics defines them (ALPHA), served
		// while the agent's Flow Exporter runs.
		for i, name := range []string{"conntrack_total_connection_count", "conntrack_max_connection_count", "conntrack_antrea_connection_count"} {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "antrea", Subsystem: "agent", Name: name,
				Help: "[ALPHA] " + []string{"Number of connections in the conntrack table.", "Size of the conntrack table.",
					"Number of connections in the Antrea ZoneID of the conntrack table."}[i] +
					" This metric gets updated at an interval specified by flowPollInterval, a configuration parameter for the Agent."})
			g.Set(ct[i])
			reg.MustRegister(g)
		}
	}
	var sum float64
	for id, n := range names {
		flowCount.WithLabelValues(strconv.Itoa(id), n).Set(counts[id])
		sum += counts[id]
	}
	total.Set(sum)
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// selfSignedCert makes an ECDSA certificate for 127.0.0.1 and localhost
// valid from notBefore to notAfter, signed by itself (as the agent's own
// certificate is), and returns it with its PEM.
func selfSignedCert(notBefore, notAfter time.Time) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost@antrea-agent-standin"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("creating certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
