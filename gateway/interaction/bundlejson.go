package interaction

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/shch/fhirgw/gateway/fhirjson"
)

// bundle is the JSON shape of the Bundles the server writes. Resources are raw JSON so
// that they go out exactly as stored.
type bundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id,omitempty"`
	Meta         *bundleMeta   `json:"meta,omitempty"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleMeta struct {
	LastUpdated string `json:"lastUpdated"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *entrySearch    `json:"search,omitempty"`
	Request  *entryRequest   `json:"request,omitempty"`
	Response *entryResponse  `json:"response,omitempty"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

type entryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type entryResponse struct {
	Status       string          `json:"status"`
	Location     string          `json:"location,omitempty"`
	ETag         string          `json:"etag,omitempty"`
	LastModified string          `json:"lastModified,omitempty"`
	Outcome      json.RawMessage `json:"outcome,omitempty"`
}

func (s *Service) newBundle(typ string) *bundle {
	return &bundle{
		ResourceType: "Bundle",
		ID:           s.cfg.NewID(),
		Meta:         &bundleMeta{LastUpdated: fhirjson.FormatInstant(s.cfg.Now())},
		Type:         typ,
	}
}

// encode writes the bundle without HTML escaping; raw resources keep their literals.
func (b *bundle) encode() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil { // only raw resources could fail, and they are valid
		panic(err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func instant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fhirjson.FormatInstant(t)
}
