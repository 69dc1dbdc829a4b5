package index

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/shch/fhirgw/gateway/fhirpath"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

// Rules names the extractor's own rules: change it whenever the same resource and
// search parameters would give different index rows, and every gateway on a database
// re-indexes what is stored (reindex.Runner.EnsureRules) when it starts.
const Rules = "2026-11-23: composites only when complete; code-value-date as R5; local base references"

// Live is an Extractor that can be replaced while the gateway runs, when
// SearchParameter resources are created, changed or removed. Writes always use the
// newest definitions.
type Live struct {
	base      *searchparam.Registry
	types     []string
	localBase string
	cur       atomic.Pointer[liveState]
}

type liveState struct {
	x      *Extractor
	reg    *searchparam.Registry
	custom []searchparam.Definition
}

// NewLive starts from the official registry base. localBase is this server's FHIR
// base URL (Extractor.LocalBase), "" when it has none.
func NewLive(base *searchparam.Registry, resourceTypes []string, localBase string) (*Live, []error) {
	x, errs := NewExtractor(base, resourceTypes, nil)
	x.LocalBase = localBase
	l := &Live{base: base, types: resourceTypes, localBase: localBase}
	l.cur.Store(&liveState{x: x, reg: base})
	return l, errs
}

// Index implements interaction.Indexer.
func (l *Live) Index(ctx context.Context, typ string, body []byte) (*store.Index, error) {
	return l.cur.Load().x.Index(ctx, typ, body)
}

// Params implements interaction.Indexer.
func (l *Live) Params(typ string) []*searchparam.Definition { return l.cur.Load().x.Params(typ) }

// Registry returns the definitions in force.
func (l *Live) Registry() *searchparam.Registry { return l.cur.Load().reg }

// Custom returns the run-time definitions in force.
func (l *Live) Custom() []searchparam.Definition { return l.cur.Load().custom }

// Check reports whether a definition can be indexed: its expression compiles for every
// base type. A definition that cannot be indexed is refused rather than silently
// never matching.
func Check(d searchparam.Definition) error {
	if _, ok := KindOf(d.Type); !ok {
		if d.Type == "composite" || d.Type == "special" {
			return nil // accepted, but not indexed (the CapabilityStatement does not claim it)
		}
		return fmt.Errorf("search parameter type %q is not supported", d.Type)
	}
	for _, base := range d.Base {
		if src := ForType(d.Expression, base); src != "" {
			if _, err := fhirpath.Compile(src); err != nil {
				return fmt.Errorf("search parameter %s on %s: %w", d.URL, base, err)
			}
		}
	}
	return nil
}

// Set replaces the run-time definitions. It returns the definitions that are new or
// changed compared with the previous set, whose existing resources need re-indexing.
func (l *Live) Set(custom []searchparam.Definition) (changed []searchparam.Definition, errs []error) {
	prev := l.cur.Load()
	reg := l.base.With(custom...)
	x, errs := NewExtractor(reg, l.types, nil)
	x.LocalBase = l.localBase
	old := map[string]*searchparam.Definition{}
	for i := range prev.custom {
		old[prev.custom[i].URL] = &prev.custom[i]
	}
	for i := range custom {
		d := &custom[i]
		if o, ok := old[d.URL]; ok && searchparam.Same(o, d) {
			continue
		}
		if o, ok := l.base.ByURL(d.URL); ok && searchparam.Same(o, d) {
			continue // a stored copy of an official definition changes nothing
		}
		changed = append(changed, *d)
	}
	l.cur.Store(&liveState{x: x, reg: reg, custom: custom})
	return changed, errs
}
