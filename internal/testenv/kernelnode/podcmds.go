package kernelnode

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"golang.org/x/sys/unix"
)

// The small programs the agent binary also is inside a Pod's network
// namespace (AgentMain's roles udpflood, httpserve and httpget): the
// guest has no traffic tools of its own to rely on.

// guestHTTPServe is a Pod's web server: it answers with the address it
// was reached on.
func guestHTTPServe() error {
	return http.ListenAndServe(":80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Context().Value(http.LocalAddrContextKey))
	}))
}

// guestUDPFlood sends one datagram each to COUNT distinct destination
// ports (from FIRST) of DST, from one socket: COUNT new connections for
// conntrack. Run it in a Pod's network namespace.
func guestUDPFlood(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: udpflood DST FIRSTPORT COUNT")
	}
	dst, err := netip.ParseAddr(args[0])
	if err != nil {
		return err
	}
	first, err1 := strconv.Atoi(args[1])
	count, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("bad port or count: %v %v", err1, err2)
	}
	return testenv.SendDatagrams(context.Background(), count, time.Millisecond, func(i int) *unix.SockaddrInet4 {
		return &unix.SockaddrInet4{Port: first + i%(65536-first), Addr: dst.As4()}
	})
}

func guestHTTPGet(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: httpget URL")
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(args[0])
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(os.Stdout, resp.Body)
	return err
}
