package v2fhir

import (
	"strings"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// A CX typed as a citizen ID card (CX.5) whose value is not a well-formed
// number is a mistyped card: kept as the card, and reported, as in PID-19.
func TestIDCardTypeMistyped(t *testing.T) {
	tests := []struct {
		pid  string
		card bool   // the value is marked as the ID card
		warn string // warning code and field, or ""
	}{
		{"PID|1||MRN1^^^H^MR~31010119900101123^^^^NNCHN||王五||19900101|1", true, "IDCARD_INVALID PID-3[2]"},
		{"PID|1||31010119900101123^^^^SFZ||王五||19900101|1", true, "IDCARD_INVALID PID-3[1]"},
		{"PID|1||MRN1^^^H^MR~3101011990010112345^^^^NI||王五||19900101|1", true, "IDCARD_INVALID PID-3[2]"},
		{"PID|1|31010119900101123^^^^NNCHN|MRN1^^^H^MR||王五||19900101|1", true, "IDCARD_INVALID PID-2[1]"},
		// Well-formed, with a wrong check character.
		{"PID|1||310101199001011235^^^^NNCHN||王五||19900101|1", true, "IDCARD_CHECK PID-3[1]"},
		// Not a card type, or too short to be a card: an ordinary identifier.
		{"PID|1||MRN1^^^H^MR~31010119900101123^^^H^PI||王五||19900101|1", false, ""},
		{"PID|1||MRN1^^^H^MR~12345^^^^NI||王五||19900101|1", false, ""},
	}
	for _, tt := range tests {
		r := mustMap(t, parse(t, "MSH|^~\\&|A|F|||20240101||ADT^A28|1|P|2.5\r"+tt.pid+"\r"), Config{})
		var got []string
		for _, w := range r.Warnings {
			got = append(got, w.Code+" "+w.Field)
		}
		if strings.Join(got, ",") != tt.warn {
			t.Errorf("%s: warnings %v, want %q", tt.pid, got, tt.warn)
		}
		p := r.Find("Patient")[0].Resource.(*fhir.Patient)
		card := false
		for _, id := range p.Identifier {
			if value(id.System) == IDCardSystemWST500 {
				card = true
				if id.Type == nil || value(id.Type.Coding[0].Code) != "NI" {
					t.Errorf("%s: card identifier type = %+v", tt.pid, id.Type)
				}
			}
		}
		if card != tt.card {
			t.Errorf("%s: marked as ID card = %v, want %v: %+v", tt.pid, card, tt.card, p.Identifier)
		}
	}
}
