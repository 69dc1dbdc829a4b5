package interaction

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/store"
)

var cursorKeys = []store.SortKey{
	{Param: "date", Kind: store.KindDate, Desc: true},
	{Param: "code", Kind: store.KindToken},
	{Param: "value-quantity", Kind: store.KindQuantity, Desc: true},
	{Param: "_id"},
}

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2024, 3, 1, 8, 0, 0, 123456000, time.UTC)
	tests := []struct {
		name string
		c    cursor
		keys []store.SortKey
	}{
		{"default order", cursor{at: store.Cursor{LastUpdated: at, Type: "Patient", ID: "a.b-1"}}, nil},
		{"default order backwards", cursor{backward: true, at: store.Cursor{LastUpdated: at, Type: "Patient", ID: "x"}}, nil},
		{"sorted", cursorAt(store.Cursor{LastUpdated: at, Type: "Observation", ID: "o1",
			Sort: []any{int64(1709251199999999), "8480-6", 132.5, "o1"}}, cursorKeys, false), cursorKeys},
		{"sorted, missing values, backwards", cursorAt(store.Cursor{LastUpdated: at, Type: "Observation", ID: "o2",
			Sort: []any{nil, "张三|x,y", nil, "o2"}}, cursorKeys, true), cursorKeys},
		{"sorted, extreme numbers", cursorAt(store.Cursor{LastUpdated: at, Type: "Observation", ID: "o3",
			Sort: []any{int64(math.MinInt64), "", math.SmallestNonzeroFloat64, ""}}, cursorKeys, false), cursorKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCursor(tc.c.String())
			if err != nil {
				t.Fatalf("parse %q: %v", tc.c.String(), err)
			}
			if err := got.bind(tc.keys); err != nil {
				t.Fatalf("bind: %v", err)
			}
			if got.backward != tc.c.backward || !got.at.LastUpdated.Equal(tc.c.at.LastUpdated) || got.at.ID != tc.c.at.ID ||
				got.at.Type != tc.c.at.Type || !reflect.DeepEqual(got.at.Sort, tc.c.at.Sort) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got.at, tc.c.at)
			}
		})
	}
}

func TestCursorRejected(t *testing.T) {
	sorted := cursorAt(store.Cursor{LastUpdated: time.Unix(1, 0), Type: "Observation", ID: "o1",
		Sort: []any{int64(5), "c", 1.5, "o1"}}, cursorKeys, false).String()
	tests := []struct {
		name string
		v    string
		keys []store.SortKey
	}{
		{"garbage", "garbage", nil},
		{"bad direction", "x.1.Patient.a", nil},
		{"bad time", "n.abc.Patient.a", nil},
		{"bad base64", "k.***", cursorKeys},
		{"not JSON", "k.bm90IGpzb24", cursorKeys},
		{"sorted cursor, no _sort", sorted, nil},
		{"sorted cursor, other _sort", sorted, cursorKeys[:2]},
		{"default cursor with _sort", "n.1.Patient.a", cursorKeys},
		{"too long", "k." + string(make([]byte, maxCursorLen)), cursorKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCursor(tc.v)
			if err == nil {
				err = c.bind(tc.keys)
			}
			var oo *outcome.Error
			if !errors.As(err, &oo) {
				t.Errorf("%q: %v, want a FHIR outcome", tc.v, err)
			}
		})
	}
}

// FuzzParseCursor: no _page value makes the decoder panic, and whatever it accepts
// encodes back to a cursor that decodes to the same position.
func FuzzParseCursor(f *testing.F) {
	at := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
	f.Add("n.1709280000000000.Patient.abc")
	f.Add("p.-5.Observation.a.b")
	f.Add(cursorAt(store.Cursor{LastUpdated: at, Type: "Observation", ID: "o1", Sort: []any{int64(7), nil, 2.5, "o1"}}, cursorKeys, false).String())
	f.Add(cursorAt(store.Cursor{LastUpdated: at, Type: "Observation", ID: "o1", Sort: []any{nil, "x", nil, "o1"}}, cursorKeys, true).String())
	f.Fuzz(func(t *testing.T, v string) {
		c, err := parseCursor(v)
		if err != nil {
			var oo *outcome.Error
			if !errors.As(err, &oo) {
				t.Fatalf("%q: %v is not a FHIR outcome", v, err)
			}
			return
		}
		keys := cursorKeys
		if c.sort == "" {
			keys = nil
		}
		bound := c.bind(keys) == nil
		again, err := parseCursor(c.String())
		if err != nil {
			t.Fatalf("%q re-encoded as %q, which does not decode: %v", v, c.String(), err)
		}
		if again.backward != c.backward || again.sort != c.sort || again.at.ID != c.at.ID || again.at.Type != c.at.Type ||
			!again.at.LastUpdated.Equal(c.at.LastUpdated) {
			t.Fatalf("%q: round trip changed the position: %+v, then %+v", v, c, again)
		}
		if bound {
			if err := again.bind(keys); err != nil {
				t.Fatalf("%q: re-encoded cursor no longer binds: %v", v, err)
			}
			if !reflect.DeepEqual(again.at.Sort, c.at.Sort) {
				t.Fatalf("%q: sort values changed: %#v, then %#v", v, c.at.Sort, again.at.Sort)
			}
		}
	})
}
