package v2fhir

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// comp returns the first subcomponent of component i of r, trimmed.
func comp(r hl7v2.Rep, i int) string { return strings.TrimSpace(r.Component(i).Sub(1).String()) }

// sub returns subcomponent j of component i of r, trimmed.
func sub(r hl7v2.Rep, i, j int) string { return strings.TrimSpace(r.Component(i).Sub(j).String()) }

// fieldText returns the first component of the first repetition of field n.
func fieldText(s hl7v2.Segment, n int) string { return comp(s.Field(n).Rep(1), 1) }

// reps returns the non-empty repetitions of field n.
func reps(s hl7v2.Segment, n int) []hl7v2.Rep {
	var out []hl7v2.Rep
	for _, r := range s.Field(n).Reps() {
		if !r.IsEmpty() && string(r.Raw()) != `""` {
			out = append(out, r)
		}
	}
	return out
}

// codeSystems maps v2 coding system names (table 0396) to FHIR URIs.
var codeSystems = map[string]string{
	"LN":        "http://loinc.org",
	"LOINC":     "http://loinc.org",
	"SCT":       "http://snomed.info/sct",
	"SNM":       "http://snomed.info/sct",
	"SNOMED":    "http://snomed.info/sct",
	"SNOMED-CT": "http://snomed.info/sct",
	"I10":       "http://hl7.org/fhir/sid/icd-10",
	"ICD10":     "http://hl7.org/fhir/sid/icd-10",
	"ICD-10":    "http://hl7.org/fhir/sid/icd-10",
	"I10C":      "http://hl7.org/fhir/sid/icd-10-cm",
	"ICD10CM":   "http://hl7.org/fhir/sid/icd-10-cm",
	"I9":        "http://hl7.org/fhir/sid/icd-9-cm",
	"I9C":       "http://hl7.org/fhir/sid/icd-9-cm",
	"UCUM":      "http://unitsofmeasure.org",
	"CVX":       "http://hl7.org/fhir/sid/cvx",
	"RXNORM":    "http://www.nlm.nih.gov/research/umls/rxnorm",
	"RXN":       "http://www.nlm.nih.gov/research/umls/rxnorm",
	"NDC":       "http://hl7.org/fhir/sid/ndc",
	"C4":        "http://www.ama-assn.org/go/cpt",
	"CPT":       "http://www.ama-assn.org/go/cpt",
	"NCIT":      "http://ncithesaurus-stage.nci.nih.gov",
	"ISO3166_1": "urn:iso:std:iso:3166",
	"CDCREC":    "urn:oid:2.16.840.1.113883.6.238",
	"GBT2261.1": "urn:oid:2.16.156.10011.2.3.3.4",
}

