package ingest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/mappers/v2fhir"
)

// kioskORUWith is kioskORU with PID-3 as given (the kiosk's own member number next to,
// or instead of, the ID card).
func kioskORUWith(t *testing.T, control, pid3 string) string {
	t.Helper()
	raw := kioskORU(control, "CARD")
	old := "PID|1||CARD^^^身份证^NNCHN|"
	if !strings.Contains(raw, old) {
		t.Fatalf("kioskORU changed: %q", raw)
	}
	return strings.Replace(raw, old, "PID|1||"+pid3+"|", 1)
}

// mappedPatientID is the id v2fhir gives the message's Patient by itself, before
// matching.
func mappedPatientID(t *testing.T, raw string) string {
	t.Helper()
	msg, err := hl7v2.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	r, err := v2fhir.Map(msg, v2fhir.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ps := r.Find("Patient")
	if len(ps) != 1 {
		t.Fatalf("%d Patients mapped", len(ps))
	}
	return ps[0].ID
}

// allPatients lists the ids of every stored Patient.
func (e *env) allPatients() []string {
	e.t.Helper()
	page, err := e.st.Search(e.ctx, store.Query{Type: "Patient", Count: 100})
	if err != nil {
		e.t.Fatalf("search: %v", err)
	}
	var ids []string
	for _, r := range page.Resources {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

func hasIdentifier(t *testing.T, body []byte, system, value string) bool {
	return slices.Contains(identifiers(t, body), identifier{System: system, Value: value})
}

// TestSenderIdentifiers: a sender's own identifier that landed on another sender's
// Patient finds that Patient again when it comes alone, in both directions (kiosk
// member number on the hospital's Patient, hospital MRN on the kiosk's); another
// sender's identifier of the same value does not; and a message whose own identifier
// names one Patient and ID card another is still AE.
func TestSenderIdentifiers(t *testing.T) {
	const (
		kioskSystem = "urn:fhirgw:v2:id:HUT-0042" // identifiers the kiosk sends without an authority
		mrnSystem   = "urn:fhirgw:v2:id:SQ-CHC-01"
		member      = "K0042-000317"
	)
	card := func(c string) string { return c + "^^^身份证^NNCHN" }
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			t.Run("kiosk identifier on the hospital's Patient", func(t *testing.T) {
				e := newEnv(t, kind, Config{})
				out := e.process(hospitalADT("A04", "H1", "20240301093000", "~"+card(cardZhang)))
				e.ack(out.ACK, "AA")
				hosp := one(t, e.message(out.MessageID), "Patient")

				both := kioskORUWith(t, "K1", card(cardZhang)+"~"+member+"^^^^PI")
				out = e.process(both)
				e.ack(out.ACK, "AA")
				if got := one(t, e.message(out.MessageID), "Patient"); got != hosp {
					t.Fatalf("kiosk message with card and member number wrote Patient %s, want the hospital's %s", got, hosp)
				}
				if body := e.read("Patient", hosp).Body; !hasIdentifier(t, body, kioskSystem, member) {
					t.Fatalf("the hospital's Patient did not gain the kiosk's member number: %+v", identifiers(t, body))
				}
				patients := e.allPatients()

				only := kioskORUWith(t, "K2", member+"^^^^PI")
				if mapped := mappedPatientID(t, only); mapped == hosp {
					t.Fatal("the member-number-only message maps to the hospital's id: the test proves nothing")
				}
				out = e.process(only)
				e.ack(out.ACK, "AA")
				m := e.message(out.MessageID)
				if got := one(t, m, "Patient"); got != hosp {
					t.Errorf("member-number-only message wrote Patient %s, want the hospital's %s", got, hosp)
				}
				if got := e.allPatients(); !slices.Equal(got, patients) {
					t.Errorf("Patients %v after the member-number-only message, were %v", got, patients)
				}
				if _, err := e.st.Read(e.ctx, "Patient", mappedPatientID(t, only)); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("a Patient under the kiosk's own mapped id exists: %v", err)
				}
				for _, id := range produced(m, "Observation") {
					if body := e.read("Observation", id).Body; !strings.Contains(string(body), `"Patient/`+hosp+`"`) {
						t.Errorf("Observation %s is not the hospital Patient's: %s", id, body)
					}
				}
				body := e.read("Patient", hosp).Body
				if !hasIdentifier(t, body, mrnSystem, "MRN0012345") || !hasIdentifier(t, body, idCardSystem, cardZhang) {
					t.Errorf("the hospital's identifiers were lost: %+v", identifiers(t, body))
				}

				// Another sender's number of the same value is not the kiosk's: it gets
				// a Patient of its own.
				other := strings.Replace(strings.Replace(only, "|KIOSK|HUT-0042|", "|KIOSK|HUT-0099|", 1), "|K2|", "|O1|", 1)
				out = e.process(other)
				e.ack(out.ACK, "AA")
				if got := one(t, e.message(out.MessageID), "Patient"); got == hosp {
					t.Errorf("another kiosk's member number %s landed on the hospital's Patient", member)
				}

				// The kiosk's number with 李四's ID card: two Patients, AE, nothing written.
				out = e.process(kioskORU("K3", cardLi))
				e.ack(out.ACK, "AA")
				li := one(t, e.message(out.MessageID), "Patient")
				v := e.read("Patient", hosp).Version
				out = e.process(kioskORUWith(t, "K4", card(cardLi)+"~"+member+"^^^^PI"))
				ack := e.ack(out.ACK, "AE")
				if ack.Get("ERR-3.1") != "205" {
					t.Errorf("conflict ACK %q", out.ACK)
				}
				m = e.message(out.MessageID)
				if m.Status != store.MessageError || m.Reason != "message matches 2 patients" || len(m.Resources) != 0 {
					t.Errorf("conflict stored %q %q %v", m.Status, m.Reason, m.Resources)
				}
				if e.read("Patient", hosp).Version != v || hasIdentifier(t, e.read("Patient", li).Body, kioskSystem, member) {
					t.Error("the conflicting message changed a Patient")
				}
			})

			t.Run("hospital MRN on the kiosk's Patient", func(t *testing.T) {
				e := newEnv(t, kind, Config{})
				out := e.process(kioskORUWith(t, "K1", card(cardZhang)+"~"+member+"^^^^PI"))
				e.ack(out.ACK, "AA")
				kiosk := one(t, e.message(out.MessageID), "Patient")

				out = e.process(hospitalADT("A04", "H1", "20240303093000", "~"+card(cardZhang)))
				e.ack(out.ACK, "AA")
				if got := one(t, e.message(out.MessageID), "Patient"); got != kiosk {
					t.Fatalf("hospital registration wrote Patient %s, want the kiosk's %s", got, kiosk)
				}
				patients := e.allPatients()

				mrnOnly := hospitalADT("A08", "H2", "20240304093000", "")
				if mappedPatientID(t, mrnOnly) == kiosk {
					t.Fatal("the MRN-only message maps to the kiosk's id: the test proves nothing")
				}
				out = e.process(mrnOnly)
				e.ack(out.ACK, "AA")
				if got := one(t, e.message(out.MessageID), "Patient"); got != kiosk {
					t.Errorf("MRN-only update wrote Patient %s, want %s", got, kiosk)
				}
				if got := e.allPatients(); !slices.Equal(got, patients) {
					t.Errorf("Patients %v after the MRN-only update, were %v", got, patients)
				}
				if !strings.Contains(string(e.read("Patient", kiosk).Body), "科苑路") {
					t.Error("the MRN-only update did not reach the Patient")
				}
			})
		})
	}
}

