package ingest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/store"
)

// The tests in this file run the VXU, SIU and referral mappers through the whole
// pipeline: the message is acknowledged AA, its resources are committed with it and
// can be read back (and searched) through the store, a resend is a duplicate that
// writes no new version, and a sequence of events keeps updating the same resources.

// referralDir holds the two-way referral exchange of v2fhir's tests: the Zhangjiang
// community health centre (SQ-CHC-01) refers a resident to the First People's
// Hospital (SH-H01), which accepts, completes or rejects it.
const referralDir = "../../mappers/v2fhir/testdata/referral"

func readMessage(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// applied processes raw and checks it was applied: AA (in enhanced mode CA with an
// application outcome AA), MSA-2 echoing MSH-10, the row stored applied with its
// resources.
func (e *env) applied(raw string) store.Message {
	e.t.Helper()
	in, err := hl7v2.Parse([]byte(raw))
	if err != nil {
		e.t.Fatalf("test message does not parse: %v", err)
	}
	out := e.process(raw)
	if out.AppCode != "AA" || out.Status != store.MessageApplied {
		e.t.Fatalf("%s %s: %s/%s %q %q", in.Get("MSH-9"), in.ControlID(), out.Code, out.AppCode, out.Status, out.Reason)
	}
	want := "AA"
	if in.Get("MSH-15") != "" || in.Get("MSH-16") != "" {
		want = "CA"
	}
	if ack := e.ack(out.ACK, want); ack.Get("MSA-2") != in.ControlID() {
		e.t.Errorf("MSA-2 = %q, want %q", ack.Get("MSA-2"), in.ControlID())
	}
	m := e.message(out.MessageID)
	if m.Status != store.MessageApplied || len(m.Resources) == 0 || m.Raw == nil || string(m.Raw) != raw {
		e.t.Fatalf("stored %q with %d resources, reason %q", m.Status, len(m.Resources), m.Reason)
	}
	e.readable(m)
	return m
}

// readable reads every version a message produced back from the store.
func (e *env) readable(m store.Message) {
	e.t.Helper()
	for _, loc := range m.Resources {
		parts := strings.Split(loc, "/")
		if len(parts) != 4 || parts[2] != "_history" {
			e.t.Errorf("resource location %q", loc)
			continue
		}
		v, err := strconv.ParseInt(parts[3], 10, 64)
		if err != nil {
			e.t.Errorf("resource location %q: %v", loc, err)
			continue
		}
		r, err := e.st.VRead(e.ctx, parts[0], parts[1], v)
		if err != nil {
			e.t.Errorf("vread %s: %v", loc, err)
			continue
		}
		var head struct{ ResourceType, ID string }
		if err := json.Unmarshal(r.Body, &head); err != nil || head.ResourceType != parts[0] || head.ID != parts[1] {
			e.t.Errorf("%s reads back as %s/%s (%v)", loc, head.ResourceType, head.ID, err)
		}
	}
}

// resend sends raw again: it is a duplicate of the applied message and no resource
// of that message gets a new version.
func (e *env) resend(raw string, first store.Message) {
	e.t.Helper()
	before := e.versions(first)
	out := e.process(raw)
	if out.AppCode != "AA" || out.Status != store.MessageDuplicate {
		e.t.Errorf("resend: %s/%s %q", out.Code, out.AppCode, out.Status)
	}
	m := e.message(out.MessageID)
	if m.Reason != "duplicate of message "+first.ID || !slices.Equal(m.Resources, first.Resources) {
		e.t.Errorf("resend stored %q %v, want a duplicate of %s %v", m.Reason, m.Resources, first.ID, first.Resources)
	}
	for k, v := range e.versions(first) {
		if v != before[k] {
			e.t.Errorf("%s: version %d after the resend, was %d", k, v, before[k])
		}
	}
}

// versions returns the current version of each resource a message produced.
func (e *env) versions(m store.Message) map[string]int64 {
	e.t.Helper()
	out := map[string]int64{}
	for _, loc := range m.Resources {
		parts := strings.Split(loc, "/")
		out[parts[0]+"/"+parts[1]] = e.read(parts[0], parts[1]).Version
	}
	return out
}

// search runs a FHIR search through the Service and returns the ids found.
func (e *env) search(typ string, q url.Values) []string {
	e.t.Helper()
	resp := e.svc.Handle(e.ctx, &interaction.Request{Method: http.MethodGet, Path: typ, Query: q})
	if resp.Status != http.StatusOK {
		e.t.Fatalf("search %s?%s: %d %s", typ, q.Encode(), resp.Status, resp.Body)
	}
	var b struct {
		Entry []struct {
			Resource struct{ ResourceType, ID string }
		}
	}
	if err := json.Unmarshal(resp.Body, &b); err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, en := range b.Entry {
		if en.Resource.ResourceType == typ {
			ids = append(ids, en.Resource.ID)
		}
	}
	return ids
}

func (e *env) decode(typ, id string, v any) {
	e.t.Helper()
	if err := json.Unmarshal(e.read(typ, id).Body, v); err != nil {
		e.t.Fatalf("%s/%s: %v", typ, id, err)
	}
}

func one(t *testing.T, m store.Message, typ string) string {
	t.Helper()
	ids := produced(m, typ)
	if len(ids) != 1 {
		t.Fatalf("message %s produced %s %v, want one", m.ControlID, typ, ids)
	}
	return ids[0]
}

type coding struct{ System, Code string }

type codeableConcept struct {
	Coding []coding
	Text   string
}

type reference struct{ Reference, Display string }

// TestVXUPipeline applies the VXU^V04 corpus messages: one Immunization per RXA, for
// the message's Patient, with the vaccine, time, lot and status the RXA carries.
func TestVXUPipeline(t *testing.T) {
	files := []string{"VXU-V04-01.hl7", "VXU.hl7", "IZ_1_1.1_Admin_Child_Max_Message.hl7"}
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			for _, f := range files {
				raw := readMessage(t, corpusDir, f)
				msg, err := hl7v2.Parse([]byte(raw))
				if err != nil {
					t.Fatal(err)
				}
				m := e.applied(raw)
				pid := one(t, m, "Patient")
				rxas := msg.AllSegments("RXA")
				ims := produced(m, "Immunization")
				if len(ims) != len(rxas) || len(rxas) == 0 {
					t.Fatalf("%s: %d Immunizations for %d RXA", f, len(ims), len(rxas))
				}
				for i, rxa := range rxas {
					var im struct {
						Status             string
						VaccineCode        codeableConcept
						Patient            reference
						OccurrenceDateTime string
						LotNumber          string
					}
					e.decode("Immunization", ims[i], &im)
					code := rxa.Field(5).Rep(1).Component(1).String()
					if len(im.VaccineCode.Coding) == 0 || im.VaccineCode.Coding[0].Code != code {
						t.Errorf("%s RXA %d: vaccineCode %+v, want %s", f, i+1, im.VaccineCode, code)
					}
					if im.Patient.Reference != "Patient/"+pid {
						t.Errorf("%s RXA %d: patient %q, want Patient/%s", f, i+1, im.Patient.Reference, pid)
					}
					// RXA-3 is a date (YYYYMMDD...); FHIR writes it YYYY-MM-DD...
					d := rxa.Field(3).Rep(1).Component(1).String()
					if want := d[:4] + "-" + d[4:6] + "-" + d[6:8]; !strings.HasPrefix(im.OccurrenceDateTime, want) {
						t.Errorf("%s RXA %d: occurrence %q, want %s", f, i+1, im.OccurrenceDateTime, want)
					}
					if im.Status != "completed" || rxa.Field(20).String() != "CP" {
						t.Errorf("%s RXA %d: status %q for RXA-20 %q", f, i+1, im.Status, rxa.Field(20).String())
					}
					if lot := rxa.Field(15).String(); im.LotNumber != lot {
						t.Errorf("%s RXA %d: lot %q, want %q", f, i+1, im.LotNumber, lot)
					}
				}
				if got := e.search("Immunization", url.Values{"patient": {"Patient/" + pid}}); len(got) != len(ims) {
					t.Errorf("%s: Immunization?patient finds %v, want %v", f, got, ims)
				}
				e.resend(raw, m)
			}
		})
	}
}