// codeSystem maps a v2 coding system name to a URI.
func (m *mapper) codeSystem(name string) string {
	if name == "" {
		return ""
	}
	if u, ok := m.cfg.CodeSystems[name]; ok {
		return u
	}
	if u, ok := codeSystems[strings.ToUpper(name)]; ok {
		return u
	}
	// HL7 tables: HL70078 → v2-0078.
	if up := strings.ToUpper(name); strings.HasPrefix(up, "HL7") && len(up) == 7 && isDigits(up[3:]) {
		return "http://terminology.hl7.org/CodeSystem/v2-" + up[3:]
	}
	if strings.Contains(name, "://") || strings.HasPrefix(name, "urn:") {
		return name // already a URI
	}
	// A URI has no spaces; FHIR-Converter uses hyphens too.
	return m.cfg.CodeSystemBase + strings.ReplaceAll(name, " ", "-")
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// cwe maps a CE/CWE/CNE repetition to a CodeableConcept: the primary and
// alternate codings (components 1-3 with version 7, 4-6 with version 8) and
// the original text (component 9), or the display as text when there is no
// code at all.
func (m *mapper) cwe(r hl7v2.Rep) *fhir.CodeableConcept {
	cc := &fhir.CodeableConcept{}
	for _, k := range [][4]int{{1, 2, 3, 7}, {4, 5, 6, 8}} {
		code, disp, sys := comp(r, k[0]), comp(r, k[1]), comp(r, k[2])
		if code == "" {
			continue
		}
		cc.Coding = append(cc.Coding, fhir.Coding{System: opt(m.codeSystem(sys)), Version: opt(comp(r, k[3])), Code: &code, Display: opt(disp)})
	}
	text := comp(r, 9)
	if len(cc.Coding) == 0 && text == "" {
		text = comp(r, 2)
	}
	cc.Text = opt(text)
	if len(cc.Coding) == 0 && cc.Text == nil {
		return nil
	}
	return cc
}

// codeOnly makes a CodeableConcept of a bare code from a fixed table.
func codeOnly(system, code, display string) *fhir.CodeableConcept {
	if code == "" {
		return nil
	}
	return &fhir.CodeableConcept{Coding: []fhir.Coding{{System: opt(system), Code: &code, Display: opt(display)}}}
}

// textOnly makes a CodeableConcept of text alone.
func textOnly(text string) *fhir.CodeableConcept {
	return &fhir.CodeableConcept{Text: opt(text)}
}

// parseDTM splits an HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]) and
// returns the FHIR form: a date of the given precision, or a dateTime with
// seconds and an offset (the sender's, else loc's). ok is false for text
// that is not a DTM.
func parseDTM(v string, loc *time.Location) (s string, hasTime, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", false, false
	}
	digits, zone := v, ""
	if i := strings.IndexAny(v, "+-"); i >= 0 {
		digits, zone = v[:i], v[i:]
	}
	frac := ""
	if i := strings.IndexByte(digits, '.'); i >= 0 {
		digits, frac = digits[:i], digits[i+1:]
		if !isDigits(frac) {
			return "", false, false
		}
	}
	if !isDigits(digits) {
		return "", false, false
	}
	// Checked before the date-only forms return: "1990-01-01" is not the
	// year 1990 with an offset.
	if zone != "" && (len(zone) != 5 || !isDigits(zone[1:])) {
		return "", false, false
	}
	switch len(digits) {
	case 4:
		return digits, false, true
	case 6:
		if _, err := time.Parse("200601", digits); err != nil {
			return "", false, false
		}
		return digits[:4] + "-" + digits[4:6], false, true
	case 8:
		t, err := time.Parse("20060102", digits)
		if err != nil {
			return "", false, false
		}
		return t.Format(time.DateOnly), false, true
	case 10, 12, 14:
	default:
		return "", false, false
	}
	digits += "0000"[:14-len(digits)]
	var tz *time.Location = loc
	if zone != "" {
		h, _ := strconv.Atoi(zone[1:3])
		mi, _ := strconv.Atoi(zone[3:5])
		off := (h*60 + mi) * 60
		if zone[0] == '-' {
			off = -off
		}
		tz = time.FixedZone("", off)
	}
	t, err := time.ParseInLocation("20060102150405", digits, tz)
	if err != nil {
		return "", false, false
	}
	layout := "2006-01-02T15:04:05"
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		layout += "." + strings.Repeat("0", len(frac))
		n, _ := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
		t = t.Add(time.Duration(n))
	}
	return t.Format(layout + "Z07:00"), true, true
}

// dateTime returns the FHIR dateTime for a DTM value, or "".
func (m *mapper) dateTime(v string) string {
	s, _, _ := parseDTM(v, m.cfg.Location)
	return s
}

// date returns the FHIR date (no time) for a DTM value, or "": the date as
// the sender wrote it, since a birth date has no time zone.
func date(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 8 {
		v = v[:8]
	}
	s, _, _ := parseDTM(v, time.UTC)
	return s
}