// mergePatient keeps the stored Patient's tags and profiles and its identifiers
// (union), and takes the message's elements.
func TestMergePatientKeepsMeta(t *testing.T) {
	stored := `{"resourceType":"Patient","id":"p","meta":{"versionId":"3","tag":[{"system":"urn:t","code":"vip"}],"profile":["urn:p"]},"identifier":[{"system":"urn:a","value":"1"}],"gender":"male","birthDate":"1970-01-01","_birthDate":{"extension":[{"url":"urn:x","valueString":"y"}]}}`
	incoming := `{"resourceType":"Patient","id":"q","identifier":[{"system":"urn:b","value":"2"}],"gender":"female"}`
	got, err := mergePatient([]byte(stored), []byte(incoming))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Meta struct {
			Tag     []struct{ Code string } `json:"tag"`
			Profile []string                `json:"profile"`
		} `json:"meta"`
		Identifier []struct{ Value string } `json:"identifier"`
		Gender     string                   `json:"gender"`
		BirthDate  string                   `json:"birthDate"`
		BirthExt   json.RawMessage          `json:"_birthDate"`
	}
	if err := json.Unmarshal(got, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Meta.Tag) != 1 || p.Meta.Tag[0].Code != "vip" || len(p.Meta.Profile) != 1 {
		t.Errorf("meta lost: %s", got)
	}
	if len(p.Identifier) != 2 || p.Identifier[0].Value != "1" || p.Identifier[1].Value != "2" {
		t.Errorf("identifiers: %s", got)
	}
	if p.Gender != "female" || p.BirthDate != "1970-01-01" || len(p.BirthExt) == 0 {
		t.Errorf("elements: %s", got)
	}
}

// Extensions merge by URL: a sender's new value replaces its old one, and another
// sender's extension stays.
func TestMergePatientExtensions(t *testing.T) {
	stored := `{"resourceType":"Patient","id":"p","extension":[{"url":"urn:hospital:vip","valueString":"是"},{"url":"urn:chc:team","valueString":"一组"}]}`
	incoming := `{"resourceType":"Patient","id":"p","extension":[{"url":"urn:chc:team","valueString":"二组"},{"url":"urn:chc:record","valueString":"R1"}]}`
	got, err := mergePatient([]byte(stored), []byte(incoming))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Extension []struct{ URL, ValueString string } `json:"extension"`
	}
	if err := json.Unmarshal(got, &p); err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, e := range p.Extension {
		have = append(have, e.URL+"="+e.ValueString)
	}
	want := "urn:hospital:vip=是 urn:chc:team=二组 urn:chc:record=R1"
	if strings.Join(have, " ") != want {
		t.Errorf("extensions %v, want %s", have, want)
	}
}
