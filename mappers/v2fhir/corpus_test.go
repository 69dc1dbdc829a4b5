package v2fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

const corpusDir = "../../testdata/hl7v2"

// corpusConfig makes identifier and code systems look like FHIR-Converter's
// so the two can be compared.
var corpusConfig = Config{
	IdentifierSystemBase: "http://example.com/v2-to-fhir-converter/Identifier/",
	CodeSystemBase:       "http://example.com/v2-to-fhir-converter/CodeSystem/",
}

type obj = map[string]any

func str(v any) string { s, _ := v.(string); return s }

func list(v any) []any { l, _ := v.([]any); return l }

// sameInstant compares FHIR dates/dateTimes: FHIR-Converter renders times in
// its own machine's zone, so instants are compared, not strings.
func sameInstant(a, b string) bool {
	if a == b {
		return true
	}
	ta, err1 := time.Parse(time.RFC3339, a)
	tb, err2 := time.Parse(time.RFC3339, b)
	return err1 == nil && err2 == nil && ta.Equal(tb)
}

type check struct {
	file, field, got, want string
}

// noExpected says why a corpus message has no FHIR-Converter output to
// compare with; such a message is still checked against its own PID.
var noExpected = map[string]string{
	"LAB-ORM-1": "FHIR-Converter keeps it as sample data only: its functional tests have no expected output for it",
	"MDM_01":    "FHIR-Converter keeps it as sample data only: its functional tests have no expected output for it",
	"SIU-S12_1": "FHIR-Converter keeps it as sample data only: its functional tests have no expected output for it",
}

// table0085 is the IG's ConceptMap table-hl70085-to-observation-status, for
// the codes whose status FHIR-Converter leaves unknown.
var table0085 = map[string]string{
	"I": "registered", "O": "registered", "P": "preliminary", "R": "preliminary", "S": "preliminary",
	"U": "final", "X": "cancelled",
}

