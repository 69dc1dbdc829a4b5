// Package storetest is the contract every store.Store implementation must pass. A
// backend's tests call Run with a function that opens a fresh, migrated, empty store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/store"
)

// Open returns a fresh, migrated, empty store; the test closes it.
type Open func(t *testing.T) store.Store

// Run runs the contract suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"ReadMissing", testReadMissing},
		{"PutRead", testPutRead},
		{"VersionConflict", testVersionConflict},
		{"Delete", testDelete},
		{"Rollback", testRollback},
		{"RollbackAfterFailedPut", testRollbackAfterFailedPut},
		{"History", testHistory},
		{"SearchToken", testSearchToken},
		{"SearchDate", testSearchDate},
		{"SearchIDAndLastUpdated", testSearchIDAndLastUpdated},
		{"SearchMissing", testSearchMissing},
		{"SearchPaging", testSearchPaging},
		{"SearchSystem", testSearchSystem},
		{"IndexReplaced", testIndexReplaced},
		{"AllIndexKinds", testAllIndexKinds},
		{"SearchKinds", testSearchKinds},
		{"SearchChainHasCompartment", testChainHasCompartment},
		{"SearchSort", testSearchSort},
		{"SearchKeyset", testSearchKeyset},
		{"SearchSortKeyset", testSearchSortKeyset},
		{"SearchSortKeysetChanges", testSearchSortKeysetChanges},
		{"SearchTotalEstimate", testSearchTotalEstimate},
		{"State", testState},
		{"Reindex", testReindex},
		{"PeekPrefetch", testPeekPrefetch},
		{"ManyCreates", testManyCreates},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"LockSerialisesConditionalCreate", testLock},
		{"MessagePutRead", testMessagePutRead},
		{"MessageOutcomeUpdate", testMessageOutcomeUpdate},
		{"MessageList", testMessageList},
		{"MessageListDefaultCount", testMessageListDefaultCount},
		{"FindAppliedMessage", testFindAppliedMessage},
		{"MessageAppliedOnce", testMessageAppliedOnce},
		{"MessageAppliedOnceConcurrent", testMessageAppliedOnceConcurrent},
		{"MessageRollback", testMessageRollback},
		{"EventTime", testEventTime},
		{"EventTimeSerialised", testEventTimeSerialised},
		{"EventTimes", testEventTimes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

var base = time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)

func res(typ, id string, version int64, at time.Time, body string) store.Resource {
	return store.Resource{Type: typ, ID: id, Version: version, LastUpdated: at, Method: "PUT", Body: []byte(body)}
}

func put(t *testing.T, s store.Store, r store.Resource, idx *store.Index) {
	t.Helper()
	if err := s.Update(context.Background(), func(ctx context.Context, tx store.Tx) error {
		return tx.Put(ctx, r, idx)
	}); err != nil {
		t.Fatalf("put %s/%s v%d: %v", r.Type, r.ID, r.Version, err)
	}
}

func ids(p store.Page) []string {
	out := make([]string, len(p.Resources))
	for i, r := range p.Resources {
		out[i] = r.Type + "/" + r.ID
	}
	return out
}

func search(t *testing.T, s store.Reader, q store.Query) store.Page {
	t.Helper()
	if q.Count == 0 && !q.Total {
		q.Count = 100
	}
	p, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	return p
}

func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	m := map[string]int{}
	for _, g := range got {
		m[g]++
	}
	for _, w := range want {
		if m[w] == 0 {
			return false
		}
		m[w]--
	}
	return true
}

func testReadMissing(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Read(ctx, "Patient", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read missing: %v, want ErrNotFound", err)
	}
	if _, err := s.VRead(ctx, "Patient", "nope", 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("VRead missing: %v, want ErrNotFound", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testPutRead(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Bytes that a JSON round trip would change: order, spacing, decimal precision, CJK.
	body1 := `{"resourceType":"Patient","id":"p1","meta":{"versionId":"1"},"name":[{"text":"张三"}],"x":1.50}`
	body2 := `{"resourceType":"Patient","id":"p1","meta":{"versionId":"2"},"active":true,"_active":{"id":"a"}}`
	t1 := base.Add(123456 * time.Microsecond)
	put(t, s, res("Patient", "p1", 1, t1, body1), nil)
	put(t, s, res("Patient", "p1", 2, t1.Add(time.Second), body2), nil)

	r, err := s.Read(ctx, "Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 2 || string(r.Body) != body2 || r.Deleted || !r.LastUpdated.Equal(t1.Add(time.Second)) || r.Method != "PUT" {
		t.Errorf("Read = %+v", r)
	}
	if r.LastUpdated.Location() != time.UTC {
		t.Errorf("LastUpdated location %v, want UTC", r.LastUpdated.Location())
	}
	v1, err := s.VRead(ctx, "Patient", "p1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v1.Body, []byte(body1)) || v1.Version != 1 || !v1.LastUpdated.Equal(t1) {
		t.Errorf("VRead 1 = %+v (body %s)", v1, v1.Body)
	}
	if v1.Seq <= 0 || r.Seq <= v1.Seq {
		t.Errorf("seq not increasing: v1 %d, v2 %d", v1.Seq, r.Seq)
	}
	if _, err := s.VRead(ctx, "Patient", "p1", 3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("VRead 3: %v, want ErrNotFound", err)
	}
	// Same id, other type: a different resource.
	if _, err := s.Read(ctx, "Observation", "p1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Read Observation/p1: %v, want ErrNotFound", err)
	}
	// Inside a transaction the reader sees its own writes.
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.Put(ctx, res("Patient", "p1", 3, t1.Add(2*time.Second), `{"v":3}`), nil); err != nil {
			return err
		}
		got, err := tx.Read(ctx, "Patient", "p1")
		if err != nil {
			return err
		}
		if got.Version != 3 {
			return fmt.Errorf("tx read after put: version %d", got.Version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testVersionConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, v := range []int64{0, 2} {
		err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.Put(ctx, res("Patient", "c", v, base, `{}`), nil)
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("first Put with version %d: %v, want ErrConflict", v, err)
		}
	}
	put(t, s, res("Patient", "c", 1, base, `{"v":1}`), nil)
	for _, v := range []int64{1, 3} {
		err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.Put(ctx, res("Patient", "c", v, base, `{}`), nil)
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("Put version %d over 1: %v, want ErrConflict", v, err)
		}
	}
	r, err := s.Read(ctx, "Patient", "c")
	if err != nil || r.Version != 1 || string(r.Body) != `{"v":1}` {
		t.Errorf("after conflicts: %+v, %v", r, err)
	}
}

func tokenIdx(param, system, code string) *store.Index {
	return &store.Index{Tokens: []store.TokenEntry{{Param: param, System: system, Code: code}}}
}

func testDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, res("Patient", "d", 1, base, `{"v":1}`), tokenIdx("identifier", "urn:s", "1"))
	del := store.Resource{Type: "Patient", ID: "d", Version: 2, LastUpdated: base.Add(time.Second), Deleted: true, Method: "DELETE"}
	put(t, s, del, nil)
	r, err := s.Read(ctx, "Patient", "d")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Deleted || r.Version != 2 || len(r.Body) != 0 || r.Method != "DELETE" {
		t.Errorf("read deleted = %+v", r)
	}
	p := search(t, s, store.Query{Type: "Patient"})
	if len(p.Resources) != 0 {
		t.Errorf("deleted resource found by search: %v", ids(p))
	}
	p = search(t, s, store.Query{Type: "Patient", Where: []store.Clause{{Param: "identifier", Kind: store.KindToken, Tokens: []store.TokenMatch{{AnySystem: true, Code: "1"}}}}})
	if len(p.Resources) != 0 {
		t.Errorf("deleted resource found by its old identifier: %v", ids(p))
	}
	// Recreate after delete.
	put(t, s, res("Patient", "d", 3, base.Add(2*time.Second), `{"v":3}`), nil)
	if r, err := s.Read(ctx, "Patient", "d"); err != nil || r.Deleted || r.Version != 3 {
		t.Errorf("recreated = %+v, %v", r, err)
	}
}

func testRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		for i := range 3 {
			id := fmt.Sprintf("r%d", i)
			if err := tx.Put(ctx, res("Patient", id, 1, base, `{}`), tokenIdx("identifier", "urn:s", id)); err != nil {
				return err
			}
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the error fn returned", err)
	}
	for i := range 3 {
		if _, err := s.Read(ctx, "Patient", fmt.Sprintf("r%d", i)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("r%d after rollback: %v", i, err)
		}
	}
	h, err := s.History(ctx, store.HistoryQuery{Count: 10})
	if err != nil || len(h.Versions) != 0 {
		t.Errorf("history after rollback: %d versions, %v", len(h.Versions), err)
	}
	p := search(t, s, store.Query{Type: "Patient", Total: true})
	if p.Total != 0 {
		t.Errorf("total after rollback = %d", p.Total)
	}
	// A panic in fn rolls back too and leaves the store usable.
	func() {
		defer func() { recover() }()
		s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			tx.Put(ctx, res("Patient", "panic", 1, base, `{}`), nil)
			panic("boom")
		})
	}()
	if _, err := s.Read(ctx, "Patient", "panic"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("resource written by a panicking transaction: %v", err)
	}
	put(t, s, res("Patient", "after", 1, base, `{}`), nil)
}

func testRollbackAfterFailedPut(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, res("Patient", "x", 1, base, `{}`), nil)
	// fn ignores a failed Put and returns nil: nothing of the transaction may commit.
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.Put(ctx, res("Patient", "y", 1, base, `{}`), nil); err != nil {
			return err
		}
		_ = tx.Put(ctx, res("Patient", "x", 1, base, `{}`), nil) // conflict, ignored
		return nil
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("Update after ignored conflict = %v, want ErrConflict", err)
	}
	if _, err := s.Read(ctx, "Patient", "y"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("y committed despite a failed Put in its transaction: %v", err)
	}
}

func testHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	// p/a: 3 versions, p/b: 1, o/a: 2; interleaved in time.
	steps := []store.Resource{
		res("Patient", "a", 1, base, `{"a":1}`),
		res("Patient", "b", 1, base.Add(1*time.Second), `{"b":1}`),
		res("Observation", "a", 1, base.Add(2*time.Second), `{"oa":1}`),
		res("Patient", "a", 2, base.Add(3*time.Second), `{"a":2}`),
		res("Observation", "a", 2, base.Add(4*time.Second), `{"oa":2}`),
		{Type: "Patient", ID: "a", Version: 3, LastUpdated: base.Add(5 * time.Second), Deleted: true, Method: "DELETE"},
	}
	for _, r := range steps {
		put(t, s, r, nil)
	}
	list := func(q store.HistoryQuery) []string {
		t.Helper()
		var out []string
		for page := 0; ; page++ {
			h, err := s.History(ctx, q)
			if err != nil {
				t.Fatalf("history %+v: %v", q, err)
			}
			if len(h.Versions) > q.Count {
				t.Fatalf("page of %d versions, count %d", len(h.Versions), q.Count)
			}
			for _, v := range h.Versions {
				out = append(out, fmt.Sprintf("%s/%s/%d", v.Type, v.ID, v.Version))
			}
			if h.Next == 0 {
				return out
			}
			if page > 20 {
				t.Fatal("history paging does not end")
			}
			q.Before = h.Next
		}
	}
	tests := []struct {
		q    store.HistoryQuery
		want string
	}{
		{store.HistoryQuery{Type: "Patient", ID: "a", Count: 10}, "[Patient/a/3 Patient/a/2 Patient/a/1]"},
		{store.HistoryQuery{Type: "Patient", ID: "a", Count: 1}, "[Patient/a/3 Patient/a/2 Patient/a/1]"},
		{store.HistoryQuery{Type: "Patient", Count: 2}, "[Patient/a/3 Patient/a/2 Patient/b/1 Patient/a/1]"},
		{store.HistoryQuery{Count: 4}, "[Patient/a/3 Observation/a/2 Patient/a/2 Observation/a/1 Patient/b/1 Patient/a/1]"},
		{store.HistoryQuery{Count: 10, Since: base.Add(3 * time.Second)}, "[Patient/a/3 Observation/a/2 Patient/a/2]"},
		{store.HistoryQuery{Type: "Observation", Count: 10, Since: base.Add(3 * time.Second)}, "[Observation/a/2]"},
		{store.HistoryQuery{Type: "Encounter", Count: 10}, "[]"},
	}
	for _, tc := range tests {
		if got := fmt.Sprint(list(tc.q)); got != tc.want {
			t.Errorf("history %+v = %s, want %s", tc.q, got, tc.want)
		}
	}
	h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "a", Count: 1})
	if err != nil || len(h.Versions) != 1 || !h.Versions[0].Deleted || h.Versions[0].Method != "DELETE" {
		t.Errorf("newest version of Patient/a = %+v, %v", h.Versions, err)
	}
	h, err = s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "a", Count: 3})
	if err != nil || h.Next != 0 || string(h.Versions[2].Body) != `{"a":1}` {
		t.Errorf("full page: next %d, %v", h.Next, err)
	}
}

func tok(param string, m ...store.TokenMatch) store.Clause {
	return store.Clause{Param: param, Kind: store.KindToken, Tokens: m}
}

