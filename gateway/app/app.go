// Package app wires the gateway's parts (indexer, interactions, metrics, HTTP) over a
// store into one http.Handler. The binary and the end-to-end tests build the gateway
// the same way through it.
package app

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/metrics"
	"github.com/shch/fhirgw/gateway/rest"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

// Options configure the gateway.
type Options struct {
	BaseURL string
	MaxBody int64
	Version string
	Log     *slog.Logger
}

// Gateway is the assembled FHIR server.
type Gateway struct {
	Service  *interaction.Service
	Registry *prometheus.Registry
	handler  http.Handler
}

// New assembles the gateway over st.
func New(st store.Store, opts Options) *Gateway {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	timed := m.Store(st)
	ix, errs := index.NewExtractor(searchparam.Official(), fhirschema.ResourceTypes(), nil)
	for _, err := range errs {
		opts.Log.Warn("search parameter left out", "err", err)
	}
	svc := interaction.New(timed, ix, interaction.Config{BaseURL: opts.BaseURL, Version: opts.Version, Log: opts.Log})
	srv := rest.New(svc, rest.Options{
		BaseURL: opts.BaseURL, MaxBody: opts.MaxBody, Log: opts.Log,
		Metrics: m, Gatherer: reg, Store: st,
	})
	return &Gateway{Service: svc, Registry: reg, handler: srv.Handler()}
}

// Handler serves the FHIR API and the operational endpoints.
func (g *Gateway) Handler() http.Handler { return g.handler }