// deliberate returns why a difference from FHIR-Converter is intended, or
// "" for a real disagreement. msg is the message both sides mapped.
func deliberate(d check, msg *hl7v2.Message) string {
	// List checks carry "file Type[key]" in file and the member in field.
	d.field = d.file + " " + d.field
	d.file, _, _ = strings.Cut(d.file, " ")
	key := bracket(d.field)
	switch {
	case strings.Contains(d.field, "Observation[") && strings.HasSuffix(d.field, "] status") && d.want == "unknown" && slices.ContainsFunc(obxByCode(msg, codeOf(key)), func(obx hl7v2.Segment) bool {
		return table0085[strings.TrimSpace(obx.Field(11).String())] == d.got
	}):
		// IG ConceptMap table 0085: I (pending) → registered, S (partial)
		// → preliminary...; FHIR-Converter says unknown.
		return "OBX-11 mapped by table 0085 per the IG"
	case strings.Contains(d.field, "ServiceRequest[") && strings.HasSuffix(d.field, " status") && strings.HasPrefix(d.file, "LAB-ORU") && orcless(msg) &&
		d.got == map[bool]string{true: "completed", false: "unknown"}[obrOf(msg, key) == "F"]:
		// ORU without ORC-5/ORC-1: the IG gives no status; we say completed
		// for a final OBR-25 and unknown otherwise, FHIR-Converter active.
		return "ORU order status inferred from OBR-25"
	case (strings.HasPrefix(d.file, "REF") || strings.HasPrefix(d.file, "RRI")) && strings.Contains(d.field, "ServiceRequest[code ") && strings.HasSuffix(d.field, "] status") && orcless(msg) &&
		slices.ContainsFunc(msg.AllSegments("OBR"), func(obr hl7v2.Segment) bool {
			return obr.Field(4).Component(1).String() == codeOf(key) && d.got == map[bool]string{true: "completed", false: "unknown"}[obr.Field(25).String() == "F"]
		}):
		// A referral's observation group (OBR without ORC) is an earlier
		// order; as in ORU, the IG gives it no status and we infer it from
		// OBR-25. FHIR-Converter says active.
		return "referral's earlier order status inferred from OBR-25"
	case strings.Contains(d.field, "ServiceRequest[") && strings.HasSuffix(d.field, " status") && d.file == "ORU-R01-RMGEAD" && d.got == "completed" && orcless(msg) && obrStatus(msg, "F"):
		return "ORU order status inferred from OBR-25"
	case strings.Contains(d.field, "ServiceRequest[") && strings.HasSuffix(d.field, " status") && d.file == "MDHHS-OML-O21-2" && d.got == "active" && msg.Get("ORC-1") == "NW":
		// ORC-1 NW means a new, active order (table 0119).
		return "ORC-1 NW is active"
	case strings.HasSuffix(d.field, "effectiveDateTime") && d.want == "<nil>" && isOBR7(msg, d.got):
		// IG: Observation.effective from OBX-14, else OBR-7; the value is
		// the message's OBR-7.
		return "effective falls back to OBR-7"
	case strings.Contains(d.field, "ServiceRequest[") && strings.HasSuffix(d.field, " status") && d.file == "LRI_2.0-NG_CBC_Typ_Message" && d.got == "completed" && msg.Get("ORC-1") == "RE" && msg.Get("ORC-5") == "" && obrStatus(msg, "F"):
		// ORC-1 RE (observations follow) has no status in the IG's table
		// 0119 map and ORC-5 is empty; OBR-25 F says the order is done.
		return "ORU order status inferred from OBR-25"
	case strings.HasSuffix(d.field, "] requester") && requestedByORC12(msg, bracket(d.field), d.got, d.want):
		// IG: ServiceRequest.requester is ORC-12, OBR-16 only IF ORC-12 NOT
		// VALUED; FHIR-Converter takes OBR-16.
		return "requester is ORC-12 per the IG"
	case strings.Contains(d.field, "Observation[") && d.got == "none" && msg.Get("MSH-9.1") == "VXU" && (codeOf(key) == "64994-7" || codeOf(key) == "30963-3"):
		// Eligibility and funding source OBX go into the Immunization
		// (programEligibility, fundingSource), as vxu_test checks.
		return "OBX folded into the Immunization"
	case strings.HasPrefix(d.file, "REF-I14") && strings.HasSuffix(d.field, "] status") && d.got == "revoked" && d.want == "entered-in-error":
		// I14 cancels the referral: the request is withdrawn (revoked), not
		// one that should never have existed (entered-in-error).
		return "I14 cancels the referral"
	}
	switch {
	case strings.HasSuffix(d.field, "valueCodeableConcept") && strings.HasPrefix(d.got, "http://hl7.org/fhir/sid/cvx") && strings.TrimPrefix(d.got, "http://hl7.org/fhir/sid/cvx") == strings.TrimPrefix(d.want, "http://example.com/v2-to-fhir-converter/CodeSystem/CVX"):
		// The same CVX code; FHIR-Converter names CVX by a system of its own.
		return "CVX named by its FHIR URI"
	case strings.Contains(d.field, "Observation[") && d.want == "none" && slices.ContainsFunc(obxByCode(msg, codeOf(key)), func(obx hl7v2.Segment) bool {
		t := obx.Field(2).String()
		return t == "ED" || t == "RP"
	}):
		// FHIR-Converter drops OBX of type ED and RP; the IG maps them to
		// Observations (valueAttachment / valueString).
		return "OBX ED/RP dropped by FHIR-Converter"
	case strings.Contains(d.field, "ServiceRequest[") && d.got == "none" && strings.HasPrefix(d.file, "ADT") && idsIn(key, msg.Get("RF1-6.1"), msg.Get("RF1-11.1")):
		// FHIR-Converter maps the RF1 ADT messages carry to a ServiceRequest;
		// we map RF1 in REF and RRI only.
		return "ADT RF1 not mapped"
	case strings.Contains(d.field, "ServiceRequest[") && d.got == "none" && idsIn(key, msg.Get("ORC-8.1"), msg.Get("ORC-8.2")):
		// FHIR-Converter makes a ServiceRequest of the ORC-8 parent order;
		// the IG maps ORC-8 to basedOn, a reference only.
		return "ORC-8 parent order not a ServiceRequest"
	case strings.Contains(d.field, "ServiceRequest[") && d.got == "none" && msg.Get("MSH-9.1") == "VXU" && orcIDs(msg, key):
		// The IG's VXU map takes ORC into the Immunization (its
		// identifiers and orderer); FHIR-Converter also makes a
		// ServiceRequest of it.
		return "VXU ORC belongs to the Immunization"
	case strings.Contains(d.field, "ServiceRequest[") && d.want == "none" && halfGroup(msg, key):
		// An ORC without OBR or an OBR without ORC is an order group of its
		// own in the IG's ORM/OML maps; FHIR-Converter maps neither.
		return "order group without ORC or OBR"
	case d.file == "MDHHS-OML-O21-1" && strings.Contains(d.field, "Observation[") && d.want == "none" && len(msg.AllSegments("ORC")) == 0:
		// Its OBX hangs off an OBR without ORC, which FHIR-Converter skips
		// with the whole order group (see halfGroup).
		return "order group without ORC"
	case strings.HasPrefix(d.file, "SIU") && strings.Contains(d.field, "ServiceRequest[code ") && d.got == "none" && slices.ContainsFunc(msg.AllSegments("AIS"), func(s hl7v2.Segment) bool {
		return "code "+s.Field(3).Component(1).String() == key
	}):
		// We map AIS-3 to Appointment.serviceType; FHIR-Converter makes a
		// ServiceRequest of the AIS as well.
		return "AIS is the Appointment's serviceType"
	case strings.HasPrefix(d.file, "REF") && strings.HasSuffix(d.field, "] status") && d.got == "active" && msg.Get("RF1-1.1") == "P":
		// RF1-1 P (table 0283 "pending": not yet accepted or rejected) is a
		// request in force awaiting its answer, which is active; on-hold means
		// the requester suspended it (RF1-1 H), which P does not say.
		return "RF1-1 P is a request awaiting its answer"
	case d.file == "OML-O21-01" && strings.HasSuffix(d.field, "Observation 625-4 note") && d.got == "none":
		// The NTE follows the RP OBX 1063-7, whose Observation carries it;
		// FHIR-Converter drops RP Observations and moves the note to the
		// OBX before.
		return "NTE belongs to the OBX it follows"
	case d.file == "OML-O21-03" && strings.HasSuffix(d.field, "Observation 3DHISH_SLD note") && d.got == "none":
		// FHIR-Converter puts the NTE after the next order's OBR on this
		// Observation of the group before; the IG's OML map gives it to that
		// OBR's ServiceRequest, where we have it.
		return "NTE belongs to the OBR it follows"
	case d.file == "REF-I14-01" && strings.HasSuffix(d.field, "Observation 22311-7 note") && d.got == "none":
		// FHIR-Converter gives the message's closing NTE (after PV2) to the
		// Observation; only the NTE right after an OBX is about it.
		return "NTE belongs to the OBX it follows"
	}
	return ""
}

// idsIn reports whether the list key (comma-separated ids) names one of ids.
func idsIn(key string, ids ...string) bool {
	for _, k := range strings.Split(key, ",") {
		if k != "" && slices.Contains(ids, k) {
			return true
		}
	}
	return false
}

