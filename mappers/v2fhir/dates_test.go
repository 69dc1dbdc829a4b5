package v2fhir

import (
	"strings"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// TestInvalidDateWarnings: a date or time that cannot be read is dropped
// with a warning (so an ERR of severity W in the ACK), never silently; an
// empty field, the HL7 null "" and a valid value give none.
func TestInvalidDateWarnings(t *testing.T) {
	const adt = "MSH|^~\\&|A|F|||20240101||ADT^A01|1|P|2.5\r"
	const oru = "MSH|^~\\&|A|F|||20240101||ORU^R01|1|P|2.5\rPID|1||MRN1^^^H||Li^Lei||19900101\r"
	tests := []struct {
		name, msg string
		want      []string // Code Field
	}{
		{"valid dates", adt + "PID|1||MRN1^^^H||Li^Lei||19900101||||||||||||||||||||||199001011230\rPV1|1|I|||||||||||||||||V1|||||||||||||||||||||||||20240101|20240102\r", nil},
		{"empty and null", adt + "PID|1||MRN1^^^H||Li^Lei||\"\"\rPV1|1|I|||||||||||||||||V1\r", nil},
		{"birth date with time", adt + "PID|1||MRN1^^^H||Li^Lei||199001011230\r", nil},
		{"birth date month 13", adt + "PID|1||MRN1^^^H||Li^Lei||19901399\r", []string{"BIRTHDATE_INVALID PID-7"}},
		{"birth date text", adt + "PID|1||MRN1^^^H||Li^Lei||1990-01-01\r", []string{"BIRTHDATE_INVALID PID-7"}},
		{"death time", adt + "PID|1||MRN1^^^H||Li^Lei||19900101||||||||||||||||||||||20241301\r", []string{"DATETIME_INVALID PID-29"}},
		{"admit and discharge", adt + "PID|1||MRN1^^^H||Li^Lei||19900101\rPV1|1|I|||||||||||||||||V1|||||||||||||||||||||||||2024013|20240132\r",
			[]string{"DATETIME_INVALID PV1-44", "DATETIME_INVALID PV1-45"}},
		{"allergy and diagnosis", adt + "PID|1||MRN1^^^H||Li^Lei||19900101\rAL1|1||^Penicillin|||yesterday\rDG1|1||I10^Hypertension^I10||x||||||||||||||20249999\r",
			[]string{"DATETIME_INVALID AL1-6", "DATETIME_INVALID DG1-5", "DATETIME_INVALID DG1-19"}},
		{"next of kin", adt + "PID|1||MRN1^^^H||Li^Lei||19900101\rNK1|1|Han^Meimei|SPO|||||2024x\r", []string{"DATETIME_INVALID NK1-8"}},
		{"observation", oru + "OBR|1||F1|GLU^Glucose|||20240101\rOBX|1|NM|GLU^Glucose||5.5|mmol/L|||||F|||now|||||later\r",
			[]string{"DATETIME_INVALID OBX-14", "DATETIME_INVALID OBX-19"}},
		{"report", oru + "OBR|1||F1|GLU^Glucose|||202401011|||||||||||||||2024010199\rOBX|1|NM|GLU^Glucose||5.5|mmol/L|||||F\r",
			[]string{"DATETIME_INVALID OBR-7", "DATETIME_INVALID OBR-22"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustMap(t, parse(t, tt.msg), Config{})
			var got []string
			for _, w := range r.Warnings {
				got = append(got, w.Code+" "+w.Field)
			}
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("warnings %v, want %v", got, tt.want)
			}
			// An unreadable birth date is dropped, not cut to what parses.
			p := r.Find("Patient")[0].Resource.(*fhir.Patient)
			if len(got) > 0 && strings.HasPrefix(got[0], "BIRTHDATE") && p.BirthDate != nil {
				t.Errorf("birthDate %s kept", value(p.BirthDate))
			}
		})
	}
}
