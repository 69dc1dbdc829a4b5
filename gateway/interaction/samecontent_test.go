package interaction

import (
	"testing"

	"github.com/shch/fhirgw/gateway/fhirjson"
)

func TestSameContent(t *testing.T) {
	stored := `{"resourceType":"Patient","id":"p","meta":{"versionId":"3","lastUpdated":"2026-11-23T08:00:00Z"},"name":[{"text":"张三"}],"birthDate":"1980-01-01"}`
	for _, tc := range []struct {
		name, incoming string
		same           bool
	}{
		{"as stored, without server meta", `{"resourceType":"Patient","id":"p","name":[{"text":"张三"}],"birthDate":"1980-01-01"}`, true},
		{"other member order and spacing", `{"resourceType":"Patient", "birthDate":"1980-01-01","id":"p","name":[{"text":"张三"}]}`, true},
		{"other server meta", `{"resourceType":"Patient","id":"p","meta":{"versionId":"9"},"name":[{"text":"张三"}],"birthDate":"1980-01-01"}`, true},
		{"changed value", `{"resourceType":"Patient","id":"p","name":[{"text":"张三"}],"birthDate":"1980-01-02"}`, false},
		{"added element", `{"resourceType":"Patient","id":"p","name":[{"text":"张三"}],"birthDate":"1980-01-01","gender":"male"}`, false},
		{"client meta", `{"resourceType":"Patient","id":"p","meta":{"tag":[{"code":"x"}]},"name":[{"text":"张三"}],"birthDate":"1980-01-01"}`, false},
	} {
		obj, err := fhirjson.ParseObject([]byte(tc.incoming))
		if err != nil {
			t.Fatal(err)
		}
		if got := sameContent([]byte(stored), obj); got != tc.same {
			t.Errorf("%s: sameContent = %v, want %v", tc.name, got, tc.same)
		}
	}
}