// orcIDs reports whether the list key names an ORC-2 or ORC-3 of msg.
func orcIDs(msg *hl7v2.Message, key string) bool {
	for _, s := range msg.AllSegments("ORC") {
		if idsIn(key, s.Field(2).Component(1).String(), s.Field(3).Component(1).String()) {
			return true
		}
	}
	return false
}

// halfGroup reports whether the order the list key names (by ORC-2/3 or
// OBR-2/3) is an ORC with no OBR after it, or an OBR with no ORC before it.
func halfGroup(msg *hl7v2.Message, key string) bool {
	var prev string
	segs := msg.Segments()
	for i, s := range segs {
		name := s.Name()
		if name == "ORC" || name == "OBR" {
			if idsIn(key, s.Field(2).Component(1).String(), s.Field(3).Component(1).String()) {
				next := ""
				for _, t := range segs[i+1:] {
					if n := t.Name(); n == "ORC" || n == "OBR" {
						next = n
						break
					}
				}
				return name == "ORC" && next != "OBR" || name == "OBR" && prev != "ORC"
			}
			prev = name
		}
	}
	return false
}

// requestedByORC12 reports whether got is the ORC-12 and want the OBR-16 of
// the order the list key names, as requester renders them ("[ids] [names]").
func requestedByORC12(msg *hl7v2.Message, key, got, want string) bool {
	for _, orc := range msg.AllSegments("ORC") {
		if !idsIn(key, orc.Field(2).Component(1).String(), orc.Field(3).Component(1).String()) {
			continue
		}
		orc12 := orc.Field(12).Component(1).String()
		for _, obr := range msg.AllSegments("OBR") {
			obr16 := obr.Field(16).Component(1).String()
			if orc12 != "" && obr16 != orc12 && strings.HasPrefix(got, "["+orc12+"]") && strings.HasPrefix(want, "["+obr16+"]") {
				return true
			}
		}
	}
	return false
}

// bracket returns what the first [...] of s holds.
func bracket(s string) string {
	_, s, ok := strings.Cut(s, "[")
	if !ok {
		return ""
	}
	s, _, _ = strings.Cut(s, "]")
	return s
}

// codeOf returns the code of a list key "i code".
func codeOf(key string) string {
	_, code, _ := strings.Cut(key, " ")
	return code
}

// obxByCode returns the OBX segments whose OBX-3.1 is code.
func obxByCode(msg *hl7v2.Message, code string) []hl7v2.Segment {
	var out []hl7v2.Segment
	for _, s := range msg.AllSegments("OBX") {
		if code != "" && strings.TrimSpace(s.Field(3).Component(1).String()) == code {
			out = append(out, s)
		}
	}
	return out
}

// orcless reports whether no ORC of msg has an order control or order
// status, so that the IG gives a ServiceRequest no status.
func orcless(msg *hl7v2.Message) bool {
	for _, s := range msg.AllSegments("ORC") {
		if !s.Field(1).IsEmpty() || !s.Field(5).IsEmpty() {
			return false
		}
	}
	return true
}

// obrOf returns OBR-25 of the OBR whose OBR-2 or OBR-3 the list key names.
func obrOf(msg *hl7v2.Message, key string) string {
	for _, s := range msg.AllSegments("OBR") {
		if idsIn(key, s.Field(2).Component(1).String(), s.Field(3).Component(1).String()) {
			return s.Field(25).String()
		}
	}
	return ""
}

// obrStatus reports whether some OBR of msg has result status (OBR-25) st.
func obrStatus(msg *hl7v2.Message, st string) bool {
	for _, s := range msg.AllSegments("OBR") {
		if s.Field(25).String() == st {
			return true
		}
	}
	return false
}

// isOBR7 reports whether the FHIR dateTime dt is an OBR-7 of msg: the same
// digits, the seconds the v2 value leaves out being zero.
func isOBR7(msg *hl7v2.Message, dt string) bool {
	local, _, _ := strings.Cut(dt, "+")
	if i := strings.LastIndex(local, "-"); i > len("2006-01-02")-1 {
		local = local[:i]
	}
	local = strings.TrimSuffix(local, "Z")
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, local)
	for _, s := range msg.AllSegments("OBR") {
		v := s.Field(7).Component(1).String()
		v, _, _ = strings.Cut(v, "+")
		v, _, _ = strings.Cut(v, "-")
		if v != "" && strings.HasPrefix(digits, v) && strings.Trim(digits[len(v):], "0") == "" {
			return true
		}
	}
	return false
}

func TestCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "messages", "*.hl7"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	type tally struct{ mapped, agree, total int }
	perType := map[string]*tally{}
	var diffs []check
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := hl7v2.Parse(data)
		if err != nil {
			t.Errorf("%s: parse: %v", f, err)
			continue
		}
		res, err := Map(msg, corpusConfig)
		if errors.Is(err, ErrUnsupported) {
			continue
		}
		base := strings.TrimSuffix(filepath.Base(f), ".hl7")
		code, trig, _ := msg.Type()
		ty := code + "^" + trig
		if perType[ty] == nil {
			perType[ty] = &tally{}
		}
		perType[ty].total++
		if err != nil {
			t.Errorf("%s: map: %v", base, err)
			continue
		}
		sameEntries(t, base, res)
		perType[ty].mapped++
		for _, e := range res.Resources {
			if !bytes.HasPrefix(e.JSON, []byte(`{"resourceType":"`+e.Type+`"`)) {
				t.Errorf("%s: %s/%s does not open with its resourceType: %.60s", base, e.Type, e.ID, e.JSON)
			}
		}
		var c []check
		checkPatients(base, msg, res, &c)
		if exp := loadExpected(t, code+"_"+trig, base); exp != nil {
			compareMessage(base, res, exp, &c)
			compareNotes(base, msg, res, exp, &c)
		} else if why, ok := noExpected[base]; ok {
			t.Logf("%s: not compared with FHIR-Converter: %s", base, why)
		} else {
			t.Errorf("%s: no FHIR-Converter output in expected/%s_%s, and no reason in noExpected", base, code, trig)
		}
		ok := true
		for _, d := range c {
			if deliberate(d, msg) != "" {
				continue
			}
			ok = false
			diffs = append(diffs, d)
		}
		if ok {
			perType[ty].agree++
		}
	}
	types := make([]string, 0, len(perType))
	for k := range perType {
		types = append(types, k)
	}
	sort.Strings(types)
	for _, k := range types {
		v := perType[k]
		t.Logf("%-8s messages %d mapped %d agree %d", k, v.total, v.mapped, v.agree)
	}
	for _, d := range diffs {
		t.Errorf("%s %s: got %s, FHIR-Converter has %s", d.file, d.field, d.got, d.want)
	}
}