// TestSIUPipeline applies the corpus booking, reschedule, modification and cancel of
// one appointment: all four write the same Appointment, which ends cancelled; a late
// copy of the booking under a new control id is older than the cancel and does not
// revive it.
func TestSIUPipeline(t *testing.T) {
	steps := []struct {
		file, status, room string
	}{
		{"SIU-S12-01.hl7", "booked", "Room01"},
		{"SIU-S13-01.hl7", "booked", "Room01"},
		{"SIU-S14-01.hl7", "booked", "Room02"}, // the filler moved it to another room
		{"SIU-S15-01.hl7", "cancelled", "Room01"},
	}
	type appointment struct {
		Status      string
		Start, End  string
		Participant []struct {
			Actor  reference
			Status string
		}
	}
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			var apID, pid string
			var version int64
			raws, msgs := map[string]string{}, map[string]store.Message{}
			for i, s := range steps {
				raw := readMessage(t, corpusDir, s.file)
				m := e.applied(raw)
				raws[s.file], msgs[s.file] = raw, m
				if i == 0 {
					apID, pid = one(t, m, "Appointment"), one(t, m, "Patient")
				}
				if id := one(t, m, "Appointment"); id != apID {
					t.Fatalf("%s wrote Appointment %s, the booking %s", s.file, id, apID)
				}
				if id := one(t, m, "Patient"); id != pid {
					t.Errorf("%s wrote Patient %s, the booking %s", s.file, id, pid)
				}
				r := e.read("Appointment", apID)
				if r.Version <= version {
					t.Errorf("%s: Appointment version %d, was %d", s.file, r.Version, version)
				}
				version = r.Version
				var ap appointment
				e.decode("Appointment", apID, &ap)
				if ap.Status != s.status || ap.Start == "" || ap.End == "" {
					t.Errorf("%s: status %q start %q end %q, want %s", s.file, ap.Status, ap.Start, ap.End, s.status)
				}
				var patient, room bool
				for _, p := range ap.Participant {
					patient = patient || p.Actor.Reference == "Patient/"+pid
					room = room || strings.Contains(p.Actor.Display, s.room)
				}
				if !patient || !room {
					t.Errorf("%s: participants %+v, want Patient/%s and %s", s.file, ap.Participant, pid, s.room)
				}
			}
			if got := e.search("Appointment", url.Values{"patient": {"Patient/" + pid}}); !slices.Equal(got, []string{apID}) {
				t.Errorf("Appointment?patient finds %v, want [%s]", got, apID)
			}
			for _, f := range []string{"SIU-S12-01.hl7", "SIU-S15-01.hl7"} {
				e.resend(raws[f], msgs[f])
			}

			late := string(setControlID(t, []byte(raws["SIU-S12-01.hl7"]), "MSG00012-again"))
			m := e.applied(late)
			if !strings.Contains(m.Reason, "stale: older than Appointment/"+apID) {
				t.Errorf("late booking stored with reason %q", m.Reason)
			}
			if r := e.read("Appointment", apID); r.Version != version || !strings.Contains(string(r.Body), `"cancelled"`) {
				t.Errorf("late booking changed the cancelled Appointment: version %d, was %d", r.Version, version)
			}
		})
	}
}

