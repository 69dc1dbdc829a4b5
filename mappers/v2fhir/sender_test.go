package v2fhir

import (
	"slices"
	"testing"
)

// TestSenderSystems checks that SenderSystems names the systems Map gives a sender's
// identifiers without an authority and with the authority named after the sender,
// and nothing else.
func TestSenderSystems(t *testing.T) {
	msg := func(app, facility string) string {
		key := facility // the sender key: MSH-4.1, else MSH-3.1
		if key == "" {
			key = app
		}
		return "MSH|^~\\&|" + app + "|" + facility + "|FHIRGW|SHCH|20240302081500||ADT^A08^ADT_A01|C1|P|2.5.1\r" +
			"PID|1||K0042-000317^^^^PI~MRN0012345^^^" + key + "^MR~YB778899^^^YB^HC\r"
	}
	tests := []struct {
		name          string
		app, facility string
		cfg           Config
		want          []string
	}{
		{"facility", "", "HUT-0042", Config{}, []string{"urn:fhirgw:v2:id:HUT-0042"}},
		{"application when no facility", "KIOSK", "", Config{}, []string{"urn:fhirgw:v2:id:KIOSK"}},
		{"default system", "HIS", "SQ-CHC-01",
			Config{Senders: map[string]Sender{"SQ-CHC-01": {DefaultSystem: "urn:oid:1.2.156.1"}}},
			[]string{"urn:oid:1.2.156.1", "urn:fhirgw:v2:id:SQ-CHC-01"}},
		{"configured authority", "HIS", "SQ-CHC-01",
			Config{Senders: map[string]Sender{"SQ-CHC-01": {IdentifierSystems: map[string]string{
				"SQ-CHC-01": "urn:oid:1.2.156.2", "YB": "urn:oid:1.2.156.99"}}}},
			[]string{"urn:fhirgw:v2:id:SQ-CHC-01", "urn:oid:1.2.156.2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := msg(tc.app, tc.facility)
			m := parse(t, raw)
			got := tc.cfg.SenderSystems(m)
			if !slices.Equal(got, tc.want) {
				t.Errorf("SenderSystems = %v, want %v", got, tc.want)
			}
			// The member number (no authority) and the MRN (authority named after the
			// sender) are in the sender's systems; the insurance number is not.
			p := patientOf(t, mustMap(t, m, tc.cfg))
			for _, id := range p.Identifier {
				if own := slices.Contains(got, value(id.System)); own != (value(id.Value) != "YB778899") {
					t.Errorf("identifier %s|%s: in the sender's systems %v", value(id.System), value(id.Value), own)
				}
			}
		})
	}
	if got := (Config{}).SenderSystems(nil); got != nil {
		t.Errorf("SenderSystems(nil) = %v", got)
	}
}
