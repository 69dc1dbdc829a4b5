package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/mappers/v2fhir"
)

// The duplicate: 张三 was registered at the emergency desk without his ID card under
// MRN0099999, and his lab result was filed there; the hospital then merges that record
// into his real one, MRN0012345.
const (
	mrnZhang = "MRN0012345"
	mrnDup   = "MRN0099999"
)

func adtFor(trigger, control, evn, pid, visit string) string {
	return "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|" + evn + "||ADT^" + trigger + "^ADT_A01|" + control + "|P|2.5\r" +
		"EVN|" + trigger + "|" + evn + "\r" +
		"PID|1||" + pid + "||张三||19491231|1|||浦东新区张江镇^科苑路88弄3号201室^上海市^上海市^201203^CHN^H\r" +
		"PV1|1|E|急诊||||D001^李医生|||||||||||" + visit + "\r"
}

func labORU(control, when, pid string) string {
	return "MSH|^~\\&|LIS|SQ-CHC-01|FHIRGW|SHCH|" + when + "||ORU^R01^ORU_R01|" + control + "|P|2.5.1\r" +
		"PID|1||" + pid + "||张三||19491231|1\r" +
		"OBR|1||" + control + "-1|2345-7^Glucose^LN|||" + when + "||||||||||||||||||F\r" +
		"OBX|1|NM|2345-7^Glucose^LN||6.1|mmol/L^^UCUM|3.9-6.1|N|||F|||" + when + "\r"
}

func mergeMsg(control, evn, pid, mrg string) string {
	return "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|" + evn + "||ADT^A40^ADT_A39|" + control + "|P|2.5\r" +
		"EVN|A40|" + evn + "\r" +
		"PID|1||" + pid + "||张三||19491231|1\r" +
		"MRG|" + mrg + "\r"
}

