package antrea

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// Errors a read can wrap; test with errors.Is.
var (
	// ErrToken: the bearer token file is missing, unreadable, empty or
	// holds something that is not a token.
	ErrToken = errors.New("no usable bearer token")
	// ErrAgentDown: nothing answers at the agent's address.
	ErrAgentDown = errors.New("antrea-agent is not answering")
	// ErrUnauthorized: the agent rejected the token (HTTP 401).
	ErrUnauthorized = errors.New("antrea-agent rejected the bearer token (HTTP 401)")
	// ErrForbidden: the token's identity may not get /metrics (HTTP 403).
	ErrForbidden = errors.New("antrea-agent denied get on /metrics to the token's service account (HTTP 403)")
	// ErrHTTPStatus: another HTTP status than 200, 401 or 403.
	ErrHTTPStatus = errors.New("unexpected HTTP status from antrea-agent")
	// ErrTLS: the TLS handshake failed (certificate expired, not signed
	// by the CA given, not TLS at all).
	ErrTLS = errors.New("TLS handshake with antrea-agent failed")
	// ErrTimeout: the read did not finish before the context's deadline.
	ErrTimeout = errors.New("timed out reading antrea-agent's metrics")
	// ErrNotPrometheus: the body is not a Prometheus text exposition.
	ErrNotPrometheus = errors.New("antrea-agent's reply is not Prometheus text")
	// ErrTooLarge: the body is larger than the client's bound.
	ErrTooLarge = errors.New("antrea-agent's reply is too large")
	// ErrNoFlowCount: the exposition holds no antrea_agent_ovs_flow_count
	// sample (not an agent, or one that has not set up its pipeline yet).
	ErrNoFlowCount = errors.New("the reply holds no antrea_agent_ovs_flow_count sample")
)

// DefaultMaxBodyBytes bounds the agent's reply. An agent's /metrics is
// a few hundred kilobytes (Go runtime, process, API server and Antrea's own
// families).
const DefaultMaxBodyBytes = 16 << 20

// Config configures a Client.
type Config struct {
	// URL is the agent's API server, e.g. https://127.0.0.1:10350; the
	// path /metrics is read from it when URL has no path.
	URL string
	// TokenFile holds the bearer token. It is read again at each request
	// (at most once per Refresh), so a rotated projected token is used as
	// soon as the kubelet writes it.
	TokenFile string
	// CAFile, if set, holds the PEM certificates that sign the agent's
	// certificate. Without it the agent's self-signed certificate is
	// accepted unverified (but not once expired), which NewClient allows
	// only for a loopback URL.
	CAFile string
	// Refresh is how long a read (success or failure) is reused: the
	// endpoint is read at most once per Refresh. 0 reads at every call.
	Refresh time.Duration
	// MaxBodyBytes bounds the reply (<= 0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
}

// Client reads the agent's table names and flow counts.
type Client struct {
	url       string
	tokenFile string
	refresh   time.Duration
	maxBody   int64
	http      *http.Client
	now       func() time.Time

	// sem admits one read at a time; waiting for it honours ctx.
	sem chan struct{}
	// last is the result of the last read and when it started, guarded
	// by sem.
	last struct {
		at      time.Time
		valid   bool
		reading Reading
		err     error
	}
}

