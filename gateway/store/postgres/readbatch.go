package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shch/fhirgw/gateway/store"
)

// Reads by id that arrive while others are in flight share one query. A read
// by id costs PostgreSQL far more in per-statement overhead (a round trip, a
// portal, a snapshot) than in finding the row, and the gateway pays two
// system calls for each; with 32 clients reading, one query for a dozen ids
// costs about what one query for one id does.
//
// As with group commit there is no timer: a read that finds a lane free runs
// at once (with whatever reads are queued by then), and reads that arrive
// while every lane is busy wait for the next free one and go together. A lone
// read therefore waits for nothing. Each batch sees every write committed
// before any of its reads began, as a query of its own would.

// readBatchMax is the most ids in one query.
const readBatchMax = 64

// readBatchTimeout bounds a shared query: the callers' own contexts cannot,
// since one caller going away must not fail the others' reads.
const readBatchTimeout = 30 * time.Second

type readJob struct {
	key  resourceKey
	res  store.Resource
	err  error
	done chan struct{} // closed when res and err are final
	// taken is set (under readBatcher.mu) when a lane takes the job off the
	// queue.
	taken bool
}

type readBatcher struct {
	// lanes holds a token per query in flight; a reader that gets one runs the
	// queue.
	lanes chan struct{}
	// query reads the current rows of keys (which are distinct); a missing
	// key is not an error.
	query func(ctx context.Context, keys []resourceKey) (map[resourceKey]store.Resource, error)

	mu    sync.Mutex
	queue []*readJob
}

func newReadBatcher(lanes int, query func(context.Context, []resourceKey) (map[resourceKey]store.Resource, error)) *readBatcher {
	return &readBatcher{lanes: make(chan struct{}, max(lanes, 1)), query: query}
}

// read returns the current row of typ/id, or an error wrapping
// store.ErrNotFound when there is none.
func (b *readBatcher) read(ctx context.Context, typ, id string) (store.Resource, error) {
	j := &readJob{key: resourceKey{typ, id}, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, j)
	b.mu.Unlock()
	for {
		select {
		case <-j.done:
			return j.res, j.err
		case <-ctx.Done():
			// The job stays queued and is answered to no one; reads have no
			// effect to wait for.
			return store.Resource{}, fmt.Errorf("read %s/%s: %w", typ, id, ctx.Err())
		case b.lanes <- struct{}{}:
			func() {
				defer func() { <-b.lanes }()
				b.runQueue(ctx)
			}()
			b.mu.Lock()
			taken := j.taken
			b.mu.Unlock()
			if taken {
				// By this lane or, while this reader waited for a lane,
				// by another one: only the answer is left to wait for.
				select {
				case <-j.done:
					return j.res, j.err
				case <-ctx.Done():
					return store.Resource{}, fmt.Errorf("read %s/%s: %w", typ, id, ctx.Err())
				}
			}
		}
	}
}

// runQueue answers the jobs at the head of the queue with one query.
func (b *readBatcher) runQueue(ctx context.Context) {
	b.mu.Lock()
	n := min(len(b.queue), readBatchMax)
	batch := make([]*readJob, n)
	copy(batch, b.queue)
	b.queue = append(b.queue[:0:0], b.queue[n:]...)
	for _, j := range batch {
		j.taken = true
	}
	b.mu.Unlock()
	if n == 0 {
		return
	}
	// Every job is answered even if the query panics, or their readers would
	// wait for ever.
	defer func() {
		if p := recover(); p != nil {
			for _, j := range batch {
				select {
				case <-j.done:
				default:
					j.err = fmt.Errorf("read %s/%s: batched read panicked: %v", j.key.typ, j.key.id, p)
					close(j.done)
				}
			}
			panic(p)
		}
	}()

	keys := make([]resourceKey, 0, n)
	seen := make(map[resourceKey]bool, n)
	for _, j := range batch {
		if !seen[j.key] {
			seen[j.key] = true
			keys = append(keys, j.key)
		}
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readBatchTimeout)
	found, err := b.query(qctx, keys)
	cancel()
	for _, j := range batch {
		switch r, ok := found[j.key]; {
		case err != nil:
			j.err = fmt.Errorf("read %s/%s: %w", j.key.typ, j.key.id, err)
		case !ok:
			j.err = fmt.Errorf("read %s/%s: %w", j.key.typ, j.key.id, store.ErrNotFound)
		default:
			j.res = r
			// Each reader gets its own body: callers may modify what they read.
			if len(batch) != len(keys) {
				j.res.Body = append([]byte(nil), r.Body...)
			}
		}
		close(j.done)
	}
}
