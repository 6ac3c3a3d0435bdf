// The Datapath / Conntrack dashboard (grafana/conntrack.json). Plain JSON apart from the values
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
      "id": "gauge",
      "name": "gauge",
      "version": ""
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
  "description": "The kernel conntrack table of each node read by datapath-exporter: entries against nf_conntrack_max, time until full, the Pods with the most entries, drops and insert failures.",
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
      "title": "Overview",
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
      "title": "Entries",
      "description": "datapath_conntrack_entries: entries in the kernel conntrack table (netlink global statistics).",
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
          "expr": "datapath_conntrack_entries{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 2,
      "gridPos": {
        "h": 6,
        "w": 6,
        "x": 0,
        "y": 1
      }
    },
    {
      "type": "stat",
      "title": "Limit",
      "description": "datapath_conntrack_entries_limit: nf_conntrack_max (0 = no limit).",
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
          "expr": "datapath_conntrack_entries_limit{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 3,
      "gridPos": {
        "h": 6,
        "w": 6,
        "x": 6,
        "y": 1
      }
    },
    {
      "type": "gauge",
      "title": "Usage of the limit",
      "description": "Entries / nf_conntrack_max. " + p.text('conntrackWarningPercent') + "% for " + p.durationText('conntrackNearlyFullFor') + " fires DatapathConntrackTableNearlyFull, " + p.text('conntrackCriticalPercent') + "% for " + p.durationText('conntrackFullFor') + " DatapathConntrackTableFull; at 100% new connections are dropped.",
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
          "min": 0,
          "max": 1
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
        "showThresholdLabels": false,
        "showThresholdMarkers": true,
        "orientation": "auto"
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "datapath_conntrack_entries{job=~\"$job\",instance=~\"$instance\"} / (datapath_conntrack_entries_limit{job=~\"$job\",instance=~\"$instance\"} > 0)",
          "legendFormat": "{{instance}}",
          "range": false,
          "instant": true,
          "refId": "A"
        }
      ],
      "id": 4,
      "gridPos": {
        "h": 6,
        "w": 6,
        "x": 12,
        "y": 1
      }
    },
    {
      "type": "stat",
      "title": "Time until full (now)",
      "description": "When the table reaches nf_conntrack_max if it keeps growing as over the last hour (linear regression, as predict_linear): (limit - predict_linear(entries[1h], 0)) / deriv(entries[1h]). Empty when the table is not growing.",
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
          "expr": "(datapath_conntrack_entries_limit{job=~\"$job\",instance=~\"$instance\"} - predict_linear(datapath_conntrack_entries{job=~\"$job\",instance=~\"$instance\"}[1h], 0)) / (deriv(datapath_conntrack_entries{job=~\"$job\",instance=~\"$instance\"}[1h]) > 0)",
          "legendFormat": "{{instance}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 5,
      "gridPos": {
        "h": 6,
        "w": 6,
        "x": 18,
        "y": 1
      }
    },
    {
      "id": 6,
      "type": "row",
      "title": "Table",
      "collapsed": false,
      "gridPos": {
        "h": 1,
        "w": 24,
        "x": 0,
        "y": 7
      },
      "panels": []
    },
    {
      "type": "timeseries",
      "title": "Entries per node",
      "description": "datapath_conntrack_entries, with the limit dashed.",
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
            "mode": "palette-classic"
          },
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false,
            "thresholdsStyle": {
              "mode": "off"
            },
            "stacking": {
              "mode": "none",
              "group": "A"
            }
          }
        },
        "overrides": [
          {
            "matcher": {
              "id": "byRegexp",
              "options": ".* limit$"
            },
            "properties": [
              {
                "id": "custom.lineStyle",
                "value": {
                  "fill": "dash",
                  "dash": [
                    10,
                    10
                  ]
                }
              },
              {
                "id": "custom.fillOpacity",
                "value": 0
              }
            ]
          }
        ]
      },
      "options": {
        "legend": {
          "showLegend": true,
          "displayMode": "table",
          "placement": "bottom",
          "calcs": [
            "lastNotNull",
            "max"
          ]
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
          "expr": "datapath_conntrack_entries{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}}",
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
          "expr": "datapath_conntrack_entries_limit{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}} limit",
          "range": true,
          "instant": false,
          "refId": "B"
        }
      ],
      "id": 7,
      "gridPos": {
        "h": 9,
        "w": 12,
        "x": 0,
        "y": 8
      }
    },
    {
      "type": "timeseries",
      "title": "Percentage of the limit",
      "description": "Entries / nf_conntrack_max per node, with the " + p.text('conntrackWarningPercent') + "% and " + p.text('conntrackCriticalPercent') + "% alert thresholds.",
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
            "mode": "palette-classic"
          },
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false,
            "thresholdsStyle": {
              "mode": "line+area"
            },
            "stacking": {
              "mode": "none",
              "group": "A"
            }
          },
          "min": 0,
          "max": 1
        },
        "overrides": []
      },
      "options": {
        "legend": {
          "showLegend": true,
          "displayMode": "table",
          "placement": "bottom",
          "calcs": [
            "lastNotNull",
            "max"
          ]
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
          "expr": "datapath_conntrack_entries{job=~\"$job\",instance=~\"$instance\"} / (datapath_conntrack_entries_limit{job=~\"$job\",instance=~\"$instance\"} > 0)",
          "legendFormat": "{{instance}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 8,
      "gridPos": {
        "h": 9,
        "w": 12,
        "x": 12,
        "y": 8
      }
    },
    {
      "type": "timeseries",
      "title": "Time until full",
      "description": "Seconds until the table reaches nf_conntrack_max at the growth of the last hour (linear regression). Nodes whose table is not growing are left out. Under 4 hours with the table over " + p.text('conntrackFillingUpMinPercent') + "% full for " + p.durationText('conntrackFillingUpFor') + " fires DatapathConntrackTableFillingUp.",
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
            "mode": "palette-classic"
          },
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false,
            "thresholdsStyle": {
              "mode": "off"
            },
            "stacking": {
              "mode": "none",
              "group": "A"
            }
          },
          "min": 0
        },
        "overrides": []
      },
      "options": {
        "legend": {
          "showLegend": true,
          "displayMode": "table",
          "placement": "bottom",
          "calcs": [
            "lastNotNull",
            "min"
          ]
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
          "expr": "(datapath_conntrack_entries_limit{job=~\"$job\",instance=~\"$instance\"} - predict_linear(datapath_conntrack_entries{job=~\"$job\",instance=~\"$instance\"}[1h], 0)) / (deriv(datapath_conntrack_entries{job=~\"$job\",instance=~\"$instance\"}[1h]) > 0)",
          "legendFormat": "{{instance}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 9,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 0,
        "y": 17
      }
    },
    {
      "type": "timeseries",
      "title": "Entries per zone",
      "description": "datapath_conntrack_zone_entries: entries per conntrack zone (Antrea uses its own zones), top 20. Needs the opt-in conntrack_zones collector (--collector.conntrack_zones), which dumps the table at each scrape.",
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
            "mode": "palette-classic"
          },
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false,
            "thresholdsStyle": {
              "mode": "off"
            },
            "stacking": {
              "mode": "none",
              "group": "A"
            }
          }
        },
        "overrides": []
      },
      "options": {
        "legend": {
          "showLegend": true,
          "displayMode": "table",
          "placement": "bottom",
          "calcs": [
            "lastNotNull",
            "max"
          ]
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
          "expr": "topk(20, datapath_conntrack_zone_entries{job=~\"$job\",instance=~\"$instance\"})",
          "legendFormat": "{{instance}} zone {{zone}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 10,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 12,
        "y": 17
      }
    },
    {
      "id": 20,
      "type": "row",
      "title": "Pods",
      "collapsed": false,
      "gridPos": {
        "h": 1,
        "w": 24,
        "x": 0,
        "y": 25
      },
      "panels": []
    },
    {
      "type": "table",
      "title": "Pods with the most connections",
      "description": "datapath_conntrack_pod_entries: the 10 Pods of the selected nodes with the most conntrack entries, per direction of the connection's first packet: source is the Pod that opened them (a flood from it), destination the Pod they are aimed at (a flood against it). The exporter maps each entry's original source and destination address to the Pod whose OVS port carries it (Antrea's external_ids:ip-address, pod-name, pod-namespace). \"(other addresses)\" is the rest of the entries the nodes' dumps read: addresses of no Pod on the node (Services before DNAT, other nodes, the host, outside the cluster) and Pods below the top; a direction's rows add up to the table's entries. Needs the opt-in conntrack_pods collector (--collector.conntrack_pods), which dumps the table at most once per --conntrack.pods-refresh (60s by default): the counts can be that old (see \"Pods dump age\").",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "short",
          "custom": {
            "align": "auto",
            "cellOptions": {
              "type": "auto"
            }
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
            "mode": "thresholds"
          }
        },
        "overrides": []
      },
      "options": {
        "cellHeight": "sm",
        "footer": {
          "fields": "",
          "reducer": [
            "sum"
          ],
          "show": false
        },
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
          "expr": "topk by (direction) (10, datapath_conntrack_pod_entries{job=~\"$job\",instance=~\"$instance\",pod!=\"\"})\nor\nlabel_replace(\n  sum by (" + p.cluster + ", job, direction) (datapath_conntrack_pod_entries{job=~\"$job\",instance=~\"$instance\"})\n  - (\n    sum by (" + p.cluster + ", job, direction) (topk by (direction) (10, datapath_conntrack_pod_entries{job=~\"$job\",instance=~\"$instance\",pod!=\"\"}))\n    or 0 * sum by (" + p.cluster + ", job, direction) (datapath_conntrack_pod_entries{job=~\"$job\",instance=~\"$instance\"})\n  ),\n  \"pod\", \"(other addresses)\", \"\", \"\"\n)",
          "legendFormat": "{{direction}} {{namespace}}/{{pod}} {{instance}}",
          "range": false,
          "instant": true,
          "refId": "A",
          "format": "table"
        }
      ],
      "id": 21,
      "gridPos": {
        "h": 9,
        "w": 18,
        "x": 0,
        "y": 26
      }
    },
    {
      "type": "stat",
      "title": "Pods dump age",
      "description": "Seconds since the conntrack_pods collector last dumped the table on each node (time() - datapath_conntrack_pods_read_timestamp_seconds), and how long that dump took (datapath_conntrack_pods_read_duration_seconds). The age stays under --conntrack.pods-refresh (60s by default) plus a scrape interval while the collector runs; the counts of \"Pods with the most connections\" are that old.",
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
                "color": "text",
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
        "colorMode": "none",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "horizontal",
        "textMode": "value_and_name"
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "time() - datapath_conntrack_pods_read_timestamp_seconds{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}} age",
          "range": false,
          "instant": true,
          "refId": "A"
        },
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "datapath_conntrack_pods_read_duration_seconds{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}} took",
          "range": false,
          "instant": true,
          "refId": "B"
        }
      ],
      "id": 22,
      "gridPos": {
        "h": 9,
        "w": 6,
        "x": 18,
        "y": 26
      }
    },
    {
      "id": 11,
      "type": "row",
      "title": "Failures",
      "collapsed": false,
      "gridPos": {
        "h": 1,
        "w": 24,
        "x": 0,
        "y": 35
      },
      "panels": []
    },
    {
      "type": "timeseries",
      "title": "insert_failed / drop / early_drop",
      "description": "Per second, summed over CPUs (datapath_conntrack_insert_failed_total, _drop_total, _early_drop_total). drop: a packet dropped because no entry could be allocated (table full); early_drop: an entry evicted to make room; insert_failed: an entry could not be inserted (races, NAT clashes). Any drop or early_drop fires DatapathConntrackDropping, insert_failed DatapathConntrackInsertFailing.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "ops",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              },
              {
                "color": "red",
                "value": 1e-09
              }
            ]
          },
          "color": {
            "mode": "palette-classic"
          },
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false,
            "thresholdsStyle": {
              "mode": "off"
            },
            "stacking": {
              "mode": "none",
              "group": "A"
            }
          }
        },
        "overrides": []
      },
      "options": {
        "legend": {
          "showLegend": true,
          "displayMode": "table",
          "placement": "bottom",
          "calcs": [
            "lastNotNull",
            "max"
          ]
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
          "expr": "label_replace(rate(datapath_conntrack_insert_failed_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"insert_failed\", \"\", \"\") or label_replace(rate(datapath_conntrack_drop_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"drop\", \"\", \"\") or label_replace(rate(datapath_conntrack_early_drop_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"early_drop\", \"\", \"\")",
          "legendFormat": "{{instance}} {{stat}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 12,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 0,
        "y": 36
      }
    },
    {
      "type": "timeseries",
      "title": "All conntrack statistics",
      "description": "Every per-CPU statistic the kernel keeps (datapath_conntrack_<stat>_total), summed over CPUs, per second. On kernel 6.x insert counts only entries inserted over netlink, and found stays 0.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "ops",
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
          },
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false,
            "thresholdsStyle": {
              "mode": "off"
            },
            "stacking": {
              "mode": "none",
              "group": "A"
            }
          }
        },
        "overrides": []
      },
      "options": {
        "legend": {
          "showLegend": true,
          "displayMode": "table",
          "placement": "bottom",
          "calcs": [
            "lastNotNull",
            "max"
          ]
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
          "expr": "label_replace(rate(datapath_conntrack_found_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"found\", \"\", \"\") or label_replace(rate(datapath_conntrack_invalid_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"invalid\", \"\", \"\") or label_replace(rate(datapath_conntrack_insert_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"insert\", \"\", \"\") or label_replace(rate(datapath_conntrack_insert_failed_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"insert_failed\", \"\", \"\") or label_replace(rate(datapath_conntrack_drop_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"drop\", \"\", \"\") or label_replace(rate(datapath_conntrack_early_drop_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"early_drop\", \"\", \"\") or label_replace(rate(datapath_conntrack_error_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"error\", \"\", \"\") or label_replace(rate(datapath_conntrack_search_restart_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"search_restart\", \"\", \"\") or label_replace(rate(datapath_conntrack_clash_resolve_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"clash_resolve\", \"\", \"\") or label_replace(rate(datapath_conntrack_chaintoolong_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]), \"stat\", \"chaintoolong\", \"\", \"\")",
          "legendFormat": "{{instance}} {{stat}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 13,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 12,
        "y": 36
      }
    },
    {
      "id": 14,
      "type": "row",
      "title": "Exporter health",
      "collapsed": false,
      "gridPos": {
        "h": 1,
        "w": 24,
        "x": 0,
        "y": 44
      },
      "panels": []
    },
    {
      "type": "timeseries",
      "title": "Collector success",
      "description": "datapath_scrape_collector_success: 1 when the collector's last scrape worked. 0 for " + p.durationText('collectorFailingFor') + " fires DatapathCollectorFailing; the exporter's log names the cause.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "bool",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "red",
                "value": null
              },
              {
                "color": "green",
                "value": 1
              }
            ]
          },
          "color": {
            "mode": "palette-classic"
          },
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false,
            "thresholdsStyle": {
              "mode": "off"
            },
            "stacking": {
              "mode": "none",
              "group": "A"
            }
          },
          "min": 0,
          "max": 1
        },
        "overrides": []
      },
      "options": {
        "legend": {
          "showLegend": true,
          "displayMode": "table",
          "placement": "bottom",
          "calcs": [
            "lastNotNull",
            "min"
          ]
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
          "expr": "datapath_scrape_collector_success{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}} {{collector}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 15,
      "gridPos": {
        "h": 7,
        "w": 8,
        "x": 0,
        "y": 45
      }
    },
    {
      "type": "timeseries",
      "title": "Collector duration",
      "description": "datapath_scrape_collector_duration_seconds: how long each collector's last scrape took.",
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
                "color": "green",
                "value": null
              }
            ]
          },
          "color": {
            "mode": "palette-classic"
          },
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false,
            "thresholdsStyle": {
              "mode": "off"
            },
            "stacking": {
              "mode": "none",
              "group": "A"
            }
          }
        },
        "overrides": []
      },
      "options": {
        "legend": {
          "showLegend": true,
          "displayMode": "table",
          "placement": "bottom",
          "calcs": [
            "lastNotNull",
            "max"
          ]
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
          "expr": "datapath_scrape_collector_duration_seconds{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}} {{collector}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 16,
      "gridPos": {
        "h": 7,
        "w": 8,
        "x": 8,
        "y": 45
      }
    },
    {
      "type": "timeseries",
      "title": "Scrape up",
      "description": "up of the datapath-exporter targets of the selected job(s). 0 for " + p.durationText('exporterDownFor') + " fires DatapathExporterDown.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "bool",
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "red",
                "value": null
              },
              {
                "color": "green",
                "value": 1
              }
            ]
          },
          "color": {
            "mode": "palette-classic"
          },
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false,
            "thresholdsStyle": {
              "mode": "off"
            },
            "stacking": {
              "mode": "none",
              "group": "A"
            }
          },
          "min": 0,
          "max": 1
        },
        "overrides": []
      },
      "options": {
        "legend": {
          "showLegend": true,
          "displayMode": "table",
          "placement": "bottom",
          "calcs": [
            "lastNotNull",
            "min"
          ]
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
          "expr": "up{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 17,
      "gridPos": {
        "h": 7,
        "w": 8,
        "x": 16,
        "y": 45
      }
    },
    {
      "type": "row",
      "title": "OVS context",
      "collapsed": false,
      "panels": [],
      "id": 18,
      "gridPos": {
        "h": 1,
        "w": 24,
        "x": 0,
        "y": 52
      }
    },
    {
      "type": "timeseries",
      "title": "OVS flows per bridge",
      "description": "Total OpenFlow flows per bridge (datapath_ovs_table_flows summed over tables), to line conntrack growth up with Service and Pod churn on br-int. Per-table detail: the \"OVS flow tables\" dashboard (links above, variables carried over).",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "short",
          "color": {
            "mode": "palette-classic"
          },
          "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": false,
            "thresholdsStyle": {
              "mode": "off"
            },
            "stacking": {
              "mode": "none",
              "group": "A"
            }
          },
          "thresholds": {
            "mode": "absolute",
            "steps": [
              {
                "color": "green",
                "value": null
              }
            ]
          }
        },
        "overrides": [
          {
            "matcher": {
              "id": "byRegexp",
              "options": ".* limit$"
            },
            "properties": [
              {
                "id": "custom.lineStyle",
                "value": {
                  "fill": "dash",
                  "dash": [
                    10,
                    10
                  ]
                }
              },
              {
                "id": "custom.fillOpacity",
                "value": 0
              }
            ]
          }
        ]
      },
      "options": {
        "legend": {
          "showLegend": true,
          "displayMode": "table",
          "placement": "bottom",
          "calcs": [
            "lastNotNull",
            "max"
          ]
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
          "expr": "sum by (instance, bridge) (datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\"})",
          "legendFormat": "{{instance}} {{bridge}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 19,
      "gridPos": {
        "h": 8,
        "w": 24,
        "x": 0,
        "y": 53
      }
    }
  ],
  "refresh": p.cfg.dashboardRefresh,
  "schemaVersion": 39,
  "tags": p.cfg.dashboardTags + ['conntrack'],
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
      },
      {
        "name": "instance",
        "label": "Node",
        "type": "query",
        "datasource": {
          "type": "prometheus",
          "uid": "${datasource}"
        },
        "definition": "label_values(datapath_conntrack_entries{job=~\"$job\"}, instance)",
        "query": {
          "query": "label_values(datapath_conntrack_entries{job=~\"$job\"}, instance)",
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
      },
      {
        "name": "bridge",
        "label": "Bridge",
        "type": "query",
        "datasource": {
          "type": "prometheus",
          "uid": "${datasource}"
        },
        "definition": "label_values(datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\"}, bridge)",
        "query": {
          "query": "label_values(datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\"}, bridge)",
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
  "title": "Datapath / Conntrack",
  "uid": p.cfg.dashboardUIDPrefix + 'conntrack',
  "version": 1,
  "weekStart": ""
}
