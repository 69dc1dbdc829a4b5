package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Identifier systems of the synthetic population (WS/T 500 OIDs, see china-context.md).
const (
	IDCardSystem = "urn:oid:2.16.156.10011.1.3" // resident identity card number
	MRNSystem    = "urn:oid:2.16.156.10011.1.2" // health record (MRN)
	LOINC        = "http://loinc.org"
	ICD10        = "http://hl7.org/fhir/sid/icd-10"
)

// Bench500 is the patient whose compartment holds exactly Bench500Size resources,
// the patient included, for the $everything measurement.
const (
	Bench500     = "bench-500"
	Bench500Size = 500
)

// Population describes a deterministic synthetic Shanghai population: the same Seed
// and sizes always give the same resources with the same ids, so loading is
// idempotent (every entry is a PUT) and the search bench can draw query values that
// exist without asking the server.
type Population struct {
	Seed          uint64
	Patients      int // ordinary patients, Bench500 not counted
	ObsPerPatient int
	Practitioners int
	Organizations int
}

// NewPopulation returns the population with the default practitioner and
// organization counts.
func NewPopulation(seed uint64, patients, obs int) Population {
	return Population{Seed: seed, Patients: patients, ObsPerPatient: obs, Practitioners: 200, Organizations: 50}
}

// district is a Shanghai district with its administrative division code, the first
// six characters of its residents' identity card numbers.
type district struct{ code, name string }

var districts = []district{
	{"310101", "黄浦区"}, {"310104", "徐汇区"}, {"310105", "长宁区"}, {"310106", "静安区"},
	{"310107", "普陀区"}, {"310109", "虹口区"}, {"310110", "杨浦区"}, {"310112", "闵行区"},
	{"310113", "宝山区"}, {"310114", "嘉定区"}, {"310115", "浦东新区"}, {"310116", "金山区"},
	{"310117", "松江区"}, {"310118", "青浦区"}, {"310120", "奉贤区"}, {"310151", "崇明区"},
}

// Surnames are drawn with these weights' order (the commonest first); compound
// surnames are included because they break naive "first character" splitting.
var benchSurnames = []string{
	"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
	"郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
	"欧阳", "司马", "诸葛", "上官",
}

var givenChars = []string{
	"伟", "芳", "娜", "秀", "英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰",
	"娟", "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "文", "华", "玉", "萍", "红",
	"晨", "浩", "宇", "欣", "怡", "佳", "俊", "嘉", "梓", "睿",
}

var streets = []string{"南京东路", "淮海中路", "世纪大道", "长寿路", "四平路", "虹桥路", "张江路", "漕溪北路", "天山路", "大连路"}

// Patient is what the search bench needs to know about one generated patient.
type Patient struct {
	ID     string
	IDCard string
	MRN    string
	Family string
	Given  string
	Text   string // family + given, as written in HumanName.text
	Male   bool
	Birth  time.Time
	Dist   district
}

// obsKind is one of the observation codes generated, with a plausible value range.
type obsKind struct {
	code, display, unit string
	lo, hi              float64
	decimals            int
}

// ObsCodes are the LOINC codes of the generated Observations.
var obsKinds = []obsKind{
	{"8480-6", "Systolic blood pressure", "mm[Hg]", 95, 175, 0},
	{"8462-4", "Diastolic blood pressure", "mm[Hg]", 55, 105, 0},
	{"15074-8", "Glucose [Moles/volume] in Blood", "mmol/L", 3.8, 14, 1},
	{"29463-7", "Body weight", "kg", 42, 98, 1},
}

// ObsCodes lists the LOINC codes every patient has observations of.
func ObsCodes() []string {
	out := make([]string, len(obsKinds))
	for i, k := range obsKinds {
		out[i] = k.code
	}
	return out
}

var conditions = []struct{ code, display string }{
	{"I10", "原发性高血压"}, {"E11.9", "2型糖尿病，无并发症"}, {"E78.5", "高脂血症"},
	{"J45.9", "哮喘"}, {"K29.7", "胃炎"}, {"I25.1", "动脉粥样硬化性心脏病"},
	{"M54.5", "下背痛"}, {"J44.9", "慢性阻塞性肺病"}, {"N18.3", "慢性肾脏病3期"}, {"F32.9", "抑郁发作"},
}

// ObsEpoch and ObsSpan bound the observations' effective times: three years.
var (
	shanghai = time.FixedZone("CST", 8*3600)
	ObsEpoch = time.Date(2023, 1, 1, 0, 0, 0, 0, shanghai)
)

const obsSpanDays = 3 * 365

func (p Population) rng(kind, i uint64) *rand.Rand {
	return rand.New(rand.NewPCG(p.Seed^0x9e3779b97f4a7c15*(kind+1), i))
}

// PatientID is the id of the i-th ordinary patient.
func PatientID(i int) string { return "p" + strconv.Itoa(i) }

// Patient returns the i-th patient (0 <= i < Patients); i == -1 is Bench500.
func (p Population) Patient(i int) Patient {
	r := p.rng(1, uint64(i+1))
	pt := Patient{ID: PatientID(i)}
	if i == -1 {
		pt.ID = Bench500
	}
	pt.Family = benchSurnames[skewed(r, len(benchSurnames))]
	pt.Given = givenChars[r.IntN(len(givenChars))]
	if r.IntN(2) == 0 {
		pt.Given += givenChars[r.IntN(len(givenChars))]
	}
	pt.Text = pt.Family + pt.Given
	pt.Male = r.IntN(2) == 0
	pt.Birth = time.Date(1935, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(85*365))
	pt.Dist = districts[r.IntN(len(districts))]
	// The sequence number makes the card unique within the population: the index
	// spread over 500 values, its parity the sex as the standard requires.
	seq := (i+1)%500*2 + 1
	if !pt.Male {
		seq--
	}
	pt.IDCard = IDCard(pt.Dist.code, pt.Birth, seq%1000)
	pt.MRN = fmt.Sprintf("SH%08d", i+1)
	return pt
}

// skewed picks an index in [0,n) favouring small ones, like surname frequencies.
func skewed(r *rand.Rand, n int) int {
	a, b := r.IntN(n), r.IntN(n)
	return min(a, b)
}

// IDCard builds an 18-character resident identity card number (GB 11643) with its
// ISO 7064 MOD 11-2 check character.
func IDCard(area string, birth time.Time, seq int) string {
	body := fmt.Sprintf("%s%s%03d", area, birth.Format("20060102"), seq)
	return body + string(IDCardCheck(body))
}

// IDCardCheck returns the check character of the first 17 digits of a card number.
func IDCardCheck(body17 string) byte {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17 && i < len(body17); i++ {
		sum += int(body17[i]-'0') * weights[i]
	}
	return "10X98765432"[sum%11]
}

// counts says how many resources of each kind a patient's compartment has.
type counts struct{ obs, enc, cond, sr int }

func (p Population) counts(i int) counts {
	if i == -1 {
		// 1 Patient + 480 + 10 + 5 + 4 = 500.
		return counts{obs: 480, enc: 10, cond: 5, sr: 4}
	}
	return counts{obs: p.ObsPerPatient, enc: 2, cond: 1, sr: 1}
}

// Total is the number of resources the population holds.
func (p Population) Total() int {
	c := p.counts(0)
	return p.Practitioners + p.Organizations + p.Patients*(1+c.obs+c.enc+c.cond+c.sr) + Bench500Size
}

// Entry is one resource of the population.
type Entry struct {
	Type, ID string
	Body     []byte
}

// Directory returns the practitioners and organizations, which patients' resources
// refer to and which must therefore be loaded first.
func (p Population) Directory() []Entry {
	var out []Entry
	for j := range p.Organizations {
		d := districts[j%len(districts)]
		id := "org" + strconv.Itoa(j)
		name := fmt.Sprintf("上海市%s第%d社区卫生服务中心", d.name, j/len(districts)+1)
		out = append(out, entry("Organization", id, map[string]any{
			"resourceType": "Organization", "id": id, "active": true,
			"identifier": []any{map[string]any{"system": "urn:oid:2.16.156.10011.1.5", "value": fmt.Sprintf("%s%05d", d.code, j)}},
			"type":       []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov"}}}},
			"name":       name,
			"address":    []any{map[string]any{"city": "上海市", "district": d.name, "state": "上海市", "country": "CN"}},
		}))
	}
	for j := range p.Practitioners {
		r := p.rng(2, uint64(j))
		id := "pr" + strconv.Itoa(j)
		fam, giv := benchSurnames[skewed(r, len(benchSurnames))], givenChars[r.IntN(len(givenChars))]
		out = append(out, entry("Practitioner", id, map[string]any{
			"resourceType": "Practitioner", "id": id, "active": true,
			"identifier": []any{map[string]any{"system": "urn:oid:2.16.156.10011.1.4", "value": fmt.Sprintf("DR%06d", j)}},
			"name":       []any{map[string]any{"text": fam + giv, "family": fam, "given": []any{giv}}},
			"gender":     []string{"male", "female"}[r.IntN(2)],
		}))
	}
	return out
}

// Compartment returns patient i (-1: Bench500) and every resource in its compartment.
func (p Population) Compartment(i int) []Entry {
	pt := p.Patient(i)
	r := p.rng(3, uint64(i+1))
	c := p.counts(i)
	ref := map[string]any{"reference": "Patient/" + pt.ID, "display": pt.Text}
	org := func() map[string]any {
		return map[string]any{"reference": "Organization/org" + strconv.Itoa(r.IntN(max(p.Organizations, 1)))}
	}
	prac := func() map[string]any {
		return map[string]any{"reference": "Practitioner/pr" + strconv.Itoa(r.IntN(max(p.Practitioners, 1)))}
	}
	gender := "female"
	if pt.Male {
		gender = "male"
	}
	out := []Entry{entry("Patient", pt.ID, map[string]any{
		"resourceType": "Patient", "id": pt.ID, "active": true,
		"identifier": []any{
			map[string]any{"use": "official", "system": IDCardSystem, "value": pt.IDCard,
				"type": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}}}},
			map[string]any{"use": "usual", "system": MRNSystem, "value": pt.MRN,
				"type": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}}}},
		},
		"name":      []any{map[string]any{"use": "official", "text": pt.Text, "family": pt.Family, "given": []any{pt.Given}}},
		"gender":    gender,
		"birthDate": pt.Birth.Format("2006-01-02"),
		"telecom":   []any{map[string]any{"system": "phone", "value": fmt.Sprintf("1%02d%08d", 30+r.IntN(60), r.IntN(100000000)), "use": "mobile"}},
		"address": []any{map[string]any{"use": "home",
			"text": fmt.Sprintf("上海市%s%s%d号", pt.Dist.name, streets[r.IntN(len(streets))], 1+r.IntN(999)),
			"line": []any{fmt.Sprintf("%s%d号", streets[r.IntN(len(streets))], 1+r.IntN(999))},
			"city": "上海市", "district": pt.Dist.name, "state": "上海市", "postalCode": "200" + fmt.Sprintf("%03d", r.IntN(1000)), "country": "CN"}},
		"managingOrganization": org(),
	})}
	encIDs := make([]string, c.enc)
	for k := range c.enc {
		id := fmt.Sprintf("%s-e%d", pt.ID, k)
		encIDs[k] = id
		start := ObsEpoch.Add(time.Duration(r.IntN(obsSpanDays*24)) * time.Hour)
		out = append(out, entry("Encounter", id, map[string]any{
			"resourceType": "Encounter", "id": id, "status": "finished",
			"class":           map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
			"subject":         ref,
			"participant":     []any{map[string]any{"individual": prac()}},
			"period":          map[string]any{"start": start.Format(time.RFC3339), "end": start.Add(25 * time.Minute).Format(time.RFC3339)},
			"serviceProvider": org(),
		}))
	}
	for k := range c.obs {
		kind := obsKinds[k%len(obsKinds)]
		id := fmt.Sprintf("%s-o%d", pt.ID, k)
		at := ObsEpoch.Add(time.Duration(r.IntN(obsSpanDays*24*60)) * time.Minute)
		v := kind.lo + r.Float64()*(kind.hi-kind.lo)
		v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'f', kind.decimals, 64), 64)
		category := "vital-signs"
		if kind.code == "15074-8" {
			category = "laboratory"
		}
		o := map[string]any{
			"resourceType": "Observation", "id": id, "status": "final",
			"category":          []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}}}},
			"code":              map[string]any{"coding": []any{map[string]any{"system": LOINC, "code": kind.code, "display": kind.display}}},
			"subject":           ref,
			"effectiveDateTime": at.Format(time.RFC3339),
			"performer":         []any{prac()},
			"valueQuantity":     map[string]any{"value": v, "unit": kind.unit, "system": "http://unitsofmeasure.org", "code": kind.unit},
		}
		if len(encIDs) > 0 {
			o["encounter"] = map[string]any{"reference": "Encounter/" + encIDs[k%len(encIDs)]}
		}
		out = append(out, entry("Observation", id, o))
	}
	for k := range c.cond {
		cd := conditions[r.IntN(len(conditions))]
		id := fmt.Sprintf("%s-c%d", pt.ID, k)
		out = append(out, entry("Condition", id, map[string]any{
			"resourceType": "Condition", "id": id,
			"clinicalStatus":     map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}}},
			"verificationStatus": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}}},
			"category":           []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis"}}}},
			"code":               map[string]any{"coding": []any{map[string]any{"system": ICD10, "code": cd.code, "display": cd.display}}, "text": cd.display},
			"subject":            ref,
			"encounter":          map[string]any{"reference": "Encounter/" + encIDs[k%len(encIDs)]},
			"recordedDate":       ObsEpoch.AddDate(0, 0, r.IntN(obsSpanDays)).Format("2006-01-02"),
			"recorder":           prac(),
		}))
	}
	for k := range c.sr {
		id := fmt.Sprintf("%s-sr%d", pt.ID, k)
		status := "completed"
		if r.IntN(3) == 0 {
			status = "active"
		}
		out = append(out, entry("ServiceRequest", id, map[string]any{
			"resourceType": "ServiceRequest", "id": id, "status": status, "intent": "order",
			"category":   []any{map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}}}},
			"code":       map[string]any{"coding": []any{map[string]any{"system": "http://snomed.info/sct", "code": "306206005", "display": "Referral to service"}}, "text": "转诊"},
			"subject":    ref,
			"encounter":  map[string]any{"reference": "Encounter/" + encIDs[k%len(encIDs)]},
			"authoredOn": ObsEpoch.AddDate(0, 0, r.IntN(obsSpanDays)).Format("2006-01-02"),
			"requester":  prac(),
			"performer":  []any{org()},
		}))
	}
	return out
}

func entry(typ, id string, v map[string]any) Entry {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("encode generated %s/%s: %v", typ, id, err)) // only maps of plain values
	}
	return Entry{Type: typ, ID: id, Body: bytes.TrimRight(b.Bytes(), "\n")}
}

// TransactionBundle wraps entries as a transaction of PUTs.
func TransactionBundle(entries []Entry) []byte {
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"transaction","entry":[`)
	for k, e := range entries {
		if k > 0 {
			b.WriteByte(',')
		}
		// No fullUrl: the entries refer to each other by type and id, not by URL.
		fmt.Fprintf(&b, `{"resource":%s,"request":{"method":"PUT","url":"%s/%s"}}`, e.Body, e.Type, e.ID)
	}
	b.WriteString("]}")
	return b.Bytes()
}
