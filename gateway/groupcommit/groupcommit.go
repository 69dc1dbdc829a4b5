// Package groupcommit runs small independent writes that arrive at the same
// time in one store transaction, so that concurrent clients share the
// transaction's fixed costs (round trips, statement start-up, the WAL flush
// at commit) instead of each paying them.
//
// There is no timer and no background goroutine: the first caller becomes
// the leader and commits at once; callers that arrive while a commit is in
// flight queue, and the next of them commits the whole queue as one batch.
// A lone request is therefore never delayed, and batches grow only with load
// (the "natural batching" of database group commit). Everything is in
// memory of one process only for the length of a commit; the state that
// matters is in the store, so several gateway processes can each batch
// their own clients.
package groupcommit

import (
	"context"
	"fmt"
	"sync"

	"github.com/shch/fhirgw/gateway/store"
)

// Updater runs a write transaction (store.Store's Update).
type Updater interface {
	Update(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// Write is one caller's part of a transaction. It may run more than once
// (alone after a failed batch), so it must not keep state between runs.
type Write func(ctx context.Context, tx store.Tx) error

// Committer batches the Writes given to Do.
type Committer struct {
	st  Updater
	max int

	mu      sync.Mutex
	queue   []*job
	running bool // a leader is committing; new jobs wait for their turn
}

type job struct {
	ctx  context.Context
	w    Write
	err  error
	done chan struct{} // closed when err is final
	lead chan struct{} // closed when this job is to commit the queue
}

// New returns a Committer that commits at most max writes per transaction.
func New(st Updater, max int) *Committer {
	if max < 1 {
		max = 1
	}
	return &Committer{st: st, max: max}
}

// Do runs w in a transaction, possibly together with writes of other
// callers, and returns when that transaction has committed or failed. If
// the shared transaction fails, every write in it is retried alone, so a
// write fails only for its own reason.
func (c *Committer) Do(ctx context.Context, w Write) error {
	j := &job{ctx: ctx, w: w, done: make(chan struct{}), lead: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, j)
	leader := !c.running
	c.running = true
	c.mu.Unlock()
	if !leader {
		// A job that is queued must be answered with its real outcome even if
		// its caller has gone: it may already be committed with others.
		select {
		case <-j.done:
			return j.err
		case <-j.lead:
		}
	}
	// j is at the head of the queue: commit what has gathered.
	c.mu.Lock()
	n := min(len(c.queue), c.max)
	batch := make([]*job, n)
	copy(batch, c.queue)
	c.queue = append(c.queue[:0:0], c.queue[n:]...)
	c.mu.Unlock()

	c.commit(batch)

	c.mu.Lock()
	if len(c.queue) > 0 {
		close(c.queue[0].lead)
	} else {
		c.running = false
	}
	c.mu.Unlock()
	<-j.done
	return j.err
}

func (c *Committer) commit(batch []*job) {
	if len(batch) > 1 {
		// One caller going away must not fail the others' writes.
		ctx := context.WithoutCancel(batch[0].ctx)
		err := c.st.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			for i, j := range batch {
				if err := j.w(ctx, tx); err != nil {
					return fmt.Errorf("write %d of %d in a group commit: %w", i+1, len(batch), err)
				}
			}
			return nil
		})
		if err == nil {
			for _, j := range batch {
				close(j.done)
			}
			return
		}
	}
	for _, j := range batch {
		j.err = c.st.Update(j.ctx, func(ctx context.Context, tx store.Tx) error { return j.w(ctx, tx) })
		close(j.done)
	}
}
