package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/adapters/mllp"
)

// TestMLLPOversize sends the gateway binary a message over --mllp-max-bytes: it is
// answered AR with its control id, recorded as rejected with the bytes kept, and the
// next message on the same connection is processed as usual.
func TestMLLPOversize(t *testing.T) {
	bin := buildGateway(t)
	const max = 2000
	gw := startGateway(t, bin, []string{"--data-dir", t.TempDir(), "--mllp-max-bytes", "2000"},
		filepath.Join(t.TempDir(), "gateway.log"))

	adt := func(id string) string {
		return "MSH|^~\\&|HIS|H1|FHIRGW|SHCH|20240301093000||ADT^A04^ADT_A01|" + id + "|P|2.5\r" +
			"EVN|A04|20240301093000\rPID|1||MRN-" + id + "^^^H1^MR||Test^Patient||19800101|M\r"
	}
	big := adt("BIG1") + strings.Repeat("NTE|1||"+strings.Repeat("x", 200)+"\r", 100)
	nc, err := net.Dial("tcp", gw.mllpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	w, r := mllp.NewWriter(nc), mllp.NewReader(nc, 0)
	for _, m := range []struct{ msg, code, id string }{{big, "AR", "BIG1"}, {adt("OK1"), "AA", "OK1"}} {
		if err := w.WriteMessage([]byte(m.msg)); err != nil {
			t.Fatal(err)
		}
		raw, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("%s: %v", m.id, err)
		}
		ack, err := hl7v2.Parse(raw)
		if err != nil || ack.Get("MSA-1") != m.code || ack.Get("MSA-2") != m.id {
			t.Fatalf("%s: ACK %q, %v; want %s", m.id, raw, err, m.code)
		}
	}

	resp, err := http.Get("http://" + gw.httpAddr + "/hl7v2/messages?status=rejected")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Messages []struct{ ID, ControlID, Reason string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || len(list.Messages) != 1 || list.Messages[0].ControlID != "BIG1" {
		t.Fatalf("rejected messages %+v, %v", list, err)
	}
	resp, err = http.Get("http://" + gw.httpAddr + "/hl7v2/messages/" + list.Messages[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct{ Raw []byte }
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || !bytes.Equal(m.Raw, []byte(big[:max])) {
		t.Fatalf("stored %d raw bytes (%v), want the first %d", len(m.Raw), err, max)
	}
}
