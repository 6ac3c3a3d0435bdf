package antrea

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The families read from the agent, as pkg/agent/metrics of antrea-io/antrea
// defines them.
const (
	FlowCountFamily      = "antrea_agent_ovs_flow_count"
	TotalFlowCountFamily = "antrea_agent_ovs_total_flow_count"
)

// The conntrack gauges the agent serves while its Flow Exporter runs; only
// their presence is noted.
const (
	ConntrackTotalFamily  = "antrea_agent_conntrack_total_connection_count"
	ConntrackMaxFamily    = "antrea_agent_conntrack_max_connection_count"
	ConntrackAntreaFamily = "antrea_agent_conntrack_antrea_connection_count"
)

// ConntrackFamilies says which of the agent's conntrack gauges an
// exposition holds a sample of.
type ConntrackFamilies struct {
	Total, Max, Antrea bool
}

// Any reports whether the agent serves any of them.
func (f ConntrackFamilies) Any() bool { return f.Total || f.Max || f.Antrea }

// Names returns the names of the families served.
func (f ConntrackFamilies) Names() []string {
	var out []string
	for _, fam := range []struct {
		on   bool
		name string
	}{{f.Total, ConntrackTotalFamily}, {f.Max, ConntrackMaxFamily}, {f.Antrea, ConntrackAntreaFamily}} {
		if fam.on {
			out = append(out, fam.name)
		}
	}
	return out
}

// maxLineBytes bounds one line of the exposition: a line longer than this
// is not something the agent writes.
const maxLineBytes = 1 << 20

// Table is one OpenFlow table of br-int as the agent sees it.
type Table struct {
	ID   uint8
	Name string
	// Flows is the agent's own count of the flows it installed in the
	// table (adjusted as it adds and deletes them), not read from OVS.
	Flows float64
}

// Reading is what one read of the agent's endpoint returned.
type Reading struct {
	// Tables are sorted by ID.
	Tables []Table
	// TotalFlows is antrea_agent_ovs_total_flow_count, when HasTotal.
	TotalFlows float64
	HasTotal   bool
	// Conntrack notes the conntrack gauges of the agent's Flow Exporter
	// (their values are not read).
	Conntrack ConntrackFamilies
}

