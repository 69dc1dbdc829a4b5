package fhirschema

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shch/fhirgw/conformance/fhirpkg"
)

// invalidExamples lists official R4 examples that are genuinely invalid per the JSON rules, with
// the reason. Every other example must validate without errors.
var invalidExamples = map[string]string{
	"package.json": "the npm package manifest, not a resource",
	"SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json": "its id has 67 characters; id allows at most 64",
}

func exampleFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(fhirpkg.TestDir(t), "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5000 {
		t.Fatalf("only %d example files; is the package unpacked completely?", len(files))
	}
	return files
}

func errorIssues(issues []Issue) []Issue {
	var out []Issue
	for _, is := range issues {
		if is.Severity == "error" || is.Severity == "fatal" {
			out = append(out, is)
		}
	}
	return out
}

func TestValidateOfficialExamples(t *testing.T) {
	files := exampleFiles(t)
	passed, excepted := 0, 0
	for _, f := range files {
		name := filepath.Base(f)
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rt, issues, err := Validate(body)
		errs := errorIssues(issues)
		if reason, ok := invalidExamples[name]; ok {
			if err == nil && len(errs) == 0 {
				t.Errorf("%s is listed as invalid (%s) but validates", name, reason)
			}
			excepted++
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !IsResourceType(rt) {
			t.Errorf("%s: resourceType %q", name, rt)
		}
		for i, is := range errs {
			if i == 5 {
				t.Errorf("%s: ... %d errors in all", name, len(errs))
				break
			}
			t.Errorf("%s: %s at %s: %s", name, is.Code, is.Expression, is.Message)
		}
		if len(errs) == 0 {
			passed++
		}
	}
	t.Logf("%d of %d examples valid, %d listed as invalid", passed, len(files), excepted)
}

func TestValidateIssues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		rt     string
		code   string // "" with expr "": no issues expected
		expr   string
		secret string // a value that must not appear in any message
	}{
		{"valid minimal", `{"resourceType":"Patient"}`, "Patient", "", "", ""},
		{"unknown element", `{"resourceType":"Patient","foo":1}`, "Patient", "structure", "Patient.foo", ""},
		{"wrong JSON type", `{"resourceType":"Patient","active":"true"}`, "Patient", "structure", "Patient.active", ""},
		{"boolean as number", `{"resourceType":"Patient","active":1}`, "Patient", "structure", "Patient.active", ""},
		{"string as number", `{"resourceType":"Patient","gender":7}`, "Patient", "structure", "Patient.gender", ""},
		{"decimal as string", `{"resourceType":"Observation","status":"final","valueQuantity":{"value":"1.5"}}`, "Observation", "structure", "Observation.valueQuantity.value", ""},
		{"object as string", `{"resourceType":"Patient","maritalStatus":"M"}`, "Patient", "structure", "Patient.maritalStatus", ""},
		{"array where single", `{"resourceType":"Patient","birthDate":["1990-01-01"]}`, "Patient", "structure", "Patient.birthDate", ""},
		{"single where array", `{"resourceType":"Patient","name":{"family":"Chalmers"}}`, "Patient", "structure", "Patient.name", "Chalmers"},
		{"single primitive where array", `{"resourceType":"Patient","name":[{"given":"Peter"}]}`, "Patient", "structure", "Patient.name[0].given", "Peter"},
		{"bad date", `{"resourceType":"Patient","birthDate":"1990-13-45"}`, "Patient", "value", "Patient.birthDate", "1990-13-45"},
		{"not a leap year", `{"resourceType":"Patient","birthDate":"2019-02-29"}`, "Patient", "value", "Patient.birthDate", "2019-02-29"},
		{"leap year", `{"resourceType":"Patient","birthDate":"2020-02-29"}`, "Patient", "", "", ""},
		{"dateTime without zone", `{"resourceType":"Patient","deceasedDateTime":"2015-02-07T13:28:17"}`, "Patient", "value", "Patient.deceasedDateTime", "13:28:17"},
		{"instant partial", `{"resourceType":"Patient","meta":{"lastUpdated":"2015-02-07"}}`, "Patient", "value", "Patient.meta.lastUpdated", "2015-02-07"},
		{"bad choice suffix", `{"resourceType":"Observation","status":"final","valueFoo":1}`, "Observation", "structure", "Observation.valueFoo", ""},
		{"lowercase choice suffix", `{"resourceType":"Observation","status":"final","valuestring":"x"}`, "Observation", "structure", "Observation.valuestring", ""},
		{"two choice types", `{"resourceType":"Observation","status":"final","valueString":"a","valueBoolean":true}`, "Observation", "structure", "Observation.valueBoolean", ""},
		{"nested path with index", `{"resourceType":"Patient","name":[{"given":["Peter","James"]},{"given":["Jim",7]}]}`, "Patient", "structure", "Patient.name[1].given[1]", ""},
		{"contained unknown element", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o1","foo":true}]}`, "Patient", "structure", "Patient.contained[0].foo", ""},
		{"contained without resourceType", `{"resourceType":"Patient","contained":[{"id":"o1"}]}`, "Patient", "required", "Patient.contained[0]", ""},
		{"contained unknown type", `{"resourceType":"Patient","contained":[{"resourceType":"Nope","id":"o1"}]}`, "Patient", "structure", "Patient.contained[0].resourceType", ""},
		{"bundle entry", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1"},{"resource":{"resourceType":"Patient","birthDate":1990}}]}`, "Bundle", "structure", "Bundle.entry[1].resource.birthDate", ""},
		{"parameters resource", `{"resourceType":"Parameters","parameter":[{"name":"p","resource":{"resourceType":"Patient","active":"no"}}]}`, "Parameters", "structure", "Parameters.parameter[0].resource.active", ""},
		{"resourceType not first", `{"id":"x","active":true,"resourceType":"Patient"}`, "Patient", "", "", ""},
		{"empty string", `{"resourceType":"Patient","gender":""}`, "Patient", "value", "Patient.gender", ""},
		{"empty array", `{"resourceType":"Patient","name":[]}`, "Patient", "structure", "Patient.name", ""},
		{"empty object", `{"resourceType":"Patient","maritalStatus":{}}`, "Patient", "structure", "Patient.maritalStatus", ""},
		{"null", `{"resourceType":"Patient","gender":null}`, "Patient", "structure", "Patient.gender", ""},
		{"null in array", `{"resourceType":"Patient","name":[null]}`, "Patient", "structure", "Patient.name[0]", ""},
		{"null in primitive array", `{"resourceType":"Patient","name":[{"given":["Peter",null]}]}`, "Patient", "structure", "Patient.name[0].given[1]", "Peter"},
		{"primitive extension", `{"resourceType":"Patient","birthDate":"1974-12-25","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1974-12-25T14:35:45-05:00"}]}}`, "Patient", "", "", ""},
		{"primitive extension alone", `{"resourceType":"Patient","_gender":{"extension":[{"url":"http://example.org/x","valueCode":"x"}]}}`, "Patient", "", "", ""},
		{"primitive extension non-object", `{"resourceType":"Patient","_birthDate":"1974-12-25"}`, "Patient", "structure", "Patient.birthDate", "1974-12-25"},
		{"primitive extension bad content", `{"resourceType":"Patient","_birthDate":{"extension":[{"url":"u","valueFoo":1}]}}`, "Patient", "structure", "Patient.birthDate.extension[0].valueFoo", ""},
		{"extension sibling of complex", `{"resourceType":"Patient","_maritalStatus":{"id":"x"}}`, "Patient", "structure", "Patient._maritalStatus", ""},
		{"repeating primitive extension", `{"resourceType":"Patient","name":[{"given":["Peter",null],"_given":[null,{"extension":[{"url":"u","valueString":"x"}]}]}]}`, "Patient", "", "", ""},
		{"repeating primitive extension not array", `{"resourceType":"Patient","name":[{"given":["Peter"],"_given":{"id":"a"}}]}`, "Patient", "structure", "Patient.name[0].given", ""},
		{"repeating primitive extension length", `{"resourceType":"Patient","name":[{"given":["Peter","James"],"_given":[{"id":"a"}]}]}`, "Patient", "structure", "Patient.name[0].given", ""},
		{"null in both arrays", `{"resourceType":"Patient","name":[{"given":["Peter",null],"_given":[{"id":"a"},null]}]}`, "Patient", "structure", "Patient.name[0].given[1]", ""},
		{"decimal precision kept", `{"resourceType":"Observation","status":"final","valueQuantity":{"value":1.50}}`, "Observation", "", "", ""},
		{"decimal huge", `{"resourceType":"Observation","status":"final","valueQuantity":{"value":123456789012345678901234567890.000000000000000000001e400}}`, "Observation", "", "", ""},
		{"integer max", `{"resourceType":"Patient","multipleBirthInteger":2147483647}`, "Patient", "", "", ""},
		{"integer min", `{"resourceType":"Patient","multipleBirthInteger":-2147483648}`, "Patient", "", "", ""},
		{"integer out of range", `{"resourceType":"Patient","multipleBirthInteger":2147483648}`, "Patient", "value", "Patient.multipleBirthInteger", "2147483648"},
		{"integer with fraction", `{"resourceType":"Patient","multipleBirthInteger":2.0}`, "Patient", "value", "Patient.multipleBirthInteger", ""},
		{"positiveInt zero", `{"resourceType":"Account","coverage":[{"coverage":{"reference":"Coverage/1"},"priority":0}]}`, "Account", "value", "Account.coverage[0].priority", ""},
		{"unsignedInt negative", `{"resourceType":"DocumentReference","status":"current","content":[{"attachment":{"size":-1}}]}`, "DocumentReference", "value", "DocumentReference.content[0].attachment.size", ""},
		{"bad id", `{"resourceType":"Patient","id":"a b"}`, "Patient", "value", "Patient.id", ""},
		{"bad code", `{"resourceType":"Patient","gender":" male"}`, "Patient", "value", "Patient.gender", ""},
		{"control character", `{"resourceType":"Patient","name":[{"text":"a\u0001b"}]}`, "Patient", "value", "Patient.name[0].text", ""},
		{"missing resourceType", `{"id":"x"}`, "", "required", "", ""},
		{"bad resourceType", `{"resourceType":"Patinet","id":"x"}`, "", "structure", "resourceType", "Patinet"},
		{"abstract resourceType", `{"resourceType":"DomainResource"}`, "", "structure", "resourceType", ""},
		{"resourceType not a string", `{"resourceType":7}`, "", "structure", "resourceType", ""},
		{"duplicate property", `{"resourceType":"Patient","active":true,"active":false}`, "Patient", "structure", "Patient.active", ""},
		{"resourceType inside element", `{"resourceType":"Patient","maritalStatus":{"resourceType":"Patient"}}`, "Patient", "structure", "Patient.maritalStatus.resourceType", ""},
		{"modifierExtension on backbone", `{"resourceType":"Patient","contact":[{"modifierExtension":[{"url":"u","valueBoolean":true}]}]}`, "Patient", "", "", ""},
		{"extension not on Bundle", `{"resourceType":"Bundle","type":"collection","extension":[{"url":"u","valueBoolean":true}]}`, "Bundle", "structure", "Bundle.extension", ""},
		{"fhir_comments tolerated", `{"resourceType":"Patient","fhir_comments":["c"],"name":[{"fhir_comments":["d"],"family":"x"}]}`, "Patient", "", "", ""},
		{"xhtml unparsed", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x"}}`, "Patient", "", "", ""},
		{"escaped key", `{"resourceType":"Patient","\u0061ctive":true}`, "Patient", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, issues, err := Validate([]byte(tc.body))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if rt != tc.rt {
				t.Errorf("resourceType = %q, want %q", rt, tc.rt)
			}
			errs := errorIssues(issues)
			if tc.code == "" && tc.expr == "" {
				if len(errs) > 0 {
					t.Errorf("issues %+v, want none", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("issues %+v, want one %s at %q", errs, tc.code, tc.expr)
			}
			if errs[0].Code != tc.code || errs[0].Expression != tc.expr {
				t.Errorf("issue %+v, want %s at %q", errs[0], tc.code, tc.expr)
			}
			if errs[0].Message == "" {
				t.Error("empty message")
			}
			if tc.secret != "" && strings.Contains(errs[0].Message, tc.secret) {
				t.Errorf("message %q shows the value", errs[0].Message)
			}
		})
	}
}

func TestValidateNotAnObject(t *testing.T) {
	for _, body := range []string{
		``, `   `, `[]`, `"Patient"`, `null`, `42`,
		`{"resourceType":"Patient"`, `{"resourceType":"Patient",}`, `{"resourceType":"Patient"} x`,
		`{"resourceType":"Patient","active":tru}`, `{"resourceType":"Patient","name":[{"family":"a"]}`,
		`{"resourceType":"Patient","gender":"a\qb"}`, `{"resourceType":"Patient","multipleBirthInteger":01}`,
		"{\"resourceType\":\"Patient\",\"gender\":\"a\nb\"}", "\xef\xbb\xbf{\"resourceType\":\"Patient\"}",
		`{"resourceType":"Patient","foo":[1,]}`, `{"resourceType":"Patient","foo":{"a" 1}}`,
	} {
		if rt, issues, err := Validate([]byte(body)); err == nil {
			t.Errorf("Validate(%q) = %q, %+v, nil; want an error", body, rt, issues)
		}
	}
}

func TestValidateLimits(t *testing.T) {
	deep := `{"resourceType":"Patient","extension":` + strings.Repeat(`[{"url":"u","extension":`, 80) + `[]` +
		strings.Repeat(`}]`, 80) + `}`
	_, issues, err := Validate([]byte(deep))
	if err != nil {
		t.Fatal(err)
	}
	if len(issues) != 1 || issues[0].Severity != "fatal" {
		t.Errorf("deep nesting: issues %+v, want one fatal", issues)
	}
	// Unknown elements under an unknown one are skipped, so depth also applies there.
	deep = `{"resourceType":"Patient","foo":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`
	if _, issues, err = Validate([]byte(deep)); err != nil || len(issues) != 2 || issues[1].Severity != "fatal" {
		t.Errorf("deep unknown: %+v, %v; want unknown element then fatal", issues, err)
	}
	var b strings.Builder
	b.WriteString(`{"resourceType":"Patient"`)
	for i := range 500 {
		b.WriteString(`,"x` + strings.Repeat("y", i%7) + `":1`)
	}
	b.WriteString(`}`)
	_, issues, err = Validate([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(issues) != maxIssues+1 || !strings.Contains(issues[maxIssues].Message, "400 more") {
		t.Errorf("%d issues, last %+v; want %d and a count of the rest", len(issues), issues[len(issues)-1], maxIssues+1)
	}
}

// TestPrimitiveSyntax checks the hand-written primitive checks against the R4 regexes of the
// generated schema on valid values, near misses and random strings.
func TestPrimitiveSyntax(t *testing.T) {
	seeds := map[string][]string{
		"date":         {"2018", "1973-06", "1905-08-23", "2020-02-29", "0001-01-01", "9999-12-31"},
		"dateTime":     {"2018", "1973-06", "1905-08-23", "2015-02-07T13:28:17-05:00", "2017-01-01T00:00:00.000Z", "2017-01-01T00:00:60+14:00", "2017-01-01T23:59:59.1-13:59"},
		"instant":      {"2015-02-07T13:28:17.239+02:00", "2017-01-01T00:00:00Z"},
		"time":         {"00:00:00", "23:59:60", "12:30:00.5"},
		"id":           {"a", "example-1.2", strings.Repeat("a", 64)},
		"code":         {"male", "a b", "a\tb", "http://x y"},
		"oid":          {"urn:oid:1.2.3", "urn:oid:2.16.840.1.113883", "urn:oid:0.0"},
		"uuid":         {"urn:uuid:c757873d-ec9a-4326-a141-556f43239520"},
		"integer":      {"0", "-0", "7", "-2147483648", "2147483647"},
		"positiveInt":  {"1", "2147483647"},
		"unsignedInt":  {"0", "2147483647"},
		"base64Binary": {"AAAA", "SGVsbG8=", "SGVs bG8="},
		"string":       {"x", " ", "a\tb", "中文"},
		"markdown":     {"# x"},
		"uri":          {"http://x", "urn:x"},
		"url":          {"http://x"},
		"canonical":    {"http://x|1"},
	}
	strict := map[string]bool{"date": true, "dateTime": true, "instant": true, "time": true, "id": true,
		"code": true, "oid": true, "uuid": true, "integer": true, "positiveInt": true, "unsignedInt": true}
	numeric := map[string]bool{"integer": true, "positiveInt": true, "unsignedInt": true}
	rnd := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789-:.TZ+ aefzA/=\t:urnoiduuid"
	for typ, vals := range seeds {
		ti := lookupType(typ)
		if ti == nil || ti.regex == nil {
			t.Fatalf("%s: no regex in the schema", typ)
		}
		check := func(s string) bool {
			if numeric[typ] {
				return checkNumber(typ, []byte(s)) == ""
			}
			return checkString(typ, []byte(s), true) == ""
		}
		for _, s := range vals {
			if !check(s) {
				t.Errorf("%s %q rejected", typ, s)
			}
		}
		cands := append([]string(nil), vals...)
		for range 20000 {
			s := []byte(vals[rnd.IntN(len(vals))])
			for range 1 + rnd.IntN(3) {
				c := alphabet[rnd.IntN(len(alphabet))]
				switch i := rnd.IntN(len(s) + 1); rnd.IntN(3) {
				case 0:
					s = append(s[:i], append([]byte{c}, s[i:]...)...)
				case 1:
					if i < len(s) {
						s = append(s[:i], s[i+1:]...)
					}
				default:
					if i < len(s) {
						s[i] = c
					}
				}
			}
			cands = append(cands, string(s))
		}
		for _, s := range cands {
			if numeric[typ] && (s == "" || !json.Valid([]byte(s)) || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9')) {
				continue // only JSON numbers reach checkNumber
			}
			re := ti.regex.MatchString(s)
			got := check(s)
			switch {
			case strict[typ]:
				want := re && inRange(typ, s) && calendarOK(typ, s)
				if got != want {
					t.Errorf("%s %q: accepted %v, regex %v, want %v", typ, s, got, re, want)
				}
			case re && !got && !hasControl(s) && utf8.ValidString(s):
				t.Errorf("%s %q: rejected but the regex accepts it", typ, s)
			}
		}
	}
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' && r != '\n' && r != '\r' })
}

func inRange(typ, s string) bool {
	if typ != "integer" && typ != "positiveInt" && typ != "unsignedInt" {
		return true
	}
	var n json.Number = json.Number(s)
	i, err := n.Int64()
	return err == nil && i >= -1<<31 && i < 1<<31
}

// calendarOK rejects full dates that do not exist (the regexes allow 2019-02-31).
func calendarOK(typ, s string) bool {
	if typ != "date" && typ != "dateTime" && typ != "instant" || len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return true
	}
	_, err := time.Parse("2006-01-02", s[:10])
	return err == nil
}

func FuzzValidate(f *testing.F) {
	dir := fhirpkg.TestDir(f)
	for _, name := range []string{"Patient-example.json", "Observation-example-genetics-1.json",
		"Bundle-bundle-example.json", "Questionnaire-qs1.json", "Bundle-bundle-transaction.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"resourceType":"Patient","foo":1}`,
		`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"x"}]}]}`,
		`{"resourceType":"Observation","status":"final","valueQuantity":{"value":1.50}}`,
		`{"resourceType":"Patient","contained":[{"resourceType":"Patient","birthDate":"1990-13-45"}]}`,
		`{"resourceType":"Patient","multipleBirthInteger":2147483648,"_birthDate":"x","gender":null}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bundle","entry":[{"resource":{"id":"x","resourceType":"Patient"}}]}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rt, issues, err := Validate(body)
		fatal := false
		for _, is := range issues {
			if is.Severity != "error" && is.Severity != "fatal" || is.Code == "" || is.Message == "" {
				t.Errorf("malformed issue %+v", is)
			}
			if !utf8.ValidString(is.Expression) {
				t.Errorf("expression %q not UTF-8", is.Expression)
			}
			fatal = fatal || is.Severity == "fatal"
		}
		trimmed := strings.TrimLeft(string(body), " \t\r\n")
		isObject := json.Valid(body) && strings.HasPrefix(trimmed, "{")
		switch {
		case err != nil && isObject:
			t.Errorf("error %v for a JSON object", err)
		case err == nil && !isObject && !fatal:
			t.Errorf("no error for a body that is not a JSON object")
		case err != nil && (rt != "" || issues != nil):
			t.Errorf("error with results %q %+v", rt, issues)
		case rt != "" && !IsResourceType(rt):
			t.Errorf("resourceType %q returned", rt)
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	dir := fhirpkg.TestDir(b)
	for _, name := range []string{"Patient-example.json", "Bundle-101.json", "Bundle-types.json"} {
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimSuffix(name, ".json"), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, issues, err := Validate(body); err != nil || len(errorIssues(issues)) > 0 {
					b.Fatal(err, issues)
				}
			}
		})
	}
}
