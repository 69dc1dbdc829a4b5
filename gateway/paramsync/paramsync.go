// Package paramsync keeps the search parameters in force in step with the
// SearchParameter resources in the store. Every gateway process runs one: the process
// that stores a SearchParameter applies it at once (through interaction.Config.Changed),
// the others on their next poll, so that several stateless gateways on one database
// agree within the poll interval.
package paramsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

// Syncer loads active SearchParameter resources into a live indexer.
type Syncer struct {
	st       store.Reader
	live     *index.Live
	log      *slog.Logger
	interval time.Duration
	// OnChange receives the definitions that are new or changed, whose existing
	// resources need re-indexing.
	onChange func(ctx context.Context, changed []searchparam.Definition) error

	mu sync.Mutex // one refresh at a time
}

// New returns a Syncer polling every interval (default 5s).
func New(st store.Reader, live *index.Live, interval time.Duration, log *slog.Logger,
	onChange func(ctx context.Context, changed []searchparam.Definition) error) *Syncer {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &Syncer{st: st, live: live, log: log, interval: interval, onChange: onChange}
}

// Changed is the interaction.Config.Changed hook: a write that touched SearchParameter
// resources refreshes the definitions before the response goes out.
func (s *Syncer) Changed(ctx context.Context, types []string) {
	if !slices.Contains(types, "SearchParameter") {
		return
	}
	if err := s.Refresh(ctx); err != nil {
		s.log.Error("refresh search parameters", "err", err)
	}
}

// Refresh reads every active SearchParameter and puts the set in force.
func (s *Syncer) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defs, err := s.load(ctx)
	if err != nil {
		return err
	}
	changed, errs := s.live.Set(defs)
	for _, err := range errs {
		s.log.Warn("search parameter cannot be indexed", "err", err)
	}
	if len(changed) == 0 || s.onChange == nil {
		return nil
	}
	urls := make([]string, len(changed))
	for i, d := range changed {
		urls[i] = d.URL
	}
	s.log.Info("search parameters changed", "urls", urls)
	return s.onChange(ctx, changed)
}

func (s *Syncer) load(ctx context.Context) ([]searchparam.Definition, error) {
	var defs []searchparam.Definition
	q := store.Query{Type: "SearchParameter", Count: 500,
		Where: []store.Clause{{Param: "status", Kind: store.KindToken, Tokens: []store.TokenMatch{{AnySystem: true, Code: "active"}}}}}
	for {
		p, err := s.st.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("load SearchParameters: %w", err)
		}
		for _, r := range p.Resources {
			d, status, err := searchparam.FromResource(r.Body)
			if err != nil || status != "active" {
				continue
			}
			defs = append(defs, d)
		}
		if !p.More || len(p.Resources) == 0 {
			break
		}
		last := p.Resources[len(p.Resources)-1]
		q.After = &store.Cursor{LastUpdated: last.LastUpdated, ID: last.ID, Type: last.Type}
	}
	// Deterministic order: the newest definition of a code wins in the registry.
	slices.SortFunc(defs, func(a, b searchparam.Definition) int { return strings.Compare(a.URL, b.URL) })
	return defs, nil
}

// Run refreshes until ctx ends.
func (s *Syncer) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if err := s.Refresh(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("refresh search parameters", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