// Parse reads a Prometheus text exposition (format 0.0.4, or OpenMetrics
// text) from r and returns the two families of Antrea's flow counts, and
// which of its conntrack gauges it holds. It
// scans line by line and decodes only the samples of those families; any
// other family is skipped after a cheap check that the line looks like a
// sample. It reads at most limit bytes (limit <= 0: no bound) and returns an
// error wrapping ErrTooLarge beyond, ErrNotPrometheus for bytes that are not
// an exposition, and ErrNoFlowCount when the exposition holds no table.
func Parse(r io.Reader, limit int64) (Reading, error) {
	if limit > 0 {
		r = &limitedReader{r: r, left: limit}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	byID := map[uint8]Table{}
	var out Reading
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 || line[0] == '#' {
			// HELP, TYPE, UNIT, EOF and comments: their text may be
			// anything, and the families' types are not needed.
			continue
		}
		name, rest, err := splitName(line)
		if err != nil {
			return Reading{}, notPrometheus(lineNo, line, err)
		}
		switch name {
		case FlowCountFamily:
			t, err := parseFlowCount(rest)
			if err != nil {
				return Reading{}, notPrometheus(lineNo, line, err)
			}
			byID[t.ID] = t
		case TotalFlowCountFamily:
			labels, v, err := parseSample(rest)
			if err != nil {
				return Reading{}, notPrometheus(lineNo, line, err)
			}
			if len(labels) != 0 {
				return Reading{}, notPrometheus(lineNo, line, errors.New("unexpected labels"))
			}
			out.TotalFlows, out.HasTotal = v, true
		case ConntrackTotalFamily:
			out.Conntrack.Total = true
		case ConntrackMaxFamily:
			out.Conntrack.Max = true
		case ConntrackAntreaFamily:
			out.Conntrack.Antrea = true
		}
	}
	if err := sc.Err(); err != nil {
		switch {
		case errors.Is(err, ErrTooLarge):
			return Reading{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		case errors.Is(err, bufio.ErrTooLong):
			return Reading{}, fmt.Errorf("%w: line %d is longer than %d bytes", ErrNotPrometheus, lineNo+1, maxLineBytes)
		}
		return Reading{}, err
	}
	if len(byID) == 0 {
		return Reading{}, ErrNoFlowCount
	}
	out.Tables = make([]Table, 0, len(byID))
	for _, t := range byID {
		out.Tables = append(out.Tables, t)
	}
	slices.SortFunc(out.Tables, func(a, b Table) int { return int(a.ID) - int(b.ID) })
	return out, nil
}

// notPrometheus describes a bad line without quoting more than its start:
// the body may be anything, of any size.
func notPrometheus(lineNo int, line []byte, err error) error {
	const max = 60
	s := string(line)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Errorf("%w: line %d %q: %v", ErrNotPrometheus, lineNo, s, err)
}

// splitName returns the metric name that starts a sample line and what
// follows it.
func splitName(line []byte) (string, []byte, error) {
	i := 0
	for i < len(line) && isNameChar(line[i], i == 0) {
		i++
	}
	if i == 0 {
		return "", nil, errors.New("not a metric name")
	}
	if i < len(line) && line[i] != '{' && line[i] != ' ' && line[i] != '\t' {
		return "", nil, errors.New("not a metric name")
	}
	return string(line[:i]), line[i:], nil
}

func isNameChar(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
		return true
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}

// parseFlowCount decodes the labels and value of an
// antrea_agent_ovs_flow_count sample.
func parseFlowCount(rest []byte) (Table, error) {
	labels, v, err := parseSample(rest)
	if err != nil {
		return Table{}, err
	}
	idText, ok := labels["table_id"]
	if !ok {
		return Table{}, errors.New("no table_id label")
	}
	id, err := strconv.ParseUint(idText, 10, 8)
	if err != nil {
		return Table{}, fmt.Errorf("table_id %q is not an OpenFlow table ID (0-254)", idText)
	}
	if id == 255 {
		return Table{}, errors.New("table_id 255 is not an OpenFlow table ID (0-254)")
	}
	return Table{ID: uint8(id), Name: labels["table_name"], Flows: v}, nil
}

// parseSample decodes `{labels} value [timestamp]`, what follows a
// sample's name.
func parseSample(rest []byte) (map[string]string, float64, error) {
	labels := map[string]string{}
	s := string(rest)
	if strings.HasPrefix(s, "{") {
		var err error
		labels, s, err = parseLabels(s[1:])
		if err != nil {
			return nil, 0, err
		}
	}
	fields := strings.Fields(s)
	if len(fields) < 1 || len(fields) > 2 {
		return nil, 0, errors.New("want a value and an optional timestamp")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, 0, fmt.Errorf("value %q is not a finite number", truncate(fields[0]))
	}
	return labels, v, nil
}

// parseLabels decodes `name="value",...}` (the opening brace already read),
// with the escapes of the text format (\\, \" and \n), and returns what
// follows the closing brace.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		i := 0
		for i < len(s) && isNameChar(s[i], i == 0) && s[i] != ':' {
			i++
		}
		if i == 0 {
			return nil, "", errors.New("bad label name")
		}
		name := s[:i]
		s = strings.TrimLeft(s[i:], " \t")
		if !strings.HasPrefix(s, "=") {
			return nil, "", fmt.Errorf("label %s: no '='", name)
		}
		s = strings.TrimLeft(s[1:], " \t")
		if !strings.HasPrefix(s, `"`) {
			return nil, "", fmt.Errorf("label %s: value not quoted", name)
		}
		s = s[1:]
		var b strings.Builder
		closed := false
		for i = 0; i < len(s); i++ {
			c := s[i]
			if c == '"' {
				closed = true
				break
			}
			if c != '\\' {
				b.WriteByte(c)
				continue
			}
			i++
			if i == len(s) {
				break
			}
			switch s[i] {
			case '\\':
				b.WriteByte('\\')
			case '"':
				b.WriteByte('"')
			case 'n':
				b.WriteByte('\n')
			default:
				return nil, "", fmt.Errorf("label %s: bad escape \\%c", name, s[i])
			}
		}
		if !closed {
			return nil, "", fmt.Errorf("label %s: unterminated value", name)
		}
		if _, dup := labels[name]; dup {
			return nil, "", fmt.Errorf("label %s twice", name)
		}
		labels[name] = b.String()
		s = strings.TrimLeft(s[i+1:], " \t")
		if strings.HasPrefix(s, ",") {
			s = s[1:]
		} else if !strings.HasPrefix(s, "}") {
			return nil, "", errors.New("want ',' or '}' after a label")
		}
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// limitedReader is io.LimitReader that says when the limit was passed
// instead of ending quietly.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a body of exactly the limit from a
		// longer one.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
