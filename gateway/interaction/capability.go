package interaction

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/shch/fhirgw/gateway/fhirjson"
	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/index"
)

// The CapabilityStatement is derived from what the code does: the interactions below are
// the ones dispatch answers, and the search parameters are those the indexer fills.
var (
	typeInteractions = []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}
	// XML is not supported yet: requests for it get 406 (responses) or 415 (bodies).
	formats      = []string{"json", "application/fhir+json"}
	patchFormats = []string{"application/json-patch+json"}
)

type capSearchParam struct {
	Name          string `json:"name"`
	Definition    string `json:"definition,omitempty"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

type capCode struct {
	Code string `json:"code"`
}

type capResource struct {
	Type              string           `json:"type"`
	Interaction       []capCode        `json:"interaction"`
	Versioning        string           `json:"versioning"`
	ReadHistory       bool             `json:"readHistory"`
	UpdateCreate      bool             `json:"updateCreate"`
	ConditionalCreate bool             `json:"conditionalCreate"`
	ConditionalRead   string           `json:"conditionalRead"`
	ConditionalUpdate bool             `json:"conditionalUpdate"`
	ConditionalDelete string           `json:"conditionalDelete"`
	SearchInclude     []string         `json:"searchInclude,omitempty"`
	SearchRevInclude  []string         `json:"searchRevInclude,omitempty"`
	SearchParam       []capSearchParam `json:"searchParam,omitempty"`
	Operation         []capOperation   `json:"operation,omitempty"`
}

type capOperation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

func (s *Service) capabilities() *Response {
	type software struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	type implementation struct {
		Description string `json:"description"`
		URL         string `json:"url,omitempty"`
	}
	type rest struct {
		Mode        string           `json:"mode"`
		Resource    []capResource    `json:"resource"`
		Interaction []capCode        `json:"interaction"`
		SearchParam []capSearchParam `json:"searchParam,omitempty"`
		Compartment []string         `json:"compartment,omitempty"`
	}
	cs := struct {
		ResourceType   string         `json:"resourceType"`
		Status         string         `json:"status"`
		Date           string         `json:"date"`
		Kind           string         `json:"kind"`
		Software       software       `json:"software"`
		Implementation implementation `json:"implementation"`
		FHIRVersion    string         `json:"fhirVersion"`
		Format         []string       `json:"format"`
		PatchFormat    []string       `json:"patchFormat"`
		Rest           []rest         `json:"rest"`
	}{
		ResourceType:   "CapabilityStatement",
		Status:         "active",
		Date:           fhirjson.FormatInstant(s.cfg.Now()),
		Kind:           "instance",
		Software:       software{Name: "fhirgw", Version: s.cfg.Version},
		Implementation: implementation{Description: "Community health FHIR R4 gateway", URL: s.cfg.BaseURL},
		FHIRVersion:    "4.0.1",
		Format:         formats,
		PatchFormat:    patchFormats,
	}
	r := rest{Mode: "server", Interaction: []capCode{{"transaction"}, {"batch"}, {"history-system"}, {"search-system"}},
		Compartment: []string{"http://hl7.org/fhir/CompartmentDefinition/patient"}}
	r.SearchParam = append(r.SearchParam,
		capSearchParam{Name: "_id", Definition: "http://hl7.org/fhir/SearchParameter/Resource-id", Type: "token"},
		capSearchParam{Name: "_lastUpdated", Definition: "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated", Type: "date"})
	for _, d := range s.indexer.Params("Patient") {
		if _, ok := index.KindOf(d.Type); ok && (slices.Contains(d.Base, "Resource") || slices.Contains(d.Base, "DomainResource")) {
			r.SearchParam = append(r.SearchParam, capSearchParam{Name: d.Code, Definition: d.URL, Type: d.Type})
		}
	}
	revIncludes := s.revIncludes()
	for _, typ := range fhirschema.ResourceTypes() {
		cr := capResource{
			Type: typ, Versioning: "versioned-update", ReadHistory: true, UpdateCreate: true,
			ConditionalCreate: true, ConditionalRead: "full-support", ConditionalUpdate: true, ConditionalDelete: "single",
		}
		for _, i := range typeInteractions {
			cr.Interaction = append(cr.Interaction, capCode{i})
		}
		cr.SearchParam = append(cr.SearchParam,
			capSearchParam{Name: "_id", Definition: "http://hl7.org/fhir/SearchParameter/Resource-id", Type: "token"},
			capSearchParam{Name: "_lastUpdated", Definition: "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated", Type: "date"},
		)
		for _, d := range s.indexer.Params(typ) {
			if _, ok := index.KindOf(d.Type); !ok && d.Type != "composite" {
				continue
			}
			cr.SearchParam = append(cr.SearchParam, capSearchParam{Name: d.Code, Definition: d.URL, Type: d.Type})
			if d.Type == "reference" {
				cr.SearchInclude = append(cr.SearchInclude, typ+":"+d.Code)
			}
		}
		cr.SearchRevInclude = revIncludes[typ]
		if typ == "Patient" {
			cr.Operation = []capOperation{{Name: "everything", Definition: "http://hl7.org/fhir/OperationDefinition/Patient-everything"}}
		}
		if typ == "ConceptMap" {
			cr.Operation = []capOperation{{Name: "translate", Definition: "http://hl7.org/fhir/OperationDefinition/ConceptMap-translate"}}
		}
		r.Resource = append(r.Resource, cr)
	}
	cs.Rest = []rest{r}
	body, err := json.Marshal(cs)
	if err != nil { // plain structs always marshal
		panic(err)
	}
	return &Response{Status: http.StatusOK, Body: body}
}
