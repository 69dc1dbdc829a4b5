package conformance

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shch/fhirgw/conformance/fhirtest"
)

// Concurrent updates with If-Match: for each version exactly one writer wins, and no
// successful update is lost.
func TestConcurrentIfMatchUpdates(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		s.Must(http.StatusCreated, "PUT", "Patient/c1", []byte(`{"resourceType":"Patient","id":"c1"}`))
		const workers, rounds = 8, 6
		var mu sync.Mutex
		winners := map[string][]int{} // version written -> workers that got it
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for r := 0; r < rounds; r++ {
					cur := s.Do("GET", "Patient/c1", nil)
					etag := cur.Header.Get("ETag")
					body := fmt.Sprintf(`{"resourceType":"Patient","id":"c1","name":[{"text":"writer %d round %d"}]}`, w, r)
					resp := s.Do("PUT", "Patient/c1", []byte(body), "If-Match", etag)
					switch resp.Status {
					case http.StatusOK:
						mu.Lock()
						v := resp.Header.Get("ETag")
						winners[v] = append(winners[v], w)
						mu.Unlock()
					case http.StatusPreconditionFailed, http.StatusConflict:
					default:
						t.Errorf("unexpected status %d: %s", resp.Status, resp.Body)
					}
				}
			}(w)
		}
		wg.Wait()
		for v, ws := range winners {
			if len(ws) != 1 {
				t.Errorf("version %s was won by %d writers", v, len(ws))
			}
		}
		final := s.Must(http.StatusOK, "GET", "Patient/c1", nil)
		want := fmt.Sprintf(`W/"%d"`, len(winners)+1)
		if final.Header.Get("ETag") != want {
			t.Errorf("final version %s, want %s (1 + %d successful updates)", final.Header.Get("ETag"), want, len(winners))
		}
		h := s.Must(http.StatusOK, "GET", "Patient/c1/_history?_count=1000", nil)
		if n := strings.Count(string(h.Body), `"fullUrl"`); n != len(winners)+1 {
			t.Errorf("history has %d versions, want %d", n, len(winners)+1)
		}
	})
}

// Concurrent conditional creates with the same criteria make one resource.
func TestConcurrentConditionalCreate(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		for i := range statuses {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := s.Do("POST", "Patient", []byte(`{"resourceType":"Patient","identifier":[{"system":"urn:oid:2.16.156.10011.1.3","value":"310101199001011234"}]}`),
					"If-None-Exist", "identifier=urn:oid:2.16.156.10011.1.3|310101199001011234")
				statuses[i] = r.Status
			}(i)
		}
		wg.Wait()
		created := 0
		for _, st := range statuses {
			switch st {
			case http.StatusCreated:
				created++
			case http.StatusOK:
			default:
				t.Errorf("status %d", st)
			}
		}
		b := s.Must(http.StatusOK, "GET", "Patient?identifier=310101199001011234", nil).JSON(t)
		if created != 1 || fmt.Sprint(b["total"]) != "1" {
			t.Errorf("%d creates, %v patients; want exactly one", created, b["total"])
		}
	})
}

// Many concurrent updates, more than the store's connection pool holds, all finish:
// nothing in the update path takes a second connection while holding a transaction.
func TestConcurrentUpdatesBeyondPool(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		const n = 48
		for i := range n {
			s.Must(http.StatusCreated, "PUT", fmt.Sprintf("Patient/pool%d", i), []byte(fmt.Sprintf(`{"resourceType":"Patient","id":"pool%d","active":true}`, i)))
		}
		done := make(chan int, n)
		for i := range n {
			go func() {
				body := fmt.Sprintf(`{"resourceType":"Patient","id":"pool%d","active":%v}`, i, i%2 == 0) // half unchanged
				done <- s.Do("PUT", fmt.Sprintf("Patient/pool%d", i), []byte(body)).Status
			}()
		}
		timeout := time.After(60 * time.Second)
		for range n {
			select {
			case st := <-done:
				if st != http.StatusOK {
					t.Errorf("update status %d", st)
				}
			case <-timeout:
				t.Fatal("concurrent updates did not finish within 60s")
			}
		}
	})
}

// Concurrent creates commit together (package groupcommit): each client still gets
// its own resource, with its own id, version 1 and the content it sent, and a
// create that is invalid fails alone.
func TestConcurrentCreates(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		const clients = 48
		locations := make([]string, clients)
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"resourceType":"Patient","identifier":[{"system":"urn:test:cc","value":"c%d"}],"birthDate":"1980-01-%02d","_birthDate":{"extension":[{"url":"urn:test:c","valueString":"c%d"}]}}`, c, 1+c%28, c)
				if c%7 == 3 { // structurally invalid: must fail with 422 and take no one with it
					body = `{"resourceType":"Patient","birthDate":12}`
				}
				resp := s.Do("POST", "Patient", []byte(body))
				switch {
				case c%7 == 3 && resp.Status != http.StatusUnprocessableEntity:
					t.Errorf("client %d: invalid create answered %d", c, resp.Status)
				case c%7 != 3 && resp.Status != http.StatusCreated:
					t.Errorf("client %d: status %d: %s", c, resp.Status, resp.Body)
				case c%7 != 3:
					locations[c] = resp.Header.Get("Location")
				}
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for c, loc := range locations {
			if c%7 == 3 {
				continue
			}
			_, path, ok := strings.Cut(loc, "/fhir/")
			if !ok || !strings.HasSuffix(path, "/_history/1") {
				t.Fatalf("client %d: Location %q", c, loc)
			}
			path = strings.TrimSuffix(path, "/_history/1")
			if seen[path] {
				t.Fatalf("two clients were given %s", path)
			}
			seen[path] = true
			got := s.Must(http.StatusOK, "GET", path, nil).JSON(t)
			ids := got["identifier"].([]any)
			if v := ids[0].(map[string]any)["value"]; v != fmt.Sprintf("c%d", c) {
				t.Errorf("client %d reads back identifier %v", c, v)
			}
			if _, ok := got["_birthDate"]; !ok {
				t.Errorf("client %d: primitive extension lost", c)
			}
		}
		bundle := s.Must(http.StatusOK, "GET", "Patient?identifier=urn:test:cc|&_summary=count", nil).JSON(t)
		if n := fmt.Sprint(bundle["total"]); n != fmt.Sprint(len(seen)) {
			t.Errorf("search finds %s created patients, want %d", n, len(seen))
		}
	})
}
