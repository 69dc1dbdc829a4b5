package interaction

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shch/fhirgw/gateway/outcome"
	"github.com/shch/fhirgw/gateway/store"
)

// cursor is the position a next or previous link (_page) continues from: the last (or
// first) resource of the page, in the search's order. Links built from it stay correct
// while resources are created and deleted, unlike offsets: the search continues strictly
// after (or before) that position, wherever it now falls.
//
// Two spellings. In the default order (lastUpdated descending, id, type):
// "n.<micros>.<type>.<id>" ("p." walking backwards). With _sort: "k." and base64url of
// a small JSON object holding the direction, the _sort it was made for, each sort key's
// value (null when the resource has none), and the default-order tie-breakers.
type cursor struct {
	backward bool
	at       store.Cursor
	// sort is the _sort (keys joined by commas, "-" for descending) a sorted cursor was
	// made for; empty in the default order.
	sort string
	// vals are a decoded sorted cursor's values as written, typed into at.Sort by bind
	// once the search's sort keys are known.
	vals []*string
}

// sortedPrefix starts a sorted cursor; default-order cursors start with "n." or "p.".
const sortedPrefix = "k."

// maxCursorLen bounds what parseCursor decodes: a cursor holds a few short values.
const maxCursorLen = 4096

// maxCursorKeys bounds the sort values a cursor may carry.
const maxCursorKeys = 32

// sortedWire is the JSON inside a sorted cursor.
type sortedWire struct {
	Back bool      `json:"b,omitempty"`
	Sort string    `json:"s"`
	Vals []*string `json:"v"`
	LU   int64     `json:"t"`
	Type string    `json:"y"`
	ID   string    `json:"i"`
}

func badCursor(v string) error {
	if len(v) > 64 {
		v = v[:64] + "..."
	}
	return outcome.BadRequest("_page %q is not a page link this server made", v)
}

// parseCursor decodes a _page value. A sorted cursor's values stay untyped until bind.
func parseCursor(v string) (*cursor, error) {
	if len(v) > maxCursorLen {
		return nil, badCursor(v)
	}
	if enc, ok := strings.CutPrefix(v, sortedPrefix); ok {
		raw, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil {
			return nil, badCursor(v)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var w sortedWire
		if err := dec.Decode(&w); err != nil || dec.More() || w.Sort == "" || w.ID == "" || w.Type == "" ||
			len(w.Vals) == 0 || len(w.Vals) > maxCursorKeys || len(w.Vals) != strings.Count(w.Sort, ",")+1 {
			return nil, badCursor(v)
		}
		return &cursor{backward: w.Back, sort: w.Sort, vals: w.Vals,
			at: store.Cursor{LastUpdated: time.UnixMicro(w.LU).UTC(), Type: w.Type, ID: w.ID}}, nil
	}
	parts := strings.SplitN(v, ".", 4)
	if len(parts) != 4 || (parts[0] != "n" && parts[0] != "p") {
		return nil, badCursor(v)
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return nil, badCursor(v)
	}
	return &cursor{backward: parts[0] == "p", at: store.Cursor{LastUpdated: time.UnixMicro(us).UTC(), Type: parts[2], ID: parts[3]}}, nil
}

// sortText spells sort keys as _sort does: "-date,_id".
func sortText(keys []store.SortKey) string {
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		if k.Desc {
			sb.WriteByte('-')
		}
		sb.WriteString(k.Param)
	}
	return sb.String()
}

// bind checks that the cursor was made for a search sorted by keys and types its
// values as store.Cursor.Sort wants them.
func (c *cursor) bind(keys []store.SortKey) error {
	switch {
	case c.sort == "" && len(keys) == 0:
		return nil
	case c.sort == "":
		return outcome.BadRequest("_page was made for a search without _sort")
	case c.sort != sortText(keys):
		return outcome.BadRequest("_page was made for _sort=%s, not _sort=%s", c.sort, sortText(keys))
	}
	if len(c.vals) != len(keys) { // the text matched, so only a forged cursor gets here
		return badCursor(c.String())
	}
	c.at.Sort = make([]any, len(keys))
	for i, k := range keys {
		if c.vals[i] == nil {
			continue
		}
		v, err := parseSortValue(k, *c.vals[i])
		if err != nil {
			return outcome.BadRequest("_page holds an invalid value for sort key %s", k.Param)
		}
		c.at.Sort[i] = v
	}
	return nil
}

func parseSortValue(k store.SortKey, s string) (any, error) {
	switch {
	case k.Param == "_id":
		return s, nil
	case k.Param == "_lastUpdated" || k.Kind == store.KindDate:
		return strconv.ParseInt(s, 10, 64)
	case k.Kind == store.KindNumber || k.Kind == store.KindQuantity:
		f, err := strconv.ParseFloat(s, 64)
		if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
			err = strconv.ErrRange
		}
		return f, err
	}
	return s, nil
}

func formatSortValue(v any) *string {
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		s = x
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return nil // not a type the store hands out; as if missing
	}
	return &s
}

// String encodes the cursor as a _page value.
func (c cursor) String() string {
	if c.sort == "" {
		dir := "n"
		if c.backward {
			dir = "p"
		}
		return dir + "." + strconv.FormatInt(c.at.LastUpdated.UnixMicro(), 10) + "." + c.at.Type + "." + c.at.ID
	}
	w := sortedWire{Back: c.backward, Sort: c.sort, LU: c.at.LastUpdated.UnixMicro(), Type: c.at.Type, ID: c.at.ID}
	if c.at.Sort != nil {
		for _, v := range c.at.Sort {
			w.Vals = append(w.Vals, formatSortValue(v))
		}
	} else {
		w.Vals = c.vals
	}
	b, _ := json.Marshal(w) // strings and numbers only: cannot fail
	return sortedPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// cursorAt is the cursor of a page's resource at position pos in the order of a search
// sorted by keys (none: the default order).
func cursorAt(pos store.Cursor, keys []store.SortKey, backward bool) cursor {
	c := cursor{backward: backward, at: pos}
	if len(keys) > 0 {
		c.sort = sortText(keys)
	} else {
		c.at.Sort = nil
	}
	return c
}