func testSearchToken(t *testing.T, s store.Store) {
	put(t, s, res("Patient", "1", 1, base, `{}`), &store.Index{Tokens: []store.TokenEntry{
		{Param: "identifier", System: "urn:mrn", Code: "A1"},
		{Param: "identifier", System: "urn:id", Code: "110101199003070011"},
		{Param: "gender", System: "http://hl7.org/fhir/administrative-gender", Code: "male"},
	}})
	put(t, s, res("Patient", "2", 1, base.Add(time.Second), `{}`), &store.Index{Tokens: []store.TokenEntry{
		{Param: "identifier", System: "urn:mrn", Code: "A2"},
		{Param: "identifier", System: "", Code: "A1"},
	}})
	put(t, s, res("Observation", "1", 1, base, `{}`), tokenIdx("identifier", "urn:mrn", "A1"))
	tests := []struct {
		name string
		c    []store.Clause
		want []string
	}{
		{"code", []store.Clause{tok("identifier", store.TokenMatch{AnySystem: true, Code: "A1"})}, []string{"Patient/1", "Patient/2"}},
		{"system|code", []store.Clause{tok("identifier", store.TokenMatch{System: "urn:mrn", Code: "A1"})}, []string{"Patient/1"}},
		{"|code", []store.Clause{tok("identifier", store.TokenMatch{System: "", Code: "A1"})}, []string{"Patient/2"}},
		{"system|", []store.Clause{tok("identifier", store.TokenMatch{System: "urn:id"})}, []string{"Patient/1"}},
		{"or", []store.Clause{tok("identifier", store.TokenMatch{System: "urn:mrn", Code: "A2"}, store.TokenMatch{System: "urn:id", Code: "110101199003070011"})}, []string{"Patient/1", "Patient/2"}},
		{"and", []store.Clause{
			tok("identifier", store.TokenMatch{AnySystem: true, Code: "A1"}),
			tok("gender", store.TokenMatch{AnySystem: true, Code: "male"}),
		}, []string{"Patient/1"}},
		{"other param does not match", []store.Clause{tok("gender", store.TokenMatch{AnySystem: true, Code: "A1"})}, nil},
		{"case-sensitive code", []store.Clause{tok("identifier", store.TokenMatch{AnySystem: true, Code: "a1"})}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := search(t, s, store.Query{Type: "Patient", Where: tc.c})
			if !sameSet(ids(p), tc.want...) {
				t.Errorf("got %v, want %v", ids(p), tc.want)
			}
		})
	}
}

func day(y int, m time.Month, d int) (time.Time, time.Time) {
	lo := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return lo, lo.AddDate(0, 0, 1).Add(-time.Microsecond)
}

func testSearchDate(t *testing.T, s store.Store) {
	// Patient/a born 1990-03-07 (a day); Patient/b 1990-03 (a month); Patient/c open-ended period from 2000.
	aLo, aHi := day(1990, 3, 7)
	bLo := time.Date(1990, 3, 1, 0, 0, 0, 0, time.UTC)
	bHi := time.Date(1990, 4, 1, 0, 0, 0, 0, time.UTC).Add(-time.Microsecond)
	cLo := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	put(t, s, res("Patient", "a", 1, base, `{}`), &store.Index{Dates: []store.DateEntry{{Param: "birthdate", Low: aLo, High: aHi}}})
	put(t, s, res("Patient", "b", 1, base, `{}`), &store.Index{Dates: []store.DateEntry{{Param: "birthdate", Low: bLo, High: bHi}}})
	put(t, s, res("Patient", "c", 1, base, `{}`), &store.Index{Dates: []store.DateEntry{{Param: "birthdate", Low: cLo}}})
	q := func(prefix string, lo, hi time.Time) store.Clause {
		return store.Clause{Param: "birthdate", Kind: store.KindDate, Dates: []store.DateMatch{{Prefix: prefix, Low: lo, High: hi}}}
	}
	mLo, mHi := bLo, bHi
	tests := []struct {
		name string
		c    store.Clause
		want []string
	}{
		{"eq day", q("eq", aLo, aHi), []string{"Patient/a"}},
		{"eq month contains day and month", q("", mLo, mHi), []string{"Patient/a", "Patient/b"}},
		{"ne day", q("ne", aLo, aHi), []string{"Patient/b", "Patient/c"}},
		{"lt day", q("lt", aLo, aHi), []string{"Patient/b"}},
		{"gt day", q("gt", aLo, aHi), []string{"Patient/b", "Patient/c"}},
		{"ge day", q("ge", aLo, aHi), []string{"Patient/a", "Patient/b", "Patient/c"}},
		{"le day", q("le", aLo, aHi), []string{"Patient/a", "Patient/b"}},
		{"sa 1995", q("sa", time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1995, 12, 31, 23, 59, 59, 999999000, time.UTC)), []string{"Patient/c"}},
		{"eb 1995", q("eb", time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1995, 12, 31, 23, 59, 59, 999999000, time.UTC)), []string{"Patient/a", "Patient/b"}},
		{"or", store.Clause{Param: "birthdate", Kind: store.KindDate, Dates: []store.DateMatch{{Prefix: "eq", Low: aLo, High: aHi}, {Prefix: "sa", Low: cLo, High: cLo}}}, []string{"Patient/a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := search(t, s, store.Query{Type: "Patient", Where: []store.Clause{tc.c}})
			if !sameSet(ids(p), tc.want...) {
				t.Errorf("got %v, want %v", ids(p), tc.want)
			}
		})
	}
}

func testSearchIDAndLastUpdated(t *testing.T, s store.Store) {
	for i := range 5 {
		put(t, s, res("Patient", fmt.Sprint(i), 1, base.Add(time.Duration(i)*time.Hour), `{}`), nil)
	}
	p := search(t, s, store.Query{Type: "Patient", Where: []store.Clause{{Param: "_id", Kind: store.KindToken, Tokens: []store.TokenMatch{{AnySystem: true, Code: "1"}, {AnySystem: true, Code: "3"}, {AnySystem: true, Code: "9"}}}}})
	if !sameSet(ids(p), "Patient/1", "Patient/3") {
		t.Errorf("_id = %v", ids(p))
	}
	lu := func(prefix string, at time.Time) store.Clause {
		return store.Clause{Param: "_lastUpdated", Kind: store.KindDate, Dates: []store.DateMatch{{Prefix: prefix, Low: at, High: at.Add(time.Hour - time.Microsecond)}}}
	}
	p = search(t, s, store.Query{Type: "Patient", Where: []store.Clause{lu("ge", base.Add(3*time.Hour))}})
	if !sameSet(ids(p), "Patient/3", "Patient/4") {
		t.Errorf("_lastUpdated=ge = %v", ids(p))
	}
	p = search(t, s, store.Query{Type: "Patient", Where: []store.Clause{lu("lt", base.Add(1*time.Hour))}})
	if !sameSet(ids(p), "Patient/0") {
		t.Errorf("_lastUpdated=lt = %v", ids(p))
	}
	// Default order: newest first.
	p = search(t, s, store.Query{Type: "Patient"})
	if fmt.Sprint(ids(p)) != "[Patient/4 Patient/3 Patient/2 Patient/1 Patient/0]" {
		t.Errorf("order = %v", ids(p))
	}
}

func testSearchMissing(t *testing.T, s store.Store) {
	put(t, s, res("Patient", "with", 1, base, `{}`), tokenIdx("identifier", "urn:s", "1"))
	put(t, s, res("Patient", "without", 1, base, `{}`), nil)
	yes, no := true, false
	p := search(t, s, store.Query{Type: "Patient", Where: []store.Clause{{Param: "identifier", Kind: store.KindToken, Missing: &yes}}})
	if !sameSet(ids(p), "Patient/without") {
		t.Errorf(":missing=true = %v", ids(p))
	}
	p = search(t, s, store.Query{Type: "Patient", Where: []store.Clause{{Param: "identifier", Kind: store.KindToken, Missing: &no}}})
	if !sameSet(ids(p), "Patient/with") {
		t.Errorf(":missing=false = %v", ids(p))
	}
}

