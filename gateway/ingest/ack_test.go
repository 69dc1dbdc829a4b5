package ingest

import (
	"io"
	"log/slog"
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