// TestReferralPipeline follows one two-way referral through the pipeline: the centre's
// REF^I12 (Task requested), the hospital's RRI^I12 accepting it and later reporting it
// completed; every message updates the same ServiceRequest and Task. A second exchange
// is rejected by the hospital.
func TestReferralPipeline(t *testing.T) {
	type task struct {
		Status         string
		BusinessStatus codeableConcept
		Focus, For     reference
		Owner          *reference
	}
	type serviceRequest struct {
		Status     string
		Subject    reference
		Identifier []identifier
	}
	const centreNumber = "ZZ20240301001"
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			check := func(e *env, m store.Message, srID, taskID, srStatus, taskStatus string) {
				t.Helper()
				if got := one(t, m, "ServiceRequest"); got != srID {
					t.Errorf("%s wrote ServiceRequest %s, the referral is %s", m.ControlID, got, srID)
				}
				if got := one(t, m, "Task"); got != taskID {
					t.Errorf("%s wrote Task %s, the referral's is %s", m.ControlID, got, taskID)
				}
				pid := one(t, m, "Patient")
				var sr serviceRequest
				e.decode("ServiceRequest", srID, &sr)
				var tk task
				e.decode("Task", taskID, &tk)
				if sr.Status != srStatus || tk.Status != taskStatus || tk.BusinessStatus.Text != taskStatus {
					t.Errorf("%s: ServiceRequest %q Task %q (%q), want %s and %s", m.ControlID, sr.Status, tk.Status,
						tk.BusinessStatus.Text, srStatus, taskStatus)
				}
				if sr.Subject.Reference != "Patient/"+pid || tk.For.Reference != sr.Subject.Reference || tk.Focus.Reference != "ServiceRequest/"+srID {
					t.Errorf("%s: subject %q for %q focus %q", m.ControlID, sr.Subject.Reference, tk.For.Reference, tk.Focus.Reference)
				}
				if !slices.ContainsFunc(sr.Identifier, func(id identifier) bool { return id.Value == centreNumber }) {
					t.Errorf("%s: identifiers %+v lack the centre's number", m.ControlID, sr.Identifier)
				}
				if tk.Owner == nil {
					t.Errorf("%s: Task has no owner", m.ControlID)
				} else if typ, id, _ := strings.Cut(tk.Owner.Reference, "/"); typ == "" || e.read(typ, id).Body == nil {
					t.Errorf("%s: Task owner %q", m.ControlID, tk.Owner.Reference)
				}
				if got := e.search("Task", url.Values{"focus": {"ServiceRequest/" + srID}}); !slices.Equal(got, []string{taskID}) {
					t.Errorf("%s: Task?focus finds %v, want [%s]", m.ControlID, got, taskID)
				}
				if ps := e.patientsWith(idCardSystem, "11010519491231002X"); len(ps) != 1 || ps[0].ID != pid {
					t.Errorf("%s: Patients with the ID card %d", m.ControlID, len(ps))
				}
			}

			t.Run("accepted and completed", func(t *testing.T) {
				e := newEnv(t, kind, Config{})
				ref := readMessage(t, referralDir, "ref-i12.hl7")
				requested := e.applied(ref)
				srID, taskID := one(t, requested, "ServiceRequest"), one(t, requested, "Task")
				check(e, requested, srID, taskID, "active", "requested")

				accept := readMessage(t, referralDir, "rri-i12-accept.hl7")
				accepted := e.applied(accept)
				check(e, accepted, srID, taskID, "active", "accepted")
				var sr serviceRequest
				e.decode("ServiceRequest", srID, &sr)
				if !slices.ContainsFunc(sr.Identifier, func(id identifier) bool { return id.Value == "H2024-0088" }) {
					t.Errorf("the hospital's number is missing after the RRI: %+v", sr.Identifier)
				}

				complete := readMessage(t, referralDir, "rri-i12-complete.hl7")
				completed := e.applied(complete)
				check(e, completed, srID, taskID, "completed", "completed")

				var statuses []string
				page, err := e.st.History(e.ctx, store.HistoryQuery{Type: "Task", ID: taskID, Count: 10})
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range page.Versions {
					var tk task
					if err := json.Unmarshal(v.Body, &tk); err != nil {
						t.Fatal(err)
					}
					statuses = append(statuses, tk.Status)
				}
				slices.Reverse(statuses) // History is newest first
				if want := []string{"requested", "accepted", "completed"}; !slices.Equal(statuses, want) {
					t.Errorf("Task history %v, want %v", statuses, want)
				}

				e.resend(ref, requested)
				e.resend(accept, accepted)
				e.resend(complete, completed)

				// The centre's cancel was sent before the completion was known: it is
				// recorded, but the completed referral stays completed.
				m := e.applied(readMessage(t, referralDir, "ref-i14.hl7"))
				if !strings.Contains(m.Reason, "stale: older than") || slices.Contains(produced(m, "Task"), taskID) {
					t.Errorf("late cancel stored %q, wrote %v", m.Reason, m.Resources)
				}
				var tk task
				e.decode("Task", taskID, &tk)
				if tk.Status != "completed" {
					t.Errorf("Task %q after the late cancel", tk.Status)
				}

				// The centre amends the referral after the hospital completed it (an
				// I13 newer than the completion): what was asked for may change, the
				// answer may not; the referral stays completed.
				modify := strings.NewReplacer("|20240301100500||REF^I12^REF_I12|ZJ0001|", "|20240316090000||REF^I13^REF_I12|ZJ0009|").Replace(ref)
				m = e.applied(modify)
				if slices.Contains(produced(m, "Task"), taskID) || !strings.Contains(m.Reason, "stays completed") {
					t.Errorf("amendment after completion stored %q, wrote %v", m.Reason, m.Resources)
				}
				e.decode("ServiceRequest", srID, &sr)
				e.decode("Task", taskID, &tk)
				if tk.Status != "completed" || sr.Status != "completed" {
					t.Errorf("after the amendment: Task %q ServiceRequest %q, want both completed", tk.Status, sr.Status)
				}
			})

			t.Run("amended while accepted", func(t *testing.T) {
				e := newEnv(t, kind, Config{})
				ref := readMessage(t, referralDir, "ref-i12.hl7")
				requested := e.applied(ref)
				srID, taskID := one(t, requested, "ServiceRequest"), one(t, requested, "Task")
				check(e, e.applied(readMessage(t, referralDir, "rri-i12-accept.hl7")), srID, taskID, "active", "accepted")
				modify := strings.NewReplacer("|20240301100500||REF^I12^REF_I12|ZJ0001|", "|20240316100000||REF^I13^REF_I12|ZJ0002|").Replace(ref)
				m := e.applied(modify)
				var tk task
				e.decode("Task", taskID, &tk)
				if tk.Status != "accepted" || !strings.Contains(m.Reason, "stays accepted") {
					t.Errorf("amended while accepted: Task %q, reason %q", tk.Status, m.Reason)
				}
				// The hospital completed the referral before the amendment was sent,
				// and its RRI arrives after it: the completion still applies.
				// (Its Patient, older than the amendment's, is stale as it should be.)
				done := e.applied(readMessage(t, referralDir, "rri-i12-complete.hl7"))
				if strings.Contains(done.Reason, "older than Task/") || strings.Contains(done.Reason, "older than ServiceRequest/") {
					t.Errorf("completion delivered after a newer amendment stored as %q", done.Reason)
				}
				var sr serviceRequest
				e.decode("ServiceRequest", srID, &sr)
				e.decode("Task", taskID, &tk)
				if tk.Status != "completed" || sr.Status != "completed" {
					t.Errorf("after the late completion: Task %q ServiceRequest %q, want both completed", tk.Status, sr.Status)
				}
				// Before any answer, an amendment keeps the Task requested and is applied whole.
				e2 := newEnv(t, kind, Config{})
				e2.applied(ref)
				m = e2.applied(modify)
				if !slices.Contains(produced(m, "Task"), taskID) {
					t.Errorf("amendment of an unanswered referral wrote %v", m.Resources)
				}
			})

			t.Run("rejected", func(t *testing.T) {
				e := newEnv(t, kind, Config{})
				requested := e.applied(readMessage(t, referralDir, "ref-i12.hl7"))
				srID, taskID := one(t, requested, "ServiceRequest"), one(t, requested, "Task")
				check(e, requested, srID, taskID, "active", "requested")
				reject := readMessage(t, referralDir, "rri-i12-reject.hl7")
				rejected := e.applied(reject)
				check(e, rejected, srID, taskID, "revoked", "rejected")
				e.resend(reject, rejected)
			})
		})
	}
}
