package interaction

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/gateway/store/sqlite/sqlitetest"
)

// retryingStore runs every write transaction twice, rolling the first attempt back,
// as PostgreSQL's store does after a serialization failure or deadlock.
type retryingStore struct{ store.Store }

var errFirstAttempt = errors.New("first attempt rolled back")

func (s retryingStore) Update(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	err := s.Store.Update(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		return errFirstAttempt
	})
	if !errors.Is(err, errFirstAttempt) {
		return err
	}
	return s.Store.Update(ctx, fn)
}

// A retried transaction rewrites urn:uuid references with the ids of the attempt
// that commits, not with those of the attempt rolled back.
func TestTransactionRetryRewritesAgain(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.New(t)
	ix, _ := index.NewExtractor(searchparam.Official(), fhirschema.ResourceTypes(), nil)
	svc := New(retryingStore{st}, ix, Config{BaseURL: "http://fhir.test/fhir"})
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:aaaaaaaa-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","name":[{"text":"赵六"}]},"request":{"method":"POST","url":"Patient"}},
	 {"resource":{"resourceType":"Observation","status":"final","code":{"text":"体温"},"subject":{"reference":"urn:uuid:aaaaaaaa-0000-4000-8000-000000000001"}},"request":{"method":"POST","url":"Observation"}}
	]}`
	resp := svc.Handle(ctx, &Request{Method: http.MethodPost, Path: "", ContentType: "application/fhir+json", Body: []byte(tx)})
	if resp.Status != http.StatusOK {
		t.Fatalf("transaction: %d %s", resp.Status, resp.Body)
	}
	var b struct {
		Entry []struct {
			Response struct{ Location string } `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(resp.Body, &b); err != nil || len(b.Entry) != 2 {
		t.Fatalf("response %s: %v", resp.Body, err)
	}
	obs := svc.Handle(ctx, &Request{Method: http.MethodGet, Path: trimHistory(b.Entry[1].Response.Location)})
	var o struct {
		Subject struct{ Reference string } `json:"subject"`
	}
	if err := json.Unmarshal(obs.Body, &o); err != nil {
		t.Fatal(err)
	}
	if want := trimHistory(b.Entry[0].Response.Location); o.Subject.Reference != want {
		t.Fatalf("Observation.subject = %q, want the committed Patient %q", o.Subject.Reference, want)
	}
	if r := svc.Handle(ctx, &Request{Method: http.MethodGet, Path: o.Subject.Reference}); r.Status != http.StatusOK {
		t.Errorf("the subject does not exist: %d", r.Status)
	}
}

// trimHistory turns "Patient/1/_history/1" into "Patient/1".
func trimHistory(loc string) string {
	for i, n := 0, 0; i < len(loc); i++ {
		if loc[i] == '/' {
			if n++; n == 2 {
				return loc[:i]
			}
		}
	}
	return loc
}
