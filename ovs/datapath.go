package ovs

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// Parsers for the text replies of ovs-vswitchd's unixctl commands that
// describe its datapaths. OVS 3.1 prints these as text only (OVS 3.4 added a
// JSON output format for a few other commands, none of these). Lines this
// code does not know are skipped; a line it knows (or must know) in a shape
// it does not understand makes the parser fail with a *FormatError, so a
// changed format never turns into a wrong number or a false 0.

// FormatError says that a reply did not have the expected shape.
type FormatError struct {
	Command string // e.g. "dpctl/show"
	Line    string // the first unexpected line ("" when something is missing)
	Reason  string
}

func (e *FormatError) Error() string {
	if e.Line == "" {
		return fmt.Sprintf("unexpected %s reply: %s", e.Command, e.Reason)
	}
	return fmt.Sprintf("unexpected %s reply: %s: %q", e.Command, e.Reason, truncateText(e.Line, 200))
}

// Unwrap gives the kind (fault.Protocol) and the operation (the command).
func (e *FormatError) Unwrap() error { return fault.New(fault.Protocol, e.Command, "", nil) }

// maxParsedLines bounds the work on one reply; with the reply size bound it
// only matters to fuzzing.
const maxParsedLines = 1 << 20

// DatapathStats is one datapath as `dpctl/show` prints it.
type DatapathStats struct {
	// Name is the datapath's type@name, e.g. "system@ovs-system" (the
	// kernel datapath) or "netdev@ovs-netdev" (userspace).
	Name string
	// Hit, Missed and Lost count packets that found a flow in the
	// datapath's cache, that went up to ovs-vswitchd (an upcall), and that
	// were dropped because the upcall could not be queued.
	Hit, Missed, Lost uint64
	// Flows is the number of flows in the datapath (megaflows).
	Flows uint64
	// HasMasks says whether the datapath reports masks (the kernel
	// datapath does, the userspace one does not).
	HasMasks bool
	// MaskHits counts mask lookups (hit/pkt = MaskHits / (Hit+Missed)).
	MaskHits uint64
	// Masks is the number of masks (megaflow wildcard patterns) in use.
	Masks uint64
	// HasCache says whether the datapath reports its mask cache hits.
	HasCache  bool
	CacheHits uint64
}

var (
	dpLookupsRE = regexp.MustCompile(`^lookups: hit:(\d+) missed:(\d+) lost:(\d+)$`)
	dpFlowsRE   = regexp.MustCompile(`^flows: (\d+)$`)
	dpMasksRE   = regexp.MustCompile(`^masks: hit:(\d+) total:(\d+) hit/pkt:[0-9.]+$`)
	dpCacheRE   = regexp.MustCompile(`^cache: hit:(\d+) hit-rate:[0-9.]+%$`)
)

