package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/index"
	"github.com/shch/fhirgw/gateway/searchparam"
	"github.com/shch/fhirgw/gateway/store"
)

func TestIDCardCheck(t *testing.T) {
	// Published examples of valid GB 11643 numbers, one with the X check character.
	for _, card := range []string{"11010519491231002X", "440524188001010014", "110101199003074477"} {
		if got := IDCardCheck(card[:17]); got != card[17] {
			t.Errorf("IDCardCheck(%s) = %c, want %c", card[:17], got, card[17])
		}
	}
}

func TestPatientDeterministicAndValid(t *testing.T) {
	p := NewPopulation(1, 2000, 20)
	seen := map[string]int{}
	for i := -1; i < p.Patients; i++ {
		pt := p.Patient(i)
		if again := p.Patient(i); again != pt {
			t.Fatalf("patient %d differs between calls: %+v vs %+v", i, pt, again)
		}
		card := pt.IDCard
		if len(card) != 18 || IDCardCheck(card[:17]) != card[17] {
			t.Fatalf("patient %d: invalid card %q", i, card)
		}
		if card[6:14] != pt.Birth.Format("20060102") {
			t.Errorf("patient %d: card %s does not encode birth date %s", i, card, pt.Birth.Format("2006-01-02"))
		}
		if male := (card[16]-'0')%2 == 1; male != pt.Male {
			t.Errorf("patient %d: card %s sex digit disagrees with male=%v", i, card, pt.Male)
		}
		if j, dup := seen[card]; dup {
			t.Errorf("patients %d and %d share card %s", j, i, card)
		}
		seen[card] = i
	}
	if NewPopulation(2, 10, 20).Patient(3) == p.Patient(3) {
		t.Error("a different seed gave the same patient")
	}
}

func TestPopulationShape(t *testing.T) {
	p := NewPopulation(7, 30, 20)
	all := p.Directory()
	all = append(all, p.Compartment(-1)...)
	if n := len(p.Compartment(-1)); n != Bench500Size {
		t.Errorf("%s compartment has %d resources, want %d", Bench500, n, Bench500Size)
	}
	for i := range p.Patients {
		c := p.Compartment(i)
		if len(c) != 1+20+2+1+1 {
			t.Fatalf("patient %d has %d resources", i, len(c))
		}
		all = append(all, c...)
	}
	if len(all) != p.Total() {
		t.Errorf("Total() = %d, generated %d", p.Total(), len(all))
	}
	ids := map[string]bool{}
	for _, e := range all {
		key := e.Type + "/" + e.ID
		if ids[key] {
			t.Errorf("duplicate %s", key)
		}
		ids[key] = true
	}
	ix, errs := index.NewExtractor(searchparam.Official(), fhirschema.ResourceTypes(), nil)
	if len(errs) > 0 {
		t.Logf("extractor left out %d parameters", len(errs))
	}
	ctx := context.Background()
	for _, e := range all {
		var v map[string]any
		if err := json.Unmarshal(e.Body, &v); err != nil {
			t.Fatalf("%s/%s: %v", e.Type, e.ID, err)
		}
		if v["resourceType"] != e.Type || v["id"] != e.ID {
			t.Errorf("%s/%s: body says %v/%v", e.Type, e.ID, v["resourceType"], v["id"])
		}
		x, err := ix.Index(ctx, e.Type, e.Body)
		if err != nil {
			t.Fatalf("index %s/%s: %v", e.Type, e.ID, err)
		}
		// Every reference must resolve within the population, since the load
		// relies on the directory and the compartment being complete.
		for _, r := range x.References {
			if r.TargetType != "" && !ids[r.TargetType+"/"+r.TargetID] {
				t.Errorf("%s/%s: %s refers to missing %s/%s", e.Type, e.ID, r.Param, r.TargetType, r.TargetID)
			}
		}
		if e.Type == "Observation" {
			checkObservationIndex(t, e, x)
		}
	}
}

// checkObservationIndex checks that the values the search bench queries are indexed.
func checkObservationIndex(t *testing.T, e Entry, x *store.Index) {
	t.Helper()
	var code, date, subject bool
	for _, tok := range x.Tokens {
		code = code || (tok.Param == "code" && tok.System == LOINC)
	}
	for _, d := range x.Dates {
		date = date || (d.Param == "date" && !d.Low.Before(ObsEpoch) && d.Low.Before(ObsEpoch.AddDate(3, 0, 0)))
	}
	for _, r := range x.References {
		subject = subject || (r.Param == "subject" && r.TargetType == "Patient")
	}
	if !code || !date || !subject {
		t.Errorf("%s: code %v, date in range %v, subject %v indexed", e.ID, code, date, subject)
	}
}

func TestQueriesUsePopulationValues(t *testing.T) {
	p := NewPopulation(1, 100, 20)
	for _, c := range SearchClasses {
		q, err := p.Query(c, newRand(1))
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if !strings.Contains(q, "?") {
			t.Errorf("%s: query %q has no parameters", c, q)
		}
	}
	if _, err := p.Query("nonsense", newRand(1)); err == nil {
		t.Error("unknown class accepted")
	}
	q, _ := p.Query(TokenIdentifier, newRand(3))
	found := false
	for i := range p.Patients {
		found = found || strings.HasSuffix(q, p.Patient(i).IDCard)
	}
	if !found {
		t.Errorf("identifier query %q names no patient of the population", q)
	}
}

func TestTransactionBundle(t *testing.T) {
	p := NewPopulation(1, 1, 20)
	b := TransactionBundle(p.Compartment(0))
	var v struct {
		Type  string `json:"type"`
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
			Request  struct{ Method, URL string }
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Type != "transaction" || len(v.Entry) != 25 {
		t.Fatalf("type %q with %d entries", v.Type, len(v.Entry))
	}
	for _, e := range v.Entry {
		if e.Request.Method != "PUT" || !bytes.Contains(e.Resource, []byte(`"id":"`+strings.Split(e.Request.URL, "/")[1]+`"`)) {
			t.Errorf("entry %s %s does not PUT its own id", e.Request.Method, e.Request.URL)
		}
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }
