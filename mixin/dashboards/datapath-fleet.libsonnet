// The Datapath fleet dashboard (grafana/datapath-fleet.json). Plain JSON apart from the values
// _config owns (p: lib/config.libsonnet params).
function(p)
{
  "__requires": [
    {
      "type": "grafana",
      "id": "grafana",
      "name": "Grafana",
      "version": "10.0.0"
    },
    {
      "type": "datasource",
      "id": "prometheus",
      "name": "Prometheus",
      "version": "1.0.0"
    },
    {
      "type": "panel",
      "id": "stat",
      "name": "stat",
      "version": ""
    },
    {
      "type": "panel",
      "id": "table",
      "name": "table",
      "version": ""
    },
    {
      "type": "panel",
      "id": "timeseries",
      "name": "timeseries",
      "version": ""
    }
  ],
  "annotations": {
    "list": [
      {
        "builtIn": 1,
        "datasource": {
          "type": "grafana",
          "uid": "-- Grafana --"
        },
        "enable": true,
        "hide": true,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard"
      }
    ]
  },
  "description": "Conntrack and OpenFlow tables across every node of a cluster, from the recording rules of deploy/rules/datapath-fleet.rules.yml: the fullest nodes, those filling fastest, the Pods with the most conntrack entries, and tables whose flow count differs between nodes.",
  "editable": true,
  "fiscalYearStartMonth": 0,
  "graphTooltip": 1,
  "links": [
    {
      "title": "Datapath dashboards",
      "type": "dashboards",
      "tags": p.cfg.dashboardTags,
      "asDropdown": true,
      "includeVars": true,
      "keepTime": true,
      "icon": "external link",
      "targetBlank": false,
      "tooltip": "",
      "url": ""
    }
  ],
  "panels": [
    {
      "id": 1,
      "type": "row",
      "title": "Conntrack across nodes",
      "collapsed": false,
      "gridPos": {
        "h": 1,
        "w": 24,
        "x": 0,
        "y": 0
      },
      "panels": []
    },
    {
      "type": "stat",
      "title": "Nodes reporting",
      "description": "cluster_job:datapath_conntrack_nodes:count: nodes whose exporter reports a conntrack limit, per job (recording rule of deploy/rules/datapath-fleet.rules.yml).",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "short",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              }
            ]
          },
          "color": {
            "mode": "thresholds"
          }
        },
        "overrides": []
      },
      "options": {
        "reduceOptions": {
          "calcs": [
            "lastNotNull"
          ],
          "fields": "",
          "values": false
        },
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto"
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "cluster_job:datapath_conntrack_nodes:count{job=~\"$job\"}",
          "legendFormat": "{{job}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 2,
      "gridPos": {
        "h": 5,
        "w": 6,
        "x": 0,
        "y": 1
      }
    },
    {
      "type": "stat",
      "title": "Highest conntrack usage",
      "description": "cluster_job:datapath_conntrack_usage:max: the fullest node's entries / nf_conntrack_max.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "percentunit",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              },
              {
                "color": "orange",
                "value": p.ratio('conntrackWarningPercent')
              },
              {
                "color": "red",
                "value": p.ratio('conntrackCriticalPercent')
              }
            ]
          },
          "color": {
            "mode": "thresholds"
          }
        },
        "overrides": []
      },
      "options": {
        "reduceOptions": {
          "calcs": [
            "lastNotNull"
          ],
          "fields": "",
          "values": false
        },
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto"
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "cluster_job:datapath_conntrack_usage:max{job=~\"$job\"}",
          "legendFormat": "{{job}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 3,
      "gridPos": {
        "h": 5,
        "w": 6,
        "x": 6,
        "y": 1
      }
    },
    {
      "type": "stat",
      "title": "Nodes above " + p.text('conntrackWarningPercent') + "%",
      "description": "cluster_job:datapath_conntrack_nodes_above_" + p.nameText('conntrackWarningPercent') + "pct:count: nodes over the threshold of DatapathConntrackTableNearlyFull.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "short",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              },
              {
                "color": "orange",
                "value": 1
              }
            ]
          },
          "color": {
            "mode": "thresholds"
          }
        },
        "overrides": []
      },
      "options": {
        "reduceOptions": {
          "calcs": [
            "lastNotNull"
          ],
          "fields": "",
          "values": false
        },
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto"
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "cluster_job:datapath_conntrack_nodes_above_" + p.nameText('conntrackWarningPercent') + "pct:count{job=~\"$job\"}",
          "legendFormat": "{{job}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 4,
      "gridPos": {
        "h": 5,
        "w": 6,
        "x": 12,
        "y": 1
      }
    },
    {
      "type": "stat",
      "title": "Nodes above " + p.text('conntrackCriticalPercent') + "%",
      "description": "cluster_job:datapath_conntrack_nodes_above_" + p.nameText('conntrackCriticalPercent') + "pct:count: nodes over the threshold of DatapathConntrackTableFull.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "short",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              },
              {
                "color": "red",
                "value": 1
              }
            ]
          },
          "color": {
            "mode": "thresholds"
          }
        },
        "overrides": []
      },
      "options": {
        "reduceOptions": {
          "calcs": [
            "lastNotNull"
          ],
          "fields": "",
          "values": false
        },
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto"
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "cluster_job:datapath_conntrack_nodes_above_" + p.nameText('conntrackCriticalPercent') + "pct:count{job=~\"$job\"}",
          "legendFormat": "{{job}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 5,
      "gridPos": {
        "h": 5,
        "w": 6,
        "x": 18,
        "y": 1
      }
    },
    {
      "type": "table",
      "title": "Top 10 nodes by conntrack usage",
      "description": "topk(10) of datapath:conntrack_usage:ratio (entries / nf_conntrack_max, per node). Orange from " + p.text('conntrackWarningPercent') + "%, red from " + p.text('conntrackCriticalPercent') + "%.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "percentunit",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              },
              {
                "color": "orange",
                "value": p.ratio('conntrackWarningPercent')
              },
              {
                "color": "red",
                "value": p.ratio('conntrackCriticalPercent')
              }
            ]
          },
          "color": {
            "mode": "thresholds"
          },
          "custom": {
            "cellOptions": {
              "type": "color-background"
            }
          }
        },
        "overrides": []
      },
      "options": {
        "showHeader": true,
        "sortBy": [
          {
            "displayName": "Value",
            "desc": true
          }
        ]
      },
      "transformations": [
        {
          "id": "organize",
          "options": {
            "excludeByName": {
              "Time": true,
              "__name__": true
            }
          }
        }
      ],
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "topk(10, datapath:conntrack_usage:ratio{job=~\"$job\"})",
          "legendFormat": "{{instance}}",
          "range": false,
          "instant": true,
          "refId": "A",
          "format": "table"
        }
      ],
      "id": 6,
      "gridPos": {
        "h": 9,
        "w": 12,
        "x": 0,
        "y": 6
      }
    },
    {
      "type": "table",
      "title": "Top 10 nodes by time until full",
      "description": "bottomk(10) of datapath:conntrack_seconds_until_full:deriv1h: when each growing node reaches nf_conntrack_max at the slope of the last hour. Nodes whose table is not growing are absent.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "s",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "red",
                "value": null
              },
              {
                "color": "orange",
                "value": 14400
              },
              {
                "color": "green",
                "value": 86400
              }
            ]
          },
          "color": {
            "mode": "thresholds"
          },
          "custom": {
            "cellOptions": {
              "type": "color-background"
            }
          }
        },
        "overrides": []
      },
      "options": {
        "showHeader": true,
        "sortBy": [
          {
            "displayName": "Value",
            "desc": true
          }
        ]
      },
      "transformations": [
        {
          "id": "organize",
          "options": {
            "excludeByName": {
              "Time": true,
              "__name__": true
            }
          }
        }
      ],
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "bottomk(10, datapath:conntrack_seconds_until_full:deriv1h{job=~\"$job\"})",
          "legendFormat": "{{instance}}",
          "range": false,
          "instant": true,
          "refId": "A",
          "format": "table"
        }
      ],
      "id": 7,
      "gridPos": {
        "h": 9,
        "w": 12,
        "x": 12,
        "y": 6
      }
    },
    {
      "type": "timeseries",
      "title": "Nodes near full",
      "description": "How many nodes are above " + p.text('conntrackWarningPercent') + "% and " + p.text('conntrackCriticalPercent') + "% of nf_conntrack_max over time (cluster_job:datapath_conntrack_nodes_above_{" + p.nameText('conntrackWarningPercent') + "," + p.nameText('conntrackCriticalPercent') + "}pct:count), and the highest usage.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "short",
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false
          },
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              }
            ]
          },
          "color": {
            "mode": "palette-classic"
          }
        },
        "overrides": []
      },
      "options": {
        "legend": {
          "displayMode": "table",
          "placement": "right",
          "calcs": [
            "lastNotNull",
            "max"
          ],
          "showLegend": true
        },
        "tooltip": {
          "mode": "multi",
          "sort": "desc"
        }
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "cluster_job:datapath_conntrack_nodes_above_" + p.nameText('conntrackWarningPercent') + "pct:count{job=~\"$job\"}",
          "legendFormat": "{{job}} above " + p.text('conntrackWarningPercent') + "%",
          "range": true,
          "instant": false,
          "refId": "A"
        },
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "cluster_job:datapath_conntrack_nodes_above_" + p.nameText('conntrackCriticalPercent') + "pct:count{job=~\"$job\"}",
          "legendFormat": "{{job}} above " + p.text('conntrackCriticalPercent') + "%",
          "range": true,
          "instant": false,
          "refId": "B"
        }
      ],
      "id": 8,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 0,
        "y": 15
      }
    },
    {
      "type": "timeseries",
      "title": "Highest conntrack usage over time",
      "description": "cluster_job:datapath_conntrack_usage:max: the fullest node's usage, per job.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "percentunit",
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false
          },
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              },
              {
                "color": "orange",
                "value": p.ratio('conntrackWarningPercent')
              },
              {
                "color": "red",
                "value": p.ratio('conntrackCriticalPercent')
              }
            ]
          },
          "color": {
            "mode": "palette-classic"
          },
          "min": 0,
          "max": 1
        },
        "overrides": []
      },
      "options": {
        "legend": {
          "displayMode": "table",
          "placement": "right",
          "calcs": [
            "lastNotNull",
            "max"
          ],
          "showLegend": true
        },
        "tooltip": {
          "mode": "multi",
          "sort": "desc"
        }
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "cluster_job:datapath_conntrack_usage:max{job=~\"$job\"}",
          "legendFormat": "{{job}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 9,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 12,
        "y": 15
      }
    },
    {
      "type": "table",
      "title": "Pods with the most conntrack entries",
      "description": "cluster_job_pod:datapath_conntrack_pod_entries:top10: the 10 Pods of the selected jobs with the most conntrack entries per direction of the connection's first packet (source: the Pod opened them; destination: they are aimed at it), and the node they are on. From the opt-in conntrack_pods collector (--collector.conntrack_pods), which dumps each node's table at most once per --conntrack.pods-refresh (60s by default); empty where no node runs it. The \"Datapath / Conntrack\" dashboard's \"Pods with the most connections\" shows a node's Pods and the rest of its entries.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "short",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              }
            ]
          },
          "color": {
            "mode": "thresholds"
          },
          "custom": {
            "cellOptions": {
              "type": "auto"
            }
          }
        },
        "overrides": []
      },
      "options": {
        "showHeader": true,
        "sortBy": [
          {
            "displayName": "entries",
            "desc": true
          }
        ]
      },
      "transformations": [
        {
          "id": "organize",
          "options": {
            "excludeByName": {
              "Time": true,
              "__name__": true
            },
            "indexByName": {
              "direction": 0,
              "namespace": 1,
              "pod": 2,
              "instance": 3,
              "Value": 4
            },
            "renameByName": {
              "Value": "entries",
              "instance": "node"
            }
          }
        }
      ],
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "topk by (direction) (10, cluster_job_pod:datapath_conntrack_pod_entries:top10{job=~\"$job\"})",
          "legendFormat": "{{direction}} {{namespace}}/{{pod}} {{instance}}",
          "range": false,
          "instant": true,
          "refId": "A",
          "format": "table"
        }
      ],
      "id": 14,
      "gridPos": {
        "h": 9,
        "w": 24,
        "x": 0,
        "y": 23
      }
    },
    {
      "id": 10,
      "type": "row",
      "title": "OpenFlow tables across nodes",
      "collapsed": false,
      "gridPos": {
        "h": 1,
        "w": 24,
        "x": 0,
        "y": 32
      },
      "panels": []
    },
    {
      "type": "timeseries",
      "title": "Flows per table, all nodes",
      "description": "cluster_job_table:datapath_ovs_table_flows:sum: flows of each OpenFlow table summed over the nodes of the job.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "short",
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false
          },
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              }
            ]
          },
          "color": {
            "mode": "palette-classic"
          }
        },
        "overrides": []
      },
      "options": {
        "legend": {
          "displayMode": "table",
          "placement": "right",
          "calcs": [
            "lastNotNull",
            "max"
          ],
          "showLegend": true
        },
        "tooltip": {
          "mode": "multi",
          "sort": "desc"
        }
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "cluster_job_table:datapath_ovs_table_flows:sum{job=~\"$job\"}",
          "legendFormat": "{{bridge}} {{table_id}} {{table_name}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 11,
      "gridPos": {
        "h": 9,
        "w": 12,
        "x": 0,
        "y": 33
      }
    },
    {
      "type": "table",
      "title": "Tables whose count differs across nodes",
      "description": "Per table: max - min of the per-node flow counts (cluster_job_table:datapath_ovs_table_flows:spread), only where it is not 0, with the median and standard deviation. Tables of local state (pods, SpoofGuard) differ by design; those Antrea fills from cluster-wide state (EndpointDNAT, ServiceLB) should not.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "short",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              }
            ]
          },
          "color": {
            "mode": "thresholds"
          },
          "custom": {
            "cellOptions": {
              "type": "color-background"
            }
          }
        },
        "overrides": []
      },
      "options": {
        "showHeader": true,
        "sortBy": [
          {
            "displayName": "spread (max - min)",
            "desc": true
          }
        ]
      },
      "transformations": [
        {
          "id": "merge",
          "options": {}
        },
        {
          "id": "organize",
          "options": {
            "excludeByName": {
              "Time": true,
              "__name__": true
            },
            "renameByName": {
              "Value #A": "spread (max - min)",
              "Value #B": "median",
              "Value #C": "stddev"
            }
          }
        }
      ],
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "cluster_job_table:datapath_ovs_table_flows:spread{job=~\"$job\"} > 0",
          "legendFormat": "",
          "range": false,
          "instant": true,
          "refId": "A",
          "format": "table"
        },
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "cluster_job_table:datapath_ovs_table_flows:median{job=~\"$job\"} and on(" + p.cluster + ", job, bridge, table_id, table_name) (cluster_job_table:datapath_ovs_table_flows:spread{job=~\"$job\"} > 0)",
          "legendFormat": "",
          "range": false,
          "instant": true,
          "refId": "B",
          "format": "table"
        },
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "cluster_job_table:datapath_ovs_table_flows:stddev{job=~\"$job\"} and on(" + p.cluster + ", job, bridge, table_id, table_name) (cluster_job_table:datapath_ovs_table_flows:spread{job=~\"$job\"} > 0)",
          "legendFormat": "",
          "range": false,
          "instant": true,
          "refId": "C",
          "format": "table"
        }
      ],
      "id": 12,
      "gridPos": {
        "h": 9,
        "w": 12,
        "x": 12,
        "y": 33
      }
    },
    {
      "type": "table",
      "title": "Service flows out of sync",
      "description": "Nodes whose Service table (" + p.cfg.antreaServiceTables + ") holds a different count than the median of the job's nodes: the expression of DatapathServiceFlowsOutOfSync (which fires after " + p.durationText('serviceFlowsOutOfSyncFor') + "). Empty when every agent is in sync.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "short",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "red",
                "value": null
              }
            ]
          },
          "color": {
            "mode": "thresholds"
          },
          "custom": {
            "cellOptions": {
              "type": "color-background"
            }
          }
        },
        "overrides": []
      },
      "options": {
        "showHeader": true,
        "sortBy": [
          {
            "displayName": "Value",
            "desc": true
          }
        ]
      },
      "transformations": [
        {
          "id": "organize",
          "options": {
            "excludeByName": {
              "Time": true,
              "__name__": true
            }
          }
        }
      ],
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "datapath_ovs_table_flows{job=~\"$job\",table_name=~\"" + p.cfg.antreaServiceTables + "\"} != on(" + p.cluster + ", job, bridge, table_id, table_name) group_left() cluster_job_table:datapath_ovs_table_flows:median{job=~\"$job\"}",
          "legendFormat": "",
          "range": false,
          "instant": true,
          "refId": "A",
          "format": "table"
        }
      ],
      "id": 13,
      "gridPos": {
        "h": 8,
        "w": 24,
        "x": 0,
        "y": 42
      }
    }
  ],
  "refresh": p.cfg.fleetDashboardRefresh,
  "schemaVersion": 39,
  "tags": p.cfg.dashboardTags + ['fleet'],
  "templating": {
    "list": [
      {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": false,
        "multi": false,
        "options": [],
        "refresh": 1,
        "regex": "",
        "skipUrlSync": false
      },
      {
        "name": "job",
        "label": "Job",
        "type": "query",
        "datasource": {
          "type": "prometheus",
          "uid": "${datasource}"
        },
        "definition": "label_values(datapath_exporter_build_info{" + p.sel + "}, job)",
        "query": {
          "query": "label_values(datapath_exporter_build_info{" + p.sel + "}, job)",
          "refId": "PrometheusVariableQueryEditor-VariableQuery"
        },
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "multi": true,
        "includeAll": true,
        "current": {},
        "options": [],
        "hide": 0,
        "skipUrlSync": false,
        "allValue": ".*"
      }
    ]
  },
  "time": {
    "from": "now-6h",
    "to": "now"
  },
  "timepicker": {},
  "timezone": "",
  "title": "Datapath fleet",
  "uid": p.cfg.dashboardUIDPrefix + 'fleet',
  "version": 1,
  "weekStart": ""
}
