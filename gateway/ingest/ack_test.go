package ingest

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/shch/fhirgw/adapters/hl7v2"
)

// FuzzACK feeds arbitrary bytes through parsing, header checks and acknowledgment
// (everything before the store): whatever arrives, the answer is an ACK that parses,
// with an MSA-1, and an ERR segment unless the message was accepted.
func FuzzACK(f *testing.F) {
	f.Add([]byte(hospitalADT("A04", "F1", "20240301093000", "")))
	f.Add([]byte(kioskORU("F2", cardLi)))
	f.Add([]byte("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|||AL|ER\rPID|1\r"))
	f.Add([]byte("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.1\r"))
	f.Add([]byte("MSH|^~\\&|A\xb9\xe3|B|C|D|2024||ADT^A01|1|P|2.5||||||GB18030\r"))
	f.Add([]byte("MSH^~|\\&"))
	f.Add([]byte("garbage"))
	p := New(nil, nil, Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.Fuzz(func(t *testing.T, raw []byte) {
		j := &job{in: Inbound{Raw: raw}}
		fail := p.parse(j)
		if fail == nil {
			fail = p.check(j)
		}
		var out Outcome
		p.acknowledge(j, &out, fail)
		for _, b := range [][]byte{out.ACK, out.AppACK} {
			if b == nil {
				continue
			}
			m, err := hl7v2.Parse(b)
			if err != nil {
				t.Fatalf("ACK %q does not parse: %v", b, err)
			}
			if m.Get("MSA-1") == "" {
				t.Fatalf("ACK %q without MSA-1", b)
			}
			if fail != nil && m.Get("ERR-4") != "E" {
				t.Fatalf("ACK %q of a failure without ERR", b)
			}
		}
		if out.ACK == nil {
			t.Fatal("no ACK")
		}
	})
}

// TestACKErrorLocation checks ERR-2 (segment ^ occurrence ^ field ^ repetition) of
// mapping warnings on an AA, of mapping failures on an AE and of parse errors on an
// AR: the occurrence is that of the segment among those with its ID, not always 1
// and not its position in the message.
func TestACKErrorLocation(t *testing.T) {
	oru := func(control string) string {
		return kioskORU(control, cardLi) +
			"OBX|3|NM|14743-9^Glucose capillary^LN||6.1|mmol/L^^UCUM|3.9-6.1||||F|||20240302081300+0800\r"
	}
	const a40 = "MSH|^~\\&|HIS|SQ-CHC-01|FHIRGW|SHCH|20240305||ADT^A40^ADT_A39|%s|P|2.5\rEVN|A40|20240305\r" +
		"PID|1||MRN0012345^^^SQ-CHC-01^MR\rMRG|MRN0099999^^^SQ-CHC-01^MR\rPID|2||MRN0012346^^^SQ-CHC-01^MR\r"
	tests := []struct {
		name    string
		raw     string
		msa     string
		errCode string // ERR-5.1 of a warning, or ERR-3.1 of a failure
		loc     string // ERR-2 as sent
	}{
		{"third OBX value", strings.Replace(oru("L1"), "||6.1|", "||six|", 1), "AA", "OBX_VALUE", "OBX^3^5"},
		{"third OBX second repetition", strings.Replace(oru("L7"), "||6.1|", "||6.1~x|", 1), "AA", "OBX_VALUE", "OBX^3^5^2"},
		{"second OBX type", strings.Replace(oru("L8"), "|2|NM|", "|2|ED|", 1), "AA", "OBX_TYPE", "OBX^2^2"},
		{"ID card in PID-3 repetition 2", hospitalADT("A04", "L2", "20240301093000", "~110105194912310021^^^身份证^NNCHN"), "AA", "IDCARD_CHECK", "PID^1^3^2"},
		{"no patient identifier", strings.Replace(hospitalADT("A04", "L3", "20240301093000", ""), "MRN0012345^^^SQ-CHC-01^MR", "", 1), "AE", "101", "PID^1^3"},
		{"no PID", strings.Replace(hospitalADT("A04", "L4", "20240301093000", ""), "PID|", "ZPI|", 1), "AE", "100", "PID^1"},
		{"second pair without MRG", fmt.Sprintf(a40, "L5"), "AE", "100", "MRG^2"},
		{"second MRG empty", fmt.Sprintf(a40, "L6") + "MRG|||||||SMITH\r", "AE", "101", "MRG^2^1"},
		{"no OBR", strings.Split(oru("L9"), "OBR|")[0], "AE", "100", "OBR^1"},
		// A parse error: the second MSH is the sixth segment, but the second MSH.
		{"second MSH inside the message", hospitalADT("A04", "L10", "20240301093000", "") + "OBX|1\rMSH|^~\\&|HIS\r", "AR", "100", "MSH^2"},
		{"BTS inside the message", oru("L11") + "BTS|1\r", "AR", "100", "BTS^1"},
		// An invalid segment ID has no occurrence to give.
		{"invalid segment ID", oru("L12") + "obx|4\r", "AR", "102", ""},
	}
	e := newEnv(t, "sqlite", Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ack := e.ack(e.process(tc.raw).ACK, tc.msa)
			var locs []string
			for _, s := range ack.AllSegments("ERR") {
				code := s.Field(5).Component(1).String()
				if tc.msa != "AA" {
					code = s.Field(3).Component(1).String()
				}
				if code == tc.errCode {
					locs = append(locs, string(s.Field(2).Raw()))
				}
			}
			if len(locs) != 1 || locs[0] != tc.loc {
				t.Errorf("ERR-2 of %s: %q, want [%q]; ACK %q", tc.errCode, locs, tc.loc, ack.Bytes())
			}
		})
	}
}

func TestLocation(t *testing.T) {
	tests := []struct {
		field      string
		fieldNo, r int
	}{
		{"PID-3[2]", 3, 2},
		{"OBX-5", 5, 0},
		{"OBX-5[3].1", 5, 3},
		{"PID-3.4", 3, 0},
		{"MRG-1", 1, 0},
		{"", 0, 0},
		{"PID", 0, 0},
		{"PID-x", 0, 0},
		{"PID-3[x]", 3, 0},
	}
	for _, tt := range tests {
		if f, r := location(tt.field); f != tt.fieldNo || r != tt.r {
			t.Errorf("location(%q) = %d, %d; want %d, %d", tt.field, f, r, tt.fieldNo, tt.r)
		}
	}
}
