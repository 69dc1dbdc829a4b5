package v2fhir

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// mergeA40 merges two pairs: 张三's duplicate registration under MRN0099999
// into MRN0012345, and 李四's MRN0077777 (known also by ID card) into
// MRN0055555.
const mergeA40 = "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|20240305110000||ADT^A40^ADT_A39|M40-1|P|2.5\r" +
	"EVN|A40|20240305110000\r" +
	"PID|1||MRN0012345^^^SQ-CHC-01^MR~11010519491231002X^^^身份证^NNCHN||张三||19491231|1\r" +
	"MRG|MRN0099999^^^SQ-CHC-01^MR\r" +
	"PID|2||MRN0055555^^^SQ-CHC-01^MR||李四||19900101|1\r" +
	"PD1||||D001^李医生\r" +
	"MRG|MRN0077777^^^SQ-CHC-01^MR~310101199001011234^^^身份证^NNCHN||||||李四\r"

// patientID maps an A28 carrying pid and returns the Patient's id: the id any
// message about that patient gives it.
func patientID(t *testing.T, cfg Config, sender, pid string) string {
	t.Helper()
	r := mustMap(t, parse(t, "MSH|^~\\&|HIS|"+sender+"|||20240101||ADT^A28|X1|P|2.5\r"+pid+"\r"), cfg)
	return *patientOf(t, r).Id
}

