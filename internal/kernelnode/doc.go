// Package kernelnode holds the tests that run the exporter on OVS's kernel
// datapath: a VM booted from Debian's own kernel (internal/testenv/kernelnode) with
// an Antrea-like br-int on system@ovs-system, Pods, a Service and real
// traffic through the pipeline's conntrack zone. The exporter is built on
// the host and runs in the guest; each test compares what it exports with
// what OVS's and the kernel's own tools print in the guest at the same
// moment.
package kernelnode
