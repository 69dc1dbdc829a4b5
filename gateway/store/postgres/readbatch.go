package postgres

import (
	"context"
	"fmt"
	"slices"
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
// store.ErrNotFound when there is none. It returns when ctx ends, whatever
// the query it is part of is doing.
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
			b.abandon(j)
			return store.Resource{}, fmt.Errorf("read %s/%s: %w", typ, id, ctx.Err())
		case b.lanes <- struct{}{}:
			// The query runs on its own so that this reader, like the others
			// in it, can leave when its context ends; the lane is free again
			// when the query is done.
			if batch := b.take(); len(batch) == 0 {
				<-b.lanes
			} else {
				go func() {
					defer func() { <-b.lanes }()
					b.run(ctx, batch)
				}()
			}
			b.mu.Lock()
			taken := j.taken
			b.mu.Unlock()
			if !taken {
				continue // more than readBatchMax were queued ahead of it
			}
			// By this lane or, while this reader waited for a lane, by
			// another one: only the answer is left to wait for.
			select {
			case <-j.done:
				return j.res, j.err
			case <-ctx.Done():
				return store.Resource{}, fmt.Errorf("read %s/%s: %w", typ, id, ctx.Err())
			}
		}
	}
}

// abandon drops j from the queue if no lane has taken it yet, so that the
// read of a caller that has gone costs nothing.
func (b *readBatcher) abandon(j *readJob) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !j.taken {
		b.queue = slices.DeleteFunc(b.queue, func(q *readJob) bool { return q == j })
	}
}

// take removes the jobs at the head of the queue, up to readBatchMax.
func (b *readBatcher) take() []*readJob {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.queue), readBatchMax)
	batch := make([]*readJob, n)
	copy(batch, b.queue)
	b.queue = append(b.queue[:0:0], b.queue[n:]...)
	for _, j := range batch {
		j.taken = true
	}
	return batch
}

// run answers the jobs of batch with one query.
func (b *readBatcher) run(ctx context.Context, batch []*readJob) {
	// Every job is answered even if the query panics, or its reader would
	// wait for ever; the panic goes no further, since no caller is on this
	// goroutine's stack to handle it.
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
		}
	}()
	keys := make([]resourceKey, 0, len(batch))
	seen := make(map[resourceKey]bool, len(batch))
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