func testSearchPaging(t *testing.T, s store.Store) {
	const n = 25
	err := s.Update(context.Background(), func(ctx context.Context, tx store.Tx) error {
		for i := range n {
			if err := tx.Put(ctx, res("Observation", fmt.Sprintf("o%02d", i), 1, base.Add(time.Duration(i)*time.Second), `{}`), tokenIdx("code", "http://loinc.org", "8867-4")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := []store.Clause{tok("code", store.TokenMatch{System: "http://loinc.org", Code: "8867-4"})}
	seen := map[string]bool{}
	for off := 0; ; off += 10 {
		p := search(t, s, store.Query{Type: "Observation", Where: c, Count: 10, Offset: off, Total: true})
		if p.Total != n {
			t.Errorf("offset %d: total %d, want %d", off, p.Total, n)
		}
		for _, id := range ids(p) {
			if seen[id] {
				t.Errorf("%s on two pages", id)
			}
			seen[id] = true
		}
		wantMore := off+10 < n
		if p.More != wantMore {
			t.Errorf("offset %d: More = %v", off, p.More)
		}
		if !p.More {
			break
		}
	}
	if len(seen) != n {
		t.Errorf("paged through %d resources, want %d", len(seen), n)
	}
	p := search(t, s, store.Query{Type: "Observation", Count: 10})
	if p.Total != -1 {
		t.Errorf("Total without asking = %d, want -1", p.Total)
	}
	p, err = s.Search(context.Background(), store.Query{Type: "Observation", Where: c, Count: 0, Total: true})
	if err != nil || p.Total != n || len(p.Resources) != 0 {
		t.Errorf("count only: total %d, %d resources, %v", p.Total, len(p.Resources), err)
	}
}

func testSearchSystem(t *testing.T, s store.Store) {
	put(t, s, res("Patient", "same", 1, base, `{}`), tokenIdx("identifier", "urn:s", "1"))
	put(t, s, res("Observation", "same", 1, base.Add(time.Second), `{}`), tokenIdx("identifier", "urn:s", "1"))
	put(t, s, res("Encounter", "e", 1, base.Add(2*time.Second), `{}`), tokenIdx("identifier", "urn:s", "2"))
	p := search(t, s, store.Query{})
	if !sameSet(ids(p), "Patient/same", "Observation/same", "Encounter/e") {
		t.Errorf("all = %v", ids(p))
	}
	p = search(t, s, store.Query{Types: []string{"Patient", "Observation"}})
	if !sameSet(ids(p), "Patient/same", "Observation/same") {
		t.Errorf("_type = %v", ids(p))
	}
	p = search(t, s, store.Query{Where: []store.Clause{tok("identifier", store.TokenMatch{System: "urn:s", Code: "1"})}})
	if !sameSet(ids(p), "Patient/same", "Observation/same") {
		t.Errorf("system search by identifier = %v", ids(p))
	}
}

func testIndexReplaced(t *testing.T, s store.Store) {
	put(t, s, res("Patient", "p", 1, base, `{}`), tokenIdx("identifier", "urn:s", "old"))
	put(t, s, res("Patient", "p", 2, base.Add(time.Second), `{}`), tokenIdx("identifier", "urn:s", "new"))
	find := func(code string) []string {
		return ids(search(t, s, store.Query{Type: "Patient", Where: []store.Clause{tok("identifier", store.TokenMatch{AnySystem: true, Code: code})}}))
	}
	if got := find("old"); len(got) != 0 {
		t.Errorf("old identifier still found: %v", got)
	}
	if got := find("new"); !sameSet(got, "Patient/p") {
		t.Errorf("new identifier: %v", got)
	}
	put(t, s, res("Patient", "p", 3, base.Add(2*time.Second), `{}`), nil)
	if got := find("new"); len(got) != 0 {
		t.Errorf("identifier found after update without index: %v", got)
	}
}

// testAllIndexKinds writes one row of every kind and checks :missing sees each, so that
// every index table is written and cleared.
func testAllIndexKinds(t *testing.T, s store.Store) {
	idx := &store.Index{
		Strings:    []store.StringEntry{{Param: "name", Norm: "zhang san", Exact: "Zhang San"}},
		Tokens:     []store.TokenEntry{{Param: "gender", System: "s", Code: "male", Text: "male"}},
		References: []store.ReferenceEntry{{Param: "organization", TargetType: "Organization", TargetID: "o1"}},
		Dates:      []store.DateEntry{{Param: "birthdate", Low: base, High: base}},
		Quantities: []store.QuantityEntry{{Param: "value-quantity", Value: 1.5, System: "http://unitsofmeasure.org", Code: "mg"}},
		Numbers:    []store.NumberEntry{{Param: "probability", Value: 0.25}},
		URIs:       []store.URIEntry{{Param: "url", URI: "http://example.org/x"}},
	}
	kinds := map[store.ParamKind]string{store.KindString: "name", store.KindToken: "gender", store.KindReference: "organization",
		store.KindDate: "birthdate", store.KindQuantity: "value-quantity", store.KindNumber: "probability", store.KindURI: "url"}
	put(t, s, res("Patient", "k", 1, base, `{}`), idx)
	no, yes := false, true
	for k, param := range kinds {
		p := search(t, s, store.Query{Type: "Patient", Where: []store.Clause{{Param: param, Kind: k, Missing: &no}}})
		if !sameSet(ids(p), "Patient/k") {
			t.Errorf("%s present: %v", param, ids(p))
		}
	}
	put(t, s, res("Patient", "k", 2, base.Add(time.Second), `{}`), &store.Index{})
	for k, param := range kinds {
		p := search(t, s, store.Query{Type: "Patient", Where: []store.Clause{{Param: param, Kind: k, Missing: &yes}}})
		if !sameSet(ids(p), "Patient/k") {
			t.Errorf("%s after clearing: %v", param, ids(p))
		}
	}
}

// testConcurrentUpdates runs read-modify-write transactions on one resource from many
// goroutines: Read inside a transaction must lock, so no update is lost.
func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, res("Patient", "hot", 1, base, `{}`), nil)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
					cur, err := tx.Read(ctx, "Patient", "hot")
					if err != nil {
						return err
					}
					body := fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)
					return tx.Put(ctx, res("Patient", "hot", cur.Version+1, cur.LastUpdated.Add(time.Microsecond), body), tokenIdx("identifier", "w", fmt.Sprint(w)))
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("update: %v", err)
	}
	r, err := s.Read(ctx, "Patient", "hot")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1 + workers*each); r.Version != want {
		t.Errorf("final version %d, want %d: updates were lost", r.Version, want)
	}
	h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "hot", Count: 1000})
	if err != nil || len(h.Versions) != 1+workers*each {
		t.Errorf("history has %d versions, %v", len(h.Versions), err)
	}
	// Exactly one index row survives: the last writer's.
	p := search(t, s, store.Query{Type: "Patient", Where: []store.Clause{tok("identifier", store.TokenMatch{System: "w"})}, Count: 10, Total: true})
	if p.Total != 1 {
		t.Errorf("%d resources match the writers' identifiers, want 1", p.Total)
	}
}

