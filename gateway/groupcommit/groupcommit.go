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
	"log/slog"
	"sync"
	"time"

	"github.com/shch/fhirgw/gateway/store"
)

// Updater runs a write transaction (store.Store's Update).
type Updater interface {
	Update(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error
}

// Write is one caller's part of a transaction. It may run more than once
// (alone after a failed batch), so it must not keep state between runs.
type Write func(ctx context.Context, tx store.Tx) error

// Options tune a Committer.
type Options struct {
	// Max is the most writes in one transaction (default 64).
	Max int
	// Lanes is how many transactions may be in flight at once (default 2): while
	// one waits for its commit to be flushed, the next batch gathers and runs.
	Lanes int
	// Timeout bounds a shared transaction (default 30 s): its callers may have
	// gone, so no caller's context ends it.
	Timeout time.Duration
	Log     *slog.Logger
}

// Committer batches the Writes given to Do.
type Committer struct {
	st  Updater
	opt Options

	mu      sync.Mutex
	queue   []*job
	leaders int // batches being committed; at most opt.Lanes
}

type job struct {
	ctx  context.Context
	w    Write
	err  error
	done chan struct{} // closed when err is final
	lead chan struct{} // closed when this job is to commit the queue
	// handed is set (under Committer.mu) when lead is closed.
	handed bool
}

// New returns a Committer.
func New(st Updater, opt Options) *Committer {
	if opt.Max < 1 {
		opt.Max = 64
	}
	if opt.Lanes < 1 {
		opt.Lanes = 2
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &Committer{st: st, opt: opt}
}

// Do runs w in a transaction, possibly together with writes of other
// callers, and returns when that transaction has committed or failed. If
// the shared transaction fails, every write in it is retried alone, so a
// write fails only for its own reason.
func (c *Committer) Do(ctx context.Context, w Write) error {
	j := &job{ctx: ctx, w: w, done: make(chan struct{}), lead: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, j)
	leader := c.leaders < c.opt.Lanes
	if leader {
		c.leaders++
	}
	c.mu.Unlock()
	if !leader {
		// A job that is queued must be answered with its real outcome even if
		// its caller has gone: it may already be committed with others.
		select {
		case <-j.done:
			// Another lane may have taken the job after it was handed this
			// lane (the hand-off happens while it is still queued, so it is
			// visible now): the lane must still be used or passed on.
			select {
			case <-j.lead:
			default:
				return j.err
			}
		case <-j.lead:
		}
	}
	c.lead()
	<-j.done
	return j.err
}

// lead commits the head of the queue (which holds the caller's own job, or
// its job is already done by another lane) and then hands the lane on.
func (c *Committer) lead() {
	c.mu.Lock()
	n := min(len(c.queue), c.opt.Max)
	batch := make([]*job, n)
	copy(batch, c.queue)
	c.queue = append(c.queue[:0:0], c.queue[n:]...)
	c.mu.Unlock()

	defer func() {
		// Even if a write panics, every job gets an answer and the lane passes
		// on; otherwise all later creates would wait for ever.
		p := recover()
		for _, j := range batch {
			select {
			case <-j.done:
			default:
				j.err = fmt.Errorf("group commit: a write panicked: %v", p)
				close(j.done)
			}
		}
		c.mu.Lock()
		c.handOn()
		c.mu.Unlock()
		if p != nil {
			panic(p)
		}
	}()
	c.commit(batch)
}

// handOn passes the caller's lane to the first queued job that has none yet;
// with none waiting, the lane is given up. c.mu is held.
func (c *Committer) handOn() {
	for _, j := range c.queue {
		if !j.handed {
			j.handed = true
			close(j.lead)
			return
		}
	}
	c.leaders--
}

func (c *Committer) commit(batch []*job) {
	if len(batch) == 0 {
		return
	}
	if len(batch) > 1 {
		// One caller going away must not fail the others' writes.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), c.opt.Timeout)
		err := c.st.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			for i, j := range batch {
				if err := j.w(ctx, tx); err != nil {
					return fmt.Errorf("write %d of %d: %w", i+1, len(batch), err)
				}
			}
			return nil
		})
		cancel()
		if err == nil {
			for _, j := range batch {
				close(j.done)
			}
			return
		}
		c.opt.Log.Warn("group commit failed; its writes are retried one by one", "writes", len(batch), "err", err)
	}
	for _, j := range batch {
		j.err = c.st.Update(j.ctx, func(ctx context.Context, tx store.Tx) error { return j.w(ctx, tx) })
		close(j.done)
	}
}
