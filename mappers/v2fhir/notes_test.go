package v2fhir

import (
	"bytes"
	"slices"
	"testing"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// oruNotesCN is a district hospital laboratory's report to a community
// health centre: a urine culture with comments on the order (two lines
// sent as NTE-3 repetitions, an escaped & and a \.br\ line break) and on
// each isolate, a patient-level NTE and one after the specimen, neither
// of which belongs to an order or result.
const oruNotesCN = "MSH|^~\\&|LIS|PDH-01|JWS|SQ-CHC-01|20240315101500+0800||ORU^R01^ORU_R01|PD0315-9|P|2.5.1||||||UNICODE UTF-8\r" +
	"PID|1||CHC0012345^^^SQ-CHC-01^MR||张秀英||19491231|2\r" +
	"NTE|1||患者有青霉素过敏史\r" +
	"ORC|RE|SQ2024031301^SQ-CHC-01|PD88021^PDH-01\r" +
	"OBR|1|SQ2024031301^SQ-CHC-01|PD88021^PDH-01|630-4^尿培养^LN|||20240313073000+0800||||||||||||||||||F\r" +
	"NTE|1|L|标本于2024-03-13 09:10送达~冷藏运输 \\T\\ 已复核|RE^Remark^HL70364\r" +
	"NTE|2|L|请结合临床\\.br\\必要时复查\r" +
	"OBX|1|CWE|6463-4^细菌培养^LN|1|112283007^大肠埃希菌^SCT||||||F|||20240315090000+0800\r" +
	"NTE|1||菌落计数>10^5 CFU/mL||D0451^刘^建国^^^^^^PDH-01|20240315093000+0800\r" +
	"OBX|2|ST|18907-6^药敏结果^LN|1|头孢曲松敏感||||||F\r" +
	"OBX|3|CWE|6463-4^细菌培养^LN|2|3092008^金黄色葡萄球菌^SCT||||||F\r" +
	"NTE|1||疑似污染，建议重新留取中段尿\r" +
	"NTE|2||\r" +
	"SPM|1|SP0313-77||RANDU^随机尿^HL70487\r" +
	"NTE|1||标本量少\r"

// omlNotesCN is a community health centre's order to the district
// hospital: the first order has an NTE after the ORC (no OBR; an ORM-style
// order detail the sender left out) and after its OBX, the second after its
// OBR.
const omlNotesCN = "MSH|^~\\&|JWS|SQ-CHC-01|LIS|PDH-01|20240316080500+0800||OML^O21^OML_O21|ZJ0430|P|2.5.1\r" +
	"PID|1||CHC0012345^^^SQ-CHC-01^MR||张秀英||19491231|2\r" +
	"NTE|1||家庭医生签约居民\r" +
	"ORC|NW|SQ2024031601^SQ-CHC-01||||||||20240316080000+0800\r" +
	"NTE|1||空腹12小时后采血||D0012^王^芳|20240316080100+0800\r" +
	"OBX|1|CWE|49541-6^空腹状态^LN||Y^是^HL70136||||||O\r" +
	"NTE|1||患者自述前晚20:00后未进食\r" +
	"ORC|NW|SQ2024031602^SQ-CHC-01||||||||20240316080000+0800\r" +
	"OBR|1|SQ2024031602^SQ-CHC-01||4548-4^糖化血红蛋白^LN|||20240316073000+0800\r" +
	"TQ1|1||||||||R\r" +
	"NTE|1||随访管理：2型糖尿病\r"

// noteTexts returns the texts of notes.
func noteTexts(notes []fhir.Annotation) []string {
	var out []string
	for _, n := range notes {
		out = append(out, n.Text)
	}
	return out
}

func TestNotesORU(t *testing.T) {
	utf := parse(t, oruNotesCN)
	gb, err := utf.EncodeCharset("GB 18030-2000")
	if err != nil {
		t.Fatal(err)
	}
	gb = bytes.Replace(gb, []byte("UNICODE UTF-8"), []byte("GB 18030-2000"), 1)
	if bytes.Contains(gb, []byte("大肠埃希菌")) {
		t.Fatal("EncodeCharset did not transcode")
	}
	for name, msg := range map[string]*hl7v2.Message{"utf8": utf, "gb18030": parse(t, string(gb))} {
		t.Run(name, func(t *testing.T) {
			r := mustMap(t, msg, Config{})
			srs := serviceRequests(r)
			if len(srs) != 1 {
				t.Fatalf("%d ServiceRequests", len(srs))
			}
			// Each NTE is one Annotation; its NTE-3 repetitions are lines.
			want := []string{"标本于2024-03-13 09:10送达\n冷藏运输 & 已复核", "请结合临床\n必要时复查"}
			if got := noteTexts(srs[0].Note); !slices.Equal(got, want) {
				t.Errorf("ServiceRequest notes = %q, want %q", got, want)
			}
			obs := observations(r)
			if len(obs) != 3 {
				t.Fatalf("%d Observations", len(obs))
			}
			wantObs := []struct {
				notes  []string
				time   string
				author string
			}{
				{[]string{"菌落计数>10^5 CFU/mL"}, "2024-03-15T09:30:00+08:00", "刘建国"},
				{nil, "", ""},
				// An NTE without a comment makes no Annotation.
				{[]string{"疑似污染，建议重新留取中段尿"}, "", ""},
			}
			for i, w := range wantObs {
				o := obs[i]
				if got := noteTexts(o.Note); !slices.Equal(got, w.notes) {
					t.Errorf("Observation %d notes = %q, want %q", i, got, w.notes)
					continue
				}
				if len(o.Note) == 0 {
					continue
				}
				n := o.Note[0]
				if value(n.Time) != w.time {
					t.Errorf("Observation %d note time = %q, want %q", i, value(n.Time), w.time)
				}
				switch {
				case w.author == "" && n.AuthorReference != nil:
					t.Errorf("Observation %d note author = %+v, want none", i, n.AuthorReference)
				case w.author != "" && (n.AuthorReference == nil || value(n.AuthorReference.Display) != w.author):
					t.Errorf("Observation %d note author = %+v, want %s", i, n.AuthorReference, w.author)
				case w.author != "":
					pr, ok := r.Find("Practitioner"), false
					for _, e := range pr {
						ok = ok || "Practitioner/"+e.ID == value(n.AuthorReference.Reference)
					}
					if !ok {
						t.Errorf("note author %s is not a mapped Practitioner", value(n.AuthorReference.Reference))
					}
				}
			}
			// The patient-level NTE and the one after SPM annotate nothing the
			// mapper makes: the IG gives them no target.
			for _, e := range r.Resources {
				for _, bad := range []string{"青霉素", "标本量少"} {
					if bytes.Contains(e.JSON, []byte(bad)) {
						t.Errorf("%s carries %q", e.Type, bad)
					}
				}
			}
		})
	}
}

func TestNotesOrders(t *testing.T) {
	r := mustMap(t, parse(t, omlNotesCN), Config{})
	if len(r.Warnings) != 0 {
		t.Errorf("warnings: %+v", r.Warnings)
	}
	srs, obs := serviceRequests(r), observations(r)
	if len(srs) != 2 || len(obs) != 1 {
		t.Fatalf("got %d ServiceRequests and %d Observations, want 2 and 1", len(srs), len(obs))
	}
	tests := []struct {
		name  string
		notes []fhir.Annotation
		want  []string
	}{
		{"order without OBR", srs[0].Note, []string{"空腹12小时后采血"}},
		{"order with OBR and TQ1", srs[1].Note, []string{"随访管理：2型糖尿病"}},
		{"supporting OBX", obs[0].Note, []string{"患者自述前晚20:00后未进食"}},
	}
	for _, tt := range tests {
		if got := noteTexts(tt.notes); !slices.Equal(got, tt.want) {
			t.Errorf("%s: notes = %q, want %q", tt.name, got, tt.want)
		}
	}
	if n := srs[0].Note; len(n) == 1 && (value(n[0].Time) != "2024-03-16T08:01:00+08:00" || n[0].AuthorReference == nil || value(n[0].AuthorReference.Display) != "王芳") {
		t.Errorf("order note = %+v", n[0])
	}
	if len(r.Find("Patient")) != 1 || bytes.Contains(r.Bundle, []byte("家庭医生签约居民")) {
		t.Errorf("the NTE after PID must not be mapped")
	}
}

// TestNotesRepeatedOrder: a second group with the same order number adds
// its notes to the ServiceRequest the first made.
func TestNotesRepeatedOrder(t *testing.T) {
	msg := "MSH|^~\\&|JWS|SQ-CHC-01|LIS|PDH-01|20240316080500+0800||ORM^O01|ZJ0431|P|2.4\r" +
		"PID|1||CHC0012345^^^SQ-CHC-01^MR||张秀英||19491231|2\r" +
		"ORC|NW|SQ2024031603^SQ-CHC-01\r" +
		"OBR|1|SQ2024031603^SQ-CHC-01||2345-7^血糖^LN\r" +
		"NTE|1||第一次\r" +
		"ORC|NW|SQ2024031603^SQ-CHC-01\r" +
		"OBR|1|SQ2024031603^SQ-CHC-01||2345-7^血糖^LN\r" +
		"NTE|1||第二次\r"
	srs := serviceRequests(mustMap(t, parse(t, msg), Config{}))
	if len(srs) != 1 {
		t.Fatalf("%d ServiceRequests", len(srs))
	}
	if got, want := noteTexts(srs[0].Note), []string{"第一次", "第二次"}; !slices.Equal(got, want) {
		t.Errorf("notes = %q, want %q", got, want)
	}
}
