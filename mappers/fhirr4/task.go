package fhirr4

// ReferralRequest is a ServiceRequest with the occurrence period a referral
// carries (RF1-7 effective date to RF1-8 expiration date). It embeds
// ServiceRequest, so it marshals to one flat ServiceRequest object.
type ReferralRequest struct {
	ServiceRequest
	OccurrencePeriod *Period `json:"occurrencePeriod,omitempty"`
}

// Task is a FHIR Task: here the workflow state of a referral.
type Task struct {
	Base
	Identifier     []Identifier     `json:"identifier,omitempty"`
	Status         string           `json:"status"`
	StatusReason   *CodeableConcept `json:"statusReason,omitempty"`
	BusinessStatus *CodeableConcept `json:"businessStatus,omitempty"`
	Intent         string           `json:"intent"`
	Priority       string           `json:"priority,omitempty"`
	Code           *CodeableConcept `json:"code,omitempty"`
	Focus          *Reference       `json:"focus,omitempty"`
	For            *Reference       `json:"for,omitempty"`
	Encounter      *Reference       `json:"encounter,omitempty"`
	AuthoredOn     string           `json:"authoredOn,omitempty"`
	LastModified   string           `json:"lastModified,omitempty"`
	Requester      *Reference       `json:"requester,omitempty"`
	Owner          *Reference       `json:"owner,omitempty"`
	ReasonCode     *CodeableConcept `json:"reasonCode,omitempty"`
	Note           []Annotation     `json:"note,omitempty"`
	Restriction    *TaskRestriction `json:"restriction,omitempty"`
}

// TaskRestriction is Task.restriction.
type TaskRestriction struct {
	Period    *Period     `json:"period,omitempty"`
	Recipient []Reference `json:"recipient,omitempty"`
}

// Organization is a FHIR Organization.
type Organization struct {
	Base
	Identifier []Identifier      `json:"identifier,omitempty"`
	Active     *bool             `json:"active,omitempty"`
	Type       []CodeableConcept `json:"type,omitempty"`
	Name       string            `json:"name,omitempty"`
	Telecom    []ContactPoint    `json:"telecom,omitempty"`
	Address    []Address         `json:"address,omitempty"`
}

// PractitionerRole is a FHIR PractitionerRole: a practitioner acting for
// an organisation, which is what a referring or referred-to provider is.
type PractitionerRole struct {
	Base
	Identifier   []Identifier      `json:"identifier,omitempty"`
	Practitioner *Reference        `json:"practitioner,omitempty"`
	Organization *Reference        `json:"organization,omitempty"`
	Code         []CodeableConcept `json:"code,omitempty"`
	Specialty    []CodeableConcept `json:"specialty,omitempty"`
	Location     []Reference       `json:"location,omitempty"`
	Telecom      []ContactPoint    `json:"telecom,omitempty"`
}