// testLock checks that Lock plus a search serialises "create if absent" transactions.
func testLock(t *testing.T, s store.Store) {
	ctx := context.Background()
	const workers = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
				if err := tx.Lock(ctx, "Patient?identifier=urn:s|42"); err != nil {
					return err
				}
				p, err := tx.Search(ctx, store.Query{Type: "Patient", Where: []store.Clause{tok("identifier", store.TokenMatch{System: "urn:s", Code: "42"})}, Count: 2})
				if err != nil {
					return err
				}
				if len(p.Resources) > 0 {
					return nil
				}
				mu.Lock()
				created++
				mu.Unlock()
				return tx.Put(ctx, res("Patient", fmt.Sprintf("w%d", w), 1, base, `{}`), tokenIdx("identifier", "urn:s", "42"))
			})
			if err != nil {
				t.Errorf("worker %d: %v", w, err)
			}
		}()
	}
	wg.Wait()
	p := search(t, s, store.Query{Type: "Patient", Total: true})
	if p.Total != 1 {
		t.Errorf("%d patients created under one lock key, want 1", p.Total)
	}
	_ = created // a retried transaction may count twice; the store's contents are what matter
}

func one(param string, k store.ParamKind) store.Clause { return store.Clause{Param: param, Kind: k} }

func testSearchKinds(t *testing.T, s store.Store) {
	put(t, s, res("Patient", "zs", 1, base, `{}`), &store.Index{
		Strings: []store.StringEntry{{Param: "name", Norm: "张三", Exact: "张三"}, {Param: "name", Norm: "zhang san", Exact: "Zhang San"}},
		URIs:    []store.URIEntry{{Param: "url", URI: "http://example.org/fhir/ValueSet/a"}},
	})
	put(t, s, res("Patient", "zss", 1, base, `{}`), &store.Index{
		Strings: []store.StringEntry{{Param: "name", Norm: "张三丰", Exact: "张三丰"}, {Param: "name", Norm: "o'brien_50%", Exact: "O'Brien_50%"}},
		URIs:    []store.URIEntry{{Param: "url", URI: "http://example.org/fhir"}},
	})
	put(t, s, res("Observation", "o1", 1, base, `{}`), &store.Index{
		References: []store.ReferenceEntry{{Param: "subject", TargetType: "Patient", TargetID: "zs"}, {Param: "performer", URL: "http://other/fhir/Practitioner/1"}},
		Quantities: []store.QuantityEntry{{Param: "value-quantity", Value: 5.4, System: "http://unitsofmeasure.org", Code: "mmol/L", Unit: "mmol/l"}},
		Numbers:    []store.NumberEntry{{Param: "n", Value: 100}},
		Tokens:     []store.TokenEntry{{Param: "code", System: "http://loinc.org", Code: "2345-7", Text: "血糖 glucose [mass/volume]"}},
	})
	put(t, s, res("Observation", "o2", 1, base, `{}`), &store.Index{
		References: []store.ReferenceEntry{{Param: "subject", TargetType: "Group", TargetID: "zs"}},
		Quantities: []store.QuantityEntry{{Param: "value-quantity", Value: 7.25, System: "http://unitsofmeasure.org", Code: "mmol/L"}},
		Numbers:    []store.NumberEntry{{Param: "n", Value: 99.5}},
		Tokens:     []store.TokenEntry{{Param: "code", System: "http://loinc.org", Code: "15074-8"}},
	})
	str := func(v string, m store.StringMode) store.Clause {
		c := one("name", store.KindString)
		c.Strings = []store.StringMatch{{Value: v, Mode: m}}
		return c
	}
	ref := func(m ...store.ReferenceMatch) store.Clause {
		c := one("subject", store.KindReference)
		c.References = m
		return c
	}
	qty := func(m store.QuantityMatch) store.Clause {
		c := one("value-quantity", store.KindQuantity)
		c.Quantities = []store.QuantityMatch{m}
		return c
	}
	num := func(m store.QuantityMatch) store.Clause {
		c := one("n", store.KindNumber)
		m.AnyUnit = true
		c.Quantities = []store.QuantityMatch{m}
		return c
	}
	uri := func(v string, m store.URIMode) store.Clause {
		c := one("url", store.KindURI)
		c.URIs = []store.URIMatch{{Value: v, Mode: m}}
		return c
	}
	not := func(c store.Clause) store.Clause { c.Not = true; return c }
	tests := []struct {
		name string
		typ  string
		c    store.Clause
		want []string
	}{
		{"string prefix CJK", "Patient", str("张三", store.StringPrefix), []string{"Patient/zs", "Patient/zss"}},
		{"string prefix latin", "Patient", str("zhang", store.StringPrefix), []string{"Patient/zs"}},
		{"string prefix no match mid-word", "Patient", str("san", store.StringPrefix), nil},
		{"string exact", "Patient", str("张三", store.StringExact), []string{"Patient/zs"}},
		{"string exact is case-sensitive", "Patient", str("zhang san", store.StringExact), nil},
		{"string contains", "Patient", str("三丰", store.StringContains), []string{"Patient/zss"}},
		{"string wildcards are literal", "Patient", str("o'brien_5", store.StringPrefix), []string{"Patient/zss"}},
		{"string percent literal", "Patient", str("%", store.StringContains), []string{"Patient/zss"}},
		{"string underscore not wildcard", "Patient", str("zhang_", store.StringPrefix), nil},
		{"reference type/id", "Observation", ref(store.ReferenceMatch{Type: "Patient", ID: "zs"}), []string{"Observation/o1"}},
		{"reference id only", "Observation", ref(store.ReferenceMatch{ID: "zs"}), []string{"Observation/o1", "Observation/o2"}},
		{"reference url", "Observation", func() store.Clause {
			c := one("performer", store.KindReference)
			c.References = []store.ReferenceMatch{{URL: "http://other/fhir/Practitioner/1"}}
			return c
		}(), []string{"Observation/o1"}},
		{"quantity eq precision", "Observation", qty(store.QuantityMatch{Prefix: "eq", Value: 5.4, Low: 5.35, High: 5.45, System: "http://unitsofmeasure.org", Code: "mmol/L"}), []string{"Observation/o1"}},
		{"quantity eq coarse", "Observation", qty(store.QuantityMatch{Prefix: "eq", Value: 5, Low: 4.5, High: 5.5, AnyUnit: true}), []string{"Observation/o1"}},
		{"quantity gt", "Observation", qty(store.QuantityMatch{Prefix: "gt", Value: 6, AnyUnit: true}), []string{"Observation/o2"}},
		{"quantity code or unit", "Observation", qty(store.QuantityMatch{Prefix: "le", Value: 10, Code: "mmol/l"}), []string{"Observation/o1"}},
		{"quantity other unit", "Observation", qty(store.QuantityMatch{Prefix: "le", Value: 10, System: "http://unitsofmeasure.org", Code: "mg/dL"}), nil},
		{"quantity ap", "Observation", qty(store.QuantityMatch{Prefix: "ap", Value: 7, AnyUnit: true}), []string{"Observation/o2"}},
		{"number eq", "Observation", num(store.QuantityMatch{Prefix: "eq", Value: 100, Low: 99.5, High: 100.5}), []string{"Observation/o1", "Observation/o2"}},
		{"number ne", "Observation", num(store.QuantityMatch{Prefix: "ne", Value: 100, Low: 99.95, High: 100.05}), []string{"Observation/o2"}},
		{"number lt", "Observation", num(store.QuantityMatch{Prefix: "lt", Value: 100}), []string{"Observation/o2"}},
		{"uri exact", "Patient", uri("http://example.org/fhir", store.URIExact), []string{"Patient/zss"}},
		{"uri below", "Patient", uri("http://example.org/fhir", store.URIBelow), []string{"Patient/zs", "Patient/zss"}},
		{"uri above", "Patient", uri("http://example.org/fhir/ValueSet/a/x", store.URIAbove), []string{"Patient/zs", "Patient/zss"}},
		{"token text word", "Observation", func() store.Clause {
			return tok("code", store.TokenMatch{Text: "glucose"})
		}(), []string{"Observation/o1"}},
		{"token text CJK", "Observation", tok("code", store.TokenMatch{Text: "血糖"}), []string{"Observation/o1"}},
		{"token not", "Observation", not(tok("code", store.TokenMatch{System: "http://loinc.org", Code: "2345-7"})), []string{"Observation/o2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := search(t, s, store.Query{Type: tc.typ, Where: []store.Clause{tc.c}})
			if !sameSet(ids(p), tc.want...) {
				t.Errorf("got %v, want %v", ids(p), tc.want)
			}
		})
	}
	// Several string clauses (which a store may intersect first) with other clauses.
	uriIs := uri("http://example.org/fhir", store.URIExact)
	multi := []struct {
		name string
		cs   []store.Clause
		want []string
	}{
		{"two strings", []store.Clause{str("张三", store.StringPrefix), str("o'brien", store.StringPrefix)}, []string{"Patient/zss"}},
		{"two strings, one exact", []store.Clause{str("张三", store.StringPrefix), str("张三", store.StringExact)}, []string{"Patient/zs"}},
		{"two strings disjoint", []store.Clause{str("zhang", store.StringPrefix), str("o'brien", store.StringPrefix)}, nil},
		{"three strings and a uri", []store.Clause{str("张", store.StringPrefix), uriIs, str("三丰", store.StringContains), str("张三", store.StringPrefix)}, []string{"Patient/zss"}},
		{"string and not string", []store.Clause{str("张三", store.StringPrefix), not(str("o'brien", store.StringPrefix))}, []string{"Patient/zs"}},
	}
	for _, tc := range multi {
		t.Run(tc.name, func(t *testing.T) {
			p := search(t, s, store.Query{Type: "Patient", Where: tc.cs, Total: true, Count: 10})
			if !sameSet(ids(p), tc.want...) || p.Total != len(tc.want) {
				t.Errorf("got %v (total %d), want %v", ids(p), p.Total, tc.want)
			}
		})
	}
}

