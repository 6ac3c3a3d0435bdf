// The knobs of the datapath-exporter mixin. Override any of them with
//   (import 'mixin.libsonnet') + { _config+:: { conntrackWarningPercent: 80 } }
// mixin.libsonnet checks their types when it renders (lib/config.libsonnet:
// a wrong type fails with a message naming the key).
//
// Thresholds are percents (75 means 75 %), never ratios: the rules compare
// ratios with value / 100, the texts say "75%". Durations are Prometheus
// durations ('5m', '1h').
{
  _config+:: {
    // Selects this exporter's targets: every recording rule and alert reads
    // the exporter's series through it, and the dashboards' job variable
    // offers the jobs it matches. deploy/'s PodMonitors and
    // scrape-config.yml set job="datapath-exporter"; a PodMonitor of your own
    // gives `<namespace>/<name>` unless it relabels job. It must select only
    // this exporter's targets: DatapathExporterDown reads up{<selector>}.
    datapathExporterSelector: 'job="datapath-exporter"',

    // The label a multi-cluster setup tells clusters apart by (an external
    // or target label); the fleet records aggregate by it and job. Absent,
    // it aggregates as empty and single-cluster setups lose nothing.
    clusterLabel: 'cluster',

    // Conntrack fill (entries / nf_conntrack_max) of
    // DatapathConntrackTableNearlyFull and DatapathConntrackTableFull, also
    // the fleet's "nodes above" records and the dashboards' colours.
    conntrackWarningPercent: 75,
    conntrackCriticalPercent: 90,
    // DatapathConntrackTableFillingUp stays quiet below this fill, where a
    // burst of a few thousand entries extrapolates to anything.
    conntrackFillingUpMinPercent: 40,

    // Fill of an OpenFlow table's max_entries for DatapathOVSFlowTableNearlyFull.
    ovsFlowTableWarningPercent: 90,
    // Datapath flows against ovs-vswitchd's dynamic flow limit for
    // DatapathOVSFlowLimitReached.
    ovsDatapathFlowLimitPercent: 90,

    // Antrea's Service tables (a regular expression on table_name): one flow
    // per Service port and endpoint of the whole cluster, the same on every
    // node (DatapathServiceFlowsOutOfSync).
    antreaServiceTables: 'EndpointDNAT|ServiceLB',

    // How long OVS's and the Antrea agent's flow counts may differ before
    // DatapathOVSFlowsDivergeFromAntrea fires: the agent's count lags by
    // --antrea.refresh and differs for a moment during churn.
    driftWindow: '15m',

    // The `for` of every other alert.
    conntrackNearlyFullFor: '5m',
    conntrackFullFor: '2m',
    conntrackFillingUpFor: '15m',
    conntrackDroppingFor: '1m',
    conntrackInsertFailingFor: '2m',
    ovsFlowTableNearlyFullFor: '5m',
    ovsUpcallsLostFor: '2m',
    ovsFlowLimitReachedFor: '5m',
    ovsHandlerOverflowFor: '2m',
    ovsInterfaceDroppingFor: '15m',
    ovsFlowRestoreWaitFor: '5m',
    exporterDownFor: '5m',
    collectorFailingFor: '5m',
    serviceFlowsOutOfSyncFor: '15m',

    // Every alert's runbook_url is this, '#' and the alert's name in lower
    // case (a section of docs/runbook.md).
    runbookURLBase: 'https://github.com/datapath-exporter/datapath-exporter/blob/main/docs/runbook.md',

    // Dashboards: tags (each dashboard adds its own), the prefix of their
    // uids (uids stay fixed so links between them work) and the refresh of
    // the per-node and the fleet dashboards.
    dashboardTags: ['datapath-exporter', 'antrea'],
    dashboardUIDPrefix: 'datapath-',
    dashboardRefresh: '30s',
    fleetDashboardRefresh: '1m',
  },
}
