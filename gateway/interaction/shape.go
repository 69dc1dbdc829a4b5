package interaction

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/shch/fhirgw/gateway/fhirjson"
	"github.com/shch/fhirgw/gateway/fhirschema"
	"github.com/shch/fhirgw/gateway/store"
)

// subsetted is the tag the specification requires on a resource returned in part
// (_summary, _elements).
const subsetted = `{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}`

// shape applies _summary and _elements to a search result; anything else returns the
// stored bytes untouched.
func (s *Service) shape(r store.Resource, info *searchInfo) json.RawMessage {
	if (info.summary == "" || info.summary == "false") && len(info.elements) == 0 {
		return r.Body
	}
	obj, err := fhirjson.ParseObject(r.Body)
	if err != nil {
		return r.Body
	}
	keep := func(key string) bool { return true }
	switch info.summary {
	case "text":
		keep = func(key string) bool {
			return key == "resourceType" || key == "id" || key == "meta" || key == "text" || mandatory(r.Type, key)
		}
	case "data":
		keep = func(key string) bool { return key != "text" }
	case "true":
		keep = func(key string) bool {
			return key == "resourceType" || key == "id" || key == "meta" || inSummary(r.Type, key)
		}
	}
	if len(info.elements) > 0 {
		prev := keep
		keep = func(key string) bool {
			if key == "resourceType" || key == "id" || key == "meta" {
				return true
			}
			name := strings.TrimPrefix(key, "_")
			return prev(key) && (slices.Contains(info.elements, name) || mandatory(r.Type, key))
		}
	}
	out := make(fhirjson.Object, 0, len(obj))
	for _, m := range obj {
		if keep(m.Key) {
			out = append(out, m)
		}
	}
	if info.summary != "data" || len(info.elements) > 0 {
		out = tagSubsetted(out)
	}
	return out.Bytes()
}

// element finds the element a JSON property belongs to (valueQuantity -> value[x];
// _birthDate -> birthDate).
func element(typ, key string) (fhirschema.Element, bool) {
	key = strings.TrimPrefix(key, "_")
	if e, ok := fhirschema.LookupElement(typ, key); ok {
		return e, true
	}
	for _, e := range fhirschema.Elements(typ) {
		if e.Choice && strings.HasPrefix(key, e.Name) {
			return e, true
		}
	}
	return fhirschema.Element{}, false
}

func inSummary(typ, key string) bool {
	e, ok := element(typ, key)
	return ok && (e.Summary || e.Min > 0)
}

func mandatory(typ, key string) bool {
	e, ok := element(typ, key)
	return ok && e.Min > 0
}

func tagSubsetted(obj fhirjson.Object) fhirjson.Object {
	metaRaw, _ := obj.Get("meta")
	meta, err := fhirjson.ParseObject(metaRaw)
	if len(metaRaw) == 0 || err != nil {
		meta = fhirjson.Object{}
	}
	var tags []json.RawMessage
	if raw, ok := meta.Get("tag"); ok {
		if json.Unmarshal(raw, &tags) != nil {
			tags = nil
		}
	}
	tags = append(tags, json.RawMessage(subsetted))
	tagBytes, _ := json.Marshal(tags)
	meta = meta.Set("tag", tagBytes)
	return obj.Set("meta", meta.Bytes())
}
