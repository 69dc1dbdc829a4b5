package ingest

import (
	"strings"
	"testing"

	"github.com/shch/fhirgw/gateway/store"
)

// TestSupersede: once a fixed copy of a failed message (same sender and control id)
// is applied, the failed copies, error and rejected, say so in their reason and leave
// the error queue; another sender's message with that control id stays in it.
func TestSupersede(t *testing.T) {
	good := hospitalADT("A04", "S1", "20240301093000", "")
	noID := strings.Replace(good, "MRN0012345^^^SQ-CHC-01^MR", "", 1) // AE: no patient identifier
	oldVersion := strings.Replace(good, "|P|2.4", "|P|2.1", 1)        // AR
	otherSender := strings.Replace(noID, "|HIS|SQ-CHC-01|", "|HIS|SQ-CHC-02|", 1)
	otherType := strings.Replace(noID, "ADT^A04^ADT_A01", "ADT^A08^ADT_A01", 1) // the sender's counter restarted
	no := false
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{})
			var failed []store.Message
			for _, raw := range []string{noID, oldVersion, otherSender, otherType} {
				out := e.process(raw)
				if out.AppCode == "AA" {
					t.Fatalf("broken message applied: %+v", out)
				}
				failed = append(failed, e.message(out.MessageID))
			}
			out := e.process(good)
			if out.AppCode != "AA" {
				t.Fatalf("fixed message: %+v", out)
			}
			for i, want := range []bool{true, true, false, false} {
				m := e.message(failed[i].ID)
				prefix := store.SupersededPrefix + out.MessageID + ": "
				if m.Status != failed[i].Status || strings.HasPrefix(m.Reason, prefix) != want ||
					want && m.Reason != prefix+failed[i].Reason || !want && m.Reason != failed[i].Reason {
					t.Errorf("message %d (%s, sender %s): status %q reason %q, superseded %v", i, failed[i].Status, m.Sender, m.Status, m.Reason, want)
				}
			}
			// The error queue without solved items: the other sender's and the other
			// type's messages only, newest first.
			page, err := e.st.ListMessages(e.ctx, store.MessageQuery{Status: store.MessageError, Superseded: &no})
			if err != nil || len(page.Messages) != 2 || page.Messages[0].ID != failed[3].ID || page.Messages[1].ID != failed[2].ID {
				t.Errorf("error queue %v, %v; want %s, %s", msgIDs(page.Messages), err, failed[3].ID, failed[2].ID)
			}
			// A superseded message is not replayed: its row stays as it is.
			before := e.message(failed[0].ID)
			r, err := e.p.Replay(e.ctx, failed[0].ID)
			if err != nil || r.AppCode != "AE" || !strings.Contains(r.Reason, "superseded by message "+out.MessageID) {
				t.Errorf("replay of a superseded message = %+v, %v", r, err)
			}
			if m := e.message(failed[0].ID); m.Attempts != before.Attempts || m.Reason != before.Reason {
				t.Errorf("replay changed the superseded row: attempts %d reason %q", m.Attempts, m.Reason)
			}
			// A duplicate of the applied message does not touch them again.
			if out := e.process(good); out.Status != store.MessageDuplicate {
				t.Fatalf("copy: %+v", out)
			}
			if m := e.message(failed[0].ID); strings.Count(m.Reason, store.SupersededPrefix) != 1 {
				t.Errorf("reason after a duplicate: %q", m.Reason)
			}
		})
	}
}

// TestBirthDateWarning: an unreadable PID-7 is applied without a birth date, and
// the ACK says so with an ERR of severity W.
func TestBirthDateWarning(t *testing.T) {
	e := newEnv(t, "sqlite", Config{})
	out := e.process(strings.Replace(hospitalADT("A04", "B1", "20240301093000", ""), "|19491231|", "|19491399|", 1))
	ack := e.ack(out.ACK, "AA")
	if ack.Get("ERR-4") != "W" || ack.Get("ERR-5") != "BIRTHDATE_INVALID" || rawField(ack, "ERR", 2) != "PID^1^7" {
		t.Errorf("ACK %q", out.ACK)
	}
	m := e.message(out.MessageID)
	if !strings.Contains(m.Reason, "BIRTHDATE_INVALID at PID-7") {
		t.Errorf("stored reason %q", m.Reason)
	}
	if p := e.read("Patient", produced(m, "Patient")[0]); strings.Contains(string(p.Body), "birthDate") {
		t.Errorf("Patient %s", p.Body)
	}
}

func msgIDs(ms []store.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}
