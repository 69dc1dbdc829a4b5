// Package app wires the gateway's parts (indexer, interactions, metrics, HTTP) over a
// store into one http.Handler. The binary and the end-to-end tests build the gateway
// the same way through it.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/shch/fhirgw/adapters/mllp"
	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/ingest"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/metrics"
	"github.com/shch/fhirgw/gateway/paramsync"
	"github.com/shch/fhirgw/gateway/reindex"
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
	// ParamPoll is how often SearchParameter resources are re-read (default 5s).
	ParamPoll time.Duration
	// Ingest configures the HL7 v2 pipeline behind /hl7v2 and MLLP.
	Ingest ingest.Config
}

// Gateway is the assembled FHIR server.
type Gateway struct {
	Service  *interaction.Service
	Registry *prometheus.Registry
	Pipeline *ingest.Pipeline
	handler  http.Handler
	syncer   *paramsync.Syncer
	// Indexer holds the search parameters in force.
	Indexer   *index.Live
	reindexer *reindex.Runner
	poll      time.Duration
	// indexRules fingerprints what shapes index rows besides the search parameters.
	indexRules string
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
	live, errs := index.NewLive(searchparam.Official(), fhirschema.ResourceTypes(), opts.BaseURL)
	for _, err := range errs {
		opts.Log.Warn("search parameter left out", "err", err)
	}
	// SearchParameter resources stored at run time take effect through the syncer: at
	// once in the process that stored them, within the poll interval in the others.
	var syncer *paramsync.Syncer
	changed := func(ctx context.Context, types []string) { syncer.Changed(ctx, types) }
	svc := interaction.New(timed, live, interaction.Config{BaseURL: opts.BaseURL, Version: opts.Version, Log: opts.Log, Changed: changed})
	if opts.ParamPoll <= 0 {
		opts.ParamPoll = 5 * time.Second
	}
	// A re-indexing job waits two poll intervals, so that every gateway on the database
	// writes with the new definitions before the job walks the existing resources.
	reindexer := reindex.New(timed, live, 2*opts.ParamPoll, opts.Log)
	syncer = paramsync.New(timed, live, opts.ParamPoll, opts.Log, reindexer.Enqueue)
	icfg := opts.Ingest
	if icfg.Log == nil {
		icfg.Log = opts.Log
	}
	pipe := ingest.New(timed, svc, icfg)
	srv := rest.New(svc, rest.Options{
		BaseURL: opts.BaseURL, MaxBody: opts.MaxBody, Log: opts.Log,
		Metrics: m, Gatherer: reg, Store: st,
		HL7: pipe, Messages: timed,
	})
	g := &Gateway{Service: svc, Registry: reg, Pipeline: pipe, syncer: syncer, Indexer: live, reindexer: reindexer, poll: opts.ParamPoll,
		indexRules: index.Rules + "; base " + opts.BaseURL}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/reindex", g.reindexStatus)
	mux.Handle("/", srv.Handler())
	g.handler = mux
	return g
}

// reindexStatus lists the re-indexing jobs with their progress.
func (g *Gateway) reindexStatus(w http.ResponseWriter, r *http.Request) {
	jobs, err := g.reindexer.Jobs(r.Context())
	if err != nil {
		http.Error(w, "cannot read re-indexing jobs", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"jobs": jobs})
}

// Start loads the run-time search parameters and starts the background work (search
// parameter polling, re-indexing) until ctx ends. Call it before serving.
func (g *Gateway) Start(ctx context.Context) error {
	if err := g.syncer.Refresh(ctx); err != nil {
		return fmt.Errorf("load search parameters: %w", err)
	}
	if err := g.reindexer.EnsureRules(ctx, g.indexRules); err != nil {
		return err
	}
	go g.syncer.Run(ctx)
	go g.reindexer.Run(ctx, g.poll)
	return nil
}

// Handler serves the FHIR API and the operational endpoints.
func (g *Gateway) Handler() http.Handler { return g.handler }

// MLLPChannel is the channel name of messages received over MLLP.
const MLLPChannel = "mllp"

// MLLPHandler passes each MLLP message through the pipeline and answers with its
// acknowledgements: the ACK (unless the sender asked for none in enhanced mode) and,
// in enhanced mode, the application ACK on the same connection after it.
func (g *Gateway) MLLPHandler() mllp.Handler {
	return func(ctx context.Context, msg []byte, conn mllp.ConnInfo) [][]byte {
		return mllpReplies(g.Pipeline.Process(ctx, ingest.Inbound{Channel: MLLPChannel, Raw: msg, Remote: conn.Remote}))
	}
}

// MLLPOversizeHandler records each MLLP message over the size limit as rejected, with
// the bytes the server kept, and answers it with an AR, so that the sender stops
// resending it and the message is on record.
func (g *Gateway) MLLPOversizeHandler() mllp.OversizeHandler {
	return func(ctx context.Context, prefix []byte, size int64, conn mllp.ConnInfo) [][]byte {
		return mllpReplies(g.Pipeline.RejectOversize(ctx, ingest.Inbound{Channel: MLLPChannel, Raw: prefix, Remote: conn.Remote}, size))
	}
}

// mllpReplies lists the acknowledgements of out to send back, in order.
func mllpReplies(out ingest.Outcome) [][]byte {
	var replies [][]byte
	if !out.SkipACK {
		replies = append(replies, out.ACK)
	}
	if out.AppACK != nil {
		replies = append(replies, out.AppACK)
	}
	return replies
}
