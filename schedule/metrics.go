package schedule

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of the scheduled work, labelled by
// [Task]. Times are Unix seconds, as Prometheus expects.
type Metrics struct {
	lastSuccess *prometheus.GaugeVec
	duration    *prometheus.GaugeVec
	size        *prometheus.GaugeVec
	failures    *prometheus.CounterVec
	newestGood  prometheus.Gauge
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "bitnobi", Name: "scheduled_last_success_timestamp_seconds",
			Help: "When the server's last scheduled task of this kind succeeded (backup, offsite, verify, deep_verify).",
		}, []string{"task"}),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "bitnobi", Name: "scheduled_last_duration_seconds",
			Help: "How long the last successful scheduled task of this kind took.",
		}, []string{"task"}),
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "bitnobi", Name: "scheduled_last_size_bytes",
			Help: "Size of the last backup the schedule wrote (its own and hard-linked files).",
		}, []string{"task"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "bitnobi", Name: "scheduled_failures_total",
			Help: "Scheduled tasks that failed, by kind, since the server started.",
		}, []string{"task"}),
		newestGood: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "bitnobi", Name: "backup_newest_good_timestamp_seconds",
			Help: "Time of the newest complete backup in the backup folder whose last verification, if any, passed (scheduled or by the CLI).",
		}),
	}
	reg.MustRegister(m.lastSuccess, m.duration, m.size, m.failures, m.newestGood)
	for _, t := range []Task{TaskBackup, TaskOffsite, TaskVerify, TaskDeepVerify} {
		m.failures.WithLabelValues(string(t)) // exported at 0 from the start
	}
	return m
}

func (m *Metrics) success(t Task, at time.Time, d time.Duration, size int64) {
	m.lastSuccess.WithLabelValues(string(t)).Set(float64(at.UnixNano()) / 1e9)
	m.duration.WithLabelValues(string(t)).Set(d.Seconds())
	if size > 0 {
		m.size.WithLabelValues(string(t)).Set(float64(size))
	}
}

func (m *Metrics) failure(t Task) { m.failures.WithLabelValues(string(t)).Inc() }

func (m *Metrics) lastGood(at time.Time) { m.newestGood.Set(float64(at.UnixNano()) / 1e9) }
