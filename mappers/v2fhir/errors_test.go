package v2fhir

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestWarningSequence checks that a warning names the occurrence of its segment
// among those with the same ID (ERR-2.2), not the first one or the position in
// an order group.
func TestWarningSequence(t *testing.T) {
	const oruHead = "MSH|^~\\&|KIOSK|HUT-0042|FHIRGW|SHCH|20240302081500+0800||ORU^R01^ORU_R01|K0042-77|P|2.5.1\r" +
		"PID|1||310101199001011234^^^身份证^NNCHN||李四||19900101|1\r" +
		"OBR|1||K0042-77-1|85354-9^Blood pressure panel^LN|||20240302081200+0800||||||||||||||||||F\r"
	const (
		sys  = "OBX|1|NM|8480-6^Systolic blood pressure^LN||132|mm[Hg]^mm[Hg]^UCUM|90-139|N|||F\r"
		dia  = "OBX|2|NM|8462-4^Diastolic blood pressure^LN||85|mmHg|60-89|N|||F\r"
		glu  = "OBX|3|NM|14743-9^Glucose capillary^LN||6.1|mmol/L^^UCUM|3.9-6.1||||F\r"
		pr1  = "PR1|1||93000^心电图^C4|||20240301\r"
		adt  = "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|20240301093000||ADT^A08|M1|P|2.4\rEVN|A08|20240301\rPID|1||MRN1^^^H^MR||张三||19491231|1\rPV1|1|O\r"
		vxu  = "MSH|^~\\&|IIS|F|||20240101||VXU^V04|1|P|2.5.1\rPID|1||M1^^^H^MR\r"
		a40  = "MSH|^~\\&|HIS|SQ-CHC-01|||20240305||ADT^A40|E1|P|2.5\rEVN|A40|20240305\r"
		rxaA = "RXA|0|1|20240101||08^HepB^CVX|0.5|mL\r"
	)
	tests := []struct {
		name string
		msg  string
		want []Warning // Text is not compared
	}{
		{
			name: "third OBX value not a number",
			msg:  oruHead + sys + dia + strings.Replace(glu, "|6.1|", "|six|", 1),
			want: []Warning{{Segment: "OBX", Sequence: 3, Field: "OBX-5", Code: "OBX_VALUE"}},
		},
		{
			name: "second repetition of the third OBX-5",
			msg:  oruHead + sys + dia + strings.Replace(glu, "|6.1|", "|6.1~x|", 1),
			want: []Warning{{Segment: "OBX", Sequence: 3, Field: "OBX-5[2]", Code: "OBX_VALUE"}},
		},
		{
			name: "second OBX of an unmapped type",
			msg:  oruHead + sys + strings.Replace(dia, "|NM|", "|ED|", 1) + glu,
			want: []Warning{{Segment: "OBX", Sequence: 2, Field: "OBX-2", Code: "OBX_TYPE"}},
		},
		{
			// The bad OBX is the first of the second order group, the third in the message.
			name: "OBX of the second order",
			msg: oruHead + sys + dia + "OBR|2||K0042-77-2|14743-9^Glucose^LN|||20240302081300+0800||||||||||||||||||F\r" +
				strings.Replace(glu, "|6.1|", "|six|", 1),
			want: []Warning{{Segment: "OBX", Sequence: 3, Field: "OBX-5", Code: "OBX_VALUE"}},
		},
		{
			name: "OBX without a code",
			msg:  oruHead + sys + dia + "OBX|3|NM|||6.1|mmol/L\r",
			want: []Warning{{Segment: "OBX", Sequence: 3, Field: "OBX-3", Code: "OBX_NO_CODE"}},
		},
		{
			name: "second PR1 without a code",
			msg:  adt + pr1 + "PR1|2||||||20240301\r",
			want: []Warning{{Segment: "PR1", Sequence: 2, Field: "PR1-3", Code: "PR1_NO_CODE"}},
		},
		{
			name: "second RXA with a bad time and status",
			msg:  vxu + rxaA + "RXA|0|1|yesterday||08^HepB^CVX|||||||||||||||ZZ\r",
			want: []Warning{
				{Segment: "RXA", Sequence: 2, Field: "RXA-3", Code: "DATETIME_INVALID"},
				{Segment: "RXA", Sequence: 2, Field: "RXA-20", Code: "STATUS_UNMAPPED"},
			},
		},
		{
			name: "ID card of the second PID of a merge",
			msg: a40 + "PID|1||M1^^^H^MR\rMRG|M2^^^H^MR\r" +
				"PID|2||M3^^^H^MR~310101199001011235^^^身份证^NNCHN||王五||19900101|1\rMRG|M4^^^H^MR\r",
			want: []Warning{{Segment: "PID", Sequence: 2, Field: "PID-3[2]", Code: "IDCARD_CHECK"}},
		},
		{
			name: "ERR segment's location kept",
			msg:  oruHead + sys + "ERR||OBX^1^5^2|102^Data type error^HL70357|W\r",
			want: []Warning{{Segment: "OBX", Sequence: 1, Field: "OBX-5[2]", Code: "102"}},
		},
		{
			name: "v2.3 ERR-1 (ELD) location",
			msg:  strings.Replace(oruHead, "|2.5.1\r", "|2.3\r", 1) + sys + dia + "ERR|OBX^2^5^102&Data type error\r",
			want: []Warning{{Segment: "OBX", Sequence: 2, Field: "OBX-5", Code: "102"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustMap(t, parse(t, tt.msg), Config{})
			got := make([]Warning, len(r.Warnings))
			for i, w := range r.Warnings {
				w.Text = ""
				got[i] = w
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("warnings %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestMapErrorLocation checks that every failure the message causes says where,
// for the ACK's ERR-2, and with which table 0357 condition.
func TestMapErrorLocation(t *testing.T) {
	const (
		adt = "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|20240301093000||ADT^A04|M1|P|2.4\rEVN|A04|20240301\r"
		oru = "MSH|^~\\&|LIS|F|||20240101||ORU^R01|1|P|2.5.1\r"
		a40 = "MSH|^~\\&|HIS|SQ-CHC-01|||20240305||ADT^A40|E1|P|2.5\rEVN|A40|20240305\r"
		siu = "MSH|^~\\&|HIS|F|||20240101||SIU^S12|1|P|2.5.1\r"
		vxu = "MSH|^~\\&|IIS|F|||20240101||VXU^V04|1|P|2.5.1\rPID|1||M1^^^H^MR\r"
		orm = "MSH|^~\\&|A|F|||20240101||ORM^O01|1|P|2.4\rPID|1||M1^^^H\r"
		pid = "PID|1||M1^^^H^MR\r"
	)
	ref := string(readReferral(t, "ref-i12.hl7"))
	var refRF1 string
	for _, s := range strings.Split(ref, "\r") {
		if strings.HasPrefix(s, "RF1|") {
			refRF1 = s
		}
	}
	rf1 := strings.Split(refRF1, "|")
	rf1[6], rf1[11] = "", ""
	tests := []struct {
		name string
		msg  string
		want MapError // Reason is checked to be in the error text
	}{
		{"no PID", adt + "PV1|1|O\r", MapError{Segment: "PID", Sequence: 1, Code: 100, Reason: "no PID segment"}},
		{"PID without identifier", adt + "PID|1||||张三\r", MapError{Segment: "PID", Sequence: 1, Field: 3, Code: 101, Reason: "PID has no patient identifier"}},
		{"no OBR", oru + pid, MapError{Segment: "OBR", Sequence: 1, Code: 100, Reason: "no OBR segment"}},
		{"no ORC or OBR", orm, MapError{Segment: "ORC", Sequence: 1, Code: 100, Reason: "no ORC or OBR segment"}},
		{"no SCH", siu + pid, MapError{Segment: "SCH", Sequence: 1, Code: 100, Reason: "no SCH segment"}},
		{"SCH without ids", siu + "SCH||||||||||\r" + pid, MapError{Segment: "SCH", Sequence: 1, Field: 2, Code: 101, Reason: "SCH-1 and SCH-2"}},
		{"no RXA", vxu, MapError{Segment: "RXA", Sequence: 1, Code: 100, Reason: "no RXA segment"}},
		{"no RF1", strings.Replace(ref, refRF1+"\r", "", 1), MapError{Segment: "RF1", Sequence: 1, Code: 100, Reason: "no RF1 segment"}},
		{"RF1 without ids", strings.Replace(ref, refRF1, strings.Join(rf1, "|"), 1), MapError{Segment: "RF1", Sequence: 1, Field: 6, Code: 101, Reason: "RF1 has no referral identifier"}},
		{"merge: nothing", a40, MapError{Segment: "PID", Sequence: 1, Code: 100, Reason: "no PID and MRG"}},
		{"merge: MRG first", a40 + "MRG|M2^^^H^MR\r" + pid, MapError{Segment: "MRG", Sequence: 1, Code: 100, Reason: "no PID before it"}},
		{"merge: second PID without MRG", a40 + pid + "MRG|M2^^^H^MR\rPID|2||M3^^^H^MR\r", MapError{Segment: "MRG", Sequence: 2, Code: 100, Reason: "PID without MRG"}},
		{"merge: two PIDs", a40 + pid + "PID|2||M3^^^H^MR\rMRG|M2^^^H^MR\r", MapError{Segment: "MRG", Sequence: 1, Code: 100, Reason: "PID without MRG"}},
		{"merge: second PID without identifier", a40 + pid + "MRG|M2^^^H^MR\rPID|2||||X\rMRG|M4^^^H^MR\r", MapError{Segment: "PID", Sequence: 2, Field: 3, Code: 101, Reason: "no patient identifier"}},
		{"merge: second MRG empty", a40 + pid + "MRG|M2^^^H^MR\rPID|2||M3^^^H^MR\rMRG|||||||SMITH\r", MapError{Segment: "MRG", Sequence: 2, Field: 1, Code: 101, Reason: "no prior patient identifier"}},
		{"merge: same patient", a40 + pid + "MRG|M1^^^H^MR\r", MapError{Segment: "MRG", Sequence: 1, Field: 1, Code: 207, Reason: "names the patient of its PID"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Map(parse(t, tt.msg), Config{})
			var me *MapError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want a MapError", err)
			}
			got := *me
			got.Reason = ""
			want := tt.want
			want.Reason = ""
			if got != want {
				t.Errorf("MapError %+v, want %+v", got, want)
			}
			if !strings.Contains(err.Error(), tt.want.Reason) {
				t.Errorf("err = %v, want %q in it", err, tt.want.Reason)
			}
		})
	}
}

func TestUnsupportedIsNotLocated(t *testing.T) {
	_, err := Map(parse(t, "MSH|^~\\&|A|F|||20240101||MDM^T02|1|P|2.5\rPID|1||M1\r"), Config{})
	var me *MapError
	if !errors.Is(err, ErrUnsupported) || errors.As(err, &me) {
		t.Errorf("err = %v (%T)", err, err)
	}
}
