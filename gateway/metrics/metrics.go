// Package metrics exposes the gateway's Prometheus metrics: requests and their latency by
// FHIR interaction and resource type, and the latency of every store call.
package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shch/fhirgw/gateway/store"
)

// Metrics holds the collectors; create one per process with New.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	storeOps *prometheus.HistogramVec
}

// New registers the collectors with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fhirgw", Name: "http_requests_total",
			Help: "FHIR requests by interaction, resource type and HTTP status.",
		}, []string{"interaction", "resource_type", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "fhirgw", Name: "http_request_duration_seconds",
			Help:    "FHIR request latency by interaction and resource type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"interaction", "resource_type"}),
		storeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "fhirgw", Name: "store_operation_duration_seconds",
			Help:    "Store call latency by operation and outcome.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"operation", "result"}),
	}
	reg.MustRegister(m.requests, m.latency, m.storeOps)
	return m
}

// ObserveRequest records one finished request.
func (m *Metrics) ObserveRequest(interaction, resourceType string, status int, d time.Duration) {
	m.requests.WithLabelValues(interaction, resourceType, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(interaction, resourceType).Observe(d.Seconds())
}

func (m *Metrics) observeStore(op string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.storeOps.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}

// Store wraps s so that every call is timed.
func (m *Metrics) Store(s store.Store) store.Store { return &timedStore{Store: s, m: m} }

// The wrappers embed the interfaces, so calls they do not time (message storage among
// them) pass straight through; the assertions keep it that way as the interfaces grow.
var (
	_ store.Store = (*timedStore)(nil)
	_ store.Tx    = (*timedTx)(nil)
)

type timedStore struct {
	store.Store
	m *Metrics
}

func (t *timedStore) Read(ctx context.Context, typ, id string) (store.Resource, error) {
	start := time.Now()
	r, err := t.Store.Read(ctx, typ, id)
	t.m.observeStore("read", start, err)
	return r, err
}

func (t *timedStore) VRead(ctx context.Context, typ, id string, v int64) (store.Resource, error) {
	start := time.Now()
	r, err := t.Store.VRead(ctx, typ, id, v)
	t.m.observeStore("vread", start, err)
	return r, err
}

func (t *timedStore) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	start := time.Now()
	p, err := t.Store.History(ctx, q)
	t.m.observeStore("history", start, err)
	return p, err
}

func (t *timedStore) Search(ctx context.Context, q store.Query) (store.Page, error) {
	start := time.Now()
	p, err := t.Store.Search(ctx, q)
	t.m.observeStore("search", start, err)
	return p, err
}

func (t *timedStore) Update(ctx context.Context, fn func(context.Context, store.Tx) error) error {
	start := time.Now()
	err := t.Store.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		return fn(ctx, &timedTx{Tx: tx, m: t.m})
	})
	t.m.observeStore("transaction", start, err)
	return err
}

type timedTx struct {
	store.Tx
	m *Metrics
}

func (t *timedTx) Read(ctx context.Context, typ, id string) (store.Resource, error) {
	start := time.Now()
	r, err := t.Tx.Read(ctx, typ, id)
	t.m.observeStore("tx_read", start, err)
	return r, err
}

func (t *timedTx) Put(ctx context.Context, r store.Resource, idx *store.Index) error {
	start := time.Now()
	err := t.Tx.Put(ctx, r, idx)
	t.m.observeStore("tx_put", start, err)
	return err
}

func (t *timedTx) Search(ctx context.Context, q store.Query) (store.Page, error) {
	start := time.Now()
	p, err := t.Tx.Search(ctx, q)
	t.m.observeStore("tx_search", start, err)
	return p, err
}