// checkPatients checks our Patients against the message's own PID segments,
// whatever FHIR-Converter makes: a message with a PID maps to exactly one
// Patient, a merge message to one surviving Patient per PID/MRG pair (the
// merged Patients are applied by the receiver: see Merge), and each Patient
// holds every PID-3 identifier, PID-5 name, PID-11 address and PID-13/14
// telecom of its PID.
func checkPatients(file string, msg *hl7v2.Message, res *Result, c *[]check) {
	pids := msg.AllSegments("PID")
	if len(pids) == 0 {
		return
	}
	want := 1
	if len(res.Merges) > 0 {
		want = len(pids)
	}
	got := ours(res, "Patient")
	if len(got) != want {
		*c = append(*c, check{file, "Patient count", fmt.Sprint(len(got)), fmt.Sprint(want)})
		return
	}
	for i, pid := range pids {
		p := got[0]
		if want > 1 {
			// Pair by PID-3's first identifier; the order of Resources is
			// not the order of the PIDs.
			first := v2part(pid.Field(3).Rep(1), 1, 1)
			p = nil
			for _, g := range got {
				if slices.Contains(identifierValues(g["identifier"]), first) {
					p = g
				}
			}
			if p == nil {
				*c = append(*c, check{file, fmt.Sprintf("Patient of PID %d", i+1), "none", first})
				continue
			}
		}
		comparePID(file+" Patient", pid, p, c)
	}
}

// v2part returns subcomponent j of component i of r, trimmed; "" for the
// null value "".
func v2part(r hl7v2.Rep, i, j int) string {
	v := strings.TrimSpace(r.Component(i).Sub(j).String())
	if v == `""` {
		return ""
	}
	return v
}

// comparePID checks that Patient p holds what PID carries.
func comparePID(where string, pid hl7v2.Segment, p obj, c *[]check) {
	missing := func(field, want string) {
		*c = append(*c, check{where, field, "none", want})
	}
	ids := identifierValues(p["identifier"])
	for _, r := range pid.Field(3).Reps() {
		if v := v2part(r, 1, 1); v != "" && !slices.Contains(ids, v) {
			missing("identifier (PID-3)", v)
		}
	}
	for _, r := range pid.Field(5).Reps() {
		family, given := v2part(r, 1, 1), v2part(r, 2, 1)
		if family == "" && given == "" {
			continue
		}
		if !slices.ContainsFunc(list(p["name"]), func(a any) bool {
			n := a.(obj)
			if n["family"] == nil && given == "" {
				// A whole Chinese name is kept as text only.
				return str(n["text"]) == family
			}
			return str(n["family"]) == family && (given == "" || slices.Contains(list(n["given"]), any(given)))
		}) {
			missing("name (PID-5)", family+", "+given)
		}
	}
	for _, r := range pid.Field(11).Reps() {
		street, city, zip := v2part(r, 1, 1), v2part(r, 3, 1), v2part(r, 5, 1)
		if street == "" && city == "" && zip == "" {
			continue
		}
		if !slices.ContainsFunc(list(p["address"]), func(x any) bool {
			a := x.(obj)
			return (street == "" || slices.Contains(list(a["line"]), any(street))) && str(a["city"]) == city && str(a["postalCode"]) == zip
		}) {
			missing("address (PID-11)", strings.Join([]string{street, city, zip}, ", "))
		}
	}
	var tels []string
	for _, t := range list(p["telecom"]) {
		tels = append(tels, str(t.(obj)["value"]))
	}
	for _, f := range []int{13, 14} {
		for _, r := range pid.Field(f).Reps() {
			// The number is XTN.4 for e-mail, else XTN.12 (unformatted),
			// else XTN.7 (local number, which ours prefixes with XTN.5-6),
			// else the legacy XTN.1.
			var v string
			switch kind := strings.ToUpper(v2part(r, 3, 1)); {
			case (kind == "INTERNET" || kind == "X.400" || kind == "NET") && v2part(r, 4, 1) != "":
				v = v2part(r, 4, 1)
			case v2part(r, 12, 1) != "":
				v = v2part(r, 12, 1)
			case v2part(r, 7, 1) != "":
				v = v2part(r, 7, 1)
			default:
				v = v2part(r, 1, 1)
			}
			if v != "" && !slices.ContainsFunc(tels, func(t string) bool { return strings.Contains(t, v) }) {
				missing(fmt.Sprintf("telecom (PID-%d)", f), v)
			}
		}
	}
}

func loadExpected(t *testing.T, dir, base string) []obj {
	b, err := os.ReadFile(filepath.Join(corpusDir, "expected", dir, base+"-expected.json"))
	if err != nil {
		return nil
	}
	var bundle struct{ Entry []struct{ Resource obj } }
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatalf("%s: %v", base, err)
	}
	out := make([]obj, len(bundle.Entry))
	for i, e := range bundle.Entry {
		out[i] = e.Resource
	}
	return out
}

