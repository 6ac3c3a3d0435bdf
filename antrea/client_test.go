package antrea

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// The agent here is testenv's stand-in (an HTTPS server encoding Antrea's
// definitions with client_golang): no antrea-agent can run on this machine
// (no cluster, and its Go module is refused by the module proxy).

var standinNames = map[int]string{0: "PipelineRootClassifier", 1: "SpoofGuard", 11: "EndpointDNAT"}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestReadStandin(t *testing.T) {
	a := testenv.AntreaAgentForTest(t, testenv.AntreaAgentOptions{Names: standinNames})
	a.SetCounts(map[int]float64{0: 3, 1: 41, 11: 16})
	for _, tt := range []struct {
		name string
		ca   string
	}{{"loopback without CA", ""}, {"with CA file", a.CAFile}} {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Config{URL: a.URL(), TokenFile: a.TokenFile, CAFile: tt.ca})
			r, err := c.Read(ctxFor(t, 5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			want := []Table{{0, "PipelineRootClassifier", 3}, {1, "SpoofGuard", 41}, {11, "EndpointDNAT", 16}}
			if len(r.Tables) != len(want) {
				t.Fatalf("tables %+v, want %+v", r.Tables, want)
			}
			for i := range want {
				if r.Tables[i] != want[i] {
					t.Errorf("table %d: %+v, want %+v", i, r.Tables[i], want[i])
				}
			}
			if !r.HasTotal || r.TotalFlows != 60 {
				t.Errorf("total %v (has %v), want 60", r.TotalFlows, r.HasTotal)
			}
		})
	}
}

func TestNewClientErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"http", Config{URL: "http://127.0.0.1:10350", TokenFile: "t"}, "want https"},
		{"no host", Config{URL: "https://", TokenFile: "t"}, "want https"},
		{"credentials in URL", Config{URL: "https://u:secret@127.0.0.1:10350", TokenFile: "t"}, "must not carry credentials"},
		{"remote without CA", Config{URL: "https://10.0.0.1:10350", TokenFile: "t"}, "only be accepted on a loopback address"},
		{"name without CA", Config{URL: "https://node-1:10350", TokenFile: "t"}, "only be accepted on a loopback address"},
		{"missing CA", Config{URL: "https://10.0.0.1:10350", TokenFile: "t", CAFile: filepath.Join(dir, "none")}, "no such file"},
		{"CA not PEM", Config{URL: "https://10.0.0.1:10350", TokenFile: "t", CAFile: notPEM}, "no PEM certificate"},
		{"no token file", Config{URL: "https://127.0.0.1:10350"}, "no token file"},
		{"negative refresh", Config{URL: "https://127.0.0.1:10350", TokenFile: "t", Refresh: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the URL's password", err)
			}
		})
	}
	for _, ok := range []string{"https://127.0.0.1:10350", "https://[::1]:10350", "https://localhost:10350", "https://127.0.0.2:1"} {
		if _, err := NewClient(Config{URL: ok, TokenFile: "t"}); err != nil {
			t.Errorf("%s without CA: %v", ok, err)
		}
	}
}

