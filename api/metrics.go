package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"pvault/vault"
)

// Metrics are the Prometheus metrics of a vault server. Labels hold route
// templates, methods, statuses, units and kinds: never ids or user input.
type Metrics struct {
	Registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	auditBatch  prometheus.Histogram
	auditCommit prometheus.Histogram
	auditFailed prometheus.Counter
	decisions   *prometheus.CounterVec
}

// NewMetrics creates the metrics and their registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pvault_http_requests_total", Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pvault_http_request_duration_seconds", Help: "HTTP request latency by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		auditBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pvault_audit_batch_entries", Help: "Entries per group commit of the audit log.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		auditCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pvault_audit_commit_seconds", Help: "Latency of audit group commits (synced).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1},
		}),
		auditFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pvault_audit_commit_failures_total", Help: "Audit commits that failed (their requests got 503).",
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pvault_policy_decisions_total", Help: "Policy decisions on objects by result.",
		}, []string{"result"}),
	}
	m.Registry.MustRegister(m.requests, m.latency, m.auditBatch, m.auditCommit, m.auditFailed, m.decisions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// AuditHook returns the audit log's commit hook that feeds the metrics.
func (m *Metrics) AuditHook() func(entries int, d time.Duration, err error) {
	return func(entries int, d time.Duration, err error) {
		if err != nil {
			m.auditFailed.Inc()
			return
		}
		m.auditBatch.Observe(float64(entries))
		m.auditCommit.Observe(d.Seconds())
	}
}

// registerVault adds the gauges read from the vault at scrape time.
func (m *Metrics) registerVault(v *vault.Vault) {
	m.Registry.MustRegister(&vaultCollector{v: v})
}

type vaultCollector struct{ v *vault.Vault }

var (
	descAlerts   = prometheus.NewDesc("pvault_alerts", "Open alerts by unit and kind (due_soon, overdue, critical_risk).", []string{"unit", "kind"}, nil)
	descCPAge    = prometheus.NewDesc("pvault_audit_checkpoint_age_seconds", "Seconds since the latest audit checkpoint was signed.", nil, nil)
	descLogSize  = prometheus.NewDesc("pvault_audit_entries", "Entries in the audit log.", nil, nil)
	descStore    = prometheus.NewDesc("pvault_store_bytes", "Bytes of the store's files on disk.", nil, nil)
	descIndex    = prometheus.NewDesc("pvault_store_index_bytes", "Bytes of the store's table indexes (block offsets and bloom filters).", nil, nil)
	descIxCache  = prometheus.NewDesc("pvault_store_index_cache_bytes", "Size of the cache of decrypted table indexes, set when the vault opens; restart the vault when pvault_store_index_bytes outgrows it.", nil, nil)
	descSealed   = prometheus.NewDesc("pvault_sealed", "1 while the vault is sealed, else 0.", nil, nil)
	descAuditBad = prometheus.NewDesc("pvault_audit_healthy", "1 while the audit log records, 0 when it fails closed.", nil, nil)
)

func (c *vaultCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAlerts, descCPAge, descLogSize, descStore, descIndex, descIxCache, descSealed, descAuditBad} {
		ch <- d
	}
}

func (c *vaultCollector) Collect(ch chan<- prometheus.Metric) {
	if counts, err := c.v.AlertCounts(); err == nil {
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(descAlerts, prometheus.GaugeValue, float64(n), k[0], k[1])
		}
	}
	if _, at, err := c.v.Log().LatestCheckpoint(); err == nil && !at.IsZero() {
		ch <- prometheus.MustNewConstMetric(descCPAge, prometheus.GaugeValue, time.Since(at).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descLogSize, prometheus.GaugeValue, float64(c.v.Log().Head().Size))
	ch <- prometheus.MustNewConstMetric(descStore, prometheus.GaugeValue, float64(c.v.Store().Size()))
	ts := c.v.TableStats()
	ch <- prometheus.MustNewConstMetric(descIndex, prometheus.GaugeValue, float64(ts.IndexBytes))
	ch <- prometheus.MustNewConstMetric(descIxCache, prometheus.GaugeValue, float64(ts.IndexCache))
	ch <- prometheus.MustNewConstMetric(descSealed, prometheus.GaugeValue, 0)
	healthy := 0.0
	if c.v.Log().Healthy() {
		healthy = 1
	}
	ch <- prometheus.MustNewConstMetric(descAuditBad, prometheus.GaugeValue, healthy)
}

// observe records a finished request.
func (m *Metrics) observe(c *gin.Context, d time.Duration) {
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
	m.latency.WithLabelValues(route, c.Request.Method).Observe(d.Seconds())
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