func testChainHasCompartment(t *testing.T, s store.Store) {
	put(t, s, res("Patient", "p1", 1, base, `{}`), &store.Index{Strings: []store.StringEntry{{Param: "name", Norm: "李四", Exact: "李四"}},
		References: []store.ReferenceEntry{{Param: "organization", TargetType: "Organization", TargetID: "org"}}})
	put(t, s, res("Patient", "p2", 1, base, `{}`), &store.Index{Strings: []store.StringEntry{{Param: "name", Norm: "王五", Exact: "王五"}}})
	put(t, s, res("Organization", "org", 1, base, `{}`), &store.Index{Strings: []store.StringEntry{{Param: "name", Norm: "张江社区", Exact: "张江社区"}}})
	put(t, s, res("Observation", "o1", 1, base, `{}`), &store.Index{
		References: []store.ReferenceEntry{{Param: "subject", TargetType: "Patient", TargetID: "p1"}},
		Tokens:     []store.TokenEntry{{Param: "code", System: "http://loinc.org", Code: "8480-6"}}})
	put(t, s, res("Observation", "o2", 1, base, `{}`), &store.Index{
		References: []store.ReferenceEntry{{Param: "subject", TargetType: "Patient", TargetID: "p2"}, {Param: "performer", TargetType: "Patient", TargetID: "p1"}},
		Tokens:     []store.TokenEntry{{Param: "code", System: "http://loinc.org", Code: "2345-7"}}})
	put(t, s, res("Encounter", "e1", 1, base, `{}`), &store.Index{References: []store.ReferenceEntry{{Param: "subject", TargetType: "Patient", TargetID: "p1"}}})
	name := func(v string) store.Clause {
		c := one("name", store.KindString)
		c.Strings = []store.StringMatch{{Value: v}}
		return c
	}
	tests := []struct {
		name string
		q    store.Query
		want []string
	}{
		{"chain", store.Query{Type: "Observation", Where: []store.Clause{{Param: "subject", Kind: store.KindReference, Chain: &store.Chain{Type: "Patient", Where: name("李")}}}}, []string{"Observation/o1"}},
		{"chain any type", store.Query{Type: "Observation", Where: []store.Clause{{Param: "subject", Kind: store.KindReference, Chain: &store.Chain{Where: name("王")}}}}, []string{"Observation/o2"}},
		{"two-level chain", store.Query{Type: "Observation", Where: []store.Clause{{Param: "subject", Kind: store.KindReference, Chain: &store.Chain{Type: "Patient",
			Where: store.Clause{Param: "organization", Kind: store.KindReference, Chain: &store.Chain{Type: "Organization", Where: name("张江")}}}}}}, []string{"Observation/o1"}},
		{"has", store.Query{Type: "Patient", Where: []store.Clause{{Has: &store.Has{Type: "Observation", Param: "subject", Where: tok("code", store.TokenMatch{AnySystem: true, Code: "2345-7"})}}}}, []string{"Patient/p2"}},
		{"has no match", store.Query{Type: "Patient", Where: []store.Clause{{Has: &store.Has{Type: "Observation", Param: "performer", Where: tok("code", store.TokenMatch{AnySystem: true, Code: "8480-6"})}}}}, nil},
		{"compartment one type", store.Query{Type: "Observation", Where: []store.Clause{{Compartment: &store.Compartment{Type: "Patient", ID: "p1", Params: map[string][]string{"Observation": {"subject", "performer"}}}}}}, []string{"Observation/o1", "Observation/o2"}},
		{"compartment all types", store.Query{Where: []store.Clause{{Compartment: &store.Compartment{Type: "Patient", ID: "p1", Params: map[string][]string{"Observation": {"subject"}, "Encounter": {"subject"}}}}}}, []string{"Observation/o1", "Encounter/e1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := search(t, s, tc.q)
			if !sameSet(ids(p), tc.want...) {
				t.Errorf("got %v, want %v", ids(p), tc.want)
			}
		})
	}
}

