package storetest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/store"
)

// sortFixture is one resource of the sorted-paging tests with the values it is indexed
// by; nil slices mean no value (the resource sorts last on that key).
type sortFixture struct {
	id     string
	at     time.Time
	family []string
	born   []int // years
	weight []float64
	code   []string
}

func (f sortFixture) index() *store.Index {
	idx := &store.Index{}
	for _, v := range f.family {
		idx.Strings = append(idx.Strings, store.StringEntry{Param: "family", Norm: v, Exact: v})
	}
	for _, y := range f.born {
		lo := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		idx.Dates = append(idx.Dates, store.DateEntry{Param: "birthdate", Low: lo, High: lo.AddDate(1, 0, 0).Add(-time.Microsecond)})
	}
	for _, v := range f.weight {
		idx.Numbers = append(idx.Numbers, store.NumberEntry{Param: "weight", Value: v})
	}
	for _, c := range f.code {
		idx.Tokens = append(idx.Tokens, store.TokenEntry{Param: "code", System: "urn:c", Code: c})
	}
	return idx
}

// sortFixtures builds n resources whose values repeat and are often missing, so that
// ties and missing values occur on every key; some have two values on a key, so that
// ascending and descending sort on different ones.
func sortFixtures(prefix string, n int, at time.Time) []sortFixture {
	families := []string{"li", "wang", "zhang", "chen", "zhao"}
	out := make([]sortFixture, n)
	for i := range out {
		f := sortFixture{id: fmt.Sprintf("%s%02d", prefix, i), at: at.Add(time.Duration(i/3) * time.Second)}
		if i%4 != 0 {
			f.family = []string{families[i%5]}
			if i%7 == 0 {
				f.family = append(f.family, families[(i+2)%5])
			}
		}
		if i%3 != 1 {
			f.born = []int{1940 + 10*(i%6)}
			if i%5 == 0 {
				f.born = append(f.born, 2001)
			}
		}
		if i%5 != 2 {
			f.weight = []float64{float64(i%4) + 0.25*float64(i%3)}
		}
		if i%6 != 5 {
			f.code = []string{string(rune('a' + i%3))}
		}
		out[i] = f
	}
	return out
}

// sortKeyOf is f's value for k as the store contract defines it (store.Cursor.Sort),
// nil when it has none: the oracle the stores' order is checked against.
func sortKeyOf(f sortFixture, k store.SortKey) any {
	pick := func(n int, less func(i, j int) bool) int {
		best := 0
		for i := 1; i < n; i++ {
			if less(i, best) != k.Desc {
				best = i
			}
		}
		return best
	}
	switch k.Param {
	case "_id":
		return f.id
	case "_lastUpdated":
		return f.at.UnixMicro()
	case "family":
		if len(f.family) == 0 {
			return nil
		}
		return f.family[pick(len(f.family), func(i, j int) bool { return f.family[i] < f.family[j] })]
	case "code":
		if len(f.code) == 0 {
			return nil
		}
		return f.code[pick(len(f.code), func(i, j int) bool { return f.code[i] < f.code[j] })]
	case "weight":
		if len(f.weight) == 0 {
			return nil
		}
		return f.weight[pick(len(f.weight), func(i, j int) bool { return f.weight[i] < f.weight[j] })]
	case "birthdate":
		if len(f.born) == 0 {
			return nil
		}
		y := f.born[pick(len(f.born), func(i, j int) bool { return f.born[i] < f.born[j] })]
		lo := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		if k.Desc {
			return lo.AddDate(1, 0, 0).Add(-time.Microsecond).UnixMicro()
		}
		return lo.UnixMicro()
	}
	panic("unknown sort key " + k.Param)
}

func compareSortValues(a, b any) int {
	switch x := a.(type) {
	case string:
		return cmp.Compare(x, b.(string))
	case int64:
		return cmp.Compare(x, b.(int64))
	case float64:
		return cmp.Compare(x, b.(float64))
	}
	panic(fmt.Sprintf("sort value %T", a))
}

