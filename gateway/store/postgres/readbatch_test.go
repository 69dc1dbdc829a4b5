package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/store"
)

// gatedQuery answers from rows, holding each call until release lets it go, and
// records the keys of every call.
type gatedQuery struct {
	rows    map[resourceKey]string
	err     error
	panics  bool
	entered chan struct{}
	release chan struct{}

	mu    sync.Mutex
	calls [][]resourceKey
}

func (q *gatedQuery) query(ctx context.Context, keys []resourceKey) (map[resourceKey]store.Resource, error) {
	q.mu.Lock()
	q.calls = append(q.calls, append([]resourceKey(nil), keys...))
	q.mu.Unlock()
	q.entered <- struct{}{}
	<-q.release
	if q.panics {
		panic("query broke")
	}
	if q.err != nil {
		return nil, q.err
	}
	found := map[resourceKey]store.Resource{}
	for _, k := range keys {
		if b, ok := q.rows[k]; ok {
			found[k] = store.Resource{Type: k.typ, ID: k.id, Body: []byte(b)}
		}
	}
	return found, nil
}

func newGated(rows map[resourceKey]string) *gatedQuery {
	return &gatedQuery{rows: rows, entered: make(chan struct{}, 100), release: make(chan struct{})}
}

type readResult struct {
	res store.Resource
	err error
}

// startReads starts a read of each id and returns their results in order.
func startReads(b *readBatcher, ids ...string) []chan readResult {
	out := make([]chan readResult, len(ids))
	for i, id := range ids {
		out[i] = make(chan readResult, 1)
		go func() {
			r, err := b.read(context.Background(), "Patient", id)
			out[i] <- readResult{r, err}
		}()
	}
	return out
}

// waitQueued waits until n reads are queued behind the busy lanes.
func waitQueued(t *testing.T, b *readBatcher, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b.mu.Lock()
		q := len(b.queue)
		b.mu.Unlock()
		if q == n {
			return
		}
	}
	t.Fatalf("reads never queued")
}

func TestReadBatcherSharesQuery(t *testing.T) {
	q := newGated(map[resourceKey]string{{"Patient", "a"}: `{"id":"a"}`, {"Patient", "b"}: `{"id":"b"}`})
	b := newReadBatcher(1, q.query)

	// The first read takes the only lane and holds it in its query.
	first := startReads(b, "a")
	<-q.entered
	// These arrive while the lane is busy: they must share the next query,
	// duplicates and a missing id included.
	rest := startReads(b, "b", "a", "missing", "b")
	waitQueued(t, b, 4)
	q.release <- struct{}{}
	<-q.entered
	q.release <- struct{}{}

	want := []string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"a"}`, "", `{"id":"b"}`}
	results := append(first, rest...)
	got := make([]store.Resource, len(results))
	for i, c := range results {
		r := <-c
		switch {
		case want[i] == "":
			if !errors.Is(r.err, store.ErrNotFound) {
				t.Errorf("read %d: %v, want not found", i, r.err)
			}
		case r.err != nil:
			t.Errorf("read %d: %v", i, r.err)
		case string(r.res.Body) != want[i]:
			t.Errorf("read %d: body %s, want %s", i, r.res.Body, want[i])
		}
		got[i] = r.res
	}
	q.mu.Lock()
	calls := q.calls
	q.mu.Unlock()
	if len(calls) != 2 || len(calls[0]) != 1 || len(calls[1]) != 3 {
		t.Fatalf("queries %v; want one for the first read, then one for the three distinct ids queued behind it", calls)
	}
	// Readers of the same id must not share a body: callers modify what they read.
	got[1].Body[0] = 'X'
	if got[4].Body[0] == 'X' {
		t.Error("two readers of one id got the same body slice")
	}
}

func TestReadBatcherLanesRunInParallel(t *testing.T) {
	q := newGated(map[resourceKey]string{{"Patient", "a"}: `{}`, {"Patient", "b"}: `{}`})
	b := newReadBatcher(2, q.query)
	// Both queries must be in flight at once: with two lanes, the second read
	// does not wait for the first.
	res := startReads(b, "a")
	<-q.entered
	res = append(res, startReads(b, "b")...)
	<-q.entered
	q.release <- struct{}{}
	q.release <- struct{}{}
	for _, c := range res {
		if r := <-c; r.err != nil {
			t.Error(r.err)
		}
	}
}

func TestReadBatcherQueryErrorReachesEveryReader(t *testing.T) {
	q := newGated(nil)
	q.err = errors.New("connection reset")
	b := newReadBatcher(1, q.query)
	first := startReads(b, "a")
	<-q.entered
	rest := startReads(b, "b", "c")
	waitQueued(t, b, 2)
	close(q.release)
	for i, c := range append(first, rest...) {
		if r := <-c; r.err == nil || !errors.Is(r.err, q.err) || errors.Is(r.err, store.ErrNotFound) {
			t.Errorf("read %d: %v, want the query's error", i, r.err)
		}
	}
}

func TestReadBatcherCancelledReaderLeaves(t *testing.T) {
	q := newGated(map[resourceKey]string{{"Patient", "b"}: `{}`})
	b := newReadBatcher(1, q.query)
	first := startReads(b, "a")
	<-q.entered
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.read(ctx, "Patient", "b")
		done <- err
	}()
	waitQueued(t, b, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: %v", err)
	}
	close(q.release)
	<-first[0]
	// The lane is free again, and the abandoned job does not stop a later read.
	if r := <-startReads(b, "b")[0]; r.err != nil {
		t.Errorf("read after a cancelled one: %v", r.err)
	}
}

func TestReadBatcherPanicAnswersEveryReader(t *testing.T) {
	q := newGated(nil)
	q.panics = true
	b := newReadBatcher(1, q.query)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = b.read(context.Background(), "Patient", fmt.Sprint(i))
		})
		if i == 0 {
			<-q.entered
		}
	}
	waitQueued(t, b, 2)
	close(q.release)
	wg.Wait()
	// wg.Wait returning means no reader hangs; each must have failed.
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "panicked") {
			t.Errorf("reader %d: %v, want the query's panic as an error", i, err)
		}
	}
	select {
	case b.lanes <- struct{}{}:
		<-b.lanes
	default:
		t.Error("a panicking query kept its lane")
	}
}

// A reader leaves when its context ends, even the one whose lane runs the
// query, and the others in that query still get their answers.
func TestReadBatcherDeadlineWhileQuerying(t *testing.T) {
	q := newGated(map[resourceKey]string{{"Patient", "a"}: `{"id":"a"}`})
	b := newReadBatcher(1, q.query)
	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() {
		_, err := b.read(ctx, "Patient", "a")
		left <- err
	}()
	<-q.entered // its lane is in the query
	other := startReads(b, "a")
	waitQueued(t, b, 1)
	cancel()
	select {
	case err := <-left:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("reader whose context ended: %v", err)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a timing requirement
		close(q.release)
		t.Fatal("the reader running the query did not leave when its context ended")
	}
	close(q.release)
	if r := <-other[0]; r.err != nil || string(r.res.Body) != `{"id":"a"}` {
		t.Errorf("reader queued behind it: %s, %v", r.res.Body, r.err)
	}
	// An abandoned job that no lane took is not queried.
	q2 := newGated(nil)
	b2 := newReadBatcher(1, q2.query)
	first := startReads(b2, "x")
	<-q2.entered
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { _, _ = b2.read(ctx2, "Patient", "gone") }()
	waitQueued(t, b2, 1)
	cancel2()
	waitQueued(t, b2, 0)
	close(q2.release)
	<-first[0]
	q2.mu.Lock()
	defer q2.mu.Unlock()
	if len(q2.calls) != 1 {
		t.Errorf("queries %v; the abandoned read was queried", q2.calls)
	}
}
