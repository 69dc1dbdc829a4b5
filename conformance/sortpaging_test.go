package conformance

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/shch/fhirgw/conformance/fhirtest"
)

// sortedObservation is an Observation whose date, code and value repeat across
// resources and are sometimes missing, so that sorting meets ties and missing values.
func sortedObservation(id string, i int) string {
	var parts []string
	parts = append(parts, `"resourceType":"Observation"`, `"id":"`+id+`"`, `"status":"final"`)
	parts = append(parts, fmt.Sprintf(`"code":{"coding":[{"system":"http://loinc.org","code":"%s"}]}`, []string{"8480-6", "8462-4", "15074-8"}[i%3]))
	if i%4 != 3 {
		parts = append(parts, fmt.Sprintf(`"effectiveDateTime":"2024-0%d-1%d"`, 1+i%5, i%3))
	}
	if i%5 != 1 {
		parts = append(parts, fmt.Sprintf(`"valueQuantity":{"value":%d.%d,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}`, 100+i%4, i%2))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// page is one search result page: its match ids in order and its links.
type page struct {
	ids   []string
	links map[string]string // relation -> path under the base
	total string
}

func getPage(t *testing.T, s *fhirtest.Server, path string) page {
	t.Helper()
	b := s.Must(http.StatusOK, "GET", path, nil).JSON(t)
	p := page{links: map[string]string{}, total: fmt.Sprint(b["total"])}
	for _, e := range asSlice(b["entry"]) {
		em := e.(map[string]any)
		if str(em, "search", "mode") == "match" {
			p.ids = append(p.ids, fmt.Sprint(em["resource"].(map[string]any)["id"]))
		}
	}
	for _, l := range asSlice(b["link"]) {
		lm := l.(map[string]any)
		u, err := url.Parse(lm["url"].(string))
		if err != nil {
			t.Fatalf("link %v: %v", lm, err)
		}
		p.links[fmt.Sprint(lm["relation"])] = strings.TrimPrefix(u.Path[strings.LastIndex(u.Path, "/")+1:], "/") + "?" + u.RawQuery
	}
	return p
}

// Sorted searches page through next links whose cursor continues after the last
// row's sort values: while resources are created and deleted between pages, none that
// exists throughout is skipped or repeated, and previous links walk back.
func TestSortedPaging(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		const n = 22
		for i := range n {
			id := fmt.Sprintf("so%02d", i)
			s.Must(http.StatusCreated, "PUT", "Observation/"+id, []byte(sortedObservation(id, i)))
		}
		const sortQ = "_sort=-date,code,-value-quantity"
		all := getPage(t, s, "Observation?"+sortQ+"&_count=100")
		if len(all.ids) != n {
			t.Fatalf("full listing has %d matches, want %d", len(all.ids), n)
		}
		// Missing dates (every fourth resource) come last, although the key descends.
		for i, id := range all.ids {
			var k int
			fmt.Sscanf(id, "so%d", &k)
			if (k%4 == 3) != (i >= n-n/4) {
				t.Errorf("position %d holds %s: resources without a date must come last: %v", i, id, all.ids)
			}
		}

		// Forwards, unchanged data: the pages join up into the full listing.
		var pages [][]string
		next := "Observation?" + sortQ + "&_count=5"
		var last page
		for next != "" {
			last = getPage(t, s, next)
			pages = append(pages, last.ids)
			if _, ok := last.links["next"]; ok && !strings.Contains(last.links["next"], "_page=k.") {
				t.Fatalf("next link of a sorted search has no sorted cursor: %s", last.links["next"])
			}
			next = last.links["next"]
			if len(pages) > n {
				t.Fatal("paging does not end")
			}
		}
		if got := slices.Concat(pages...); !slices.Equal(got, all.ids) {
			t.Errorf("pages joined:\n got %v\nwant %v", got, all.ids)
		}
		// Backwards through previous links: the same pages in reverse.
		prev := last.links["previous"]
		for i := len(pages) - 2; i >= 0; i-- {
			if prev == "" {
				t.Fatalf("page %d has no previous link", i+1)
			}
			p := getPage(t, s, prev)
			if !slices.Equal(p.ids, pages[i]) {
				t.Errorf("walking back, page %d = %v, want %v", i, p.ids, pages[i])
			}
			prev = p.links["previous"]
		}
		if prev != "" {
			t.Errorf("the first page, reached backwards, has a previous link %s", prev)
		}

		// _offset still works and its links continue by cursor.
		p := getPage(t, s, "Observation?"+sortQ+"&_count=5&_offset=5")
		if !slices.Equal(p.ids, pages[1]) {
			t.Errorf("_offset=5 = %v, want %v", p.ids, pages[1])
		}
		if q := getPage(t, s, p.links["next"]); !slices.Equal(q.ids, pages[2]) {
			t.Errorf("next after _offset=5 = %v, want %v", q.ids, pages[2])
		}

		// Forwards while resources are created (copies of existing ones, which tie with
		// them on every sort key) and deleted (one already seen, one not yet) between
		// pages.
		seen := map[string]int{}
		deleted := map[string]bool{}
		next = "Observation?" + sortQ + "&_count=5"
		for k := 0; next != ""; k++ {
			p := getPage(t, s, next)
			for _, id := range p.ids {
				seen[id]++
			}
			for j, src := range []int{k, 7 + k, 21 - k} {
				id := fmt.Sprintf("new%d-%d", k, j)
				s.Must(http.StatusCreated, "PUT", "Observation/"+id, []byte(sortedObservation(id, src)))
			}
			for _, id := range []string{all.ids[min(5*k, n-1)], all.ids[min(5*k+8, n-1)]} {
				if !deleted[id] {
					deleted[id] = true
					s.Must(http.StatusNoContent, "DELETE", "Observation/"+id, nil)
				}
			}
			next = p.links["next"]
			if k > n {
				t.Fatal("paging does not end")
			}
		}
		for id, c := range seen {
			if c > 1 {
				t.Errorf("%s seen %d times", id, c)
			}
		}
		for _, id := range all.ids {
			if !deleted[id] && seen[id] != 1 {
				t.Errorf("%s, present throughout, seen %d times", id, seen[id])
			}
		}
	})
}

// A _page value the server did not make, or made for another search order, is a 400
// with an OperationOutcome.
func TestSortedPagingBadCursor(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		for i := range 6 {
			id := fmt.Sprintf("so%02d", i)
			s.Must(http.StatusCreated, "PUT", "Observation/"+id, []byte(sortedObservation(id, i)))
		}
		first := getPage(t, s, "Observation?_sort=-date,code&_count=2")
		next, err := url.ParseQuery(first.links["next"][strings.Index(first.links["next"], "?")+1:])
		if err != nil {
			t.Fatal(err)
		}
		good := next.Get("_page")
		enc := func(json string) string { return "k." + base64.RawURLEncoding.EncodeToString([]byte(json)) }
		for _, q := range []string{
			"Observation?_sort=-date,code&_page=k.!!!",
			"Observation?_sort=-date,code&_page=" + enc(`{"s":"-date,code","v":["x",null],"t":1,"y":"Observation","i":"so01"}`),        // not a date
			"Observation?_sort=-date,code&_page=" + enc(`{"s":"-date,code","v":[null],"t":1,"y":"Observation","i":"so01"}`),            // too few values
			"Observation?_sort=-date,code&_page=" + enc(`{"s":"-date,code","v":[null,null],"t":1,"y":"Observation","i":"so01","z":1}`), // unknown field
			"Observation?_sort=-date,code&_page=" + enc(`[1,2]`),
			"Observation?_sort=date&_page=" + url.QueryEscape(good), // made for another order
			"Observation?_page=" + url.QueryEscape(good),            // made for a sorted search
			"Observation?_sort=date&_page=n.1.Observation.so01",     // a default-order cursor
		} {
			r := s.Do("GET", q, nil)
			if r.Status != http.StatusBadRequest || fmt.Sprint(r.JSON(t)["resourceType"]) != "OperationOutcome" {
				t.Errorf("%s: status %d, body %.200s; want 400 OperationOutcome", q, r.Status, r.Body)
			}
		}
		// The cursor as made works.
		if p := getPage(t, s, "Observation?_sort=-date,code&_count=2&_page="+url.QueryEscape(good)); len(p.ids) != 2 {
			t.Errorf("second page = %v", p.ids)
		}
	})
}

// _total=estimate returns a number; accurate stays exact.
func TestTotalEstimate(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		for i := range 7 {
			id := fmt.Sprintf("so%02d", i)
			s.Must(http.StatusCreated, "PUT", "Observation/"+id, []byte(sortedObservation(id, i)))
		}
		for _, q := range []string{"Observation?_total=accurate&_count=2", "Observation?_total=estimate&_count=2", "Observation?_total=estimate&_summary=count"} {
			if p := getPage(t, s, q); p.total != "7" {
				t.Errorf("%s: total %s, want 7", q, p.total)
			}
		}
		if p := getPage(t, s, "Observation?code=8480-6&_total=estimate&_count=1"); p.total != "3" {
			t.Errorf("estimate of a small result: total %s, want 3 (exact)", p.total)
		}
	})
}
