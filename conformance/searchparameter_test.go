package conformance

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shch/fhirgw/conformance/fhirtest"
)

const teamExt = "http://shch.example/fhir/StructureDefinition/family-doctor-team"

func teamPatient(id, team string) []byte {
	return []byte(`{"resourceType":"Patient","id":"` + id + `","extension":[{"url":"` + teamExt + `","valueString":"` + team + `"}],"name":[{"text":"居民` + id + `"}]}`)
}

const teamParam = `{"resourceType":"SearchParameter","id":"family-doctor-team","url":"http://shch.example/fhir/SearchParameter/family-doctor-team",
 "name":"FamilyDoctorTeam","status":"active","description":"签约家庭医生团队","code":"family-doctor-team","base":["Patient"],"type":"string",
 "expression":"Patient.extension.where(url='` + teamExt + `').value.ofType(string)"}`

// A SearchParameter created at run time indexes new writes at once and existing
// resources in the background, with progress to watch.
func TestRuntimeSearchParameter(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *fhirtest.Server) {
		s.Must(http.StatusCreated, "PUT", "Patient/before", teamPatient("before", "张江一队"))
		// Unknown before the definition exists: ignored with a warning, 400 when strict.
		s.Must(http.StatusBadRequest, "GET", "Patient?family-doctor-team=张江", nil, "Prefer", "handling=strict")

		bad := strings.Replace(teamParam, ".value.ofType(string)", ".value.ofType(string", 1)
		bad = strings.Replace(bad, `"id":"family-doctor-team"`, `"id":"broken"`, 1)
		s.Must(http.StatusUnprocessableEntity, "PUT", "SearchParameter/broken", []byte(bad))

		s.Must(http.StatusCreated, "PUT", "SearchParameter/family-doctor-team", []byte(teamParam))
		s.Must(http.StatusCreated, "PUT", "Patient/after", teamPatient("after", "张江二队"))
		got := searchIDs(t, s, "Patient?family-doctor-team=张江")
		if !contains(got, "Patient/after") {
			t.Errorf("a write after the SearchParameter is not found by it: %v", got)
		}
		// The CapabilityStatement claims it.
		if !strings.Contains(string(s.Must(http.StatusOK, "GET", "metadata", nil).Body), `"family-doctor-team"`) {
			t.Errorf("CapabilityStatement does not list the new parameter")
		}
		// The resource written before is re-indexed in the background.
		deadline := time.Now().Add(30 * time.Second)
		for !contains(searchIDs(t, s, "Patient?family-doctor-team=张江"), "Patient/before") {
			if time.Now().After(deadline) {
				t.Fatalf("Patient/before was not re-indexed within 30s")
			}
			time.Sleep(200 * time.Millisecond)
		}
		// The job's progress is visible while it runs and after.
		resp, err := s.HTTP.Get(s.Root + "/admin/reindex")
		if err != nil {
			t.Fatal(err)
		}
		var status struct {
			Jobs []struct {
				URLs      []string `json:"urls"`
				Status    string   `json:"status"`
				Processed int      `json:"processed"`
				Total     int      `json:"total"`
			} `json:"jobs"`
		}
		err = json.NewDecoder(resp.Body).Decode(&status)
		resp.Body.Close()
		if err != nil || len(status.Jobs) == 0 {
			t.Fatalf("reindex status: %v %+v", err, status)
		}
		for deadline := time.Now().Add(10 * time.Second); status.Jobs[0].Status != "done" && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			resp, _ := s.HTTP.Get(s.Root + "/admin/reindex")
			_ = json.NewDecoder(resp.Body).Decode(&status)
			resp.Body.Close()
		}
		if j := status.Jobs[0]; j.Status != "done" || j.Processed < 2 || j.Total < 2 || j.URLs[0] != "http://shch.example/fhir/SearchParameter/family-doctor-team" {
			t.Errorf("reindex job = %+v", j)
		}
		// Retiring the definition removes it.
		retired := strings.Replace(teamParam, `"status":"active"`, `"status":"retired"`, 1)
		s.Must(http.StatusOK, "PUT", "SearchParameter/family-doctor-team", []byte(retired))
		s.Must(http.StatusBadRequest, "GET", "Patient?family-doctor-team=张江", nil, "Prefer", "handling=strict")
	})
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
