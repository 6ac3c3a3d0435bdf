// Package e2e holds tests of the artifacts built on the exporter's metrics:
// the Grafana dashboards in grafana/ and the Prometheus rules in
// deploy/rules/. They run the real exporter binary against a private OVS and
// a private conntrack table, scraped by a real Prometheus, and check that
// every dashboard query and every rule expression parses and finds data.
package e2e
