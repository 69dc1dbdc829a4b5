package v2fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// The testdata/referral messages follow one referral of a hypertensive
// resident from the Zhangjiang community health centre (SQ-CHC-01) to the
// cardiology department of a city hospital (SH-H01): the centre's REF^I12,
// the hospital's RRI^I12 accepting it (naming the doctor and adding its own
// number in RF1-11), the RRI reporting completion, a rejection, and the
// centre's REF^I14 cancel. RF1-6 carries no assigning authority, so the
// REF and the RRI must agree that the number is the centre's.

func readReferral(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "referral", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mapReferralFile(t *testing.T, name string) *Result {
	t.Helper()
	r, err := mapBytes(readReferral(t, name), Config{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func referralOf(t *testing.T, r *Result) (*fhir.ServiceRequest, *fhir.Task) {
	t.Helper()
	srs, ts := r.Find("ServiceRequest"), r.Find("Task")
	if len(srs) != 1 || len(ts) != 1 {
		t.Fatalf("got %d ServiceRequests and %d Tasks, want 1 and 1", len(srs), len(ts))
	}
	return srs[0].Resource.(*fhir.ServiceRequest), ts[0].Resource.(*fhir.Task)
}

func TestReferralWorkflow(t *testing.T) {
	const centreNumber = "urn:fhirgw:v2:id:SQ-CHC-01|ZZ20240301001"
	tests := []struct {
		file           string
		msgType        string
		srStatus       string
		taskStatus     string
		businessCode   string // Task.businessStatus coding, "" for text only
		identifiers    []string
		requester      string // display
		owner          string // display
		performerCount int
	}{
		{"ref-i12.hl7", "REF^I12", "active", "requested", "P", []string{centreNumber},
			"王芳 (张江社区卫生服务中心)", "上海市第一人民医院", 1},
		{"rri-i12-accept.hl7", "RRI^I12", "active", "accepted", "A", []string{centreNumber, "urn:fhirgw:v2:id:SH-H01|H2024-0088"},
			"王芳 (张江社区卫生服务中心)", "李明 (上海市第一人民医院)", 1},
		{"rri-i12-complete.hl7", "RRI^I12", "completed", "completed", "CM", []string{centreNumber, "urn:fhirgw:v2:id:SH-H01|H2024-0088"},
			"王芳 (张江社区卫生服务中心)", "李明 (上海市第一人民医院)", 1},
		{"rri-i12-reject.hl7", "RRI^I12", "revoked", "rejected", "R", []string{centreNumber, "urn:fhirgw:v2:id:SH-H01|H2024-0088"},
			"王芳 (张江社区卫生服务中心)", "上海市第一人民医院", 1},
		{"ref-i14.hl7", "REF^I14", "revoked", "cancelled", "", []string{centreNumber},
			"王芳 (张江社区卫生服务中心)", "上海市第一人民医院", 1},
	}
	srIDs, taskIDs := map[string]bool{}, map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			r := mapReferralFile(t, tc.file)
			if r.MessageType != tc.msgType {
				t.Errorf("MessageType = %s, want %s", r.MessageType, tc.msgType)
			}
			if len(r.Warnings) != 0 {
				t.Errorf("warnings: %+v", r.Warnings)
			}
			sr, task := referralOf(t, r)
			srIDs[*sr.Id], taskIDs[*task.Id] = true, true

			if sr.Status.Code() != tc.srStatus || sr.Intent.Code() != "order" {
				t.Errorf("ServiceRequest status/intent = %s/%s, want %s/order", sr.Status, sr.Intent, tc.srStatus)
			}
			// The fixed referral category, then RF1-5 (table 0284, O 门诊).
			if len(sr.Category) != 2 || value(sr.Category[0].Coding[0].System) != snomedCT || value(sr.Category[0].Coding[0].Code) != "3457005" ||
				value(sr.Category[1].Coding[0].System) != v20284 || value(sr.Category[1].Coding[0].Code) != "O" || value(sr.Category[1].Coding[0].Display) != "门诊" {
				t.Errorf("category = %+v, want SNOMED 3457005 and RF1-5 v2-0284 O", sr.Category)
			}
			var ids []string
			for _, id := range sr.Identifier {
				ids = append(ids, value(id.System)+"|"+value(id.Value))
			}
			if strings.Join(ids, " ") != strings.Join(tc.identifiers, " ") {
				t.Errorf("identifiers = %v, want %v", ids, tc.identifiers)
			}
			if code(sr.Priority) != "asap" {
				t.Errorf("priority = %q, want asap (RF1-2 A)", sr.Priority)
			}
			if sr.Code == nil || value(sr.Code.Coding[0].Code) != "MED" || value(sr.Code.Coding[0].System) != "http://terminology.hl7.org/CodeSystem/v2-0281" {
				t.Errorf("code = %+v, want MED from table 0281", sr.Code)
			}
			if value(sr.AuthoredOn) != "2024-03-01T10:00:00+08:00" {
				t.Errorf("authoredOn = %q", value(sr.AuthoredOn))
			}
			if p := sr.OccurrencePeriod; p == nil || value(p.Start) != "2024-03-01T10:00:00+08:00" || value(p.End) != "2024-03-31" {
				t.Errorf("occurrencePeriod = %+v", p)
			}
			if len(sr.ReasonCode) == 0 || value(sr.ReasonCode[0].Coding[0].Code) != "HTN" {
				t.Errorf("reasonCode = %+v, want RF1-10 HTN first", sr.ReasonCode)
			}
			wantDG1 := tc.file != "rri-i12-reject.hl7" && tc.file != "ref-i14.hl7"
			if hasI10 := len(sr.ReasonCode) == 2 && value(sr.ReasonCode[1].Coding[0].Code) == "I10"; hasI10 != wantDG1 {
				t.Errorf("reasonCode = %+v, DG1 I10 expected: %v", sr.ReasonCode, wantDG1)
			}
			if sr.Requester == nil || value(sr.Requester.Display) != tc.requester || !strings.HasPrefix(value(sr.Requester.Reference), "PractitionerRole/") {
				t.Errorf("requester = %+v, want %s", sr.Requester, tc.requester)
			}
			if len(sr.Performer) != tc.performerCount || value(sr.Performer[0].Display) != tc.owner {
				t.Errorf("performer = %+v, want %s", sr.Performer, tc.owner)
			}
			pat := patientOf(t, r)
			if value(sr.Subject.Reference) != "Patient/"+*pat.Id {
				t.Errorf("subject = %s, want Patient/%s", value(sr.Subject.Reference), *pat.Id)
			}
			hasCard := false
			for _, id := range pat.Identifier {
				hasCard = hasCard || value(id.System) == IDCardSystemWST500 && value(id.Value) == "11010519491231002X"
			}
			if !hasCard || len(pat.Name) == 0 || value(pat.Name[0].Text) != "张秀英" {
				t.Errorf("patient = %+v, want 张秀英 with the ID card", pat)
			}

			if task.Status.Code() != tc.taskStatus || task.Intent != "order" {
				t.Errorf("Task status/intent = %s/%s, want %s/order", task.Status, task.Intent, tc.taskStatus)
			}
			if task.Code == nil || value(task.Code.Coding[0].Code) != "fulfill" {
				t.Errorf("Task.code = %+v, want fulfill", task.Code)
			}
			if task.Focus == nil || value(task.Focus.Reference) != "ServiceRequest/"+*sr.Id {
				t.Errorf("Task.focus = %+v, want ServiceRequest/%s", task.Focus, *sr.Id)
			}
			if task.For == nil || value(task.For.Reference) != value(sr.Subject.Reference) {
				t.Errorf("Task.for = %+v", task.For)
			}
			if task.Requester == nil || !reflect.DeepEqual(task.Requester, sr.Requester) {
				t.Errorf("Task.requester = %+v, want %+v", task.Requester, sr.Requester)
			}
			if task.Owner == nil || value(task.Owner.Display) != tc.owner {
				t.Errorf("Task.owner = %+v, want %s", task.Owner, tc.owner)
			}
			bs := task.BusinessStatus
			switch {
			case bs == nil || value(bs.Text) != tc.taskStatus:
				t.Errorf("businessStatus = %+v, want text %s", bs, tc.taskStatus)
			case tc.businessCode == "" && len(bs.Coding) != 0,
				tc.businessCode != "" && (len(bs.Coding) == 0 || value(bs.Coding[0].Code) != tc.businessCode):
				t.Errorf("businessStatus = %+v, want code %q", bs, tc.businessCode)
			}
			if task.Restriction == nil || value(task.Restriction.Period.End) != "2024-03-31" {
				t.Errorf("Task.restriction = %+v, want the RF1-8 expiration", task.Restriction)
			}
			for _, e := range r.Resources {
				if strings.HasPrefix(e.Type, "Practitioner") || e.Type == "Organization" {
					if e.ID == "" {
						t.Errorf("%s without id", e.Type)
					}
				}
			}
		})
	}
	// Every message of the exchange updates the one referral.
	if len(srIDs) != 1 || len(taskIDs) != 1 {
		t.Errorf("ServiceRequest ids %v, Task ids %v: want one of each across REF and RRI", srIDs, taskIDs)
	}
}

// TestReferralParties checks that both sides name the same organisations
// and the referring doctor with the same ids.
func TestReferralParties(t *testing.T) {
	ids := func(r *Result, ty string) map[string]bool {
		out := map[string]bool{}
		for _, e := range r.Find(ty) {
			out[e.ID] = true
		}
		return out
	}
	ref, rri := mapReferralFile(t, "ref-i12.hl7"), mapReferralFile(t, "rri-i12-accept.hl7")
	for _, ty := range []string{"Organization", "Practitioner"} {
		a, b := ids(ref, ty), ids(rri, ty)
		for id := range a {
			if !b[id] {
				t.Errorf("%s/%s of the REF is missing from the RRI", ty, id)
			}
		}
	}
	if n := len(ref.Find("Organization")); n != 2 {
		t.Errorf("REF has %d Organizations, want centre and hospital", n)
	}
	// The REF names only the hospital department; the RRI adds the doctor.
	if n := len(ref.Find("Practitioner")); n != 1 {
		t.Errorf("REF has %d Practitioners, want 1", n)
	}
	if n := len(rri.Find("Practitioner")); n != 2 {
		t.Errorf("RRI has %d Practitioners, want 2", n)
	}
	for _, e := range ref.Find("PractitionerRole") {
		role := e.Resource.(*fhir.PractitionerRole)
		if role.Organization == nil || !ids(ref, "Organization")[strings.TrimPrefix(value(role.Organization.Reference), "Organization/")] {
			t.Errorf("PractitionerRole %s points at %+v, not a mapped Organization", *role.Id, role.Organization)
		}
	}
}

func TestReferralDeterministic(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "referral", "*.hl7"))
	if len(files) == 0 {
		t.Fatal("no referral messages")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, err := mapBytes(data, Config{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := mapBytes(data, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bundle(), b.Bundle()) {
			t.Errorf("%s: two mappings differ", f)
		}
		var bundle struct {
			Entry []struct {
				Resource struct{ ResourceType, ID string }
				Request  struct{ Method, URL string }
			}
		}
		if err := json.Unmarshal(a.Bundle(), &bundle); err != nil {
			t.Fatal(err)
		}
		for _, e := range bundle.Entry {
			if e.Request.Method != "PUT" || e.Request.URL != e.Resource.ResourceType+"/"+e.Resource.ID {
				t.Errorf("%s: entry %s/%s requested as %s %s", f, e.Resource.ResourceType, e.Resource.ID, e.Request.Method, e.Request.URL)
			}
		}
	}
}

func TestReferralEdgeCases(t *testing.T) {
	base := string(readReferral(t, "ref-i12.hl7"))
	rf1 := func(msg string) string {
		for _, s := range strings.Split(msg, "\r") {
			if strings.HasPrefix(s, "RF1|") {
				return s
			}
		}
		t.Fatal("no RF1")
		return ""
	}(base)
	fields := strings.Split(rf1, "|")
	with := func(f int, v string) string {
		fs := append([]string(nil), fields...)
		fs[f] = v
		return strings.Replace(base, rf1, strings.Join(fs, "|"), 1)
	}
	tests := []struct {
		name       string
		msg        string
		wantErr    bool
		srStatus   string
		taskStatus string
		warn       string
		sameKey    bool // same ServiceRequest id as the unmodified REF
	}{
		{name: "hold", msg: with(1, "H"), srStatus: "on-hold", taskStatus: "on-hold", sameKey: true},
		{name: "cancelled status", msg: with(1, "CA"), srStatus: "revoked", taskStatus: "cancelled", sameKey: true},
		{name: "expired", msg: with(1, "E"), srStatus: "revoked", taskStatus: "failed", sameKey: true},
		{name: "no status", msg: with(1, ""), srStatus: "active", taskStatus: "requested", sameKey: true},
		{name: "unknown status", msg: with(1, "ZZ"), srStatus: "unknown", taskStatus: "requested", warn: "STATUS_UNMAPPED", sameKey: true},
		{name: "authority on RF1-6", msg: with(6, "ZZ20240301001^SQ-CHC-01"), srStatus: "active", taskStatus: "requested", sameKey: true},
		{name: "other authority", msg: with(6, "ZZ20240301001^OTHER"), srStatus: "active", taskStatus: "requested"},
		{name: "external id only", msg: with(6, ""), srStatus: "active", taskStatus: "requested"},
		{name: "no RF1", msg: strings.Replace(base, rf1+"\r", "", 1), wantErr: true},
		{name: "no PID", msg: strings.Replace(base, "PID|", "ZPI|", 1), wantErr: true},
	}
	// Give the "external id only" case an RF1-11 to key on.
	tests[7].msg = strings.Replace(tests[7].msg, "|HTN^血压控制不佳^L|", "|HTN^血压控制不佳^L|EXT-1", 1)
	want := mustMap(t, parse(t, base), Config{})
	wantSR, _ := referralOf(t, want)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := mapBytes([]byte(tc.msg), Config{})
			if tc.wantErr {
				if err == nil || errors.Is(err, ErrUnsupported) {
					t.Fatalf("err = %v, want a mapping error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sr, task := referralOf(t, r)
			if sr.Status.Code() != tc.srStatus || task.Status.Code() != tc.taskStatus {
				t.Errorf("status = %s/%s, want %s/%s", sr.Status, task.Status, tc.srStatus, tc.taskStatus)
			}
			if (*sr.Id == *wantSR.Id) != tc.sameKey {
				t.Errorf("ServiceRequest id %s, same as the REF's: %v, want %v", *sr.Id, *sr.Id == *wantSR.Id, tc.sameKey)
			}
			gotWarn := ""
			for _, w := range r.Warnings {
				gotWarn += w.Code
			}
			if gotWarn != tc.warn {
				t.Errorf("warnings = %+v, want %q", r.Warnings, tc.warn)
			}
		})
	}
	// Without any referral number there is nothing to track.
	if _, err := mapBytes([]byte(with(6, "")), Config{}); err == nil {
		t.Error("no RF1-6 and no RF1-11: want an error")
	}
}

// TestReferralProcedureAndAuthorization maps testdata/referral/
// ref-i12-procedure.hl7: the centre refers a resident with suspected
// coronary heart disease for admission (RF1-5 I), under the city medical
// insurance bureau's referral filing number (AUT), with the ECG done at
// the centre and an earlier ambulatory blood pressure monitoring (PR1).
func TestReferralProcedureAndAuthorization(t *testing.T) {
	msg := string(readReferral(t, "ref-i12-procedure.hl7"))
	r := mustMap(t, parse(t, msg), Config{})
	if len(r.Warnings) != 0 {
		t.Errorf("warnings: %+v", r.Warnings)
	}
	sr, _ := referralOf(t, r)
	if len(sr.Category) != 2 || value(sr.Category[1].Coding[0].System) != v20284 || value(sr.Category[1].Coding[0].Code) != "I" {
		t.Errorf("category = %+v, want RF1-5 I (inpatient) second", sr.Category)
	}
	// RF1-10 repeats: both reasons, then the DG1 diagnosis.
	var reasons []string
	for _, rc := range sr.ReasonCode {
		reasons = append(reasons, value(rc.Coding[0].Code))
	}
	if strings.Join(reasons, " ") != "CAD CP I25.1" {
		t.Errorf("reasonCode = %v, want RF1-10 CAD CP then DG1 I25.1", reasons)
	}
	// AUT-6 under the payer AUT-2, as a logical ClaimResponse reference.
	if len(sr.Insurance) != 1 {
		t.Fatalf("insurance = %+v, want the AUT", sr.Insurance)
	}
	ins := sr.Insurance[0]
	if value(ins.Type) != "ClaimResponse" || value(ins.Reference) != "" || ins.Identifier == nil ||
		value(ins.Identifier.System) != "urn:fhirgw:v2:id:SHYB" || value(ins.Identifier.Value) != "ZZBA2024031000123" || value(ins.Display) != "上海市医疗保障局" {
		t.Errorf("insurance = %+v %+v", ins, ins.Identifier)
	}
	ps := r.Find("Procedure")
	if len(ps) != 2 {
		t.Fatalf("%d Procedures, want 2", len(ps))
	}
	ecg, abpm := ps[0].Resource.(*fhir.Procedure), ps[1].Resource.(*fhir.Procedure)
	pat := patientOf(t, r)
	if value(ecg.Code.Coding[0].Code) != "89.52" || value(ecg.Code.Text) != "十二导联心电图" || value(ecg.Subject.Reference) != "Patient/"+*pat.Id ||
		ecg.PerformedPeriod == nil || value(ecg.PerformedPeriod.End) != "2024-03-10T09:45:00+08:00" {
		t.Errorf("ECG = %+v %+v", ecg.Code, ecg.PerformedPeriod)
	}
	if len(ecg.Performer) != 1 || ecg.Performer[0].Function != nil || value(ecg.Performer[0].Actor.Display) != "王芳" {
		t.Errorf("ECG performer = %+v, want PR1-12 王芳 without a function", ecg.Performer)
	}
	if len(ecg.Identifier) != 1 || value(ecg.Identifier[0].Value) != "ECG20240310007" || len(ecg.ReasonCode) != 1 {
		t.Errorf("ECG identifier %+v reason %+v", ecg.Identifier, ecg.ReasonCode)
	}
	if value(abpm.Code.Coding[0].Code) != "89.61" || value(abpm.PerformedDateTime) != "2024-02-25" || len(abpm.Identifier) != 0 {
		t.Errorf("ABPM = %+v %q", abpm.Code, value(abpm.PerformedDateTime))
	}
	if len(sr.SupportingInfo) != 2 || value(sr.SupportingInfo[0].Reference) != "Procedure/"+*ecg.Id || value(sr.SupportingInfo[1].Reference) != "Procedure/"+*abpm.Id {
		t.Errorf("supportingInfo = %v, want both Procedures", sr.SupportingInfo)
	}

	aut := func(msg string) string {
		for _, s := range strings.Split(msg, "\r") {
			if strings.HasPrefix(s, "AUT|") {
				return s
			}
		}
		t.Fatal("no AUT")
		return ""
	}(msg)
	fields := strings.Split(aut, "|")
	with := func(f int, v string) string {
		fs := append([]string(nil), fields...)
		fs[f] = v
		return strings.Replace(msg, aut, strings.Join(fs, "|"), 1)
	}
	insurance := func(msg string) []fhir.Reference {
		sr, _ := referralOf(t, mustMap(t, parse(t, msg), Config{}))
		return sr.Insurance
	}
	for _, tc := range []struct {
		name, msg string
		want      []string // system|value
	}{
		{"authority on AUT-6", with(6, "ZZBA2024031000123^^2.16.156.10011.9.1^ISO"), []string{"urn:oid:2.16.156.10011.9.1|ZZBA2024031000123"}},
		{"no payer id: the sender's", with(2, ""), []string{"urn:fhirgw:v2:id:SQ-CHC-01|ZZBA2024031000123"}},
		{"no authorization number", with(6, ""), nil},
		{"AUT repeated after PR1", msg + aut + "\r", []string{"urn:fhirgw:v2:id:SHYB|ZZBA2024031000123"}},
		{"two authorisations", msg + strings.Replace(aut, "ZZBA2024031000123", "ZZBA2024031000124", 1) + "\r",
			[]string{"urn:fhirgw:v2:id:SHYB|ZZBA2024031000123", "urn:fhirgw:v2:id:SHYB|ZZBA2024031000124"}},
		{"no AUT", strings.Replace(msg, aut+"\r", "", 1), nil},
	} {
		var got []string
		for _, i := range insurance(tc.msg) {
			got = append(got, value(i.Identifier.System)+"|"+value(i.Identifier.Value))
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: insurance %v, want %v", tc.name, got, tc.want)
		}
	}
	// The ECG's PR1 sent twice: one Procedure, listed once.
	ecgPR1 := strings.Split(strings.Split(msg, "PR1|1|")[1], "\r")[0]
	sr, _ = referralOf(t, mustMap(t, parse(t, msg+"PR1|1|"+ecgPR1+"\r"), Config{}))
	if len(sr.SupportingInfo) != 2 {
		t.Errorf("repeated PR1: supportingInfo %v, want the two Procedures", sr.SupportingInfo)
	}
	// RF1-5 without a coding system: table 0284 is assumed for its codes,
	// other codes keep no system.
	rf1 := strings.Replace(msg, "I^住院^HL70284", "E", 1)
	sr, _ = referralOf(t, mustMap(t, parse(t, rf1), Config{}))
	if c := sr.Category[1].Coding[0]; value(c.System) != v20284 || value(c.Code) != "E" || value(c.Display) != "Emergency" {
		t.Errorf("bare RF1-5 E: %+v", c)
	}
	sr, _ = referralOf(t, mustMap(t, parse(t, strings.Replace(msg, "I^住院^HL70284", "ZZ", 1)), Config{}))
	if c := sr.Category[1].Coding[0]; value(c.System) != "" || value(c.Code) != "ZZ" {
		t.Errorf("bare RF1-5 ZZ: %+v", c)
	}
	sr, _ = referralOf(t, mustMap(t, parse(t, strings.Replace(msg, "I^住院^HL70284", "", 1)), Config{}))
	if len(sr.Category) != 1 {
		t.Errorf("no RF1-5: category %+v", sr.Category)
	}
}

// TestReferralCorpus compares the referral ServiceRequest of the corpus
// REF messages with FHIR-Converter's on the key fields. Deliberate
// differences: status (FHIR-Converter says on-hold for RF1-1 P and
// entered-in-error for I14; we follow table 0283 and the cancel event:
// active, revoked) and code (FHIR-Converter puts RF1-3 in category).
func TestReferralCorpus(t *testing.T) {
	for _, tc := range []struct{ file, dir, status string }{
		{"REF-I12-01", "REF_I12", "active"},
		{"REF-I14-01", "REF_I14", "revoked"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(corpusDir, "messages", tc.file+".hl7"))
			if err != nil {
				t.Skip("corpus message missing")
			}
			exp := loadExpected(t, tc.dir, tc.file)
			var want obj
			for _, r := range byType(exp, "ServiceRequest") {
				if list(r["identifier"]) != nil {
					want = r
				}
			}
			if want == nil {
				t.Fatal("no referral ServiceRequest in the expected bundle")
			}
			r, err := mapBytes(data, corpusConfig)
			if err != nil {
				t.Fatal(err)
			}
			// The referral and the earlier order of the OBR group.
			var g obj
			var priors []string
			for _, sr := range ours(r, "ServiceRequest") {
				if list(sr["identifier"]) != nil {
					g = sr
				} else {
					priors = append(priors, "ServiceRequest/"+str(sr["id"]))
				}
			}
			if g == nil || len(priors) != 1 {
				t.Fatalf("ServiceRequests %v, want the referral and the OBR's", ours(r, "ServiceRequest"))
			}
			var gi, wi []string
			for _, i := range list(g["identifier"]) {
				gi = append(gi, str(i.(obj)["system"])+"|"+str(i.(obj)["value"]))
			}
			for _, i := range list(want["identifier"]) {
				wi = append(wi, str(i.(obj)["system"])+"|"+str(i.(obj)["value"]))
			}
			if strings.Join(gi, " ") != strings.Join(wi, " ") {
				t.Errorf("identifier = %v, FHIR-Converter %v", gi, wi)
			}
			for _, k := range []string{"intent", "priority"} {
				if g[k] != want[k] {
					t.Errorf("%s = %v, FHIR-Converter %v", k, g[k], want[k])
				}
			}
			if g["status"] != tc.status {
				t.Errorf("status = %v, want %s", g["status"], tc.status)
			}
			if !sameInstant(str(g["authoredOn"]), str(want["authoredOn"])) {
				t.Errorf("authoredOn = %v, FHIR-Converter %v", g["authoredOn"], want["authoredOn"])
			}
			gp, _ := g["occurrencePeriod"].(obj)
			wp, _ := want["occurrencePeriod"].(obj)
			if gp == nil || wp == nil || str(gp["start"]) != str(wp["start"]) || str(gp["end"]) != str(wp["end"]) {
				t.Errorf("occurrencePeriod = %v, FHIR-Converter %v", gp, wp)
			}
			// FHIR-Converter's second category is RF1-3, our code.
			cats := list(want["category"])
			_, wantCode := firstCoding(cats[len(cats)-1])
			if _, c := firstCoding(g["code"]); c != wantCode {
				t.Errorf("code = %s, FHIR-Converter category %s", c, wantCode)
			}
			// The referred-to organisation FHIR-Converter names must be ours.
			var orgNames []string
			for _, o := range ours(r, "Organization") {
				orgNames = append(orgNames, strings.ToUpper(str(o["name"])))
			}
			for _, p := range list(want["performer"]) {
				ref := str(p.(obj)["reference"])
				for _, o := range byType(exp, "Organization") {
					if "Organization/"+str(o["id"]) == ref && !strings.Contains(strings.Join(orgNames, "|"), strings.ToUpper(str(o["name"]))) {
						t.Errorf("performer organisation %v not among ours %v", o["name"], orgNames)
					}
				}
			}
			if g["performer"] == nil || g["subject"] == nil {
				t.Errorf("performer/subject missing: %v", g)
			}
			// RF1-5: our second category, FHIR-Converter's locationCode.
			if _, wc := firstCoding(orEmpty(list(want["locationCode"])[0])); len(list(g["category"])) != 2 {
				t.Errorf("category = %v, want RF1-5 %s second", g["category"], wc)
			} else if _, gc := firstCoding(list(g["category"])[1]); gc != wc {
				t.Errorf("RF1-5 category = %s, FHIR-Converter locationCode %s", gc, wc)
			}
			// RF1-10 reason: FHIR-Converter's only reasonCode is ours first.
			if _, wr := firstCoding(list(want["reasonCode"])[0]); len(list(g["reasonCode"])) == 0 {
				t.Errorf("no reasonCode, FHIR-Converter %s", wr)
			} else if _, gr := firstCoding(list(g["reasonCode"])[0]); gr != wr {
				t.Errorf("reasonCode = %s, FHIR-Converter %s", gr, wr)
			}
			// AUT-6: FHIR-Converter's ClaimResponse identifiers.
			var wa, ga []string
			for _, cr := range byType(exp, "ClaimResponse") {
				wa = append(wa, identifierValues(cr["identifier"])...)
			}
			for _, i := range list(g["insurance"]) {
				ga = append(ga, str(orEmpty(i.(obj)["identifier"])["value"]))
				if str(i.(obj)["type"]) != "ClaimResponse" {
					t.Errorf("insurance %v is not a ClaimResponse reference", i)
				}
			}
			slices.Sort(wa)
			slices.Sort(ga)
			if len(wa) == 0 || !slices.Equal(ga, wa) {
				t.Errorf("insurance identifiers = %v, FHIR-Converter ClaimResponse %v", ga, wa)
			}
			// The PR1 Procedures, the OBR's order and the OBX Observations
			// are the referral's supporting information; the Observations
			// are results of the OBR's order.
			var procs, support []string
			for _, p := range ours(r, "Procedure") {
				procs = append(procs, "Procedure/"+str(p["id"]))
			}
			support = append(support, procs...)
			support = append(support, priors...)
			for _, o := range ours(r, "Observation") {
				support = append(support, "Observation/"+str(o["id"]))
				if b := list(o["basedOn"]); len(b) != 1 || str(b[0].(obj)["reference"]) != priors[0] {
					t.Errorf("Observation basedOn %v, want %s", b, priors[0])
				}
			}
			var si []string
			for _, i := range list(g["supportingInfo"]) {
				si = append(si, str(i.(obj)["reference"]))
			}
			if len(procs) == 0 || len(support) == len(procs) || !slices.Equal(si, support) {
				t.Errorf("supportingInfo = %v, want the Procedures and Observations %v", si, support)
			}
		})
	}
}

