package terminology

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/shch/fhirgw/gateway/store"
)

// maxCached bounds the parsed versions a Loader keeps.
const maxCached = 256

// maxCandidates bounds how many ConceptMaps one look-up considers.
const maxCandidates = 100

// Loader finds ConceptMap resources in a store. Every look-up reads the store (inside
// the caller's transaction when given a store.Tx), so a ConceptMap written by any
// gateway process is used by the next look-up in every process; what is cached is
// only the parsed form of a stored version (type, id and versionId), which never
// changes, so the cache cannot serve a stale map. It is safe for concurrent use.
type Loader struct {
	mu     sync.Mutex
	parsed map[string]*ConceptMap
}

// NewLoader returns a Loader with an empty cache.
func NewLoader() *Loader { return &Loader{parsed: map[string]*ConceptMap{}} }

// FromResource parses a stored ConceptMap version, from the cache when it was parsed
// before.
func (l *Loader) FromResource(r store.Resource) (*ConceptMap, error) {
	key := r.ID + "/" + strconv.FormatInt(r.Version, 10)
	l.mu.Lock()
	m, ok := l.parsed[key]
	l.mu.Unlock()
	if ok {
		return m, nil
	}
	m, err := Parse(r.Body)
	if err != nil {
		return nil, fmt.Errorf("ConceptMap/%s: %w", r.ID, err)
	}
	m.ID, m.VersionID = r.ID, r.Version
	l.mu.Lock()
	if len(l.parsed) >= maxCached {
		// Old versions are never asked for again; starting over is simpler than LRU
		// bookkeeping and costs one parse per map in use.
		clear(l.parsed)
	}
	l.parsed[key] = m
	l.mu.Unlock()
	return m, nil
}

// ByID reads ConceptMap/id; ErrNotFound when it does not exist or is deleted.
func (l *Loader) ByID(ctx context.Context, r store.Reader, id string) (*ConceptMap, error) {
	res, err := r.Read(ctx, "ConceptMap", id)
	if errors.Is(err, store.ErrNotFound) || err == nil && res.Deleted {
		return nil, fmt.Errorf("%w: ConceptMap/%s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("terminology: read ConceptMap/%s: %w", id, err)
	}
	return l.FromResource(res)
}

// ByCanonical finds the ConceptMap with a canonical URL, "url" or "url|version".
// Without a version the most recently updated map with the url is chosen, preferring
// one that is not retired. ErrNotFound when there is none.
func (l *Loader) ByCanonical(ctx context.Context, r store.Reader, canonical string) (*ConceptMap, error) {
	url, version := SplitCanonical(canonical)
	page, err := r.Search(ctx, store.Query{Type: "ConceptMap", Count: maxCandidates, Where: []store.Clause{{
		Param: "url", Kind: store.KindURI, URIs: []store.URIMatch{{Value: url}},
	}}})
	if err != nil {
		return nil, fmt.Errorf("terminology: search ConceptMap %s: %w", canonical, err)
	}
	var pick *ConceptMap
	for _, res := range page.Resources { // newest first
		m, err := l.FromResource(res)
		if err != nil {
			return nil, err
		}
		if m.URL != url || version != "" && m.Version != version {
			continue
		}
		if pick == nil || pick.Status == "retired" && m.Status != "retired" {
			pick = m
		}
	}
	if pick == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, canonical)
	}
	return pick, nil
}

// BySystem lists the ConceptMaps with a group from system (with reverse: into it),
// newest first, at most maxCandidates.
func (l *Loader) BySystem(ctx context.Context, r store.Reader, system string, reverse bool) ([]*ConceptMap, error) {
	param := "source-system"
	if reverse {
		param = "target-system"
	}
	page, err := r.Search(ctx, store.Query{Type: "ConceptMap", Count: maxCandidates, Where: []store.Clause{{
		Param: param, Kind: store.KindURI, URIs: []store.URIMatch{{Value: system}},
	}}})
	if err != nil {
		return nil, fmt.Errorf("terminology: search ConceptMaps for %s: %w", system, err)
	}
	var out []*ConceptMap
	for _, res := range page.Resources {
		m, err := l.FromResource(res)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Resolver returns a Resolver reading through r.
func (l *Loader) Resolver(r store.Reader) Resolver {
	return func(ctx context.Context, canonical string) (*ConceptMap, error) {
		return l.ByCanonical(ctx, r, canonical)
	}
}
