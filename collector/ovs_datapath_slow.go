package collector

import (
	"context"
	"sync"
	"time"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// The ovs_datapath collector reads dpctl/show (the datapath's counters) at
// every scrape, but upcall/show, memory/show and coverage/show only when
// the last answers it kept are older than --ovs.slow-stats-max-age: the
// flow limit and the revalidators' dump duration move once per
// revalidator round, the thread counts at a reconfiguration, and
// coverage/show is the longest reply ovs-vswitchd formats (some 300 lines)
// for counters it folds into their totals about once a second. Reading
// them at every scrape was most of a scrape's time (docs/bench/analysis.md).
const slowDatapathCommands = ovs.CmdUpcallShow | ovs.CmdMemoryShow | ovs.CmdCoverageShow

// defaultSlowStatsMaxAge is --ovs.slow-stats-max-age's default.
const defaultSlowStatsMaxAge = 30 * time.Second

// datapathCommandReader is the part of ovs.VswitchdReader the cache uses.
type datapathCommandReader interface {
	ReadCommands(ctx context.Context, cmds ovs.DatapathCommands) (ovs.DatapathReading, error)
}

// slowStatsCache keeps the last answers of the slow commands of one
// ovs-vswitchd (one control socket: a restarted daemon has a new pid in
// its socket's name) and when they were read. Safe for concurrent use.
type slowStatsCache struct {
	maxAge time.Duration // 0: read them at every scrape
	now    func() time.Time

	mu       sync.Mutex
	valid    bool
	socket   string
	at       time.Time
	upcalls  []ovs.UpcallStats
	memory   *ovs.MemoryStats
	coverage map[string]uint64
}

func newSlowStatsCache(maxAge time.Duration) *slowStatsCache {
	return &slowStatsCache{maxAge: maxAge, now: time.Now}
}

// read reads the control socket: every command when the kept answers are
// missing or too old, otherwise dpctl/show alone with the kept answers
// filled in. If dpctl/show was answered by another daemon than the kept
// answers were, the slow commands are read at once from it. After any
// failure nothing is kept: the state returned holds only what this read
// got, never an answer of a daemon that does not answer now.
func (c *slowStatsCache) read(ctx context.Context, r datapathCommandReader) (ovs.DatapathReading, error) {
	cmds := ovs.AllDatapathCommands
	if c.fresh() {
		cmds = ovs.CmdDpctlShow
	}
	st, err := r.ReadCommands(ctx, cmds)
	if err != nil {
		c.forget()
		return st, err
	}
	if cmds&slowDatapathCommands == 0 {
		if c.fill(&st) {
			return st, nil
		}
		more, err := r.ReadCommands(ctx, slowDatapathCommands)
		st.Upcalls, st.Memory, st.Coverage = more.Upcalls, more.Memory, more.Coverage
		if err != nil {
			c.forget()
			return st, err
		}
		st.Socket = more.Socket
	}
	c.keep(st)
	return st, nil
}

// fresh reports whether the kept answers may be served.
func (c *slowStatsCache) fresh() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxAge > 0 && c.valid && c.now().Sub(c.at) < c.maxAge
}

// fill copies the kept answers into st if they are of st's daemon.
func (c *slowStatsCache) fill(st *ovs.DatapathReading) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid || c.socket != st.Socket {
		return false
	}
	st.Upcalls, st.Memory, st.Coverage = c.upcalls, c.memory, c.coverage
	return true
}

func (c *slowStatsCache) keep(st ovs.DatapathReading) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.valid, c.socket, c.at = true, st.Socket, c.now()
	c.upcalls, c.memory, c.coverage = st.Upcalls, st.Memory, st.Coverage
}

func (c *slowStatsCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.valid = false
	c.upcalls, c.memory, c.coverage = nil, nil, nil
}