// expectedOrder sorts fixtures as a search sorted by keys must: each key in its
// direction with missing values last, then lastUpdated descending, then id.
func expectedOrder(fs []sortFixture, keys []store.SortKey) []string {
	fs = slices.Clone(fs)
	slices.SortStableFunc(fs, func(a, b sortFixture) int {
		for _, k := range keys {
			va, vb := sortKeyOf(a, k), sortKeyOf(b, k)
			switch {
			case va == nil && vb == nil:
				continue
			case va == nil:
				return 1
			case vb == nil:
				return -1
			}
			c := compareSortValues(va, vb)
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = "Patient/" + f.id
	}
	return out
}

var sortKeySets = [][]store.SortKey{
	{{Param: "family", Kind: store.KindString}, {Param: "birthdate", Kind: store.KindDate, Desc: true}},
	{{Param: "birthdate", Kind: store.KindDate}, {Param: "_id", Desc: true}},
	{{Param: "weight", Kind: store.KindNumber, Desc: true}, {Param: "code", Kind: store.KindToken}},
	{{Param: "code", Kind: store.KindToken, Desc: true}, {Param: "family", Kind: store.KindString, Desc: true}, {Param: "weight", Kind: store.KindNumber}},
	{{Param: "_lastUpdated"}},
}

func keysText(keys []store.SortKey) string {
	s := ""
	for _, k := range keys {
		if k.Desc {
			s += "-"
		}
		s += k.Param + ","
	}
	return s
}

// testSearchSortKeyset pages through sorted searches with cursors made from the page's
// positions: forwards, the pages join up into the full sorted list; backwards from the
// end, they give the same pages again.
func testSearchSortKeyset(t *testing.T, s store.Store) {
	fs := sortFixtures("s", 31, base)
	for _, f := range fs {
		put(t, s, res("Patient", f.id, 1, f.at, `{}`), f.index())
	}
	const size = 4
	for _, keys := range sortKeySets {
		t.Run(keysText(keys), func(t *testing.T) {
			want := expectedOrder(fs, keys)
			full := search(t, s, store.Query{Type: "Patient", Sort: keys, Count: 100})
			if got := ids(full); !slices.Equal(got, want) {
				t.Fatalf("order:\n got %v\nwant %v", got, want)
			}
			if len(full.Positions) != len(full.Resources) {
				t.Fatalf("%d positions for %d resources", len(full.Positions), len(full.Resources))
			}
			for i, pos := range full.Positions {
				f := fs[slices.IndexFunc(fs, func(f sortFixture) bool { return "Patient/"+f.id == want[i] })]
				for j, k := range keys {
					if w := sortKeyOf(f, k); pos.Sort[j] != w {
						t.Errorf("%s: position value %d = %#v (%T), want %#v (%T)", want[i], j, pos.Sort[j], pos.Sort[j], w, w)
					}
				}
			}
			var pages [][]string
			q := store.Query{Type: "Patient", Sort: keys, Count: size}
			for n := 0; ; n++ {
				p := search(t, s, q)
				pages = append(pages, ids(p))
				if !p.More {
					break
				}
				q.After = &p.Positions[len(p.Positions)-1]
				if n > len(fs) {
					t.Fatal("paging does not end")
				}
			}
			if got := slices.Concat(pages...); !slices.Equal(got, want) {
				t.Errorf("pages joined:\n got %v\nwant %v", got, want)
			}
			// Backwards from the last page's first position: each earlier page in turn.
			last := search(t, s, store.Query{Type: "Patient", Sort: keys, Count: size, Offset: size * (len(pages) - 1)})
			if got := ids(last); !slices.Equal(got, pages[len(pages)-1]) {
				t.Fatalf("last page by offset = %v, want %v", got, pages[len(pages)-1])
			}
			before := last.Positions[0]
			for i := len(pages) - 2; i >= 0; i-- {
				p := search(t, s, store.Query{Type: "Patient", Sort: keys, Count: size, Before: &before})
				if got := ids(p); !slices.Equal(got, pages[i]) {
					t.Errorf("page %d walking back = %v, want %v", i, got, pages[i])
				}
				if p.More != (i > 0) {
					t.Errorf("page %d walking back: More = %v", i, p.More)
				}
				if len(p.Positions) == 0 {
					t.Fatalf("page %d walking back is empty", i)
				}
				before = p.Positions[0]
			}
		})
	}
}

// testSearchSortKeysetChanges pages through sorted searches while resources are created
// and deleted between pages, with values before, at and after the page boundary: every
// resource that exists throughout is seen exactly once, and none twice.
func testSearchSortKeysetChanges(t *testing.T, s store.Store) {
	for ki, keys := range sortKeySets {
		t.Run(keysText(keys), func(t *testing.T) {
			prefix := fmt.Sprintf("c%d_", ki)
			fs := sortFixtures(prefix, 26, base)
			for _, f := range fs {
				put(t, s, res("Patient", f.id, 1, f.at, `{}`), f.index())
			}
			deleted := map[string]bool{}
			seen := map[string]int{}
			order := expectedOrder(fs, keys)
			q := store.Query{Type: "Patient", Sort: keys, Count: 5,
				Where: []store.Clause{{Param: "_id", Kind: store.KindToken, Tokens: idTokens(prefix, 40)}}}
			for n := 0; ; n++ {
				p := search(t, s, q)
				for _, r := range p.Resources {
					seen[r.Type+"/"+r.ID]++
				}
				// Between pages: new resources copying the values of fixtures on every
				// side of the boundary (so they tie with them on every sort key), and
				// deletes of a resource already seen and one not yet seen.
				for j, src := range []int{n, 10 + n, 25 - n} {
					f := fs[src%len(fs)]
					f.id = fmt.Sprintf("%sn%d_%d", prefix, n, j)
					f.at = base.Add(time.Duration(n*3+j) * time.Second)
					put(t, s, res("Patient", f.id, 1, f.at, `{}`), f.index())
				}
				for _, id := range []string{order[min(n*5, len(order)-1)], order[min(n*5+9, len(order)-1)]} {
					if !deleted[id] {
						deleted[id] = true
						put(t, s, store.Resource{Type: "Patient", ID: id[len("Patient/"):], Version: 2, LastUpdated: base.Add(time.Hour), Deleted: true, Method: "DELETE"}, nil)
					}
				}
				if !p.More {
					break
				}
				q.After = &p.Positions[len(p.Positions)-1]
				if n > 20 {
					t.Fatal("paging does not end")
				}
			}
			for id, c := range seen {
				if c > 1 {
					t.Errorf("%s seen %d times", id, c)
				}
			}
			for _, id := range order {
				if !deleted[id] && seen[id] != 1 {
					t.Errorf("%s, present throughout, seen %d times", id, seen[id])
				}
			}
		})
	}
}

// idTokens matches the ids prefix00 ... prefix<n-1> and the resources created while
// paging (prefixn<page>_<j>), so that each key set's run sees only its own resources.
func idTokens(prefix string, n int) []store.TokenMatch {
	var out []store.TokenMatch
	for i := range n {
		out = append(out, store.TokenMatch{AnySystem: true, Code: fmt.Sprintf("%s%02d", prefix, i)})
		for j := range 3 {
			out = append(out, store.TokenMatch{AnySystem: true, Code: fmt.Sprintf("%sn%d_%d", prefix, i, j)})
		}
	}
	return out
}

// testSearchTotalEstimate: an estimated total is a number, exact for small totals;
// an accurate total is always exact.
func testSearchTotalEstimate(t *testing.T, s store.Store) {
	const n = 1100
	err := s.Update(context.Background(), func(ctx context.Context, tx store.Tx) error {
		for i := range n {
			code := "common"
			if i%500 == 0 {
				code = "rare"
			}
			r := res("Observation", fmt.Sprintf("e%04d", i), 1, base.Add(time.Duration(i)*time.Millisecond), `{}`)
			if err := tx.Put(ctx, r, tokenIdx("code", "urn:c", code)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	code := func(c string) []store.Clause {
		return []store.Clause{tok("code", store.TokenMatch{AnySystem: true, Code: c})}
	}
	tests := []struct {
		name     string
		where    []store.Clause
		estimate bool
		exact    int
	}{
		{"accurate all", nil, false, n},
		{"accurate common", code("common"), false, n - 3},
		{"estimate rare", code("rare"), true, 3},
		{"estimate all", nil, true, -1},
		{"estimate common", code("common"), true, -1},
	}
	for _, tc := range tests {
		for _, count := range []int{0, 10} {
			p := search(t, s, store.Query{Type: "Observation", Where: tc.where, Total: true, Estimate: tc.estimate, Count: count})
			switch {
			case tc.exact >= 0 && p.Total != tc.exact:
				t.Errorf("%s (count %d): total %d, want %d", tc.name, count, p.Total, tc.exact)
			case p.Total <= 0 || p.Total > math.MaxInt32:
				t.Errorf("%s (count %d): total %d is not a plausible estimate", tc.name, count, p.Total)
			}
			want := count
			if tc.exact >= 0 {
				want = min(count, tc.exact)
			}
			if len(p.Resources) != want {
				t.Errorf("%s: %d resources on a page of %d", tc.name, len(p.Resources), count)
			}
		}
	}
}