// checkedDateTime is dateTime for the value v of field (e.g. "OBX-14") of s.
// A value that is not a date/time is dropped, as by dateTime, but with a
// DATETIME_INVALID warning, so that the ACK tells the sender; "" (the HL7
// null) is not a value.
func (m *mapper) checkedDateTime(s hl7v2.Segment, field, v string) string {
	dt := m.dateTime(v)
	if dt == "" && v != "" && v != `""` {
		m.warn(s, field, "DATETIME_INVALID", "%s %q is not a date/time", field, v)
	}
	return dt
}

// fieldDateTime is checkedDateTime for field n of s.
func (m *mapper) fieldDateTime(s hl7v2.Segment, n int) string {
	return m.checkedDateTime(s, s.Name()+"-"+itoa(n), fieldText(s, n))
}

// fieldDate is date for field n of s, warning with code (e.g. BIRTHDATE_INVALID)
// when a value is sent that is not a date, as fieldDateTime does.
func (m *mapper) fieldDate(s hl7v2.Segment, n int, code string) *string {
	v := fieldText(s, n)
	d := opt(date(v))
	if d == nil && v != "" && v != `""` {
		field := s.Name() + "-" + itoa(n)
		m.warn(s, field, code, "%s %q is not a date", field, v)
	}
	return d
}

// fieldPeriod is period for fields start and end of s, warning as
// checkedDateTime does.
func (m *mapper) fieldPeriod(s hl7v2.Segment, start, end int) *fhir.Period {
	p := &fhir.Period{Start: opt(m.fieldDateTime(s, start)), End: opt(m.fieldDateTime(s, end))}
	if p.Start == nil && p.End == nil {
		return nil
	}
	return p
}

func (m *mapper) period(start, end string) *fhir.Period {
	p := &fhir.Period{Start: opt(m.dateTime(start)), End: opt(m.dateTime(end))}
	if p.Start == nil && p.End == nil {
		return nil
	}
	return p
}

// containsHan reports whether s has Chinese characters.
func containsHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

var nameUse = map[string]fhir.NameUse{
	"L": fhir.NameUseOfficial, "D": fhir.NameUseUsual, "A": fhir.NameUseNickname, "N": fhir.NameUseNickname,
	"M": fhir.NameUseMaiden, "B": fhir.NameUseOfficial, "C": fhir.NameUseOld, "P": fhir.NameUseOfficial,
	"R": fhir.NameUseOfficial, "S": fhir.NameUseAnonymous, "T": fhir.NameUseTemp, "U": fhir.NameUseUsual,
	"I": fhir.NameUseOfficial, "K": fhir.NameUseAnonymous,
}

// xpn maps an XPN (or the name part of an XCN starting at component off+1)
// to a HumanName. A whole Chinese name in the family component is kept as
// text only: splitting it would guess (compound surnames such as 欧阳,
// minority names joined with ·).
func xpn(r hl7v2.Rep, off int) *fhir.HumanName {
	family := sub(r, off+1, 1)
	given, middle := comp(r, off+2), comp(r, off+3)
	n := &fhir.HumanName{}
	if u, ok := nameUse[strings.ToUpper(comp(r, off+7))]; ok {
		n.Use = &u
	}
	if s := comp(r, off+4); s != "" {
		n.Suffix = append(n.Suffix, s)
	}
	if s := comp(r, off+5); s != "" {
		n.Prefix = append(n.Prefix, s)
	}
	if s := comp(r, off+6); s != "" {
		n.Suffix = append(n.Suffix, s)
	}
	han := containsHan(family + given + middle)
	if han && given == "" && middle == "" {
		n.Text = opt(family)
	} else {
		n.Family = opt(family)
		for _, g := range []string{given, middle} {
			if g != "" {
				n.Given = append(n.Given, g)
			}
		}
		if han {
			n.Text = opt(family + given + middle)
		} else {
			n.Text = opt(strings.TrimSpace(strings.Join(append(append([]string{}, n.Given...), family), " ")))
		}
	}
	if n.Text == nil && n.Family == nil && len(n.Given) == 0 {
		return nil
	}
	return n
}

// addrUse maps XAD.7 to Address.use; mailing addresses (M, SH) get
// Address.type postal instead.
var addrUse = map[string]fhir.AddressUse{
	"H": fhir.AddressUseHome, "B": fhir.AddressUseWork, "C": fhir.AddressUseTemp, "O": fhir.AddressUseWork,
	"BA": fhir.AddressUseBilling, "BI": fhir.AddressUseBilling, "L": fhir.AddressUseHome, "P": fhir.AddressUseHome,
	"BR": fhir.AddressUseHome, "RH": fhir.AddressUseHome, "BDL": fhir.AddressUseOld,
}

// xad maps an XAD repetition to an Address. XAD.9 (county/parish) becomes
// the district, where Chinese senders put the 区.
func (m *mapper) xad(r hl7v2.Rep) *fhir.Address {
	a := &fhir.Address{
		City: opt(comp(r, 3)), State: opt(comp(r, 4)), PostalCode: opt(comp(r, 5)), Country: opt(comp(r, 6)),
		District: opt(comp(r, 9)),
	}
	for _, l := range []string{sub(r, 1, 1), sub(r, 1, 2), sub(r, 1, 3), comp(r, 2), comp(r, 8)} {
		if l != "" {
			a.Line = append(a.Line, l)
		}
	}
	switch typ := strings.ToUpper(comp(r, 7)); typ {
	case "M", "SH":
		a.Type = ptr(fhir.AddressTypePostal)
	default:
		if u, ok := addrUse[typ]; ok {
			a.Use = &u
		}
	}
	if p := m.period(sub(r, 12, 1), sub(r, 12, 2)); p != nil {
		a.Period = p
	} else {
		a.Period = m.period(comp(r, 13), comp(r, 14))
	}
	if len(a.Line) == 0 && a.City == nil && a.State == nil && a.PostalCode == nil && a.Country == nil && a.District == nil {
		return nil
	}
	return a
}

// telecomUse maps XTN.2 to ContactPoint.use; EMR, ASN and NET have none.
var telecomUse = map[string]fhir.ContactPointUse{
	"PRN": fhir.ContactPointUseHome, "ORN": fhir.ContactPointUseHome, "VHN": fhir.ContactPointUseHome,
	"WPN": fhir.ContactPointUseWork, "PRS": fhir.ContactPointUseMobile, "BPN": fhir.ContactPointUseWork,
}

// xtn maps an XTN repetition to a ContactPoint. The value is XTN.4 for
// e-mail, else XTN.12 (unformatted), else the number assembled from XTN.5-8,
// else the legacy XTN.1.
func xtn(r hl7v2.Rep) *fhir.ContactPoint {
	c := &fhir.ContactPoint{}
	if u, ok := telecomUse[strings.ToUpper(comp(r, 2))]; ok {
		c.Use = &u
	}
	switch strings.ToUpper(comp(r, 3)) {
	case "PH", "CP", "SAT":
		c.System = ptr(fhir.ContactPointSystemPhone)
	case "FX":
		c.System = ptr(fhir.ContactPointSystemFax)
	case "BP":
		c.System = ptr(fhir.ContactPointSystemPager)
	case "INTERNET", "X.400", "NET":
		c.System = ptr(fhir.ContactPointSystemEmail)
	case "":
	default:
		c.System = ptr(fhir.ContactPointSystemOther)
	}
	if strings.EqualFold(comp(r, 3), "CP") {
		c.Use = ptr(fhir.ContactPointUseMobile)
	}
	var v string
	switch {
	case c.System != nil && *c.System == fhir.ContactPointSystemEmail && comp(r, 4) != "":
		v = comp(r, 4)
	case comp(r, 12) != "":
		v = comp(r, 12)
	case comp(r, 7) != "":
		var b strings.Builder
		if cc := comp(r, 5); cc != "" {
			b.WriteString("+" + cc + " ")
		}
		if ac := comp(r, 6); ac != "" {
			b.WriteString(ac + " ")
		}
		b.WriteString(comp(r, 7))
		if ext := comp(r, 8); ext != "" {
			b.WriteString(" ext. " + ext)
		}
		v = b.String()
	default:
		v = comp(r, 1)
	}
	if v == "" {
		return nil
	}
	c.Value = &v
	return c
}

