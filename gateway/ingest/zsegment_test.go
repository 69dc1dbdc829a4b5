package ingest

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/shch/fhirgw/mappers/v2fhir"
)

// TestZSegmentExtensions checks that the Z segment fields a sender configured are
// stored as extensions on its Patient and Encounter, and that the raw message,
// Z segments and all, is stored as received.
func TestZSegmentExtensions(t *testing.T) {
	const sd = "http://sh-health.example/fhir/StructureDefinition/"
	cfg := Config{Mapping: v2fhir.Config{Senders: map[string]v2fhir.Sender{"SQ-CHC-01": {ZSegments: map[string]v2fhir.ZSegment{
		"ZPI": {Resource: "Patient", Fields: []v2fhir.ZField{{Field: 1, URL: sd + "resident-health-record-number"}}},
		"ZPV": {Resource: "Encounter", Fields: []v2fhir.ZField{
			{Field: 2, Component: 2, URL: sd + "family-doctor-team"}, {Field: 5, URL: sd + "contract-status"}}},
	}}}}}
	raw := hospitalADT("A04", "Z1", "20240301093000", "") +
		"ZPI|310115SL0012345\r" +
		"ZPV|1|T05^三林家庭医生第五团队|D001^李医生|20230401|1^已签约\r"
	type extension struct {
		URL         string `json:"url"`
		ValueString string `json:"valueString"`
	}
	stored := func(t *testing.T, e *env, typ, id string) []extension {
		t.Helper()
		var r struct {
			Extension []extension `json:"extension"`
		}
		if err := json.Unmarshal(e.read(typ, id).Body, &r); err != nil {
			t.Fatal(err)
		}
		return r.Extension
	}
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, cfg)
			out := e.process(raw)
			e.ack(out.ACK, "AA")
			m := e.message(out.MessageID)
			if string(m.Raw) != raw {
				t.Errorf("stored raw message differs from the one received")
			}
			pats, encs := produced(m, "Patient"), produced(m, "Encounter")
			if len(pats) != 1 || len(encs) != 1 {
				t.Fatalf("produced Patients %v, Encounters %v", pats, encs)
			}
			wantPatient := []extension{{sd + "resident-health-record-number", "310115SL0012345"}}
			if got := stored(t, e, "Patient", pats[0]); !slices.Equal(got, wantPatient) {
				t.Errorf("Patient extensions %v, want %v", got, wantPatient)
			}
			wantEncounter := []extension{{sd + "family-doctor-team", "三林家庭医生第五团队"}, {sd + "contract-status", "1"}}
			if got := stored(t, e, "Encounter", encs[0]); !slices.Equal(got, wantEncounter) {
				t.Errorf("Encounter extensions %v, want %v", got, wantEncounter)
			}

			// An update without the Z segments keeps the Patient's extensions, as any
			// element the message does not carry.
			out = e.process(hospitalADT("A08", "Z2", "20240302093000", ""))
			e.ack(out.ACK, "AA")
			if got := stored(t, e, "Patient", pats[0]); !slices.Equal(got, wantPatient) {
				t.Errorf("after A08: Patient extensions %v, want %v", got, wantPatient)
			}
		})
	}
}
