// Package reindex re-extracts the search index of stored resources in the background
// after search parameters change. Jobs live in the database (store state), so any
// gateway process can run them, a job survives restarts, and several processes never
// work on one job at once (a lease renewed with every batch).
package reindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

// Job statuses.
const (
	Pending = "pending"
	Running = "running"
	Done    = "done"
)

const keyPrefix = "reindex/"

// Job is one re-indexing run over the resource types some parameters apply to.
type Job struct {
	ID        string        `json:"id"`
	URLs      []string      `json:"urls"`  // the search parameters that changed
	Types     []string      `json:"types"` // resource types to walk, in order
	Status    string        `json:"status"`
	Created   time.Time     `json:"created"`
	NotBefore time.Time     `json:"notBefore"` // every gateway uses the new definitions by then
	TypeIndex int           `json:"typeIndex"` // the type being walked
	Cursor    *store.Cursor `json:"cursor,omitempty"`
	Processed int           `json:"processed"`
	Total     int           `json:"total"` // resources to walk, counted when the job starts
	Owner     string        `json:"owner,omitempty"`
	Lease     time.Time     `json:"leaseUntil,omitzero"`
	Updated   time.Time     `json:"updated"`
	Finished  time.Time     `json:"finished,omitzero"`
}

// Indexer extracts index rows with the definitions currently in force.
type Indexer interface {
	Index(ctx context.Context, resourceType string, body []byte) (*store.Index, error)
}

// Runner creates and runs jobs.
type Runner struct {
	st    store.Store
	ix    Indexer
	owner string
	log   *slog.Logger
	// Delay before a new job starts: the other gateways' poll interval, with margin,
	// so that nothing written by a gateway still on the old definitions is missed.
	delay time.Duration
	batch int
	lease time.Duration
	now   func() time.Time
}

// New returns a Runner. delay is how long a new job waits before it starts.
func New(st store.Store, ix Indexer, delay time.Duration, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.Default()
	}
	return &Runner{st: st, ix: ix, owner: uuid.NewString(), log: log, delay: delay, batch: 200, lease: 30 * time.Second, now: time.Now}
}

// Enqueue records a job for the resource types the definitions apply to.
func (r *Runner) Enqueue(ctx context.Context, defs []searchparam.Definition) error {
	if len(defs) == 0 {
		return nil
	}
	var types, urls []string
	for _, d := range defs {
		urls = append(urls, d.URL)
		for _, b := range d.Base {
			if b == "Resource" || b == "DomainResource" {
				for _, t := range fhirschema.ResourceTypes() {
					if b == "Resource" || fhirschema.IsSubtype(t, "DomainResource") {
						types = append(types, t)
					}
				}
				continue
			}
			types = append(types, b)
		}
	}
	sort.Strings(types)
	types = slices.Compact(types)
	now := r.now().UTC()
	j := Job{ID: uuid.NewString(), URLs: urls, Types: types, Status: Pending, Created: now, NotBefore: now.Add(r.delay), Updated: now}
	return r.st.Update(ctx, func(ctx context.Context, tx store.Tx) error { return put(ctx, tx, j) })
}

// rulesKey holds the fingerprint of the index rules the stored rows were made with.
const rulesKey = "reindex-rules"

// EnsureRules makes the stored index follow rules, a fingerprint of what decides the
// index rows besides the search parameters (the extractor's own rules and this
// server's base URL): when it differs from the one recorded, every stored resource is
// re-indexed by a job, and rules is recorded. A store without any resource only
// records it. Gateways sharing a database must agree on rules: give them all the
// same --base-url, or each start with another one re-indexes everything.
func (r *Runner) EnsureRules(ctx context.Context, rules string) error {
	err := r.st.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		// Gateways starting together must not each queue a job.
		if err := tx.Lock(ctx, rulesKey); err != nil {
			return err
		}
		old, err := tx.GetState(ctx, rulesKey)
		switch {
		case err == nil && string(old) == rules:
			return nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
		page, err := tx.Search(ctx, store.Query{Count: 1})
		if err != nil {
			return err
		}
		if len(page.Resources) > 0 {
			now := r.now().UTC()
			j := Job{ID: uuid.NewString(), URLs: []string{"index rules: " + rules}, Types: fhirschema.ResourceTypes(),
				Status: Pending, Created: now, NotBefore: now.Add(r.delay), Updated: now}
			if err := put(ctx, tx, j); err != nil {
				return err
			}
			r.log.Info("index rules changed: every resource will be re-indexed", "job", j.ID)
		}
		return tx.PutState(ctx, rulesKey, []byte(rules))
	})
	if err != nil {
		return fmt.Errorf("check index rules: %w", err)
	}
	return nil
}

func put(ctx context.Context, tx store.Tx, j Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := tx.PutState(ctx, keyPrefix+j.ID, b); err != nil {
		return fmt.Errorf("save reindex job %s: %w", j.ID, err)
	}
	return nil
}

// Jobs lists every job, newest first.
func (r *Runner) Jobs(ctx context.Context) ([]Job, error) {
	return list(ctx, r.st)
}

func list(ctx context.Context, rd store.Reader) ([]Job, error) {
	entries, err := rd.ListState(ctx, keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("list reindex jobs: %w", err)
	}
	jobs := make([]Job, 0, len(entries))
	for _, e := range entries {
		var j Job
		if err := json.Unmarshal(e.Value, &j); err != nil {
			continue
		}
		jobs = append(jobs, j)
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].Created.After(jobs[b].Created) })
	return jobs, nil
}

// Run works on jobs until ctx ends, looking for one every poll.
func (r *Runner) Run(ctx context.Context, poll time.Duration) {
	for {
		worked, err := r.Step(ctx)
		if err != nil && !errors.Is(err, context.Canceled) {
			r.log.Error("reindex", "err", err)
		}
		if worked {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
}

// Step claims a due job (or keeps the one this runner holds) and processes one batch
// of it. It reports whether there was work.
func (r *Runner) Step(ctx context.Context) (bool, error) {
	var job *Job
	err := r.st.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		job = nil
		if err := tx.Lock(ctx, "reindex-claim"); err != nil {
			return err
		}
		jobs, err := list(ctx, tx)
		if err != nil {
			return err
		}
		now := r.now().UTC()
		for i := len(jobs) - 1; i >= 0; i-- { // oldest first
			j := jobs[i]
			if j.Status == Done || now.Before(j.NotBefore) || j.Owner != "" && j.Owner != r.owner && now.Before(j.Lease) {
				continue
			}
			if j.Status == Pending {
				j.Status = Running
				total := 0
				for _, t := range j.Types {
					p, err := tx.Search(ctx, store.Query{Type: t, Total: true})
					if err != nil {
						return err
					}
					total += p.Total
				}
				j.Total = total
			}
			j.Owner, j.Lease, j.Updated = r.owner, now.Add(r.lease), now
			if err := put(ctx, tx, j); err != nil {
				return err
			}
			job = &j
			return nil
		}
		return nil
	})
	if err != nil || job == nil {
		return false, err
	}
	return true, r.batchOf(ctx, *job)
}

// batchOf re-indexes the next batch of the job and records the progress.
func (r *Runner) batchOf(ctx context.Context, j Job) error {
	if j.TypeIndex >= len(j.Types) {
		return r.finish(ctx, j)
	}
	typ := j.Types[j.TypeIndex]
	page, err := r.st.Search(ctx, store.Query{Type: typ, Count: r.batch, After: j.Cursor})
	if err != nil {
		return fmt.Errorf("reindex %s: %w", typ, err)
	}
	idxs := make([]*store.Index, len(page.Resources))
	for i, res := range page.Resources {
		if idxs[i], err = r.ix.Index(ctx, res.Type, res.Body); err != nil {
			return fmt.Errorf("reindex %s/%s: %w", res.Type, res.ID, err)
		}
	}
	return r.st.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		cur, err := get(ctx, tx, j.ID)
		if err != nil {
			return err
		}
		if cur.Owner != r.owner {
			return nil // the lease passed to another gateway; its work stands
		}
		for i, res := range page.Resources {
			// A version written since the page was read carries the new index already.
			if _, err := tx.Reindex(ctx, res, idxs[i]); err != nil {
				return err
			}
		}
		now := r.now().UTC()
		cur.Processed += len(page.Resources)
		if page.More && len(page.Resources) > 0 {
			last := page.Resources[len(page.Resources)-1]
			cur.Cursor = &store.Cursor{LastUpdated: last.LastUpdated, ID: last.ID, Type: last.Type}
		} else {
			cur.TypeIndex++
			cur.Cursor = nil
		}
		cur.Lease, cur.Updated = now.Add(r.lease), now
		if cur.TypeIndex >= len(cur.Types) {
			cur.Status, cur.Finished, cur.Owner = Done, now, ""
			r.log.Info("reindex finished", "job", cur.ID, "resources", cur.Processed)
		}
		return put(ctx, tx, cur)
	})
}

func (r *Runner) finish(ctx context.Context, j Job) error {
	return r.st.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		cur, err := get(ctx, tx, j.ID)
		if err != nil {
			return err
		}
		now := r.now().UTC()
		cur.Status, cur.Finished, cur.Owner, cur.Updated = Done, now, "", now
		return put(ctx, tx, cur)
	})
}

func get(ctx context.Context, rd store.Reader, id string) (Job, error) {
	b, err := rd.GetState(ctx, keyPrefix+id)
	if err != nil {
		return Job{}, fmt.Errorf("read reindex job %s: %w", id, err)
	}
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return Job{}, fmt.Errorf("read reindex job %s: %w", id, err)
	}
	return j, nil
}