func TestMergeA40(t *testing.T) {
	const mrn = "urn:oid:1.2.156.112604.1"
	cfg := Config{IdentifierSystems: map[string]string{"SQ-CHC-01": mrn}}
	r := mustMap(t, parse(t, mergeA40), cfg)
	if len(r.Merges) != 2 {
		t.Fatalf("got %d merges", len(r.Merges))
	}
	tests := []struct {
		survivorPID, mergedPID string
		merged                 []string // system|value
	}{
		{"PID|1||MRN0012345^^^SQ-CHC-01^MR", "PID|1||MRN0099999^^^SQ-CHC-01^MR",
			[]string{mrn + "|MRN0099999"}},
		{"PID|1||MRN0055555^^^SQ-CHC-01^MR", "PID|1||MRN0077777^^^SQ-CHC-01^MR~310101199001011234^^^身份证^NNCHN",
			[]string{mrn + "|MRN0077777", IDCardSystemWST500 + "|310101199001011234"}},
	}
	for i, tc := range tests {
		mg := r.Merges[i]
		if mg.MRG != i+1 {
			t.Errorf("merge %d: MRG = %d", i, mg.MRG)
		}
		if want := patientID(t, cfg, "SQ-CHC-01", tc.survivorPID); mg.Survivor.ID != want {
			t.Errorf("merge %d: survivor id %s, an ADT with its PID makes %s", i, mg.Survivor.ID, want)
		}
		if want := patientID(t, cfg, "SQ-CHC-01", tc.mergedPID); mg.MergedID != want {
			t.Errorf("merge %d: merged id %s, an ADT with its identifiers makes %s", i, mg.MergedID, want)
		}
		var got []string
		for _, id := range mg.Merged {
			got = append(got, value(id.System)+"|"+value(id.Value))
		}
		if strings.Join(got, " ") != strings.Join(tc.merged, " ") {
			t.Errorf("merge %d: merged identifiers %v, want %v", i, got, tc.merged)
		}
		var p fhir.Patient
		if err := json.Unmarshal(mg.Survivor.JSON, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Link) != 1 || p.Link[0].Type != fhir.LinkTypeReplaces || value(p.Link[0].Other.Reference) != "Patient/"+mg.MergedID {
			t.Errorf("merge %d: survivor links %+v", i, p.Link)
		}
		if p.Active != nil {
			t.Errorf("merge %d: survivor active set by the mapper", i)
		}
	}
	if ps := r.Find("Patient"); len(ps) != 2 {
		t.Errorf("Resources hold %d Patients, want the 2 survivors", len(ps))
	}
	if len(r.Find("Practitioner")) != 1 {
		t.Errorf("PD1-4 practitioner not mapped")
	}
	// The Bundle must not write the survivors: a plain PUT would replace the stored
	// records without the merge.
	var raw struct {
		Entry []struct {
			Request struct{ URL string } `json:"request"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.Bundle(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, e := range raw.Entry {
		if strings.HasPrefix(e.Request.URL, "Patient") {
			t.Errorf("Bundle writes %s", e.Request.URL)
		}
	}
}

// TestMergeCorpus maps the corpus A40 and compares it with FHIR-Converter's
// Linkage: its source is our survivor, its historical item our merged Patient.
func TestMergeCorpus(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(corpusDir, "messages", "ADT-A40-01.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	r := mustMap(t, parse(t, string(data)), corpusConfig)
	if len(r.Merges) != 1 {
		t.Fatalf("got %d merges", len(r.Merges))
	}
	exp := loadExpected(t, "ADT_A40", "ADT-A40-01")
	links := byType(exp, "Linkage")
	if len(links) != 1 {
		t.Fatalf("expected output has %d Linkages", len(links))
	}
	items := map[string]obj{}
	for _, it := range list(links[0]["item"]) {
		it := it.(obj)
		items[str(it["type"])] = it["resource"].(obj)["identifier"].(obj)
	}
	is := func(system, val string, want obj) bool {
		return system == str(want["system"]) && val == str(want["value"])
	}
	mg := r.Merges[0]
	var p fhir.Patient
	if err := json.Unmarshal(mg.Survivor.JSON, &p); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(p.Identifier, func(id fhir.Identifier) bool { return is(value(id.System), value(id.Value), items["source"]) }) {
		t.Errorf("survivor identifiers %s lack FHIR-Converter's source %v", mg.Survivor.JSON, items["source"])
	}
	if !slices.ContainsFunc(mg.Merged, func(id fhir.Identifier) bool { return is(value(id.System), value(id.Value), items["historical"]) }) {
		t.Errorf("merged identifiers %+v lack FHIR-Converter's historical %v", mg.Merged, items["historical"])
	}
	if value(p.Name[0].Family) != "Test" || value(p.BirthDate) != "2018-02-05" || p.Gender == nil || *p.Gender != fhir.AdministrativeGenderFemale {
		t.Errorf("survivor demographics from PID: %s", mg.Survivor.JSON)
	}
}

func TestMergeErrors(t *testing.T) {
	const msh = "MSH|^~\\&|HIS|SQ-CHC-01|||20240305||ADT^A40|E1|P|2.5\rEVN|A40|20240305\r"
	tests := []struct {
		name, body, want string
	}{
		{"no MRG", "PID|1||M1^^^H^MR\r", "PID without MRG"},
		{"MRG first", "MRG|M2^^^H^MR\rPID|1||M1^^^H^MR\r", "no PID before it"},
		{"two PIDs", "PID|1||M1^^^H^MR\rPID|2||M3^^^H^MR\rMRG|M2^^^H^MR\r", "PID without MRG"},
		{"empty MRG", "PID|1||M1^^^H^MR\rMRG|||||||SMITH\r", "no prior patient identifier"},
		{"same patient", "PID|1||M1^^^H^MR\rMRG|M1^^^H^MR\r", "names the patient of its PID"},
		{"no PID id", "PID|1||||X\rMRG|M2^^^H^MR\r", "no patient identifier"},
		{"nothing", "", "no PID and MRG"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Map(parse(t, msh+tc.body), Config{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMergeTriggers(t *testing.T) {
	body := "EVN||20240305\rPID|1||M1^^^H^MR\rMRG|M2^^^H^MR\r"
	for _, tc := range []struct {
		trigger string
		merge   bool
	}{{"A40", true}, {"A34", true}, {"A36", true}, {"A39", true}, {"A35", false}} {
		r, err := Map(parse(t, "MSH|^~\\&|HIS|H|||20240305||ADT^"+tc.trigger+"|T1|P|2.5\r"+body), Config{})
		switch {
		case !tc.merge && !errors.Is(err, ErrUnsupported):
			t.Errorf("%s: err = %v, want unsupported (an account merge moves no Patient)", tc.trigger, err)
		case tc.merge && (err != nil || len(r.Merges) != 1):
			t.Errorf("%s: err = %v", tc.trigger, err)
		}
	}
	// The same survivor twice: one Patient replacing both.
	r := mustMap(t, parse(t, "MSH|^~\\&|HIS|H|||20240305||ADT^A40|T2|P|2.5\r"+
		"PID|1||M1^^^H^MR\rMRG|M2^^^H^MR\rPID|2||M1^^^H^MR\rMRG|M3^^^H^MR\r"), Config{})
	p := patientOf(t, r)
	if len(r.Merges) != 2 || len(p.Link) != 2 || value(p.Link[0].Other.Reference) == value(p.Link[1].Other.Reference) {
		t.Errorf("survivor of two merges: %d merges, links %+v", len(r.Merges), p.Link)
	}
	if string(r.Merges[0].Survivor.JSON) != string(r.Merges[1].Survivor.JSON) {
		t.Errorf("the two pairs carry different survivors")
	}
}
