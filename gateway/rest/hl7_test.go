package rest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/shch/fhirgw/adapters/hl7v2"
	"github.com/shch/fhirgw/conformance/fhirtest"
)

func corpusMessage(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/hl7v2/messages/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r"))
}

func ack(t *testing.T, body []byte) (code, controlID string) {
	t.Helper()
	m, err := hl7v2.Parse(body)
	if err != nil {
		t.Fatalf("answer is not an HL7 v2 message: %v\n%q", err, body)
	}
	if typ, _, _ := m.Type(); typ != "ACK" {
		t.Fatalf("answer is a %s, not an ACK", typ)
	}
	return m.Get("MSA-1"), m.Get("MSA-2")
}

type listing struct {
	Messages []map[string]any `json:"messages"`
	Next     string           `json:"next"`
}

func TestHL7Endpoints(t *testing.T) {
	for _, kind := range fhirtest.Stores {
		t.Run(kind, func(t *testing.T) {
			s := fhirtest.Start(t, kind)
			post := func(body []byte, ct string) *fhirtest.Response {
				return s.Do(http.MethodPost, s.Root+"/hl7v2", body, "Content-Type", ct)
			}
			adt := corpusMessage(t, "ADT-A01-01.hl7")
			r := post(adt, "x-application/hl7-v2+er7")
			if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "x-application/hl7-v2+er7") {
				t.Fatalf("POST /hl7v2: %d %s\n%s", r.Status, r.Header.Get("Content-Type"), r.Body)
			}
			if code, id := ack(t, r.Body); code != "AA" || id != "MSG00001" {
				t.Fatalf("ACK %s %s", code, id)
			}
			loc := r.Header.Get("Content-Location")
			if !strings.HasPrefix(loc, "/hl7v2/messages/") {
				t.Fatalf("Content-Location %q", loc)
			}

			// The same message again is a duplicate, still acknowledged.
			if code, _ := ack(t, post(adt, "text/plain").Body); code != "AA" {
				t.Fatalf("duplicate acknowledged %s", code)
			}
			oru := corpusMessage(t, "ORU-R01-01.hl7")
			post(oru, "text/plain")

			// A GB18030 message without MSH-18: the charset parameter says how to read it.
			text := "MSH|^~\\&|HIS|SHCH001|GW|SHCH|20240501083000+0800||ADT^A04^ADT_A01|GB001|P|2.5\r" +
				"EVN|A04|20240501083000+0800\rPID|1||M7001^^^SHCH^MR||王小明||19800101|M\r"
			gb, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			r = post(gb, "x-application/hl7-v2+er7; charset=GB18030")
			if code, id := ack(t, r.Body); code != "AA" || id != "GB001" {
				t.Fatalf("GB18030 message: ACK %s %s\n%s", code, id, r.Body)
			}
			found := s.Must(http.StatusOK, http.MethodGet, "/Patient?name="+url.QueryEscape("王小明"), nil).JSON(t)
			if n, _ := found["total"].(float64); n != 1 {
				if entries, _ := found["entry"].([]any); len(entries) != 1 {
					t.Fatalf("Patient 王小明 not found once after the GB18030 message: %v", found)
				}
			}

			// Listing: newest first, paged, no content.
			var page listing
			r = s.Do(http.MethodGet, s.Root+"/hl7v2/messages?_count=2", nil)
			if r.Status != http.StatusOK {
				t.Fatalf("list: %d %s", r.Status, r.Body)
			}
			if err := json.Unmarshal(r.Body, &page); err != nil {
				t.Fatal(err)
			}
			if len(page.Messages) != 2 || page.Next == "" {
				t.Fatalf("first page: %d messages, next %q", len(page.Messages), page.Next)
			}
			if page.Messages[0]["controlId"] != "GB001" || page.Messages[0]["type"] != "ADT^A04" || page.Messages[0]["channel"] != "http" {
				t.Fatalf("newest message %v", page.Messages[0])
			}
			for _, m := range page.Messages {
				if _, ok := m["raw"]; ok {
					t.Fatal("listing carries message content")
				}
			}
			seen := len(page.Messages)
			for page.Next != "" {
				r = s.Do(http.MethodGet, s.Root+page.Next, nil)
				page = listing{}
				if err := json.Unmarshal(r.Body, &page); err != nil {
					t.Fatalf("%s: %v", r.Body, err)
				}
				seen += len(page.Messages)
			}
			if seen != 4 {
				t.Fatalf("listed %d messages over the pages, want 4", seen)
			}
			r = s.Do(http.MethodGet, s.Root+"/hl7v2/messages?status=duplicate", nil)
			page = listing{}
			json.Unmarshal(r.Body, &page)
			if len(page.Messages) != 1 || page.Messages[0]["controlId"] != "MSG00001" {
				t.Fatalf("status=duplicate: %s", r.Body)
			}
			r = s.Do(http.MethodGet, s.Root+"/hl7v2/messages?superseded=false&status=duplicate", nil)
			page = listing{}
			json.Unmarshal(r.Body, &page)
			if len(page.Messages) != 1 {
				t.Fatalf("superseded=false: %s", r.Body)
			}
			// Every copy of one message: the original and its duplicate.
			r = s.Do(http.MethodGet, s.Root+"/hl7v2/messages?controlId=MSG00001", nil)
			page = listing{}
			json.Unmarshal(r.Body, &page)
			if len(page.Messages) != 2 || page.Messages[0]["status"] != "duplicate" || page.Messages[1]["status"] != "applied" {
				t.Fatalf("controlId=MSG00001: %s", r.Body)
			}

			// One message, with its exact bytes and its text.
			var detail struct {
				ID, Text, Status string
				Raw              []byte
				Attempts         int
				Resources        []string
			}
			r = s.Do(http.MethodGet, s.Root+loc, nil)
			if err := json.Unmarshal(r.Body, &detail); err != nil {
				t.Fatalf("%d %s: %v", r.Status, r.Body, err)
			}
			if !bytes.Equal(detail.Raw, adt) || detail.Text != string(adt) || detail.Status != "applied" || len(detail.Resources) == 0 || detail.Attempts != 1 {
				t.Fatalf("message detail: status %s, %d resources, attempts %d, raw equal %v", detail.Status, len(detail.Resources), detail.Attempts, bytes.Equal(detail.Raw, adt))
			}

			// Replay: a new outcome on the same message, one more attempt.
			r = s.Do(http.MethodPost, s.Root+loc+"/$replay", nil)
			var out struct{ MessageID, Code, ACK string }
			if err := json.Unmarshal(r.Body, &out); err != nil || r.Status != http.StatusOK {
				t.Fatalf("replay: %d %s", r.Status, r.Body)
			}
			if "/hl7v2/messages/"+out.MessageID != loc || out.Code != "AA" {
				t.Fatalf("replay outcome %+v", out)
			}
			if code, _ := ack(t, []byte(out.ACK)); code != "AA" {
				t.Fatalf("replay ACK %s", code)
			}
			r = s.Do(http.MethodGet, s.Root+loc, nil)
			json.Unmarshal(r.Body, &detail)
			if detail.Attempts != 2 {
				t.Fatalf("attempts after a replay: %d", detail.Attempts)
			}

			// Errors are OperationOutcomes.
			for _, tc := range []struct {
				method, path, ct string
				body             []byte
				want             int
			}{
				{http.MethodPost, "/hl7v2", "application/json", adt, http.StatusUnsupportedMediaType},
				{http.MethodPost, "/hl7v2", "text/plain; charset=EBCDIC", adt, http.StatusUnsupportedMediaType},
				{http.MethodPost, "/hl7v2", "text/plain", []byte("\r\n"), http.StatusBadRequest},
				{http.MethodGet, "/hl7v2/messages?status=lost", "", nil, http.StatusBadRequest},
				{http.MethodGet, "/hl7v2/messages?sendr=x", "", nil, http.StatusBadRequest},
				{http.MethodGet, "/hl7v2/messages?since=yesterday", "", nil, http.StatusBadRequest},
				{http.MethodGet, "/hl7v2/messages?_count=0", "", nil, http.StatusBadRequest},
				{http.MethodGet, "/hl7v2/messages?superseded=maybe", "", nil, http.StatusBadRequest},
				{http.MethodGet, "/hl7v2/messages/00000000-0000-0000-0000-000000000000", "", nil, http.StatusNotFound},
				{http.MethodPost, "/hl7v2/messages/00000000-0000-0000-0000-000000000000/$replay", "", nil, http.StatusNotFound},
			} {
				var hdr []string
				if tc.ct != "" {
					hdr = []string{"Content-Type", tc.ct}
				}
				r := s.Do(tc.method, s.Root+tc.path, tc.body, hdr...)
				if r.Status != tc.want || r.JSON(t)["resourceType"] != "OperationOutcome" {
					t.Errorf("%s %s (%s): %d %s, want %d OperationOutcome", tc.method, tc.path, tc.ct, r.Status, r.Body, tc.want)
				}
			}
		})
	}
}
