package interaction

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Request is one FHIR interaction, as it arrives over HTTP or inside a Bundle entry.
type Request struct {
	Method string
	// Path is relative to the FHIR base, without leading slash: "Patient/123/_history/2".
	Path  string
	Query url.Values
	// Conditional request headers (https://hl7.org/fhir/R4/http.html).
	IfMatch         string
	IfNoneMatch     string
	IfNoneExist     string
	IfModifiedSince time.Time
	// Prefer is the Prefer header (return=..., handling=...).
	Prefer string
	// ContentType is the media type of Body without parameters.
	ContentType string
	Body        []byte

	// assignedID is the id a transaction reserved for a create entry, so that other
	// entries could refer to it before it was written.
	assignedID string
}

// Response is the outcome of one interaction. Body holds the full representation; the
// transport applies Prefer: return=minimal|OperationOutcome itself.
type Response struct {
	Status       int
	Body         []byte
	Location     string // relative to the FHIR base: "Patient/1/_history/1"
	ETag         string // W/"1"
	LastModified time.Time
	// Outcome is set when the body is an OperationOutcome describing a failure.
	Outcome bool
	// Interaction names what was done, for metrics and logs: "read", "create", ...
	Interaction string
	// ResourceType is the type the interaction addressed, when there is one.
	ResourceType string
}

// route is a request path taken apart.
type route struct {
	typ       string // resource type, empty at system level
	id        string
	version   string
	history   bool   // ends in _history (instance, type or system)
	search    bool   // Type/_search
	operation string // $name, empty if none
	compType  string // Patient/123/Observation compartment search
	metadata  bool
}

// parsePath splits a path relative to the base. It does not check resource types.
func parsePath(p string) (route, bool) {
	p = strings.Trim(p, "/")
	if p == "" {
		return route{}, true
	}
	seg := strings.Split(p, "/")
	var r route
	switch {
	case len(seg) == 1 && seg[0] == "metadata":
		r.metadata = true
		return r, true
	case seg[0] == "_history":
		r.history = true
		return r, len(seg) == 1
	case strings.HasPrefix(seg[0], "$"):
		r.operation = seg[0][1:]
		return r, len(seg) == 1
	}
	r.typ = seg[0]
	switch len(seg) {
	case 1:
		return r, true
	case 2:
		switch {
		case seg[1] == "_history":
			r.history = true
		case seg[1] == "_search":
			r.search = true
		case strings.HasPrefix(seg[1], "$"):
			r.operation = seg[1][1:]
		default:
			r.id = seg[1]
		}
		return r, true
	case 3:
		r.id = seg[1]
		switch {
		case seg[2] == "_history":
			r.history = true
		case strings.HasPrefix(seg[2], "$"):
			r.operation = seg[2][1:]
		default:
			r.compType = seg[2]
		}
		return r, true
	case 4:
		if seg[2] != "_history" {
			return r, false
		}
		r.id, r.history, r.version = seg[1], true, seg[3]
		return r, true
	}
	return r, false
}

// validID reports whether s is a FHIR id: [A-Za-z0-9\-\.]{1,64}.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ETag renders a version as a weak entity tag.
func ETag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// parseETag reads a version from W/"3", "3" or 3.
func parseETag(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	s = strings.Trim(s, `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v > 0
}

// preferReturn returns the return= value of a Prefer header.
func preferReturn(prefer string) string { return preferValue(prefer, "return") }

// preferValue returns the value of one Prefer preference.
func preferValue(prefer, name string) string {
	for _, part := range strings.Split(prefer, ",") {
		for _, p := range strings.Split(part, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), name) {
				return strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
	}
	return ""
}

// PreferReturn exposes the return preference for transports.
func PreferReturn(prefer string) string { return preferReturn(prefer) }
