package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/shch/fhirgw/gateway/store"
)

// recorder is an Updater that records which writes ran in each transaction; a
// transaction fails if any of its writes does, like a store's. Holding gate makes
// the first transaction wait, so that callers arriving meanwhile queue up.
type recorder struct {
	gate    chan struct{}
	mu      sync.Mutex
	txs     [][]string
	current []string
}

type tagTx struct {
	store.Tx
	r *recorder
}

func (r *recorder) Update(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.current = nil
	r.mu.Unlock()
	err := fn(ctx, tagTx{r: r})
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.txs = append(r.txs, r.current)
	}
	return err
}

// write returns a Write that records name in the transaction, failing when fail is set.
func write(name string, fail bool) Write {
	return func(ctx context.Context, tx store.Tx) error {
		if fail {
			return fmt.Errorf("%s: %w", name, store.ErrConflict)
		}
		r := tx.(tagTx).r
		r.current = append(r.current, name)
		return nil
	}
}

func TestLoneWriteCommitsAtOnce(t *testing.T) {
	r := &recorder{}
	c := New(r, Options{Max: 8, Lanes: 1})
	for i := range 3 {
		if err := c.Do(context.Background(), write(fmt.Sprint(i), false)); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.txs) != 3 {
		t.Fatalf("sequential writes ran in %d transactions, want 3: %v", len(r.txs), r.txs)
	}
}

// queued starts n writes while the committer is busy with a first one (held by the
// gate), waits until all n are queued, then opens the gate; it returns each write's
// error by name.
func queued(t *testing.T, c *Committer, r *recorder, n int, failing map[string]bool) map[string]error {
	t.Helper()
	var mu sync.Mutex
	errs := map[string]error{}
	var wg sync.WaitGroup
	run := func(name string) {
		defer wg.Done()
		err := c.Do(context.Background(), write(name, failing[name]))
		mu.Lock()
		errs[name] = err
		mu.Unlock()
	}
	wg.Add(1)
	go run("first")
	waitQueue(c, 0) // the first is committing, held by the gate
	for i := range n {
		wg.Add(1)
		go run(fmt.Sprint("w", i))
	}
	waitQueue(c, n) // the first has left the queue for its transaction
	close(r.gate)
	wg.Wait()
	return errs
}

func waitQueue(c *Committer, n int) {
	for {
		c.mu.Lock()
		l, running := len(c.queue), c.leaders > 0
		c.mu.Unlock()
		if running && l == n {
			return
		}
		runtime.Gosched() // no sleeping: the test must not depend on timing
	}
}

func TestConcurrentWritesShareATransaction(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	c := New(r, Options{Max: 64, Lanes: 1})
	errs := queued(t, c, r, 10, nil)
	for name, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(r.txs) != 2 || len(r.txs[0]) != 1 || len(r.txs[1]) != 10 {
		t.Fatalf("transactions %v, want the first alone and then the ten queued together", r.txs)
	}
}

func TestBatchesAreBounded(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	c := New(r, Options{Max: 4, Lanes: 1})
	queued(t, c, r, 10, nil)
	var sizes []int
	for _, tx := range r.txs {
		sizes = append(sizes, len(tx))
	}
	want := []int{1, 4, 4, 2}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Fatalf("transaction sizes %v, want %v", sizes, want)
	}
}

func TestAFailingWriteFailsAlone(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	c := New(r, Options{Max: 64, Lanes: 1})
	errs := queued(t, c, r, 5, map[string]bool{"w2": true})
	for name, err := range errs {
		switch {
		case name == "w2" && !errors.Is(err, store.ErrConflict):
			t.Errorf("w2 = %v, want its own conflict", err)
		case name != "w2" && err != nil:
			t.Errorf("%s failed with another write's error: %v", name, err)
		}
	}
	committed := 0
	for _, tx := range r.txs {
		for _, name := range tx {
			if name == "w2" {
				t.Errorf("the failing write was committed: %v", r.txs)
			}
			committed++
		}
	}
	if committed != 5 {
		t.Fatalf("%d writes committed, want 5 (first + 4): %v", committed, r.txs)
	}
}

func TestCancelledCallerDoesNotFailOthers(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	c := New(r, Options{Max: 64, Lanes: 1})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.Do(context.Background(), write("first", false)) }()
	waitQueue(c, 0)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx := context.Background()
			if i == 0 {
				wctx = ctx // the leader of the next batch
			}
			errs[i] = c.Do(wctx, func(ctx context.Context, tx store.Tx) error {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return write(fmt.Sprint(i), false)(ctx, tx)
			})
		}()
		waitQueue(c, i+1)
	}
	cancel()
	close(r.gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
}

// A write that panics fails its batch, and the committer keeps working: no later
// caller waits for ever.
func TestPanickingWrite(t *testing.T) {
	r := &recorder{}
	c := New(r, Options{Max: 8, Lanes: 1})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller whose goroutine committed")
			}
		}()
		_ = c.Do(context.Background(), func(ctx context.Context, tx store.Tx) error { panic("boom") })
	}()
	if err := c.Do(context.Background(), write("after", false)); err != nil {
		t.Fatal(err)
	}
	if len(r.txs) != 1 || r.txs[0][0] != "after" {
		t.Fatalf("transactions %v", r.txs)
	}
}

// Many callers on two lanes: every write commits exactly once, failing ones fail
// alone, and every call returns (a lost lane would hang this test).
func TestLanesUnderLoad(t *testing.T) {
	r := &lockedRecorder{}
	c := New(r, Options{Max: 5, Lanes: 2})
	const callers, each = 16, 50
	var wg sync.WaitGroup
	errs := make([]error, callers*each)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := g*each + i
				errs[n] = c.Do(context.Background(), r.write(n, n%37 == 0))
			}
		}()
	}
	wg.Wait()
	for n, err := range errs {
		if (err != nil) != (n%37 == 0) {
			t.Errorf("write %d: %v", n, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for n := range callers * each {
		want := 1
		if n%37 == 0 {
			want = 0
		}
		if r.committed[n] != want {
			t.Errorf("write %d committed %d times, want %d", n, r.committed[n], want)
		}
	}
}

// lockedRecorder is an Updater whose transactions may run at the same time.
type lockedRecorder struct {
	mu        sync.Mutex
	committed map[int]int
}

type lockedTx struct {
	store.Tx
	writes *[]int
}

func (r *lockedRecorder) Update(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	var writes []int
	if err := fn(ctx, lockedTx{writes: &writes}); err != nil {
		return err
	}
	runtime.Gosched()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.committed == nil {
		r.committed = map[int]int{}
	}
	for _, n := range writes {
		r.committed[n]++
	}
	return nil
}

func (r *lockedRecorder) write(n int, fail bool) Write {
	return func(ctx context.Context, tx store.Tx) error {
		if fail {
			return store.ErrConflict
		}
		lt := tx.(lockedTx)
		*lt.writes = append(*lt.writes, n)
		return nil
	}
}