// NewClient checks cfg and returns a Client. It fails when cfg.URL is not
// an https URL, when CAFile cannot be read, and when there is no CAFile for a
// URL whose host is not a loopback address: an unverified certificate is
// only acceptable where no one else can answer.
func NewClient(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("agent URL %q: %w", cfg.URL, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("agent URL %q: want https://HOST:PORT (the agent serves its API over TLS only)", cfg.URL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("agent URL %s: must not carry credentials (the bearer token comes from the token file)", u.Redacted())
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/metrics"
	}
	if cfg.TokenFile == "" {
		return nil, fmt.Errorf("%w: no token file given", ErrToken)
	}
	if cfg.Refresh < 0 {
		return nil, fmt.Errorf("refresh %s: must not be negative", cfg.Refresh)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	} else {
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("agent URL %s: without a CA file the agent's self-signed certificate "+
				"can only be accepted on a loopback address (127.0.0.1, ::1, localhost)", u.Redacted())
		}
		// The agent's certificate is self-signed and unknown here, so
		// the chain cannot be verified; on loopback no one else can
		// answer. An expired certificate is still refused: the agent
		// renews its own, so an expired one is a fault worth seeing.
		tlsConfig.InsecureSkipVerify = true
		tlsConfig.VerifyConnection = verifyValidity
	}
	maxBody := cfg.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	transport := &http.Transport{
		TLSClientConfig:     tlsConfig,
		Proxy:               nil, // the agent is on this node: never through a proxy
		DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        1,
		IdleConnTimeout:     2 * time.Minute,
		DisableCompression:  false,
	}
	return &Client{
		url:       u.String(),
		tokenFile: cfg.TokenFile,
		refresh:   cfg.Refresh,
		maxBody:   maxBody,
		http: &http.Client{
			Transport: transport,
			// A redirect would carry the token elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now: time.Now,
		sem: make(chan struct{}, 1),
	}, nil
}

// URL is the address read, without credentials.
func (c *Client) URL() string { return c.url }

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// verifyValidity refuses a certificate outside its validity period.
func verifyValidity(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: the agent sent no certificate", ErrTLS)
	}
	leaf := cs.PeerCertificates[0]
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("%w: the agent's certificate expired at %s", ErrTLS, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("%w: the agent's certificate is not valid before %s", ErrTLS, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// Read returns the agent's tables. Within Refresh of the last read it
// returns that read's result (success or error) without asking the agent;
// concurrent callers wait for the one read in flight, or for ctx.
func (c *Client) Read(ctx context.Context) (Reading, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return Reading{}, fault.New(fault.Timeout, "GET", c.url, fmt.Errorf("%w: waiting for the read in flight: %v", ErrTimeout, ctx.Err()))
	}
	defer func() { <-c.sem }()
	now := c.now()
	if c.last.valid && c.refresh > 0 && now.Sub(c.last.at) < c.refresh {
		return c.last.reading, c.last.err
	}
	r, err := c.read(ctx)
	c.last.at, c.last.valid, c.last.reading, c.last.err = now, true, r, err
	return r, err
}

// read asks the agent once.
func (c *Client) read(ctx context.Context) (Reading, error) {
	token, err := c.token()
	if err != nil {
		return Reading{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return Reading{}, fault.Wrap("building request for", c.url, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
	resp, err := c.http.Do(req)
	if err != nil {
		return Reading{}, c.classify(ctx, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return Reading{}, fault.New(fault.Permission, "GET", c.url, ErrUnauthorized)
	case http.StatusForbidden:
		return Reading{}, fault.New(fault.Permission, "GET", c.url, ErrForbidden)
	default:
		return Reading{}, fault.New(fault.Remote, "GET", c.url, fmt.Errorf("%w: %s", ErrHTTPStatus, resp.Status))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "text/plain" && mt != "application/openmetrics-text") {
			return Reading{}, fault.New(fault.Protocol, "GET", c.url, fmt.Errorf("%w: Content-Type %q", ErrNotPrometheus, truncate(ct)))
		}
	}
	r, err := Parse(resp.Body, c.maxBody)
	if err != nil {
		if errors.Is(err, ErrNotPrometheus) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrNoFlowCount) {
			return Reading{}, fault.New(fault.Protocol, "GET", c.url, err)
		}
		return Reading{}, c.classify(ctx, err)
	}
	return r, nil
}

// TokenOp is the operation of every error about the bearer token.
const TokenOp = "reading the bearer token"

// token reads the bearer token. Errors name the file, never its content.
func (c *Client) token() (string, error) {
	b, err := os.ReadFile(c.tokenFile)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", fault.New(fault.KindOf(err), TokenOp, c.tokenFile, fmt.Errorf("%w: %v", ErrToken, pe.Err))
		}
		return "", fault.New(fault.KindOf(err), TokenOp, c.tokenFile, ErrToken)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fault.New(fault.Protocol, TokenOp, c.tokenFile, fmt.Errorf("%w: the file is empty", ErrToken))
	}
	for i := 0; i < len(token); i++ {
		if token[i] < 0x21 || token[i] > 0x7e {
			return "", fault.New(fault.Protocol, TokenOp, c.tokenFile, fmt.Errorf("%w: the file holds a character not allowed in a bearer token (at byte %d)", ErrToken, i))
		}
	}
	return token, nil
}

// classify wraps a transport error in the sentinel that says what happened.
func (c *Client) classify(ctx context.Context, err error) error {
	var (
		certErr  *tls.CertificateVerificationError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		netErr   net.Error
	)
	switch {
	case errors.Is(err, ErrTLS):
		return fault.New(fault.Refused, "GET", c.url, unwrapURL(err))
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &alertErr):
		return fault.New(fault.Refused, "GET", c.url, fmt.Errorf("%w: %v", ErrTLS, unwrapURL(err)))
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil, errors.As(err, &netErr) && netErr.Timeout():
		return fault.New(fault.Timeout, "GET", c.url, ErrTimeout)
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EHOSTUNREACH):
		return fault.New(fault.Refused, "GET", c.url, fmt.Errorf("%w: %v", ErrAgentDown, unwrapURL(err)))
	}
	return fault.Wrap("GET", c.url, unwrapURL(err))
}

// unwrapURL drops url.Error's "Get URL:" prefix, which the caller's message
// already says.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
