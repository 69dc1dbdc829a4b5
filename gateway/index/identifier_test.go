package index

import (
	"context"
	"testing"

	"github.com/shch/fhirgw/gateway/searchparam"
)

func TestIdentifiers(t *testing.T) {
	ix := NewIdentifiers(searchparam.Official(), []string{"Patient", "Bundle", "Observation", "Binary"})
	if got := ix.Params("Binary"); got != nil {
		t.Errorf("Binary has no identifier parameter, got %v", got)
	}
	if got := ix.Params("Patient"); len(got) != 1 || got[0].URL != "http://hl7.org/fhir/SearchParameter/Patient-identifier" {
		t.Errorf("Patient identifier parameter = %v", got)
	}
	tests := []struct {
		typ, body string
		want      [][2]string
	}{
		{"Patient", `{"resourceType":"Patient","identifier":[{"system":"urn:oid:2.16.156.10011.1.3","value":"11010519491231002X"},{"value":"MRN1"}]}`,
			[][2]string{{"urn:oid:2.16.156.10011.1.3", "11010519491231002X"}, {"", "MRN1"}}},
		{"Bundle", `{"resourceType":"Bundle","identifier":{"system":"urn:ietf:rfc:3986","value":"urn:uuid:1"}}`,
			[][2]string{{"urn:ietf:rfc:3986", "urn:uuid:1"}}},
		{"Patient", `{"resourceType":"Patient"}`, nil},
	}
	for _, tt := range tests {
		x, err := ix.Index(context.Background(), tt.typ, []byte(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		if len(x.Tokens) != len(tt.want) {
			t.Fatalf("%s: got %d tokens %v, want %v", tt.body, len(x.Tokens), x.Tokens, tt.want)
		}
		for i, w := range tt.want {
			if x.Tokens[i].Param != "identifier" || x.Tokens[i].System != w[0] || x.Tokens[i].Code != w[1] {
				t.Errorf("%s: token %d = %+v, want %v", tt.typ, i, x.Tokens[i], w)
			}
		}
	}
}
