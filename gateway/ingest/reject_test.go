package ingest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shch/fhirgw/gateway/store"
)

// TestRejectOversize: a message cut to the transport's limit is stored rejected with
// the bytes kept, never applied even when they parse, and answered AR (CR in enhanced
// mode) with MSA-2 from its MSH when that survived.
func TestRejectOversize(t *testing.T) {
	full := hospitalADT("A04", "BIG1", "20240301093000", "") + strings.Repeat("NTE|1||"+strings.Repeat("备注", 50)+"\r", 100)
	enhanced := strings.Replace(full, "|P|2.4\r", "|P|2.4|||AL|AL\r", 1)
	pid := strings.Index(full, "PID|")
	tests := []struct {
		name    string
		raw     string
		keep    int
		code    string // MSA-1
		control string // MSA-2
		sender  string
		typ     string
	}{
		{"cut after the PID", full, pid + 40, "AR", "BIG1", "HIS^SQ-CHC-01", "ADT^A04"},
		{"cut in the NTEs", full, len(full) / 2, "AR", "BIG1", "HIS^SQ-CHC-01", "ADT^A04"},
		{"cut in the MSH before MSH-10", full, 40, "AR", "", "HIS^SQ-CHC-01", ""},
		{"enhanced mode", enhanced, len(full) / 2, "CR", "BIG1", "HIS^SQ-CHC-01", "ADT^A04"},
		{"no MSH", strings.Repeat("not HL7 ", 100), 100, "AR", "", "", ""},
	}
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			for _, tc := range tests {
				prefix := tc.raw[:tc.keep]
				out := e.p.RejectOversize(e.ctx, Inbound{Channel: "test", Raw: []byte(prefix), Remote: "127.0.0.1:1"}, int64(len(tc.raw)))
				reason := fmt.Sprintf("message of %d bytes exceeds the limit of %d bytes; the first %d bytes are kept", len(tc.raw), tc.keep, tc.keep)
				if out.Code != tc.code || out.Status != store.MessageRejected || out.Reason != reason || out.SkipACK || out.AppACK != nil {
					t.Errorf("%s: outcome %s %q %q skip %v app %q", tc.name, out.Code, out.Status, out.Reason, out.SkipACK, out.AppACK)
				}
				ack := e.ack(out.ACK, tc.code)
				if got := ack.Get("MSA-2"); got != tc.control {
					t.Errorf("%s: MSA-2 = %q, want %q", tc.name, got, tc.control)
				}
				if ack.Get("ERR-3.1") != "207" || ack.Get("ERR-4") != "E" || ack.Get("ERR-8") != reason {
					t.Errorf("%s: ERR = %q", tc.name, ack.Get("ERR"))
				}
				if tc.sender != "" && (ack.Get("MSH-3") != "FHIRGW" || ack.Get("MSH-5") != "HIS") {
					t.Errorf("%s: ACK MSH-3 %q MSH-5 %q, want sender and receiver swapped", tc.name, ack.Get("MSH-3"), ack.Get("MSH-5"))
				}
				m := e.message(out.MessageID)
				if m.Status != store.MessageRejected || m.Reason != reason || string(m.Raw) != prefix || len(m.Resources) != 0 ||
					m.Sender != tc.sender || m.ControlID != tc.control || m.Type != tc.typ || m.Channel != "test" {
					t.Errorf("%s: stored %q %q sender %q control %q type %q, %d raw bytes, resources %v",
						tc.name, m.Status, m.Reason, m.Sender, m.ControlID, m.Type, len(m.Raw), m.Resources)
				}
				// What is left of a message may well parse and map (the first case
				// is a whole ADT without its NTEs): replay must not apply it.
				r, err := e.p.Replay(e.ctx, m.ID)
				if err != nil || r.AppCode != "AR" || !strings.Contains(r.Reason, "cannot be replayed") {
					t.Errorf("%s: replay = %+v, %v", tc.name, r, err)
				}
				if m2 := e.message(m.ID); m2.Attempts != m.Attempts || m2.Status != store.MessageRejected {
					t.Errorf("%s: replay changed the row: attempts %d status %q", tc.name, m2.Attempts, m2.Status)
				}
			}
			if page, err := e.st.Search(e.ctx, store.Query{Type: "Patient", Count: 10}); err != nil || len(page.Resources) != 0 {
				t.Fatalf("cut messages applied: %d Patients, %v", len(page.Resources), err)
			}
		})
	}
}