// mapped maps raw as the pipeline does, for the ids v2fhir derives.
func (e *env) mapped(raw string) *v2fhir.Result {
	e.t.Helper()
	m, err := hl7v2.Parse([]byte(raw))
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := v2fhir.Map(m, e.p.cfg.Mapping)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// referrers lists the resources of typ whose reference parameter param names
// Patient/id.
func (e *env) referrers(typ, param, id string) []store.Resource {
	e.t.Helper()
	page, err := e.st.Search(e.ctx, store.Query{Type: typ, Count: 50, Where: []store.Clause{{
		Param: param, Kind: store.KindReference, References: []store.ReferenceMatch{{Type: "Patient", ID: id}},
	}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return page.Resources
}

type linkJSON struct {
	Other struct {
		Reference string `json:"reference"`
	} `json:"other"`
	Type string `json:"type"`
}

func patientLinks(t *testing.T, body []byte) (links []linkJSON, active *bool) {
	t.Helper()
	var p struct {
		Active *bool      `json:"active"`
		Link   []linkJSON `json:"link"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p.Link, p.Active
}

func hasID(ids []identifier, value string) bool {
	return slices.ContainsFunc(ids, func(i identifier) bool { return i.Value == value })
}

// TestMerge: two registrations of one man, a result filed under the duplicate, an A40
// merging the duplicate into the real record; then a result under the old MRN, a resend,
// a second A40 saying the same, and a replay.
func TestMerge(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			zhang := "MRN0012345^^^SQ-CHC-01^MR~" + cardZhang + "^^^身份证^NNCHN"
			dup := mrnDup + "^^^SQ-CHC-01^MR"
			e.ack(e.process(adtFor("A01", "A1", "20240301093000", zhang, "V1")).ACK, "AA")
			e.ack(e.process(adtFor("A01", "A2", "20240301230000", dup, "V2")).ACK, "AA")
			oru := e.process(labORU("L1", "20240302080000+0800", dup))
			e.ack(oru.ACK, "AA")

			a40 := mergeMsg("M1", "20240305110000", zhang, dup)
			mp := e.mapped(a40).Merges[0]
			survivor, prior := mp.Survivor.ID, mp.MergedID
			if ids := produced(e.message(oru.MessageID), "Patient"); len(ids) != 1 || ids[0] != prior {
				t.Fatalf("the lab result went to %v, not the duplicate %s", ids, prior)
			}
			// A resource written through the API, with a primitive extension, refers
			// to the duplicate too: the merge must move the reference and keep the rest.
			note := `{"resourceType":"Observation","id":"bp-note","status":"final","_status":{"extension":[{"url":"http://example.org/checked","valueBoolean":true}]},` +
				`"code":{"text":"血压"},"subject":{"reference":"Patient/` + prior + `","display":"急诊登记"},"valueQuantity":{"value":1.50,"unit":"x"}}`
			if r := e.svc.Handle(e.ctx, &interaction.Request{Method: http.MethodPut, Path: "Observation/bp-note",
				ContentType: "application/fhir+json", Body: []byte(note)}); r.Status >= 300 {
				t.Fatalf("PUT Observation: %d %s", r.Status, r.Body)
			}
			moved := map[string][]string{} // type -> ids referring to the duplicate
			for _, tp := range []struct{ typ, param string }{
				{"Observation", "subject"}, {"DiagnosticReport", "subject"}, {"Encounter", "subject"}, {"ServiceRequest", "subject"},
			} {
				for _, r := range e.referrers(tp.typ, tp.param, prior) {
					moved[tp.typ] = append(moved[tp.typ], r.ID)
				}
			}
			for _, typ := range []string{"Observation", "DiagnosticReport", "Encounter"} {
				if len(moved[typ]) == 0 {
					t.Fatalf("no %s refers to the duplicate before the merge", typ)
				}
			}

			out := e.process(a40)
			e.ack(out.ACK, "AA")
			m := e.message(out.MessageID)
			if m.Status != store.MessageApplied || !strings.Contains(m.Reason, "merged Patient/"+prior+" into Patient/"+survivor) {
				t.Fatalf("A40 stored %q %q", m.Status, m.Reason)
			}
			if ps := produced(m, "Patient"); !slices.Contains(ps, survivor) || !slices.Contains(ps, prior) {
				t.Errorf("A40 produced Patients %v", ps)
			}

			sp := e.read("Patient", survivor)
			links, active := patientLinks(t, sp.Body)
			if len(links) != 1 || links[0].Type != "replaces" || links[0].Other.Reference != "Patient/"+prior {
				t.Errorf("survivor links %+v", links)
			}
			if active != nil && !*active {
				t.Errorf("survivor is inactive")
			}
			ids := identifiers(t, sp.Body)
			for _, v := range []string{mrnZhang, cardZhang, mrnDup} {
				if !hasID(ids, v) {
					t.Errorf("survivor identifiers %+v lack %s", ids, v)
				}
			}
			if !bytes.Contains(sp.Body, []byte("科苑路")) {
				t.Errorf("the A40 wiped the survivor's address: %s", sp.Body)
			}
			pp := e.read("Patient", prior)
			links, active = patientLinks(t, pp.Body)
			if active == nil || *active || len(links) != 1 || links[0].Type != "replaced-by" || links[0].Other.Reference != "Patient/"+survivor {
				t.Errorf("merged Patient active %v links %+v", active, links)
			}
			for typ, ids := range moved {
				for _, id := range ids {
					body := e.read(typ, id).Body
					if bytes.Contains(body, []byte(`"Patient/`+prior+`"`)) || !bytes.Contains(body, []byte(`"Patient/`+survivor+`"`)) {
						t.Errorf("%s/%s still refers to the duplicate: %s", typ, id, body)
					}
				}
				if left := e.referrers(typ, "subject", prior); len(left) != 0 {
					t.Errorf("%d %s still found by subject=Patient/%s", len(left), typ, prior)
				}
			}
			nb := e.read("Observation", "bp-note").Body
			for _, keep := range []string{`"_status":{"extension":[{"url":"http://example.org/checked","valueBoolean":true}]}`, `"value":1.50`, `"display":"急诊登记"`} {
				if !bytes.Contains(nb, []byte(keep)) {
					t.Errorf("moving the reference lost %s: %s", keep, nb)
				}
			}

			versions := map[string]int64{}
			snapshot := func() {
				for _, k := range []string{"Patient/" + survivor, "Patient/" + prior, "Observation/bp-note"} {
					typ, id, _ := strings.Cut(k, "/")
					versions[k] = e.read(typ, id).Version
				}
			}
			unchanged := func(what string) {
				t.Helper()
				for k, v := range versions {
					typ, id, _ := strings.Cut(k, "/")
					if got := e.read(typ, id).Version; got != v {
						t.Errorf("%s: %s at version %d, was %d", what, k, got, v)
					}
				}
			}
			snapshot()

			// The resend is a duplicate; a second A40 with its own control id and a replay
			// of the first change nothing.
			out = e.process(a40)
			e.ack(out.ACK, "AA")
			if m := e.message(out.MessageID); m.Status != store.MessageDuplicate {
				t.Errorf("resent A40 stored %q", m.Status)
			}
			unchanged("resend")
			out = e.process(mergeMsg("M2", "20240305120000", zhang, dup))
			e.ack(out.ACK, "AA")
			if m := e.message(out.MessageID); m.Status != store.MessageApplied {
				t.Errorf("second A40 stored %q %q", m.Status, m.Reason)
			}
			unchanged("second A40")
			if r, err := e.p.Replay(e.ctx, m.ID); err != nil || r.Code != "AA" {
				t.Errorf("replay: %+v %v", r, err)
			}
			unchanged("replay")

			// A result under the old MRN lands on the survivor.
			out = e.process(labORU("L2", "20240306080000+0800", dup))
			e.ack(out.ACK, "AA")
			m2 := e.message(out.MessageID)
			if ps := produced(m2, "Patient"); len(ps) != 1 || ps[0] != survivor {
				t.Errorf("result under the old MRN wrote Patients %v, want the survivor %s", ps, survivor)
			}
			for _, id := range produced(m2, "Observation") {
				if body := e.read("Observation", id).Body; !bytes.Contains(body, []byte(`"Patient/`+survivor+`"`)) {
					t.Errorf("new Observation does not refer to the survivor: %s", body)
				}
			}
			if v := e.read("Patient", prior).Version; v != versions["Patient/"+prior] {
				t.Errorf("the merged Patient was written again (version %d)", v)
			}
			if ps := e.patientsWith(idCardSystem, cardZhang); len(ps) != 1 || ps[0].ID != survivor {
				t.Errorf("Patients with the ID card: %d", len(ps))
			}
		})
	}
}

// TestMergeUnknown: an A40 whose prior patient is not known is applied (AA with an
// ERR warning): the prior Patient is created from MRG, inactive and replaced-by the
// survivor, and a later message for the prior patient lands on the survivor. An A40
// whose prior identifier two Patients carry is AE.
func TestMergeUnknown(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			zhang := "MRN0012345^^^SQ-CHC-01^MR"
			e.ack(e.process(adtFor("A01", "A1", "20240301093000", zhang, "V1")).ACK, "AA")
			before := e.read("Patient", e.mapped(adtFor("A01", "x", "20240301093000", zhang, "V1")).Find("Patient")[0].ID)

			msg := mergeMsg("U1", "20240305110000", zhang, "MRN0055555^^^SQ-CHC-01^MR")
			out := e.process(msg)
			ack := e.ack(out.ACK, "AA")
			if ack.Get("ERR-4") != "W" || ack.Get("ERR-3.1") == "" || !strings.HasPrefix(rawField(ack, "ERR", 2), "MRG") {
				t.Errorf("ACK ERR = %q / %q / %q", rawField(ack, "ERR", 2), ack.Get("ERR-3.1"), ack.Get("ERR-4"))
			}
			m := e.message(out.MessageID)
			if m.Status != store.MessageApplied || !strings.HasPrefix(m.Reason, "prior patient not known") || len(m.Resources) != 2 {
				t.Fatalf("stored %q %q %v", m.Status, m.Reason, m.Resources)
			}
			mp := e.mapped(msg).Merges[0]
			prior := e.read("Patient", mp.MergedID)
			links, active := patientLinks(t, prior.Body)
			if active == nil || *active || len(links) != 1 || links[0].Other.Reference != "Patient/"+before.ID || !hasID(identifiers(t, prior.Body), "MRN0055555") {
				t.Errorf("prior Patient: %s", prior.Body)
			}
			surv := e.read("Patient", before.ID)
			if links, _ := patientLinks(t, surv.Body); len(links) != 1 || !hasID(identifiers(t, surv.Body), "MRN0055555") {
				t.Errorf("survivor: %s", surv.Body)
			}

			// The prior patient's own registration, arriving late, updates the survivor.
			late := adtFor("A04", "A2", "20240306093000", "MRN0055555^^^SQ-CHC-01^MR", "V2")
			lo := e.process(late)
			e.ack(lo.ACK, "AA")
			if id := e.mapped(late).Find("Patient")[0].ID; id != mp.MergedID {
				t.Errorf("late registration maps to Patient/%s, the merge to Patient/%s", id, mp.MergedID)
			}
			if r := e.read("Patient", mp.MergedID); r.Version != prior.Version {
				t.Errorf("late registration wrote the merged record: %s", r.Body)
			}
			if rs := e.message(lo.MessageID).Resources; len(rs) == 0 || !strings.HasPrefix(rs[0], "Patient/"+before.ID+"/") {
				t.Errorf("late registration wrote %v, want the survivor Patient/%s first", rs, before.ID)
			}

			// Two Patients created through the API carry the prior identifier.
			sys := identifiers(t, before.Body)[0].System
			for _, id := range []string{"api-1", "api-2"} {
				body := `{"resourceType":"Patient","id":"` + id + `","identifier":[{"system":"` + sys + `","value":"MRN0066666"}]}`
				if r := e.svc.Handle(e.ctx, &interaction.Request{Method: http.MethodPut, Path: "Patient/" + id,
					ContentType: "application/fhir+json", Body: []byte(body)}); r.Status >= 300 {
					t.Fatalf("PUT: %d %s", r.Status, r.Body)
				}
			}
			out = e.process(mergeMsg("U2", "20240305120000", zhang, "MRN0066666^^^SQ-CHC-01^MR"))
			e.ack(out.ACK, "AE")
			if m := e.message(out.MessageID); m.Status != store.MessageError || m.Reason != "prior patient of MRG 1 matches 2 patients" {
				t.Errorf("ambiguous merge stored %q %q", m.Status, m.Reason)
			}
			// One of them found by identifier alone is merged although its id is not
			// the one v2fhir would give it.
			if r := e.svc.Handle(e.ctx, &interaction.Request{Method: http.MethodDelete, Path: "Patient/api-2"}); r.Status >= 300 {
				t.Fatalf("DELETE: %d", r.Status)
			}
			out = e.process(mergeMsg("U3", "20240305130000", zhang, "MRN0066666^^^SQ-CHC-01^MR"))
			e.ack(out.ACK, "AA")
			links, active = patientLinks(t, e.read("Patient", "api-1").Body)
			if active == nil || *active || len(links) != 1 || links[0].Other.Reference != "Patient/"+before.ID {
				t.Errorf("api-1 after merge: active %v links %+v", active, links)
			}

			// Two pairs in one A40, each applied in turn.
			for i, mrn := range []string{"MRN0070002", "MRN0070003"} {
				e.ack(e.process(adtFor("A04", "P"+string(rune('0'+i)), "20240303093000", mrn+"^^^SQ-CHC-01^MR", "W"+mrn)).ACK, "AA")
			}
			two := "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|20240305140000||ADT^A40^ADT_A39|U4|P|2.5\r" +
				"EVN|A40|20240305140000\r" +
				"PID|1||" + zhang + "||张三||19491231|1\rMRG|MRN0070002^^^SQ-CHC-01^MR\r" +
				"PID|2||" + zhang + "||张三||19491231|1\rMRG|MRN0070003^^^SQ-CHC-01^MR\r"
			out = e.process(two)
			e.ack(out.ACK, "AA")
			res := e.mapped(two)
			links, _ = patientLinks(t, e.read("Patient", before.ID).Body)
			for _, mg := range res.Merges {
				if !slices.ContainsFunc(links, func(l linkJSON) bool { return l.Type == "replaces" && l.Other.Reference == "Patient/"+mg.MergedID }) {
					t.Errorf("survivor links %+v lack MRG %d's patient", links, mg.MRG)
				}
				pl, active := patientLinks(t, e.read("Patient", mg.MergedID).Body)
				if active == nil || *active || len(pl) != 1 || pl[0].Other.Reference != "Patient/"+before.ID {
					t.Errorf("MRG %d's patient: active %v links %+v", mg.MRG, active, pl)
				}
				// Its Encounter moved.
				if len(e.referrers("Encounter", "subject", mg.MergedID)) != 0 {
					t.Errorf("MRG %d's patient still has Encounters", mg.MRG)
				}
			}
			if len(links) != 4 {
				t.Errorf("survivor has %d links, want 4 (MRN0055555, api-1, two in U4)", len(links))
			}
		})
	}
}

// TestMergeCorpus applies the corpus A40, whose prior patient 56789 no corpus
// message registers (it is created from MRG, inactive and replaced-by the survivor,
// with a warning), and again on a store where the prior patient was registered first.
func TestMergeCorpus(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(corpusDir, "ADT-A40-01.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	// The corpus A40's own MSH with an A04 registering the prior patient 56789.
	msh, _, _ := bytes.Cut(raw, []byte("\n"))
	msh = bytes.TrimRight(msh, "\r")
	reg := strings.Replace(string(msh), "ADT^A40^ADT_A40|8919-40", "ADT^A04^ADT_A01|8919-04", 1) + "\r" +
		"PID|1||56789^^^BCBS^MR||Test^Test^A||20180205|F\r"
	for _, kind := range storeKinds {
		for _, registered := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/registered=%v", kind, registered), func(t *testing.T) {
				e := newEnv(t, kind, Config{})
				if registered {
					if out := e.process(reg); out.AppCode != "AA" {
						t.Fatalf("registration: %s %q", out.AppCode, out.Reason)
					}
				}
				// MSH-15/16 NE: enhanced mode without acknowledgments; the outcome tells.
				out := e.process(string(raw))
				if out.AppCode != "AA" || out.Status != store.MessageApplied {
					t.Fatalf("A40: %s %s %q", out.AppCode, out.Status, out.Reason)
				}
				if got := strings.HasPrefix(out.Reason, "prior patient not known"); got == registered {
					t.Errorf("reason %q (prior registered: %v)", out.Reason, registered)
				}
				if !registered {
					// The late registration of the prior patient lands on the survivor.
					out := e.process(strings.Replace(reg, "8919-04", "8919-05", 1))
					if out.AppCode != "AA" {
						t.Fatalf("late registration: %s %q", out.AppCode, out.Reason)
					}
					mp := e.mapped(string(raw)).Merges[0]
					if r := e.read("Patient", mp.MergedID); !strings.Contains(string(r.Body), `"active":false`) {
						t.Errorf("late registration re-activated the merged record: %s", r.Body)
					}
				}
				mp := e.mapped(string(raw)).Merges[0]
				links, active := patientLinks(t, e.read("Patient", mp.MergedID).Body)
				if active == nil || *active || len(links) != 1 || links[0].Other.Reference != "Patient/"+mp.Survivor.ID {
					t.Errorf("merged: active %v links %+v", active, links)
				}
				ids := identifiers(t, e.read("Patient", mp.Survivor.ID).Body)
				if !hasID(ids, "12345") || !hasID(ids, "56789") {
					t.Errorf("survivor identifiers %+v", ids)
				}
			})
		}
	}
}

func TestMovedReference(t *testing.T) {
	const base = "http://fhir.test/fhir"
	for _, tc := range []struct {
		ref, base, want string
		moved           bool
	}{
		{"Patient/p1", base, "Patient/s1", true},
		{"Patient/p1/_history/2", base, "Patient/s1", true},
		{base + "/Patient/p1", base, base + "/Patient/s1", true},
		{base + "/Patient/p1/_history/7", base, base + "/Patient/s1", true},
		{base + "/Patient/p1", "", "", false},                     // no base known: not ours
		{"http://other.example/fhir/Patient/p1", base, "", false}, // another server's patient
		{"Patient/p10", base, "", false},
		{"Patient/p1/_history/", base, "", false},
		{"Patient/p1/_history/2/x", base, "", false},
		{"Patient/p1/x", base, "", false},
		{"Group/p1", base, "", false},
		{"#p1", base, "", false},
		{"Patient/s1", base, "", false},
	} {
		got, moved := movedReference(tc.ref, tc.base, "p1", "s1")
		if got != tc.want || moved != tc.moved {
			t.Errorf("movedReference(%q, %q) = %q, %v; want %q, %v", tc.ref, tc.base, got, moved, tc.want, tc.moved)
		}
	}
}

// TestMergeReferenceForms: resources refer to the duplicate by absolute URL on this
// server's base, by versioned reference, and in elements no search parameter covers
// (Condition.recorder, Annotation.authorReference); the A40 moves them all to the
// survivor, keeps the form (absolute stays absolute, the version goes) and the
// primitive extensions, and leaves references to other servers and other Patients.
func TestMergeReferenceForms(t *testing.T) {
	const base = "http://fhir.test/fhir"
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			ix := *testIndexer // as the gateway builds it: references on its own base are local
			ix.LocalBase = base
			e.svc = interaction.New(e.st, &ix, interaction.Config{BaseURL: base, Log: e.p.cfg.Log})
			e.p = New(e.st, e.svc, e.p.cfg)
			zhang := mrnZhang + "^^^SQ-CHC-01^MR"
			dup := mrnDup + "^^^SQ-CHC-01^MR"
			e.ack(e.process(adtFor("A01", "A1", "20240301093000", zhang, "V1")).ACK, "AA")
			e.ack(e.process(adtFor("A01", "A2", "20240301230000", dup, "V2")).ACK, "AA")
			a40 := mergeMsg("M1", "20240305110000", zhang, dup)
			mp := e.mapped(a40).Merges[0]
			survivor, prior := mp.Survivor.ID, mp.MergedID

			ext := `{"extension":[{"url":"http://example.org/checked","valueBoolean":true}]}`
			put := func(typ, id, body string) {
				t.Helper()
				body = strings.NewReplacer("PRIOR", prior, "BASE", base).Replace(body)
				if r := e.svc.Handle(e.ctx, &interaction.Request{Method: http.MethodPut, Path: typ + "/" + id,
					ContentType: "application/fhir+json", Body: []byte(body)}); r.Status >= 300 {
					t.Fatalf("PUT %s/%s: %d %s", typ, id, r.Status, r.Body)
				}
			}
			// Absolute on this server's base: indexed as a local reference.
			put("Observation", "abs", `{"resourceType":"Observation","id":"abs","status":"final","code":{"text":"体温"},`+
				`"subject":{"reference":"BASE/Patient/PRIOR","_reference":`+ext+`},"valueQuantity":{"value":36.50}}`)
			// Versioned, in an indexed element.
			put("Observation", "ver", `{"resourceType":"Observation","id":"ver","status":"final","code":{"text":"脉搏"},`+
				`"subject":{"reference":"Patient/PRIOR/_history/1"}}`)
			// Found by subject; the rest is in elements no search parameter covers, or
			// refers elsewhere.
			put("Condition", "notes", `{"resourceType":"Condition","id":"notes","subject":{"reference":"Patient/PRIOR"},`+
				`"recorder":{"reference":"BASE/Patient/PRIOR/_history/1","display":"本人"},`+
				`"note":[{"authorReference":{"reference":"Patient/PRIOR"},"text":"自述"}],`+
				`"evidence":[{"detail":[{"reference":"http://other.example/fhir/Patient/PRIOR"},{"reference":"Patient/PRIOR0"}]}]}`)

			// An audit record keeps naming what was acted on.
			put("Provenance", "prov", `{"resourceType":"Provenance","id":"prov","target":[{"reference":"Patient/PRIOR"}],`+
				`"recorded":"2024-03-02T08:00:00+08:00","agent":[{"who":{"display":"社区卫生服务中心"}}]}`)

			out := e.process(a40)
			e.ack(out.ACK, "AA")
			m := e.message(out.MessageID)
			if m.Status != store.MessageApplied || !strings.Contains(m.Reason, "merged Patient/"+prior+" into Patient/"+survivor) {
				t.Fatalf("A40 stored %q %q", m.Status, m.Reason)
			}
			if prov := e.read("Provenance", "prov"); prov.Version != 1 || !strings.Contains(string(prov.Body), `"Patient/`+prior+`"`) {
				t.Errorf("the merge rewrote a Provenance (version %d): %s", prov.Version, prov.Body)
			}
			sub := func(s string) string {
				return strings.NewReplacer("PRIOR", prior, "SURVIVOR", survivor, "BASE", base).Replace(s)
			}
			for _, tc := range []struct {
				typ, id    string
				want, gone []string
			}{
				{"Observation", "abs", []string{`"subject":{"reference":"BASE/Patient/SURVIVOR","_reference":` + ext + `}`, `"value":36.50`}, nil},
				{"Observation", "ver", []string{`"subject":{"reference":"Patient/SURVIVOR"}`}, []string{`_history`}},
				{"Condition", "notes", []string{
					`"subject":{"reference":"Patient/SURVIVOR"}`,
					`"recorder":{"reference":"BASE/Patient/SURVIVOR","display":"本人"}`,
					`"authorReference":{"reference":"Patient/SURVIVOR"}`,
					`{"reference":"http://other.example/fhir/Patient/PRIOR"}`,
					`{"reference":"Patient/PRIOR0"}`,
				}, []string{`"BASE/Patient/PRIOR`, `"Patient/PRIOR"`, `_history`}},
			} {
				body := string(e.read(tc.typ, tc.id).Body)
				for _, w := range tc.want {
					if !strings.Contains(body, sub(w)) {
						t.Errorf("%s/%s lacks %s: %s", tc.typ, tc.id, sub(w), body)
					}
				}
				for _, g := range tc.gone {
					if strings.Contains(body, sub(g)) {
						t.Errorf("%s/%s still has %s: %s", tc.typ, tc.id, sub(g), body)
					}
				}
			}
			// The index follows: nothing is found under the duplicate any more.
			if left := e.referrers("Observation", "subject", prior); len(left) != 0 {
				t.Errorf("%d Observations still found by subject=Patient/%s", len(left), prior)
			}
			page, err := e.st.Search(e.ctx, store.Query{Type: "Observation", Count: 10, Where: []store.Clause{{
				Param: "subject", Kind: store.KindReference, References: []store.ReferenceMatch{{URL: base + "/Patient/" + survivor}},
			}}})
			if err != nil || len(page.Resources) != 1 || page.Resources[0].ID != "abs" {
				t.Errorf("subject=%s/Patient/survivor found %v (%v)", base, page.Resources, err)
			}
		})
	}
}
