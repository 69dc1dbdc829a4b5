package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

func TestMessageFactory(t *testing.T) {
	f, err := newMessageFactory("../../testdata/hl7v2/messages", "adt:1,oru:1", "T-")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	kinds := map[string]int{}
	ids := map[string]string{} // segment|identifier -> control id of the first message with it
	rewritten := map[string]int{}
	for range 200 {
		raw, id := f.next(rng)
		m, err := hl7v2.Parse(raw)
		if err != nil {
			t.Fatalf("generated message does not parse: %v", err)
		}
		if m.ControlID() != id {
			t.Fatalf("MSH-10 %q, want %q", m.ControlID(), id)
		}
		mrn := m.Get("PID-3.1")
		if mrn == "" || seen[mrn] {
			t.Fatalf("PID-3.1 %q empty or repeated", mrn)
		}
		seen[mrn] = true
		if m.Get("MSH-15") != "" || m.Get("MSH-16") != "" {
			t.Fatalf("enhanced acknowledgement mode left on: MSH-15 %q MSH-16 %q", m.Get("MSH-15"), m.Get("MSH-16"))
		}
		code, _, _ := m.Type()
		kinds[code]++
		// Business identifiers that give resources their ids must not repeat across
		// messages, or the load measures lock waits on one shared resource.
		for seg, field := range map[string]int{"PV1": 19, "ORC": 2, "OBR": 3, "DG1": 20, "SPM": 2, "OBX": 21, "PR1": 19} {
			for _, sg := range m.AllSegments(seg) {
				v := sg.Field(field).Rep(1).Component(1).String()
				if v == "" {
					continue
				}
				key := seg + "|" + v
				if owner, ok := ids[key]; ok && owner != id {
					t.Fatalf("%s-%d %q repeats in messages %s and %s", seg, field, v, owner, id)
				}
				ids[key] = id
				rewritten[seg]++
			}
		}
	}
	for _, seg := range []string{"PV1", "OBR", "OBX", "PR1"} {
		if rewritten[seg] == 0 {
			t.Errorf("no %s identifier in the generated messages: the check above tested nothing", seg)
		}
	}
	if kinds["ADT"] == 0 || kinds["ORU"] == 0 || kinds["ADT"]+kinds["ORU"] != 200 {
		t.Fatalf("mix %v", kinds)
	}
	for _, bad := range []string{"adt", "xyz:1", "adt:-1", "adt:0"} {
		if _, err := newMessageFactory("../../testdata/hl7v2/messages", bad, "T-"); err == nil {
			t.Errorf("mix %q: no error", bad)
		}
	}
}

func TestMetricValue(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"+
			"# TYPE process_cpu_seconds_total counter\n"+
			"process_cpu_seconds_total_extra 9\n"+
			"process_cpu_seconds_total 12.5\n"+
			"process_resident_memory_bytes 5.2e+07\n")
	}))
	defer srv.Close()
	tests := []struct {
		url, name string
		want      float64
		wantErr   bool
	}{
		{srv.URL, "process_cpu_seconds_total", 12.5, false},
		{srv.URL, "process_resident_memory_bytes", 5.2e7, false},
		{srv.URL, "go_goroutines", 0, true},
		{"", "process_cpu_seconds_total", 0, true},
	}
	for _, tt := range tests {
		got, err := metricValue(context.Background(), tt.url, tt.name)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("metricValue(%q, %q) = %v, %v; want %v, error %v", tt.url, tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}