func testSearchSort(t *testing.T, s store.Store) {
	d := func(y int) store.DateEntry {
		lo := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		return store.DateEntry{Param: "birthdate", Low: lo, High: lo.AddDate(1, 0, 0).Add(-time.Microsecond)}
	}
	put(t, s, res("Patient", "a", 1, base, `{}`), &store.Index{Dates: []store.DateEntry{d(1990)}, Strings: []store.StringEntry{{Param: "family", Norm: "wang"}}})
	put(t, s, res("Patient", "b", 1, base.Add(time.Second), `{}`), &store.Index{Dates: []store.DateEntry{d(1950)}, Strings: []store.StringEntry{{Param: "family", Norm: "li"}}})
	put(t, s, res("Patient", "c", 1, base.Add(2*time.Second), `{}`), &store.Index{Strings: []store.StringEntry{{Param: "family", Norm: "li"}}})
	put(t, s, res("Patient", "d", 1, base.Add(3*time.Second), `{}`), &store.Index{Dates: []store.DateEntry{d(2000)}})
	tests := []struct {
		sort []store.SortKey
		want string
	}{
		{[]store.SortKey{{Param: "birthdate", Kind: store.KindDate}}, "[Patient/b Patient/a Patient/d Patient/c]"},
		{[]store.SortKey{{Param: "birthdate", Kind: store.KindDate, Desc: true}}, "[Patient/d Patient/a Patient/b Patient/c]"},
		{[]store.SortKey{{Param: "family", Kind: store.KindString}, {Param: "birthdate", Kind: store.KindDate, Desc: true}}, "[Patient/b Patient/c Patient/a Patient/d]"},
		{[]store.SortKey{{Param: "_id", Desc: true}}, "[Patient/d Patient/c Patient/b Patient/a]"},
		{[]store.SortKey{{Param: "_lastUpdated"}}, "[Patient/a Patient/b Patient/c Patient/d]"},
	}
	for _, tc := range tests {
		p := search(t, s, store.Query{Type: "Patient", Sort: tc.sort})
		if got := fmt.Sprint(ids(p)); got != tc.want {
			t.Errorf("sort %+v = %s, want %s", tc.sort, got, tc.want)
		}
	}
}

// testSearchKeyset pages with cursors while resources are created and updated between
// pages: no resource is seen twice, and every resource not touched is seen once.
func testSearchKeyset(t *testing.T, s store.Store) {
	for i := range 25 {
		// Pairs share a lastUpdated, so the id tie-break matters.
		put(t, s, res("Patient", fmt.Sprintf("k%02d", i), 1, base.Add(time.Duration(i/2)*time.Second), `{}`), nil)
	}
	seen := map[string]int{}
	var pages [][]store.Resource
	q := store.Query{Type: "Patient", Count: 10}
	for n := 0; ; n++ {
		p := search(t, s, q)
		pages = append(pages, p.Resources)
		for _, r := range p.Resources {
			seen[r.ID]++
		}
		if n == 0 {
			// Between pages: a new resource and an update of one already seen.
			put(t, s, res("Patient", "new", 1, base.Add(time.Hour), `{}`), nil)
			put(t, s, res("Patient", "k24", 2, base.Add(time.Hour+time.Second), `{}`), nil)
		}
		if !p.More {
			break
		}
		last := p.Resources[len(p.Resources)-1]
		q.After = &store.Cursor{LastUpdated: last.LastUpdated, ID: last.ID, Type: last.Type}
		if n > 5 {
			t.Fatal("paging does not end")
		}
	}
	for i := range 25 {
		if id := fmt.Sprintf("k%02d", i); seen[id] != 1 {
			t.Errorf("%s seen %d times", id, seen[id])
		}
	}
	if seen["new"] != 0 {
		t.Errorf("a resource created before the first cursor appeared on a later page")
	}
	// Backwards from the first row of the last page gives the page before it.
	lastPage := pages[len(pages)-1]
	first := lastPage[0]
	p := search(t, s, store.Query{Type: "Patient", Count: 10, Before: &store.Cursor{LastUpdated: first.LastUpdated, ID: first.ID, Type: first.Type}})
	want := pages[len(pages)-2]
	if fmt.Sprint(ids(p)) != fmt.Sprint(ids(store.Page{Resources: want})) {
		t.Errorf("previous page = %v, want %v", ids(p), ids(store.Page{Resources: want}))
	}
	if !p.More {
		t.Errorf("previous page: More = false, but a page precedes it")
	}
}