// number parses a decimal as FHIR wants it, keeping the sender's digits.
func number(s string) (json.Number, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	if strings.HasPrefix(s, ".") {
		s = "0" + s
	} else if strings.HasPrefix(s, "-.") {
		s = "-0" + s[1:]
	}
	if strings.HasSuffix(s, ".") {
		s = s[:len(s)-1]
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil || strings.ContainsAny(s, "eEinfINFxX_") {
		return "", false
	}
	// JSON forbids leading zeros ("007").
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	for len(digits) > 1 && digits[0] == '0' && digits[1] != '.' {
		digits = digits[1:]
	}
	if neg {
		digits = "-" + digits
	}
	return json.Number(digits), true
}

// ucumUnits are unit strings that are valid UCUM as sent, and aliases seen
// from devices and Chinese systems with the UCUM code they mean.
var ucumUnits = map[string]string{
	"mm[Hg]": "mm[Hg]", "mmHg": "mm[Hg]", "mmhg": "mm[Hg]",
	"mmol/L": "mmol/L", "mmol/l": "mmol/L", "umol/L": "umol/L", "μmol/L": "umol/L",
	"mg/dL": "mg/dL", "mg/dl": "mg/dL", "g/L": "g/L", "g/l": "g/L", "g/dL": "g/dL",
	"%": "%", "kg": "kg", "g": "g", "cm": "cm", "m": "m", "kg/m2": "kg/m2", "kg/m²": "kg/m2",
	"/min": "/min", "bpm": "/min", "beats/min": "/min", "次/分": "/min", "{beats}/min": "{beats}/min",
	"Cel": "Cel", "℃": "Cel", "°C": "Cel", "U/L": "U/L", "IU/L": "[IU]/L", "fL": "fL", "pg": "pg",
	"10*9/L": "10*9/L", "10*12/L": "10*12/L", "10*3/uL": "10*3/uL", "10*6/uL": "10*6/uL",
	"mL": "mL", "L": "L", "s": "s", "h": "h", "d": "d", "mg": "mg", "ug": "ug",
}

// unit maps OBX-6 (or any CWE unit) to the unit members of a Quantity: the
// UCUM code when the sender says UCUM or the unit is a known UCUM unit.
func (m *mapper) unit(q *fhir.Quantity, r hl7v2.Rep) {
	code, text, sys := comp(r, 1), comp(r, 2), comp(r, 3)
	if code == "" && text == "" {
		return
	}
	q.Unit = opt(text)
	if q.Unit == nil {
		q.Unit = opt(code)
	}
	switch {
	case strings.EqualFold(sys, "UCUM") || strings.EqualFold(sys, "ANS+"):
		q.System, q.Code = ptr("http://unitsofmeasure.org"), opt(code)
	case sys == "":
		if u, ok := ucumUnits[code]; ok {
			q.System, q.Code = ptr("http://unitsofmeasure.org"), &u
		}
	default:
		q.System, q.Code = opt(m.codeSystem(sys)), opt(code)
	}
}

// quantity builds a Quantity from a decimal and a unit repetition.
func (m *mapper) quantity(v string, unit hl7v2.Rep) (*fhir.Quantity, error) {
	n, ok := number(v)
	if !ok {
		return nil, fmt.Errorf("not a number: %q", v)
	}
	q := &fhir.Quantity{Value: &n}
	m.unit(q, unit)
	return q, nil
}