func byType(rs []obj, ty string) []obj {
	var out []obj
	for _, r := range rs {
		if r["resourceType"] == ty {
			out = append(out, r)
		}
	}
	return out
}

func ours(res *Result, ty string) []obj {
	var out []obj
	for _, e := range res.Find(ty) {
		var o obj
		if err := json.Unmarshal(e.JSON, &o); err != nil {
			panic(err)
		}
		out = append(out, o)
	}
	return out
}

func compareMessage(file string, res *Result, exp []obj, c *[]check) {
	diff := func(field string, got, want any) {
		*c = append(*c, check{file, field, fmt.Sprint(got), fmt.Sprint(want)})
	}
	// Patient: FHIR-Converter folds GT1, IN1/IN2 and DB1 people into the
	// Patient, so our values must be found among its, not equal them.
	ep, gp := byType(exp, "Patient"), ours(res, "Patient")
	if len(ep) > 0 && len(gp) == 1 {
		e, g := ep[0], gp[0]
		for _, gi := range list(g["identifier"]) {
			gi := gi.(obj)
			found := false
			for _, ei := range list(e["identifier"]) {
				ei := ei.(obj)
				// Systems are compared only when the authority is an OID:
				// FHIR-Converter names a system after CX.4.3 (the universal
				// id type) when CX.4 has subcomponents, the IG after the
				// CX.4.1 namespace, which we follow.
				es := str(ei["system"])
				if ei["value"] == gi["value"] && (!strings.HasPrefix(es, "urn:oid:") || es == gi["system"]) {
					found = true
				}
			}
			if !found {
				diff("Patient.identifier", gi["system"].(string)+"|"+str(gi["value"]), "none")
			}
		}
		for _, k := range []string{"birthDate", "gender"} {
			if e[k] != g[k] {
				diff("Patient."+k, g[k], e[k])
			}
		}
		for _, gn := range list(g["name"]) {
			gn := gn.(obj)
			found := false
			for _, en := range list(e["name"]) {
				en := en.(obj)
				if en["family"] == gn["family"] && subset(list(gn["given"]), list(en["given"])) {
					found = true
				}
			}
			if !found {
				diff("Patient.name", gn, e["name"])
			}
		}
		for _, ga := range list(g["address"]) {
			ga := ga.(obj)
			found := false
			for _, ea := range list(e["address"]) {
				ea := ea.(obj)
				same := true
				for _, k := range []string{"city", "state", "postalCode", "country"} {
					same = same && strings.TrimSpace(str(ea[k])) == str(ga[k])
				}
				same = same && subset(list(ga["line"]), list(ea["line"]))
				found = found || same
			}
			if !found {
				diff("Patient.address", ga, e["address"])
			}
		}
		var evals []string
		for _, et := range list(e["telecom"]) {
			evals = append(evals, str(et.(obj)["value"]))
		}
		for _, gt := range list(g["telecom"]) {
			// A value with spaces is one we assembled from XTN.5-7, which the
			// IG maps and FHIR-Converter drops.
			if v := str(gt.(obj)["value"]); !slices.Contains(evals, v) && !strings.Contains(v, " ") {
				diff("Patient.telecom", v, evals)
			}
		}
	}
	// Observations pair by code. FHIR-Converter also makes Observations of
	// its own from ACC, PDA and the like (codes in its observation-code
	// system), which are left out.
	var want []obj
	for _, e := range byType(exp, "Observation") {
		if sys, _ := firstCoding(orEmpty(e["code"])); !strings.HasSuffix(sys, "/observation-code") {
			want = append(want, e)
		}
	}
	compareByCode(file, "Observation", ours(res, "Observation"), want, c, compareObservation)
	// Procedures from PR1: FHIR-Converter adds PDA procedures (its
	// procedure-code system) and a code-less Procedure for PR1-25 partOf.
	if strings.HasPrefix(res.MessageType, "ADT") || strings.HasPrefix(res.MessageType, "REF") || strings.HasPrefix(res.MessageType, "RRI") {
		var want []obj
		for _, e := range byType(exp, "Procedure") {
			if sys, code := firstCoding(orEmpty(e["code"])); code != "" && !strings.HasSuffix(sys, "/procedure-code") {
				want = append(want, e)
			}
		}
		compareByCode(file, "Procedure", ours(res, "Procedure"), want, c, compareProcedure)
	}
	compareServiceRequests(file, ours(res, "ServiceRequest"), byType(exp, "ServiceRequest"), ourIndex(res), index(exp), c)
}

// compareList pairs resources in order when both sides have the same count.
func compareList(file, ty string, got, want []obj, c *[]check, cmp func(string, obj, obj, *[]check)) {
	if len(got) != len(want) {
		*c = append(*c, check{file, ty + " count", fmt.Sprint(len(got)), fmt.Sprint(len(want))})
		return
	}
	for i := range got {
		cmp(fmt.Sprintf("%s %s[%d]", file, ty, i), got[i], want[i], c)
	}
}

// index maps "Type/id" to each resource, to follow references.
func index(rs []obj) map[string]obj {
	out := map[string]obj{}
	for _, r := range rs {
		out[str(r["resourceType"])+"/"+str(r["id"])] = r
	}
	return out
}

func ourIndex(res *Result) map[string]obj {
	var all []obj
	for _, e := range res.Resources {
		var o obj
		if err := json.Unmarshal(e.JSON, &o); err != nil {
			panic(err)
		}
		all = append(all, o)
	}
	return index(all)
}

