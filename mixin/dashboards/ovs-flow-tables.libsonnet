// The Datapath / OVS flow tables dashboard (grafana/ovs-flow-tables.json). Plain JSON apart from the values
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
      "id": "bargauge",
      "name": "bargauge",
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
  "description": "OpenFlow tables of OVS bridges (Antrea's br-int) read by datapath-exporter: flows per table, lookups, matches, limits.",
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
      "title": "Flows per bridge",
      "description": "Sum of datapath_ovs_table_flows (active entries in the OpenFlow table statistics, read from OVS over OpenFlow) over the selected tables.",
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
          "expr": "sum by (instance, bridge) (datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"})",
          "legendFormat": "{{instance}} {{bridge}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 2,
      "gridPos": {
        "h": 6,
        "w": 8,
        "x": 0,
        "y": 1
      }
    },
    {
      "type": "stat",
      "title": "Highest table usage",
      "description": "The fullest selected table with a flow limit of its own: flows / flow_limit. Empty when no table has a flow_limit set in OVSDB (Antrea sets none; OVS's default of 1000000 is not a limit it enforces and is not exported). " + p.text('ovsFlowTableWarningPercent') + "% for " + p.durationText('ovsFlowTableNearlyFullFor') + " fires DatapathOVSFlowTableNearlyFull.",
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
                "value": 0.75
              },
              {
                "color": "red",
                "value": p.ratio('ovsFlowTableWarningPercent')
              }
            ]
          },
          "color": {
            "mode": "thresholds"
          },
          "decimals": 2
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
        "colorMode": "background",
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
          "expr": "max by (instance, bridge) (datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"} / (datapath_ovs_table_flows_limit{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"} > 0))",
          "legendFormat": "{{instance}} {{bridge}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 3,
      "gridPos": {
        "h": 6,
        "w": 8,
        "x": 8,
        "y": 1
      }
    },
    {
      "type": "stat",
      "title": "Lookups per second",
      "description": "Packets looked up in the selected tables per second (datapath_ovs_table_lookups_total).",
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
          "expr": "sum by (instance, bridge) (rate(datapath_ovs_table_lookups_total{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"}[$__rate_interval]))",
          "legendFormat": "{{instance}} {{bridge}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 4,
      "gridPos": {
        "h": 6,
        "w": 8,
        "x": 16,
        "y": 1
      }
    },
    {
      "id": 5,
      "type": "row",
      "title": "Flows",
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
      "title": "Flows per table",
      "description": "datapath_ovs_table_flows per node, bridge and table.",
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
          "expr": "datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"}",
          "legendFormat": "{{instance}} {{bridge}} {{table_id}} {{table_name}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 6,
      "gridPos": {
        "h": 9,
        "w": 16,
        "x": 0,
        "y": 8
      }
    },
    {
      "type": "bargauge",
      "title": "Top 10 tables by flows",
      "description": "The 10 selected tables holding the most flows, across the selected nodes and bridges.",
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
        "displayMode": "gradient",
        "orientation": "horizontal",
        "showUnfilled": true,
        "valueMode": "color",
        "namePlacement": "auto",
        "sizing": "auto",
        "minVizHeight": 10,
        "minVizWidth": 0
      },
      "targets": [
        {
          "datasource": {
            "type": "prometheus",
            "uid": "${datasource}"
          },
          "editorMode": "code",
          "expr": "topk(10, datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"})",
          "legendFormat": "{{instance}} {{bridge}} {{table_id}} {{table_name}}",
          "range": false,
          "instant": true,
          "refId": "A"
        }
      ],
      "id": 7,
      "gridPos": {
        "h": 9,
        "w": 8,
        "x": 16,
        "y": 8
      }
    },
    {
      "type": "timeseries",
      "title": "Flow churn",
      "description": "Net change of the flows of each table per second (deriv of datapath_ovs_table_flows): positive when flows are added, negative when removed. Additions and removals in the same interval cancel out.",
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
          "expr": "deriv(datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"}[$__rate_interval])",
          "legendFormat": "{{instance}} {{bridge}} {{table_id}} {{table_name}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 8,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 0,
        "y": 17
      }
    },
    {
      "type": "table",
      "title": "Flow change over the time range",
      "description": "Net change of each table's flows between the start and the end of the dashboard's time range (delta of datapath_ovs_table_flows over $__range), largest first.",
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
          "custom": {
            "align": "auto",
            "cellOptions": {
              "type": "auto"
            }
          }
        },
        "overrides": []
      },
      "options": {
        "showHeader": true,
        "cellHeight": "sm",
        "footer": {
          "show": false,
          "reducer": [
            "sum"
          ],
          "fields": ""
        }
      },
      "transformations": [
        {
          "id": "organize",
          "options": {
            "excludeByName": {
              "Time": true,
              "__name__": true
            },
            "renameByName": {
              "Value": "value"
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
          "expr": "sort_desc(delta(datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"}[$__range]))",
          "legendFormat": "{{instance}} {{bridge}} {{table_id}} {{table_name}}",
          "range": false,
          "instant": true,
          "refId": "A",
          "format": "table"
        }
      ],
      "id": 9,
      "gridPos": {
        "h": 8,
        "w": 12,
        "x": 12,
        "y": 17
      }
    },
    {
      "id": 10,
      "type": "row",
      "title": "Lookups and matches",
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
      "type": "timeseries",
      "title": "Lookups per table",
      "description": "Packets looked up in each table per second (rate of datapath_ovs_table_lookups_total).",
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
          "expr": "rate(datapath_ovs_table_lookups_total{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"}[$__rate_interval])",
          "legendFormat": "{{instance}} {{bridge}} {{table_id}} {{table_name}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 11,
      "gridPos": {
        "h": 8,
        "w": 8,
        "x": 0,
        "y": 26
      }
    },
    {
      "type": "timeseries",
      "title": "Matches per table",
      "description": "Lookups that matched a flow, per second (rate of datapath_ovs_table_matches_total).",
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
          "expr": "rate(datapath_ovs_table_matches_total{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"}[$__rate_interval])",
          "legendFormat": "{{instance}} {{bridge}} {{table_id}} {{table_name}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 12,
      "gridPos": {
        "h": 8,
        "w": 8,
        "x": 8,
        "y": 26
      }
    },
    {
      "type": "timeseries",
      "title": "Hit ratio per table",
      "description": "Matches / lookups for tables that saw lookups in the interval. A table-miss falls through to the table's miss behaviour; a low ratio in a table that should match everything points at missing flows.",
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
          "expr": "rate(datapath_ovs_table_matches_total{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"}[$__rate_interval]) / (rate(datapath_ovs_table_lookups_total{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"}[$__rate_interval]) > 0)",
          "legendFormat": "{{instance}} {{bridge}} {{table_id}} {{table_name}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 13,
      "gridPos": {
        "h": 8,
        "w": 8,
        "x": 16,
        "y": 26
      }
    },
    {
      "id": 14,
      "type": "row",
      "title": "Limits",
      "collapsed": false,
      "gridPos": {
        "h": 1,
        "w": 24,
        "x": 0,
        "y": 34
      },
      "panels": []
    },
    {
      "type": "timeseries",
      "title": "Usage of table limit",
      "description": "datapath_ovs_table_flows / datapath_ovs_table_flows_limit for the tables with a flow_limit set in OVSDB (the only ones with a limit series). At 100% OVS refuses new flows.",
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
                "value": 0.75
              },
              {
                "color": "red",
                "value": p.ratio('ovsFlowTableWarningPercent')
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
          "expr": "datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"} / (datapath_ovs_table_flows_limit{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"} > 0)",
          "legendFormat": "{{instance}} {{bridge}} {{table_id}} {{table_name}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 15,
      "gridPos": {
        "h": 8,
        "w": 16,
        "x": 0,
        "y": 35
      }
    },
    {
      "type": "table",
      "title": "Table limits",
      "description": "datapath_ovs_table_flows_limit: the flow_limit of the tables that have one set in OVSDB; tables at OVS's default of 1000000 have no series.",
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
          "custom": {
            "align": "auto",
            "cellOptions": {
              "type": "auto"
            }
          }
        },
        "overrides": []
      },
      "options": {
        "showHeader": true,
        "cellHeight": "sm",
        "footer": {
          "show": false,
          "reducer": [
            "sum"
          ],
          "fields": ""
        }
      },
      "transformations": [
        {
          "id": "organize",
          "options": {
            "excludeByName": {
              "Time": true,
              "__name__": true
            },
            "renameByName": {
              "Value": "value"
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
          "expr": "max by (instance, bridge, table_id, table_name) (datapath_ovs_table_flows_limit{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"})",
          "legendFormat": "__auto",
          "range": false,
          "instant": true,
          "refId": "A",
          "format": "table"
        }
      ],
      "id": 16,
      "gridPos": {
        "h": 8,
        "w": 8,
        "x": 16,
        "y": 35
      }
    },
    {
      "id": 17,
      "type": "row",
      "title": "Exporter health",
      "collapsed": false,
      "gridPos": {
        "h": 1,
        "w": 24,
        "x": 0,
        "y": 43
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
      "id": 18,
      "gridPos": {
        "h": 7,
        "w": 8,
        "x": 0,
        "y": 44
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
      "id": 19,
      "gridPos": {
        "h": 7,
        "w": 8,
        "x": 8,
        "y": 44
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
      "id": 20,
      "gridPos": {
        "h": 7,
        "w": 8,
        "x": 16,
        "y": 44
      }
    },
    {
      "id": 21,
      "type": "row",
      "title": "Antrea agent",
      "collapsed": false,
      "gridPos": {
        "h": 1,
        "w": 24,
        "x": 0,
        "y": 51
      },
      "panels": []
    },
    {
      "type": "timeseries",
      "title": "Drift: flows in OVS minus the Antrea agent's count",
      "description": "datapath_ovs_table_flows (read from OVS over OpenFlow) minus datapath_antrea_agent_table_flows (the Antrea agent's own count of the flows it installed, read from its /metrics by the antrea_agent collector), per table of br-int. 0 when they agree; below 0, flows the agent believes installed are missing from OVS; above 0, flows in OVS the agent did not install. The agent's count is read at most every --antrea.refresh, so short spikes during churn are expected; DatapathOVSFlowsDivergeFromAntrea fires when a difference lasts " + p.durationText('driftWindow') + ". Empty when the antrea_agent collector is off.",
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
            "min",
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
          "expr": "datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"} - on(instance,job,bridge,table_id) group_left datapath_antrea_agent_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\",table_id=~\"$ovs_table\"}",
          "legendFormat": "{{instance}} {{bridge}} {{table_id}} {{table_name}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 22,
      "gridPos": {
        "h": 8,
        "w": 24,
        "x": 0,
        "y": 52
      }
    },
    {
      "id": 23,
      "type": "row",
      "title": "OVS datapath",
      "collapsed": false,
      "gridPos": {
        "h": 1,
        "w": 24,
        "x": 0,
        "y": 60
      },
      "panels": []
    },
    {
      "type": "timeseries",
      "title": "Datapath lookups: hit, missed, lost",
      "description": "Packets looked up in the OVS datapath flow cache per second (datapath_ovs_datapath_lookups_total, from ovs-vswitchd dpctl/show): hit = a megaflow matched; missed = an upcall to ovs-vswitchd; lost = dropped because the upcall could not be queued (any lost fires DatapathOVSUpcallsLost).",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "pps",
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
          "expr": "sum by (instance, datapath, result) (rate(datapath_ovs_datapath_lookups_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]))",
          "legendFormat": "{{instance}} {{datapath}} {{result}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 24,
      "gridPos": {
        "h": 8,
        "w": 8,
        "x": 0,
        "y": 61
      }
    },
    {
      "type": "timeseries",
      "title": "Megaflows vs flow limit",
      "description": "Flows in the datapath (datapath_ovs_datapath_flows, dpctl/show) against ovs-vswitchd's dynamic flow limit (datapath_ovs_datapath_flow_limit, upcall/show). At " + p.text('ovsDatapathFlowLimitPercent') + "% of the limit DatapathOVSFlowLimitReached fires: ovs-vswitchd evicts flows and the miss rate climbs.",
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
          "expr": "datapath_ovs_datapath_flows{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}} {{datapath}} flows",
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
          "expr": "datapath_ovs_datapath_flow_limit{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}} {{datapath}} limit",
          "range": true,
          "instant": false,
          "refId": "B"
        }
      ],
      "id": 25,
      "gridPos": {
        "h": 8,
        "w": 8,
        "x": 8,
        "y": 61
      }
    },
    {
      "type": "timeseries",
      "title": "Masks per packet",
      "description": "Average masks (megaflow wildcard patterns) visited per packet looked up: rate of datapath_ovs_datapath_mask_hits_total over the rate of hit + missed lookups. Each mask costs a hash lookup per packet; tens of masks slow the kernel datapath down. Reported by the kernel datapath (system@ovs-system) only: empty for the userspace one.",
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
          "expr": "rate(datapath_ovs_datapath_mask_hits_total{job=~\"$job\",instance=~\"$instance\"}[$__rate_interval]) / (sum without (result) (rate(datapath_ovs_datapath_lookups_total{job=~\"$job\",instance=~\"$instance\",result=~\"hit|missed\"}[$__rate_interval])) > 0)",
          "legendFormat": "{{instance}} {{datapath}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 26,
      "gridPos": {
        "h": 8,
        "w": 8,
        "x": 16,
        "y": 61
      }
    },
    {
      "type": "timeseries",
      "title": "Revalidator dump duration",
      "description": "How long the revalidators' last dump of the datapath flows took (datapath_ovs_revalidator_dump_duration_seconds, upcall/show). Above 1 s ovs-vswitchd lowers the flow limit; above 2 s it evicts flows.",
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
          "expr": "datapath_ovs_revalidator_dump_duration_seconds{job=~\"$job\",instance=~\"$instance\"}",
          "legendFormat": "{{instance}} {{datapath}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 27,
      "gridPos": {
        "h": 8,
        "w": 8,
        "x": 0,
        "y": 69
      }
    },
    {
      "type": "timeseries",
      "title": "Handler overflows and flow-limit hits",
      "description": "Coverage counters per second (datapath_ovs_coverage_total, coverage/show): netlink_overflow = upcall socket buffer overflowed, upcalls lost (fires DatapathOVSHandlerOverflow); upcall_flow_limit_hit / _kill = flows not installed or evicted at the flow limit (fires DatapathOVSFlowLimitReached).",
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
          "expr": "rate(datapath_ovs_coverage_total{job=~\"$job\",instance=~\"$instance\",event=~\"netlink_overflow|upcall_flow_limit_hit|upcall_flow_limit_kill\"}[$__rate_interval])",
          "legendFormat": "{{instance}} {{event}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 28,
      "gridPos": {
        "h": 8,
        "w": 8,
        "x": 8,
        "y": 69
      }
    },
    {
      "type": "timeseries",
      "title": "Meter drops",
      "description": "Packets dropped per second by the drop bands of OpenFlow meters (datapath_ovs_meter_packets_dropped_total, OpenFlow 1.3+ meter statistics). Antrea rate-limits packet-in to the agent with meters: drops here mean the agent is being flooded with packet-ins (e.g. NetworkPolicy logging, DNS interception).",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "pps",
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
          "expr": "sum by (instance, bridge, meter_id) (rate(datapath_ovs_meter_packets_dropped_total{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\"}[$__rate_interval]))",
          "legendFormat": "{{instance}} {{bridge}} meter {{meter_id}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 29,
      "gridPos": {
        "h": 8,
        "w": 8,
        "x": 16,
        "y": 69
      }
    },
    {
      "type": "timeseries",
      "title": "Datapath drops by reason",
      "description": "ovs-vswitchd's drop counters per second (datapath_ovs_coverage_total for the datapath_drop_* and drop_action_* events of coverage/show): packets the datapath or the OpenFlow pipeline dropped, by reason.",
      "datasource": {
        "type": "prometheus",
        "uid": "${datasource}"
      },
      "fieldConfig": {
        "defaults": {
          "unit": "pps",
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
          "expr": "rate(datapath_ovs_coverage_total{job=~\"$job\",instance=~\"$instance\",event=~\"datapath_drop_.*|drop_action_.*\"}[$__rate_interval])",
          "legendFormat": "{{instance}} {{event}}",
          "range": true,
          "instant": false,
          "refId": "A"
        }
      ],
      "id": 30,
      "gridPos": {
        "h": 8,
        "w": 24,
        "x": 0,
        "y": 77
      }
    }
  ],
  "refresh": p.cfg.dashboardRefresh,
  "schemaVersion": 39,
  "tags": p.cfg.dashboardTags + ['ovs'],
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
        "definition": "label_values(datapath_ovs_table_flows{job=~\"$job\"}, instance)",
        "query": {
          "query": "label_values(datapath_ovs_table_flows{job=~\"$job\"}, instance)",
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
      },
      {
        "name": "ovs_table",
        "label": "Table",
        "type": "query",
        "datasource": {
          "type": "prometheus",
          "uid": "${datasource}"
        },
        "definition": "query_result(label_join(max by (table_id, table_name) (datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\"}), \"table\", \" \", \"table_id\", \"table_name\"))",
        "query": {
          "query": "query_result(label_join(max by (table_id, table_name) (datapath_ovs_table_flows{job=~\"$job\",instance=~\"$instance\",bridge=~\"$bridge\"}), \"table\", \" \", \"table_id\", \"table_name\"))",
          "refId": "PrometheusVariableQueryEditor-VariableQuery"
        },
        "refresh": 2,
        "regex": "/table=\"(?<text>[^\"]*)\".*table_id=\"(?<value>[^\"]+)\"/",
        "sort": 3,
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
  "title": "Datapath / OVS flow tables",
  "uid": p.cfg.dashboardUIDPrefix + 'ovs-tables',
  "version": 1,
  "weekStart": ""
}
