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

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

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

// deliberate returns why a difference from FHIR-Converter is intended, or
// "" for a real disagreement.
func deliberate(d check) string {
	// List checks carry "file Type[i]" in file and the member in field.
	d.field = d.file + " " + d.field
	d.file, _, _ = strings.Cut(d.file, " ")
	switch {
	case strings.HasSuffix(d.field, "] status") && strings.Contains(d.field, "Observation") && d.want == "unknown" && slices.ContainsFunc(slices.Collect(maps.Values(obsStatus)), func(s fhir.ObservationStatus) bool { return s.Code() == d.got }):
		// IG ConceptMap table 0085: I (pending) → registered, S (partial)
		// → preliminary...; FHIR-Converter says unknown.
		return "OBX-11 mapped by table 0085 per the IG"
	case strings.Contains(d.field, "ServiceRequest[") && strings.HasSuffix(d.field, " status") && strings.HasPrefix(d.file, "L"):
		// ORU without ORC-5/ORC-1: the IG gives no status; we say completed
		// for a final OBR-25 and unknown otherwise, FHIR-Converter active.
		return "ORU order status inferred from OBR-25"
	case strings.HasSuffix(d.field, "ServiceRequest[0] status") && d.file == "ORU-R01-RMGEAD":
		return "ORU order status inferred from OBR-25"
	case strings.HasSuffix(d.field, "ServiceRequest[0] status") && d.file == "MDHHS-OML-O21-2":
		// ORC-1 NW means a new, active order (table 0119).
		return "ORC-1 NW is active"
	case strings.HasSuffix(d.field, "effectiveDateTime") && d.want == "<nil>":
		// IG: Observation.effective from OBX-14, else OBR-7.
		return "effective falls back to OBR-7"
	case strings.HasSuffix(d.field, " ServiceRequest count") && !strings.HasPrefix(d.file, "ORU"):
		// FHIR-Converter makes a ServiceRequest per ORC and per OBR of
		// OML/ORM and none for an ORC without OBR in some messages; we make
		// one per ORC/OBR order group, as the IG's message maps pair them.
		return "one ServiceRequest per ORC/OBR group"
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
	case d.file == "ORU-R01-01" && (strings.HasSuffix(d.field, " ServiceRequest count") || strings.HasSuffix(d.field, " Observation count")):
		// ORU-R01-01 has an ORC with no OBR and an OBX of type ED before the
		// first OBR; we skip the unattached OBX and group the ORC with the OBR.
		return "unattached ORC/OBX"
	case d.file == "REF-I14-01" && strings.HasSuffix(d.field, "Observation 22311-7 note") && d.got == "none":
		// FHIR-Converter gives the message's closing NTE (after PV2) to the
		// Observation; only the NTE right after an OBX is about it.
		return "NTE belongs to the OBX it follows"
	}
	return ""
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
		exp := loadExpected(t, code+"_"+trig, base)
		if exp == nil {
			continue
		}
		var c []check
		compareMessage(base, res, exp, &c)
		compareNotes(base, msg, res, exp, &c)
		ok := true
		for _, d := range c {
			if deliberate(d) != "" {
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
	// ORU Observations pair in order. In ADT and orders FHIR-Converter
	// also makes Observations of its own from ACC, PDA and the like (codes
	// in its observation-code system) and drops OBX of type ED and RP, so
	// there each of its OBX Observations is paired with ours by code.
	switch {
	case res.MessageType == "ORU^R01":
		compareList(file, "Observation", ours(res, "Observation"), byType(exp, "Observation"), c, compareObservation)
	case strings.HasPrefix(res.MessageType, "ADT"), res.MessageType == "ORM^O01", res.MessageType == "OML^O21":
		var want []obj
		for _, e := range byType(exp, "Observation") {
			if sys, _ := firstCoding(e["code"]); !strings.HasSuffix(sys, "/observation-code") {
				want = append(want, e)
			}
		}
		compareByCode(file, "Observation", ours(res, "Observation"), want, c, compareObservation)
	}
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
	// ServiceRequests only for orders and results: FHIR-Converter also
	// maps the ADT RF1 referral segment, which we do not.
	if res.MessageType != "ORU^R01" && !strings.HasPrefix(res.MessageType, "ADT") {
		compareList(file, "ServiceRequest", ours(res, "ServiceRequest"), byType(exp, "ServiceRequest"), c, compareServiceRequest)
	} else if res.MessageType == "ORU^R01" {
		compareList(file, "ServiceRequest", ours(res, "ServiceRequest"), byType(exp, "ServiceRequest"), c, compareServiceRequest)
	}
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

// compareByCode pairs each of want with the first unpaired resource of got
// that has the same first coding; one missing from got is a difference.
func compareByCode(file, ty string, got, want []obj, c *[]check, cmp func(string, obj, obj, *[]check)) {
	used := make([]bool, len(got))
	for i, w := range want {
		wc := fmt.Sprint(firstCoding(orEmpty(w["code"])))
		where := fmt.Sprintf("%s %s[%d]", file, ty, i)
		// Of several with the code, take the first that agrees, else the
		// first: a message may repeat a code with different values.
		best, bestDiffs := -1, []check(nil)
		for j, g := range got {
			if used[j] || fmt.Sprint(firstCoding(orEmpty(g["code"]))) != wc {
				continue
			}
			var d []check
			cmp(where, g, w, &d)
			if best < 0 || len(d) == 0 && len(bestDiffs) > 0 {
				best, bestDiffs = j, d
			}
		}
		if best < 0 {
			*c = append(*c, check{file, fmt.Sprintf("%s[%d] %s", ty, i, wc), "none", "present"})
			continue
		}
		used[best] = true
		*c = append(*c, bestDiffs...)
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
		if gq == nil || fmt.Sprint(gq["value"]) != fmt.Sprint(eq["value"]) || gq["unit"] != wu {
			diff("valueQuantity", gq, eq)
		}
	}
	if es, ok := e["valueString"]; ok && g["valueString"] != es {
		diff("valueString", g["valueString"], es)
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
		}
	}
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
	if (e["requester"] == nil) != (g["requester"] == nil) {
		diff("requester", g["requester"], e["requester"])
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
	nte := map[string]bool{}
	for _, s := range msg.AllSegments("NTE") {
		nte[s.Field(3).String()] = true
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
				if t := str(n["text"]); nte[t] {
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