// TestReferralPriorOrder covers the observation group of REF and RRI: the
// OBR is an earlier order (a ServiceRequest with ids from its placer or
// filler number), its OBX are results based on it, and both support the
// referral.
func TestReferralPriorOrder(t *testing.T) {
	ref := string(readReferral(t, "ref-i12.hl7"))
	rri := string(readReferral(t, "rri-i12-complete.hl7"))
	const (
		hba1c    = "OBR|1|LIS20240228-17^SQ-CHC-01||4548-4^糖化血红蛋白^LN|||20240228083000|||||||||D0012^王芳|||||||||F\r"
		hba1cOBX = "OBX|1|NM|4548-4^糖化血红蛋白^LN||7.9|%|4.0-6.0|H|||F|||20240228083000\r"
		lipid    = "OBR|2|||2093-3^总胆固醇^LN|||20240228083000|||||||||D0012^王芳\r"
		lipidOBX = "OBX|1|NM|2093-3^总胆固醇^LN||6.2|mmol/L|<5.2|H|||F\r"
		echo     = "OBR|1||US2024-0311^SH-H01|59282-4^超声心动图^LN|||20240312100000|||||||||110310000012345^李明|||||||||F\r"
		echoOBX  = "OBX|1|TX|59282-4^超声心动图^LN||左室壁增厚|||||F\r"
		vitalOBX = "OBX|1|NM|8480-6^收缩压^LN||168|mm[Hg]|90-139|H|||F|||20240301093000\r"
	)
	type prior struct {
		ids     string // identifiers, system|value
		key     []string
		code    string
		status  string
		results []string // OBX-3 codes of the Observations based on it
	}
	tests := []struct {
		name   string
		msg    string
		priors []prior
		others []string // OBX-3 codes of Observations based on nothing
	}{
		{"placer number", ref + hba1c + hba1cOBX, []prior{{
			ids: "urn:fhirgw:v2:id:SQ-CHC-01|LIS20240228-17", key: []string{"PLAC", "urn:fhirgw:v2:id:SQ-CHC-01", "LIS20240228-17"},
			code: "4548-4", status: "completed", results: []string{"4548-4"},
		}}, nil},
		{"no order number: a key of the message", ref + lipid + lipidOBX, []prior{{
			code: "2093-3", status: "unknown", results: []string{"2093-3"},
		}}, nil},
		{"two groups", ref + hba1c + hba1cOBX + lipid + lipidOBX, []prior{
			{ids: "urn:fhirgw:v2:id:SQ-CHC-01|LIS20240228-17", code: "4548-4", status: "completed", results: []string{"4548-4"}},
			{code: "2093-3", status: "unknown", results: []string{"2093-3"}},
		}, nil},
		{"OBR without OBX", ref + lipid, []prior{{code: "2093-3", status: "unknown"}}, nil},
		{"OBX before any OBR supports the referral only", ref + vitalOBX + lipid + lipidOBX, []prior{{
			code: "2093-3", status: "unknown", results: []string{"2093-3"},
		}}, []string{"8480-6"}},
		{"RRI, filler number", rri + echo + echoOBX, []prior{{
			ids: "urn:fhirgw:v2:id:SH-H01|US2024-0311", key: []string{"FILL", "urn:fhirgw:v2:id:SH-H01", "US2024-0311"},
			code: "59282-4", status: "completed", results: []string{"59282-4"},
		}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustMap(t, parse(t, tc.msg), Config{})
			if len(r.Warnings) != 0 {
				t.Errorf("warnings: %+v", r.Warnings)
			}
			var referral *fhir.ServiceRequest
			priors := map[string]*fhir.ServiceRequest{} // by code
			for _, e := range r.Find("ServiceRequest") {
				sr := e.Resource.(*fhir.ServiceRequest)
				if len(sr.Category) > 0 {
					referral = sr
				} else {
					priors[value(sr.Code.Coding[0].Code)] = sr
				}
			}
			if referral == nil || len(priors) != len(tc.priors) {
				t.Fatalf("referral %v, earlier orders %v, want %d", referral != nil, slices.Collect(maps.Keys(priors)), len(tc.priors))
			}
			basedOn := map[string]string{} // Observation code → ServiceRequest it is based on
			var obsRefs []string
			for _, e := range r.Find("Observation") {
				o := e.Resource.(*fhir.Observation)
				obsRefs = append(obsRefs, "Observation/"+*o.Id)
				switch len(o.BasedOn) {
				case 0:
					basedOn[value(o.Code.Coding[0].Code)] = ""
				case 1:
					basedOn[value(o.Code.Coding[0].Code)] = value(o.BasedOn[0].Reference)
				default:
					t.Errorf("Observation %s basedOn %v", value(o.Code.Coding[0].Code), o.BasedOn)
				}
			}
			var want []string
			for _, p := range tc.priors {
				sr := priors[p.code]
				if sr == nil {
					t.Errorf("no ServiceRequest for OBR %s", p.code)
					continue
				}
				want = append(want, "ServiceRequest/"+*sr.Id)
				var ids []string
				for _, id := range sr.Identifier {
					ids = append(ids, value(id.System)+"|"+value(id.Value))
				}
				if strings.Join(ids, " ") != p.ids {
					t.Errorf("%s identifiers %v, want %q", p.code, ids, p.ids)
				}
				if p.key != nil && *sr.Id != makeID("ServiceRequest", p.key...) {
					t.Errorf("%s id %s, want the one of %v", p.code, *sr.Id, p.key)
				}
				if *sr.Id == *referral.Id {
					t.Errorf("%s has the referral's id", p.code)
				}
				if sr.Intent != fhir.RequestIntentOrder || sr.Status.Code() != p.status || sr.Requester == nil ||
					value(sr.Subject.Reference) != value(referral.Subject.Reference) {
					t.Errorf("%s: intent %s status %s requester %v subject %v", p.code, sr.Intent.Code(), sr.Status.Code(), sr.Requester, sr.Subject)
				}
				for _, c := range p.results {
					if got := basedOn[c]; got != "ServiceRequest/"+*sr.Id {
						t.Errorf("Observation %s basedOn %q, want %s", c, got, *sr.Id)
					}
				}
			}
			for _, c := range tc.others {
				if got, ok := basedOn[c]; !ok || got != "" {
					t.Errorf("Observation %s basedOn %q (present %v), want none", c, got, ok)
				}
			}
			// The referral lists the earlier orders, then every Observation.
			want = append(want, obsRefs...)
			var si []string
			for _, s := range referral.SupportingInfo {
				si = append(si, value(s.Reference))
			}
			if !slices.Equal(si, want) {
				t.Errorf("referral supportingInfo %v, want %v", si, want)
			}
			// The same message maps to the same ids.
			again := mustMap(t, parse(t, tc.msg), Config{})
			for i, e := range r.Resources {
				if again.Resources[i].ID != e.ID {
					t.Errorf("%s id %s, then %s", e.Type, e.ID, again.Resources[i].ID)
				}
			}
		})
	}
}

func BenchmarkMapREF(b *testing.B) { benchMap(b, "REF-I12-01.hl7") }