func TestReadFailures(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, a *testenv.AntreaAgent, cfg *Config)
		timeout time.Duration
		want    error
	}{
		{"agent down", func(t *testing.T, a *testenv.AntreaAgent, _ *Config) {
			if err := a.Stop(); err != nil {
				t.Fatal(err)
			}
		}, 0, ErrAgentDown},
		{"wrong token", func(t *testing.T, _ *testenv.AntreaAgent, cfg *Config) {
			writeFile(t, cfg.TokenFile, "not-the-token")
		}, 0, ErrUnauthorized},
		{"forbidden", func(_ *testing.T, a *testenv.AntreaAgent, _ *Config) { a.SetMode(testenv.AgentForbidden) }, 0, ErrForbidden},
		{"expired certificate", func(_ *testing.T, a *testenv.AntreaAgent, _ *Config) { a.SetExpiredCert(true) }, 0, ErrTLS},
		{"expired certificate with CA", func(_ *testing.T, a *testenv.AntreaAgent, cfg *Config) {
			a.SetExpiredCert(true)
			cfg.CAFile = a.CAFile
		}, 0, ErrTLS},
		{"other CA", func(t *testing.T, _ *testenv.AntreaAgent, cfg *Config) {
			other := testenv.AntreaAgentForTest(t, testenv.AntreaAgentOptions{Names: nil})
			cfg.CAFile = other.CAFile
		}, 0, ErrTLS},
		{"garbage", func(_ *testing.T, a *testenv.AntreaAgent, _ *Config) { a.SetMode(testenv.AgentGarbage) }, 0, ErrNotPrometheus},
		{"huge", func(_ *testing.T, a *testenv.AntreaAgent, _ *Config) { a.SetMode(testenv.AgentHuge) }, 0, ErrTooLarge},
		{"slow", func(_ *testing.T, a *testenv.AntreaAgent, _ *Config) { a.SetDelay(10 * time.Second) }, 300 * time.Millisecond, ErrTimeout},
		{"token file missing", func(t *testing.T, _ *testenv.AntreaAgent, cfg *Config) {
			cfg.TokenFile = filepath.Join(t.TempDir(), "none")
		}, 0, ErrToken},
		{"token file empty", func(t *testing.T, _ *testenv.AntreaAgent, cfg *Config) { writeFile(t, cfg.TokenFile, "\n") }, 0, ErrToken},
		{"token with a newline inside", func(t *testing.T, _ *testenv.AntreaAgent, cfg *Config) {
			writeFile(t, cfg.TokenFile, "secret-part\nmore-secret")
		}, 0, ErrToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testenv.AntreaAgentForTest(t, testenv.AntreaAgentOptions{Names: standinNames})
			cfg := Config{URL: a.URL(), TokenFile: filepath.Join(t.TempDir(), "token")}
			writeFile(t, cfg.TokenFile, a.Token)
			tt.setup(t, a, &cfg)
			c := newClient(t, cfg)
			d := tt.timeout
			if d == 0 {
				d = 5 * time.Second
			}
			start := time.Now()
			_, err := c.Read(ctxFor(t, d))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if time.Since(start) > d+2*time.Second {
				t.Errorf("read took %s with a %s deadline", time.Since(start), d)
			}
			for _, secret := range []string{a.Token, "secret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows the token", err)
				}
			}
		})
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReadRotatedToken(t *testing.T) {
	a := testenv.AntreaAgentForTest(t, testenv.AntreaAgentOptions{Names: standinNames})
	c := newClient(t, Config{URL: a.URL(), TokenFile: a.TokenFile})
	ctx := ctxFor(t, 10*time.Second)
	if _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.RotateToken(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(ctx); err != nil {
		t.Fatalf("after the token rotated: %v", err)
	}
}

func TestReadAtMostOncePerRefresh(t *testing.T) {
	a := testenv.AntreaAgentForTest(t, testenv.AntreaAgentOptions{Names: standinNames})
	c := newClient(t, Config{URL: a.URL(), TokenFile: a.TokenFile, Refresh: time.Minute})
	now := time.Unix(1700000000, 0)
	var mu sync.Mutex
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx := ctxFor(t, 10*time.Second)

	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Read(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := a.Requests(); n != 1 {
		t.Errorf("20 concurrent reads within the refresh: %d requests, want 1", n)
	}

	// A failure is reused too: a down agent is not hammered.
	a.SetMode(testenv.AgentForbidden)
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	for range 3 {
		if _, err := c.Read(ctx); !errors.Is(err, ErrForbidden) {
			t.Fatalf("err %v, want ErrForbidden", err)
		}
	}
	if n := a.Requests(); n != 2 {
		t.Errorf("after the refresh: %d requests, want 2", n)
	}
}

func TestReadWaitHonoursContext(t *testing.T) {
	a := testenv.AntreaAgentForTest(t, testenv.AntreaAgentOptions{Names: standinNames})
	a.SetDelay(3 * time.Second)
	c := newClient(t, Config{URL: a.URL(), TokenFile: a.TokenFile})
	go func() { _, _ = c.Read(ctxFor(t, 5*time.Second)) }()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	_, err := c.Read(ctxFor(t, 200*time.Millisecond))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("waiting for the read in flight took %s, past the caller's deadline", d)
	}
}

func TestTables(t *testing.T) {
	var tb Tables
	if n, _ := tb.Names(); n != nil {
		t.Fatalf("empty store: %v", n)
	}
	at := time.Unix(1, 0)
	tb.Learn(Reading{Tables: []Table{{1, "SpoofGuard", 1}, {2, "X", 0}}}, at)
	names, when := tb.Names()
	if len(names) != 2 || names[1] != "SpoofGuard" || !when.Equal(at) {
		t.Fatalf("names %v at %v", names, when)
	}
	names[1] = "changed"
	if n, _ := tb.Names(); n[1] != "SpoofGuard" {
		t.Error("Names returned the store's own map")
	}
	tb.Learn(Reading{Tables: []Table{{3, "New", 1}}}, at.Add(time.Second))
	if n, _ := tb.Names(); len(n) != 1 || n[3] != "New" {
		t.Errorf("after a restart with other IDs: %v, want only 3=New", n)
	}
}
