// Package outcome carries FHIR errors: an Error is an OperationOutcome together with the
// HTTP status it is answered with (https://hl7.org/fhir/R4/operationoutcome.html).
package outcome

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity    string   `json:"severity"` // fatal | error | warning | information
	Code        string   `json:"code"`     // IssueType, e.g. invalid, structure, not-found
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"` // FHIRPath location(s) of the problem
}

// Error is a failed interaction: an HTTP status and the issues explaining it.
type Error struct {
	Status int
	Issues []Issue
}

func (e *Error) Error() string {
	if len(e.Issues) == 0 {
		return fmt.Sprintf("fhir: status %d", e.Status)
	}
	return fmt.Sprintf("fhir: status %d: %s", e.Status, e.Issues[0].Diagnostics)
}

// New returns an Error with one issue of severity error.
func New(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Issues: []Issue{{Severity: "error", Code: code, Diagnostics: fmt.Sprintf(format, args...)}}}
}

// At returns an Error with one issue located at expression.
func At(status int, code, expression, format string, args ...any) *Error {
	e := New(status, code, format, args...)
	e.Issues[0].Expression = []string{expression}
	return e
}

// Common errors, by the status the FHIR specification gives them.
func BadRequest(format string, args ...any) *Error {
	return New(http.StatusBadRequest, "invalid", format, args...)
}

func NotFound(format string, args ...any) *Error {
	return New(http.StatusNotFound, "not-found", format, args...)
}

func Gone(format string, args ...any) *Error {
	return New(http.StatusGone, "deleted", format, args...)
}

func PreconditionFailed(format string, args ...any) *Error {
	return New(http.StatusPreconditionFailed, "conflict", format, args...)
}

func Conflict(format string, args ...any) *Error {
	return New(http.StatusConflict, "conflict", format, args...)
}

// From converts any error to an Error: an *Error anywhere in the chain is returned as is,
// anything else becomes a 500 whose diagnostics do not leak internals.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return New(http.StatusInternalServerError, "exception", "internal error")
}

// Resource renders issues as an OperationOutcome resource.
func Resource(issues ...Issue) []byte {
	if len(issues) == 0 {
		issues = []Issue{{Severity: "information", Code: "informational", Diagnostics: "ok"}}
	}
	b, err := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []Issue `json:"issue"`
	}{"OperationOutcome", issues})
	if err != nil { // cannot happen: the types above always marshal
		panic(err)
	}
	return b
}

// JSON renders the error as an OperationOutcome resource.
func (e *Error) JSON() []byte { return Resource(e.Issues...) }
