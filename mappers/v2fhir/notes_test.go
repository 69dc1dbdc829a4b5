package v2fhir

import (
	"bytes"
	"slices"
	"strings"
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
	if len(r.Find("Patient")) != 1 || bytes.Contains(r.Bundle(), []byte("家庭医生签约居民")) {
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

// TestNotesADTAndReferral: OBX in ADT, REF and RRI become Observations with
// the NTE after each OBX as notes; in a referral they support the
// ServiceRequest. The NTE after a referral's OBR is a note on the OBR's own
// ServiceRequest, the NTE closing a referral (after the visit) one on the
// referral; one after any other segment is no resource's.
func TestNotesADTAndReferral(t *testing.T) {
	const (
		pid = "PID|1||CHC0012345^^^SQ-CHC-01^MR||张秀英||19491231|2\r"
		obx = "OBX|1|NM|8480-6^收缩压^LN||162|mm[Hg]^毫米汞柱^UCUM|90-139|H|||F|||20240301093000+0800\r" +
			"NTE|1||家中自测连续三天偏高\r" +
			"NTE|2||已调整用药\r" +
			"OBX|2|NM|8462-4^舒张压^LN||98|mm[Hg]^毫米汞柱^UCUM|60-89|H|||F|||20240301093000+0800\r" +
			"OBX|3|ST|GMS01^随访说明^L||血压控制不佳||||||F\r" +
			"PRT|1|AD||RO^Responsible Observer^HL70912|D0012^王^芳\r" +
			"NTE|1||建议心内科评估\r"
		rf1 = "RF1|P^Pending^HL70283|A^ASAP^HL70280|MED^内科^HL70281||O^门诊^HL70284|ZZ20240301002|20240301100000|20240331\r"
	)
	tests := []struct {
		name, msg string
		referral  bool
	}{
		{"ADT^A04", "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|20240301100500||ADT^A04^ADT_A01|N0001|P|2.5\r" +
			"EVN|A04|20240301100000\r" + pid + "NTE|1||患者级备注\r" +
			"PV1|1|O|全科门诊||||D0012^王^芳|||||||||||V20240301009\r" + obx +
			"AL1|1|DA^药物过敏^HL70127|PCN^青霉素^L|MO\rNTE|1||过敏备注\r", false},
		{"REF^I12", "MSH|^~\\&|JWS|SQ-CHC-01|HIS|SH-H01|20240301100500||REF^I12^REF_I12|N0002|P|2.5\r" +
			rf1 + pid + "PR1|1||88.72^超声心动图^ICD9CM3|超声心动图|20240301\r" +
			"OBR|1|||18684-1^血压随访^LN\rNTE|1||随访记录\r" + obx + "PV1|1|O\rNTE|1||转诊备注\r", true},
		{"RRI^I12", "MSH|^~\\&|HIS|SH-H01|JWS|SQ-CHC-01|20240302090000||RRI^I12^RRI_I12|N0003|P|2.5\rMSA|AA|N0002\r" +
			"RF1|A|A^ASAP^HL70280|MED^内科^HL70281||O^门诊^HL70284|ZZ20240301002|20240301100000|20240331\r" + pid + obx, true},
	}
	wantNotes := [][]string{{"家中自测连续三天偏高", "已调整用药"}, nil, {"建议心内科评估"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustMap(t, parse(t, tt.msg), Config{})
			obs := observations(r)
			if len(obs) != len(wantNotes) {
				t.Fatalf("%d Observations, want %d", len(obs), len(wantNotes))
			}
			for i, o := range obs {
				if got := noteTexts(o.Note); !slices.Equal(got, wantNotes[i]) {
					t.Errorf("Observation %d notes = %q, want %q", i+1, got, wantNotes[i])
				}
			}
			var sr, obrOrder *fhir.ServiceRequest
			for _, x := range serviceRequests(r) {
				if len(x.Category) > 0 {
					sr = x
				} else {
					obrOrder = x
				}
			}
			for _, e := range r.Resources {
				for _, bad := range []string{"患者级备注", "过敏备注", "随访记录", "转诊备注"} {
					owner := map[string]*fhir.ServiceRequest{"随访记录": obrOrder, "转诊备注": sr}[bad]
					if bytes.Contains(e.JSON, []byte(bad)) && (owner == nil || e.Resource != any(owner)) {
						t.Errorf("%s carries %q", e.Type, bad)
					}
				}
			}
			if strings.Contains(tt.msg, "OBR|") {
				if obrOrder == nil || !slices.Equal(noteTexts(obrOrder.Note), []string{"随访记录"}) {
					t.Errorf("OBR ServiceRequest %+v, want the note after the OBR", obrOrder)
				}
			} else if obrOrder != nil {
				t.Errorf("ServiceRequest %+v without an OBR", obrOrder)
			}
			if !tt.referral {
				return
			}
			if sr == nil {
				t.Fatal("no referral ServiceRequest")
			}
			if want := map[bool][]string{true: {"转诊备注"}}[strings.Contains(tt.msg, "PV1|1|O\rNTE")]; !slices.Equal(noteTexts(sr.Note), want) {
				t.Errorf("referral notes = %q, want %q", noteTexts(sr.Note), want)
			}
			var si []string
			for _, s := range sr.SupportingInfo {
				if ref := value(s.Reference); strings.HasPrefix(ref, "Observation/") {
					si = append(si, ref)
				}
			}
			var want []string
			for _, o := range obs {
				want = append(want, "Observation/"+*o.Id)
				if o.Subject == nil || value(o.Subject.Reference) != value(sr.Subject.Reference) {
					t.Errorf("Observation %s subject %+v, want the referral's", *o.Id, o.Subject)
				}
			}
			if !slices.Equal(si, want) {
				t.Errorf("supportingInfo Observations = %v, want %v", si, want)
			}
		})
	}
}
