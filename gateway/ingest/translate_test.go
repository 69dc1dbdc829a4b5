package ingest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/gateway/interaction"
	"github.com/shch/fhirgw/gateway/store"
	"github.com/shch/fhirgw/mappers/v2fhir"
)

// The community health centre's LIS sends its own test codes (coding system 99SQLAB,
// its OID configured below); its ConceptMap in the server maps them to LOINC.
const (
	labSystem = "urn:oid:1.2.156.112604.1.99"
	labMapURL = "http://shch.example.org/fhir/ConceptMap/sq-chc-01-lab"
	loinc     = "http://loinc.org"
)

func labMap(glucose string) string {
	return `{"resourceType":"ConceptMap","url":"` + labMapURL + `","version":"1","status":"active",
 "name":"SqChc01LabToLoinc","title":"社区卫生服务中心检验项目 → LOINC",
 "group":[{"source":"` + labSystem + `","target":"` + loinc + `","element":[
  {"code":"GLU","display":"葡萄糖","target":[{"code":"` + glucose + `","display":"Glucose","equivalence":"equivalent"}]},
  {"code":"HGB","display":"血红蛋白","target":[{"code":"718-7","display":"Hemoglobin [Mass/volume] in Blood","equivalence":"wider"}]},
  {"code":"CRP","display":"C反应蛋白","target":[{"code":"1988-5","equivalence":"inexact"}]},
  {"code":"OLD","display":"停用项目","target":[{"equivalence":"unmatched"}]}
 ]}]}`
}

func localLabORU(facility, control string, codes ...string) string {
	s := "MSH|^~\\&|LIS|" + facility + "|FHIRGW|SHCH|20240302081500+0800||ORU^R01^ORU_R01|" + control + "|P|2.5.1\r" +
		"PID|1||" + cardLi + "^^^身份证^NNCHN||李四||19900101|1\r" +
		"OBR|1||" + control + "-1|18719-5^Chemistry studies^LN|||20240302081200+0800||||||||||||||||||F\r"
	for i, c := range codes {
		n := string(rune('1' + i))
		s += "OBX|" + n + "|NM|" + c + "^项目" + n + "^99SQLAB||5." + n + "|mmol/L|3.9-6.1|N|||F|||20240302081200+0800\r"
	}
	return s
}

// fhirCall runs a REST interaction through the service, as a client would.
func (e *env) fhirCall(method, path, body string) *interaction.Response {
	e.t.Helper()
	resp := e.svc.Handle(e.ctx, &interaction.Request{Method: method, Path: path, Body: []byte(body), ContentType: "application/fhir+json"})
	if resp.Status >= 300 {
		e.t.Fatalf("%s %s: %d %s", method, path, resp.Status, resp.Body)
	}
	return resp
}

// observationCodings returns, per local code, the codings of the Observations a
// message produced.
func (e *env) observationCodings(m store.Message) map[string][]string {
	e.t.Helper()
	out := map[string][]string{}
	for _, id := range produced(m, "Observation") {
		var obs struct {
			Code struct {
				Coding []struct{ System, Code string }
			}
		}
		if err := json.Unmarshal(e.read("Observation", id).Body, &obs); err != nil {
			e.t.Fatal(err)
		}
		var local string
		var all []string
		for _, c := range obs.Code.Coding {
			if c.System == labSystem {
				local = c.Code
			}
			all = append(all, c.System+"|"+c.Code)
		}
		out[local] = all
	}
	return out
}

