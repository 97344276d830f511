"""Monitoring generated from the spec: the metrics the alerts read (`metrics`), the alert rules (`alerts`) and
Prometheus's and Alertmanager's configuration (`prometheus_config`)."""
