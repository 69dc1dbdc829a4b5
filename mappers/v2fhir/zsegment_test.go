package v2fhir

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// testdata/adt/adt-a04-family-doctor.hl7 is an outpatient registration at the
// Sanlin community health centre. Its HIS adds its own segments: ZPI (the
// resident health record number and its status, and a null), one ZPC per
// institution of the resident's "1+1+1" family doctor contract, ZPV (the family
// doctor team, the contracted doctor, signing date, contract status and service
// packages, with an escaped "&") and ZJK (the yearly health assessment), which
// the configuration below leaves out.

const sdBase = "http://sh-health.example/fhir/StructureDefinition/"

// familyDoctorZ is the Sanlin HIS's Z segment configuration.
var familyDoctorZ = map[string]ZSegment{
	"ZPI": {Resource: "Patient", Fields: []ZField{
		{Field: 2, URL: sdBase + "resident-health-record-number"},
		{Field: 3, Component: 2, URL: sdBase + "health-record-status"},
		{Field: 4, URL: sdBase + "null-field"},
	}},
	"ZPC": {Resource: "Patient", Fields: []ZField{{Field: 2, Component: 2, URL: sdBase + "contracted-organization"}}},
	"ZPV": {Resource: "Encounter", Fields: []ZField{
		{Field: 2, URL: sdBase + "family-doctor-team"},
		{Field: 2, Component: 2, URL: sdBase + "family-doctor-team-name"},
		{Field: 4, URL: sdBase + "contract-date"},
		{Field: 5, URL: sdBase + "contract-status"},
		{Field: 6, Component: 2, URL: sdBase + "service-package"},
		{Field: 9, URL: sdBase + "absent-field"},
	}},
}

type ext struct{ url, value string }

func extensions(es []fhir.Extension) []ext {
	var out []ext
	for _, e := range es {
		out = append(out, ext{e.Url, value(e.ValueString)})
	}
	return out
}

func TestZSegments(t *testing.T) {
	raw := readADT(t, "adt-a04-family-doctor.hl7")
	cfg := Config{Senders: map[string]Sender{"SQ-CHC-01": {ZSegments: familyDoctorZ}}}
	r := mustMap(t, parse(t, raw), cfg)
	if len(r.Warnings) != 0 {
		t.Errorf("warnings: %+v", r.Warnings)
	}
	wantPatient := []ext{
		{sdBase + "resident-health-record-number", "310115SL0031877"},
		{sdBase + "health-record-status", "已建档"},
		{sdBase + "contracted-organization", "上海市浦东新区三林社区卫生服务中心"},
		{sdBase + "contracted-organization", "上海市浦东新区人民医院"},
		{sdBase + "contracted-organization", "上海交通大学医学院附属仁济医院"},
	}
	if got := extensions(patientOf(t, r).Extension); !slices.Equal(got, wantPatient) {
		t.Errorf("Patient extensions\n got %v\nwant %v", got, wantPatient)
	}
	encs := resources[fhir.Encounter](r, "Encounter")
	if len(encs) != 1 {
		t.Fatalf("%d Encounters", len(encs))
	}
	wantEncounter := []ext{
		{sdBase + "family-doctor-team", "T05"},
		{sdBase + "family-doctor-team-name", "三林家庭医生第五团队"},
		{sdBase + "contract-date", "20230401"},
		{sdBase + "contract-status", "1"},
		{sdBase + "service-package", "基础服务包&慢病管理包"},
	}
	if got := extensions(encs[0].Extension); !slices.Equal(got, wantEncounter) {
		t.Errorf("Encounter extensions\n got %v\nwant %v", got, wantEncounter)
	}
	for _, e := range r.Resources {
		if e.Type != "Patient" && e.Type != "Encounter" && bytes.Contains(e.JSON, []byte(`"extension"`)) {
			t.Errorf("%s has extensions: %s", e.Type, e.JSON)
		}
	}
	// The extensions are in what is written, with the conditional Patient too.
	for _, conditional := range []bool{false, true} {
		cfg.ConditionalPatient = conditional
		r := mustMap(t, parse(t, raw), cfg)
		for _, want := range []string{`"url":"` + sdBase + `contracted-organization","valueString":"上海市浦东新区人民医院"`,
			`"url":"` + sdBase + `family-doctor-team","valueString":"T05"`} {
			if !bytes.Contains(r.Bundle(), []byte(want)) {
				t.Errorf("conditional %v: Bundle lacks %s", conditional, want)
			}
		}
	}
}

// TestZSegmentsIgnored checks that Z segments add nothing unless the sender of the
// message configured them, and that a resource the message does not map takes
// nothing.
func TestZSegmentsIgnored(t *testing.T) {
	raw := readADT(t, "adt-a04-family-doctor.hl7")
	plain := mustMap(t, parse(t, raw), Config{})
	for _, cfg := range []Config{
		{Senders: map[string]Sender{"SQ-CHC-02": {ZSegments: familyDoctorZ}}}, // another centre
		{Senders: map[string]Sender{"SQ-CHC-01": {DefaultSystem: "urn:fhirgw:v2:id:SQ-CHC-01"}}},
	} {
		r := mustMap(t, parse(t, raw), cfg)
		if !bytes.Equal(r.Bundle(), plain.Bundle()) {
			t.Errorf("%+v: Bundle differs from the unconfigured one", cfg.Senders)
		}
		if bytes.Contains(r.Bundle(), []byte(`"extension"`)) {
			t.Errorf("%+v: Bundle has extensions", cfg.Senders)
		}
	}

	// A28 maps no Encounter: ZPV adds nothing, ZPI still goes on the Patient.
	cfg := Config{Senders: map[string]Sender{"SQ-CHC-01": {ZSegments: familyDoctorZ}}}
	r := mustMap(t, parse(t, strings.Replace(raw, "ADT^A04^ADT_A01", "ADT^A28^ADT_A05", 1)), cfg)
	if n := len(r.Find("Encounter")); n != 0 {
		t.Fatalf("A28 mapped %d Encounters", n)
	}
	if got := extensions(patientOf(t, r).Extension); len(got) != 5 || got[0].value != "310115SL0031877" {
		t.Errorf("A28 Patient extensions %v", got)
	}
	if bytes.Contains(r.Bundle(), []byte("family-doctor-team")) {
		t.Errorf("A28 Bundle carries ZPV: %s", r.Bundle())
	}

	// A merge leaves its Patients alone: the receiver combines them with stored ones.
	r = mustMap(t, parse(t, mergeA40+"ZPI|1|310115SL0012345\r"), cfg)
	if len(r.Merges) != 2 {
		t.Fatalf("A40: %d merges", len(r.Merges))
	}
	for _, mg := range r.Merges {
		if p := mg.Survivor.Resource.(*fhir.Patient); len(p.Extension) != 0 {
			t.Errorf("A40 survivor extensions %v", extensions(p.Extension))
		}
	}

	// A resource type the mapper does not support takes nothing, and breaks nothing.
	odd := Config{Senders: map[string]Sender{"SQ-CHC-01": {ZSegments: map[string]ZSegment{
		"ZPV": {Resource: "Observation", Fields: []ZField{{Field: 2, URL: sdBase + "team"}}}}}}}
	if r := mustMap(t, parse(t, raw), odd); !bytes.Equal(r.Bundle(), plain.Bundle()) {
		t.Errorf("unsupported resource changed the Bundle")
	}
}