// ParseDpctlShow parses the reply of `dpctl/show` (without -s), one entry
// per datapath:
//
//	system@ovs-system:
//	  lookups: hit:1 missed:2 lost:0
//	  flows: 2
//	  masks: hit:3 total:1 hit/pkt:1.00
//	  cache: hit:0 hit-rate:0.00%
//	  caches:
//	    masks-cache: size:256
//	  port 0: ovs-system (internal)
//
// An empty reply (no datapath) yields no entries.
func ParseDpctlShow(text string) ([]DatapathStats, error) {
	const cmd = "dpctl/show"
	var out []DatapathStats
	var cur *DatapathStats
	var sawLookups, sawFlows bool
	err := forEachDatapath(cmd, text, datapathSection{
		start: func(name string) {
			cur = &DatapathStats{Name: name}
			sawLookups, sawFlows = false, false
		},
		end: func() error {
			if !sawLookups || !sawFlows {
				return &FormatError{Command: cmd, Reason: fmt.Sprintf("datapath %s has no lookups or flows line", cur.Name)}
			}
			out = append(out, *cur)
			return nil
		},
		line: func(line, field string) error {
			key, _, _ := strings.Cut(field, ":")
			switch key {
			case "lookups":
				m := dpLookupsRE.FindStringSubmatch(field)
				if m == nil {
					return &FormatError{Command: cmd, Line: line, Reason: "unrecognized lookups"}
				}
				sawLookups = true
				return parseUints(m[1:], &cur.Hit, &cur.Missed, &cur.Lost)
			case "flows":
				m := dpFlowsRE.FindStringSubmatch(field)
				if m == nil {
					return &FormatError{Command: cmd, Line: line, Reason: "unrecognized flows"}
				}
				sawFlows = true
				return parseUints(m[1:], &cur.Flows)
			case "masks":
				m := dpMasksRE.FindStringSubmatch(field)
				if m == nil {
					return &FormatError{Command: cmd, Line: line, Reason: "unrecognized masks"}
				}
				cur.HasMasks = true
				return parseUints(m[1:], &cur.MaskHits, &cur.Masks)
			case "cache":
				m := dpCacheRE.FindStringSubmatch(field)
				if m == nil {
					return &FormatError{Command: cmd, Line: line, Reason: "unrecognized cache"}
				}
				cur.HasCache = true
				return parseUints(m[1:], &cur.CacheHits)
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// datapathSection is what forEachDatapath calls for one datapath's part of
// a reply: start at its header, line for each of its indented lines (the
// line as printed, and trimmed), end after its last line.
type datapathSection struct {
	start func(name string)
	line  func(line, field string) error
	end   func() error
}

// forEachDatapath splits a reply of dpctl/show or upcall/show into its
// datapaths: a header "type@name:" at the start of a line, then indented
// lines. A line in no datapath, a header of another shape or more than
// maxParsedLines lines is a FormatError; an error of line that is not one
// becomes one, naming the line.
func forEachDatapath(cmd, text string, sec datapathSection) error {
	inside := false
	n := 0
	for line := range strings.Lines(text) {
		if n++; n > maxParsedLines {
			return &FormatError{Command: cmd, Reason: "too many lines"}
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, ok := strings.CutSuffix(line, ":")
			if !ok || !strings.Contains(name, "@") || strings.ContainsAny(name, " \t") {
				return &FormatError{Command: cmd, Line: line, Reason: "expected a datapath header such as \"system@ovs-system:\""}
			}
			if inside {
				if err := sec.end(); err != nil {
					return err
				}
			}
			sec.start(name)
			inside = true
			continue
		}
		if !inside {
			return &FormatError{Command: cmd, Line: line, Reason: "line before any datapath"}
		}
		if err := sec.line(line, strings.TrimSpace(line)); err != nil {
			var fe *FormatError
			if errors.As(err, &fe) {
				return err
			}
			return &FormatError{Command: cmd, Line: line, Reason: err.Error()}
		}
	}
	if inside {
		return sec.end()
	}
	return nil
}

// UpcallStats is one datapath's entry of `upcall/show`.
type UpcallStats struct {
	Datapath string
	// Flows, AvgFlows and MaxFlows are the datapath flows as the
	// revalidators last counted them; FlowLimit is the dynamic limit
	// ovs-vswitchd adjusts between 1000 and other_config:flow-limit.
	Flows, AvgFlows, MaxFlows, FlowLimit uint64
	// OffloadedFlows is printed only when some are offloaded (hardware
	// offload); HasOffloaded says so.
	OffloadedFlows uint64
	HasOffloaded   bool
	// DumpDuration is how long the last revalidator dump took.
	DumpDuration time.Duration
	UFID         bool
	// Revalidators is the number of revalidator threads listed.
	Revalidators int
}

var (
	upFlowsRE     = regexp.MustCompile(`^flows\s*: \(current (\d+)\) \(avg (\d+)\) \(max (\d+)\) \(limit (\d+)\)$`)
	upOffloadRE   = regexp.MustCompile(`^offloaded flows\s*: (\d+)$`)
	upDurationRE  = regexp.MustCompile(`^dump duration\s*: (-?\d+)ms$`)
	upUFIDRE      = regexp.MustCompile(`^ufid enabled\s*: (true|false)$`)
	upRevalidator = regexp.MustCompile(`^\d+: \(keys -?\d+\)$`)
)

// ParseUpcallShow parses the reply of `upcall/show`:
//
//	netdev@ovs-netdev:
//	  flows         : (current 2) (avg 0) (max 1) (limit 10000)
//	  dump duration : 1ms
//	  ufid enabled : true
//
//	  4: (keys 2)
func ParseUpcallShow(text string) ([]UpcallStats, error) {
	const cmd = "upcall/show"
	var out []UpcallStats
	var cur *UpcallStats
	var sawFlows, sawDuration bool
	err := forEachDatapath(cmd, text, datapathSection{
		start: func(name string) {
			cur = &UpcallStats{Datapath: name}
			sawFlows, sawDuration = false, false
		},
		end: func() error {
			if !sawFlows || !sawDuration {
				return &FormatError{Command: cmd, Reason: fmt.Sprintf("datapath %s has no flows or dump duration line", cur.Datapath)}
			}
			out = append(out, *cur)
			return nil
		},
		line: func(line, field string) error {
			switch {
			case strings.HasPrefix(field, "flows ") || strings.HasPrefix(field, "flows:"):
				m := upFlowsRE.FindStringSubmatch(field)
				if m == nil {
					return &FormatError{Command: cmd, Line: line, Reason: "unrecognized flows"}
				}
				sawFlows = true
				return parseUints(m[1:], &cur.Flows, &cur.AvgFlows, &cur.MaxFlows, &cur.FlowLimit)
			case strings.HasPrefix(field, "offloaded flows"):
				m := upOffloadRE.FindStringSubmatch(field)
				if m == nil {
					return &FormatError{Command: cmd, Line: line, Reason: "unrecognized offloaded flows"}
				}
				cur.HasOffloaded = true
				return parseUints(m[1:], &cur.OffloadedFlows)
			case strings.HasPrefix(field, "dump duration"):
				m := upDurationRE.FindStringSubmatch(field)
				if m == nil {
					return &FormatError{Command: cmd, Line: line, Reason: "unrecognized dump duration"}
				}
				ms, err := strconv.ParseInt(m[1], 10, 64)
				if err == nil && (ms < 0 || ms > int64(time.Duration(1<<62)/time.Millisecond)) {
					err = fmt.Errorf("dump duration %dms out of range", ms)
				}
				cur.DumpDuration = time.Duration(ms) * time.Millisecond
				sawDuration = true
				return err
			case strings.HasPrefix(field, "ufid enabled"):
				m := upUFIDRE.FindStringSubmatch(field)
				if m == nil {
					return &FormatError{Command: cmd, Line: line, Reason: "unrecognized ufid enabled"}
				}
				cur.UFID = m[1] == "true"
			case upRevalidator.MatchString(field):
				cur.Revalidators++
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MemoryStats is what `memory/show` reports about ovs-vswitchd's threads.
type MemoryStats struct {
	// Handlers and Revalidators are the upcall handler and revalidator
	// threads, summed over datapaths.
	Handlers, Revalidators uint64
}

var memoryItemRE = regexp.MustCompile(`(?:^|\s)(handlers|revalidators):(\S*)`)

// ParseMemoryShow parses the reply of `memory/show`, a line of
// "name:value" items such as
//
//	handlers:1 idl-cells-Open_vSwitch:153 ports:2 revalidators:1 rules:5 udpif keys:2
//
// Both handlers and revalidators must be present: they are reported by every
// ovs-vswitchd with a datapath (with none, it has no upcall threads, and the
// reply is an error here rather than a false 0).
func ParseMemoryShow(text string) (MemoryStats, error) {
	const cmd = "memory/show"
	var m MemoryStats
	var sawHandlers, sawRevalidators bool
	for _, match := range memoryItemRE.FindAllStringSubmatch(text, 16) {
		v, err := strconv.ParseUint(match[2], 10, 64)
		if err != nil {
			return MemoryStats{}, &FormatError{Command: cmd, Line: firstLineWith(text, match[1]+":"), Reason: fmt.Sprintf("%s is not a number", match[1])}
		}
		switch match[1] {
		case "handlers":
			m.Handlers, sawHandlers = v, true
		case "revalidators":
			m.Revalidators, sawRevalidators = v, true
		}
	}
	if !sawHandlers || !sawRevalidators {
		return MemoryStats{}, &FormatError{Command: cmd, Line: firstLine(text), Reason: "no handlers:N and revalidators:N items (no datapath yet?)"}
	}
	return m, nil
}

var coverageLineRE = regexp.MustCompile(`^(\S+)\s+[0-9.]+/sec\s+[0-9.]+/sec\s+[0-9.]+/sec\s+total: (\d+)$`)

// ParseCoverageShow parses the reply of `coverage/show` into event totals:
//
//	Event coverage, avg rate over last: 5 seconds, last minute, last hour,  hash=121fa36d:
//	bridge_reconfigure         0.4/sec     0.033/sec        0.0006/sec   total: 10
//	...
//	107 events never hit
//
// Events never hit are not listed (their total is 0, but the reply does not
// say which ones they are).
func ParseCoverageShow(text string) (map[string]uint64, error) {
	const cmd = "coverage/show"
	out := map[string]uint64{}
	sawHeader := false
	n := 0
	for line := range strings.Lines(text) {
		if n++; n > maxParsedLines {
			return nil, &FormatError{Command: cmd, Reason: "too many lines"}
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "Event coverage"):
			sawHeader = true
		case strings.HasSuffix(line, "events never hit"):
		case strings.Contains(line, "total:"):
			if !sawHeader {
				return nil, &FormatError{Command: cmd, Line: line, Reason: "event before the \"Event coverage\" header"}
			}
			m := coverageLineRE.FindStringSubmatch(line)
			if m == nil {
				return nil, &FormatError{Command: cmd, Line: line, Reason: "unrecognized event line"}
			}
			v, err := strconv.ParseUint(m[2], 10, 64)
			if err != nil {
				return nil, &FormatError{Command: cmd, Line: line, Reason: err.Error()}
			}
			out[m[1]] = v
		}
	}
	if !sawHeader {
		return nil, &FormatError{Command: cmd, Line: firstLine(text), Reason: "no \"Event coverage\" header"}
	}
	return out, nil
}

// ParseCoverageCounter parses the reply of `coverage/read-counter NAME`: a
// number on a line of its own.
func ParseCoverageCounter(text string) (uint64, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(text), 10, 64)
	if err != nil {
		return 0, &FormatError{Command: "coverage/read-counter", Line: firstLine(text), Reason: "not a number"}
	}
	return v, nil
}

func parseUints(s []string, dst ...*uint64) error {
	for i, p := range dst {
		v, err := strconv.ParseUint(s[i], 10, 64)
		if err != nil {
			return err
		}
		*p = v
	}
	return nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func firstLineWith(s, sub string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return strings.TrimRight(line, "\n")
		}
	}
	return firstLine(s)
}