func TestTranslateLocalCodes(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{
				Mapping:     v2fhir.Config{CodeSystems: map[string]string{"99SQLAB": labSystem}},
				ConceptMaps: map[string][]string{"SQ-CHC-01": {labMapURL}},
			})
			created := e.fhirCall(http.MethodPost, "ConceptMap", labMap("2345-7"))
			var cm struct{ ID string }
			if err := json.Unmarshal(created.Body, &cm); err != nil || cm.ID == "" {
				t.Fatalf("created ConceptMap: %s", created.Body)
			}

			// From the configured sender: the LOINC coding is added after the local one.
			out := e.process(localLabORU("SQ-CHC-01", "LAB-1", "GLU", "HGB", "CRP", "OLD", "XYZ", "XYZ"))
			ack := e.ack(out.ACK, "AA")
			got := e.observationCodings(e.message(out.MessageID))
			want := map[string][]string{
				"GLU": {labSystem + "|GLU", loinc + "|2345-7"},
				"HGB": {labSystem + "|HGB", loinc + "|718-7"},
				"CRP": {labSystem + "|CRP"}, // inexact does not stand for the local test
				"OLD": {labSystem + "|OLD"},
				"XYZ": {labSystem + "|XYZ"},
			}
			for code, w := range want {
				if !slices.Equal(got[code], w) {
					t.Errorf("%s codings = %v, want %v", code, got[code], w)
				}
			}
			// The untranslated codes come back as warnings on the AA, each located at
			// its OBX (ERR-2: segment ^ occurrence ^ field), and in the reason.
			var unmapped []string
			for _, seg := range ack.AllSegments("ERR") {
				if seg.Field(5).Component(1).String() != codeUnmapped {
					continue
				}
				if seg.Field(4).String() != "W" || seg.Field(2).Component(1).String() != "OBX" || seg.Field(2).Component(3).String() != "3" {
					t.Errorf("ERR %q", seg.String())
				}
				text := seg.Field(8).String()
				for _, c := range []string{"CRP", "OLD", "XYZ", "GLU", "HGB"} {
					if strings.Contains(text, labSystem+"|"+c) {
						unmapped = append(unmapped, c+" at OBX "+seg.Field(2).Component(2).String())
					}
				}
			}
			slices.Sort(unmapped)
			if want := []string{"CRP at OBX 3", "OLD at OBX 4", "XYZ at OBX 5", "XYZ at OBX 6"}; !slices.Equal(unmapped, want) {
				t.Errorf("CODE_UNMAPPED warnings for %q, want %q; ACK %q", unmapped, want, out.ACK)
			}
			if r := e.message(out.MessageID).Reason; !strings.Contains(r, codeUnmapped+" at OBX-3") {
				t.Errorf("reason %q does not list the unmapped codes", r)
			}

			// Another sender's codes are its own: nothing added, nothing reported.
			out = e.process(localLabORU("OTHER-HOSP", "LAB-2", "GLU"))
			ack = e.ack(out.ACK, "AA")
			if got := e.observationCodings(e.message(out.MessageID)); !slices.Equal(got["GLU"], []string{labSystem + "|GLU"}) {
				t.Errorf("other sender: GLU codings = %v", got["GLU"])
			}
			if strings.Contains(string(out.ACK), codeUnmapped) {
				t.Errorf("other sender warned: %q", out.ACK)
			}

			// The map is corrected through the REST API; the next message uses it.
			e.fhirCall(http.MethodPut, "ConceptMap/"+cm.ID, `{"id":"`+cm.ID+`",`+strings.TrimPrefix(labMap("14749-6"), "{"))
			out = e.process(localLabORU("SQ-CHC-01", "LAB-3", "GLU"))
			e.ack(out.ACK, "AA")
			if got := e.observationCodings(e.message(out.MessageID)); !slices.Equal(got["GLU"], []string{labSystem + "|GLU", loinc + "|14749-6"}) {
				t.Errorf("after the update: GLU codings = %v", got["GLU"])
			}
		})
	}
}

// A sender configured with a map the server does not hold gets AE, and the message
// waits until the map is stored and the message replayed.
func TestTranslateMissingMap(t *testing.T) {
	e := newEnv(t, "sqlite", Config{
		Mapping:     v2fhir.Config{CodeSystems: map[string]string{"99SQLAB": labSystem}},
		ConceptMaps: map[string][]string{"SQ-CHC-01": {labMapURL + "|1"}},
	})
	out := e.process(localLabORU("SQ-CHC-01", "LAB-9", "GLU"))
	e.ack(out.ACK, "AE")
	if m := e.message(out.MessageID); m.Status != store.MessageError || !strings.Contains(m.Reason, labMapURL) {
		t.Fatalf("stored %s %q", m.Status, m.Reason)
	}
	// A map with the url but another version does not do either.
	e.fhirCall(http.MethodPost, "ConceptMap", strings.Replace(labMap("2345-7"), `"version":"1"`, `"version":"0.9"`, 1))
	again, err := e.p.Replay(e.ctx, out.MessageID)
	if err != nil || again.AppCode != "AE" {
		t.Fatalf("replay with version 0.9 stored: %v %s", err, again.AppCode)
	}
	e.fhirCall(http.MethodPost, "ConceptMap", labMap("2345-7"))
	again, err = e.p.Replay(e.ctx, out.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	e.ack(again.ACK, "AA")
	if got := e.observationCodings(e.message(out.MessageID)); !slices.Equal(got["GLU"], []string{labSystem + "|GLU", loinc + "|2345-7"}) {
		t.Errorf("after replay: GLU codings = %v", got["GLU"])
	}
}

// Resources without a configured source system are written exactly as mapped.
func TestTranslateLeavesOtherResources(t *testing.T) {
	cfg := Config{ConceptMaps: map[string][]string{"SQ-CHC-01": {labMapURL}}}
	e := newEnv(t, "sqlite", cfg)
	e.fhirCall(http.MethodPost, "ConceptMap", labMap("2345-7"))
	raw := hospitalADT("A04", "ADT-T1", "20240301093000", "~"+cardZhang+"^^^身份证^NNCHN")
	out := e.process(raw)
	e.ack(out.ACK, "AA")
	msg, err := hl7v2.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	res, err := v2fhir.Map(msg, cfg.Mapping)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range res.Resources {
		if en.Type != "Encounter" {
			continue
		}
		var mapped, stored map[string]any
		_ = json.Unmarshal(en.JSON, &mapped)
		_ = json.Unmarshal(e.read("Encounter", en.ID).Body, &stored)
		delete(stored, "meta")
		delete(mapped, "meta")
		mb, _ := json.Marshal(mapped)
		sb, _ := json.Marshal(stored)
		if string(mb) != string(sb) {
			t.Errorf("Encounter changed:\n%s\n%s", mb, sb)
		}
	}
}
