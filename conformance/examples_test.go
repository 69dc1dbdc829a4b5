package conformance

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shch/fhirgw/conformance/fhirpkg"
	"github.com/shch/fhirgw/conformance/fhirtest"
	"github.com/shch/fhirgw/gateway/fhirjson"
)

type example struct {
	file string
	typ  string
	id   string
	body []byte
}

func loadExamples(t *testing.T) []example {
	t.Helper()
	dir := fhirpkg.TestDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	for _, f := range files {
		if filepath.Base(f) == "package.json" {
			continue
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := json.Unmarshal(body, &head); err != nil || head.ResourceType == "" {
			t.Fatalf("%s is not a resource: %v", f, err)
		}
		out = append(out, example{file: filepath.Base(f), typ: head.ResourceType, id: head.ID, body: body})
	}
	if len(out) < 5000 {
		t.Fatalf("only %d examples found in %s", len(out), dir)
	}
	return out
}

// withoutServerMeta removes what the server owns (meta.versionId, meta.lastUpdated, and
// meta itself when nothing else is in it) so the rest can be compared exactly.
func withoutServerMeta(t *testing.T, body []byte, dropID bool) []byte {
	t.Helper()
	obj, err := fhirjson.ParseObject(body)
	if err != nil {
		t.Fatal(err)
	}
	if dropID {
		obj = obj.Delete("id")
	}
	if raw, ok := obj.Get("meta"); ok {
		meta, err := fhirjson.ParseObject(raw)
		if err != nil {
			t.Fatal(err)
		}
		meta = meta.Delete("versionId").Delete("lastUpdated")
		if len(meta) == 0 {
			obj = obj.Delete("meta")
		} else {
			obj = obj.Set("meta", meta.Bytes())
		}
	}
	return obj.Bytes()
}

// Every official R4 example (all types, conformance resources included) is PUT and read
// back; what comes back equals what went in apart from the server's meta.
func TestExampleFidelity(t *testing.T) {
	examples := loadExamples(t)
	for _, kind := range fhirtest.Stores {
		t.Run(kind, func(t *testing.T) {
			s := fhirtest.Start(t, kind, fhirtest.Options{MaxBody: 64 << 20}) // two official Bundles exceed the 16 MiB default
			work := make(chan example)
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ex := range work {
						checkExample(t, s, ex)
					}
				}()
			}
			for _, ex := range examples {
				work <- ex
			}
			close(work)
			wg.Wait()
		})
	}
}

func checkExample(t *testing.T, s *fhirtest.Server, ex example) {
	path := ex.typ + "/" + ex.id
	dropID := false
	r := s.Do("PUT", path, ex.body)
	switch {
	case len(ex.id) > 64:
		// One official example has a 68-character id, longer than FHIR ids may be.
		// The server must refuse the PUT; the content itself is still stored by POST.
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: PUT with an over-long id: status %d, want 400", ex.file, r.Status)
			return
		}
		r = s.Do("POST", ex.typ, ex.body)
		dropID = true
	case r.Status != http.StatusCreated && r.Status != http.StatusOK:
		t.Errorf("%s: PUT %s: status %d: %.600s", ex.file, path, r.Status, r.Body)
		return
	}
	loc := r.Header.Get("Location")
	i := strings.Index(loc, "/_history/")
	if i < 0 {
		t.Errorf("%s: no Location: %q", ex.file, loc)
		return
	}
	got := s.Do("GET", loc[:i], nil)
	if got.Status != http.StatusOK {
		t.Errorf("%s: read back: status %d", ex.file, got.Status)
		return
	}
	equal, err := fhirjson.Equal(withoutServerMeta(t, got.Body, dropID), withoutServerMeta(t, ex.body, dropID))
	if err != nil || !equal {
		t.Errorf("%s: read back differs from the original (err %v):\n got %.400s\nwant %.400s", ex.file, err, got.Body, ex.body)
	}
}