func testState(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetState(ctx, "reindex/a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing state: %v", err)
	}
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, k := range []string{"reindex/a", "reindex/b", "reindex_x", "other/a"} {
			if err := tx.PutState(ctx, k, []byte(`{"k":"`+k+`"}`)); err != nil {
				return err
			}
		}
		return tx.PutState(ctx, "reindex/a", []byte(`{"v":2}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.GetState(ctx, "reindex/a")
	if err != nil || string(v) != `{"v":2}` {
		t.Errorf("state reindex/a = %s, %v", v, err)
	}
	list, err := s.ListState(ctx, "reindex/")
	if err != nil || len(list) != 2 || list[0].Key != "reindex/a" || list[1].Key != "reindex/b" {
		t.Errorf("list reindex/ = %+v, %v", list, err)
	}
	// A failing transaction leaves state untouched.
	boom := errors.New("boom")
	_ = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		_ = tx.PutState(ctx, "reindex/a", []byte(`lost`))
		return boom
	})
	if v, _ := s.GetState(ctx, "reindex/a"); string(v) != `{"v":2}` {
		t.Errorf("state after rollback = %s", v)
	}
}

func testReindex(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, res("Patient", "r", 1, base, `{}`), tokenIdx("identifier", "urn:s", "old"))
	find := func(code string) []string {
		return ids(search(t, s, store.Query{Type: "Patient", Where: []store.Clause{tok("identifier", store.TokenMatch{AnySystem: true, Code: code})}}))
	}
	reindex := func(version int64, idx *store.Index) bool {
		var ok bool
		err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
			var err error
			ok, err = tx.Reindex(ctx, store.Resource{Type: "Patient", ID: "r", Version: version}, idx)
			return err
		})
		if err != nil {
			t.Fatalf("reindex: %v", err)
		}
		return ok
	}
	newIdx := &store.Index{Tokens: []store.TokenEntry{{Param: "identifier", System: "urn:s", Code: "new"}},
		Strings: []store.StringEntry{{Param: "team", Norm: "张江一队", Exact: "张江一队"}}}
	if !reindex(1, newIdx) {
		t.Fatal("reindex of the current version reported no change")
	}
	if got := find("old"); len(got) != 0 {
		t.Errorf("old index row survived: %v", got)
	}
	if got := find("new"); !sameSet(got, "Patient/r") {
		t.Errorf("new index row missing: %v", got)
	}
	r, err := s.Read(ctx, "Patient", "r")
	if err != nil || r.Version != 1 {
		t.Errorf("reindex changed the version: %+v, %v", r, err)
	}
	h, _ := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "r", Count: 10})
	if len(h.Versions) != 1 {
		t.Errorf("reindex wrote history: %d versions", len(h.Versions))
	}
	// A later version: the stale reindex changes nothing.
	put(t, s, res("Patient", "r", 2, base.Add(time.Second), `{}`), tokenIdx("identifier", "urn:s", "v2"))
	if reindex(1, tokenIdx("identifier", "urn:s", "stale")) {
		t.Error("reindex of a superseded version reported a change")
	}
	if got := find("stale"); len(got) != 0 {
		t.Errorf("stale reindex wrote rows: %v", got)
	}
	if got := find("v2"); !sameSet(got, "Patient/r") {
		t.Errorf("current index rows lost: %v", got)
	}
	// Then an update after reindexing clears the kinds reindex added.
	put(t, s, res("Patient", "r", 3, base.Add(2*time.Second), `{}`), nil)
	yes := false
	p := search(t, s, store.Query{Type: "Patient", Where: []store.Clause{{Param: "team", Kind: store.KindString, Missing: &yes}}})
	if len(p.Resources) != 0 {
		t.Errorf("string rows added by reindex survived an update: %v", ids(p))
	}
}

// testPeekPrefetch checks that Peek answers the same with and without Prefetch: the
// committed version, ErrNotFound for an absent resource, and what the transaction
// itself wrote after the Prefetch.
func testPeekPrefetch(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, res("Basic", "pp-a", 1, base, `{"v":1}`), nil)
	put(t, s, res("Basic", "pp-b", 1, base, `{"v":"b"}`), nil)
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		refs := []store.Ref{{Type: "Basic", ID: "pp-a"}, {Type: "Basic", ID: "pp-b"}, {Type: "Basic", ID: "pp-none"}}
		if err := tx.Prefetch(ctx, refs); err != nil {
			return err
		}
		if r, err := tx.Peek(ctx, "Basic", "pp-b"); err != nil || string(r.Body) != `{"v":"b"}` || r.Version != 1 {
			return fmt.Errorf("peek pp-b = %s v%d, %v", r.Body, r.Version, err)
		}
		if _, err := tx.Peek(ctx, "Basic", "pp-none"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("peek absent = %v, want ErrNotFound", err)
		}
		// Written after the Prefetch: Peek sees the transaction's own writes.
		if err := tx.Put(ctx, res("Basic", "pp-a", 2, base, `{"v":2}`), nil); err != nil {
			return err
		}
		if err := tx.Put(ctx, res("Basic", "pp-none", 1, base, `{"v":"new"}`), nil); err != nil {
			return err
		}
		if r, err := tx.Peek(ctx, "Basic", "pp-a"); err != nil || string(r.Body) != `{"v":2}` {
			return fmt.Errorf("peek pp-a after put = %s, %v", r.Body, err)
		}
		if r, err := tx.Peek(ctx, "Basic", "pp-none"); err != nil || string(r.Body) != `{"v":"new"}` {
			return fmt.Errorf("peek pp-none after put = %s, %v", r.Body, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A Prefetch whose resources are then written and read in separate steps.
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.Prefetch(ctx, []store.Ref{{Type: "Basic", ID: "pp-a"}, {Type: "Basic", ID: "pp-b"}}); err != nil {
			return err
		}
		if err := tx.Put(ctx, res("Basic", "pp-b", 2, base, `{"v":"b2"}`), nil); err != nil {
			return err
		}
		if _, err := tx.Search(ctx, store.Query{Type: "Basic", Count: 1}); err != nil { // sends queued writes
			return err
		}
		if r, err := tx.Peek(ctx, "Basic", "pp-b"); err != nil || string(r.Body) != `{"v":"b2"}` {
			return fmt.Errorf("peek pp-b after put and search = %s, %v", r.Body, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testManyCreates checks a transaction creating several resources (which a store may
// write in one statement): all of them with their index rows, or, when one of them
// exists already, none.
func testManyCreates(t *testing.T, s store.Store) {
	ctx := context.Background()
	idx := func(v string) *store.Index {
		return &store.Index{Tokens: []store.TokenEntry{{Param: "identifier", System: "urn:mc", Code: v}},
			Strings: []store.StringEntry{{Param: "name", Norm: "mc " + v, Exact: "MC " + v}}}
	}
	err := s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, id := range []string{"mc-1", "mc-2", "mc-3"} {
			if err := tx.Put(ctx, res("Patient", id, 1, base, `{"id":"`+id+`"}`), idx(id)); err != nil {
				return err
			}
		}
		return tx.SetEventTimes(ctx, []string{"Patient/mc-1"}, base)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"mc-1", "mc-2", "mc-3"} {
		r, err := s.Read(ctx, "Patient", id)
		if err != nil || string(r.Body) != `{"id":"`+id+`"}` {
			t.Errorf("read %s = %s, %v", id, r.Body, err)
		}
		p, err := s.Search(ctx, store.Query{Type: "Patient", Count: 10, Where: []store.Clause{
			{Param: "identifier", Kind: store.KindToken, Tokens: []store.TokenMatch{{System: "urn:mc", Code: id}}}}})
		if err != nil || len(p.Resources) != 1 || p.Resources[0].ID != id {
			t.Errorf("search identifier %s: %d, %v", id, len(p.Resources), err)
		}
		h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: id, Count: 10})
		if err != nil || len(h.Versions) != 1 {
			t.Errorf("history %s: %d versions, %v", id, len(h.Versions), err)
		}
	}
	err = s.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, id := range []string{"mc-4", "mc-2", "mc-5"} { // mc-2 exists
			if err := tx.Put(ctx, res("Patient", id, 1, base, `{}`), idx(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("creating an existing resource among others = %v, want ErrConflict", err)
	}
	for _, id := range []string{"mc-4", "mc-5"} {
		if _, err := s.Read(ctx, "Patient", id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of the failed transaction: %v, want ErrNotFound", id, err)
		}
		p, err := s.Search(ctx, store.Query{Type: "Patient", Count: 10, Where: []store.Clause{
			{Param: "identifier", Kind: store.KindToken, Tokens: []store.TokenMatch{{System: "urn:mc", Code: id}}}}})
		if err != nil || len(p.Resources) != 0 {
			t.Errorf("index rows of %s survived the failed transaction: %d, %v", id, len(p.Resources), err)
		}
	}
	if r, err := s.Read(ctx, "Patient", "mc-2"); err != nil || r.Version != 1 || string(r.Body) != `{"id":"mc-2"}` {
		t.Errorf("mc-2 after the failed transaction = v%d %s, %v", r.Version, r.Body, err)
	}
}
