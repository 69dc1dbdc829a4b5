package v2fhir

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// oruRepeatsHead opens a community health centre's report with one OBX
// under test appended.
const oruRepeatsHead = "MSH|^~\\&|LIS|SQ-CHC-01|FHIRGW|SHCH|20240318091500+0800||ORU^R01^ORU_R01|R0318-1|P|2.5.1\r" +
	"PID|1||CHC0012345^^^SQ-CHC-01^MR||张秀英||19491231|2\r" +
	"OBR|1||SQ0318-1|24356-8^尿常规^LN|||20240318073000+0800||||||||||||||||||F\r"

// componentValue is a component's or observation's value in a comparable
// form: "Q value unit", "C system|code", "S text", "R low-high", "D dateTime".
func componentValue(q *fhir.Quantity, cc *fhir.CodeableConcept, s *string, rg *fhir.Range, dt *string) string {
	switch {
	case q != nil:
		return "Q " + string(*q.Value) + " " + value(q.Unit)
	case cc != nil && len(cc.Coding) > 0:
		return "C " + value(cc.Coding[0].System) + "|" + value(cc.Coding[0].Code)
	case s != nil:
		return "S " + *s
	case rg != nil && rg.Low != nil && rg.High != nil:
		return "R " + string(*rg.Low.Value) + "-" + string(*rg.High.Value)
	case dt != nil:
		return "D " + *dt
	}
	return ""
}

func TestOBXRepeats(t *testing.T) {
	tests := []struct {
		name   string
		obx    string
		value  string   // Observation.value[x], when not in components
		comps  []string // component values, in order
		rr     string   // reference range text, on each component or the Observation
		warn   string   // warning code expected, or ""
		interp int      // OBX-8 interpretations, on the Observation
	}{
		{
			name:  "CWE repeats: one component per isolate",
			obx:   "OBX|1|CWE|6463-4^细菌培养^LN||112283007^大肠埃希菌^SCT~3092008^金黄色葡萄球菌^SCT||||||F",
			comps: []string{"C http://snomed.info/sct|112283007", "C http://snomed.info/sct|3092008"},
		},
		{
			name:  "CE repeats",
			obx:   "OBX|1|CE|5767-9^尿液外观^LN||YEL^黄色^L~CLOUDY^浑浊^L||||||F",
			comps: []string{"C urn:fhirgw:v2:cs:L|YEL", "C urn:fhirgw:v2:cs:L|CLOUDY"},
		},
		{
			name:   "NM repeats keep the unit and the range per component",
			obx:    "OBX|1|NM|8867-4^心率^LN||72~75|次/分|60-100|N|||F",
			comps:  []string{"Q 72 次/分", "Q 75 次/分"},
			rr:     "60-100",
			interp: 1,
		},
		{
			name:  "ST repeats are separate values",
			obx:   "OBX|1|ST|5804-0^尿蛋白^LN||阴性~±||||||F",
			comps: []string{"S 阴性", "S ±"},
		},
		{
			name:  "SN repeats",
			obx:   "OBX|1|SN|5778-6^尿白细胞^LN||^1^:^80~^1^:^160||||||F",
			comps: []string{"", ""}, // ratios: checked below by type
		},
		{
			name:  "TX repeats are lines of one text",
			obx:   "OBX|1|TX|18842-5^出院小结^LN||血糖控制平稳~继续二甲双胍治疗||||||F",
			value: "S 血糖控制平稳\n继续二甲双胍治疗",
		},
		{
			name:  "FT repeats are lines of one text",
			obx:   "OBX|1|FT|11526-1^病理报告^LN||镜下见\\.br\\少量炎细胞~未见异型细胞||||||F",
			value: "S 镜下见\n少量炎细胞\n未见异型细胞",
		},
		{
			name:   "one CWE stays valueCodeableConcept",
			obx:    "OBX|1|CWE|6463-4^细菌培养^LN||112283007^大肠埃希菌^SCT|||A|||F",
			value:  "C http://snomed.info/sct|112283007",
			interp: 1,
		},
		{
			name:  "one NM keeps the range on the Observation",
			obx:   "OBX|1|NM|2345-7^血糖^LN||6.1|mmol/L|3.9-6.1||||F",
			value: "Q 6.1 mmol/L",
			rr:    "3.9-6.1",
		},
		{
			name:  "a bad repetition stays as text, with a warning",
			obx:   "OBX|1|NM|8867-4^心率^LN||72~无法测量|次/分|||||F",
			comps: []string{"Q 72 次/分", "S 无法测量"},
			warn:  "OBX_VALUE",
		},
		{
			name: "an unmapped type is dropped, with a warning",
			obx:  "OBX|1|ED|11502-2^检验报告^LN||^AP^PDF^Base64^SlZCRVJp~^AP^PDF^Base64^QUJD||||||F",
			warn: "OBX_TYPE",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustMap(t, parse(t, oruRepeatsHead+tt.obx+"\r"), Config{})
			var codes []string
			for _, w := range r.Warnings {
				codes = append(codes, w.Code)
			}
			if tt.warn == "" && len(codes) != 0 || tt.warn != "" && !slices.Equal(codes, []string{tt.warn}) {
				t.Errorf("warnings = %+v, want %q", r.Warnings, tt.warn)
			}
			obs := observations(r)
			if len(obs) != 1 {
				t.Fatalf("%d Observations", len(obs))
			}
			o := obs[0]
			if got := componentValue(o.ValueQuantity, o.ValueCodeableConcept, o.ValueString, o.ValueRange, o.ValueDateTime); got != tt.value || o.ValueRatio != nil && tt.comps != nil {
				t.Errorf("value = %q, want %q", got, tt.value)
			}
			if len(o.Component) != len(tt.comps) {
				t.Fatalf("%d components, want %d: %+v", len(o.Component), len(tt.comps), o.Component)
			}
			for i, c := range o.Component {
				if got := componentValue(c.ValueQuantity, c.ValueCodeableConcept, c.ValueString, c.ValueRange, c.ValueDateTime); got != tt.comps[i] {
					t.Errorf("component %d value = %q, want %q", i, got, tt.comps[i])
				}
				if tt.comps[i] == "" && (c.ValueRatio == nil || c.ValueRatio.Numerator == nil || c.ValueRatio.Denominator == nil) {
					t.Errorf("component %d has no ratio: %+v", i, c)
				}
				// Each component is the OBX-3 observation.
				if a, b := mustJSON(t, c.Code), mustJSON(t, o.Code); a != b {
					t.Errorf("component %d code %s, want %s", i, a, b)
				}
				if got := rangeTexts(c.ReferenceRange); !slices.Equal(got, nonEmpty(tt.rr)) {
					t.Errorf("component %d referenceRange %q, want %q", i, got, tt.rr)
				}
			}
			// With components the range is theirs; else the Observation's.
			wantTop := nonEmpty(tt.rr)
			if len(o.Component) > 0 {
				wantTop = nil
			}
			if got := rangeTexts(o.ReferenceRange); !slices.Equal(got, wantTop) {
				t.Errorf("Observation referenceRange %q, want %q", got, wantTop)
			}
			// Interpretation (OBX-8) stays on the Observation.
			if len(o.Interpretation) != tt.interp {
				t.Errorf("interpretation = %+v", o.Interpretation)
			}
		})
	}
}

func rangeTexts(rr []fhir.ObservationReferenceRange) []string {
	var out []string
	for _, r := range rr {
		out = append(out, value(r.Text))
	}
	return out
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
