package antrea

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// agentMetrics is an exposition as client_golang's promhttp writes it for
// Antrea's flow-count definitions among Go runtime and other agent families
// (testdata/agent-metrics.txt).
func agentMetrics(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/agent-metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Reading
	}{
		{
			name: "capture",
			in:   agentMetrics(t),
			want: Reading{Tables: []Table{
				{0, "PipelineRootClassifier", 3}, {1, "SpoofGuard", 41}, {3, "Classifier", 21},
				{11, "EndpointDNAT", 16}, {29, "Output", 2},
			}, TotalFlows: 83, HasTotal: true},
		},
		{
			name: "escapes, spaces, timestamp, CRLF, openmetrics EOF, label order",
			in: "# HELP antrea_agent_ovs_flow_count a \"help\" with \\ and antrea_agent_ovs_flow_count{x} 1\n" +
				"# TYPE antrea_agent_ovs_flow_count gauge\r\n" +
				`antrea_agent_ovs_flow_count{table_name="A \"quoted\" \\ name\nnext", table_id="7",} 5 1700000000000` + "\r\n" +
				"antrea_agent_ovs_flow_count_other{table_id=\"9\"} 1\n" +
				"go_goroutines 12\n\n" +
				"# EOF\n",
			want: Reading{Tables: []Table{{7, "A \"quoted\" \\ name\nnext", 5}}},
		},
		{
			name: "Flow Exporter on: its conntrack gauges noted",
			in: "# HELP antrea_agent_conntrack_total_connection_count [ALPHA] Number of connections in the conntrack table.\n" +
				"# TYPE antrea_agent_conntrack_total_connection_count gauge\n" +
				"antrea_agent_conntrack_total_connection_count 57\n" +
				"antrea_agent_conntrack_max_connection_count 262144\n" +
				"antrea_agent_conntrack_antrea_connection_count 12\n" +
				"antrea_agent_ovs_flow_count{table_id=\"0\"} 1\n",
			want: Reading{Tables: []Table{{0, "", 1}}, Conntrack: ConntrackFamilies{Total: true, Max: true, Antrea: true}},
		},
		{
			name: "a HELP line alone is no sample",
			in: "# HELP antrea_agent_conntrack_max_connection_count [ALPHA] Size of the conntrack table.\n" +
				"antrea_agent_conntrack_total_connection_count_other 1\n" +
				"antrea_agent_ovs_flow_count{table_id=\"0\"} 1\n",
			want: Reading{Tables: []Table{{0, "", 1}}},
		},
		{
			name: "last sample of a table wins, no table_name",
			in:   "antrea_agent_ovs_flow_count{table_id=\"2\"} 1\nantrea_agent_ovs_flow_count{table_id=\"2\"} 3e0\n",
			want: Reading{Tables: []Table{{2, "", 3}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int64
		want  error
	}{
		{"html", "<html><body>Welcome</body></html>\n", 0, ErrNotPrometheus},
		{"json", `{"kind":"Status","code":403}`, 0, ErrNotPrometheus},
		{"empty", "", 0, ErrNoFlowCount},
		{"other families only", "go_goroutines 3\n# HELP x y\n", 0, ErrNoFlowCount},
		{"bad table_id", "antrea_agent_ovs_flow_count{table_id=\"x\"} 1\n", 0, ErrNotPrometheus},
		{"table_id 255", "antrea_agent_ovs_flow_count{table_id=\"255\"} 1\n", 0, ErrNotPrometheus},
		{"no table_id", "antrea_agent_ovs_flow_count{table_name=\"A\"} 1\n", 0, ErrNotPrometheus},
		{"bad value", "antrea_agent_ovs_flow_count{table_id=\"1\"} many\n", 0, ErrNotPrometheus},
		{"NaN", "antrea_agent_ovs_flow_count{table_id=\"1\"} NaN\n", 0, ErrNotPrometheus},
		{"unterminated", "antrea_agent_ovs_flow_count{table_id=\"1} 1\n", 0, ErrNotPrometheus},
		{"bad escape", "antrea_agent_ovs_flow_count{table_id=\"1\",table_name=\"\\t\"} 1\n", 0, ErrNotPrometheus},
		{"duplicate label", "antrea_agent_ovs_flow_count{table_id=\"1\",table_id=\"2\"} 1\n", 0, ErrNotPrometheus},
		{"total with labels", "antrea_agent_ovs_total_flow_count{a=\"b\"} 1\n", 0, ErrNotPrometheus},
		{"too large", strings.Repeat("go_x 1\n", 1000), 100, ErrTooLarge},
		{"long line", "go_x{a=\"" + strings.Repeat("a", maxLineBytes) + "\"} 1\n", 0, ErrNotPrometheus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), tt.limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if len(err.Error()) > 300 {
				t.Errorf("error of %d bytes: a reply must not be quoted whole", len(err.Error()))
			}
		})
	}
}

func TestParseExactlyAtLimit(t *testing.T) {
	in := "antrea_agent_ovs_flow_count{table_id=\"1\"} 1\n"
	if _, err := Parse(strings.NewReader(in), int64(len(in))); err != nil {
		t.Fatalf("a body of exactly the limit: %v", err)
	}
	if _, err := Parse(strings.NewReader(in+"x"), int64(len(in))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a body one byte over the limit: %v, want ErrTooLarge", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(agentMetrics(f))
	f.Add("antrea_agent_ovs_flow_count{table_id=\"1\",table_name=\"a\\\\b\\\"c\\nd\"} 1 123\n# EOF\n")
	f.Add("antrea_agent_ovs_total_flow_count 4\r\n")
	f.Add("<html>\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := Parse(strings.NewReader(in), 1<<16)
		if err != nil {
			if !errors.Is(err, ErrNotPrometheus) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNoFlowCount) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(r.Tables) == 0 {
			t.Fatal("success without a table")
		}
		for i := 1; i < len(r.Tables); i++ {
			if r.Tables[i-1].ID >= r.Tables[i].ID {
				t.Fatalf("tables not sorted by unique ID: %+v", r.Tables)
			}
		}
	})
}