// orderIDs returns the identifier values of a ServiceRequest, without the
// subcomponents FHIR-Converter leaves in (EI "id&namespace").
func orderIDs(r obj) []string {
	var out []string
	for _, v := range identifierValues(r["identifier"]) {
		if v, _, _ = strings.Cut(v, "&"); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// srKey names a ServiceRequest in a check: its identifiers, else its code.
func srKey(r obj) string {
	if ids := orderIDs(r); len(ids) > 0 {
		return strings.Join(ids, ",")
	}
	_, code := firstCoding(orEmpty(r["code"]))
	return "code " + code
}

// compareServiceRequests pairs FHIR-Converter's ServiceRequests with ours,
// first by a shared placer or filler identifier value, then the rest by
// code, and compares each pair; one left unpaired on either side is a
// difference ("present" on the side that has it).
func compareServiceRequests(file string, got, want []obj, gotAll, wantAll map[string]obj, c *[]check) {
	pairOf := make([]int, len(want))
	used := make([]bool, len(got))
	for i, w := range want {
		pairOf[i] = -1
		for j, g := range got {
			if !used[j] && slices.ContainsFunc(orderIDs(g), func(v string) bool { return slices.Contains(orderIDs(w), v) }) {
				pairOf[i], used[j] = j, true
				break
			}
		}
	}
	for i, w := range want {
		_, wc := firstCoding(orEmpty(w["code"]))
		for j, g := range got {
			if _, gc := firstCoding(orEmpty(g["code"])); pairOf[i] < 0 && !used[j] && wc != "" && gc == wc {
				pairOf[i], used[j] = j, true
			}
		}
	}
	for i, w := range want {
		if pairOf[i] < 0 {
			*c = append(*c, check{file, "ServiceRequest[" + srKey(w) + "]", "none", "present"})
			continue
		}
		compareServiceRequest(fmt.Sprintf("%s ServiceRequest[%s]", file, srKey(w)), got[pairOf[i]], w, c)
		gp, gn := requester(got[pairOf[i]], gotAll)
		wp, wn := requester(w, wantAll)
		if !samePerson(gp, wp, gn, wn) {
			*c = append(*c, check{fmt.Sprintf("%s ServiceRequest[%s]", file, srKey(w)), "requester", fmt.Sprint(gp, gn), fmt.Sprint(wp, wn)})
		}
	}
	for j, g := range got {
		if !used[j] {
			*c = append(*c, check{file, "ServiceRequest[" + srKey(g) + "]", "present", "none"})
		}
	}
}

// requester returns the identifier values and family names of the
// practitioner who requested r, following a PractitionerRole to its
// Practitioner.
func requester(r obj, all map[string]obj) (ids, names []string) {
	ref := str(orEmpty(r["requester"])["reference"])
	if ref == "" {
		return nil, nil
	}
	p := all[ref]
	if p == nil {
		return nil, []string{"unresolved " + ref}
	}
	if p["resourceType"] == "PractitionerRole" {
		if pr := all[str(orEmpty(p["practitioner"])["reference"])]; pr != nil {
			p = pr
		}
	}
	for _, n := range list(p["name"]) {
		names = append(names, str(n.(obj)["family"]))
	}
	return identifierValues(p["identifier"]), names
}

// samePerson reports whether two requesters are one person: a shared
// identifier, or a shared family name when one side has no identifier.
func samePerson(gids, wids, gnames, wnames []string) bool {
	shares := func(a, b []string) bool {
		return slices.ContainsFunc(a, func(v string) bool { return v != "" && slices.Contains(b, v) })
	}
	switch {
	case len(gids)+len(gnames) == 0 || len(wids)+len(wnames) == 0:
		return len(gids)+len(gnames) == len(wids)+len(wnames)
	case len(gids) > 0 && len(wids) > 0:
		return shares(gids, wids)
	}
	return shares(gnames, wnames)
}

// compareByCode pairs each of want with the first unpaired resource of got
// that has the same first coding; one left unpaired on either side is a
// difference ("present" on the side that has it). Checks name a resource
// "Type[i code]", i its place among want (or got, when unpaired there).
func compareByCode(file, ty string, got, want []obj, c *[]check, cmp func(string, obj, obj, *[]check)) {
	used := make([]bool, len(got))
	for i, w := range want {
		ws, wc := firstCoding(orEmpty(w["code"]))
		where := fmt.Sprintf("%s %s[%d %s]", file, ty, i, wc)
		// Of several with the code, take the first that agrees, else the
		// first: a message may repeat a code with different values.
		best, bestDiffs := -1, []check(nil)
		for j, g := range got {
			if gs, gc := firstCoding(orEmpty(g["code"])); used[j] || gs != ws || gc != wc {
				continue
			}
			var d []check
			cmp(where, g, w, &d)
			if best < 0 || len(d) == 0 && len(bestDiffs) > 0 {
				best, bestDiffs = j, d
			}
		}
		if best < 0 {
			*c = append(*c, check{file, fmt.Sprintf("%s[%d %s]", ty, i, wc), "none", "present " + ws})
			continue
		}
		used[best] = true
		*c = append(*c, bestDiffs...)
	}
	for j, g := range got {
		if !used[j] {
			gs, gc := firstCoding(orEmpty(g["code"]))
			*c = append(*c, check{file, fmt.Sprintf("%s[%d %s]", ty, j, gc), "present " + gs, "none"})
		}
	}
}

func compareProcedure(where string, g, e obj, c *[]check) {
	diff := func(field string, got, want any) {
		*c = append(*c, check{where, field, fmt.Sprint(got), fmt.Sprint(want)})
	}
	if g["status"] != e["status"] {
		diff("status", g["status"], e["status"])
	}
	if gt, et := str(orEmpty(g["code"])["text"]), str(orEmpty(e["code"])["text"]); gt != et {
		diff("code.text", gt, et)
	}
	gp := str(g["performedDateTime"])
	if p, ok := g["performedPeriod"].(obj); ok {
		gp = str(p["start"])
	}
	if !sameInstant(gp, str(e["performedDateTime"])) {
		diff("performed", gp, e["performedDateTime"])
	}
	// Codes only: we name table 0230 by its terminology.hl7.org URI,
	// FHIR-Converter by its own.
	if _, a := firstCoding(orEmpty(g["category"])); a != "" {
		if _, b := firstCoding(orEmpty(e["category"])); a != b {
			diff("category", a, b)
		}
	}
	var gr, er []string
	for _, r := range list(g["reasonCode"]) {
		gr = append(gr, fmt.Sprint(firstCoding(r)))
	}
	for _, r := range list(e["reasonCode"]) {
		er = append(er, fmt.Sprint(firstCoding(r)))
	}
	if !slices.Equal(gr, er) {
		diff("reasonCode", gr, er)
	}
	if len(list(g["performer"])) < len(list(e["performer"]))-1 {
		// FHIR-Converter adds a PractitionerRole performer of its own.
		diff("performer count", len(list(g["performer"])), len(list(e["performer"])))
	}
	if gi, ei := identifierValues(g["identifier"]), identifierValues(e["identifier"]); !slices.Equal(gi, ei) {
		diff("identifier", gi, ei)
	}
}

func firstCoding(v any) (string, string) {
	cs := list(v.(obj)["coding"])
	if len(cs) == 0 {
		return "", ""
	}
	return str(cs[0].(obj)["system"]), str(cs[0].(obj)["code"])
}

func compareObservation(where string, g, e obj, c *[]check) {
	diff := func(field string, got, want any) {
		*c = append(*c, check{where, field, fmt.Sprint(got), fmt.Sprint(want)})
	}
	gs, gc := firstCoding(g["code"])
	es, ec := firstCoding(e["code"])
	if gs != es || gc != ec {
		diff("code", gs+"|"+gc, es+"|"+ec)
	}
	if g["status"] != e["status"] {
		diff("status", g["status"], e["status"])
	}
	if !sameInstant(str(g["effectiveDateTime"]), str(e["effectiveDateTime"])) {
		diff("effectiveDateTime", g["effectiveDateTime"], e["effectiveDateTime"])
	}
	if eq, ok := e["valueQuantity"].(obj); ok {
		gq, _ := g["valueQuantity"].(obj)
		// FHIR-Converter leaves out unit when it has a code.
		wu := eq["unit"]
		if wu == nil {
			wu = eq["code"]
		}
		if gq == nil || fmt.Sprint(gq["value"]) != fmt.Sprint(eq["value"]) || gq["unit"] != wu || gq["comparator"] != eq["comparator"] {
			diff("valueQuantity", gq, eq)
		}
	}
	if es, ok := e["valueString"]; ok && g["valueString"] != es {
		diff("valueString", g["valueString"], es)
	}
	if ed, ok := e["valueDateTime"]; ok && !sameInstant(str(g["valueDateTime"]), str(ed)) {
		diff("valueDateTime", g["valueDateTime"], ed)
	}
	if ei, ok := e["valueInteger"]; ok && fmt.Sprint(g["valueInteger"]) != fmt.Sprint(ei) {
		diff("valueInteger", g["valueInteger"], ei)
	}
	// SN: a ratio or range, or a quantity with a comparator (above).
	for _, k := range []string{"valueRatio", "valueRange"} {
		ev, ok := e[k].(obj)
		if !ok {
			continue
		}
		gv, _ := g[k].(obj)
		for _, part := range []string{"numerator", "denominator", "low", "high"} {
			if a, b := quantityText(orEmpty(gv[part])), quantityText(orEmpty(ev[part])); a != b {
				diff(k+"."+part, a, b)
			}
		}
	}
	if ecc, ok := e["valueCodeableConcept"].(obj); ok {
		gcc, _ := g["valueCodeableConcept"].(obj)
		if gcc == nil {
			diff("valueCodeableConcept", nil, ecc)
		} else if a, b := fmt.Sprint(firstCoding(gcc)), fmt.Sprint(firstCoding(ecc)); a != b {
			diff("valueCodeableConcept", a, b)
		}
	}
	// A repeating OBX-5 gives components (the IG's OBX[Observation-Component]).
	if ecs := list(e["component"]); len(ecs) > 0 || len(list(g["component"])) > 0 {
		gcs := list(g["component"])
		if len(gcs) != len(ecs) {
			diff("component count", len(gcs), len(ecs))
		} else {
			for i := range gcs {
				compareComponent(fmt.Sprintf("component[%d]", i), gcs[i].(obj), ecs[i].(obj), diff)
			}
		}
	}
	if err := list(e["referenceRange"]); len(err) > 0 {
		grr := list(g["referenceRange"])
		if len(grr) == 0 || grr[0].(obj)["text"] != err[0].(obj)["text"] {
			diff("referenceRange", grr, err)
		} else {
			// Low and high where both sides have them.
			gr, er := grr[0].(obj), err[0].(obj)
			for _, k := range []string{"low", "high"} {
				gq, gok := gr[k].(obj)
				eq, eok := er[k].(obj)
				if gok && eok && quantityText(gq) != quantityText(eq) {
					diff("referenceRange."+k, quantityText(gq), quantityText(eq))
				}
			}
		}
	}
}

// quantityText renders a Quantity as comparator, value and unit (the code
// when FHIR-Converter leaves the unit out).
func quantityText(q obj) string {
	if len(q) == 0 {
		return ""
	}
	u := q["unit"]
	if u == nil {
		u = q["code"]
	}
	return fmt.Sprint(str(q["comparator"]), q["value"], " ", u)
}

func compareServiceRequest(where string, g, e obj, c *[]check) {
	diff := func(field string, got, want any) {
		*c = append(*c, check{where, field, fmt.Sprint(got), fmt.Sprint(want)})
	}
	for _, k := range []string{"status", "intent"} {
		if g[k] != e[k] {
			diff(k, g[k], e[k])
		}
	}
	if ecd, ok := e["code"].(obj); ok {
		gcd, _ := g["code"].(obj)
		if gcd == nil {
			diff("code", nil, ecd)
		} else if a, b := fmt.Sprint(firstCoding(gcd)), fmt.Sprint(firstCoding(ecd)); a != b {
			diff("code", a, b)
		}
	}
	if pa, ok := e["authoredOn"].(string); ok && !sameInstant(str(g["authoredOn"]), pa) {
		diff("authoredOn", g["authoredOn"], pa)
	}
}

func subset(a, b []any) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func compareComponent(where string, g, e obj, diff func(string, any, any)) {
	if a, b := fmt.Sprint(firstCoding(orEmpty(g["code"]))), fmt.Sprint(firstCoding(orEmpty(e["code"]))); a != b {
		diff(where+".code", a, b)
	}
	if eq, ok := e["valueQuantity"].(obj); ok {
		if gq, _ := g["valueQuantity"].(obj); gq == nil || fmt.Sprint(gq["value"]) != fmt.Sprint(eq["value"]) {
			diff(where+".valueQuantity", gq, eq)
		}
	}
	if ecc, ok := e["valueCodeableConcept"].(obj); ok {
		if a, b := fmt.Sprint(firstCoding(orEmpty(g["valueCodeableConcept"]))), fmt.Sprint(firstCoding(ecc)); a != b {
			diff(where+".valueCodeableConcept", a, b)
		}
	}
	if es, ok := e["valueString"]; ok && g["valueString"] != es {
		diff(where+".valueString", g["valueString"], es)
	}
	var grr, err []string
	for _, r := range list(g["referenceRange"]) {
		grr = append(grr, str(r.(obj)["text"]))
	}
	for _, r := range list(e["referenceRange"]) {
		err = append(err, str(r.(obj)["text"]))
	}
	if !slices.Equal(grr, err) {
		diff(where+".referenceRange", grr, err)
	}
}

// compareNotes compares the Annotations NTE segments make on ServiceRequests
// and Observations. FHIR-Converter also makes notes of TQ1-11, ORC-7 and
// OBR-18 to OBR-21, and of orders it maps to other resources, so only notes
// whose text is an NTE-3 of the message are compared, and only on
// resources (type and code) both sides have: each such note of one side
// must be on the other, with the same time and an author when it has one.
func compareNotes(file string, msg *hl7v2.Message, res *Result, exp []obj, c *[]check) {
	// Trailing blanks are left out: ours drops them from a note's lines,
	// FHIR-Converter keeps them.
	trim := func(s string) string { return strings.TrimRight(s, " \t") }
	nte := map[string]bool{}
	for _, s := range msg.AllSegments("NTE") {
		nte[trim(s.Field(3).String())] = true
	}
	type note struct {
		time   string
		author bool
	}
	collect := func(rs []obj, ty string) map[string]map[string]note {
		out := map[string]map[string]note{}
		for _, r := range rs {
			_, code := firstCoding(orEmpty(r["code"]))
			k := ty + " " + code
			if out[k] == nil {
				out[k] = map[string]note{}
			}
			for _, n := range list(r["note"]) {
				n := n.(obj)
				if t := trim(str(n["text"])); nte[t] {
					out[k][t] = note{str(n["time"]), n["authorReference"] != nil}
				}
			}
		}
		return out
	}
	for _, ty := range []string{"ServiceRequest", "Observation"} {
		got, want := collect(ours(res, ty), ty), collect(byType(exp, ty), ty)
		for _, k := range slices.Sorted(maps.Keys(got)) {
			w, ok := want[k]
			if !ok {
				continue
			}
			for _, t := range slices.Sorted(maps.Keys(got[k])) {
				g := got[k][t]
				e, ok := w[t]
				switch {
				case !ok:
					*c = append(*c, check{file, k + " note", t, "none"})
				case !sameInstant(g.time, e.time):
					*c = append(*c, check{file, k + " note " + t + " time", g.time, e.time})
				case g.author != e.author:
					*c = append(*c, check{file, k + " note " + t + " author", fmt.Sprint(g.author), fmt.Sprint(e.author)})
				}
			}
			for _, t := range slices.Sorted(maps.Keys(w)) {
				if _, ok := got[k][t]; !ok {
					*c = append(*c, check{file, k + " note", "none", t})
				}
			}
		}
	}
}

// sameEntries checks that Result.Bundle() holds Result.Entries: the
// receiver applies the one, tests and tools read the other.
func sameEntries(t *testing.T, name string, res *Result) {
	t.Helper()
	var b struct {
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
			Request  struct{ Method, URL string }
		}
	}
	if err := json.Unmarshal(res.Bundle(), &b); err != nil {
		t.Fatalf("%s: Bundle: %v", name, err)
	}
	if len(b.Entry) != len(res.Entries) {
		t.Fatalf("%s: Bundle has %d entries, Entries %d", name, len(b.Entry), len(res.Entries))
	}
	for i, e := range res.Entries {
		be := b.Entry[i]
		if be.FullURL != e.FullURL || !bytes.Equal(be.Resource, e.Resource) || be.Request.Method != e.Method || be.Request.URL != e.URL {
			t.Errorf("%s: entry %d differs: Bundle %s %s %s, Entries %s %s %s", name, i, be.FullURL, be.Request.Method, be.Request.URL, e.FullURL, e.Method, e.URL)
		}
	}
}
